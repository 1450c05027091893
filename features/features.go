// Package features implements the server side of XMPP authentication as a
// set of mellium.im/xmpp stream features: SASL (RFC 6120 §6) with the SCRAM
// family (RFC 5802, RFC 7677) and its channel-binding variants, the
// channel-binding pseudomechanisms ("SCRAM-SHA-256-PLUS:tls-exporter", from
// the ProtoXEP "Channel Binding Pseudomechanisms"), XEP-0440 (SASL
// Channel-Binding Type Capability), XEP-0474 (SASL SCRAM Downgrade
// Protection), PLAIN (RFC 4616) verified against the stored SCRAM
// credentials, EXTERNAL (RFC 4422 Appendix A) with TLS client certificates,
// and resource binding tied to the authenticated identity (RFC 6120 §7);
// and beside it XEP-0388 (Extensible SASL Profile, "SASL2") with XEP-0386
// (Bind 2), XEP-0484 (Fast Authentication Streamlining Tokens) with the
// HT-SHA-256-* mechanisms of draft-schmaus-kitten-sasl-ht-08, and the SCRAM
// upgrade tasks of XEP-0480.
//
// A host uses these features instead of mellium's xmpp.SASLServer and
// xmpp.BindResource, which cannot run SCRAM on the server side, panic on
// -PLUS mechanisms and do not record who authenticated. One Server holds the
// configuration; each accepted connection gets its own Login, whose features
// are listed in the host's negotiator (all of them with Features, or each by
// name: SASL, SASL2, ChannelBindingCapability, Bind, SessionAdvertisement,
// Traps):
//
//	auth, err := features.New(features.Config{Domains: []string{"example.net"}, Store: store, TLSConfig: tlsCfg})
//	…
//	login := auth.NewLogin()
//	neg := xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
//		return xmpp.StreamConfig{Features: append(
//			[]xmpp.StreamFeature{xmpp.StartTLS(cbind.ServerConfig(tlsCfg))},
//			login.Features(s)...)}
//	})
//	session, err := xmpp.ReceiveSession(ctx, cbind.NewConn(netConn), 0, neg)
//	id, _ := login.Identity() // who authenticated; never the stream header's from
//
// (The root package xmppauth does this wiring, with the stream guard, for a
// plugin host.)
//
// Identity: the server serves the domains of Config.Domains; a stream to any
// other gets <host-unknown/>. Accounts are keyed by bare JID, so
// alice@a.example and alice@b.example are two accounts, and no authzid or
// certificate identity leaves the stream's domain. Callbacks see the
// connection (ConnMetadata).
//
// No enumeration: an unknown user gets a fake SCRAM salt and the configured
// iteration count and salt length (Config.Iterations, Config.SaltLen), PLAIN
// spends the PBKDF2 work of a real check and makes the same store lookups,
// and every failure reads the same (<not-authorized/>, "invalid-proof" for
// SCRAM, no text for PLAIN). Guessing: the login limiter (package throttle)
// bans an address after repeated failures and slows an account down without
// ever locking it; each failure is one INFO log line with the attempted user
// and the address, each ban one more.
//
// Before TLS nothing that needs TLS is offered (no -PLUS, PLAIN or
// EXTERNAL); unless Config.AllowUnencrypted is set, no mechanism at all is
// offered before TLS and a client that tries gets <encryption-required/>.
// A client that sends the retracted XEP-0035 STARTTLS
// (http://www.ietf.org/rfc/rfc2595.txt, or the same without ".txt") gets an
// <unsupported-feature/> stream error that says so. Old clients' RFC 3921
// session IQ is advertised as optional and answered (HandleSession).
//
// # SASL2, Bind2, FAST
//
// SASL2 (Login.SASL2, <authentication xmlns='urn:xmpp:sasl:2'/>) is listed
// beside <mechanisms/> after TLS only (STARTTLS or XEP-0368 direct TLS). It
// runs the same exchange core as RFC 6120 SASL; only the framing differs:
// the same mechanism list (pseudomechanisms and plain -PLUS names
// included), XEP-0440 and XEP-0474 (h= covers what <authentication/>
// lists and the XEP-0440 types, never the FAST mechanisms, which live in
// <inline/>), the login limiter, step timeouts, payload caps, attempts,
// served domains, the authzid rules (plus XEP-0388's: an authzid must match
// the stream's from), the host's callbacks, the Observe events
// (LoginEvent.SASL2) and the log lines. <authenticate/> takes an
// <initial-response/>, a <user-agent id=…/> (Identity.UserAgent), a Bind2
// <bind/>, FAST's <request-token/> and <fast/>, and XEP-0480 <upgrade/>;
// the server answers with <challenge/>, <continue/> (upgrade tasks only),
// <failure/> (the RFC 6120 condition in its namespace) or <success/> with
// <additional-data/> (the SCRAM server-final, or the HT responder hash) and
// <authorization-identifier/>. No stream restart follows a success: with a
// Bind2 request the session is ready at once (the feature returns
// Authn|Ready and writes the <stream:features/> of the ready session,
// Login.ListAfterBind2), without one mellium lists the authenticated
// stream's features on the same stream and the client binds with RFC 6120.
//
// Bind2 binds the authenticated identity (or the authorized authzid) to
// "[tag]/[id]": id is HMAC-SHA-256 keyed from Config.Secret over the
// account, the user-agent id and the tag, so one client installation gets
// the same resource on every login and nobody can compute or reverse it;
// without a user-agent id it is random. Config.BindResource and
// Login.OnBind run as for RFC 6120 binding (a refusal becomes a <failure/>
// carrying the stanza error); Config.Bind2Features advertises what the host
// enables inline, and Login.OnBind2 hands it the client's requests
// (carbons, stream management, CSI) and puts its answers in <bound/>. The
// package owns none of those features.
//
// FAST offers HT-SHA-256-EXPR, -ENDP, -UNIQ (per the binding types the
// connection can give, like the pseudomechanisms) and -NONE inside
// <inline/>. A token is issued on request after any other successful
// SASL2 login with a user-agent id, returned with its expiry, bound to the
// mechanism, the account and the client; a login with it is one message
// (authcid NUL HMAC(token, "Initiator" || channel-binding data)) and one
// answer (HMAC(token, "Responder" || data)). Tokens rotate when older than
// Config.FASTRotateAfter (the old one stays valid until the new one is
// used), expire (<credentials-expired/>), are invalidated on request, and
// each <fast count=…/> must exceed the last. A TokenStore keeps two slots
// per client and never the token: the token is HMAC-SHA-256, keyed from
// Config.Secret, of the record's random ID (HT needs the server to compute
// HMAC keyed by the token, so a one-way verifier cannot serve; this way a
// copy of the store alone authenticates nobody). Wrong tokens count as
// failed guesses for the limiter; an unknown account fails like a wrong
// token, after the same work.
//
// XEP-0480: when Config.Store is a CredentialUpdater, SASL2 offers
// UPGR-SCRAM-SHA-256 and -512; after a channel-bound SCRAM login whose
// account lacks that credential (or has fewer than Config.Iterations
// iterations), the client sends its SaltedPassword for the server's new
// salt and the server stores StoredKey and ServerKey: the password never
// leaves the client. Without channel binding the task is skipped (a relay
// could substitute its own SaltedPassword).
//
// Left out: security layers (SCRAM has none); mechanisms other than SCRAM,
// PLAIN, EXTERNAL and HT-SHA-256-*; server-to-server authentication; SASL2
// tasks other than XEP-0480's SCRAM upgrades (no second factor); XEP-0198
// resumption inside <authenticate/> (ignored, as other unknown requests);
// FAST in TLS 0-RTT (crypto/tls servers take no early data, so tls-0rtt is
// not advertised; the count is checked all the same); HT with hashes other
// than SHA-256 and the draft's later key/value extension; XEP-0388's
// invalid-from check of from against to; XEP-0386's archive <metadata/>
// and offline-message handling (the host's, through OnBind2). This package
// caps every SASL payload it decodes and bounds each step in time, but
// mellium's XML decoder reads a whole element before the package sees it:
// bounding what a client may send before it authenticates, and refusing
// malformed XML, is the stream guard's job (package guard, which the root
// package puts on every connection).
package features

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// NS is the SASL namespace of RFC 6120.
const NS = "urn:ietf:params:xml:ns:xmpp-sasl"

