package features

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"mellium.im/xmlstream"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// Server holds the configuration shared by all connections. It is safe for
// concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	domains   map[string]struct{} // canonical served domains
	limiter   Limiter             // nil when disabled
	scram     []scramMech         // enabled SCRAM mechanisms, strongest first
	upgradeTo []crypto.Hash       // hashes PLAIN logins upgrade credentials to
	plain     plainProfile
	offers    sync.Map // offerClass → *offerTemplate
	keys      derivedKeys
	fast      *fastServer // nil when FAST is off
	clock     config.Clock
}

type scramMech struct {
	mech   scram.Mechanism
	server *scram.Server
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("features: %w", err)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = config.Duration(DefaultStepTimeout)
	}
	if cfg.MaxPayloadSize == 0 {
		cfg.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if cfg.Iterations == 0 {
		cfg.Iterations = scram.MinIterations
	}
	if cfg.SaltLen == 0 {
		cfg.SaltLen = scram.DefaultSaltLen
	}
	s := &Server{
		cfg:     cfg,
		log:     config.LoggerOr(cfg.Logger),
		domains: make(map[string]struct{}, len(cfg.Domains)),
		limiter: cfg.Limiter,
	}
	for _, d := range cfg.Domains {
		canonical, _ := CanonicalDomain(d) // checked by Validate
		s.domains[canonical] = struct{}{}
	}
	switch {
	case cfg.DisableThrottle:
		s.limiter = nil
	case s.limiter == nil:
		l, err := throttle.New(cfg.Throttle)
		if err != nil {
			return nil, fmt.Errorf("features: %w", config.In("throttle", err))
		}
		s.limiter = l
	}
	var err error
	for _, m := range scram.Mechanisms() {
		if !cfg.enabled(m.Name()) {
			continue
		}
		srv, err := scram.NewServer(m, scram.Config{
			Secret:         cfg.Secret,
			FakeIterations: cfg.Iterations,
			FakeSaltLen:    cfg.SaltLen,
		})
		if err != nil {
			return nil, fmt.Errorf("features: %s: %w", m.Name(), err)
		}
		s.scram = append(s.scram, scramMech{mech: m, server: srv})
	}
	s.upgradeTo = s.upgradeHashes()
	s.plain.init(cfg)
	s.clock = config.ClockOr(cfg.Clock)
	if s.keys, err = deriveKeys(cfg.Secret); err != nil {
		return nil, err
	}
	if !cfg.DisableSASL2 && !cfg.DisableFAST {
		s.fast = newFASTServer(s)
	}
	return s, nil
}

// NewLogin returns the authentication of one accepted connection.
func (s *Server) NewLogin() *Login {
	return &Login{srv: s}
}

// Identity is who authenticated on a connection.
type Identity struct {
	// JID is the authenticated bare JID (authcid@domain, or the
	// certificate's identity for EXTERNAL).
	JID jid.JID
	// Authzid is the authorization identity the client asked for and was
	// allowed; the zero JID when it asked for none.
	Authzid jid.JID
	// Mechanism is the name the client selected, possibly a pseudomechanism
	// such as "SCRAM-SHA-256-PLUS:tls-exporter".
	Mechanism string
	// ChannelBinding is the channel-binding type the exchange was bound to,
	// empty when none.
	ChannelBinding cbind.Type
	// SASL2 reports that the client authenticated with XEP-0388.
	SASL2 bool
	// UserAgent is what a SASL2 client said about itself (XEP-0388
	// <user-agent/>); zero on RFC 6120. A host may show it to the user (it
	// must not show it to others) and, per XEP-0386, end the earlier
	// sessions of the same UserAgent.ID when a new one binds.
	UserAgent UserAgent
}

