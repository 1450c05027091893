// Package saslclient implements the client side of XMPP SASL authentication
// (RFC 6120 §6) for mellium.im/xmpp clients: SCRAM (RFC 5802, RFC 7677) with
// SHA-1, SHA-256 and SHA-512, and their -PLUS channel-binding variants with
// all three TLS binding types (tls-exporter of RFC 9266, tls-server-end-point
// and tls-unique of RFC 5929); the channel-binding pseudomechanisms of the
// ProtoXEP "Channel Binding Pseudomechanisms" ("SCRAM-SHA-256-PLUS:tls-exporter");
// XEP-0440 (SASL Channel-Binding Type Capability); and the client checks of
// XEP-0474 (SASL SCRAM Downgrade Protection), including its rule 6 for
// servers that offer -PLUS but no binding type this client can give. PLAIN
// (RFC 4616) is used only when Config.AllowPLAIN says so and no SCRAM
// mechanism is offered.
//
// mellium's own xmpp.SASL cannot do tls-server-end-point, ignores
// pseudomechanisms and XEP-0440 and does not check XEP-0474. A client uses
// this package's features instead of xmpp.SASL:
//
//	c, err := saslclient.New(saslclient.Config{Password: "secret"})
//	…
//	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0,
//		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
//			return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{
//				xmpp.StartTLS(tlsConfig)}, append(c.Features(), xmpp.BindResource())...)}
//		}))
//	res, _ := c.Result() // mechanism and channel-binding type used
//
// Create one Client per connection: it records what the login on that
// connection used. Clients may share a Cache.
//
// Selection: the strongest hash whose -PLUS variant both sides can bind with
// wins, then within it the strongest binding type (tls-exporter, then
// tls-server-end-point, then tls-unique) that the TLS connection can give and
// the server offers. A pseudomechanism names the type for the server; without
// pseudomechanisms the XEP-0440 list says which types the plain -PLUS name
// accepts, and without either the plain -PLUS name means the connection's
// default type (cbind.Default). Only if no -PLUS mechanism can be used does
// the client fall back to plain SCRAM, sending the GS2 flag "y" only when the
// server offered no -PLUS mechanism at all.
//
// The server-first "h" attribute (XEP-0474) is checked against the mechanism
// names and XEP-0440 types exactly as received, and a mismatch fails the
// login with ErrDowngrade before the client proves anything. Servers that
// send no "h" are accepted unless Config.RequireDowngradeProtection is set,
// except in the XEP-0474 rule 6 case where XEP-0440 was advertised without
// tls-server-end-point (XEP-0440's rule for that case).
//
// The password is prepared with PRECIS OpaqueString (RFC 7677 §4 asks for
// SASLprep; package scram prepares it the same way on the server). The user
// name is sent as given, escaped as RFC 5802 saslname: XMPP servers
// normalise localparts themselves.
//
// Hostile servers: every server message is parsed strictly and capped
// (MaxServerMessageLen, MaxMechanisms, …), the iteration count is bounded
// on both sides (Config.MinIterations, Config.MaxIterations), each step has
// a deadline (Config.StepTimeout), and the server signature is compared in
// constant time; a server that answers <success/> without proving that it
// knows the credentials fails the login with ErrServerSignature. mellium's
// XML decoder reads a whole token before this package sees it, so limiting
// the bytes a server may send at all is the connection's job.
//
// Left out: SASL2 (XEP-0388) and FAST; EXTERNAL and other mechanisms; the
// GSS-API form of SCRAM; security layers (SCRAM has none); pinning of
// mechanisms (XEP-0474 asks clients to rely on the hash instead, and pinning
// needs storage this package does not own); retrying with another mechanism
// on the same stream after a failure (a failed login ends the session
// negotiation: close the connection and decide whether to reconnect, since
// mellium leaves it open); sending extensions in client-final.
package saslclient

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// NS is the SASL namespace of RFC 6120.
const NS = "urn:ietf:params:xml:ns:xmpp-sasl"

// PLAIN is the RFC 4616 mechanism name.
const PLAIN = "PLAIN"

// Defaults used for the zero values of Config.
const (
	// DefaultMinIterations is RFC 5802 §5.1's (and RFC 7677's) minimum.
	DefaultMinIterations = 4096
	// DefaultMaxIterations bounds the PBKDF2 work a server can ask for; it
	// matches the limit of package scram.
	DefaultMaxIterations = 10_000_000
	// DefaultStepTimeout bounds the wait for each server message.
	DefaultStepTimeout = 30 * time.Second
)

