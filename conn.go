package xmppauth

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/guard"
	"github.com/xmppauth/xmppauth/internal/netaddr"
)

// NSStartTLS is the STARTTLS namespace of RFC 6120 §5.
const NSStartTLS = "urn:ietf:params:xml:ns:xmpp-tls"

// Conn is one accepted connection as the plugin sees it: the connection to
// negotiate on (NetConn), each stream feature by name, and, once the session
// is negotiated, who logged in (Identity, Bound) and from where. Make one
// per accepted connection with Plugin.Accept or Plugin.AcceptTLS. It is
// safe for concurrent use.
//
// Conn implements features.ConnMetadata.
type Conn struct {
	p      *Plugin
	raw    *coalescer // the accepted connection
	netc   net.Conn   // what the host negotiates on
	direct bool       // direct TLS (XEP-0368): no STARTTLS
	login  *features.Login

	mu      sync.Mutex
	guards  []interface{ SetAuthenticated() } // the plaintext and TLS guards
	current interface{ WriteError() error }   // the guard mellium reads now
	domain  func() string
	tls     *tls.Conn
	fs      []xmpp.StreamFeature // Features of fsFor
	fsFor   *xmpp.Session
}

// Accept prepares a connection accepted on a STARTTLS port (5222): the
// bytes the client sends are checked by a stream guard (package guard:
// served domains, malformed XML, size limits, before mellium's decoder sees
// them) and the certificate served on it is recorded for
// tls-server-end-point.
func (p *Plugin) Accept(raw net.Conn) *Conn {
	w := &coalescer{Conn: raw}
	g := guard.NewConn(w, &p.guard, true)
	c := &Conn{p: p, raw: w, login: p.sasl.NewLogin(), current: g, domain: g.Domain}
	c.guards = []interface{ SetAuthenticated() }{g}
	c.netc = cbind.NewConn(g)
	c.login.ListAfterBind2(c.Features)
	return c
}

// AcceptTLS prepares a connection accepted on a direct-TLS port (XEP-0368,
// 5223): it runs the TLS handshake now, within the step timeout (ALPN
// "xmpp-client" is offered), then guards what the client sends inside TLS.
// Pass xmpp.Secure to xmpp.ReceiveSession for it. A failed handshake is
// logged (rate-limited) and returned; the host closes raw.
func (p *Plugin) AcceptTLS(raw net.Conn) (*Conn, error) {
	if p.directTLS == nil {
		return nil, errors.New("xmppauth: direct TLS needs Config.TLSConfig")
	}
	w := &coalescer{Conn: raw}
	cb := cbind.NewConn(w)
	tc := tls.Server(cb, p.directTLS)
	if err := p.handshake(tc, raw); err != nil {
		return nil, err
	}
	g := guard.NewTLSConn(tc, &p.guard)
	c := &Conn{p: p, raw: w, netc: g, direct: true, login: p.sasl.NewLogin(), current: g, domain: g.Domain, tls: tc}
	c.guards = []interface{ SetAuthenticated() }{g}
	c.login.ListAfterBind2(c.Features)
	return c, nil
}

// handshake runs the server side of a TLS handshake within the step
// timeout, logging a failure.
func (p *Plugin) handshake(tc *tls.Conn, raw net.Conn) error {
	_ = raw.SetDeadline(time.Now().Add(p.stepTimeout))
	err := tc.Handshake()
	_ = raw.SetDeadline(time.Time{})
	if err != nil {
		p.tlsLog.Info("tls handshake failed", "ip", netaddr.IP(raw.RemoteAddr()), "err", err)
	}
	return err
}

// NetConn returns the connection to hand to xmpp.ReceiveSession.
func (c *Conn) NetConn() net.Conn { return c.netc }

// SessionState is the state to hand to xmpp.ReceiveSession: xmpp.Secure for
// direct TLS, 0 otherwise.
func (c *Conn) SessionState() xmpp.SessionState {
	if c.direct {
		return xmpp.Secure
	}
	return 0
}

// Negotiator returns a negotiator that lists every feature of Features.
func (c *Conn) Negotiator() xmpp.Negotiator {
	return xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: c.Features(s)}
	})
}

