package saslclient_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/saslclient"
	"github.com/xmppauth/xmppauth/scram"
)

// pki is a test CA with a server certificate for "localhost" and a second
// one (for the man in the middle) from the same CA.
type pki struct {
	*xmpptest.CA
	server tls.Certificate
	relay  tls.Certificate
}

var getPKI = sync.OnceValue(func() *pki {
	ca := xmpptest.NewCA()
	return &pki{CA: ca, server: ca.Server("server"), relay: ca.Server("relay")}
})

func (p *pki) serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

func (p *pki) clientTLS(version uint16) *tls.Config {
	return p.ClientTLS(version)
}

var scramHashes = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512}

const (
	alicePassword = "alice-secret"
)

var (
	storeOnce   sync.Once
	sharedStore *scram.MemoryStore
)

// testStore has alice with credentials for every SCRAM hash (derived once
// per test binary: PBKDF2 is the slow part).
func testStore(t testing.TB) *scram.MemoryStore {
	storeOnce.Do(func() {
		sharedStore = scram.NewMemoryStore()
		if err := sharedStore.SetPassword("alice@localhost", alicePassword, scram.MinIterations, scramHashes...); err != nil {
			panic(err)
		}
	})
	return sharedStore
}

// serverResult is the outcome of one server-side session negotiation.
type serverResult = xmpptest.Result

// testServer accepts connections on loopback and negotiates each with
// STARTTLS plus the server features, like a host would.
type testServer struct {
	addr    string
	results chan serverResult
}

func newTestServer(t testing.TB, cfg features.Config) *testServer {
	srv, stop, err := startServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return srv
}

// startServer starts a testServer; stop closes the listener and waits for
// every connection goroutine.
func startServer(cfg features.Config) (srv *testServer, stop func(), err error) {
	p := getPKI()
	if cfg.Store == nil {
		cfg.Store = testStore(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Domains == nil {
		cfg.Domains = []string{"localhost"}
	}
	tlsCfg := p.serverTLS(p.server)
	cfg.TLSConfig = tlsCfg
	auth, err := features.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	srv = &testServer{results: make(chan serverResult, 64)}
	srv.addr, stop, err = xmpptest.Serve(xmpptest.SASLServer(auth, tlsCfg, func(r serverResult) {
		select {
		case srv.results <- r:
		default: // nobody is reading (benchmarks, examples)
		}
	}))
	return srv, stop, err
}

func (s *testServer) result(t testing.TB) serverResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("server never finished negotiating")
		return serverResult{}
	}
}

// loginOpts tunes login.
type loginOpts struct {
	sasl1   bool // DisableSASL2: RFC 6120 SASL only
	version uint16
	teeOut  io.Writer // copy of what the client writes (plaintext)
	conn    func(net.Conn) net.Conn
}

// login connects to addr and logs in as alice with this package's client.
func login(t testing.TB, addr string, cfg saslclient.Config, o loginOpts) (*saslclient.Client, *xmpp.Session, error) {
	t.Helper()
	if cfg.Password == "" && cfg.FAST.Tokens == nil {
		cfg.Password = alicePassword
	}
	if o.version == 0 {
		o.version = tls.VersionTLS13
	}
	cfg.DisableSASL2 = cfg.DisableSASL2 || o.sasl1
	c, err := saslclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	var conn net.Conn = raw
	if o.conn != nil {
		conn = o.conn(raw)
	}
	origin := jid.MustParse("alice@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tlsCfg := getPKI().clientTLS(o.version)
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0, c.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{
			Features: append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, append(c.Features(), xmpp.BindResource())...),
			TeeOut:   o.teeOut,
		}
	}))
	if err != nil {
		// mellium leaves the connection open; the server would wait for
		// another attempt.
		raw.Close()
		return c, nil, err
	}
	t.Cleanup(func() { session.Close() })
	return c, session, err
}

// relay is a TLS man in the middle: it speaks XMPP up to STARTTLS with the
// client (presenting its own certificate from the CA the client trusts),
// does the same towards the server, and then pipes the plaintext, letting
// rewrite functions change it.
type relay struct {
	addr string
}

// rewriter turns buffered plaintext into what to forward now and what to
// keep for later (an element that is not complete yet).
type rewriter func(pending []byte) (forward, keep []byte)

func newRelay(t testing.TB, serverAddr string, version uint16, c2s, s2c rewriter) *relay {
	p := getPKI()
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(20 * time.Second))
		clientSide, err := relayAcceptTLS(raw, p.serverTLS(p.relay))
		if err != nil {
			t.Logf("relay: client leg: %v", err)
			return
		}
		upstream, err := net.Dial("tcp", serverAddr)
		if err != nil {
			t.Logf("relay: dial: %v", err)
			return
		}
		defer upstream.Close()
		upstream.SetDeadline(time.Now().Add(20 * time.Second))
		serverSide, err := relayDialTLS(upstream, p.clientTLS(version))
		if err != nil {
			t.Logf("relay: server leg: %v", err)
			return
		}
		var pipes sync.WaitGroup
		pipes.Add(2)
		go func() { defer pipes.Done(); pipe(serverSide, clientSide, c2s) }()
		go func() { defer pipes.Done(); pipe(clientSide, serverSide, s2c) }()
		pipes.Wait()
	})
	return &relay{addr: addr}
}

