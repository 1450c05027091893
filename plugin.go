// Package xmppauth composes this module's authentication features for a
// server built on mellium.im/xmpp: SASL with channel binding (package
// features, on cbind and scram), XEP-0070 HTTP request verification (package
// httpauth), XEP-0235 OAuth over XMPP (package oauth) and their service
// discovery (package disco).
//
// The host keeps its connection loop. It builds one Plugin from a Config and
// registers what the Plugin hands it: the stream features for each
// connection's negotiator (StreamFeatures), the mux options for each session
// (MuxOptions), the XEP-0235 middleware for its own handlers (OAuthIQ,
// OAuthMessage), the HTTP middleware (HTTPMiddleware) and the disco features
// (DiscoFeatures, included in MuxOptions). A disabled feature is neither
// advertised nor handled.
//
// Left out, by design: the connection loop, routing between sessions and
// stamping from (the host's; see cmd/xmppauthd for a small example), and
// server-to-server streams. SASL2 (XEP-0388) with Bind2 (XEP-0386), FAST
// (XEP-0484) and the XEP-0480 upgrade tasks is offered beside RFC 6120 SASL
// (see Conn.SASL2 and package features).
package xmppauth

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/mux"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/disco"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/guard"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/internal/floodlog"
	"github.com/xmppauth/xmppauth/oauth"
)

// Config turns the features of this module on and off. Fields tagged
// json:"-" are the host's run-time dependencies (stores, TLS, callbacks);
// the rest can come from a JSON file (LoadConfig).
//
// The zero value plus a credential store (SASL.Store) is safe and useful:
// SASL with every SCRAM mechanism and channel-binding type the connection can
// give, pseudomechanisms, XEP-0440 and XEP-0474, PLAIN and EXTERNAL after TLS
// only, nothing before TLS. XEP-0070 and XEP-0235 are off until enabled,
// because they need the host's delivery and token stores.
type Config struct {
	// Domains are the domains the host serves (at least one). A stream to
	// any other domain is refused with <host-unknown/>, and every identity
	// is in the domain its stream was opened to; alice@a.example and
	// alice@b.example are two accounts.
	Domains []string `json:"domains"`

	// TLSConfig is the server's TLS configuration. When set, StreamFeatures
	// starts with STARTTLS, set up so that tls-server-end-point knows the
	// certificate served on each connection.
	TLSConfig *tls.Config `json:"-"`
	// Logger is used by every feature that has no logger of its own. Nil:
	// slog.Default(). Nothing secret is ever logged.
	Logger *slog.Logger `json:"-"`

	// NegotiateTimeout bounds the negotiation of one connection (TLS, SASL,
	// binding) in Conn.Negotiate; zero is DefaultNegotiateTimeout.
	NegotiateTimeout config.Duration `json:"negotiate_timeout,omitempty"`

	// Stream bounds what a client may send on a stream (package guard):
	// before authentication, per stanza after it, and in stream headers.
	// Zero values take the guard's defaults (64 KiB before authentication,
	// 256 KiB per stanza, as Prosody).
	Stream guard.Config `json:"stream"`

	// SASL configures the SASL stream feature: mechanisms, channel-binding
	// types, pseudomechanisms, XEP-0440, XEP-0474, PLAIN, EXTERNAL, limits
	// and the host's callbacks. SASL.Store is required.
	SASL features.Config `json:"sasl"`

	// EnableHTTPAuth turns on XEP-0070 (verifying HTTP requests via XMPP).
	// HTTPAuth.Sender is then required.
	EnableHTTPAuth bool `json:"enable_http_auth,omitempty"`
	// HTTPAuth configures XEP-0070.
	HTTPAuth httpauth.Config `json:"http_auth"`

	// EnableOAuth turns on XEP-0235 (OAuth over XMPP). OAuth.Consumers and
	// OAuth.Tokens then say whom to trust.
	EnableOAuth bool `json:"enable_oauth,omitempty"`
	// OAuth configures XEP-0235.
	OAuth oauth.Config `json:"oauth"`
}

// Validate reports the first invalid setting, by its JSON path
// ("sasl.max_attempts: 50 is not in 0..5"). Run-time dependencies are
// checked by New.
func (c Config) Validate() error {
	return c.validateSettings()
}