// UserAgent is the XEP-0388 <user-agent/> a client sent. Each field is at
// most 256 bytes of UTF-8 (longer values are refused with
// <malformed-request/>).
type UserAgent struct {
	// ID is the client installation's stable identifier (a UUID by the
	// XEP); "" when absent. FAST tokens and stable Bind2 resources need it.
	ID string
	// Software and Device are free text, for the user's list of sessions.
	Software, Device string
}

// Login is the authentication of one connection: the stream features that
// negotiate it and, afterwards, who logged in and which resource they bound.
// Create one per accepted connection with Server.NewLogin before the session
// is negotiated; it is safe for concurrent use.
type Login struct {
	srv *Server

	mu       sync.Mutex
	offer    *offer // what was advertised on the current (TLS) stream
	identity *Identity
	bound    jid.JID
	onBind   func(ctx context.Context, session *xmpp.Session, full jid.JID) error
	onBind2  func(ctx context.Context, session *xmpp.Session, full jid.JID, req Bind2Request) xml.TokenReader
	after    func(*xmpp.Session) []xmpp.StreamFeature // listed after a Bind2 success
}

// OnBind sets f to be called when resource binding has chosen the full JID,
// before the client is told: the moment a host registers the session with
// its router, so that nothing sent to the client right after it bound is
// lost. The result is written only after f returns (the session's writer is
// held meanwhile, so stanzas the host sends the session wait for it). An
// error refuses the binding: a stanza.Error with its condition (e.g.
// <resource-constraint/> for too many sessions, RFC 6120 §7.6.2.1), any other
// with <internal-server-error/>.
func (c *Login) OnBind(f func(ctx context.Context, session *xmpp.Session, full jid.JID) error) {
	c.mu.Lock()
	c.onBind = f
	c.mu.Unlock()
}

// Features returns every stream feature of the login, for the host's
// negotiator, in the order to list them: SASL, SASL2 (unless
// Config.DisableSASL2), the XEP-0440 capability,
// resource binding, the RFC 3921 session advertisement and the traps. Call it
// from the xmpp.NewNegotiator callback each time (session may be nil on the
// first call, which mellium makes before the session exists). A host that
// lists features of its own picks the ones it wants by name instead.
func (c *Login) Features(session *xmpp.Session) []xmpp.StreamFeature {
	fs := make([]xmpp.StreamFeature, 0, 8)
	fs = append(fs, c.SASL(session))
	if !c.srv.cfg.DisableSASL2 {
		fs = append(fs, c.SASL2(session))
	}
	fs = append(fs, c.ChannelBindingCapability(session), c.Bind(), SessionAdvertisement())
	return append(fs, traps[:]...)
}

// Traps returns the features that list nothing and answer a client that
// sends what they catch with a clear stream error instead of mellium's silent
// close: the retracted XEP-0035 STARTTLS (both namespaces clients used) and
// <message/> or <presence/> before the session is ready.
func Traps() []xmpp.StreamFeature {
	return slices.Clone(traps[:])
}

var traps = [...]xmpp.StreamFeature{
	legacyTLSFeature(NSLegacyTLS),
	legacyTLSFeature(nsLegacyTLSNoSuffix),
	stanzaTrapFeature(),
}

// Identity reports who authenticated on this connection. It is what the
// host must use for the session's address: the stream header's from
// attribute is chosen by the client and may name someone else.
func (c *Login) Identity() (Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.identity == nil {
		return Identity{}, false
	}
	return *c.identity, true
}

// Bound reports the full JID bound by resource binding, the zero JID before.
func (c *Login) Bound() jid.JID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound
}

// offer is what the server advertised on one stream, computed once per
// stream from the connection's TLS state. What it lists depends only on the
// configuration and the connection's class (TLS or not, the channel-binding
// types it can give, whether its default type can be given, whether a client
// certificate verified): that part is shared between the connections of a
// class (offerClass), and the binding data itself is derived only for the
// type a client uses.
type offer struct {
	*offerTemplate
	secure bool
	tls13  bool // the TLS version is 1.3 (no tls-unique, RFC 9266)
	// clientCert is the client's verified certificate, for EXTERNAL; nil
	// when it presented none that verified.
	clientCert *x509.Certificate

	cs   tls.ConnectionState
	leaf *x509.Certificate // the certificate served, for tls-server-end-point

	cbMu   sync.Mutex
	cbData [numTypes][]byte // derived on first use
}