const streamHeader = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'`

// relayAcceptTLS plays the server up to STARTTLS.
func relayAcceptTLS(raw net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	d := xml.NewDecoder(raw)
	if err := readUntil(d, "stream", false); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(raw, streamHeader+` id='relay' from='localhost'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`); err != nil {
		return nil, err
	}
	if err := readUntil(d, "starttls", false); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(raw, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
		return nil, err
	}
	tc := tls.Server(raw, cfg)
	return tc, tc.Handshake()
}

// relayDialTLS plays the client up to STARTTLS.
func relayDialTLS(raw net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	if _, err := io.WriteString(raw, streamHeader+` to='localhost'>`); err != nil {
		return nil, err
	}
	d := xml.NewDecoder(raw)
	if err := readUntil(d, "features", true); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(raw, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`); err != nil {
		return nil, err
	}
	if err := readUntil(d, "proceed", false); err != nil {
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	return tc, tc.Handshake()
}

// readUntil reads tokens until the start (or, with end, the end) of an
// element with the local name.
func readUntil(d *xml.Decoder, local string, end bool) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !end && t.Name.Local == local {
				return nil
			}
		case xml.EndElement:
			if end && t.Name.Local == local {
				return nil
			}
		}
	}
}

// pipe copies src to dst through rw until either side fails, then closes
// both.
func pipe(dst, src net.Conn, rw rewriter) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			var out []byte
			if rw == nil {
				out, pending = pending, nil
			} else {
				out, pending = rw(pending)
			}
			if len(out) > 0 {
				if _, werr := dst.Write(out); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

var (
	plusMechanism = regexp.MustCompile(`<mechanism>[^<]*-PLUS[^<]*</mechanism>`)
	cbCapability  = regexp.MustCompile(`<sasl-channel-binding[^>]*>.*?</sasl-channel-binding>`)
	authElement   = regexp.MustCompile(`(<auth [^>]*>)([^<]*)(</auth>)`)
	initialResp   = regexp.MustCompile(`(<initial-response[^>]*>)([^<]*)(</initial-response>)`)
)

// holdFeatures keeps an incomplete features list (and an incomplete <auth>)
// until its end arrives, then applies f to everything buffered.
func holdUntilComplete(f func([]byte) []byte) rewriter {
	return func(pending []byte) ([]byte, []byte) {
		if incomplete(pending, "features") || incomplete(pending, "auth") || incomplete(pending, "authenticate") {
			return nil, pending
		}
		return f(pending), nil
	}
}

func incomplete(b []byte, local string) bool {
	for _, prefix := range []string{"<stream:", "<"} {
		i := lastStartTag(b, prefix+local)
		if i < 0 {
			continue
		}
		rest := b[i:]
		switch {
		case bytes.IndexByte(rest, '>') < 0:
			return true
		case selfClosed(rest):
			return false
		}
		return !bytes.Contains(rest, []byte("</"+prefix[1:]+local+">"))
	}
	return false
}

// lastStartTag is the index of the last "<name" in b that is followed by
// the end of the name (so "<auth" does not find "<authenticate"), or -1.
func lastStartTag(b []byte, tag string) int {
	for end := len(b); ; {
		i := bytes.LastIndex(b[:end], []byte(tag))
		if i < 0 {
			return -1
		}
		if j := i + len(tag); j == len(b) || bytes.IndexByte([]byte(" \t\r\n/>"), b[j]) >= 0 {
			return i
		}
		end = i
	}
}

// selfClosed reports whether the start tag at the beginning of b ends with
// "/>".
func selfClosed(b []byte) bool {
	i := bytes.IndexByte(b, '>')
	return i > 0 && b[i-1] == '/'
}

// stripPlus removes every -PLUS mechanism and, if cb, the XEP-0440 element.
func stripPlus(cb bool) rewriter {
	return holdUntilComplete(func(b []byte) []byte {
		b = plusMechanism.ReplaceAll(b, nil)
		if cb {
			b = cbCapability.ReplaceAll(b, nil)
		}
		return b
	})
}

// flagYToN rewrites the GS2 flag "y" of client-first (in <auth/> or in a
// SASL2 <initial-response/>) to "n", as an attacker who stripped -PLUS must
// do to get past the server's check of "y".
func flagYToN() rewriter {
	return holdUntilComplete(func(b []byte) []byte {
		for _, re := range []*regexp.Regexp{authElement, initialResp} {
			b = re.ReplaceAllFunc(b, func(m []byte) []byte {
				parts := re.FindSubmatch(m)
				payload, err := base64.StdEncoding.DecodeString(string(parts[2]))
				if err != nil || !bytes.HasPrefix(payload, []byte("y,")) {
					return m
				}
				payload[0] = 'n'
				return bytes.Join([][]byte{parts[1], []byte(base64.StdEncoding.EncodeToString(payload)), parts[3]}, nil)
			})
		}
		return b
	})
}

// profiles are the two SASL profiles every end-to-end test runs over.
var profiles = []struct {
	name  string
	sasl2 bool
}{{"SASL", false}, {"SASL2", true}}

// triggerWriter calls f once when what is written contains trigger.
type triggerWriter struct {
	once    sync.Once
	trigger []byte
	f       func()
}

func (w *triggerWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, w.trigger) {
		w.once.Do(w.f)
	}
	return len(p), nil
}

var _ = errors.Is
