package xmppauth_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/disco"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/scram"
)

var (
	certOnce sync.Once
	testCert tls.Certificate
)

func cert() tls.Certificate {
	certOnce.Do(func() { testCert = xmpptest.NewCA().Server("localhost") })
	return testCert
}

// baseConfig is the zero Config plus what a host must provide.
func baseConfig(t testing.TB) xmppauth.Config {
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice@localhost", "alice-secret", scram.MinIterations, crypto.SHA1, crypto.SHA256, crypto.SHA512); err != nil {
		t.Fatal(err)
	}
	return xmppauth.Config{
		Domains:   []string{"localhost"},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert()}, MinVersion: tls.VersionTLS12},
		Logger:    slog.New(slog.DiscardHandler),
		SASL:      features.Config{Store: store},
	}
}

// opIQ is an IQ payload of the host's own, which the host protects with
// XEP-0235 through the plugin.
var opIQ = xml.Name{Space: "urn:example:op", Local: "op"}

// startPlugin runs a minimal host: STARTTLS + the plugin's features, then a
// mux with mellium's disco, the plugin's options and one OAuth-wrapped IQ
// handler of the host's own that answers <granted/> or <anonymous/>.
func startPlugin(t testing.TB, cfg xmppauth.Config) (*xmppauth.Plugin, string) {
	t.Helper()
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		conn := p.Accept(raw)
		session, err := conn.Negotiate(context.Background())
		if err != nil {
			return
		}
		opts := append(p.MuxOptions(), mdisco.Handle(),
			mux.IQ(stanza.SetIQ, opIQ, p.OAuthIQ(session, hostHandler{})))
		_ = conn.Close(session, session.Serve(mux.New(stanza.NSClient, opts...)))
	})
	return p, addr
}

// hostHandler answers with whether XEP-0235 granted the request.
type hostHandler struct{}

func (hostHandler) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	answer := "anonymous"
	if g, ok := oauth.GrantFrom(t); ok {
		answer = "granted-" + g.ConsumerKey
	}
	_, err := xmlstream.Copy(t, iq.Result(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: opIQ.Space, Local: answer}})))
	return err
}

