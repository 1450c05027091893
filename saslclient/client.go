// Package saslclient implements the client side of XMPP authentication for
// mellium.im/xmpp clients: RFC 6120 §6 SASL and XEP-0388 (Extensible SASL
// Profile, "SASL2") with XEP-0386 (Bind 2) and XEP-0484 (Fast Authentication
// Streamlining Tokens, "FAST").
//
// Mechanisms: SCRAM (RFC 5802, RFC 7677) with SHA-1, SHA-256 and SHA-512,
// and their -PLUS channel-binding variants with all three TLS binding types
// (tls-exporter of RFC 9266, tls-server-end-point and tls-unique of RFC
// 5929); the channel-binding pseudomechanisms of the ProtoXEP "Channel
// Binding Pseudomechanisms" ("SCRAM-SHA-256-PLUS:tls-exporter"); XEP-0440
// (SASL Channel-Binding Type Capability); the client checks of XEP-0474
// (SASL SCRAM Downgrade Protection), including its rule 6 for servers that
// offer -PLUS but no binding type this client can give; the HT-* family of
// draft-schmaus-kitten-sasl-ht (HT-SHA-256-EXPR and the like) for FAST
// tokens; PLAIN (RFC 4616) only when Config.AllowPLAIN says so and no SCRAM
// mechanism is offered.
//
// mellium's own xmpp.SASL cannot do tls-server-end-point, ignores
// pseudomechanisms and XEP-0440, does not check XEP-0474 and has no SASL2.
// A client uses this package's features instead of xmpp.SASL, and its
// Negotiator instead of xmpp.NewNegotiator:
//
//	c, err := saslclient.New(saslclient.Config{Password: "secret"})
//	…
//	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0,
//		c.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
//			return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{
//				xmpp.StartTLS(tlsConfig)}, append(c.Features(), xmpp.BindResource())...)}
//		}))
//	res, _ := c.Result() // mechanism, channel-binding type, bound JID, …
//
// Create one Client per connection: it records what the login on that
// connection used. Clients may share a Cache and a TokenStore.
//
// # SASL or SASL2
//
// When the server offers both, SASL2 is used unless Config.DisableSASL2 is
// set. The mechanism is chosen the same way for both, from the mechanism
// list of the profile in use: the strongest hash whose -PLUS variant both
// sides can bind with wins, then within it the strongest binding type
// (tls-exporter, then tls-server-end-point, then tls-unique) that the TLS
// connection can give and the server offers. A pseudomechanism names the
// type for the server; without pseudomechanisms the XEP-0440 list says which
// types the plain -PLUS name accepts, and without either the plain -PLUS name
// means the connection's default type (cbind.Default) on RFC 6120 SASL; on
// SASL2 a -PLUS offer without types is refused (ErrDowngrade, XEP-0440
// business rule 4). Only if no -PLUS mechanism can be used does the client
// fall back to plain SCRAM, sending the GS2 flag "y" only when the server
// offered no -PLUS mechanism at all.
//
// The server-first "h" attribute (XEP-0474) is checked against the mechanism
// names of the profile in use and the XEP-0440 types exactly as received
// (FAST mechanisms are not part of it), and a mismatch fails the login with
// ErrDowngrade before the client proves anything. Servers that send no "h"
// are accepted unless Config.RequireDowngradeProtection is set, except in
// the XEP-0474 rule 6 case where XEP-0440 was advertised without
// tls-server-end-point (XEP-0440's rule for that case).
//
// A SASL2 login sends <user-agent/> (Config.UserAgent), verifies the SCRAM
// server-final message carried in <additional-data/> (a <success/> without
// it fails with ErrServerSignature) and reads the <authorization-identifier/>
// into Result.JID. A <continue/> fails the login with a *ContinueError
// (ErrTasks) after its additional data was verified: this package
// implements no XEP-0388 task.
//
// # Bind 2
//
// When the server lists Bind 2 among its SASL2 inline features, the client
// asks for a resource inline (Config.Bind2: tag and the caller's inline
// elements such as a XEP-0280 or XEP-0198 <enable/>), reports the full JID
// and the children of <bound/> in Result, and sets the session's address.
// The features list that follows <success/> (no stream restart) is read by
// Client.Negotiator, kept in Result.Features, and the session is ready:
// mellium's own negotiator would try to negotiate that list, which works
// when it is empty but fails on one that holds only features the client
// does not know. Without Bind 2 on the server (or with Config.Bind2.Disable)
// the client binds the RFC 6120 way after SASL2: list xmpp.BindResource.
//
// # FAST
//
// With Config.FAST.Tokens set, a password login over SASL2 asks for a token
// (<request-token/>) for the HT mechanism of the connection's channel
// binding: its default type first (tls-exporter on TLS 1.3, tls-unique on
// TLS 1.2), then the others this connection can give (tls-exporter before
// tls-server-end-point before tls-unique), and HT-*-NONE only with
// Config.FAST.AllowNoBinding. The token received is stored; the next login
// uses it, with a count that grows with every attempt. A token is used only
// with the mechanism it was issued for, only while the server still offers that mechanism, only over a
// connection that can give that mechanism's binding type and before it
// expires; otherwise the client logs in with the password (and asks for a
// new token) or fails with ErrTokenUnusable. The server's HT answer in
// <additional-data/> is checked in constant time (ErrServerSignature, and
// the token is deleted, when it is missing or wrong). A new token in
// <success/> replaces the stored one (rotation). A token the server refuses
// is deleted and, with a password, the client logs in again on the same
// stream (Result.TokenRefused says so). Config.FAST.Invalidate logs a token
// out (XEP-0484 "invalidate").
//
// # Other behaviour
//
// The password is prepared with PRECIS OpaqueString (RFC 7677 §4 asks for
// SASLprep; package scram prepares it the same way on the server). The user
// name is sent as given, escaped as RFC 5802 saslname: XMPP servers
// normalise localparts themselves.
//
// Hostile servers: every server message is parsed strictly and capped
// (MaxServerMessageLen, MaxMechanisms, MaxElementLen, …), the iteration
// count is bounded on both sides (Config.MinIterations,
// Config.MaxIterations), each step has a deadline (Config.StepTimeout), and
// server signatures are compared in constant time; a server that answers
// <success/> without proving that it knows the credentials fails the login
// with ErrServerSignature. mellium's XML decoder reads a whole token before
// this package sees it, so limiting the bytes a server may send at all is
// the connection's job. Tokens never appear in errors or in Token's String
// and GoString.
//
// Left out: XEP-0388 tasks (<next/>, <task-data/>: no task is implemented,
// so a <continue/> always fails, and XEP-0480 SASL upgrade tasks are not
// requested); TLS 0-RTT early data for FAST (the count is sent, but the
// request always goes after the handshake); the inline features themselves
// (XEP-0198, XEP-0280, XEP-0352: the caller builds their elements with
// Config.Inline and Config.Bind2.Inline and reads the answers in Result);
// a TokenStore on disk (MemoryTokenStore only); EXTERNAL and other mechanisms;
// the GSS-API form of SCRAM; security layers (SCRAM has none); pinning of
// mechanisms (XEP-0474 asks clients to rely on the hash instead, and pinning
// needs storage this package does not own); retrying with another mechanism
// on the same stream after a failure, except the password login after a
// refused FAST token (a failed login ends the session negotiation: close the
// connection and decide whether to reconnect, since mellium leaves it open);
// sending extensions in client-final; checking that the authorization
// identifier the server reports is the account that logged in (the server
// decides, Result.JID says what it decided).
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
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/scram"
)

