package sqlstore

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/testenv"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/saslclient"
)

// serverIterations is the iteration count the test server is configured
// with: PLAIN logins upgrade credentials below it.
const serverIterations = 8192

// loginServer is package features on loopback TLS with a Store behind it,
// wired as a host would.
type loginServer struct {
	addr    string
	results chan xmpptest.Result
	log     *xmpptest.LogBuffer
}

func newLoginServer(t testing.TB, s *Store) *loginServer {
	t.Helper()
	return newFeaturesServer(t, features.Config{Store: s, AccountStatus: s.AccountStatus, MapCertificate: s.MapCertificate})
}

// newFeaturesServer completes cfg (domain localhost, the server's
// iteration count, TLS, no login limiter, a log buffer) and serves it.
func newFeaturesServer(t testing.TB, cfg features.Config) *loginServer {
	t.Helper()
	p := getPKI()
	srv := &loginServer{results: make(chan xmpptest.Result, 64), log: &xmpptest.LogBuffer{}}
	tlsCfg := p.serverTLS()
	cfg.Domains = []string{"localhost"}
	cfg.Iterations = serverIterations
	cfg.TLSConfig = tlsCfg
	cfg.DisableThrottle = true
	cfg.Logger = srv.log.Logger(slog.LevelDebug)
	auth, err := features.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.addr = xmpptest.Listen(t, xmpptest.SASLServer(auth, tlsCfg, func(r xmpptest.Result) {
		select {
		case srv.results <- r:
		default: // nobody reads (benchmarks)
		}
	}))
	return srv
}

// result is the server's outcome of the last connection.
func (s *loginServer) result(t testing.TB) xmpptest.Result {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("the server never finished negotiating")
		return xmpptest.Result{}
	}
}

// dial connects to the server; the caller closes the connection.
func (s *loginServer) dial(t testing.TB) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// melliumLogin logs user@localhost in with mellium's own client over TLS
// 1.3, and binds a resource.
func (s *loginServer) melliumLogin(t testing.TB, user, password string, mechs ...sasl.Mechanism) error {
	t.Helper()
	conn := s.dial(t)
	defer conn.Close()
	origin := jid.MustParse(user + "@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
			xmpp.StartTLS(getPKI().ClientTLS(tls.VersionTLS13)),
			xmpp.SASL("", password, mechs...),
			xmpp.BindResource(),
		}}
	}))
	if err == nil {
		session.Close()
	}
	return err
}

// condition logs in with the module's own client (which reports the SASL
// condition the server sent) using one mechanism; "" on success.
func (s *loginServer) condition(t testing.TB, user, password, mechanism string) string {
	t.Helper()
	c, err := saslclient.New(saslclient.Config{
		Username:   user,
		Password:   password,
		Mechanisms: []string{mechanism},
		AllowPLAIN: mechanism == features.PLAIN,
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := s.dial(t)
	defer conn.Close()
	origin := jid.MustParse(user + "@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{xmpp.StartTLS(getPKI().ClientTLS(tls.VersionTLS13))},
			append(c.Features(), xmpp.BindResource())...)}
	}))
	if err == nil {
		session.Close()
		return ""
	}
	var f *saslclient.Failure
	if !errors.As(err, &f) {
		t.Fatalf("%s login of %s failed without a SASL failure: %v", mechanism, user, err)
	}
	return f.Condition
}

// external logs in with EXTERNAL and a client certificate, speaking XML by
// hand (mellium has no EXTERNAL client); "" on success, else the condition.
func (s *loginServer) external(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	conn := s.dial(t)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	d := openStream(t, conn)
	fmt.Fprint(conn, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := nextElement(t, d); el.XMLName.Local != "proceed" {
		t.Fatalf("STARTTLS answered with %v", el.XMLName)
	}
	cfg := getPKI().ClientTLS(tls.VersionTLS13, cert)
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	d = openStream(t, tc)
	fmt.Fprint(tc, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`)
	el := nextElement(t, d)
	if el.XMLName.Local == "success" {
		return ""
	}
	for _, c := range el.Children {
		if c.XMLName.Local != "text" {
			return c.XMLName.Local
		}
	}
	t.Fatalf("EXTERNAL answered with %v", el.XMLName)
	return ""
}

type rawElement struct {
	XMLName  xml.Name
	Children []struct {
		XMLName xml.Name
	} `xml:",any"`
}

// openStream sends a stream header and reads the answer up to the
// features.
func openStream(t testing.TB, conn io.ReadWriter) *xml.Decoder {
	t.Helper()
	fmt.Fprint(conn, `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	d := xml.NewDecoder(conn)
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("reading the stream header: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "stream" {
			break
		}
	}
	if el := nextElement(t, d); el.XMLName.Local != "features" {
		t.Fatalf("expected features, got %v", el.XMLName)
	}
	return d
}

func nextElement(t testing.TB, d *xml.Decoder) rawElement {
	t.Helper()
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok {
			var el rawElement
			if err := d.DecodeElement(&el, &s); err != nil {
				t.Fatal(err)
			}
			return el
		}
	}
}

