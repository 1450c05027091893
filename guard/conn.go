package guard

import (
	"crypto/tls"
	"net"
	"sync/atomic"
)

// Conn guards the reads of a connection without TLS state: a plaintext TCP
// connection (which STARTTLS may upgrade), or any net.Conn. Deadlines,
// Close and writes go to the guarded connection unchanged, but for the
// closing stream tag after a violation (see Write). Read must not be called
// from two goroutines at once (as for any io.Reader); the other methods are
// safe for concurrent use.
//
// Conn has no ConnectionState method: guard a connection with TLS state
// with NewTLSConn, so that mellium and channel binding still see it.
type Conn struct {
	net.Conn
	s      scanner
	auth   atomic.Bool
	domain atomic.Pointer[string]
	err    atomic.Pointer[Error]
	// answered: the Response to err has been written.
	answered atomic.Bool
}

// SecureConn is a connection that reports its TLS state, such as a
// *tls.Conn.
type SecureConn interface {
	net.Conn
	ConnectionState() tls.ConnectionState
}

// TLSConn guards the reads of a connection with TLS state, and reports
// that state as the connection does.
//
// mellium marks a session secure only when its connection is a *tls.Conn:
// a host that serves direct TLS (XEP-0368) through a TLSConn passes
// xmpp.Secure to xmpp.ReceiveSession itself.
type TLSConn struct {
	*Conn
	tls SecureConn
}

var (
	_ net.Conn   = (*Conn)(nil)
	_ SecureConn = (*TLSConn)(nil)
)

// NewConn guards c, which must not be a TLS connection (see NewTLSConn).
// If startTLS is true the guard hands the connection over to TLS: once the
// peer's {urn:ietf:params:xml:ns:xmpp-tls}starttls element (a child of the
// stream root, before authentication) has ended, it drops the whitespace
// that follows and then passes every byte through unchecked, for good
// (they are TLS records). The host then guards the TLS connection, e.g.
// with c.StartTLS. Without startTLS a <starttls/> is checked like any
// element.
//
// cfg should have passed Validate; the guard reads it now and keeps no
// reference to it (but to cfg.Serves). A nil cfg is the zero Config.
func NewConn(c net.Conn, cfg *Config, startTLS bool) *Conn {
	g := &Conn{Conn: c}
	g.init(cfg.settings(), startTLS)
	return g
}

func (c *Conn) init(set *settings, startTLS bool) {
	c.s.init(set, &c.auth, startTLS)
	c.s.onDomain = func(d string) { c.domain.Store(&d) }
}

// NewTLSConn guards c, a TLS connection: direct TLS (XEP-0368), or the TLS
// connection after STARTTLS (see also Conn.StartTLS).
func NewTLSConn(c SecureConn, cfg *Config) *TLSConn {
	return &TLSConn{Conn: NewConn(c, cfg, false), tls: c}
}

// StartTLS guards tc, the TLS connection that replaces c after STARTTLS,
// with c's configuration: the stream headers inside TLS must name the
// domain that c's did.
func (c *Conn) StartTLS(tc SecureConn) *TLSConn {
	g := &Conn{Conn: tc}
	g.init(c.s.set, false)
	if d := c.Domain(); d != "" {
		g.s.domain = d
		g.domain.Store(&d)
	}
	return &TLSConn{Conn: g, tls: tc}
}

// ConnectionState returns the TLS state of the guarded connection.
func (c *TLSConn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// Read reads from the guarded connection, drops the whitespace between
// top-level elements, and returns the bytes up to a violation and then the
// *Error (which every later Read returns again).
func (c *Conn) Read(p []byte) (int, error) {
	if e := c.err.Load(); e != nil {
		return 0, e
	}
	if c.s.passthrough {
		return c.Conn.Read(p)
	}
	for {
		n, err := c.Conn.Read(p)
		m, gerr := c.s.scan(p[:n])
		if gerr != nil {
			c.err.Store(gerr)
			return m, gerr
		}
		if m > 0 || err != nil || len(p) == 0 {
			return m, err
		}
		// Everything read was dropped whitespace: read again rather than
		// return 0, nil.
	}
}

// closeTag is what mellium writes, in one Write, to close a stream.
const closeTag = "</stream:stream>"

// Write writes p to the guarded connection, but for one case: after a
// violation, a Write of exactly the closing stream tag (what mellium's
// Session writes when it closes, after Serve or a session read failed)
// writes the violation's Response instead, the first time, and nothing
// later. mellium v0.23.0 encodes the stream error of a failed read into
// its buffered encoder and writes its closing tag to the connection
// without flushing it, so without this the peer would get no error.
func (c *Conn) Write(p []byte) (int, error) {
	if e := c.err.Load(); e != nil && string(p) == closeTag {
		if !c.answered.CompareAndSwap(false, true) {
			return len(p), nil
		}
		if _, err := c.Conn.Write(e.Response()); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// WriteError writes the Response to the guard's violation, unless there is
// none or it was written already. A host calls it when
// xmpp.ReceiveSession fails with an *Error (mellium writes nothing then),
// on the guard in use at that point (after STARTTLS, the TLS guard).
func (c *Conn) WriteError() error {
	e := c.err.Load()
	if e == nil || !c.answered.CompareAndSwap(false, true) {
		return nil
	}
	_, err := c.Conn.Write(e.Response())
	return err
}

// NetConn returns the guarded connection (for unwrapping, as
// tls.Conn.NetConn does).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// SetAuthenticated switches the guard to the session limits from the next
// top-level element (or stream header) on; call it once the peer has
// authenticated. It also ends the STARTTLS handoff's chance: after it, a
// <starttls/> is an ordinary element.
func (c *Conn) SetAuthenticated() { c.auth.Store(true) }

// Domain returns the canonical served domain named by the stream header
// (RFC 7622 form, as Config.Serves saw it), or "" before a valid header.
func (c *Conn) Domain() string {
	if d := c.domain.Load(); d != nil {
		return *d
	}
	return ""
}

// Err returns the violation the guard found, or nil.
func (c *Conn) Err() error {
	if e := c.err.Load(); e != nil {
		return e
	}
	return nil
}
