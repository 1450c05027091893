package guard

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// result is what a test host saw on one connection.
type result struct {
	negErr   error  // from xmpp.ReceiveSession
	serveErr error  // from Session.Serve
	sent     []byte // the Response the host wrote, if any
	stanzas  []string
	secure   bool   // the session saw TLS state
	domain   string // the guard's Domain
	unwraps  bool   // the session's conn unwraps (NetConn) to the *tls.Conn
}

// host is a mellium server behind a guard: STARTTLS when tlsCfg is set
// (else the session starts Secure, as SASL requires), SASL PLAIN through
// mellium's SASLServer for alice, resource binding, and a session that
// records the stanzas it gets. It answers a guard violation during
// negotiation with Error.Response.
func host(t *testing.T, tlsCfg *tls.Config) (addr string, results <-chan result) {
	return hostMode(t, tlsCfg, false)
}

// hostMode is host, with direct TLS (XEP-0368) instead of STARTTLS if
// direct.
func hostMode(t *testing.T, tlsCfg *tls.Config, direct bool) (addr string, results <-chan result) {
	t.Helper()
	ch := make(chan result, 1)
	addr = xmpptest.Listen(t, func(conn net.Conn) {
		defer conn.Close()
		ch <- serveConn(conn, tlsCfg, direct)
	})
	return addr, ch
}

func serveConn(conn net.Conn, tlsCfg *tls.Config, direct bool) (res result) {
	var g *Conn
	var rw io.ReadWriter
	if direct {
		tg := NewTLSConn(tls.Server(conn, tlsCfg), testConfig())
		g, rw = tg.Conn, tg
	} else {
		g = NewConn(conn, testConfig(), tlsCfg != nil)
		rw = g
	}
	var cur atomic.Pointer[Conn] // the guard in use
	cur.Store(g)

	starttls := xmpp.StartTLS(tlsCfg)
	negotiateTLS := starttls.Negotiate
	starttls.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiateTLS(ctx, s, data)
		if tc, ok := rw.(*tls.Conn); ok && err == nil {
			tg := g.StartTLS(tc)
			cur.Store(tg.Conn)
			rw = tg
		}
		return mask, rw, err
	}
	auth := xmpp.SASLServer(func(n *sasl.Negotiator) bool {
		user, pass, _ := n.Credentials()
		return string(user) == "alice" && string(pass) == "alice-secret"
	}, sasl.Plain)
	negotiateSASL := auth.Negotiate
	auth.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
		mask, rw, err := negotiateSASL(ctx, s, data)
		if err == nil && mask&xmpp.Authn != 0 {
			cur.Load().SetAuthenticated()
		}
		return mask, rw, err
	}
	bind := xmpp.BindCustom(func(_ jid.JID, res string) (jid.JID, error) {
		if res == "" {
			res = "r"
		}
		return jid.MustParse("alice@localhost").WithResource(res)
	})
	features := []xmpp.StreamFeature{auth, bind}
	var state xmpp.SessionState
	if tlsCfg != nil && !direct {
		features = append([]xmpp.StreamFeature{starttls}, features...)
	} else {
		state = xmpp.Secure
	}

	session, err := xmpp.ReceiveSession(context.Background(), rw, state, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: features}
	}))
	res.negErr = err
	res.domain = cur.Load().Domain()
	if err != nil {
		var gerr *Error
		if errors.As(err, &gerr) {
			// The test host writes the Response itself to compare it
			// with what the client gets; WriteError would do the same.
			res.sent = gerr.Response()
			cur.Load().answered.Store(true)
			_, _ = cur.Load().Conn.Write(res.sent)
			// Closing the failed session adds nothing now.
			_ = session.Close()
		}
		lingerClose(conn)
		return res
	}
	res.secure = session.ConnectionState().Version != 0
	if u, ok := session.Conn().(interface{ NetConn() net.Conn }); ok {
		_, res.unwraps = u.NetConn().(*tls.Conn)
	}
	res.serveErr = session.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		var b bytes.Buffer
		e := xml.NewEncoder(&b)
		if _, err := xmlstream.Copy(e, xmlstream.Wrap(xmlstream.Inner(r), *start)); err != nil {
			return err
		}
		if err := e.Flush(); err != nil {
			return err
		}
		res.stanzas = append(res.stanzas, b.String())
		return nil
	}))
	lingerClose(conn)
	return res
}