// offerTemplate is what one class of connections is offered.
type offerTemplate struct {
	names    []string     // <mechanism/> names, in advertised order
	cbTypes  []cbind.Type // enabled types this connection can give, strongest first
	cbListed bool         // XEP-0440 element listed
	plus     bool         // some -PLUS mechanism listed
	ssdp     []byte       // XEP-0474 input of names and the listed types
	fast     []string     // XEP-0484 HT mechanisms (SASL2 only), strongest first
	upgrades []string     // XEP-0480 upgrade tasks (SASL2 only)

	// The listed elements as tokens, encoded once per class instead of
	// being built anew for every stream.
	listOnce                    sync.Once
	saslList, sasl2List, cbList []xml.Token
}

// lists returns the tokens of <mechanisms/>, <authentication/> and
// <sasl-channel-binding/> (nil for what is not listed).
func (o *offerTemplate) lists(s *Server) (sasl, sasl2, cb []xml.Token) {
	o.listOnce.Do(func() {
		if len(o.names) == 0 {
			return
		}
		var r tokenRecorder
		_ = writeMechanisms(&r, xml.StartElement{Name: xml.Name{Space: NS, Local: "mechanisms"}}, o.names, nil)
		o.saslList, r.toks = r.toks, nil
		if !s.cfg.DisableSASL2 {
			_ = writeMechanisms(&r, xml.StartElement{Name: xml.Name{Space: NSSASL2, Local: "authentication"}}, o.names, s.sasl2Extras(o))
			o.sasl2List, r.toks = r.toks, nil
		}
		if o.cbListed {
			_, _ = cbind.Capability{Types: o.cbTypes}.WriteXML(&r)
			o.cbList = r.toks
		}
	})
	return o.saslList, o.sasl2List, o.cbList
}

// tokenRecorder is a TokenWriter that keeps copies of the tokens.
type tokenRecorder struct{ toks []xml.Token }

func (r *tokenRecorder) EncodeToken(t xml.Token) error {
	r.toks = append(r.toks, xml.CopyToken(t))
	return nil
}

// writeTokens encodes toks to e.
func writeTokens(e xmlstream.TokenWriter, toks []xml.Token) error {
	for _, t := range toks {
		if err := e.EncodeToken(t); err != nil {
			return err
		}
	}
	return nil
}

// The channel-binding types, strongest first, as indexes of offer.cbData.
var bindingTypes = [...]cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint, cbind.TLSUnique}

const numTypes = len(bindingTypes)

func typeIndex(t cbind.Type) int {
	for i, x := range bindingTypes {
		if x == t {
			return i
		}
	}
	return -1
}

// offerClass keys the shared offers.
type offerClass struct {
	secure     bool
	types      uint8 // bit i: bindingTypes[i] can be given (and is enabled)
	hasDefault bool  // the connection's default type can be given
	external   bool  // EXTERNAL can be offered (a client certificate verified)
}

// data returns the channel-binding data of type t for this connection,
// deriving it on first use; t must be one of cbTypes.
func (o *offer) data(t cbind.Type) ([]byte, error) {
	i := typeIndex(t)
	if i < 0 || !slices.Contains(o.cbTypes, t) {
		if t == cbind.TLSUnique && o.tls13 {
			return nil, errTLSUniqueOnTLS13
		}
		return nil, cbind.ErrUnavailable
	}
	o.cbMu.Lock()
	defer o.cbMu.Unlock()
	if o.cbData[i] == nil {
		d, err := cbind.Data(t, &o.cs, o.leaf)
		if err != nil {
			return nil, err
		}
		o.cbData[i] = d
	}
	return o.cbData[i], nil
}

