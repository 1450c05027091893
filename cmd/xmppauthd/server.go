package main

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/sqlstore"
)

// server is one running demo server.
type server struct {
	opts    options
	domains []string        // canonical
	store   *sqlstore.Store // accounts; every user of a domain is every other's contact
	log     *slog.Logger
	plugin  *xmppauth.Plugin
	router  *Router
	cert    tls.Certificate
	metrics *prometheus.Registry // served on /metrics
	relay   *redisstore.Relay    // to the other nodes, with -redis
	closers []func() error       // at shutdown, after the connections

	lns   [3]net.Listener // STARTTLS, direct TLS, HTTP (nil when disabled)
	addrs Addrs

	ctx  context.Context // ends at shutdown
	stop context.CancelFunc
	wg   sync.WaitGroup // every goroutine run started
}

// newServer opens the listeners and builds the plugin (whose XEP-0070
// prompts show the HTTP listener's real address).
func newServer(opts options) (s *server, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if len(opts.Domains) == 0 {
		opts.Domains = listFlag{"localhost"}
	}
	s = &server{opts: opts, log: log}
	opened := s
	defer func() {
		if err != nil {
			opened.closeListeners()
			if opened.store != nil {
				opened.store.Close()
			}
		}
	}()
	for i, addr := range []string{opts.Addr, opts.TLSAddr, opts.HTTPAddr} {
		if addr == "" {
			continue
		}
		if s.lns[i], err = net.Listen("tcp", addr); err != nil {
			return nil, err
		}
	}
	s.addrs = Addrs{XMPP: addrOf(s.lns[0]), TLS: addrOf(s.lns[1]), HTTP: addrOf(s.lns[2])}
	for _, d := range opts.Domains {
		canonical, err := features.CanonicalDomain(d)
		if err != nil {
			return nil, fmt.Errorf("-domain %q: %w", d, err)
		}
		s.domains = append(s.domains, canonical)
	}
	// Without a file the demo turns everything on; with one, the file
	// decides (and a disabled XEP-0070 makes the pages answer 503).
	cfg := xmppauth.Config{EnableHTTPAuth: true, EnableOAuth: true}
	if opts.ConfigFile != "" {
		data, err := os.ReadFile(opts.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("-config: %w", err)
		}
		if cfg, err = xmppauth.LoadConfig(data); err != nil {
			return nil, fmt.Errorf("-config %s: %w", opts.ConfigFile, err)
		}
	}
	cert, certFile, err := loadCertificate(opts, s.domains, time.Now())
	if err != nil {
		return nil, err
	}
	s.cert, s.addrs.Cert = cert, cert.Leaf
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if opts.ClientCA != "" {
		if tlsConfig.ClientCAs, err = clientCAs(opts.ClientCA); err != nil {
			return nil, fmt.Errorf("-client-ca: %w", err)
		}
		tlsConfig.ClientAuth = tls.VerifyClientCertIfGiven
	}
	iterations := cfg.SASL.Iterations
	if iterations == 0 {
		iterations = sqlstore.DefaultIterations
	}
	store, generated, err := openStore(context.Background(), opts, s.domains, iterations)
	if err != nil {
		return nil, err
	}
	s.store = store
	s.router = NewRouter(s.domains, opts.MaxSessions)

	// Run-time dependencies go into the Config beside the file's settings.
	cfg.Domains = s.domains
	cfg.TLSConfig = tlsConfig
	cfg.Logger = log
	cfg.SASL.Iterations = iterations
	cfg.SASL.AccountStatus, cfg.SASL.MapCertificate = store.AccountStatus, store.MapCertificate
	// Confirmation requests reach users by the router, and by the other
	// nodes' routers for a user whose session is elsewhere.
	cfg.HTTPAuth.Sender = xmppauth.RouterSender(func(ctx context.Context, st *xmppauth.Stanza) error {
		err := s.router.Route(ctx, st)
		if errors.Is(err, ErrUnavailable) && s.relay != nil {
			return s.relay.Send(ctx, st.Reader())
		}
		return err
	})
	cfg.HTTPAuth.ErrorHandler = httpauth.HTMLErrorHandler
	if cfg.HTTPAuth.BaseURL == "" && s.addrs.HTTP != "" {
		cfg.HTTPAuth.BaseURL = "http://" + s.addrs.HTTP
	}
	if opts.NegotiateTimeout != 0 {
		cfg.NegotiateTimeout = config.Duration(opts.NegotiateTimeout)
	}
	oauthCreds := demoOAuth(&cfg.OAuth, opts.Secret)
	s.metrics = prometheus.NewRegistry()
	m, err := metrics.New(s.metrics)
	if err != nil {
		return nil, err
	}
	if opts.Redis != "" {
		if err := s.joinCluster(&cfg, m); err != nil {
			return nil, err
		}
	}
	cfg.SASL.Observe, cfg.HTTPAuth.Observe, cfg.OAuth.Observe = m.Login, m.HTTPAuth, m.OAuth
	cfg.SASL.Store = m.Scram("credentials", store) // still a features.CredentialUpdater
	if s.plugin, err = xmppauth.New(cfg); err != nil {
		return nil, err
	}
	if v := s.plugin.HTTPAuth(); v != nil {
		m.PendingHTTPAuth(v.Pending)
	}

	log.Info("xmppauthd configured", "domains", strings.Join(s.domains, ","), "config", opts.ConfigFile,
		"xep0070", cfg.EnableHTTPAuth, "xep0235", cfg.EnableOAuth, "external", opts.ClientCA != "")
	log.Info("certificate", "file", certFile, "sha256", fingerprint(cert.Leaf, crypto.SHA256), "sha1", fingerprint(cert.Leaf, crypto.SHA1))
	if generated != nil { // nowhere else to read its password
		log.Info("user created", "name", generated.name, "domains", strings.Join(s.domains, ","), "password", generated.password)
	}
	accounts, _ := store.List(context.Background(), "")
	for _, a := range accounts {
		log.Info("user", "jid", a.JID, "disabled", a.Disabled)
	}
	if cfg.EnableOAuth {
		log.Info("XEP-0235 demo credentials (sign with: go run ./cmd/xmppauth-sign)", "consumer_key", oauthCreds[0],
			"consumer_secret", oauthCreds[1], "token", oauthCreds[2], "token_secret", oauthCreds[3])
	}
	return s, nil
}