// NSLegacyTLS is the namespace of the retracted XEP-0035 STARTTLS, which this
// package answers with a clear stream error.
const NSLegacyTLS = "http://www.ietf.org/rfc/rfc2595.txt"

// nsLegacyTLSNoSuffix is the same namespace without ".txt", as some
// XEP-0035 implementations wrote it.
const nsLegacyTLSNoSuffix = "http://www.ietf.org/rfc/rfc2595"

// Mechanism names this package implements, besides the SCRAM family (see
// package scram).
const (
	PLAIN    = "PLAIN"
	EXTERNAL = "EXTERNAL"
)

// Defaults used for the zero values of Config.
const (
	DefaultMaxAttempts    = 3
	DefaultStepTimeout    = 30 * time.Second
	DefaultMaxPayloadSize = 8 << 10
	// DefaultFASTTokenLifetime and DefaultFASTRotateAfter are Prosody's
	// mod_sasl2_fast defaults (sasl2_fast_token_ttl, _min_ttl).
	DefaultFASTTokenLifetime = 21 * 24 * time.Hour
	DefaultFASTRotateAfter   = 24 * time.Hour
)

// Errors a host's callbacks return (possibly wrapped) to choose the SASL
// failure condition. Any other error from Config.AccountStatus fails the
// exchange with <temporary-auth-failure/>.
var (
	// ErrAccountDisabled is RFC 6120 §6.5.1 <account-disabled/>.
	ErrAccountDisabled = errors.New("features: account disabled")
	// ErrCredentialsExpired is RFC 6120 §6.5.2 <credentials-expired/>.
	ErrCredentialsExpired = errors.New("features: credentials expired")
	// ErrNotAuthorized refuses an authzid (Config.Authorize) or a certificate
	// (Config.MapCertificate).
	ErrNotAuthorized = errors.New("features: not authorized")
)