// currentOffer returns the offer for session's current stream, computing it
// on first use after each change of TLS state.
func (c *Login) currentOffer(session *xmpp.Session) *offer {
	secure := session != nil && session.State()&xmpp.Secure == xmpp.Secure
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offer != nil && c.offer.secure == secure {
		return c.offer
	}
	c.offer = c.srv.computeOffer(session, secure)
	return c.offer
}

func (s *Server) computeOffer(session *xmpp.Session, secure bool) *offer {
	o := &offer{secure: secure}
	if !secure {
		o.offerTemplate = s.template(offerClass{})
		return o
	}
	cfg := &s.cfg
	o.cs = session.ConnectionState()
	o.tls13 = o.cs.Version >= tls.VersionTLS13
	o.leaf = cbind.Served(session.Conn(), cfg.TLSConfig)
	class := offerClass{secure: true}
	var available []cbind.Type
	if o.tls13 && o.cs.HandshakeComplete {
		// crypto/tls always exports keying material on TLS 1.3 (which has
		// no renegotiation and always the equivalent of EMS), so
		// tls-exporter, the default type, is there without deriving it
		// now (cbind.Available would, and the data is derived again when
		// a client uses it); tls-unique never is (RFC 9266).
		available = append(available, cbind.TLSExporter)
		if o.leaf != nil && len(o.leaf.Raw) != 0 {
			if _, err := cbind.EndPointHash(o.leaf); err == nil {
				available = append(available, cbind.TLSServerEndPoint)
			}
		}
	} else {
		available = cbind.Available(&o.cs, o.leaf)
	}
	for _, t := range available {
		if cfg.bindingEnabled(t) {
			class.types |= 1 << typeIndex(t)
		}
	}
	defaultType := cbind.TLSUnique
	if o.tls13 {
		defaultType = cbind.TLSExporter
	}
	class.hasDefault = class.types&(1<<typeIndex(defaultType)) != 0
	if !cfg.DisableEXTERNAL && cfg.enabled(EXTERNAL) && len(o.cs.VerifiedChains) > 0 && len(o.cs.VerifiedChains[0]) > 0 {
		class.external = true
		o.clientCert = o.cs.VerifiedChains[0][0]
	}
	o.offerTemplate = s.template(class)
	return o
}

// template returns the shared offer of a class, building it once.
func (s *Server) template(class offerClass) *offerTemplate {
	if t, ok := s.offers.Load(class); ok {
		return t.(*offerTemplate)
	}
	t, _ := s.offers.LoadOrStore(class, s.buildTemplate(class))
	return t.(*offerTemplate)
}