// Logins through package features with this store behind it: SCRAM with
// channel binding and PLAIN succeed; PLAIN upgrades a SHA-1-only account at
// 4096 iterations to every hash at the server's count, which SCRAM-SHA-512
// then uses; a disabled account is refused with <account-disabled/> after
// its password was verified; EXTERNAL maps the certificate to the account.
func TestLogin(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		s := b.open(t, Options{})
		ctx := t.Context()
		for _, a := range []struct {
			jid      string
			password string
			hashes   []crypto.Hash
		}{
			{"alice@localhost", "alice-secret", AllHashes},
			{"carol@localhost", "carol-secret", []crypto.Hash{crypto.SHA1}},
			{"dave@localhost", "dave-secret", AllHashes},
		} {
			if err := s.AddAccount(ctx, mustJID(t, a.jid), a.password, testIterations, a.hashes...); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Disable(ctx, mustJID(t, "dave@localhost")); err != nil {
			t.Fatal(err)
		}
		srv := newLoginServer(t, s)

		t.Run("SCRAM-SHA-256-PLUS", func(t *testing.T) {
			if err := srv.melliumLogin(t, "alice", "alice-secret", sasl.ScramSha256Plus); err != nil {
				t.Fatal(err)
			}
			r := srv.result(t)
			id, ok := r.Conn.Identity()
			if r.Err != nil || !ok || id.JID.String() != "alice@localhost" || id.Mechanism != "SCRAM-SHA-256-PLUS" || id.ChannelBinding != cbind.TLSExporter {
				t.Fatalf("server saw %+v (%v)", id, r.Err)
			}
		})
		t.Run("PLAIN", func(t *testing.T) {
			if err := srv.melliumLogin(t, "Alice", "alice-secret", sasl.Plain); err != nil {
				t.Fatal(err)
			}
			r := srv.result(t)
			if id, _ := r.Conn.Identity(); r.Err != nil || id.JID.String() != "alice@localhost" || id.Mechanism != "PLAIN" {
				t.Fatalf("server saw %+v (%v)", id, r.Err)
			}
		})
		t.Run("wrong password and unknown user", func(t *testing.T) {
			for _, tc := range [][3]string{
				{"alice", "wrong", "SCRAM-SHA-256"}, {"alice", "wrong", features.PLAIN},
				{"mallory", "x-secret", "SCRAM-SHA-256"}, {"mallory", "x-secret", features.PLAIN},
			} {
				if got := srv.condition(t, tc[0], tc[1], tc[2]); got != "not-authorized" {
					t.Errorf("%s %s: %q", tc[2], tc[0], got)
				}
				srv.result(t)
			}
		})
		t.Run("PLAIN upgrades", func(t *testing.T) {
			if got := srv.condition(t, "carol", "carol-secret", "SCRAM-SHA-512"); got != "not-authorized" {
				t.Fatalf("SCRAM-SHA-512 before the upgrade: %q", got)
			}
			srv.result(t)
			if err := srv.melliumLogin(t, "carol", "carol-secret", sasl.Plain); err != nil {
				t.Fatal(err)
			}
			srv.result(t)
			a, err := s.Account(ctx, mustJID(t, "carol@localhost"))
			if err != nil || !slices.Equal(a.Hashes, AllHashes) || a.Iterations != serverIterations {
				t.Fatalf("after the PLAIN login: %+v (%v)", a, err)
			}
			for _, h := range AllHashes {
				if c, err := s.Credential(ctx, "carol@localhost", h); err != nil || c.Iterations != serverIterations {
					t.Errorf("%v: %d iterations (%v)", h, c.Iterations, err)
				}
			}
			if got := srv.condition(t, "carol", "carol-secret", "SCRAM-SHA-512"); got != "" {
				t.Fatalf("SCRAM-SHA-512 after the upgrade: %q", got)
			}
			srv.result(t)
			if !strings.Contains(srv.log.String(), "credential upgraded") {
				t.Errorf("upgrade not logged:\n%s", srv.log.String())
			}
		})
		t.Run("disabled", func(t *testing.T) {
			for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", features.PLAIN} {
				if got := srv.condition(t, "dave", "dave-secret", mech); got != "account-disabled" {
					t.Errorf("%s of a disabled account: %q", mech, got)
				}
				srv.result(t)
			}
			// Without the password the account looks like any other.
			if got := srv.condition(t, "dave", "wrong", "SCRAM-SHA-256"); got != "not-authorized" {
				t.Errorf("disabled account, wrong password: %q", got)
			}
			srv.result(t)
		})
		t.Run("EXTERNAL", func(t *testing.T) {
			p := getPKI()
			if got := srv.external(t, p.Client("alice@localhost")); got != "" {
				t.Fatalf("EXTERNAL as alice: %q", got)
			}
			r := srv.result(t)
			if id, _ := r.Conn.Identity(); id.JID.String() != "alice@localhost" || id.Mechanism != features.EXTERNAL {
				t.Fatalf("server saw %+v (%v)", id, r.Err)
			}
			for cert, want := range map[string]string{
				"dave@localhost":    "account-disabled",
				"mallory@localhost": "not-authorized",
			} {
				if got := srv.external(t, p.Client(cert)); got != want {
					t.Errorf("EXTERNAL with a certificate for %s: %q, want %q", cert, got, want)
				}
				srv.result(t)
			}
		})
	})
}