// The namespaces and mechanism names the client speaks. Their exported home
// is package features (features.NS, features.NSSASL2, features.NSBind2,
// features.NSFAST, features.PLAIN); the client keeps private copies so that
// it does not import the server.
const (
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl" // RFC 6120
	nsSASL2   = "urn:xmpp:sasl:2"                  // XEP-0388
	nsBind2   = "urn:xmpp:bind:0"                  // XEP-0386
	nsFAST    = "urn:xmpp:fast:0"                  // XEP-0484
	mechPLAIN = "PLAIN"                            // RFC 4616
)

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
	// MaxMechanisms caps the <mechanism/> names kept from the features list
	// (and from the FAST list).
	MaxMechanisms = 64
	// MaxMechanismLen caps one mechanism name (pseudomechanisms included).
	MaxMechanismLen = cbind.MaxPseudomechanismLen
	// MaxChannelBindingTypes caps the XEP-0440 types kept.
	MaxChannelBindingTypes = cbind.MaxCapabilityChildren
	// MaxElementLen caps one element kept as XML (Element): a child of a
	// SASL2 <success/>, <bound/> or of the features that follow.
	MaxElementLen = 16 << 10
	// MaxElements caps the number of elements kept from one SASL2
	// <success/> (with <bound/>), one <inline/> list or one features list.
	MaxElements = 32
	// maxTypeLen caps one XEP-0440 type name (RFC 5802 cb-name).
	maxTypeLen = 64
	// maxSaltLen caps the decoded salt.
	maxSaltLen = 1024
	// maxFailureText caps the <text/> kept from a <failure/>.
	maxFailureText = 1024
	// maxJIDLen caps an authorization identifier (XEP-0388's schema).
	maxJIDLen = 3071
	// maxUserAgentLen caps each UserAgent and Bind2 text field.
	maxUserAgentLen = 256
)

