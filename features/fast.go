package features

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// The HT mechanisms of draft-schmaus-kitten-sasl-ht-08 (the version
// XEP-0484 0.1.0 cites) this package implements: HMAC-SHA-256 over the
// channel-binding data of the type the name's suffix selects.
const (
	HTSHA256EXPR = "HT-SHA-256-EXPR" // tls-exporter (RFC 9266)
	HTSHA256ENDP = "HT-SHA-256-ENDP" // tls-server-end-point (RFC 5929)
	HTSHA256UNIQ = "HT-SHA-256-UNIQ" // tls-unique (RFC 5929), below TLS 1.3
	HTSHA256NONE = "HT-SHA-256-NONE" // no channel binding
)

type htMech struct {
	name string
	cb   cbind.Type // "" for NONE
}

// htMechanisms, strongest first, as <fast/> lists them.
var htMechanisms = [...]htMech{
	{HTSHA256EXPR, cbind.TLSExporter},
	{HTSHA256ENDP, cbind.TLSServerEndPoint},
	{HTSHA256UNIQ, cbind.TLSUnique},
	{HTSHA256NONE, ""},
}

func htMechanismByName(name string) (htMech, bool) {
	for _, m := range htMechanisms {
		if m.name == name {
			return m, true
		}
	}
	return htMech{}, false
}

// FASTToken is what a TokenStore keeps of one issued FAST token: never the
// token itself, which the server derives from ID with a key of its own
// (from Config.Secret) whenever it checks a login, so that a copy of the
// store alone authenticates nobody.
type FASTToken struct {
	// ID is the token's random identifier (16 bytes).
	ID []byte `json:"id"`
	// Mechanism is the HT mechanism the token was issued for; XEP-0484
	// binds it to that mechanism.
	Mechanism string `json:"mechanism"`
	// Issued and Expires bound the token's life.
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	// Count is the highest XEP-0484 <fast count=…/> accepted with the
	// token; 0 before any.
	Count uint64 `json:"count"`
}

// Errors a TokenStore's Use returns (possibly wrapped).
var (
	// ErrTokenUnknown: the token is not (or no longer) stored for the
	// client.
	ErrTokenUnknown = errors.New("features: FAST token unknown")
	// ErrTokenReplayed: the count is not above the one recorded for the
	// token.
	ErrTokenReplayed = errors.New("features: FAST token count replayed")
)

// TokenStore keeps the FAST tokens of each account's clients (a client is
// a XEP-0388 user-agent id), in the two slots of XEP-0484 §"Server-side
// handling of multiple active tokens": the newest token issued, not yet
// used, and the one in use. Accounts are bare JIDs as Config.Store is
// keyed. It must be safe for concurrent use; a cluster shares one (an SQL
// or Redis implementation keeps the records as they are: none is secret
// without the servers' Secret).
type TokenStore interface {
	// Tokens returns the client's tokens: the newest issued first, then
	// the one in use; none is nil and no error.
	Tokens(ctx context.Context, account, client string) ([]FASTToken, error)
	// Issue stores t as the client's newest token, replacing a newer one
	// never used (XEP-0484: "upon providing a new token to the client, the
	// server SHOULD invalidate any tokens previously generated that have
	// not been used").
	Issue(ctx context.Context, account, client string, t FASTToken) error
	// Use records a login with the token id and count (0: no count), as
	// one atomic step: the token becomes the one in use, and a token in use
	// before it is dropped (XEP-0484: "the server MUST invalidate all
	// tokens issued to the same client with an earlier expiry"). It fails
	// with ErrTokenUnknown when the token is no longer stored, and with
	// ErrTokenReplayed when count is non-zero and not above the count
	// recorded.
	Use(ctx context.Context, account, client string, id []byte, count uint64) error
	// Invalidate drops every token of the client, or of every client of
	// the account when client is "" (for a password change, say).
	Invalidate(ctx context.Context, account, client string) error
}

// MemoryTokenStore is an in-memory TokenStore for a single server. It
// keeps at most 64 clients per account (the oldest issued goes).
type MemoryTokenStore struct {
	mu       sync.Mutex
	accounts map[string]map[string]*tokenSlots
}

