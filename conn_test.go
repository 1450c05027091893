package xmppauth_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

const (
	streamNS = `xmlns:stream='http://etherx.jabber.org/streams'`
	header   = `<stream:stream xmlns='jabber:client' ` + streamNS + ` to='localhost' version='1.0'>`
)

// exchange writes each of sends on conn, then reads everything the server
// sends until it closes the connection, and returns that.
func exchange(t *testing.T, conn net.Conn, sends ...string) string {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, s := range sends {
		if _, err := io.WriteString(conn, s); err != nil {
			break // the server may close before reading everything
		}
	}
	b, _ := io.ReadAll(conn)
	return string(b)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// The stream guard answers a bad stream header with the right stream error
// and the server's own header first (RFC 6120 §4.9.1.2), where mellium
// would close silently, and refuses a domain it does not serve before any
// feature.
func TestStreamHeaderErrors(t *testing.T) {
	_, addr := startPlugin(t, baseConfig(t))
	for _, tc := range []struct {
		name, header, want string
	}{
		{"domain not served", `<stream:stream xmlns='jabber:client' ` + streamNS + ` to='trusted-bank.example' version='1.0'>`, "host-unknown"},
		{"wrong stream namespace", `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams2' to='localhost' version='1.0'>`, "invalid-namespace"},
		{"jabber:server on the client port", `<stream:stream xmlns='jabber:server' ` + streamNS + ` to='localhost' version='1.0'>`, "invalid-namespace"},
		{"version 2.0", `<stream:stream xmlns='jabber:client' ` + streamNS + ` to='localhost' version='2.0'>`, "unsupported-version"},
		{"to twice", `<stream:stream xmlns='jabber:client' ` + streamNS + ` to='localhost' to='evil.example' version='1.0'>`, "not-well-formed"},
		{"8000 namespace declarations", `<stream:stream xmlns='jabber:client' ` + streamNS + ` to='localhost' version='1.0'` + nsFlood(8000) + `>`, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, dial(t, addr), `<?xml version='1.0'?>`+tc.header)
			if !strings.HasPrefix(got, "<?xml") && !strings.HasPrefix(got, "<stream:stream") {
				t.Errorf("no server stream header first: %q", got)
			}
			if !strings.Contains(got, "<"+tc.want+" xmlns='urn:ietf:params:xml:ns:xmpp-streams'") &&
				!strings.Contains(got, "<"+tc.want+" xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"") {
				t.Errorf("got %q, want <%s/>", got, tc.want)
			}
			if strings.Contains(got, "<stream:features") || strings.Contains(got, "<features") {
				t.Errorf("features offered: %q", got)
			}
			if !strings.HasSuffix(got, "</stream:stream>") {
				t.Errorf("stream not closed: %q", got)
			}
		})
	}
}

func nsFlood(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" xmlns:p" + strconv.Itoa(i) + "='urn:x'")
	}
	return b.String()
}

func attrFlood(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a" + strconv.Itoa(i) + "='1'")
	}
	return b.String()
}

func newDecoder(r io.Reader) *xml.Decoder { return xml.NewDecoder(r) }

// readUntil reads up to the next element named local and returns its inner
// XML.
func readUntil(t *testing.T, d *xml.Decoder, local string) string {
	t.Helper()
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("waiting for <%s/>: %v", local, err)
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == local {
			if local == "stream" {
				return ""
			}
			var el struct {
				Inner string `xml:",innerxml"`
			}
			if err := d.DecodeElement(&el, &s); err != nil {
				t.Fatal(err)
			}
			return el.Inner
		}
	}
}

// tlsStream negotiates STARTTLS by hand and returns the TLS connection, with
// the post-TLS stream header sent and the features read.
func tlsStream(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	conn, d, _ := rawTLS(t, addr)
	_ = d
	return conn.(*tls.Conn)
}