// Config configures a Server. The zero value plus Domains and a Store is a
// safe, useful server: every SCRAM mechanism with every channel-binding type
// the connection can give, pseudomechanisms, XEP-0440 and XEP-0474
// advertised, PLAIN and EXTERNAL after TLS only, no authentication before
// TLS, and the login limiter on.
type Config struct {
	// Domains are the domains this server serves. A stream opened to any
	// other domain is refused with <host-unknown/> before any feature, and
	// the authenticated identity's domain is always the served domain the
	// stream was opened to. Names are compared in canonical form (RFC 7622:
	// lowercase, IDNA U-labels, no trailing dot). Required. A plugin host
	// sets them once, in the top-level configuration.
	Domains []string `json:"-"`

	// Store holds the SCRAM credentials (also used to verify PLAIN). It is
	// keyed by the account's bare JID in canonical form, as
	// jid.JID.String() writes it: the localpart normalised with PRECIS
	// UsernameCaseMapped, "@", the canonical domain ("juliet@example.com"),
	// so that accounts of different domains never meet.
	Store scram.Store `json:"-"`

	// Secret keys the fake salts handed out for unknown users (see
	// scram.Config.Secret). Nil: a random secret per process.
	Secret []byte `json:"-"`

	// TLSConfig is the configuration the host gives to xmpp.StartTLS. It is
	// used to find the certificate served on a connection when the connection
	// was not wrapped with cbind.NewConn (single-certificate servers).
	TLSConfig *tls.Config `json:"-"`

	// Mechanisms restricts the enabled mechanisms to these names (for example
	// "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"). Empty: all of them.
	Mechanisms []string `json:"mechanisms,omitempty"`

	// ChannelBindingTypes restricts the channel-binding types used by -PLUS
	// mechanisms. Empty: all the types a connection can give.
	ChannelBindingTypes []cbind.Type `json:"channel_binding_types,omitempty"`

	// DisablePseudomechanisms stops advertising "SCRAM-*-PLUS:<type>".
	DisablePseudomechanisms bool `json:"disable_pseudomechanisms,omitempty"`
	// DisableChannelBindingCapability stops advertising XEP-0440.
	DisableChannelBindingCapability bool `json:"disable_xep0440,omitempty"`
	// DisableDowngradeProtection stops sending the XEP-0474 h= attribute.
	DisableDowngradeProtection bool `json:"disable_xep0474,omitempty"`
	// DisablePLAIN stops offering PLAIN (which is only ever offered over TLS).
	DisablePLAIN bool `json:"disable_plain,omitempty"`
	// DisableEXTERNAL stops offering EXTERNAL (which is only offered when the
	// client presented a certificate that verified).
	DisableEXTERNAL bool `json:"disable_external,omitempty"`

	// AllowUnencrypted offers the non-PLUS SCRAM mechanisms before TLS. Off
	// by default: RFC 6120 §5.3.1 lets a server require TLS first, and
	// without TLS the whole stream is readable and writable by anyone on the
	// path.
	AllowUnencrypted bool `json:"allow_unencrypted,omitempty"`

	// Iterations is the PBKDF2 iteration count of the Store's credentials.
	// Unknown users are shown it (scram.Config.FakeIterations) and PLAIN's
	// check of an unknown user spends it, so that they look and cost like
	// real ones. Zero: scram.MinIterations.
	Iterations int `json:"iterations,omitempty"`
	// SaltLen is the salt length of the Store's credentials, shown to
	// unknown users likewise. Zero: scram.DefaultSaltLen.
	SaltLen int `json:"salt_len,omitempty"`

	// MaxAttempts is how many failed attempts a client gets on one stream
	// before the stream is closed with <policy-violation/> (RFC 6120 §6.4.5
	// suggests 2 to 5). Zero: DefaultMaxAttempts.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// StepTimeout bounds how long the server waits for each client message
	// of an exchange. Zero: DefaultStepTimeout.
	StepTimeout config.Duration `json:"step_timeout,omitempty"`
	// MaxPayloadSize caps the decoded size of one SASL message. Zero:
	// DefaultMaxPayloadSize.
	MaxPayloadSize int `json:"max_payload_size,omitempty"`

	// Throttle configures the login limiter, on by default: an address
	// (IPv6 by /64) is banned after repeated failures and answered
	// <temporary-auth-failure/>, an account is only slowed down, never
	// locked (package throttle). Share Throttle.Store between the servers of
	// a cluster.
	Throttle throttle.Config `json:"throttle"`
	// DisableThrottle turns the login limiter off.
	DisableThrottle bool `json:"disable_throttle,omitempty"`
	// Limiter replaces the limiter Throttle configures. Nil: throttle.New
	// with Throttle.
	Limiter Limiter `json:"-"`

	// Authorize decides whether identity may act as authzid (a non-empty
	// authorization identity that differs from the identity itself, in the
	// same domain: an authzid of another domain is always refused). Nil: only
	// authzids equal to the authenticated bare JID are accepted. Return nil
	// to allow, anything else to fail with <invalid-authzid/>.
	Authorize func(ctx context.Context, conn ConnMetadata, identity, authzid jid.JID) error `json:"-"`

	// AccountStatus is called after the credentials were verified and may
	// refuse the login with ErrAccountDisabled or ErrCredentialsExpired.
	// Nil: every account is active.
	AccountStatus func(ctx context.Context, conn ConnMetadata, identity jid.JID) error `json:"-"`

	// MapCertificate maps a verified client certificate to the identities it
	// authenticates (EXTERNAL); identities outside conn.Domain() are ignored.
	// Nil: the certificate's id-on-xmppAddr subjectAltName values for the
	// stream's domain (RFC 6120 §13.7.1.4); exactly one must match unless the
	// client names one as authzid.
	MapCertificate func(ctx context.Context, conn ConnMetadata, cert *x509.Certificate) ([]jid.JID, error) `json:"-"`

	// BindResource chooses the full JID for a resource-binding request of
	// identity (the authenticated bare JID, or the authorized authzid),
	// for example to resolve conflicts with sessions already bound. Return a
	// stanza.Error to refuse with that condition. Nil: the requested
	// resource when it is a valid resourcepart, else a random one.
	BindResource func(ctx context.Context, conn ConnMetadata, identity jid.JID, requested string) (jid.JID, error) `json:"-"`

	// DisableSASL2 stops offering XEP-0388 (Extensible SASL Profile), and
	// with it Bind2, FAST and the upgrade tasks. SASL2 is only ever offered
	// over TLS.
	DisableSASL2 bool `json:"disable_sasl2,omitempty"`
	// DisableBind2 stops offering XEP-0386 (Bind 2) inside SASL2: clients
	// then bind with RFC 6120 resource binding after SASL2.
	DisableBind2 bool `json:"disable_bind2,omitempty"`
	// Bind2Features are the service-discovery features of what the host
	// can enable inline in a Bind2 request (XEP-0386: "urn:xmpp:carbons:2",
	// "urn:xmpp:sm:3", "urn:xmpp:csi:0"…), listed in the Bind2 feature.
	// The host enables what a client asks for in Login.OnBind2; this
	// package owns none of them.
	Bind2Features []string `json:"-"`
	// DisableFAST stops offering XEP-0484 (Fast Authentication Streamlining
	// Tokens) and its HT-* mechanisms.
	DisableFAST bool `json:"disable_fast,omitempty"`
	// FASTTokens stores what the server keeps of the FAST tokens it issued
	// (never the tokens). Nil: NewMemoryTokenStore, whose tokens are lost
	// on restart. The tokens are derived from Secret: without it they are
	// also lost on restart, whatever the store.
	FASTTokens TokenStore `json:"-"`
	// FASTTokenLifetime is how long a FAST token is valid: how long a
	// client may stay away before it must log in with its password again.
	// Zero: DefaultFASTTokenLifetime.
	FASTTokenLifetime config.Duration `json:"fast_token_lifetime,omitempty"`
	// FASTRotateAfter is the age at which a token used to log in is
	// replaced by a new one in the same <success/>. Zero:
	// DefaultFASTRotateAfter.
	FASTRotateAfter config.Duration `json:"fast_rotate_after,omitempty"`
	// DisableUpgradeTasks stops offering the XEP-0480 SCRAM upgrade tasks
	// (which are only offered when Store is a CredentialUpdater).
	DisableUpgradeTasks bool `json:"disable_upgrade_tasks,omitempty"`
	// Clock tells the time for FAST token expiry and rotation. Nil: the
	// system clock.
	Clock config.Clock `json:"-"`

	// Logger receives one line per login and per failure, never secrets.
	// Nil: slog.Default().
	Logger *slog.Logger `json:"-"`

	// Observe, when set, is told of every finished attempt, for metrics
	// (see LoginEvent). It runs on the connection's goroutine: keep it
	// quick.
	Observe func(LoginEvent) `json:"-"`
}