// Features returns the stream features for the negotiator of session, in
// the order to list them: STARTTLS (when Config.TLSConfig is set and the
// connection is not direct TLS), SASL, SASL2 (XEP-0388, with Bind2 and
// FAST; unless Config.SASL.DisableSASL2), the XEP-0440 capability, resource
// binding, the RFC 3921 session advertisement and the traps of package
// features. A host that lists features of its own takes these by name
// instead (StartTLS, SASL, SASL2, ChannelBindingCapability, Bind), and tells
// the Conn its list with ListAfterBind2.
func (c *Conn) Features(session *xmpp.Session) []xmpp.StreamFeature {
	// The features depend on the session only (each lists by the state of
	// the stream it is asked on), and mellium asks anew on every stream.
	c.mu.Lock()
	if session != nil && c.fsFor == session {
		fs := c.fs
		c.mu.Unlock()
		return fs
	}
	c.mu.Unlock()
	fs := c.features(session)
	if session != nil {
		c.mu.Lock()
		c.fs, c.fsFor = fs, session
		c.mu.Unlock()
	}
	return fs
}

func (c *Conn) features(session *xmpp.Session) []xmpp.StreamFeature {
	fs := make([]xmpp.StreamFeature, 0, 10)
	if st, ok := c.StartTLS(); ok {
		fs = append(fs, st)
	}
	fs = append(fs, c.SASL(session))
	if !c.p.cfg.SASL.DisableSASL2 {
		fs = append(fs, c.SASL2(session))
	}
	fs = append(fs, c.ChannelBindingCapability(session), c.Bind(), features.SessionAdvertisement())
	return append(fs, features.Traps()...)
}

// StartTLS returns the STARTTLS feature (RFC 6120 §5), required before
// authentication, and false when the connection cannot have it (no
// Config.TLSConfig, or direct TLS). It runs the handshake at once (logging a
// failure, rate-limited) and guards the TLS connection that follows.
func (c *Conn) StartTLS() (xmpp.StreamFeature, bool) {
	if c.p.startTLS == nil || c.direct {
		return xmpp.StreamFeature{}, false
	}
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: NSStartTLS, Local: "starttls"},
		Prohibited: xmpp.Secure,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			required := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "required"}})
			_, err := xmlstream.Copy(e, xmlstream.Wrap(required, start))
			return true, err
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			conn := session.Conn()
			if _, err := io.WriteString(conn, `<proceed xmlns='`+NSStartTLS+`'/>`); err != nil {
				return 0, nil, err
			}
			tc := tls.Server(conn, c.p.startTLS)
			if err := c.p.handshake(tc, c.raw); err != nil {
				return 0, nil, err
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			pre := c.guards[0].(*guard.Conn)
			g := pre.StartTLS(tc)
			c.guards = append(c.guards, g)
			c.current, c.domain, c.tls = g, g.Domain, tc
			return xmpp.Secure, g, nil
		},
	}, true
}

// SASL returns the SASL feature of package features for session; on
// success it switches the stream guard to the session limits.
func (c *Conn) SASL(session *xmpp.Session) xmpp.StreamFeature {
	return c.guarded(c.login.SASL(session))
}

// SASL2 returns the XEP-0388 feature of package features for session (with
// Bind2, FAST and the XEP-0480 upgrade tasks inside); on success it
// switches the stream guard to the session limits. No stream restart
// follows a SASL2 success: with Bind2 the session is ready at once, else
// the client binds (Bind) on the same stream.
func (c *Conn) SASL2(session *xmpp.Session) xmpp.StreamFeature {
	return c.guarded(c.login.SASL2(session))
}

// guarded wraps an authenticating feature so that a success switches the
// guards to the session limits.
func (c *Conn) guarded(f xmpp.StreamFeature) xmpp.StreamFeature {
	negotiate := f.Negotiate
	f.Negotiate = func(ctx context.Context, s *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiate(ctx, s, data)
		if err == nil && mask&xmpp.Authn != 0 {
			c.mu.Lock()
			for _, g := range c.guards {
				g.SetAuthenticated()
			}
			c.mu.Unlock()
		}
		return mask, rw, err
	}
	return f
}

// ChannelBindingCapability returns the XEP-0440 feature for session.
func (c *Conn) ChannelBindingCapability(session *xmpp.Session) xmpp.StreamFeature {
	return c.login.ChannelBindingCapability(session)
}

// Bind returns resource binding to the authenticated identity.
func (c *Conn) Bind() xmpp.StreamFeature { return c.login.Bind() }

// OnBind sets f to run when resource binding has chosen the full JID,
// before the client learns it (see features.Login.OnBind): where a host
// registers the session with its router.
func (c *Conn) OnBind(f func(ctx context.Context, session *xmpp.Session, full jid.JID) error) {
	c.login.OnBind(f)
}

// OnBind2 sets f to run when a SASL2 login bound a resource with Bind2,
// after OnBind, with the inline features the client asked for (see
// features.Login.OnBind2): where a host enables Message Carbons or Stream
// Management for the new session. What f returns goes inside <bound/>.
func (c *Conn) OnBind2(f func(ctx context.Context, session *xmpp.Session, full jid.JID, req features.Bind2Request) xml.TokenReader) {
	c.login.OnBind2(f)
}