// Size limits on what the server sends.
const (
	// MaxServerMessageLen caps a decoded SCRAM server message.
	MaxServerMessageLen = 4096
	// MaxMechanisms caps the <mechanism/> names kept from the features list.
	MaxMechanisms = 64
	// MaxMechanismLen caps one mechanism name (pseudomechanisms included).
	MaxMechanismLen = cbind.MaxPseudomechanismLen
	// MaxChannelBindingTypes caps the XEP-0440 types kept.
	MaxChannelBindingTypes = cbind.MaxCapabilityChildren
	// maxTypeLen caps one XEP-0440 type name (RFC 5802 cb-name).
	maxTypeLen = 64
	// maxSaltLen caps the decoded salt.
	maxSaltLen = 1024
	// maxFailureText caps the <text/> kept from a <failure/>.
	maxFailureText = 1024
)

// Errors of a login; test them with errors.Is. The error returned by
// xmpp.NewSession wraps them.
var (
	// ErrDowngrade: the XEP-0474 "h" attribute does not match what this
	// client received (a man in the middle changed the mechanism or
	// channel-binding list), or the server sent none where this client
	// requires one, or the lists contradict each other (XEP-0440 types without
	// any -PLUS mechanism).
	ErrDowngrade = errors.New("saslclient: SASL mechanism or channel-binding downgrade detected")
	// ErrNoMechanism: the server offers no mechanism this client may use.
	ErrNoMechanism = errors.New("saslclient: no usable SASL mechanism offered")
	// ErrMalformed: a server message does not follow RFC 5802 §7 or RFC 6120
	// §6, or exceeds this package's size limits.
	ErrMalformed = errors.New("saslclient: malformed server message")
	// ErrNonceMismatch: the server nonce does not extend the client's.
	ErrNonceMismatch = errors.New("saslclient: server nonce does not extend the client nonce")
	// ErrIterationCount: the iteration count is outside
	// [Config.MinIterations, Config.MaxIterations].
	ErrIterationCount = errors.New("saslclient: iteration count out of bounds")
	// ErrServerSignature: the server's "v" value is wrong or missing: the
	// peer does not know the credentials (it is not the real server).
	ErrServerSignature = errors.New("saslclient: server signature invalid")
)

// ServerError is an RFC 5802 server-error ("e=" attribute) sent in
// server-final, for example "invalid-proof" or
// "channel-bindings-dont-match".
type ServerError struct {
	Value string
}

// Error implements error.
func (e *ServerError) Error() string {
	return fmt.Sprintf("saslclient: server error %q", e.Value)
}

// Failure is an RFC 6120 §6.5 <failure/> sent by the server.
type Failure struct {
	// Condition is the local name of the condition element, for example
	// "not-authorized".
	Condition string
	// Text is the optional human-readable <text/> (capped).
	Text string
}

// Error implements error.
func (f *Failure) Error() string {
	if f.Text != "" {
		return fmt.Sprintf("saslclient: server failure <%s/>: %q", f.Condition, f.Text)
	}
	return fmt.Sprintf("saslclient: server failure <%s/>", f.Condition)
}

// Config configures a Client. Only Password is required.
type Config struct {
	// Username is the authentication identity. Empty: the localpart of the
	// session's origin JID (session.LocalAddr()).
	Username string `json:"username,omitempty"`
	// Password is prepared with PRECIS OpaqueString before use.
	Password string `json:"-"`
	// Authzid, if set, is the identity to act as (a JID).
	Authzid string `json:"authzid,omitempty"`

	// Mechanisms restricts the mechanisms this client uses, by SASL name
	// ("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"). Empty: every SCRAM
	// mechanism, and PLAIN if AllowPLAIN.
	Mechanisms []string `json:"mechanisms,omitempty"`
	// ChannelBindingTypes restricts the binding types this client uses.
	// Empty: all three, where the connection can give them.
	ChannelBindingTypes []cbind.Type `json:"channel_binding_types,omitempty"`
	// AllowPLAIN lets the client send the password in the clear (inside
	// TLS) when the server offers no SCRAM mechanism. Off by default: a
	// man in the middle who can strip SCRAM from the list learns the
	// password (XEP-0474 §8.2, RFC 6120 §13.8.3).
	AllowPLAIN bool `json:"allow_plain,omitempty"`

	// RequireDowngradeProtection fails a SCRAM login whose server-first
	// message carries no XEP-0474 "h" attribute. Off by default because most
	// servers do not send it yet.
	RequireDowngradeProtection bool `json:"require_downgrade_protection,omitempty"`

	// MinIterations is the smallest PBKDF2 iteration count accepted from the
	// server. Zero: DefaultMinIterations.
	MinIterations int `json:"min_iterations,omitempty"`
	// MaxIterations is the largest. Zero: DefaultMaxIterations.
	MaxIterations int `json:"max_iterations,omitempty"`
	// StepTimeout bounds the wait for each server message, unless the
	// context's deadline is earlier. Zero: DefaultStepTimeout.
	StepTimeout time.Duration `json:"step_timeout,omitempty"`

	// Cache, if set, keeps SaltedPassword values so that later logins with
	// the same salt and iteration count skip PBKDF2. It holds
	// password-equivalent data (see Cache). Nil: no caching.
	Cache Cache `json:"-"`
	// Rand is the source of client nonces. Nil: crypto/rand.
	Rand io.Reader `json:"-"`
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.Password == "" {
		return errors.New("saslclient: Password: empty")
	}
	if _, err := precis.OpaqueString.String(c.Password); err != nil {
		return fmt.Errorf("saslclient: Password: not a valid PRECIS OpaqueString: %w", err)
	}
	for _, name := range c.Mechanisms {
		if name == PLAIN {
			if !c.AllowPLAIN {
				return errors.New("saslclient: Mechanisms: PLAIN listed but AllowPLAIN is false")
			}
			continue
		}
		if _, ok := scram.MechanismByName(name); !ok {
			return fmt.Errorf("saslclient: Mechanisms: unknown mechanism %q", name)
		}
	}
	for _, t := range c.ChannelBindingTypes {
		if _, err := cbind.ParseType(string(t)); err != nil {
			return fmt.Errorf("saslclient: ChannelBindingTypes: %w", err)
		}
	}
	switch {
	case c.MinIterations < 0:
		return errors.New("saslclient: MinIterations: negative")
	case c.MaxIterations < 0:
		return errors.New("saslclient: MaxIterations: negative")
	case c.MaxIterations != 0 && c.MaxIterations < c.minIterations():
		return fmt.Errorf("saslclient: MaxIterations: %d below MinIterations %d", c.MaxIterations, c.minIterations())
	case c.StepTimeout < 0:
		return errors.New("saslclient: StepTimeout: negative")
	}
	return nil
}