// LoginEvent is one finished SASL attempt, as metrics see it: no username,
// JID or address (those are in the log line).
type LoginEvent struct {
	// Mechanism is the mechanism the client selected, one the server
	// offered (pseudomechanism names included, and on SASL2 the FAST
	// mechanisms); "" when it named none of them, so that a label made
	// from it stays within the offered set.
	Mechanism string
	// ChannelBinding is the type the exchange was bound to, "" when none.
	ChannelBinding cbind.Type
	// Condition is "" for a success, else the RFC 6120 §6.5 condition sent.
	Condition string
	// Duration is the time from <auth/> to <success/> or <failure/>,
	// the limiter's delay included.
	Duration time.Duration
	// Banned reports that this failure made the limiter ban the address.
	Banned bool
	// SASL2 reports that the attempt used XEP-0388 rather than RFC 6120.
	SASL2 bool
}

// Validate reports the first invalid setting, named by its JSON key (see
// package config); run-time dependencies (Store) are checked by New.
func (c Config) Validate() error {
	for i, name := range c.Mechanisms {
		if !knownMechanism(name) {
			return config.Errorf(fmt.Sprintf("mechanisms[%d]", i), "unknown mechanism %q", name)
		}
	}
	for i, t := range c.ChannelBindingTypes {
		if _, err := cbind.ParseType(string(t)); err != nil {
			return config.Errorf(fmt.Sprintf("channel_binding_types[%d]", i), "%v", err)
		}
	}
	for i, d := range c.Domains {
		if _, err := CanonicalDomain(d); err != nil {
			return config.Errorf(fmt.Sprintf("domains[%d]", i), "%q is not a domain: %v", d, err)
		}
	}
	if err := c.Throttle.Validate(); err != nil {
		return config.In("throttle", err)
	}
	switch {
	case c.MaxAttempts < 0 || c.MaxAttempts > 5:
		return config.Errorf("max_attempts", "%d is not in 0..5", c.MaxAttempts)
	case c.StepTimeout < 0:
		return config.Errorf("step_timeout", "%v is negative", c.StepTimeout)
	case c.MaxPayloadSize < 0:
		return config.Errorf("max_payload_size", "%d is negative", c.MaxPayloadSize)
	case c.Iterations != 0 && c.Iterations < scram.MinIterations:
		return config.Errorf("iterations", "%d is below %d (RFC 7677)", c.Iterations, scram.MinIterations)
	case c.SaltLen < 0 || c.SaltLen > scram.MaxFakeSaltLen:
		return config.Errorf("salt_len", "%d is not in 0..%d", c.SaltLen, scram.MaxFakeSaltLen)
	case c.FASTTokenLifetime < 0:
		return config.Errorf("fast_token_lifetime", "%v is negative", c.FASTTokenLifetime)
	case c.FASTRotateAfter < 0:
		return config.Errorf("fast_rotate_after", "%v is negative", c.FASTRotateAfter)
	case c.FASTTokenLifetime != 0 && c.FASTRotateAfter.D() >= c.FASTTokenLifetime.D():
		return config.Errorf("fast_rotate_after", "%v is not below fast_token_lifetime %v", c.FASTRotateAfter, c.FASTTokenLifetime)
	}
	for i, f := range c.Bind2Features {
		if f == "" || len(f) > maxFeatureVar {
			return config.Errorf(fmt.Sprintf("bind2_features[%d]", i), "%q is not a feature name", f)
		}
	}
	return nil
}