// lingerClose half-closes conn and reads what the peer still sends, so
// that closing does not reset the connection before the peer has read
// the answer.
func lingerClose(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, conn)
}

// dial connects to addr, with a deadline that only stops a broken test
// from hanging.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func melliumClient(t *testing.T, conn net.Conn, clientTLS *tls.Config) (*xmpp.Session, error) {
	t.Helper()
	features := []xmpp.StreamFeature{xmpp.SASL("", "alice-secret", sasl.Plain), xmpp.BindResource()}
	var state xmpp.SessionState
	if clientTLS != nil {
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(clientTLS)}, features...)
	} else {
		state = xmpp.Secure
	}
	return xmpp.NewSession(context.Background(), jid.MustParse("localhost"), jid.MustParse("alice@localhost"), conn, state,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: features}
		}))
}

func tlsConfigs() (server, client *tls.Config) {
	ca := xmpptest.NewCA()
	return &tls.Config{Certificates: []tls.Certificate{ca.Server("localhost")}, MinVersion: tls.VersionTLS12},
		ca.ClientTLS(tls.VersionTLS13)
}

func TestMelliumClient(t *testing.T) {
	serverTLS, clientTLS := tlsConfigs()
	for _, tc := range []struct {
		name           string
		server, client *tls.Config
		direct         bool
		body           string
	}{
		{"STARTTLS", serverTLS, clientTLS, false, "hi"},
		{"direct TLS", serverTLS, nil, true, "hi"},
		// The body is larger than the pre-auth limit: the session limits
		// apply after SASL.
		{"plaintext, large stanza", nil, nil, false, strings.Repeat("x", 100<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, results := hostMode(t, tc.server, tc.direct)
			var conn net.Conn = dial(t, addr)
			if tc.direct {
				conn = tls.Client(conn, clientTLS)
			}
			session, err := melliumClient(t, conn, tc.client)
			if err != nil {
				t.Fatalf("client negotiation: %v", err)
			}
			msg := "<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>" + tc.body + "</body></message>"
			if err := session.Send(context.Background(), xml.NewDecoder(strings.NewReader(msg))); err != nil {
				t.Fatal(err)
			}
			if err := session.Close(); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			res := <-results
			if res.negErr != nil || res.serveErr != nil {
				t.Fatalf("server: %v, %v", res.negErr, res.serveErr)
			}
			if len(res.stanzas) != 1 || !strings.Contains(res.stanzas[0], ">"+tc.body+"</body>") {
				t.Errorf("server got %.200q", res.stanzas)
			}
			if res.domain != "localhost" {
				t.Errorf("Domain = %q", res.domain)
			}
			if tc.server != nil && (!res.secure || !res.unwraps) {
				t.Errorf("TLS hidden from the session: ConnectionState seen %v, NetConn to *tls.Conn %v", res.secure, res.unwraps)
			}
		})
	}
}

// rawClient writes literal bytes and reads the server's answers with an
// xml.Decoder, keeping a copy of every byte it read.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	got  bytes.Buffer
	d    *xml.Decoder
}

func newRawClient(t *testing.T, conn net.Conn) *rawClient {
	c := &rawClient{t: t}
	c.use(conn)
	return c
}