// rawTLS connects, negotiates STARTTLS by hand and returns the connection,
// a decoder on it, and the stream features offered after TLS.
func rawTLS(t testing.TB, addr string) (net.Conn, *xml.Decoder, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	header := `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`
	next := func(d *xml.Decoder, local string) string {
		for {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("waiting for <%s/>: %v", local, err)
			}
			if s, ok := tok.(xml.StartElement); ok && s.Name.Local == local {
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
	io.WriteString(conn, header)
	d := xml.NewDecoder(conn)
	next(d, "features")
	io.WriteString(conn, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	next(d, "proceed")
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	io.WriteString(tc, header)
	d = xml.NewDecoder(tc)
	return tc, d, next(d, "features")
}

func features_(t testing.TB, addr string) string {
	_, _, f := rawTLS(t, addr)
	return f
}

// scramFirst starts SCRAM-SHA-256 as alice and returns the server-first
// message.
func scramFirst(t testing.TB, addr string) string {
	return scramFirstAs(t, addr, "alice")
}

// scramFirstAs starts SCRAM-SHA-256 as user and returns the server-first
// message.
func scramFirstAs(t testing.TB, addr, user string) string {
	conn, d, _ := rawTLS(t, addr)
	io.WriteString(conn, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>`+
		base64.StdEncoding.EncodeToString([]byte("n,,n="+user+",r=0123456789abcdef"))+`</auth>`)
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			var el struct {
				Text string `xml:",chardata"`
			}
			if err := d.DecodeElement(&el, &s); err != nil || s.Name.Local != "challenge" {
				t.Fatalf("got <%s>%s (%v)", s.Name.Local, el.Text, err)
			}
			b, err := base64.StdEncoding.DecodeString(el.Text)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

func login(t testing.TB, addr string) *xmpp.Session {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(cert().Leaf)
	alice := jid.MustParse("alice@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := xmpp.NewSession(ctx, alice.Domain(), alice, raw, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
			xmpp.StartTLS(&tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13}),
			xmpp.SASL("", "alice-secret", sasl.ScramSha256Plus),
			xmpp.BindResource(),
		}}
	}))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(nil)
	t.Cleanup(func() { s.Close() })
	return s
}

func mechanisms(t testing.TB, featureXML string) []string {
	var f struct {
		Mechs []string `xml:"mechanisms>mechanism"`
	}
	if err := xml.Unmarshal([]byte("<f>"+featureXML+"</f>"), &f); err != nil {
		t.Fatal(err)
	}
	return f.Mechs
}

func TestSASLToggles(t *testing.T) {
	tests := []struct {
		name   string
		config func(*xmppauth.Config)
		want   []string
		xep440 bool
	}{{
		name:   "zero value",
		config: func(*xmppauth.Config) {},
		want: []string{
			"SCRAM-SHA-512-PLUS", "SCRAM-SHA-512-PLUS:tls-exporter", "SCRAM-SHA-512-PLUS:tls-server-end-point",
			"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-SHA-256-PLUS:tls-server-end-point",
			"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1-PLUS:tls-exporter", "SCRAM-SHA-1-PLUS:tls-server-end-point",
			"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
		},
		xep440: true,
	}, {
		name: "mechanisms, pseudomechanisms off, XEP-0440 off, PLAIN off",
		config: func(c *xmppauth.Config) {
			c.SASL.Mechanisms = []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"}
			c.SASL.DisablePseudomechanisms = true
			c.SASL.DisableChannelBindingCapability = true
			c.SASL.DisablePLAIN = true
		},
		want: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"},
	}, {
		name: "channel-binding types",
		config: func(c *xmppauth.Config) {
			c.SASL.Mechanisms = []string{"SCRAM-SHA-1-PLUS"}
			c.SASL.ChannelBindingTypes = []cbind.Type{cbind.TLSExporter}
		},
		want:   []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1-PLUS:tls-exporter"},
		xep440: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t)
			tc.config(&cfg)
			_, addr := startPlugin(t, cfg)
			fx := features_(t, addr)
			if got := mechanisms(t, fx); !slices.Equal(got, tc.want) {
				t.Errorf("mechanisms\n got %q\nwant %q", got, tc.want)
			}
			if got := strings.Contains(fx, cbind.NS); got != tc.xep440 {
				t.Errorf("XEP-0440 listed = %v, want %v", got, tc.xep440)
			}
		})
	}
}

func TestDowngradeProtectionToggle(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("disabled=", disable), func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.SASL.DisableDowngradeProtection = disable
			_, addr := startPlugin(t, cfg)
			first := scramFirst(t, addr)
			if got := strings.Contains(first, ",h="); got == disable {
				t.Errorf("server-first %q: h= present = %v with DisableDowngradeProtection=%v", first, got, disable)
			}
		})
	}
}

// TestFeatureToggles logs a real mellium client in and checks, per toggle,
// the disco#info answer, the HTTP middleware and the OAuth middleware.
func TestFeatureToggles(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("enabled=", on), func(t *testing.T) {
			cfg := baseConfig(t)
			cfg.EnableHTTPAuth, cfg.EnableOAuth = on, on
			cfg.HTTPAuth.Sender = senderFunc(func(context.Context, xml.TokenReader) error { return nil })
			cfg.HTTPAuth.BaseURL = "http://localhost"
			tokens := oauth.NewMemoryTokens()
			cfg.OAuth.Consumers = oauth.MemoryConsumers{"app": "app-secret"}
			cfg.OAuth.Tokens = tokens
			p, addr := startPlugin(t, cfg)

			// disco#info from a logged-in client.
			client := login(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			info, err := mdisco.GetInfo(ctx, "", jid.MustParse("localhost"), client)
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, f := range info.Features {
				if f.Var == disco.NSHTTPAuth || f.Var == disco.NSOAuth {
					listed = append(listed, f.Var)
				}
			}
			if want := map[bool]int{false: 0, true: 2}[on]; len(listed) != want {
				t.Errorf("disco lists %q, want %d of ours", listed, want)
			}

			// HTTP: 401 challenge when on; fail closed (503) when off.
			rec := httptest.NewRecorder()
			p.HTTPMiddleware(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/secret", nil))
			wantStatus := map[bool]int{false: http.StatusServiceUnavailable, true: http.StatusUnauthorized}[on]
			if rec.Code != wantStatus {
				t.Errorf("HTTP status %d, want %d", rec.Code, wantStatus)
			}
			if on && !strings.Contains(strings.Join(rec.Header().Values("WWW-Authenticate"), "\n"), `realm="xmpp"`) {
				t.Errorf("challenge %q lacks realm=\"xmpp\"", rec.Header().Values("WWW-Authenticate"))
			}

			// OAuth: an unsigned request to the protected handler is refused
			// with token-required when on; when off the handler runs and
			// sees no grant.
			resp, err := client.SendIQElement(ctx, xmlstream.Wrap(nil, xml.StartElement{Name: opIQ}),
				stanza.IQ{Type: stanza.SetIQ, To: jid.MustParse("localhost")})
			if err != nil {
				t.Fatal(err)
			}
			body, err := xmlstream.ReadAll(resp)
			resp.Close()
			if err != nil {
				t.Fatal(err)
			}
			var buf strings.Builder
			enc := xml.NewEncoder(&buf)
			for _, tok := range body {
				enc.EncodeToken(tok)
			}
			enc.Flush()
			got := buf.String()
			if on && !strings.Contains(got, "token-required") {
				t.Errorf("unsigned request answered %s, want token-required", got)
			}
			if !on && !strings.Contains(got, "anonymous") {
				t.Errorf("with OAuth off answered %s, want the host's anonymous answer", got)
			}
		})
	}
}

// An unknown user's server-first has the shape of a real user's: the same
// iteration count and salt length as the stored credentials, when the
// configuration says what they are (sasl.iterations, sasl.salt_len).
func TestUnknownUserLooksReal(t *testing.T) {
	store := scram.NewMemoryStore()
	salt := make([]byte, 24)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512} {
		c, err := scram.NewCredential(h, "alice-secret", salt, 10000)
		if err != nil {
			t.Fatal(err)
		}
		store.Set("alice@localhost", h, c)
	}
	cfg := baseConfig(t)
	cfg.SASL.Store = store
	cfg.SASL.Iterations = 10000
	cfg.SASL.SaltLen = 24
	_, addr := startPlugin(t, cfg)
	shape := func(serverFirst string) string {
		var out []string
		for _, a := range strings.Split(serverFirst, ",") {
			switch {
			case strings.HasPrefix(a, "s="):
				b, _ := base64.StdEncoding.DecodeString(a[2:])
				out = append(out, fmt.Sprintf("salt %d bytes", len(b)))
			case strings.HasPrefix(a, "i="):
				out = append(out, a)
			}
		}
		return strings.Join(out, " ")
	}
	known, unknown := shape(scramFirstAs(t, addr, "alice")), shape(scramFirstAs(t, addr, "nobody"))
	if known != "salt 24 bytes i=10000" || unknown != known {
		t.Errorf("known user: %s; unknown user: %s", known, unknown)
	}
}

func TestLoadConfig(t *testing.T) {
	good := `{"sasl":{"mechanisms":["SCRAM-SHA-256-PLUS","SCRAM-SHA-256"],"step_timeout":"10s"},` +
		`"enable_http_auth":true,"http_auth":{"timeout":"1m","from":"localhost"},"enable_oauth":true,"oauth":{"window":"2m"}}`
	c, err := xmppauth.LoadConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if !c.EnableHTTPAuth || !c.EnableOAuth || c.SASL.StepTimeout.D() != 10*time.Second || time.Duration(c.OAuth.Window) != 2*time.Minute {
		t.Fatalf("decoded %+v", c)
	}
	for in, field := range map[string]string{
		`{"sasl":{"mechanisms":["CRAM-MD5"]}}`:             `sasl.mechanisms[0]: unknown mechanism "CRAM-MD5"`,
		`{"sasl":{"max_attempts":50}}`:                     "sasl.max_attempts: 50 is not in 0..5",
		`{"domains":["a.example","x@b.example"]}`:          "domains[1]: ",
		`{"enable_oauth":true,"oauth":{"window":"-1m"}}`:   "oauth.window: -1m0s is negative",
		`{"oauth":{"window":"-1m"}}`:                       "oauth.window: -1m0s is negative",
		`{"http_auth":{"timeout":"-1s"}}`:                  "http_auth.timeout: ",
		`{"sasl":{},"shiny_new_feature":true}`:             "shiny_new_feature",
		`{"sasl":{"channel_binding_types":["tls-magic"]}}`: "sasl.channel_binding_types[0]: ",
		`{"sasl":{"mechanism":["SCRAM-SHA-1"]}}`:           "mechanism",
		`{"http_auth":{"timout":"1m"}}`:                    "timout",
	} {
		if _, err := xmppauth.LoadConfig([]byte(in)); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %v does not name %s", in, err, field)
		}
	}
}

func TestNewNeedsDomainsAndStore(t *testing.T) {
	_, err := xmppauth.New(xmppauth.Config{})
	if err == nil || !strings.Contains(err.Error(), "domains: at least one served domain is required") {
		t.Errorf("New without domains: %v", err)
	}
	_, err = xmppauth.New(xmppauth.Config{Domains: []string{"localhost"}})
	if err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("New without a store: %v", err)
	}
}

type senderFunc func(context.Context, xml.TokenReader) error

func (f senderFunc) Send(ctx context.Context, r xml.TokenReader) error { return f(ctx, r) }