// joinCluster shares the ephemeral state with the other nodes in Redis
// (XEP-0070 transactions, XEP-0235 nonces, the limiter's counters), relays
// what this node cannot deliver, and derives from the cluster secret the
// keys every node must share.
func (s *server) joinCluster(cfg *xmppauth.Config, m *metrics.Metrics) error {
	if len(s.opts.Secret) < 16 {
		return errors.New("-redis: XMPPAUTHD_SECRET must hold the cluster's secret, at least 16 bytes, the same on every node")
	}
	rdb := redis.NewClient(redisstore.ClientOptions(s.opts.Redis))
	stores, err := redisstore.New(rdb, redisstore.Options{Key: derive(s.opts.Secret, "redis"), Logger: s.log})
	if err != nil {
		rdb.Close()
		return fmt.Errorf("-redis: %w", err)
	}
	cfg.HTTPAuth.Store, cfg.OAuth.Nonces = stores.HTTPAuth, m.Nonces("redis", stores.Nonces)
	cfg.SASL.Throttle.Store = m.Throttle("redis", stores.Counters)
	cfg.SASL.Secret, cfg.HTTPAuth.NonceKey = derive(s.opts.Secret, "sasl"), derive(s.opts.Secret, "digest")
	s.relay = redisstore.NewRelay(rdb, "", xmppauth.RouterSender(s.router.Route).Send, s.log)
	s.closers = append(s.closers, s.relay.Close, stores.Close, rdb.Close)
	return nil
}