// ListAfterBind2 sets the features listed after a SASL2 success with Bind2
// (the session is then ready without a restart; see
// features.Login.ListAfterBind2). Accept sets it to Features; a host with
// features of its own passes its negotiator's list.
func (c *Conn) ListAfterBind2(f func(*xmpp.Session) []xmpp.StreamFeature) {
	c.login.ListAfterBind2(f)
}

// Identity reports who authenticated on this connection: the address the
// host must use for the session, never the stream header's from.
func (c *Conn) Identity() (features.Identity, bool) { return c.login.Identity() }

// Bound reports the full JID bound by resource binding, the zero JID before.
func (c *Conn) Bound() jid.JID { return c.login.Bound() }

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// LocalAddr returns the address the client connected to.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// Domain returns the served domain the client's stream header named, the
// zero JID before a valid header.
func (c *Conn) Domain() jid.JID {
	c.mu.Lock()
	domain := c.domain
	c.mu.Unlock()
	d, _ := jid.New("", domain(), "")
	return d
}

// TLS returns the connection's TLS state, and false before TLS.
func (c *Conn) TLS() (tls.ConnectionState, bool) {
	c.mu.Lock()
	tc := c.tls
	c.mu.Unlock()
	if tc == nil {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// Encrypted reports whether the connection runs over TLS.
func (c *Conn) Encrypted() bool {
	_, ok := c.TLS()
	return ok
}

// Lingering close: how much and how long to read from a client after the
// server closed its stream.
const (
	lingerBytes = 64 << 10
	lingerTime  = time.Second
)

// Close ends the connection after err, the error xmpp.ReceiveSession or a
// read of the session returned (nil after a clean end). When err is a stream
// guard's violation or another stream.Error, the client is sent that stream
// error first — with the server's own stream header when the violation was
// in a header it had not answered (RFC 6120 §4.9.1.2). session is nil when
// negotiation failed; otherwise the stream is closed through it, under its
// write lock, so that nothing lands inside a stanza being written.
//
// The connection is then half-closed and drained for a moment, so that the
// client can read the error before the TCP connection is reset. If a JID
// was bound, the XEP-0070 verifier learns that its session ended
// (httpauth.Verifier.SessionEnded with the full JID): a confirmation it
// was asked for fails at once instead of waiting for its timeout. A host
// whose router knows that an account's last session ended also calls
// SessionEnded with the bare JID, for the requests sent by message.
func (c *Conn) Close(session *xmpp.Session, err error) error {
	if v, bound := c.p.httpAuth, c.Bound(); v != nil && !bound.Equal(jid.JID{}) {
		defer v.SessionEnded(bound)
	}
	deadline := time.Now().Add(c.p.stepTimeout)
	var gerr *guard.Error
	var serr stream.Error
	if syntax := (*xml.SyntaxError)(nil); errors.As(err, &syntax) {
		serr = stream.NotWellFormed // the decoder's own check (say, mismatched tags)
	}
	guardErr := errors.As(err, &gerr)
	if guardErr {
		c.p.guardLog.Info("stream closed by the guard", "ip", netaddr.IP(c.raw.RemoteAddr()),
			"domain", gerr.Domain, "jid", c.Bound().String(), "condition", gerr.Condition.Err, "err", gerr.Error())
	}
	switch {
	case guardErr && session == nil:
		// mellium wrote nothing when negotiation failed. (TLS sets its
		// deadlines on the connection underneath: raw.)
		_ = c.raw.SetWriteDeadline(deadline)
		_ = c.guard().WriteError()
	case session != nil:
		// The guard writes its violation's error in place of the closing
		// tag mellium writes (mellium v0.23.0 would lose it: Session.Serve
		// leaves it in its encoder's buffer); other stream errors are
		// written here.
		_ = session.Conn().SetWriteDeadline(deadline)
		if !guardErr && (serr.Err != "" || errors.As(err, &serr)) && session.State()&xmpp.OutputStreamClosed == 0 {
			w := session.TokenWriter() // the session's write lock
			_, _ = serr.WriteXML(w)
			_ = w.Close()
		}
		_ = session.Close() // the closing tag, once
	}
	// Errors a feature raised during negotiation (a <failure/>, a stream
	// error it wrote) have been answered already.
	// (Not coalesced with what precedes: crypto/tls sets the write
	// deadline to now right after its close_notify.)
	if tc := c.tlsConn(); tc != nil {
		_ = tc.CloseWrite()
	}
	_ = c.raw.closeWrite()
	_ = c.raw.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.raw, lingerBytes)
	return c.raw.Close()
}

// guard is the stream guard of the current layer (TLS after STARTTLS).
func (c *Conn) guard() interface{ WriteError() error } {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.current
}

func (c *Conn) tlsConn() *tls.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tls
}

