package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/sqlstore"
	"github.com/xmppauth/xmppauth/xmppcert"
)

// server is one running demo server.
type server struct {
	opts    options
	domains []string        // canonical
	store   *sqlstore.Store // accounts; every user of a domain is every other's contact
	log     *slog.Logger
	plugin  *xmppauth.Plugin
	router  *Router
	metrics *prometheus.Registry // served on /metrics
	closers []func() error       // at shutdown, after the connections
	lns     [3]net.Listener      // STARTTLS, direct TLS, HTTP (nil when disabled)
	addrs   Addrs

	ctx  context.Context // ends at shutdown
	stop context.CancelFunc
	wg   sync.WaitGroup // every goroutine run started
}

// newServer opens the listeners and builds the plugin (whose XEP-0070
// prompts show the HTTP listener's real address).
func newServer(opts options) (_ *server, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if len(opts.Domains) == 0 {
		opts.Domains = listFlag{"localhost"}
	}
	s := &server{opts: opts, log: opts.Logger}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	for _, d := range opts.Domains {
		canonical, err := features.CanonicalDomain(d)
		if err != nil {
			return nil, fmt.Errorf("-domain %q: %w", d, err)
		}
		s.domains = append(s.domains, canonical)
	}
	for i, addr := range []string{opts.Addr, opts.TLSAddr, opts.HTTPAddr} {
		if addr != "" {
			if s.lns[i], err = net.Listen("tcp", addr); err != nil {
				return nil, err
			}
		}
	}
	s.addrs = Addrs{XMPP: addrOf(s.lns[0]), TLS: addrOf(s.lns[1]), HTTP: addrOf(s.lns[2])}
	// Without a file the demo turns everything on; with one, the file
	// decides (and a disabled XEP-0070 makes the pages answer 503).
	cfg := xmppauth.Config{EnableHTTPAuth: true, EnableOAuth: true}
	if opts.ConfigFile != "" {
		data, err := os.ReadFile(opts.ConfigFile)
		if err == nil {
			cfg, err = xmppauth.LoadConfig(data)
		}
		if err != nil {
			return nil, fmt.Errorf("-config %s: %w", opts.ConfigFile, err)
		}
	}
	cert, certFile, err := loadCertificate(opts, s.domains, time.Now())
	if err != nil {
		return nil, err
	}
	s.addrs.Cert = cert.Leaf
	cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if opts.ClientCA != "" {
		if cfg.TLSConfig.ClientCAs, err = clientCAs(opts.ClientCA); err != nil {
			return nil, fmt.Errorf("-client-ca: %w", err)
		}
		cfg.TLSConfig.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if cfg.SASL.Iterations == 0 {
		cfg.SASL.Iterations = sqlstore.DefaultIterations
	}
	generated, err := s.openStore(cfg.SASL.Iterations)
	if err != nil {
		return nil, err
	}
	s.router = NewRouter(s.domains, opts.MaxSessions)

	// Run-time dependencies go into the Config beside the file's settings.
	cfg.Domains, cfg.Logger = s.domains, s.log
	cfg.SASL.Store, cfg.SASL.AccountStatus, cfg.SASL.MapCertificate = s.store, s.store.AccountStatus, s.store.MapCertificate
	cfg.HTTPAuth.Sender = xmppauth.RouterSender(s.router.Route) // confirmation requests reach users by the router
	cfg.HTTPAuth.ErrorHandler = httpauth.HTMLErrorHandler
	if cfg.HTTPAuth.BaseURL == "" && s.addrs.HTTP != "" {
		cfg.HTTPAuth.BaseURL = "http://" + s.addrs.HTTP
	}
	if opts.NegotiateTimeout != 0 {
		cfg.NegotiateTimeout = config.Duration(opts.NegotiateTimeout)
	}
	var cluster *redisstore.Cluster
	if opts.Redis != "" { // and the other nodes' routers for a user whose session is elsewhere
		if cluster, err = redisstore.Join(&cfg, redis.NewClient(redisstore.ClientOptions(opts.Redis)), opts.Secret, s.log); err != nil {
			return nil, fmt.Errorf("-redis (XMPPAUTHD_SECRET): %w", err)
		}
		s.closers = append(s.closers, cluster.Close)
	}
	oauthCreds := demoOAuth(&cfg.OAuth, cluster)
	s.metrics = prometheus.NewRegistry()
	m, err := metrics.New(s.metrics)
	if err != nil {
		return nil, err
	}
	m.Instrument(&cfg)
	if s.plugin, err = xmppauth.New(cfg); err != nil {
		return nil, err
	}
	m.Watch(s.plugin)

	mechanisms, bindings := s.plugin.Mechanisms()
	s.log.Info("xmppauthd configured", "domains", strings.Join(s.domains, ","), "config", opts.ConfigFile,
		"mechanisms", strings.Join(mechanisms, ","), "channel_bindings", fmt.Sprint(bindings),
		"xep0070", cfg.EnableHTTPAuth, "xep0235", cfg.EnableOAuth, "external", opts.ClientCA != "", "cluster", opts.Redis)
	s.log.Info("certificate", "file", certFile, "sha256", xmppcert.Fingerprint(cert.Leaf.Raw, crypto.SHA256), "sha1", xmppcert.Fingerprint(cert.Leaf.Raw, crypto.SHA1))
	if generated != nil { // nowhere else to read its password
		s.log.Info("user created", "name", generated.name, "domains", strings.Join(s.domains, ","), "password", generated.password)
	}
	accounts, _ := s.store.List(context.Background(), "")
	for _, a := range accounts {
		s.log.Info("user", "jid", a.JID, "disabled", a.Disabled)
	}
	if cfg.EnableOAuth {
		s.log.Info("XEP-0235 demo credentials (sign with: go run ./cmd/xmppauth-sign)", "consumer_key", oauthCreds[0],
			"consumer_secret", oauthCreds[1], "token", oauthCreds[2], "token_secret", oauthCreds[3])
	}
	return s, nil
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// close closes the listeners, the cluster's clients and the store.
func (s *server) close() {
	for _, ln := range s.lns {
		if ln != nil {
			ln.Close()
		}
	}
	for _, c := range s.closers {
		c()
	}
	if s.store != nil {
		s.store.Close()
	}
}

// run serves until ctx is done and shuts down.
func (s *server) run(ctx context.Context) error {
	s.ctx, s.stop = context.WithCancel(ctx)
	defer s.stop()
	defer s.close() // after every connection has ended (wg.Wait below)
	s.goAccept(s.lns[0], false)
	if s.lns[1] != nil {
		s.goAccept(s.lns[1], true)
	}
	errc := make(chan error, 1)
	httpSrv := s.httpServer()
	if s.lns[2] != nil {
		go func() {
			if err := httpSrv.Serve(s.lns[2]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	s.log.Info("xmppauthd listening", "starttls", s.addrs.XMPP, "direct_tls", s.addrs.TLS, "http", s.addrs.HTTP)
	if s.opts.Listening != nil {
		s.opts.Listening(s.addrs)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("xmppauthd shutting down")
	s.stop() // ends every connection (see serveConn)
	for _, ln := range s.lns[:2] {
		if ln != nil {
			ln.Close()
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	if err := httpSrv.Shutdown(sctx); err != nil {
		httpSrv.Close()
	}
	cancel()
	s.wg.Wait()
	return runErr
}

// goAccept runs an accept loop until the listener is closed.
func (s *server) goAccept(ln net.Listener, direct bool) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			raw, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // out of file descriptors, say: wait, do not spin
				s.log.Warn("accept failed", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(raw, direct)
			}()
		}
	}()
}

// serveConn negotiates one connection and serves its session.
func (s *server) serveConn(raw net.Conn, direct bool) {
	var conn *xmppauth.Conn
	if !direct {
		conn = s.plugin.Accept(raw)
	} else if c, err := s.plugin.AcceptTLS(raw); err == nil {
		conn = c
	} else {
		raw.Close()
		return
	}
	// The session joins the router when it binds, before the client
	// learns its JID: nothing sent to it from then on is lost.
	var cl *client
	conn.OnBind(func(_ context.Context, session *xmpp.Session, full jid.JID) error {
		cl = newClient(s, conn, session, full)
		replaced, err := s.router.Register(cl.route)
		if errors.Is(err, ErrTooManySessions) {
			s.log.Info("session refused", "jid", full, "err", err)
			return stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint, Text: map[string]string{"en": err.Error()}}
		}
		if replaced != nil {
			s.log.Info("resource conflict: replacing the older session", "jid", full)
			replaced.kick(stream.Conflict) // RFC 6120 §7.7.2.2
		}
		return err
	})
	// Shutdown closes a connection still negotiating (Negotiate watches
	// s.ctx), and ends a session with <system-shutdown/>.
	session, err := conn.Negotiate(s.ctx)
	if err != nil {
		if cl != nil {
			s.router.Unregister(cl.route)
		}
		s.log.Debug("negotiation failed", "remote", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	defer context.AfterFunc(s.ctx, func() { cl.route.kick(stream.SystemShutdown) })()
	id, _ := conn.Identity()
	s.log.Info("session started", "jid", cl.jid, "mechanism", id.Mechanism,
		"channel_binding", string(id.ChannelBinding), "remote", raw.RemoteAddr().String())
	err = cl.serve()
	if s.router.Unregister(cl.route) {
		cl.broadcastUnavailable()
	}
	_ = conn.Close(session, err) // and XEP-0070 requests to it fail at once
	s.log.Info("session ended", "jid", cl.jid, "err", err)
}

// httpServer serves the demo's pages with the library's recommended
// timeouts (idle keep-alive connections are closed; writes outlast a
// confirmation). Every page but the static assets is guarded by XEP-0070:
// the browser names a JID (Basic or Digest: user = the JID, password = a
// transaction id) and the page is served once that user confirms the
// request from an XMPP client. The refusals are httpauth.HTMLErrorHandler's
// pages; with XEP-0070 off the plugin answers 503 (it fails closed).
func (s *server) httpServer() *http.Server {
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		who, _ := httpauth.FromContext(r.Context())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>Confirmed</title><h1>Confirmed</h1>"+
			"<p>Hello <b>%s</b>: you confirmed this request from your XMPP client (XEP-0070).</p>", html.EscapeString(who.String()))
	})
	root := http.NewServeMux()
	// Static assets are not guarded: a browser fetches them with every page,
	// and each would ask the user again.
	root.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	root.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	root.Handle("/", s.plugin.HTTPMiddleware(pages))
	srv := &http.Server{Handler: root}
	s.plugin.HTTPServerDefaults(srv)
	return srv
}