// derive is the key for purpose made from the cluster secret.
func derive(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// demoOAuth fills in a consumer and an access token for the XEP-0235 demo,
// with secrets derived from the cluster secret (random without one), and
// returns key, secret, token and token secret.
func demoOAuth(cfg *oauth.Config, clusterSecret []byte) [4]string {
	key, secret, token, tokenSecret := "xmppauthd-demo", rand.Text(), "demo-token", rand.Text()
	if len(clusterSecret) > 0 {
		secret = base64.RawURLEncoding.EncodeToString(derive(clusterSecret, "oauth consumer"))
		tokenSecret = base64.RawURLEncoding.EncodeToString(derive(clusterSecret, "oauth token"))
	}
	cfg.Consumers = oauth.MemoryConsumers{key: secret}
	tokens := oauth.NewMemoryTokens()
	tokens.Put(token, oauth.TokenInfo{Secret: tokenSecret, ConsumerKey: key})
	cfg.Tokens = tokens
	return [4]string{key, secret, token, tokenSecret}
}

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

func (s *server) closeListeners() {
	for _, ln := range s.lns {
		if ln != nil {
			ln.Close()
		}
	}
}

// run serves until ctx is done and shuts down.
func (s *server) run(ctx context.Context) error {
	s.ctx, s.stop = context.WithCancel(ctx)
	defer s.stop()
	defer s.closeListeners()
	defer func() { // after every connection has ended
		for _, c := range s.closers {
			c()
		}
		s.store.Close()
	}()
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
	s.closeListeners()
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
	conn := s.plugin.Accept(raw)
	if direct {
		var err error
		if conn, err = s.plugin.AcceptTLS(raw); err != nil {
			raw.Close()
			return
		}
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
	// Shutdown closes a connection still negotiating, and ends a session
	// with <system-shutdown/>.
	stop := context.AfterFunc(s.ctx, func() { raw.Close() })
	session, err := conn.Negotiate(s.ctx)
	if !stop() || err != nil {
		if cl != nil {
			s.router.Unregister(cl.route)
		}
		s.log.Debug("negotiation failed", "remote", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	stop = context.AfterFunc(s.ctx, func() { cl.route.kick(stream.SystemShutdown) })
	defer stop()
	id, _ := conn.Identity()
	s.log.Info("session started", "jid", cl.jid, "mechanism", id.Mechanism,
		"channel_binding", string(id.ChannelBinding), "remote", raw.RemoteAddr().String())
	err = cl.serve()
	if s.router.Unregister(cl.route) {
		cl.broadcastUnavailable()
	}
	if v := s.plugin.HTTPAuth(); v != nil {
		v.SessionEnded(cl.jid)
	}
	_ = conn.Close(session, err)
	s.log.Info("session ended", "jid", cl.jid, "err", err)
}

// client serves one negotiated session.
type client struct {
	srv     *server
	conn    *xmppauth.Conn
	session *xmpp.Session
	jid     jid.JID // the bound full JID: the only from this client gets
	route   *route
	// serverMux answers stanzas to the server; accountMux answers IQs to
	// the client's own bare JID.
	serverMux, accountMux *mux.ServeMux
}

// nsRoster is RFC 6121's roster namespace; nsWhoami the demo's XEP-0235
// protected query.
const (
	nsRoster = "jabber:iq:roster"
	nsWhoami = "urn:xmppauthd:whoami"
)

func newClient(s *server, c *xmppauth.Conn, session *xmpp.Session, full jid.JID) *client {
	cl := &client{srv: s, conn: c, session: session, jid: full}
	cl.route = &route{jid: full, out: cl.sender(), close: func() { c.NetConn().Close() }, kick: func(e stream.Error) {
		s.wg.Add(1) // while this session's own goroutine still counts
		go func() {
			defer s.wg.Done()
			_ = c.Close(session, e)
		}()
	}}
	roster := mux.IQFunc(stanza.GetIQ, xml.Name{Space: nsRoster, Local: "query"}, cl.handleRoster)
	cl.serverMux = mux.New(stanza.NSClient, append(s.plugin.MuxOptions(),
		disco.Handle(), ping.Handle(), roster, mux.Ident(serverIdentity{}),
		mux.IQ(stanza.GetIQ, xml.Name{Space: nsWhoami, Local: "query"}, s.plugin.OAuthIQ(session, mux.IQHandlerFunc(handleWhoami))),
	)...)
	cl.accountMux = mux.New(stanza.NSClient, roster)
	return cl
}

// serverIdentity is the server's XEP-0030 identity (category server, type
// im).
type serverIdentity struct{}

func (serverIdentity) ForIdentities(node string, f func(info.Identity) error) error {
	if node != "" {
		return nil
	}
	return f(info.Identity{Category: "server", Type: "im", Name: "xmppauthd"})
}

func (cl *client) sender() xmppauth.SessionSender {
	return xmppauth.SessionSender{Session: cl.session, Timeout: cl.srv.opts.WriteTimeout}
}

// handleRoster lists every other user of the domain, subscribed both ways
// (RFC 6121 §2.1.3): the demo's users are each other's contacts.
func (cl *client) handleRoster(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	accounts, err := cl.srv.store.List(context.Background(), cl.jid.Domainpart())
	if err != nil {
		_, err = xmlstream.Copy(t, iq.Error(stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}))
		return err
	}
	var items []xml.TokenReader
	for _, a := range accounts {
		if !a.JID.Equal(cl.jid.Bare()) && !a.Disabled {
			items = append(items, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "item"}, Attr: []xml.Attr{
				{Name: xml.Name{Local: "jid"}, Value: a.JID.String()}, {Name: xml.Name{Local: "subscription"}, Value: "both"},
			}}))
		}
	}
	query := xmlstream.Wrap(xmlstream.MultiReader(items...), xml.StartElement{Name: xml.Name{Space: nsRoster, Local: "query"}})
	_, err = xmlstream.Copy(t, iq.Result(query))
	return err
}