func (s *Server) buildTemplate(class offerClass) *offerTemplate {
	cfg := &s.cfg
	o := &offerTemplate{}
	if !class.secure {
		if cfg.AllowUnencrypted {
			for _, m := range s.scram {
				if !m.mech.Plus() {
					o.names = append(o.names, m.mech.Name())
				}
			}
		}
		return o
	}
	for i, t := range bindingTypes {
		if class.types&(1<<i) != 0 {
			o.cbTypes = append(o.cbTypes, t)
		}
	}
	if class.external {
		o.names = append(o.names, EXTERNAL)
	}
	for _, m := range s.scram {
		if !m.mech.Plus() || len(o.cbTypes) == 0 {
			continue
		}
		// The plain -PLUS name means the connection's default type to old
		// clients; offer it only when that default can be given.
		if class.hasDefault {
			o.names = append(o.names, m.mech.Name())
			o.plus = true
		}
		if !cfg.DisablePseudomechanisms {
			for _, t := range o.cbTypes {
				o.names = append(o.names, cbind.Pseudomechanism(m.mech.Name(), t))
				o.plus = true
			}
		}
	}
	for _, m := range s.scram {
		if !m.mech.Plus() {
			o.names = append(o.names, m.mech.Name())
		}
	}
	if !cfg.DisablePLAIN && cfg.enabled(PLAIN) {
		o.names = append(o.names, PLAIN)
	}
	// XEP-0440 only means something next to a -PLUS mechanism.
	o.cbListed = !cfg.DisableChannelBindingCapability && o.plus
	if !cfg.DisableDowngradeProtection {
		// The FAST mechanisms are not part of it: XEP-0474 hashes the
		// mechanisms of the profile's list, and XEP-0484 lists them inside
		// <inline/>, where clients (Monal, go-sendxmpp) do not look for
		// them when they check h= (ejabberd 24.12 hashed them too and those
		// clients could not log in).
		o.ssdp = scram.DowngradeProtectionInput(o.names, typeNames(o.listedTypes()))
	}
	if s.fast != nil {
		for _, m := range htMechanisms {
			if cfg.enabled(m.name) && (m.cb == "" || slices.Contains(o.cbTypes, m.cb)) {
				o.fast = append(o.fast, m.name)
			}
		}
	}
	o.upgrades = s.upgradeTasks()
	return o
}

// listedTypes is the XEP-0440 list as advertised (nil when not listed).
func (o *offerTemplate) listedTypes() []cbind.Type {
	if !o.cbListed {
		return nil
	}
	return o.cbTypes
}

func (o *offerTemplate) offered(name string) bool {
	return slices.Contains(o.names, name)
}

// maxLocalpart is RFC 7622's limit on a localpart, in bytes.
const maxLocalpart = 1023

// Account returns the account a SASL username logs in to in a served
// domain (canonical): the bare JID the Store is keyed by. Hosts use it to
// create accounts under the names logins will look up.
func Account(username, domain string) (jid.JID, error) {
	local, err := normalizeLocalpart(username)
	if err != nil {
		return jid.JID{}, err
	}
	return jid.New(local, domain, "")
}

// normalizeLocalpart prepares a SASL username as an XMPP localpart (PRECIS
// UsernameCaseMapped, RFC 8265, and the XMPP exclusions of RFC 7622), so that
// "Juliet" and "juliet" are one account. A name that is not a valid
// localpart is an unknown user: the exchange then fails exactly like a wrong
// password.
func normalizeLocalpart(username string) (string, error) {
	if len(username) > maxLocalpart {
		return "", fmt.Errorf("features: localpart too long")
	}
	local, err := precis.UsernameCaseMapped.String(username)
	if err != nil {
		return "", err
	}
	// jid adds the XMPP-specific exclusions (", &, ', /, :, <, >, @).
	if _, err := jid.New(local, "localhost", ""); err != nil || local == "" {
		return "", fmt.Errorf("features: invalid localpart")
	}
	return local, nil
}

// Mechanisms returns the names of the enabled mechanisms, strongest first
// (what a TLS connection that can give every binding type is offered,
// pseudomechanisms aside), and the enabled channel-binding types: for a
// host's start-up log.
func (s *Server) Mechanisms() (mechanisms []string, bindings []cbind.Type) {
	if !s.cfg.DisableEXTERNAL && s.cfg.enabled(EXTERNAL) {
		mechanisms = append(mechanisms, EXTERNAL)
	}
	for _, m := range s.scram {
		mechanisms = append(mechanisms, m.mech.Name())
	}
	if !s.cfg.DisablePLAIN && s.cfg.enabled(PLAIN) {
		mechanisms = append(mechanisms, PLAIN)
	}
	for _, t := range bindingTypes {
		if s.cfg.bindingEnabled(t) {
			bindings = append(bindings, t)
		}
	}
	return mechanisms, bindings
}

// typeNames returns the names of types, nil for nil (no XEP-0440).
func typeNames(types []cbind.Type) []string {
	if types == nil {
		return nil
	}
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}
