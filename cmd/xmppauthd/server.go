package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/secure/precis"
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
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/scram"
)

// Limits on what a client may send. The byte counts are measured on the
// connection (TLS records included) and are approximate: the decoder reads
// ahead by up to a few kilobytes.
const (
	// negotiationLimit caps the bytes read before the session is ready
	// (TLS handshake, SASL, binding).
	negotiationLimit = 256 << 10
	// stanzaLimit caps the bytes read for one stanza once the session is
	// ready.
	stanzaLimit = 256 << 10
)

// nsStartTLS names the STARTTLS stream feature (RFC 6120 §5).
var nsStartTLS = xml.Name{Space: "urn:ietf:params:xml:ns:xmpp-tls", Local: "starttls"}

// tlsFilterConn is a filtered TLS connection that still reports its TLS
// state (mellium and the SASL features read it through ConnectionState).
type tlsFilterConn struct {
	*wsFilterConn
	tls *tls.Conn
}

func (c tlsFilterConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// nsRoster is RFC 6121's roster namespace.
const nsRoster = "jabber:iq:roster"

var errReadLimit = errors.New("xmppauthd: read limit exceeded")

// server is one running demo server.
type server struct {
	opts   options
	domain jid.JID
	log    *slog.Logger
	plugin *xmppauth.Plugin
	router *Router
	cert   tls.Certificate

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[*clientConn]struct{}
	closed bool
}

// clientConn is one accepted connection, tracked for shutdown.
type clientConn struct {
	raw      net.Conn
	limit    *limitReader
	mu       sync.Mutex
	session  *xmpp.Session // set once negotiated
	route    *route        // reserved at resource binding
	replaced sender        // the session route replaced, if any
}

func newServer(opts options, stdout io.Writer) (*server, error) {
	if opts.Domain == "" {
		return nil, errors.New("-domain: empty")
	}
	domain, err := jid.New("", opts.Domain, "")
	if err != nil {
		return nil, fmt.Errorf("-domain %q: not a valid domain: %w", opts.Domain, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	// Without a file the demo enables XEP-0070, so that its web pages work;
	// with one, the file decides (and with XEP-0070 off the pages answer
	// 503: HTTPMiddleware fails closed).
	cfg := xmppauth.Config{EnableHTTPAuth: true}
	if opts.ConfigFile != "" {
		data, err := os.ReadFile(opts.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("-config: %w", err)
		}
		if cfg, err = xmppauth.LoadConfig(data); err != nil {
			return nil, fmt.Errorf("-config %s: %w", opts.ConfigFile, err)
		}
	}
	cert, generated, err := loadCertificate(opts.CertFile, opts.KeyFile, domain.String(), time.Now())
	if err != nil {
		return nil, err
	}
	if generated {
		log.Info("generated a self-signed certificate", "domain", domain, "sha256", fingerprint(cert))
	}
	store, err := newStore(opts.Users, domain, stdout)
	if err != nil {
		return nil, err
	}
	s := &server{
		opts:   opts,
		domain: domain,
		log:    log,
		router: NewRouter(domain, stanzaLimit),
		cert:   cert,
		conns:  make(map[*clientConn]struct{}),
	}
	// Run-time dependencies go into the Config beside the file's settings.
	cfg.TLSConfig = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// No client certificates: EXTERNAL would need a client CA to
		// verify them against, which the demo does not take.
	}
	cfg.Logger = log
	cfg.Stream.Session.MaxBytes = stanzaLimit
	cfg.Domains = []string{domain.Domainpart()}
	cfg.SASL.Store = store
	cfg.SASL.BindResource = s.bindResource
	// XEP-0070 confirmation requests reach the users' sessions through the
	// router, from the server's domain.
	cfg.HTTPAuth.Sender = s.router
	s.plugin, err = xmppauth.New(cfg)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newStore derives SCRAM credentials for every user (SHA-1, SHA-256 and
// SHA-512, so every mechanism works), creating one random user when none is
// given and printing its password on stdout.
func newStore(users userList, domain jid.JID, stdout io.Writer) (*scram.MemoryStore, error) {
	if len(users) == 0 {
		users = userList{{name: "demo", password: rand.Text()}}
		fmt.Fprintf(stdout, "created user %s@%s with password %s\n", users[0].name, domain, users[0].password)
	}
	store := scram.NewMemoryStore()
	for _, u := range users {
		name, err := precis.UsernameCaseMapped.String(u.name)
		if err != nil {
			return nil, fmt.Errorf("-user %q: not a valid username: %w", u.name, err)
		}
		if _, err := jid.New(name, domain.Domainpart(), ""); err != nil {
			return nil, fmt.Errorf("-user %q: %w", u.name, err)
		}
		if err := store.SetPassword(name+"@"+domain.Domainpart(), u.password, scram.MinIterations,
			crypto.SHA1, crypto.SHA256, crypto.SHA512); err != nil {
			return nil, fmt.Errorf("-user %q: %w", u.name, err)
		}
	}
	return store, nil
}

func fingerprint(cert tls.Certificate) string {
	if cert.Leaf == nil {
		return ""
	}
	sum := crypto.SHA256.New()
	sum.Write(cert.Leaf.Raw)
	return fmt.Sprintf("%X", sum.Sum(nil))
}

// run opens the listeners, serves until ctx is done and shuts down.
func (s *server) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return err
	}
	addrs := Addrs{XMPP: ln.Addr().String(), Cert: s.cert.Leaf}
	var httpSrv *http.Server
	var httpLn net.Listener
	if s.opts.HTTPAddr != "" {
		httpLn, err = net.Listen("tcp", s.opts.HTTPAddr)
		if err != nil {
			ln.Close()
			return err
		}
		addrs.HTTP = httpLn.Addr().String()
		httpSrv = &http.Server{
			Handler:           s.httpHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
	}
	s.log.Info("xmppauthd listening", "domain", s.domain, "xmpp", addrs.XMPP, "http", addrs.HTTP)
	if s.opts.Listening != nil {
		s.opts.Listening(addrs)
	}

	errc := make(chan error, 2)
	var loops sync.WaitGroup
	loops.Add(1)
	go func() { defer loops.Done(); errc <- s.accept(ln) }()
	if httpSrv != nil {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if err := httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("xmppauthd shutting down")
	ln.Close()
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		if err := httpSrv.Shutdown(sctx); err != nil {
			httpSrv.Close()
		}
		cancel()
	}
	s.closeAll()
	loops.Wait()
	s.wg.Wait()
	return runErr
}

// accept runs the accept loop until the listener is closed.
func (s *server) accept(ln net.Listener) error {
	for {
		raw, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		c := &clientConn{raw: raw, limit: &limitReader{}}
		if !s.track(c) {
			raw.Close()
			return nil
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			defer raw.Close()
			s.handle(c)
		}()
	}
}

func (s *server) track(c *clientConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *server) untrack(c *clientConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// closeAll ends every connection: sessions get a closing stream tag (bounded
// by the write timeout), then the connection is closed, which ends the
// goroutines reading from it.
func (s *server) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*clientConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.mu.Lock()
			session := c.session
			c.mu.Unlock()
			if session != nil {
				_ = c.raw.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
				_ = session.Close()
			}
			_ = c.raw.Close()
		}()
	}
	wg.Wait()
}

// handle negotiates one connection and serves its session.
func (s *server) handle(c *clientConn) {
	remote := c.raw.RemoteAddr().String()
	c.limit.reset(negotiationLimit)
	auth := s.plugin.Accept(&limitedConn{Conn: c.raw, r: c.limit})
	negotiator := auth.Negotiator()
	// Negotiation is bounded by a timer that closes the connection, not by
	// ctx or a connection deadline: mellium watches ctx from a goroutine
	// that, when ctx ends, sets a past deadline and then clears every
	// deadline at once, which can both lose the wake-up of a blocked read
	// and erase a deadline set here. The same goroutine may still be
	// running when ReceiveSession returns, so ctx must not end then either:
	// it never ends.
	timedOut := time.AfterFunc(s.opts.NegotiateTimeout, func() { c.raw.Close() })
	ctx := context.WithValue(context.Background(), connKey{}, c)
	session, err := xmpp.ReceiveSession(ctx, auth.NetConn(), 0, negotiator)
	if !timedOut.Stop() && err == nil {
		err = errors.New("negotiation timed out")
	}
	if err != nil {
		s.log.Debug("negotiation failed", "remote", remote, "err", err)
		c.mu.Lock()
		rt := c.route
		c.mu.Unlock()
		if rt != nil {
			s.router.Unregister(rt)
		}
		return
	}
	id, ok := auth.Identity()
	bound := auth.Bound()
	if !ok || bound.Resourcepart() == "" {
		// The features make a session ready only after binding; this is a
		// safety net.
		s.log.Warn("session ready without a bound resource", "remote", remote)
		_ = session.Close()
		return
	}
	c.mu.Lock()
	c.session = session
	rt, replaced := c.route, c.replaced
	c.mu.Unlock()
	if rt == nil {
		// The features make a session ready only after binding, which
		// reserves a route; this is a safety net.
		_ = session.Close()
		return
	}
	defer s.router.Unregister(rt) // a no-op when all went well, see below
	if s.isClosed() {
		_ = session.Close()
		return
	}
	if replaced != nil {
		s.log.Info("resource conflict: replacing the older session", "jid", bound)
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.closeReplaced(replaced) }()
	}
	actx, acancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	err = s.router.Attach(actx, rt, sessionSender{session: session, timeout: s.opts.WriteTimeout})
	acancel()
	if err != nil {
		s.log.Info("session not started", "jid", bound, "err", err)
		if errors.Is(err, ErrReplaced) {
			_ = c.raw.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
			w := session.TokenWriter()
			_, _ = stream.Conflict.WriteXML(w)
			_ = w.Close()
		}
		_ = session.Close()
		return
	}

	cl := newClient(s, c, session, bound, rt)
	s.log.Info("session started", "jid", bound, "mechanism", id.Mechanism,
		"channel_binding", string(id.ChannelBinding), "remote", remote)
	err = cl.serve()
	if s.router.Unregister(rt) {
		cl.broadcastUnavailable()
	}
	_ = c.raw.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_ = session.Close()
	lingerClose(c.raw)
	s.log.Info("session ended", "jid", bound, "err", err)
}