type tokenSlots struct {
	newest, current *FASTToken
}

// maxClientsPerAccount bounds the memory an account's clients take.
const maxClientsPerAccount = 64

// NewMemoryTokenStore returns an empty store.
func NewMemoryTokenStore() *MemoryTokenStore {
	return &MemoryTokenStore{accounts: make(map[string]map[string]*tokenSlots)}
}

// Tokens implements TokenStore.
func (m *MemoryTokenStore) Tokens(_ context.Context, account, client string) ([]FASTToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.accounts[account][client]
	if s == nil {
		return nil, nil
	}
	var out []FASTToken
	for _, t := range []*FASTToken{s.newest, s.current} {
		if t != nil {
			c := *t
			c.ID = bytes.Clone(t.ID)
			out = append(out, c)
		}
	}
	return out, nil
}

// Issue implements TokenStore. It also forgets the account's clients whose
// tokens all expired before t was issued.
func (m *MemoryTokenStore) Issue(_ context.Context, account, client string, t FASTToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clients := m.accounts[account]
	if clients == nil {
		clients = make(map[string]*tokenSlots)
		m.accounts[account] = clients
	}
	for id, s := range clients {
		if s.expired(t.Issued) {
			delete(clients, id)
		}
	}
	s := clients[client]
	if s == nil {
		if len(clients) >= maxClientsPerAccount {
			delete(clients, oldestClient(clients))
		}
		s = &tokenSlots{}
		clients[client] = s
	}
	t.ID = bytes.Clone(t.ID)
	s.newest = &t
	return nil
}

func (s *tokenSlots) expired(now time.Time) bool {
	for _, t := range []*FASTToken{s.newest, s.current} {
		if t != nil && now.Before(t.Expires) {
			return false
		}
	}
	return true
}

func oldestClient(clients map[string]*tokenSlots) string {
	var oldest string
	var at time.Time
	for id, s := range clients {
		t := s.newest
		if t == nil {
			t = s.current
		}
		if t != nil && (oldest == "" || t.Issued.Before(at)) {
			oldest, at = id, t.Issued
		}
	}
	return oldest
}

// Use implements TokenStore.
func (m *MemoryTokenStore) Use(_ context.Context, account, client string, id []byte, count uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.accounts[account][client]
	if s == nil {
		return ErrTokenUnknown
	}
	var t *FASTToken
	switch {
	case s.newest != nil && bytes.Equal(s.newest.ID, id):
		t = s.newest
	case s.current != nil && bytes.Equal(s.current.ID, id):
		t = s.current
	default:
		return ErrTokenUnknown
	}
	if count != 0 {
		if count <= t.Count {
			return ErrTokenReplayed
		}
		t.Count = count
	}
	if t == s.newest {
		s.current, s.newest = t, nil
	}
	return nil
}

// Invalidate implements TokenStore.
func (m *MemoryTokenStore) Invalidate(_ context.Context, account, client string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if client == "" {
		delete(m.accounts, account)
		return nil
	}
	delete(m.accounts[account], client)
	return nil
}

var _ TokenStore = (*MemoryTokenStore)(nil)

// derivedKeys are the server's keys for Bind2 resources and FAST tokens,
// derived from Config.Secret so that they are the same on every server of
// a cluster and across restarts.
type derivedKeys struct {
	bind2, fast, dummy []byte
}

func deriveKeys(secret []byte) (derivedKeys, error) {
	switch {
	case secret == nil:
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return derivedKeys{}, err
		}
	case len(secret) < 16:
		return derivedKeys{}, errors.New("features: Config.Secret is shorter than 16 bytes")
	}
	key := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("xmppauth/features " + label))
		return m.Sum(nil)
	}
	return derivedKeys{bind2: key("bind2 resource"), fast: key("fast token"), dummy: key("fast dummy token")}, nil
}

// fastServer is XEP-0484 on one Server.
type fastServer struct {
	srv      *Server
	store    TokenStore
	lifetime time.Duration
	rotate   time.Duration
}