// Errors of a login; test them with errors.Is. The error returned by
// xmpp.NewSession wraps them.
var (
	// ErrDowngrade: the XEP-0474 "h" attribute does not match what this
	// client received (a man in the middle changed the mechanism or
	// channel-binding list), or the server sent none where this client
	// requires one, or the lists contradict each other (XEP-0440 types
	// without any -PLUS mechanism; on SASL2, -PLUS without any type).
	ErrDowngrade = errors.New("saslclient: SASL mechanism or channel-binding downgrade detected")
	// ErrNoMechanism: the server offers no mechanism this client may use.
	ErrNoMechanism = errors.New("saslclient: no usable SASL mechanism offered")
	// ErrMalformed: a server message does not follow RFC 5802 §7, RFC 6120
	// §6 or XEP-0388 (with XEP-0386 and XEP-0484), or exceeds this package's
	// size limits.
	ErrMalformed = errors.New("saslclient: malformed server message")
	// ErrNonceMismatch: the server nonce does not extend the client's.
	ErrNonceMismatch = errors.New("saslclient: server nonce does not extend the client nonce")
	// ErrIterationCount: the iteration count is outside
	// [Config.MinIterations, Config.MaxIterations].
	ErrIterationCount = errors.New("saslclient: iteration count out of bounds")
	// ErrServerSignature: the server's SCRAM "v" value or HT answer is
	// wrong or missing: the peer does not know the credentials (it is not
	// the real server).
	ErrServerSignature = errors.New("saslclient: server signature invalid")
	// ErrTasks: the server answered a SASL2 login with <continue/>, asking
	// for tasks this client does not implement (see ContinueError).
	ErrTasks = errors.New("saslclient: server requires SASL2 tasks this client does not implement")
	// ErrTokenUnusable: there is no password and the stored FAST token cannot
	// be used here: the server does not offer its mechanism (or SASL2), this
	// connection cannot give the channel binding it needs, it needs no
	// binding and Config.FAST.AllowNoBinding is off, or it expired.
	ErrTokenUnusable = errors.New("saslclient: stored FAST token cannot be used on this connection")
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

// Failure is an RFC 6120 §6.5 or XEP-0388 <failure/> sent by the server.
type Failure struct {
	// Condition is the local name of the RFC 6120 §6.5 condition element,
	// for example "not-authorized".
	Condition string
	// Text is the optional human-readable <text/> (capped).
	Text string
	// AppSpecific names the other children of a SASL2 <failure/> (XEP-0388
	// application-specific conditions), at most MaxElements.
	AppSpecific []xml.Name
}

// Error implements error.
func (f *Failure) Error() string {
	if f.Text != "" {
		return fmt.Sprintf("saslclient: server failure <%s/>: %q", f.Condition, f.Text)
	}
	return fmt.Sprintf("saslclient: server failure <%s/>", f.Condition)
}

// ContinueError is a XEP-0388 <continue/>: the mechanism succeeded but the
// server wants tasks (a second factor, a password change) this client does
// not implement. It wraps ErrTasks. The client aborts the login.
type ContinueError struct {
	// Tasks are the task names offered, as received.
	Tasks []string
	// Text is the optional human-readable <text/> (capped).
	Text string
}

// Error implements error.
func (e *ContinueError) Error() string {
	msg := fmt.Sprintf("saslclient: server requires SASL2 tasks %q, none of which this client implements", e.Tasks)
	if e.Text != "" {
		msg += fmt.Sprintf(": %q", e.Text)
	}
	return msg
}

// Unwrap returns ErrTasks.
func (e *ContinueError) Unwrap() error { return ErrTasks }

// UserAgent is the XEP-0388 <user-agent/> of this client installation.
type UserAgent struct {
	// ID is a UUID v4 that stays the same for this installation (servers
	// derive stable resources from it and tie FAST tokens to it). Required
	// with FAST; empty: no id attribute.
	ID string `json:"id,omitempty"`
	// Software names the client software, for example "AwesomeXMPP".
	Software string `json:"software,omitempty"`
	// Device describes the device, for example "Kiva's Phone".
	Device string `json:"device,omitempty"`
}

// Bind2 configures XEP-0386 Bind 2, used when the server offers it inline in
// SASL2.
type Bind2 struct {
	// Disable makes the client bind the RFC 6120 way (list
	// xmpp.BindResource among the features) even where Bind 2 is offered.
	Disable bool `json:"disable,omitempty"`
	// Tag is the <tag/> the server puts at the start of the resource, a
	// short name of the client software. It may be visible to other
	// entities: no host names or user data. Empty: UserAgent.Software (and
	// no tag when that is empty too).
	Tag string `json:"tag,omitempty"`
	// Inline, if set, returns elements to put inside <bind/>, for example a
	// XEP-0280 <enable xmlns='urn:xmpp:carbons:2'/> or a XEP-0198 <enable/>,
	// given the 'var' of each <feature/> the server listed for inline
	// negotiation. What the server answers is in Result.BoundElements.
	Inline func(offered []string) []xml.TokenReader `json:"-"`
}

// FAST configures XEP-0484 Fast Authentication Streamlining Tokens.
type FAST struct {
	// Tokens stores the token of each account between connections. Nil:
	// FAST is off.
	Tokens TokenStore `json:"-"`
	// AllowNoBinding lets the client ask for and use tokens of the
	// HT-*-NONE mechanisms, which anyone who sees the login can replay;
	// they are for connections that can give no channel binding at all.
	AllowNoBinding bool `json:"allow_no_binding,omitempty"`
	// Invalidate logs the stored token out: the next login that uses it asks
	// the server to invalidate it and deletes it here. No new token is
	// requested while Invalidate is set.
	Invalidate bool `json:"invalidate,omitempty"`
}

// Config configures a Client. Only Password is required, or FAST.Tokens for
// a client that logs in with tokens only.
type Config struct {
	// Username is the authentication identity. Empty: the localpart of the
	// session's origin JID (session.LocalAddr()).
	Username string `json:"username,omitempty"`
	// Password is prepared with PRECIS OpaqueString before use. It may be
	// empty when FAST.Tokens is set: then only a stored token can log in.
	Password string `json:"-"`
	// Authzid, if set, is the identity to act as (a JID).
	Authzid string `json:"authzid,omitempty"`

	// Mechanisms restricts the mechanisms this client uses, by SASL name
	// ("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"). Empty: every SCRAM
	// mechanism, and PLAIN if AllowPLAIN. FAST's HT mechanisms are not
	// listed here.
	Mechanisms []string `json:"mechanisms,omitempty"`
	// ChannelBindingTypes restricts the binding types this client uses,
	// with SCRAM and with FAST. Empty: all three, where the connection can
	// give them.
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

	// DisableSASL2 makes the client use RFC 6120 SASL even where the server
	// offers XEP-0388 SASL2. Bind 2 and FAST need SASL2.
	DisableSASL2 bool `json:"disable_sasl2,omitempty"`
	// UserAgent is sent in every SASL2 <authenticate/>.
	UserAgent UserAgent `json:"user_agent,omitzero"`
	// Inline, if set, returns elements to add to the SASL2 <authenticate/>
	// for inline features the server offers outside Bind 2 (for example a
	// XEP-0198 <resume/>), given the names of the children of the server's
	// <inline/> (Bind 2 and FAST, which this package handles, included).
	// What the server answers is in Result.SuccessElements.
	Inline func(offered []xml.Name) []xml.TokenReader `json:"-"`
	// Bind2 configures XEP-0386 Bind 2.
	Bind2 Bind2 `json:"bind2,omitzero"`
	// FAST configures XEP-0484 tokens.
	FAST FAST `json:"fast,omitzero"`

	// MinIterations is the smallest PBKDF2 iteration count accepted from the
	// server. Zero: DefaultMinIterations.
	MinIterations int `json:"min_iterations,omitempty"`
	// MaxIterations is the largest. Zero: DefaultMaxIterations.
	MaxIterations int `json:"max_iterations,omitempty"`
	// StepTimeout bounds the wait for each server message, unless the
	// context's deadline is earlier. Zero: DefaultStepTimeout.
	StepTimeout config.Duration `json:"step_timeout,omitempty"`

	// Cache, if set, keeps SaltedPassword values so that later logins with
	// the same salt and iteration count skip PBKDF2. It holds
	// password-equivalent data (see Cache). Nil: no caching.
	Cache Cache `json:"-"`
	// Rand is the source of client nonces. Nil: crypto/rand.
	Rand io.Reader `json:"-"`
	// Clock is what FAST token expiry is checked against. Nil: the system
	// clock.
	Clock config.Clock `json:"-"`
}

// Validate reports the first invalid setting, as a *config.FieldError
// naming its JSON key ("max_iterations: -1 is negative"); the Go-only
// Password by its Go name.
func (c Config) Validate() error {
	switch {
	case c.Password == "" && c.FAST.Tokens == nil:
		return errors.New("saslclient: Password: empty (and no FAST.Tokens)")
	case c.Password != "":
		if _, err := precis.OpaqueString.String(c.Password); err != nil {
			return fmt.Errorf("saslclient: Password: not a valid PRECIS OpaqueString: %w", err)
		}
	}
	for _, name := range c.Mechanisms {
		if name == mechPLAIN {
			if !c.AllowPLAIN {
				return config.Errorf("mechanisms", "PLAIN listed but allow_plain is false")
			}
			continue
		}
		if _, ok := scram.MechanismByName(name); !ok {
			return config.Errorf("mechanisms", "unknown mechanism %q", name)
		}
	}
	for _, t := range c.ChannelBindingTypes {
		if _, err := cbind.ParseType(string(t)); err != nil {
			return config.Errorf("channel_binding_types", "%w", err)
		}
	}
	if c.UserAgent.ID != "" && !isUUIDv4(c.UserAgent.ID) {
		return config.Errorf("user_agent.id", "not a UUID v4 (XEP-0388)")
	}
	for _, f := range []struct{ name, v string }{
		{"user_agent.software", c.UserAgent.Software},
		{"user_agent.device", c.UserAgent.Device},
		{"bind2.tag", c.Bind2.Tag},
	} {
		if len(f.v) > maxUserAgentLen || !utf8.ValidString(f.v) || !xmlText(f.v) {
			return config.Errorf(f.name, "not UTF-8 text of at most %d bytes", maxUserAgentLen)
		}
	}
	if c.FAST.Tokens != nil {
		switch {
		case c.UserAgent.ID == "":
			return config.Errorf("user_agent.id", "FAST needs the installation's id (XEP-0484)")
		case c.DisableSASL2:
			return config.Errorf("disable_sasl2", "FAST needs SASL2")
		}
	}
	switch {
	case c.MinIterations < 0:
		return config.Errorf("min_iterations", "%d is negative", c.MinIterations)
	case c.MaxIterations < 0:
		return config.Errorf("max_iterations", "%d is negative", c.MaxIterations)
	case c.MaxIterations != 0 && c.MaxIterations < c.minIterations():
		return config.Errorf("max_iterations", "%d is below min_iterations %d", c.MaxIterations, c.minIterations())
	case c.StepTimeout < 0:
		return config.Errorf("step_timeout", "%s is negative", c.StepTimeout)
	}
	return nil
}

// isUUIDv4 checks the RFC 9562 text form with version 4.
func isUUIDv4(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
			continue
		case 14:
			if c != '4' {
				return false
			}
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// xmlText reports whether s holds only characters XML 1.0 allows.
func xmlText(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

func (c Config) minIterations() int {
	if c.MinIterations == 0 {
		return DefaultMinIterations
	}
	return c.MinIterations
}

func (c Config) enabled(name string) bool {
	if name == mechPLAIN && !c.AllowPLAIN {
		return false
	}
	return len(c.Mechanisms) == 0 || slices.Contains(c.Mechanisms, name)
}

func (c Config) bindingEnabled(t cbind.Type) bool {
	return len(c.ChannelBindingTypes) == 0 || slices.Contains(c.ChannelBindingTypes, t)
}

// Result is what a successful login used.
type Result struct {
	// Mechanism is the name sent in <auth/> or <authenticate/>, possibly a
	// pseudomechanism such as "SCRAM-SHA-256-PLUS:tls-exporter" or a FAST
	// mechanism such as "HT-SHA-256-EXPR".
	Mechanism string
	// ChannelBinding is the binding type the exchange was bound to, empty
	// when none.
	ChannelBinding cbind.Type
	// DowngradeProtected reports that the server sent the XEP-0474 "h"
	// attribute and it matched (SCRAM only).
	DowngradeProtected bool

	// SASL2 reports that the login used XEP-0388.
	SASL2 bool
	// JID is the SASL2 authorization identifier: the account, or with Bind
	// 2 the full JID bound. Zero after RFC 6120 SASL.
	JID jid.JID
	// Bound reports that the server bound a resource inline (XEP-0386);
	// JID is the full JID and the session's address.
	Bound bool
	// BoundElements are the children of <bound/>, for example a XEP-0198
	// <enabled/> or a XEP-0313 <metadata/>.
	BoundElements []Element
	// SuccessElements are the children of the SASL2 <success/> that are
	// not this package's (for example a XEP-0198 <resumed/>).
	SuccessElements []Element
	// Features is the stream features list that followed <success/> after
	// Bind 2, read by Client.Negotiator; nil otherwise.
	Features []Element

	// FAST reports that the login used a stored token.
	FAST bool
	// TokenStored reports that the server issued a token (asked for, or a
	// rotation) and it was stored.
	TokenStored bool
	// TokenInvalidated reports that the token used was logged out
	// (FAST.Invalidate) and deleted.
	TokenInvalidated bool
	// TokenRefused is the server's failure for a stored token, which was
	// deleted before the client logged in with its password on the same
	// stream; nil otherwise.
	TokenRefused *Failure
}

// Client is the SASL client state of one connection. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	password string // PRECIS-prepared

	mu     sync.Mutex
	result *Result
	// featuresPending: a Bind 2 login succeeded and the features list that
	// follows <success/> is still to be read by Negotiator.
	featuresPending bool
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
	cfg.Clock = config.ClockOr(cfg.Clock)
	if cfg.StepTimeout == 0 {
		cfg.StepTimeout = config.Duration(DefaultStepTimeout)
	}
	cfg.Mechanisms = slices.Clone(cfg.Mechanisms)
	cfg.ChannelBindingTypes = slices.Clone(cfg.ChannelBindingTypes)
	var password string
	if cfg.Password != "" {
		password, _ = precis.OpaqueString.String(cfg.Password) // checked by Validate
	}
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
	r := *c.result
	r.BoundElements = slices.Clone(r.BoundElements)
	r.SuccessElements = slices.Clone(r.SuccessElements)
	r.Features = slices.Clone(r.Features)
	return r, true
}

func (c *Client) setResult(r Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.result = &r
	c.featuresPending = r.Bound
}

// Features returns the stream features to list in the client's negotiator,
// in place of xmpp.SASL: the RFC 6120 <mechanisms/> feature, the
// informational XEP-0440 <sasl-channel-binding/> feature, whose parsed list
// the others read from the session, and (unless Config.DisableSASL2) the
// XEP-0388 <authentication/> feature. List them all: whichever mellium
// picks, the client authenticates with the profile Config prefers.
func (c *Client) Features() []xmpp.StreamFeature {
	fs := []xmpp.StreamFeature{c.saslFeature(), channelBindingFeature()}
	if !c.cfg.DisableSASL2 {
		fs = append(fs, c.sasl2Feature())
	}
	return fs
}

func (c *Client) saslFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASL, Local: "mechanisms"},
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
			return c.negotiate(ctx, session)
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