// Interface guard.
var _ features.ConnMetadata = (*Conn)(nil)

// DefaultNegotiateTimeout bounds a connection's negotiation when
// Config.NegotiateTimeout is zero.
const DefaultNegotiateTimeout = time.Minute

// Negotiate runs xmpp.ReceiveSession on the connection with every feature of
// Features, bounded by Config.NegotiateTimeout and by ctx (the server's
// lifetime, say). On failure the client is sent the stream error it is owed
// (see Close), the connection is closed, and the error returned.
//
// It bounds the negotiation with a timer that closes the connection instead
// of handing ReceiveSession a context that ends: mellium watches that
// context from a goroutine which, when it ends, sets a deadline in the past
// and then clears every deadline of the connection, which can erase the
// per-step deadlines the features set and lose the wake-up of a blocked
// read; that goroutine may still run after ReceiveSession returns. A host
// that calls ReceiveSession itself should do the same.
func (c *Conn) Negotiate(ctx context.Context) (*xmpp.Session, error) {
	timeout := c.p.negotiateTimeout
	timer := time.AfterFunc(timeout, func() { c.raw.Close() })
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	// During negotiation every write of the server is followed by a read
	// of the client's answer: coalesce the writes (stream header, features,
	// SASL elements, TLS records) into one socket write per turn. Once the
	// session runs, the host writes while it reads, and writes go out at
	// once again.
	c.raw.coalesce(true)
	session, err := xmpp.ReceiveSession(context.Background(), c.netc, c.SessionState(), c.Negotiator())
	if ferr := c.raw.coalesce(false); err == nil {
		err = ferr
	}
	timedOut := !timer.Stop()
	if cancelled := !stop(); timedOut || cancelled {
		// The connection was closed under mellium: say why, not only
		// "use of closed network connection".
		cause := errNegotiationTimedOut
		if cancelled {
			cause = context.Cause(ctx)
		}
		if err == nil {
			_ = c.raw.Close()
			return nil, cause
		}
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	if err != nil {
		_ = c.Close(nil, err)
		return nil, err
	}
	return session, nil
}

var errNegotiationTimedOut = errors.New("xmppauth: negotiation timed out")

// coalescer is the accepted connection with its writes held back, while
// on, until the next read (or closeWrite, or turning it off): a
// negotiation's stream header, features and SASL elements, and the TLS
// records they make, go out in one socket write where mellium makes one
// each. Close is the connection's own, so that closing from another
// goroutine never waits for a write.
type coalescer struct {
	net.Conn
	on  atomic.Bool // set under mu; read without it once the session runs
	mu  sync.Mutex
	buf *[]byte // from coalescerBufs while on
	err error   // of a flush, reported by the next Read or Write
}

// maxCoalesced bounds what a coalescer holds before it writes anyway.
const maxCoalesced = 64 << 10

// Write holds p back while on; otherwise (the session runs) it writes at
// once, without the lock, so that a read never waits for a write to a slow
// client.
func (c *coalescer) Write(p []byte) (int, error) {
	if !c.on.Load() {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.on.Load() { // turned off meanwhile
		return c.Conn.Write(p)
	}
	if c.buf != nil && len(*c.buf)+len(p) > maxCoalesced {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > maxCoalesced {
			return c.Conn.Write(p)
		}
	}
	if c.buf == nil {
		c.buf = coalescerBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// coalescerBufs recycles the buffers of negotiations that ended.
var coalescerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func (c *coalescer) Read(p []byte) (int, error) {
	if c.on.Load() {
		if err := c.flush(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *coalescer) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *coalescer) flushLocked() error {
	if c.err != nil || c.buf == nil || len(*c.buf) == 0 {
		return c.err
	}
	_, c.err = c.Conn.Write(*c.buf)
	*c.buf = (*c.buf)[:0]
	return c.err
}

// coalesce turns holding writes back on or off; turning it off writes what
// is held.
func (c *coalescer) coalesce(on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on.Store(on)
	err := c.flushLocked()
	if !on && c.buf != nil {
		if cap(*c.buf) <= maxCoalesced {
			coalescerBufs.Put(c.buf)
		}
		c.buf = nil
	}
	return err
}

// closeWrite writes what is held and half-closes a TCP connection.
func (c *coalescer) closeWrite() error {
	if err := c.coalesce(false); err != nil {
		return err
	}
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil
}

// NetConn returns the connection underneath, for unwrapping.
func (c *coalescer) NetConn() net.Conn { return c.Conn }