// Lingering close: how much and how long to read from a client after the
// server closed its stream.
const (
	lingerBytes = 64 << 10
	lingerTime  = time.Second
)

// lingerClose half-closes the connection and drains what the client still
// sends for a moment before closing: closing a TCP connection with unread
// input resets it, and the reset can destroy the stream error and closing
// tag the client has not read yet.
func lingerClose(raw net.Conn) {
	if hc, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = hc.CloseWrite()
	}
	_ = raw.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, raw, lingerBytes)
	_ = raw.Close()
}

// connKey carries the *clientConn in the negotiation context, so that
// bindResource knows the connection.
type connKey struct{}

// bindResource is the Host.BindResource callback: it picks the full JID (the
// requested resource when valid, else a random one) and reserves it in the
// router at once, so that stanzas sent to the client right after it bound
// are queued rather than bounced.
func (s *server) bindResource(ctx context.Context, _ features.ConnMetadata, identity jid.JID, requested string) (jid.JID, error) {
	full, err := identity.WithResource(requested)
	if requested == "" || err != nil {
		if full, err = identity.WithResource(rand.Text()); err != nil {
			return jid.JID{}, err
		}
	}
	c, ok := ctx.Value(connKey{}).(*clientConn)
	if !ok {
		return jid.JID{}, errors.New("xmppauthd: binding outside a connection")
	}
	rt, replaced := s.router.Reserve(full)
	c.mu.Lock()
	c.route, c.replaced = rt, replaced
	c.mu.Unlock()
	return full, nil
}