// With the database down, logins fail closed with <temporary-auth-failure/>
// and a log line naming the cause; they recover when it is back.
func TestLoginDatabaseDown(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		var log xmpptest.LogBuffer
		s := backend{SQLite, t.TempDir() + "/accounts.db"}.open(t, Options{Logger: log.Logger(slog.LevelDebug)})
		if err := s.AddAccount(t.Context(), mustJID(t, "alice@localhost"), "alice-secret", testIterations); err != nil {
			t.Fatal(err)
		}
		srv := newLoginServer(t, s)
		s.DB().Close()
		checkLoginsDown(t, srv, &log)
	})
	t.Run("postgres", func(t *testing.T) {
		pg := testenv.StartPostgres(t, testenv.PostgresOptions{})
		var log xmpptest.LogBuffer
		s := backend{Postgres, pg.DSN("postgres")}.open(t, Options{Logger: log.Logger(slog.LevelDebug)})
		if err := s.AddAccount(t.Context(), mustJID(t, "alice@localhost"), "alice-secret", testIterations); err != nil {
			t.Fatal(err)
		}
		srv := newLoginServer(t, s)
		if got := srv.condition(t, "alice", "alice-secret", "SCRAM-SHA-256"); got != "" {
			t.Fatalf("login before the outage: %q", got)
		}
		srv.result(t)
		if err := pg.Stop(); err != nil {
			t.Fatal(err)
		}
		checkLoginsDown(t, srv, &log)
		if err := pg.Start(); err != nil {
			t.Fatal(err)
		}
		for _, mech := range []string{"SCRAM-SHA-256", features.PLAIN} {
			if got := srv.condition(t, "alice", "alice-secret", mech); got != "" {
				t.Errorf("%s after the database came back: %q", mech, got)
			}
			srv.result(t)
		}
	})
}

func checkLoginsDown(t *testing.T, srv *loginServer, storeLog *xmpptest.LogBuffer) {
	t.Helper()
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", features.PLAIN} {
		for _, user := range []string{"alice", "mallory"} {
			if got := srv.condition(t, user, "alice-secret", mech); got != "temporary-auth-failure" {
				t.Errorf("%s of %s with the database down: %q", mech, user, got)
			}
			srv.result(t)
		}
	}
	if got := srv.external(t, getPKI().Client("alice@localhost")); got != "temporary-auth-failure" {
		t.Errorf("EXTERNAL with the database down: %q", got)
	}
	srv.result(t)
	if !strings.Contains(storeLog.String(), "sqlstore: query failed") {
		t.Errorf("the store logged nothing:\n%s", storeLog.String())
	}
	if !strings.Contains(srv.log.String(), "condition=temporary-auth-failure") {
		t.Errorf("the server logged no failure:\n%s", srv.log.String())
	}
}