// validateSettings checks what a configuration file can express.
func (c Config) validateSettings() error {
	for i, d := range c.Domains {
		if _, err := features.CanonicalDomain(d); err != nil {
			return fmt.Errorf("xmppauth: %w", config.Errorf(fmt.Sprintf("domains[%d]", i), "%q is not a domain: %v", d, err))
		}
	}
	if c.NegotiateTimeout < 0 {
		return fmt.Errorf("xmppauth: %w", config.Errorf("negotiate_timeout", "%v is negative", c.NegotiateTimeout))
	}
	stream := c.Stream
	stream.Serves = c.serves() // derived from domains, not a dependency
	if err := stream.Validate(); err != nil {
		return fmt.Errorf("xmppauth: %w", config.In("stream", err))
	}
	if err := c.SASL.Validate(); err != nil {
		return fmt.Errorf("xmppauth: %w", config.In("sasl", err))
	}
	// A disabled section is checked too: turning it on must not surprise.
	if err := c.OAuth.Validate(); err != nil {
		return fmt.Errorf("xmppauth: %w", config.In("oauth", err))
	}
	if err := c.HTTPAuth.Validate(); err != nil {
		return fmt.Errorf("xmppauth: %w", config.In("http_auth", err))
	}
	return nil
}

// serves reports whether a canonical domain is one of c.Domains.
func (c Config) serves() func(string) bool {
	served := make(map[string]bool, len(c.Domains))
	for _, d := range c.Domains {
		if canonical, err := features.CanonicalDomain(d); err == nil {
			served[canonical] = true
		}
	}
	return func(domain string) bool { return served[domain] }
}

// LoadConfig decodes a JSON configuration, refusing unknown fields, and
// checks the settings it holds. The host then fills in the run-time fields
// and calls New, which validates the whole.
func LoadConfig(data []byte) (Config, error) {
	var c Config
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("xmppauth: config: %w", err)
	}
	return c, c.validateSettings()
}

// Plugin is the composed module. It is safe for concurrent use.
type Plugin struct {
	cfg              Config
	sasl             *features.Server
	guard            guard.Config
	startTLS         *tls.Config // STARTTLS; nil without Config.TLSConfig
	directTLS        *tls.Config // XEP-0368 direct TLS, ALPN xmpp-client
	stepTimeout      time.Duration
	negotiateTimeout time.Duration
	tlsLog           *floodlog.Logger
	guardLog         *floodlog.Logger   // streams the guard closed
	httpAuth         *httpauth.Verifier // nil when disabled
	oauth            *oauth.Verifier    // nil when disabled
}

// New validates cfg and builds the Plugin.
func New(cfg Config) (*Plugin, error) {
	cfg.Logger = config.LoggerOr(cfg.Logger)
	if cfg.SASL.Logger == nil {
		cfg.SASL.Logger = cfg.Logger
	}
	if cfg.SASL.TLSConfig == nil {
		cfg.SASL.TLSConfig = cfg.TLSConfig
	}
	if cfg.HTTPAuth.Logger == nil {
		cfg.HTTPAuth.Logger = cfg.Logger
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Domains) == 0 {
		return nil, fmt.Errorf("xmppauth: %w", config.Errorf("domains", "at least one served domain is required"))
	}
	cfg.SASL.Domains = cfg.Domains
	p := &Plugin{cfg: cfg, guard: cfg.Stream, stepTimeout: cfg.SASL.StepTimeout.D(), negotiateTimeout: cfg.NegotiateTimeout.D()}
	if p.stepTimeout == 0 {
		p.stepTimeout = features.DefaultStepTimeout
	}
	if p.negotiateTimeout == 0 {
		p.negotiateTimeout = DefaultNegotiateTimeout
	}
	p.guard.Serves = cfg.serves()
	p.tlsLog = floodlog.New(cfg.Logger, "tls", nil)
	p.guardLog = floodlog.New(cfg.Logger, "guard", nil)
	var err error
	if p.sasl, err = features.New(cfg.SASL); err != nil {
		return nil, fmt.Errorf("xmppauth: sasl: %w", err)
	}
	if cfg.TLSConfig != nil {
		p.startTLS = cbind.ServerConfig(cfg.TLSConfig)
		p.directTLS = p.startTLS.Clone()
		p.directTLS.NextProtos = append([]string{ALPN}, p.directTLS.NextProtos...)
	}
	if cfg.EnableHTTPAuth {
		if p.httpAuth, err = httpauth.New(cfg.HTTPAuth); err != nil {
			return nil, fmt.Errorf("xmppauth: http_auth: %w", err)
		}
	}
	if cfg.EnableOAuth {
		if p.oauth, err = oauth.New(cfg.OAuth); err != nil {
			return nil, fmt.Errorf("xmppauth: oauth: %w", err)
		}
	}
	return p, nil
}