func (s *server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closeReplaced ends a session whose full JID was bound again
// (RFC 6120 §7.7.2.2) with a <conflict/> stream error.
func (s *server) closeReplaced(old sender) {
	ss, ok := old.(sessionSender)
	if !ok {
		return
	}
	_ = ss.session.Conn().SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	w := ss.session.TokenWriter()
	_, _ = stream.Conflict.WriteXML(w)
	_ = w.Close()
	_ = ss.session.Close()
	// Its reader gets the closed connection and unregisters (a no-op: it was
	// replaced).
	_ = ss.session.Conn().Close()
}

// sessionSender delivers stanzas to a session, bounding each write with a
// connection deadline taken under the session's write lock.
//
// It does not use Session.Send: that watches ctx from a goroutine which,
// when ctx is cancelled just after Send returned, may still set a past
// write deadline on the connection and break a later write by someone else.
type sessionSender struct {
	session *xmpp.Session
	timeout time.Duration
}

// Send writes the first element of r (r must end after it, as the router's
// readers do). ctx's deadline, or the default timeout, bounds the write.
func (ss sessionSender) Send(ctx context.Context, r xml.TokenReader) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(ss.timeout)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	w := ss.session.TokenWriter()
	conn := ss.session.Conn()
	_ = conn.SetWriteDeadline(deadline)
	_, err := xmlstream.Copy(w, r)
	if err == nil {
		err = w.Flush()
	}
	_ = conn.SetWriteDeadline(time.Time{})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// client serves one negotiated session.
type client struct {
	srv     *server
	conn    *clientConn
	session *xmpp.Session
	jid     jid.JID // the bound full JID, the only from this client gets
	route   *route
	// serverMux answers stanzas to the server (to empty or the domain);
	// accountMux answers IQs the server handles for the account (to the
	// client's own bare JID).
	serverMux, accountMux *mux.ServeMux
}

func newClient(s *server, c *clientConn, session *xmpp.Session, bound jid.JID, rt *route) *client {
	roster := mux.IQFunc(stanza.GetIQ, xml.Name{Space: nsRoster, Local: "query"}, handleRosterGet)
	serverOpts := append([]mux.Option{
		disco.Handle(),
		ping.Handle(),
		roster,
		mux.Ident(serverIdentity{}),
	}, s.plugin.MuxOptions()...)
	if v := s.plugin.HTTPAuth(); v != nil {
		serverOpts = append(serverOpts, v.Handle())
	}
	return &client{
		srv:        s,
		conn:       c,
		session:    session,
		jid:        bound,
		route:      rt,
		serverMux:  mux.New(stanza.NSClient, serverOpts...),
		accountMux: mux.New(stanza.NSClient, roster),
	}
}

// serverIdentity is the server's XEP-0030 identity (RFC 6120 servers are
// category "server", type "im").
type serverIdentity struct{}

func (serverIdentity) ForIdentities(node string, f func(info.Identity) error) error {
	if node != "" {
		return nil
	}
	return f(info.Identity{Category: "server", Type: "im", Name: "xmppauthd"})
}

func (c *client) sender() sessionSender {
	return sessionSender{session: c.session, timeout: c.srv.opts.WriteTimeout}
}

// handleRosterGet answers a roster get with an empty roster (RFC 6121
// §2.1.3): the demo keeps no rosters, and many clients wait for one.
func handleRosterGet(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	_, err := xmlstream.Copy(t, iq.Result(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsRoster, Local: "query"}})))
	return err
}