func (c *rawClient) use(conn net.Conn) {
	c.conn = conn
	c.d = xml.NewDecoder(io.TeeReader(conn, &c.got))
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// expect reads up to the start of an element named local and, but for the
// stream header, the rest of it.
func (c *rawClient) expect(local string) {
	c.t.Helper()
	for {
		tok, err := c.d.Token()
		if err != nil {
			c.t.Fatalf("waiting for <%s>: %v", local, err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if start.Name.Local == "error" && start.Name.Space == stream.NS {
			c.t.Fatalf("waiting for <%s>: stream error", local)
		}
		if start.Name.Local != "stream" {
			if err := c.d.Skip(); err != nil {
				c.t.Fatal(err)
			}
		}
		if start.Name.Local == local {
			return
		}
	}
}

// rest reads to the end of the connection and returns everything read.
func (c *rawClient) rest() []byte {
	_, _ = io.Copy(&c.got, c.conn)
	return c.got.Bytes()
}

// go-xmpp's bytes (mattn/go-xmpp as in go-sendxmpp 0.5.6): a newline
// after the header and after every element.
const (
	goXMPPHeader   = "<?xml version='1.0'?>\n<stream:stream to='localhost' xmlns='jabber:client'\n xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n"
	goXMPPStartTLS = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n"
)

func goXMPPAuth() string {
	return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-secret")) + "</auth>\n"
}

func TestGoXMPPStyleClient(t *testing.T) {
	serverTLS, clientTLS := tlsConfigs()
	addr, results := host(t, serverTLS)
	c := newRawClient(t, dial(t, addr))
	c.send(goXMPPHeader)
	c.expect("stream")
	c.expect("features")
	c.send(goXMPPStartTLS)
	c.expect("proceed")
	tc := tls.Client(c.conn, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.use(tc)
	c.send(goXMPPHeader)
	c.expect("stream")
	c.expect("features")
	c.send(goXMPPAuth())
	c.expect("success")
	c.send(goXMPPHeader)
	c.expect("stream")
	c.expect("features")
	c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>go</resource></bind></iq>\n")
	c.expect("iq")
	c.send("\n\n<message to='bob@localhost' type='chat' id='m1'><body>hi</body></message>\n \n")
	c.send("</stream:stream>\n")
	c.rest()
	c.conn.Close()
	res := <-results
	if res.negErr != nil || res.serveErr != nil {
		t.Fatalf("server: %v, %v", res.negErr, res.serveErr)
	}
	if len(res.stanzas) != 1 || !strings.Contains(res.stanzas[0], ">hi</body>") {
		t.Errorf("server got %q", res.stanzas)
	}
	if !res.secure {
		t.Error("no TLS state in the session")
	}
}

// TestMelliumErrors has mellium's server meet violations during
// negotiation: ReceiveSession's error is the guard's *Error, and the client
// gets exactly the Response the host writes after what mellium sent.
func TestMelliumErrors(t *testing.T) {
	const sasl = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
	tests := []struct {
		name   string
		header string // "" for go-xmpp's
		then   string // sent after the server's features
		cond   stream.Error
		inHdr  bool
	}{
		{"host unknown", "<stream:stream to='trusted-bank.example' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", "", stream.HostUnknown, true},
		{"wrong stream namespace", "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://wrong.example/' version='1.0'>", "", stream.InvalidNamespace, true},
		{"jabber:server on c2s", "<stream:stream to='localhost' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", "", stream.InvalidNamespace, true},
		{"version 2.0", "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='2.0'>", "", stream.UnsupportedVersion, true},
		{"to twice", "<stream:stream to='localhost' to='trusted-bank.example' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", "", stream.NotWellFormed, true},
		{"duplicate attribute during SASL", "", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN' mechanism='X'>=</auth>", stream.NotWellFormed, false},
		{"80,000 nested elements after auth", "", sasl + nest(80000), stream.PolicyViolation, false},
		{"comment during SASL", "", "<!-- x -->", stream.RestrictedXML, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, results := host(t, nil)
			c := newRawClient(t, dial(t, addr))
			if tc.header == "" {
				c.send(goXMPPHeader)
				c.expect("stream")
				c.expect("features")
			} else {
				c.send(tc.header)
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				// The server stops reading at the violation: the rest may
				// not be written.
				_, _ = io.WriteString(c.conn, tc.then)
			}()
			got := c.rest()
			c.conn.Close()
			wg.Wait()
			res := <-results
			var gerr *Error
			if !errors.As(res.negErr, &gerr) {
				t.Fatalf("ReceiveSession: %v, want a *guard.Error", res.negErr)
			}
			if !errors.Is(res.negErr, tc.cond) || gerr.Header != tc.inHdr {
				t.Errorf("error %v (header %v), want %v (header %v)", gerr, gerr.Header, tc.cond.Err, tc.inHdr)
			}
			if tc.inHdr && !bytes.Equal(got, res.sent) || !bytes.HasSuffix(got, res.sent) {
				t.Errorf("client got %q\nhost sent %q", got, res.sent)
			}
			// What the client got parses as a stream with this error.
			if se := streamError(t, got); se.Err != tc.cond.Err || len(se.Text) != 1 || se.Text[0].Lang != "en" {
				t.Errorf("client parsed %+v", se)
			}
		})
	}
}

// streamError decodes the stream error in a server's output.
func streamError(t *testing.T, b []byte) stream.Error {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("no stream error in %q: %v", b, err)
		}
		if start, ok := tok.(xml.StartElement); ok && start.Name.Local == "error" && start.Name.Space == stream.NS {
			var se stream.Error
			if err := d.DecodeElement(&se, &start); err != nil {
				t.Fatal(err)
			}
			return se
		}
	}
}

// TestMelliumSessionErrors has violations arrive once the session is
// ready: Session.Serve returns the *Error and mellium itself sends the
// stream error (it unwraps to a stream.Error).
func TestMelliumSessionErrors(t *testing.T) {
	tests := []struct {
		name, stanza string
		cond         stream.Error
	}{
		{"the attacker's message", "<message to='localhost' from='x' from='bob@localhost' type='normal'><body>ID OK</body></message>", stream.NotWellFormed},
		{"prefixes to one namespace", "<message xmlns:a='urn:x' xmlns:b='urn:x' a:to='x' b:to='y'/>", stream.NotWellFormed},
		{"text in the stream root", "hello", stream.BadFormat},
		{"stanza too large", "<message><body>" + strings.Repeat("x", 256<<10) + "</body></message>", stream.PolicyViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, results := host(t, nil)
			c := newRawClient(t, dial(t, addr))
			c.send(goXMPPHeader)
			c.expect("stream")
			c.expect("features")
			c.send(goXMPPAuth())
			c.expect("success")
			c.send(goXMPPHeader)
			c.expect("stream")
			c.expect("features")
			c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\n")
			c.expect("iq")
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.WriteString(c.conn, "<presence/>\n"+tc.stanza) }()
			got := c.rest()
			c.conn.Close()
			wg.Wait()
			res := <-results
			if res.negErr != nil {
				t.Fatal(res.negErr)
			}
			var gerr *Error
			if !errors.As(res.serveErr, &gerr) || !errors.Is(res.serveErr, tc.cond) {
				t.Fatalf("Serve: %v, want a *guard.Error %v", res.serveErr, tc.cond.Err)
			}
			if len(res.stanzas) != 1 || !strings.HasPrefix(res.stanzas[0], "<presence") {
				t.Errorf("stanzas %q, want the presence only", res.stanzas)
			}
			if se := streamError(t, got); se.Err != tc.cond.Err || len(se.Text) != 1 || se.Text[0].Value != gerr.Condition.Text[0].Value {
				t.Errorf("client parsed %+v, want %v", se, gerr)
			}
			// One stream error, then the closing tag (mellium's own
			// encoding of the error never reaches the peer: see
			// Conn.Write).
			if !bytes.HasSuffix(got, gerr.Response()) || bytes.Count(got, []byte("</stream:error>")) != 1 {
				t.Errorf("client got %q\nwant it to end with %q", got, gerr.Response())
			}
		})
	}
}