// Before authentication the guard bounds what a client may send and refuses
// malformed XML that encoding/xml would accept, with a stream error, the
// moment it crosses the line: a deep nesting after <auth> (80,000 levels made
// the server hold 10-15 MB per connection), a duplicate attribute, a huge
// element.
func TestPreAuthLimits(t *testing.T) {
	cfg := baseConfig(t)
	var logs xmpptest.LogBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, addr := startPlugin(t, cfg)
	auth := `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`
	for _, tc := range []struct {
		name, send, want string
	}{
		{"80000 nested elements", auth + strings.Repeat("<a>", 80000), "policy-violation"},
		{"duplicate attribute", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN' mechanism='SCRAM-SHA-1'>`, "not-well-formed"},
		{"attribute flood", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'` + attrFlood(100) + `>`, "policy-violation"},
		{"100 KB of text", auth + strings.Repeat("A", 100<<10), "policy-violation"},
		{"comment", `<!-- hello -->`, "restricted-xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exchange(t, tlsStream(t, addr), tc.send)
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want <%s/>", got, tc.want)
			}
		})
	}
	// The operator sees each (rate-limited, see internal/floodlog).
	if n := strings.Count(logs.String(), `msg="stream closed by the guard" ip=127.0.0.1`); n != 5 {
		t.Errorf("%d guard log lines, want 5:\n%s", n, logs.String())
	}
}

// After login, a stanza with a duplicate from (alice's attempt to answer a
// confirmation as bob) ends the stream with <not-well-formed/> before the
// host's handlers ever see it, and an oversized stanza with
// <policy-violation/>.
func TestSessionGuard(t *testing.T) {
	cfg := baseConfig(t)
	cfg.Stream.Session.MaxBytes = 4096
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// A host with its own read loop (Session.Serve would close the stream
	// itself and, in mellium v0.23.0, lose the error).
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		c := p.Accept(raw)
		session, err := c.Negotiate(t.Context())
		if err != nil {
			return
		}
		r := session.TokenReader()
		for err == nil {
			_, err = r.Token()
		}
		r.Close()
		_ = c.Close(session, err)
	})
	for _, tc := range []struct {
		name, send, want string
	}{
		{"duplicate from", `<message to='localhost' from='x' from='bob@localhost' type='normal'><body>ID OK</body></message>`, "not-well-formed"},
		{"stanza over the limit", `<message to='localhost'><body>` + strings.Repeat("x", 5000) + `</body></message>`, "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := loggedIn(t, addr)
			got := exchange(t, conn, tc.send)
			if !strings.Contains(got, tc.want) || !strings.HasSuffix(got, "</stream:stream>") {
				t.Errorf("got %q, want <%s/> and the closing tag", got, tc.want)
			}
		})
	}
}