// check reports what New needs beyond valid settings.
func (c Config) check() error {
	switch {
	case len(c.Domains) == 0:
		return config.Errorf("domains", "at least one served domain is required")
	case c.Store == nil && c.usesStore():
		return errors.New("features: Config.Store is required for SCRAM and PLAIN")
	}
	return nil
}

func (c Config) usesStore() bool {
	if len(c.Mechanisms) == 0 {
		return true
	}
	for _, name := range c.Mechanisms {
		if name != EXTERNAL {
			return true
		}
	}
	return false
}

func knownMechanism(name string) bool {
	if name == PLAIN || name == EXTERNAL {
		return true
	}
	if _, ok := htMechanismByName(name); ok {
		return true
	}
	_, ok := scram.MechanismByName(name)
	return ok
}

func (c Config) enabled(name string) bool {
	switch {
	case name == PLAIN && c.DisablePLAIN, name == EXTERNAL && c.DisableEXTERNAL:
		return false
	case len(c.Mechanisms) == 0:
		return true
	}
	for _, n := range c.Mechanisms {
		if n == name {
			return true
		}
	}
	return false
}

func (c Config) bindingEnabled(t cbind.Type) bool {
	if len(c.ChannelBindingTypes) == 0 {
		return true
	}
	for _, e := range c.ChannelBindingTypes {
		if e == t {
			return true
		}
	}
	return false
}