// handleWhoami answers the XEP-0235 demo query with the grant the signed
// request carried (the plugin's middleware verified it), or
// <not-authorized/> without one.
func handleWhoami(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	g, ok := oauth.GrantFrom(t)
	if !ok {
		_, err := xmlstream.Copy(t, iq.Error(stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized}))
		return err
	}
	answer := xmlstream.Wrap(xmlstream.Token(xml.CharData("consumer "+g.ConsumerKey+", token "+g.Token)),
		xml.StartElement{Name: xml.Name{Space: nsWhoami, Local: "query"}})
	_, err := xmlstream.Copy(t, iq.Result(answer))
	return err
}

// serve reads stanzas until the stream ends. It does not use Session.Serve,
// which answers every IQ its handler left unanswered on the same stream
// (wrong for an IQ routed to another session) and closes the stream itself.
func (cl *client) serve() error {
	for {
		st, err := cl.conn.ReadStanza(cl.session)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, xmppauth.ErrNotStanza):
			return stream.UnsupportedStanzaType
		case errors.Is(err, xmppauth.ErrBadTo):
			cl.bounce(st, stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed})
		case err != nil:
			return err
		default:
			if err := cl.handle(st); err != nil {
				return err
			}
		}
	}
}

// handle dispatches a stanza (its from is the client's bound JID).
func (cl *client) handle(st *xmppauth.Stanza) error {
	toServer := st.To.Equal(jid.JID{}) || st.To.Equal(cl.jid.Domain())
	switch {
	case st.Kind == "presence" && st.To.Equal(jid.JID{}):
		cl.presence(st)
		return nil
	case toServer:
		// XEP-0070 answers come to the server; the verifier takes only
		// those it asked for.
		if v := cl.srv.plugin.HTTPAuth(); v != nil {
			if _, handled := v.HandleStanza(st.Start(), st.Inner()); handled {
				return nil
			}
		}
		if st.Kind != "message" || !st.To.Equal(jid.JID{}) {
			return xmppauth.Serve(cl.session, cl.serverMux, st, cl.srv.opts.WriteTimeout)
		}
		st.SetTo(cl.jid.Bare()) // RFC 6120 §10.3.1
	case st.Kind == "iq" && st.To.Equal(cl.jid.Bare()):
		return xmppauth.Serve(cl.session, cl.accountMux, st, cl.srv.opts.WriteTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.srv.opts.WriteTimeout)
	defer cancel()
	err := cl.srv.router.Route(ctx, st)
	switch {
	case errors.Is(err, ErrNotReading):
		cl.bounce(st, stanza.Error{Type: stanza.Wait, Condition: stanza.RecipientUnavailable})
	case errors.Is(err, ErrRemoteDomain):
		cl.bounce(st, stanza.Error{Type: stanza.Cancel, Condition: stanza.RemoteServerNotFound})
	case errors.Is(err, ErrUnavailable):
		cl.bounce(st, stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	case err != nil:
		cl.srv.log.Debug("delivery failed", "from", cl.jid, "to", st.To, "err", err)
	}
	return nil
}

// bounce answers a stanza that could not be delivered (if it is one that
// gets an answer).
func (cl *client) bounce(st *xmppauth.Stanza, se stanza.Error) {
	if r := st.Bounce(se); r != nil {
		_ = cl.sender().Send(context.Background(), r)
	}
}

// presence handles presence without a to (RFC 6121 §4.2, §4.4): it records
// availability and broadcasts it to the domain's other sessions; an initial
// presence also gets theirs.
func (cl *client) presence(st *xmppauth.Stanza) {
	var p *xmppauth.Stanza
	switch st.Type {
	case "":
		p = st.Clone()
	case "unavailable":
	default:
		return // probes and subscriptions: the demo's contacts are fixed
	}
	others, theirs := cl.srv.router.SetPresence(cl.route, p)
	ctx, cancel := context.WithTimeout(context.Background(), cl.srv.opts.WriteTimeout)
	defer cancel()
	for _, o := range others {
		q := st.Clone()
		q.SetTo(o.jid)
		_ = cl.srv.router.deliver(ctx, o, q)
	}
	for _, their := range theirs {
		q := their.Clone()
		q.SetTo(cl.jid)
		_ = cl.sender().Send(ctx, q.Reader())
	}
}

// broadcastUnavailable tells the domain's other sessions this one is gone.
func (cl *client) broadcastUnavailable() {
	st, _ := xmppauth.NewStanza(xml.StartElement{Name: xml.Name{Local: "presence"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "unavailable"}}}, xmlstream.MultiReader())
	st.SetFrom(cl.jid)
	cl.presence(st)
}
