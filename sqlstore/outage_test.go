package sqlstore

import (
	"context"
	"crypto"
	"database/sql"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/testenv"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/scram"
)

// checkDown asserts that the store fails closed: errors that are neither an
// unknown user nor a disabled or missing account, each logged.
func checkDown(t *testing.T, s *Store, log *xmpptest.LogBuffer, ctx context.Context) {
	t.Helper()
	if _, err := s.Credential(ctx, "alice@example.com", crypto.SHA256); err == nil || errors.Is(err, scram.ErrUnknownUser) {
		t.Errorf("Credential with the database down: %v", err)
	}
	conn := fakeConn{domain: mustJID(t, "example.com")}
	err := s.AccountStatus(ctx, conn, mustJID(t, "alice@example.com"))
	if err == nil || errors.Is(err, features.ErrAccountDisabled) || errors.Is(err, features.ErrNotAuthorized) {
		t.Errorf("AccountStatus with the database down: %v", err)
	}
	cert := getPKI().Client("alice@example.com")
	if ids, err := s.MapCertificate(ctx, conn, cert.Leaf); err == nil {
		t.Errorf("MapCertificate with the database down: %v", ids)
	}
	if !strings.Contains(log.String(), `msg="sqlstore: query failed" op=credential`) {
		t.Errorf("no log line for the failure: %q", log.String())
	}
}

func checkUp(t *testing.T, s *Store, ctx context.Context) {
	t.Helper()
	if _, err := s.Credential(ctx, "alice@example.com", crypto.SHA256); err != nil {
		t.Errorf("Credential: %v", err)
	}
	if err := s.AccountStatus(ctx, fakeConn{domain: mustJID(t, "example.com")}, mustJID(t, "alice@example.com")); err != nil {
		t.Errorf("AccountStatus: %v", err)
	}
}

func addAlice(t *testing.T, s *Store) {
	t.Helper()
	if err := s.AddAccount(t.Context(), mustJID(t, "alice@example.com"), "alice-secret", testIterations, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}

// A closed database fails every lookup at once.
func TestSQLiteClosed(t *testing.T) {
	var log xmpptest.LogBuffer
	s := backend{SQLite, t.TempDir() + "/accounts.db"}.open(t, Options{Logger: log.Logger(slog.LevelDebug)})
	addAlice(t, s)
	s.DB().Close()
	checkDown(t, s, &log, t.Context())
}

// While another process holds SQLite's write lock (a backup, a long
// management transaction), logins keep reading (WAL) and an upgrade gives
// up at its deadline instead of waiting for the busy timeout; once the lock
// is released, writes work again.
func TestSQLiteLocked(t *testing.T) {
	var log xmpptest.LogBuffer
	path := t.TempDir() + "/accounts.db"
	s := backend{SQLite, path}.open(t, Options{Logger: log.Logger(slog.LevelDebug), QueryTimeout: time.Minute})
	addAlice(t, s)
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	checkUp(t, s, t.Context())
	c, err := scram.NewCredential(crypto.SHA512, "alice-secret", nil, testIterations)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := s.SetCredential(ctx, "alice@example.com", crypto.SHA512, c); err == nil {
		t.Fatal("SetCredential succeeded while another connection held the write lock")
	}
	if ctx.Err() == nil {
		t.Error("SetCredential failed before its deadline instead of waiting for the lock")
	}
	if _, err := lock.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCredential(t.Context(), "alice@example.com", crypto.SHA512, c); err != nil {
		t.Fatalf("SetCredential after the lock was released: %v", err)
	}
}

// PostgreSQL stopped: lookups fail at once and are logged; started again,
// the store recovers by itself (database/sql replaces the dead
// connections).
func TestPostgresRestart(t *testing.T) {
	pg := testenv.StartPostgres(t, testenv.PostgresOptions{})
	var log xmpptest.LogBuffer
	s := backend{Postgres, pg.DSN("postgres")}.open(t, Options{Logger: log.Logger(slog.LevelDebug)})
	addAlice(t, s)
	checkUp(t, s, t.Context())
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxTimeout(t, 10*time.Second)
	checkDown(t, s, &log, ctx)
	if ctx.Err() != nil {
		t.Fatal("the lookups waited for their deadline although the server refuses connections")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	checkUp(t, s, t.Context())
}

// PostgreSQL hung (the network drops everything): a lookup fails at its
// context's deadline, or at the store's QueryTimeout when the context has
// none; once the network heals, the store recovers by itself.
func TestPostgresHung(t *testing.T) {
	pg := sharedPostgres(t)
	dsn := newPostgresDSN(t)
	p := newFreezingProxy(t, pg.Addr)
	dsn = strings.Replace(dsn, pg.Addr, p.addr(), 1)
	var log xmpptest.LogBuffer
	const queryTimeout = 300 * time.Millisecond
	s := backend{Postgres, dsn}.open(t, Options{Logger: log.Logger(slog.LevelDebug), QueryTimeout: queryTimeout})
	addAlice(t, s)
	checkUp(t, s, t.Context())

	p.freeze()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Credential(ctx, "alice@example.com", crypto.SHA256); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Credential past the caller's deadline: %v", err)
	}
	// No deadline of the caller's: the store's own bounds the lookup.
	if _, err := s.Credential(context.Background(), "alice@example.com", crypto.SHA256); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Credential past the store's QueryTimeout: %v", err)
	}
	checkDown(t, s, &log, context.Background())

	p.thaw()
	checkUp(t, s, t.Context())
}