func newFASTServer(s *Server) *fastServer {
	fs := &fastServer{srv: s, store: s.cfg.FASTTokens, lifetime: s.cfg.FASTTokenLifetime.D(), rotate: s.cfg.FASTRotateAfter.D()}
	if fs.store == nil {
		fs.store = NewMemoryTokenStore()
	}
	if fs.lifetime == 0 {
		fs.lifetime = DefaultFASTTokenLifetime
	}
	if fs.rotate == 0 {
		fs.rotate = min(DefaultFASTRotateAfter, fs.lifetime/2)
	}
	return fs
}

// tokenPrefix marks the tokens of this package (and their version), for
// whoever finds one in a log.
const tokenPrefix = "xa1-"

// token derives the secret token of a record: HMAC-SHA-256 with the
// server's FAST key over the account, the client, the mechanism and the ID.
func (fs *fastServer) token(account, client string, t *FASTToken) []byte {
	m := hmac.New(sha256.New, fs.srv.keys.fast)
	writeField(m, account)
	writeField(m, client)
	writeField(m, t.Mechanism)
	writeField(m, string(t.ID))
	var sum [sha256.Size]byte
	out := append([]byte(tokenPrefix), make([]byte, base64.RawURLEncoding.EncodedLen(sha256.Size))...)
	base64.RawURLEncoding.Encode(out[len(tokenPrefix):], m.Sum(sum[:0]))
	return out
}

// htHash is HMAC-SHA-256(token, label || cb-data), the initiator's and the
// responder's message of the HT mechanisms (draft-schmaus-kitten-sasl-ht
// §3.1 and §3.2: labels "Initiator" and "Responder").
func htHash(token []byte, label string, cbData []byte) []byte {
	m := hmac.New(sha256.New, token)
	m.Write([]byte(label))
	m.Write(cbData)
	return m.Sum(nil)
}

// newMechanism starts an HT exchange; req is the SASL2 request (FAST needs
// its <fast/> and user-agent id).
func (fs *fastServer) newMechanism(st *exchangeStream, store accountStore, ht htMech, req *sasl2Request) (mechanism, error) {
	if fs == nil || req == nil {
		return nil, errInvalidMechanism
	}
	if req.fast == nil || req.userAgent.ID == "" {
		return nil, errFASTUnavailable
	}
	return &htMechanism{fs: fs, st: st, store: store, ht: ht, client: req.userAgent.ID, req: *req.fast}, nil
}

// htMechanism is the server side of an HT-SHA-256-* exchange: one message
// from the client (authcid NUL initiator-hashed-token), one back (the
// responder's hash, with success). The authcid is the username as for
// SCRAM (go-xmpp sends the localpart), the token is used as the HMAC key
// as its bytes, and the channel-binding data is appended to the label
// bare, as go-xmpp's client and Prosody's mod_sasl2_fast compute them.
type htMechanism struct {
	fs     *fastServer
	st     *exchangeStream
	store  accountStore
	ht     htMech
	client string
	req    fastRequest

	identity jid.JID
	used     FASTToken // the token that logged in
}

// maxAuthcid is the draft's limit on authcid ("MUST be accepted up to 255
// octets").
const maxAuthcid = 255

