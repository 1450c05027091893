// Package xmppauth composes this module's authentication features for a
// server built on mellium.im/xmpp: SASL with channel binding (package
// features, on cbind and scram), XEP-0070 HTTP request verification (package
// httpauth), XEP-0235 OAuth over XMPP (package oauth) and their service
// discovery (package disco).
//
// The host keeps its connection loop. It builds one Plugin from a Config and
// the Host dependencies, and registers what the Plugin hands it: the stream
// features for each connection's negotiator, the mux options for each
// session, the HTTP middleware, and the disco features. A disabled feature
// is neither advertised nor handled.
package xmppauth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/disco"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// Config turns the features of this module on and off. The zero value is
// safe and useful: SASL with every SCRAM mechanism and channel-binding type,
// pseudomechanisms, XEP-0440 and XEP-0474, PLAIN and EXTERNAL after TLS
// only, nothing before TLS; XEP-0070 and XEP-0235 off (they need the host's
// delivery and token stores).
type Config struct {
	// SASL configures the SASL stream feature (mechanisms, channel-binding
	// types, pseudomechanisms, XEP-0440, XEP-0474, PLAIN, EXTERNAL, limits).
	// Its callbacks and stores come from Host.
	SASL features.Config `json:"sasl"`
}

// Validate reports the first invalid field, by its JSON path.
func (c Config) Validate() error {
	sasl := c.SASL
	if sasl.Store == nil {
		// The store is a Host dependency; validate the rest.
		sasl.Store = scram.NewMemoryStore()
	}
	if err := sasl.Validate(); err != nil {
		return fmt.Errorf("xmppauth: sasl: %w", err)
	}
	return nil
}

// LoadConfig decodes a JSON configuration, refusing unknown fields, and
// validates it.
func LoadConfig(data []byte) (Config, error) {
	var c Config
	if err := strictUnmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("xmppauth: config: %w", err)
	}
	return c, c.Validate()
}

// Host holds what the host provides at run time: stores, TLS and callbacks.
// None of it is configuration a file could carry.
type Host struct {
	// Store holds the SCRAM credentials (also used to verify PLAIN).
	Store scram.Store
	// TLSConfig is the server's TLS configuration. With it the Plugin's
	// stream features start with STARTTLS, set up so that
	// tls-server-end-point knows the certificate served.
	TLSConfig *tls.Config
	// Secret keys the fake SCRAM salts handed out for unknown users, so that
	// they cannot be told from real ones. Give every node of a cluster the
	// same secret (at least 16 bytes). Nil: a random secret per process.
	Secret []byte
	// Logger receives one line per login and per failure, never secrets.
	// Nil: slog.Default().
	Logger *slog.Logger
	// SASL callbacks; see features.Config for each.
	Authorize      func(ctx context.Context, identity, authzid jid.JID) error
	AccountStatus  func(ctx context.Context, identity jid.JID) error
	MapCertificate func(ctx context.Context, cert *x509.Certificate, domain jid.JID) ([]jid.JID, error)
	BindResource   func(ctx context.Context, identity jid.JID, requested string) (jid.JID, error)
}

// Plugin is the composed module. It is safe for concurrent use.
type Plugin struct {
	cfg      Config
	host     Host
	sasl     *features.Server
	startTLS *xmpp.StreamFeature
}

// New validates cfg and builds the Plugin.
func New(cfg Config, host Host) (*Plugin, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Plugin{cfg: cfg, host: host}
	sc := cfg.SASL
	sc.Store = host.Store
	sc.TLSConfig = host.TLSConfig
	sc.Secret = host.Secret
	sc.Logger = host.Logger
	sc.Authorize = host.Authorize
	sc.AccountStatus = host.AccountStatus
	sc.MapCertificate = host.MapCertificate
	sc.BindResource = host.BindResource
	var err error
	if p.sasl, err = features.New(sc); err != nil {
		return nil, fmt.Errorf("xmppauth: sasl: %w", err)
	}
	if host.TLSConfig != nil {
		st := xmpp.StartTLS(cbind.ServerConfig(host.TLSConfig))
		p.startTLS = &st
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
func (p *Plugin) NewConn() *features.Conn {
	return p.sasl.NewConn()
}

// StreamFeatures returns the stream features for the negotiator of session
// (the host calls it from its xmpp.NewNegotiator callback): STARTTLS (when
// Host.TLSConfig is set), SASL, the XEP-0440 capability, the XEP-0035 trap
// and resource binding to the authenticated identity.
func (p *Plugin) StreamFeatures(conn *features.Conn, session *xmpp.Session) []xmpp.StreamFeature {
	var fs []xmpp.StreamFeature
	if p.startTLS != nil {
		fs = append(fs, *p.startTLS)
	}
	return append(fs, conn.Features(session)...)
}

// DiscoFeatures returns the service-discovery features of what is enabled,
// for mux.Feature (MuxOptions already includes it).
func (p *Plugin) DiscoFeatures() disco.Features {
	return disco.Features{}
}

// MuxOptions returns the options to add to each session's mux: the disco
// features of what is enabled.
func (p *Plugin) MuxOptions() []mux.Option {
	return []mux.Option{mux.Feature(p.DiscoFeatures())}
}

func strictUnmarshal(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
