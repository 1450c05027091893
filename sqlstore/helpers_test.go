package sqlstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/testenv"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// One PostgreSQL server for the package's tests, started by the first test
// that needs it; each test gets a database of its own. Tests that stop the
// server start their own.
var shared struct {
	once sync.Once
	pg   *testenv.Postgres
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.pg != nil {
		if err := shared.pg.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func launchShared() error {
	shared.once.Do(func() { shared.pg, shared.err = testenv.LaunchPostgres(testenv.PostgresOptions{}) })
	return shared.err
}

// postgresInstalled reports whether the PostgreSQL half can run.
func postgresInstalled() bool {
	return !errors.Is(launchShared(), testenv.ErrNotInstalled)
}

func sharedPostgres(t testing.TB) *testenv.Postgres {
	t.Helper()
	launchShared()
	if errors.Is(shared.err, testenv.ErrNotInstalled) {
		t.Skip(shared.err.Error() + "; skipping the PostgreSQL half")
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.pg
}

var databases atomic.Int64

// newPostgresDSN creates a fresh database on the shared server.
func newPostgresDSN(t testing.TB) string {
	t.Helper()
	pg := sharedPostgres(t)
	dsn, err := pg.CreateDatabase(fmt.Sprintf("test%d", databases.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// backend opens stores of one dialect on one fresh database.
type backend struct {
	dialect Dialect
	dsn     string
}

// open opens a Store on the backend's database, closed when the test ends.
func (b backend) open(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(t.Context(), b.dialect, b.dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachDialect runs f once on a fresh SQLite file and once on a fresh
// PostgreSQL database (skipped only when PostgreSQL is not installed).
func forEachDialect(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, backend{SQLite, filepath.Join(t.TempDir(), "accounts.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		f(t, backend{Postgres, newPostgresDSN(t)})
	})
}

// fakeConn is the features.ConnMetadata of a stream to domain.
type fakeConn struct{ domain jid.JID }

func (c fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (c fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5222} }
func (c fakeConn) Domain() jid.JID                  { return c.domain }
func (c fakeConn) TLS() (tls.ConnectionState, bool) { return tls.ConnectionState{}, true }

var _ features.ConnMetadata = fakeConn{}

// pki is a test CA with a server certificate for "localhost".
type pki struct {
	*xmpptest.CA
	server tls.Certificate
}

var getPKI = sync.OnceValue(func() *pki {
	ca := xmpptest.NewCA()
	return &pki{CA: ca, server: ca.Server("localhost")}
})

func (p *pki) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientCAs:    p.Pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
	}
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// ctxTimeout is a context for one step of a test.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