func (m *htMechanism) step(ctx context.Context, in []byte) ([]byte, bool, error) {
	i := bytes.IndexByte(in, 0)
	if i <= 0 || i > maxAuthcid || !utf8.Valid(in[:i]) {
		return nil, false, errMalformed
	}
	authcid, proof := string(in[:i]), in[i+1:]
	account, err := m.store.begin(ctx, authcid)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", scram.ErrStore, err)
	}
	var cbData []byte
	if m.ht.cb != "" {
		if cbData, err = m.st.o.data(m.ht.cb); err != nil {
			// Offered only when available; the state cannot have changed.
			return nil, false, fmt.Errorf("%w: %w", scram.ErrChannelBindingsDontMatch, err)
		}
	}
	var tokens []FASTToken
	if account != "" {
		if tokens, err = m.fs.store.Tokens(ctx, account, m.client); err != nil {
			return nil, false, fmt.Errorf("%w: %w", scram.ErrStore, err)
		}
	}
	// Both slots are checked, with the dummy key for an empty one, a token
	// of another mechanism and an unknown account alike, so that the work
	// does not tell which it was; the comparison is constant-time.
	match := -1
	var token []byte
	for i := range 2 {
		real := i < len(tokens) && tokens[i].Mechanism == m.ht.name
		rec := FASTToken{Mechanism: m.ht.name}
		if real {
			rec = tokens[i]
		}
		key := m.fs.token(account, m.client, &rec)
		if !real {
			key = m.fs.srv.keys.dummy
		}
		if subtle.ConstantTimeCompare(htHash(key, "Initiator", cbData), proof) == 1 && real && match < 0 {
			match, token = i, key
		}
	}
	if match < 0 {
		return nil, false, errBadToken
	}
	t := tokens[match]
	if !m.fs.srv.clock.Now().Before(t.Expires) {
		// XEP-0484 §"Server responsibilities": a token the server no
		// longer trusts fails with <credentials-expired/>.
		return nil, false, fmt.Errorf("%w: FAST token expired", ErrCredentialsExpired)
	}
	if m.req.count != 0 && m.req.count <= t.Count {
		return nil, false, fmt.Errorf("%w: count %d replayed", errBadToken, m.req.count)
	}
	switch err := m.fs.store.Use(ctx, account, m.client, t.ID, m.req.count); {
	case errors.Is(err, ErrTokenUnknown), errors.Is(err, ErrTokenReplayed):
		// Another login used or replaced it meanwhile.
		return nil, false, fmt.Errorf("%w: %w", errBadToken, err)
	case err != nil:
		return nil, false, fmt.Errorf("%w: %w", scram.ErrStore, err)
	}
	if m.identity, err = jid.Parse(account); err != nil {
		return nil, false, errBadToken
	}
	m.used = t
	return htHash(token, "Responder", cbData), true, nil
}

func (m *htMechanism) result() (jid.JID, string, cbind.Type) {
	return m.identity, "", m.ht.cb
}

// afterLogin does what XEP-0484 asks once a SASL2 login fully succeeded:
// invalidate the token a client logged out with, and issue a token when
// the client requested one or the token it used is due for rotation. It
// returns the <token/> for <success/>, or nil. A store failure costs the
// client its new token, never the login.
func (fs *fastServer) afterLogin(ctx context.Context, st *exchangeStream, r *authenticated) xml.TokenReader {
	if fs == nil {
		return nil
	}
	req := r.begin.req
	client := req.userAgent.ID
	account := r.id.JID.String()
	log := fs.srv.log
	ht, isHT := r.m.(*htMechanism)
	invalidate := isHT && ht.req.invalidate
	if invalidate {
		if err := fs.store.Invalidate(ctx, account, client); err != nil {
			log.WarnContext(ctx, "fast: invalidating tokens failed", "jid", account, "err", err)
		}
	}
	var mechanism string
	switch {
	case req.requestToken != "":
		if !slices.Contains(st.o.fast, req.requestToken) {
			log.DebugContext(ctx, "fast: token requested for a mechanism not offered", "jid", account)
			return nil
		}
		mechanism = req.requestToken
	case isHT && !invalidate && fs.srv.clock.Now().Sub(ht.used.Issued) >= fs.rotate:
		mechanism = ht.ht.name
	default:
		return nil
	}
	if client == "" {
		log.DebugContext(ctx, "fast: token requested without a user-agent id", "jid", account)
		return nil
	}
	now := fs.srv.clock.Now()
	t := FASTToken{ID: make([]byte, 16), Mechanism: mechanism, Issued: now, Expires: now.Add(fs.lifetime)}
	if _, err := rand.Read(t.ID); err != nil {
		return nil
	}
	if err := fs.store.Issue(ctx, account, client, t); err != nil {
		log.WarnContext(ctx, "fast: storing a token failed", "jid", account, "err", err)
		return nil
	}
	return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NSFAST, Local: "token"}, Attr: []xml.Attr{
		// XEP-0082 DateTime, in UTC.
		{Name: xml.Name{Local: "expiry"}, Value: t.Expires.UTC().Format(time.RFC3339)},
		{Name: xml.Name{Local: "token"}, Value: string(fs.token(account, client, &t))},
	}})
}
