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
// server-to-server streams. Not implemented: SASL2 (XEP-0388), FAST and
// Bind2.
package xmppauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"mellium.im/xmpp"
	"mellium.im/xmpp/mux"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/disco"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
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
	if err := c.SASL.Validate(); err != nil {
		return fmt.Errorf("xmppauth: %w", config.In("sasl", err))
	}
	if c.EnableOAuth {
		if err := c.OAuth.Validate(); err != nil {
			return fmt.Errorf("xmppauth: oauth: %w", err)
		}
	}
	if c.EnableHTTPAuth {
		h := c.HTTPAuth
		if h.Sender == nil {
			h.Sender = nopSender{} // a placeholder: the host's, later
		}
		if err := h.Validate(); err != nil {
			return fmt.Errorf("xmppauth: http_auth: %w", err)
		}
	}
	return nil
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
	cfg      Config
	sasl     *features.Server
	startTLS *xmpp.StreamFeature
	httpAuth *httpauth.Verifier // nil when disabled
	oauth    *oauth.Verifier    // nil when disabled
}

// New validates cfg and builds the Plugin.
func New(cfg Config) (*Plugin, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
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
	p := &Plugin{cfg: cfg}
	var err error
	if p.sasl, err = features.New(cfg.SASL); err != nil {
		return nil, fmt.Errorf("xmppauth: sasl: %w", err)
	}
	if cfg.TLSConfig != nil {
		st := xmpp.StartTLS(cbind.ServerConfig(cfg.TLSConfig))
		p.startTLS = &st
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

// WrapConn wraps an accepted connection before it is given to
// xmpp.ReceiveSession, so that tls-server-end-point can name the certificate
// served on it (see cbind.NewConn).
func (p *Plugin) WrapConn(c net.Conn) net.Conn {
	return cbind.NewConn(c)
}

// NewConn returns the authentication state of one accepted connection: pass
// it to StreamFeatures in the negotiator, and read the authenticated
// identity from it once the session is negotiated.
func (p *Plugin) NewConn() *features.Login {
	return p.sasl.NewLogin()
}

// StreamFeatures returns the stream features for the negotiator of session
// (the host calls it from its xmpp.NewNegotiator callback): STARTTLS (when
// Config.TLSConfig is set), SASL, the XEP-0440 capability, the XEP-0035 trap
// and resource binding to the authenticated identity.
func (p *Plugin) StreamFeatures(conn *features.Login, session *xmpp.Session) []xmpp.StreamFeature {
	var fs []xmpp.StreamFeature
	if p.startTLS != nil {
		fs = append(fs, *p.startTLS)
	}
	return append(fs, conn.Features(session)...)
}

// DiscoFeatures returns the service-discovery features of what is enabled
// (MuxOptions already registers them).
func (p *Plugin) DiscoFeatures() disco.Features {
	return disco.Features{HTTPAuth: p.httpAuth != nil, OAuth: p.oauth != nil}
}

// MuxOptions returns the options to add to the mux that serves stanzas
// addressed to the server itself: the disco features of what is enabled and,
// with XEP-0070, the handlers that receive the users' answers to
// confirmation requests (IQ results and errors, and messages). The host's
// router must deliver stanzas addressed to other entities before they reach
// this mux, and must stamp from with the session's bound JID first: an
// answer counts only when it comes from the JID the request named. A host
// that registers its own wildcard IQ-result or message handlers calls
// HTTPAuth().HandleAnswer from them instead (mellium's mux refuses duplicate
// registrations).
func (p *Plugin) MuxOptions() []mux.Option {
	opts := []mux.Option{mux.Feature(p.DiscoFeatures())}
	if p.httpAuth != nil {
		opts = append(opts, p.httpAuth.Handle())
	}
	return opts
}

// HTTPAuth returns the XEP-0070 verifier, nil when it is disabled.
func (p *Plugin) HTTPAuth() *httpauth.Verifier {
	return p.httpAuth
}

// HTTPMiddleware guards next with XEP-0070: a request runs only once the
// XMPP user it names has confirmed it, and next reads that user with
// httpauth.FromContext. It fails closed: while XEP-0070 is disabled, the
// guarded handler answers 503 instead of running unguarded.
func (p *Plugin) HTTPMiddleware(next http.Handler) http.Handler {
	if p.httpAuth != nil {
		return p.httpAuth.Handler(next)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "XMPP confirmation of HTTP requests (XEP-0070) is disabled", http.StatusServiceUnavailable)
	})
}

// OAuth returns the XEP-0235 verifier for a session whose stream is (or is
// not) encrypted, nil when XEP-0235 is disabled.
func (p *Plugin) OAuth(encrypted bool) *oauth.Verifier {
	if p.oauth == nil {
		return nil
	}
	return p.oauth.ForStream(encrypted)
}

// OAuthIQ wraps one of the host's IQ handlers with XEP-0235 verification
// (see oauth.Verifier.IQ); the handler reads the grant with
// oauth.GrantFrom. While XEP-0235 is disabled it returns h unchanged, and
// GrantFrom then reports no grant, so a handler that needs one refuses.
func (p *Plugin) OAuthIQ(encrypted bool, h mux.IQHandler) mux.IQHandler {
	if v := p.OAuth(encrypted); v != nil {
		return v.IQ(h)
	}
	return h
}

// OAuthMessage is OAuthIQ for message handlers.
func (p *Plugin) OAuthMessage(encrypted bool, h mux.MessageHandler) mux.MessageHandler {
	if v := p.OAuth(encrypted); v != nil {
		return v.Message(h)
	}
	return h
}

// nopSender stands in for the host's Sender while a configuration file is
// checked.
type nopSender struct{}

func (nopSender) Send(context.Context, xml.TokenReader) error { return nil }
