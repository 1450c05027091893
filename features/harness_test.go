package features_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/scram"
)

// pki is a test CA with a server certificate for "localhost" and client
// certificates carrying id-on-xmppAddr names.
type pki struct {
	*xmpptest.CA
	server tls.Certificate
}

var getPKIOnce = sync.OnceValue(func() *pki {
	ca := xmpptest.NewCA()
	return &pki{CA: ca, server: ca.Server("localhost")}
})

func getPKI(testing.TB) *pki { return getPKIOnce() }

func (p *pki) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.Pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
}

func (p *pki) clientTLS(version uint16, certs ...tls.Certificate) *tls.Config {
	return p.ClientTLS(version, certs...)
}

// testStore has alice (password "alice-secret") and bob ("bob-secret") with
// credentials for every SCRAM hash.
func testStore(t testing.TB) *scram.MemoryStore {
	store := scram.NewMemoryStore()
	for user, pass := range map[string]string{"alice@localhost": "alice-secret", "bob@localhost": "bob-secret"} {
		if err := store.SetPassword(user, pass, scram.MinIterations, scramHashes...); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// serverResult is the outcome of one server-side session negotiation.
type serverResult = xmpptest.Result

// testServer accepts connections on loopback and negotiates each with
// STARTTLS plus the features under test, like a host would.
type testServer struct {
	addr    string
	results chan serverResult
}

// newAuth is features.New with the test defaults: testStore, no logs, the
// domain localhost and the test certificate.
func newAuth(t testing.TB, cfg features.Config) *features.Server {
	if cfg.Store == nil {
		cfg.Store = testStore(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Domains == nil {
		cfg.Domains = []string{"localhost"}
	}
	cfg.TLSConfig = getPKI(t).serverTLS()
	auth, err := features.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

func newTestServer(t testing.TB, cfg features.Config) *testServer {
	tlsCfg := getPKI(t).serverTLS()
	auth := newAuth(t, cfg)
	srv := &testServer{results: make(chan serverResult, 16)}
	srv.addr = xmpptest.Listen(t, xmpptest.SASLServer(auth, tlsCfg, func(r serverResult) { srv.results <- r }))
	return srv
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

// melliumLogin logs in with mellium's own client features.
func melliumLogin(t testing.TB, addr string, version uint16, user, password string, mechs ...sasl.Mechanism) (*xmpp.Session, error) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	origin := jid.MustParse(user + "@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return xmpp.NewSession(ctx, origin.Domain(), origin, raw, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
			xmpp.StartTLS(getPKI(t).clientTLS(version)),
			xmpp.SASL("", password, mechs...),
			xmpp.BindResource(),
		}}
	}))
}

// rawClient speaks XML by hand, for the cases no well-behaved client
// produces.
type rawClient struct {
	t    testing.TB
	to   string // the stream header's to; "" is localhost
	conn net.Conn
	d    *xml.Decoder
	// features is the inner XML of the last <stream:features/>.
	features string
}

type element struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Inner   string     `xml:",innerxml"`
}

func (e element) String() string {
	return fmt.Sprintf("<%s xmlns=%q>%s</%s>", e.XMLName.Local, e.XMLName.Space, e.Inner, e.XMLName.Local)
}

// dialRaw connects, and negotiates TLS unless tlsCfg is nil.
func dialRaw(t testing.TB, addr string, tlsCfg *tls.Config, from string) *rawClient {
	t.Helper()
	return dialRawTo(t, addr, tlsCfg, "localhost", from)
}

// dialRawTo is dialRaw with streams opened to domain to.
func dialRawTo(t testing.TB, addr string, tlsCfg *tls.Config, to, from string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, to: to}
	c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	c.restart("")
	if tlsCfg == nil {
		return c
	}
	c.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if got := c.next(); got.XMLName.Local != "proceed" {
		t.Fatalf("STARTTLS answered with %v", got)
	}
	tc := tls.Client(conn, tlsCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn = tc
	c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	c.restart(from)
	return c
}

// restart sends a stream header and reads the answer and the features.
func (c *rawClient) restart(from string) {
	c.t.Helper()
	if from != "" {
		from = fmt.Sprintf(" from='%s'", from)
	}
	c.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='` + c.to + `' version='1.0'` + from + `>`)
	c.d = xml.NewDecoder(c.conn)
	for {
		tok, err := c.d.Token()
		if err != nil {
			c.t.Fatalf("reading stream header: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "stream" {
			break
		}
	}
	f := c.next()
	if f.XMLName.Local != "features" {
		c.t.Fatalf("expected features, got %v", f)
	}
	c.features = f.Inner
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads the next element.
func (c *rawClient) next() element {
	c.t.Helper()
	el, err := c.tryNext()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return el
}

func (c *rawClient) tryNext() (element, error) {
	for {
		tok, err := c.d.Token()
		if err != nil {
			return element{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var el element
			err := c.d.DecodeElement(&el, &t)
			return el, err
		case xml.EndElement:
			return element{XMLName: t.Name}, io.EOF
		}
	}
}

// mechanisms lists the advertised SASL mechanisms.
func (c *rawClient) mechanisms() []string {
	var f struct {
		Mechs []string `xml:"mechanisms>mechanism"`
	}
	if err := xml.Unmarshal([]byte("<f>"+c.features+"</f>"), &f); err != nil {
		c.t.Fatal(err)
	}
	return f.Mechs
}

// auth sends <auth/> with the base64 of payload (nil: no initial response).
func (c *rawClient) auth(mechanism string, payload []byte) {
	c.send(fmt.Sprintf(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%s'>%s</auth>`, mechanism, b64(payload)))
}

func (c *rawClient) response(payload []byte) {
	c.send(fmt.Sprintf(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`, b64(payload)))
}

func b64(p []byte) string {
	switch {
	case p == nil:
		return ""
	case len(p) == 0:
		return "="
	}
	return base64.StdEncoding.EncodeToString(p)
}

// condition returns the condition of a <failure/> element, or "" if el is
// not one.
func condition(el element) string {
	if el.XMLName.Local != "failure" {
		return ""
	}
	var f struct {
		Children []struct{ XMLName xml.Name } `xml:",any"`
	}
	_ = xml.Unmarshal([]byte("<f>"+el.Inner+"</f>"), &f)
	for _, ch := range f.Children {
		if ch.XMLName.Local != "text" {
			return ch.XMLName.Local
		}
	}
	return ""
}

func decode64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		t.Fatalf("server sent bad base64 %q: %v", s, err)
	}
	return b
}