// serve reads stanzas until the stream ends. It does not use Session.Serve:
// Serve answers every IQ its handler did not answer on the same stream,
// which is wrong for an IQ routed to another session.
func (c *client) serve() error {
	for {
		if err := c.next(); err != nil {
			var syntax *xml.SyntaxError
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case errors.As(err, &syntax) && syntax.Msg == "unexpected EOF":
				// The client closed the connection without closing the
				// stream (go-sendxmpp does): nothing to answer.
				return errors.New("connection closed without a closing stream tag")
			}
			c.streamError(err)
			return err
		}
	}
}

// next reads and handles one top-level element.
func (c *client) next() error {
	r := c.session.TokenReader()
	defer r.Close()
	c.conn.limit.reset(stanzaLimit)
	tok, err := r.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case xml.CharData:
		return nil // whitespace keepalive (the session's reader refuses other text)
	case xml.StartElement:
		st, err := bufferStanza(t, xmlstream.Inner(r), stanzaLimit)
		switch {
		case errors.Is(err, ErrNotStanza):
			return stream.UnsupportedStanzaType
		case errors.Is(err, ErrStanzaTooLarge):
			return stream.PolicyViolation
		case errors.Is(err, ErrBadAddress):
			c.bounce(st, err)
			return nil
		case err != nil:
			return err
		}
		return c.handle(st)
	}
	return stream.BadFormat
}

// streamError sends a stream error for protocol errors; for I/O errors the
// connection is simply closed.
func (c *client) streamError(err error) {
	var se stream.Error
	switch {
	case errors.As(err, &se):
	case errors.Is(err, errReadLimit):
		se = stream.PolicyViolation
	default:
		var syntax *xml.SyntaxError
		if !errors.As(err, &syntax) {
			return
		}
		se = stream.NotWellFormed
	}
	_ = c.conn.raw.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	w := c.session.TokenWriter()
	_, _ = se.WriteXML(w)
	_ = w.Close()
}