// Every pooled connection dead at once, the way a failover or a NAT that
// forgot them leaves them: each looks alive until a query has been sent on
// it. The next login does not fail on them: the store drops the idle
// connections and dials again.
func TestPostgresDeadConnections(t *testing.T) {
	pg := sharedPostgres(t)
	dsn := newPostgresDSN(t)
	p := newFreezingProxy(t, pg.Addr)
	s := backend{Postgres, strings.Replace(dsn, pg.Addr, p.addr(), 1)}.open(t, Options{})
	addAlice(t, s)
	// Fill the pool with idle connections.
	ctx := t.Context()
	var conns []*sql.Conn
	for range 4 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
	if idle := s.DB().Stats().Idle; idle < 4 {
		t.Fatalf("%d idle connections, want 4", idle)
	}
	p.poison()
	for range 3 {
		checkUp(t, s, ctx)
	}
}

// freezingProxy forwards TCP to a server until frozen; while frozen it
// forwards nothing (connections stay open, as across a network partition);
// thawing resets the frozen connections and forwards new ones again.
type freezingProxy struct {
	t        testing.TB
	ln       net.Listener
	upstream string

	mu       sync.Mutex
	frozen   chan struct{} // closed by thaw; nil when not frozen
	conns    map[net.Conn]bool
	poisoned map[net.Conn]bool // client connections that die at their next message
	wg       sync.WaitGroup
}

func newFreezingProxy(t testing.TB, upstream string) *freezingProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{t: t, ln: ln, upstream: upstream, conns: make(map[net.Conn]bool), poisoned: make(map[net.Conn]bool)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.thaw()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *freezingProxy) addr() string { return p.ln.Addr().String() }

func (p *freezingProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen == nil {
		p.frozen = make(chan struct{})
	}
}

func (p *freezingProxy) thaw() {
	p.mu.Lock()
	frozen := p.frozen
	p.frozen = nil
	p.mu.Unlock()
	if frozen != nil {
		p.closeAll()
		close(frozen)
	}
}

// poison makes every connection open now drop, with nothing forwarded, as
// soon as the client sends something on it.
func (p *freezingProxy) poison() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		p.poisoned[c] = true
	}
}

func (p *freezingProxy) isPoisoned(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.poisoned[c]
}

func (p *freezingProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// gate waits while the proxy is frozen; false means the connection was
// frozen and must be dropped.
func (p *freezingProxy) gate() bool {
	p.mu.Lock()
	frozen := p.frozen
	p.mu.Unlock()
	if frozen == nil {
		return true
	}
	<-frozen
	return false
}

func (p *freezingProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = true
	}
}

func (p *freezingProxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(client)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if !p.gate() {
				client.Close()
				return
			}
			server, err := net.Dial("tcp", p.upstream)
			if err != nil {
				client.Close()
				return
			}
			p.track(server)
			p.wg.Add(2)
			go p.pipe(server, client)
			go p.pipe(client, server)
		}()
	}
}

func (p *freezingProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() || p.isPoisoned(src) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// A login whose client went away (its context canceled) fails without a
// log line: the database is fine.
func TestCanceledNotLogged(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		var log xmpptest.LogBuffer
		s := b.open(t, Options{Logger: log.Logger(slog.LevelDebug)})
		addAlice(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Credential(ctx, "alice@example.com", crypto.SHA256); !errors.Is(err, context.Canceled) {
			t.Fatalf("Credential with a canceled context: %v", err)
		}
		if got := log.String(); got != "" {
			t.Errorf("logged %q", got)
		}
	})
}