func (c Config) minIterations() int {
	if c.MinIterations == 0 {
		return DefaultMinIterations
	}
	return c.MinIterations
}

func (c Config) enabled(name string) bool {
	if name == PLAIN && !c.AllowPLAIN {
		return false
	}
	return len(c.Mechanisms) == 0 || slices.Contains(c.Mechanisms, name)
}

func (c Config) bindingEnabled(t cbind.Type) bool {
	return len(c.ChannelBindingTypes) == 0 || slices.Contains(c.ChannelBindingTypes, t)
}

// Result is what a successful login used.
type Result struct {
	// Mechanism is the name sent in <auth/>, possibly a pseudomechanism
	// such as "SCRAM-SHA-256-PLUS:tls-exporter".
	Mechanism string
	// ChannelBinding is the binding type the exchange was bound to, empty
	// when none.
	ChannelBinding cbind.Type
	// DowngradeProtected reports that the server sent the XEP-0474 "h"
	// attribute and it matched.
	DowngradeProtected bool
}

// Client is the SASL client state of one connection. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	password string // PRECIS-prepared

	mu     sync.Mutex
	result *Result
}

// New validates cfg and returns a Client for one connection.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MinIterations == 0 {
		cfg.MinIterations = DefaultMinIterations
	}
	if cfg.MaxIterations == 0 {
		cfg.MaxIterations = max(DefaultMaxIterations, cfg.MinIterations)
	}
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = DefaultStepTimeout
	}
	cfg.Mechanisms = slices.Clone(cfg.Mechanisms)
	cfg.ChannelBindingTypes = slices.Clone(cfg.ChannelBindingTypes)
	password, _ := precis.OpaqueString.String(cfg.Password) // checked by Validate
	return &Client{cfg: cfg, password: password}, nil
}

// Result reports what the successful login on this Client used; false
// before a login succeeded.
func (c *Client) Result() (Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.result == nil {
		return Result{}, false
	}
	return *c.result, true
}

// Features returns the stream features to list in the client's negotiator,
// in place of xmpp.SASL: the SASL <mechanisms/> feature and the
// informational XEP-0440 <sasl-channel-binding/> feature, whose parsed list
// the SASL feature reads from the session. List both.
func (c *Client) Features() []xmpp.StreamFeature {
	return []xmpp.StreamFeature{c.saslFeature(), channelBindingFeature()}
}

func (c *Client) saslFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: NS, Local: "mechanisms"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(context.Context, xmlstream.TokenWriter, xml.StartElement) (bool, error) {
			return false, errors.New("saslclient: client-side feature cannot be listed")
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			names, err := parseMechanisms(d)
			return true, names, err
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			return c.negotiate(ctx, session, data)
		},
	}
}

// advertisedTypes is what the XEP-0440 feature's Parse returns: the type
// names exactly as received.
type advertisedTypes struct {
	types []string
}

func channelBindingFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: cbind.NS, Local: "sasl-channel-binding"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(context.Context, xmlstream.TokenWriter, xml.StartElement) (bool, error) {
			return false, errors.New("saslclient: client-side feature cannot be listed")
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			types, err := parseChannelBindingTypes(d)
			return false, &advertisedTypes{types: types}, err
		},
	}
}