// handle stamps the stanza with the client's bound JID and dispatches it.
func (c *client) handle(st *stanzaBuf) error {
	st.setFrom(c.jid)
	toServer := st.to.Equal(jid.JID{}) || st.to.Equal(c.srv.domain)
	switch st.kind {
	case "iq":
		switch {
		case toServer:
			return c.local(c.serverMux, st)
		case st.to.Equal(c.jid.Bare()):
			return c.local(c.accountMux, st)
		}
	case "message":
		if toServer && !st.to.Equal(jid.JID{}) {
			return c.local(c.serverMux, st)
		}
		if st.to.Equal(jid.JID{}) {
			// RFC 6120 §10.3.1: as if to the sender's bare JID.
			st.setTo(c.jid.Bare())
		}
	case "presence":
		switch {
		case st.to.Equal(jid.JID{}):
			c.selfPresence(st)
			return nil
		case toServer:
			return c.local(c.serverMux, st)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.WriteTimeout)
	defer cancel()
	if err := c.srv.router.Route(ctx, st); err != nil {
		c.bounce(st, err)
	}
	return nil
}

// bounce answers a stanza that could not be delivered with a stanza error:
// the one place where routing errors become protocol errors. Presence and
// error stanzas are never answered (RFC 6120 §8.3.1); delivery failures to
// a session that went away are only logged.
func (c *client) bounce(st *stanzaBuf, err error) {
	if st == nil || st.kind == "presence" || st.typ == "error" || (st.kind == "iq" && st.typ == "result") {
		return
	}
	if st.kind == "message" && st.typ == "headline" {
		return
	}
	var se stanza.Error
	switch {
	case errors.Is(err, ErrUnavailable):
		se = stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable}
	case errors.Is(err, ErrRemoteDomain):
		se = stanza.Error{Type: stanza.Cancel, Condition: stanza.RemoteServerNotFound}
	case errors.Is(err, ErrBadAddress):
		se = stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed}
	default:
		c.srv.log.Debug("delivery failed", "from", c.jid, "to", st.to, "err", err)
		return
	}
	errStart := xml.StartElement{Name: xml.Name{Space: stanza.NSClient, Local: st.kind}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: "error"},
		{Name: xml.Name{Local: "to"}, Value: c.jid.String()},
	}}
	if st.id != "" {
		errStart.Attr = append(errStart.Attr, xml.Attr{Name: xml.Name{Local: "id"}, Value: st.id})
	}
	if !st.to.Equal(jid.JID{}) {
		errStart.Attr = append(errStart.Attr, xml.Attr{Name: xml.Name{Local: "from"}, Value: st.to.String()})
	}
	_ = c.sender().Send(context.Background(), xmlstream.Wrap(se.TokenReader(), errStart))
}

// selfPresence handles presence without a to attribute (RFC 6121 §4.2,
// §4.4, reduced to one account): it records availability and broadcasts
// the presence to the account's other sessions; initial presence also
// gets the presence of the other available sessions.
func (c *client) selfPresence(st *stanzaBuf) {
	var p *stanzaBuf
	switch st.typ {
	case "":
		p = st
	case "unavailable":
	default:
		return // probes and subscription requests need rosters
	}
	others, _, theirs := c.srv.router.SetPresence(c.route, p)
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.WriteTimeout)
	defer cancel()
	for _, o := range others {
		st.setTo(o.jid)
		if err := c.srv.router.DeliverTo(ctx, o, st); err != nil {
			c.srv.log.Debug("presence broadcast failed", "to", o.jid, "err", err)
		}
	}
	for _, op := range theirs {
		q := op.clone()
		q.setTo(c.jid)
		_ = c.sender().Send(ctx, q.reader())
	}
}

// broadcastUnavailable tells the account's other sessions that this one is
// gone.
func (c *client) broadcastUnavailable() {
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.opts.WriteTimeout)
	defer cancel()
	for _, other := range c.srv.router.Online(c.jid) {
		start := xml.StartElement{Name: xml.Name{Space: stanza.NSClient, Local: "presence"}, Attr: []xml.Attr{
			{Name: xml.Name{Local: "type"}, Value: "unavailable"},
			{Name: xml.Name{Local: "from"}, Value: c.jid.String()},
			{Name: xml.Name{Local: "to"}, Value: other.String()},
		}}
		st, err := bufferStanza(start, xmlstream.ReaderFunc(func() (xml.Token, error) { return nil, io.EOF }), stanzaLimit)
		if err == nil {
			_ = c.srv.router.Route(ctx, st)
		}
	}
}