// loggedIn logs in as alice with PLAIN and binds alice@localhost/test, by
// hand.
func loggedIn(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, d, _ := rawTLS(t, addr)
	io.WriteString(conn, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`+
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-secret"))+`</auth>`)
	readUntil(t, d, "success")
	io.WriteString(conn, header)
	readUntil(t, d, "features")
	io.WriteString(conn, `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>test</resource></bind></iq>`)
	readUntil(t, d, "iq")
	return conn
}

// go-xmpp (go-sendxmpp) writes a newline after its stream header and after
// each element; mellium alone fails on it, the guard drops it.
func TestWhitespaceBetweenElements(t *testing.T) {
	_, addr := startPlugin(t, baseConfig(t))
	conn := dial(t, addr)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "<?xml version='1.0'?>\n"+header+"\n")
	d := newDecoder(conn)
	readUntil(t, d, "features")
	io.WriteString(conn, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n")
	readUntil(t, d, "proceed")
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	io.WriteString(tc, header+"\n")
	d = newDecoder(tc)
	readUntil(t, d, "features")
	io.WriteString(tc, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-secret"))+"</auth>\n")
	readUntil(t, d, "success")
	io.WriteString(tc, header+"\n")
	readUntil(t, d, "features")
	io.WriteString(tc, "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>go-xmpp</resource></bind></iq>\n")
	if got := readUntil(t, d, "iq"); !strings.Contains(got, "alice@localhost/go-xmpp") {
		t.Fatalf("bind: %s", got)
	}
}

// Direct TLS (XEP-0368): no STARTTLS, -PLUS and the pseudomechanisms from the
// first stream, ALPN xmpp-client.
func TestDirectTLS(t *testing.T) {
	p, err := xmppauth.New(baseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		c, err := p.AcceptTLS(raw)
		if err != nil {
			raw.Close()
			return
		}
		if s, err := c.Negotiate(t.Context()); err == nil {
			_ = c.Close(s, nil)
		}
	})
	raw := dial(t, addr)
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"xmpp-client"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != "xmpp-client" {
		t.Errorf("ALPN %q", got)
	}
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, header)
	f := readUntil(t, newDecoder(tc), "features")
	if strings.Contains(f, "starttls") || !strings.Contains(f, "SCRAM-SHA-256-PLUS:tls-exporter") {
		t.Errorf("features on direct TLS: %s", f)
	}
}

// A host's read loop on ReadStanza: a top-level element that is not a
// stanza ends the stream with <unsupported-stanza-type/> (the error
// ReadStanza returns is the stream error Close sends), and a session that
// ends makes the XEP-0070 confirmation it was asked for fail at once
// (Close tells the verifier) instead of at the timeout.
func TestReadStanzaLoop(t *testing.T) {
	asked := make(chan *xmppauth.Stanza, 1)
	cfg := baseConfig(t)
	cfg.EnableHTTPAuth = true
	cfg.HTTPAuth.BaseURL = "http://localhost"
	cfg.HTTPAuth.Timeout = config.Duration(time.Minute)
	cfg.HTTPAuth.Sender = xmppauth.RouterSender(func(_ context.Context, st *xmppauth.Stanza) error {
		asked <- st
		return nil
	})
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		c := p.Accept(raw)
		session, err := c.Negotiate(t.Context())
		if err != nil {
			return
		}
		for err == nil {
			var st *xmppauth.Stanza
			if st, err = c.ReadStanza(session); err == nil {
				p.HandleStanza(st)
			}
		}
		_ = c.Close(session, err)
	})

	conn := loggedIn(t, addr)
	if got := exchange(t, conn, `<foo xmlns='jabber:client'/>`); !strings.Contains(got, "unsupported-stanza-type") ||
		!strings.HasSuffix(got, "</stream:stream>") {
		t.Errorf("got %q, want <unsupported-stanza-type/> and the closing tag", got)
	}

	conn = loggedIn(t, addr)
	done := make(chan error, 1)
	go func() {
		_, err := p.HTTPAuth().Check(basicRequest("alice@localhost/test", "tx-ends"))
		done <- err
	}()
	<-asked
	conn.Close()
	var o *httpauth.Outcome
	select {
	case err := <-done:
		if !errors.As(err, &o) || o.Reason != httpauth.SessionEnded {
			t.Fatalf("request after the session ended: %v, want Reason SessionEnded", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the request still waits after the session ended")
	}
}

// A negotiation cut off by Config.NegotiateTimeout says so, rather than
// only that mellium's read hit a closed connection.
func TestNegotiateTimeoutError(t *testing.T) {
	cfg := baseConfig(t)
	cfg.NegotiateTimeout = config.Duration(200 * time.Millisecond)
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		_, err := p.Accept(raw).Negotiate(t.Context())
		errs <- err
	})
	conn := dial(t, addr)
	defer conn.Close()
	io.WriteString(conn, header) // then nothing
	select {
	case err := <-errs:
		if err == nil || !strings.Contains(err.Error(), "negotiation timed out") {
			t.Fatalf("Negotiate: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Negotiate did not time out")
	}
}