// Mechanisms returns the enabled SASL mechanisms, strongest first, and
// channel-binding types (see features.Server.Mechanisms): for a start-up
// log line.
func (p *Plugin) Mechanisms() ([]string, []cbind.Type) { return p.sasl.Mechanisms() }

// ALPN is the protocol name of XEP-0368 direct TLS for clients.
const ALPN = "xmpp-client"

// DiscoFeatures returns the service-discovery features of what is enabled
// (http://jabber.org/protocol/http-auth, urn:xmpp:oauth:0), for the host's
// disco handler: mux.Feature(p.DiscoFeatures()) or disco.Handle with it.
func (p *Plugin) DiscoFeatures() info.FeatureIter {
	return disco.Features{HTTPAuth: p.httpAuth != nil, OAuth: p.oauth != nil}
}

// MuxOptions returns the options to add to the mux that serves stanzas a
// user's session addresses to the server itself: the disco features of what
// is enabled and the answer to the RFC 3921 session IQ. None registers a
// wildcard payload, so the host's own handlers (chat messages, IQ results,
// disco) compose with them. XEP-0070 answers reach the verifier from the
// host's router instead (see HTTPAuth).
func (p *Plugin) MuxOptions() []mux.Option {
	return []mux.Option{mux.Feature(p.DiscoFeatures()), features.HandleSession()}
}

// HTTPAuth returns the XEP-0070 verifier, nil when it is disabled. A server
// host's router hands it every stanza users send (see httpauth.Verifier);
// a component hands it its session.
func (p *Plugin) HTTPAuth() *httpauth.Verifier {
	return p.httpAuth
}

// HandleStanza gives st, a stanza a user sent to the server, to the
// XEP-0070 verifier, and reports whether it was the answer to a
// confirmation request (then the host does nothing more with it). It is
// the one call a host's router makes for XEP-0070; false when XEP-0070 is
// disabled.
func (p *Plugin) HandleStanza(st *Stanza) (handled bool) {
	if p.httpAuth == nil {
		return false
	}
	_, handled = p.httpAuth.HandleStanza(st.Start(), st.Inner())
	return handled
}

// HTTPMiddleware guards next with XEP-0070: a request runs only once the
// XMPP user it names has confirmed it, and next reads that user with
// httpauth.FromContext. It fails closed: while XEP-0070 is disabled, the
// guarded handler answers 503 instead of running unguarded.
func (p *Plugin) HTTPMiddleware(next http.Handler) http.Handler {
	if p.httpAuth != nil {
		return p.httpAuth.Handler(next)
	}
	render := p.cfg.HTTPAuth.ErrorHandler
	if render == nil {
		render = httpauth.DefaultErrorHandler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		render(w, r, httpauth.Outcome{Reason: httpauth.Disabled, Status: http.StatusServiceUnavailable})
	})
}

// HTTPServerDefaults sets the recommended timeouts on the host's HTTP server
// where it has none (see httpauth.Verifier.ServerDefaults): idle keep-alive
// connections are closed, and reads and writes outlast a confirmation.
func (p *Plugin) HTTPServerDefaults(s *http.Server) {
	if p.httpAuth != nil {
		p.httpAuth.ServerDefaults(s)
	} else {
		httpauth.ServerDefaults(s)
	}
}

// OAuth returns the XEP-0235 verifier for session (PLAINTEXT signatures
// only count on encrypted streams), nil when XEP-0235 is disabled.
func (p *Plugin) OAuth(session *xmpp.Session) *oauth.Verifier {
	if p.oauth == nil {
		return nil
	}
	return p.oauth.ForStream(session != nil && session.State()&xmpp.Secure != 0)
}

// OAuthIQ wraps one of the host's IQ handlers for session with XEP-0235
// verification (see oauth.Verifier.IQ); the handler reads the grant with
// oauth.GrantFrom. While XEP-0235 is disabled it returns h unchanged, and
// GrantFrom then reports no grant, so a handler that needs one refuses.
func (p *Plugin) OAuthIQ(session *xmpp.Session, h mux.IQHandler) mux.IQHandler {
	if v := p.OAuth(session); v != nil {
		return v.IQ(h)
	}
	return h
}

// OAuthMessage is OAuthIQ for message handlers.
func (p *Plugin) OAuthMessage(session *xmpp.Session, h mux.MessageHandler) mux.MessageHandler {
	if v := p.OAuth(session); v != nil {
		return v.Message(h)
	}
	return h
}