// local hands a stanza to a mux, writing its answers on this session, and
// answers an IQ get or set the mux left unanswered with
// <service-unavailable/>.
func (c *client) local(m *mux.ServeMux, st *stanzaBuf) error {
	w := &sessionWriter{c: c}
	rc := &responseChecker{w: w, id: st.id}
	start := st.start()
	err := m.HandleXMPP(struct {
		xml.TokenReader
		xmlstream.Encoder
	}{st.inner(), rc}, &start)
	if err == nil && st.kind == "iq" && (st.typ == "get" || st.typ == "set") && !rc.answered {
		iq := stanza.IQ{ID: st.id, Type: stanza.ErrorIQ, To: c.jid, From: st.to}
		_, err = xmlstream.Copy(rc, iq.Wrap(stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable}.TokenReader()))
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// sessionWriter writes to the client's session, taking the session's writer
// (and a write deadline) only when the handler writes something.
type sessionWriter struct {
	c *client
	w xmlstream.TokenWriteFlushCloser
}

func (sw *sessionWriter) EncodeToken(t xml.Token) error {
	if sw.w == nil {
		sw.w = sw.c.session.TokenWriter()
		_ = sw.c.session.Conn().SetWriteDeadline(time.Now().Add(sw.c.srv.opts.WriteTimeout))
	}
	return sw.w.EncodeToken(t)
}

func (sw *sessionWriter) Close() error {
	if sw.w == nil {
		return nil
	}
	err := sw.w.Close()
	_ = sw.c.session.Conn().SetWriteDeadline(time.Time{})
	return err
}

// responseChecker notes whether a handler answered the IQ being handled.
type responseChecker struct {
	w        xmlstream.TokenWriter
	id       string
	depth    int
	answered bool
}

func (rc *responseChecker) EncodeToken(t xml.Token) error {
	switch tok := t.(type) {
	case xml.StartElement:
		if rc.depth == 0 && tok.Name.Local == "iq" {
			var id, typ string
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "id":
					id = a.Value
				case "type":
					typ = a.Value
				}
			}
			if id == rc.id && (typ == "result" || typ == "error") {
				rc.answered = true
			}
		}
		rc.depth++
	case xml.EndElement:
		rc.depth--
	}
	return rc.w.EncodeToken(t)
}

func (rc *responseChecker) Encode(v any) error {
	return rc.EncodeElement(v, xml.StartElement{})
}

func (rc *responseChecker) EncodeElement(v any, start xml.StartElement) error {
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	var err error
	if start.Name.Local == "" {
		err = e.Encode(v)
	} else {
		err = e.EncodeElement(v, start)
	}
	if err != nil {
		return err
	}
	_, err = xmlstream.Copy(rc, xml.NewDecoder(&buf))
	return err
}

// limitReader counts the bytes read from a connection against a limit that
// the server resets at each stanza.
type limitReader struct {
	remaining atomic.Int64
}

func (l *limitReader) reset(n int64) { l.remaining.Store(n) }

// limitedConn enforces a limitReader on reads.
type limitedConn struct {
	net.Conn
	r *limitReader
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.r.remaining.Load() <= 0 {
		return 0, errReadLimit
	}
	n, err := c.Conn.Read(p)
	c.r.remaining.Add(-int64(n))
	return n, err
}

// httpHandler serves the demo's web pages, every one of them guarded by
// XEP-0070: the browser names a JID (Basic or Digest, user = the JID,
// password = a transaction identifier of its choosing) and the page is
// served once that user confirms the request from an XMPP client.
func (s *server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		who, _ := httpauth.FromContext(r.Context())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>xmppauthd</title><h1>xmppauthd</h1>"+
			"<p>Hello %s: you confirmed this request over XMPP (XEP-0070).</p>"+
			"<p>XMPP domain <code>%s</code>.</p>",
			html.EscapeString(who.String()), html.EscapeString(s.domain.String()))
	})
	return s.plugin.HTTPMiddleware(mux)
}
