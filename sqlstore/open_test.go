package sqlstore

import (
	"crypto"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Open creates the SQLite file private to its owner and runs every
// connection with WAL, foreign keys and the busy timeout.
func TestOpenSQLiteSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "accounts.db")
	s := backend{SQLite, path}.open(t, Options{QueryTimeout: 1234_000_000})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %v, want 0600", mode)
	}
	ctx := t.Context()
	// Hold several connections at once, so that more than one is checked.
	var conns []*sql.Conn
	for range 3 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var journal string
		var foreignKeys, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&foreignKeys); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if journal != "wal" || foreignKeys != 1 || busy != 1234 {
			t.Errorf("connection %d: journal_mode %s, foreign_keys %d, busy_timeout %d", i, journal, foreignKeys, busy)
		}
		c.Close()
	}
}

// ":memory:" works, on one connection (each would be a database of its
// own).
func TestOpenSQLiteMemory(t *testing.T) {
	s := backend{SQLite, ":memory:"}.open(t, Options{})
	addAlice(t, s)
	checkUp(t, s, t.Context())
	if n := s.DB().Stats().MaxOpenConnections; n != 1 {
		t.Errorf("%d connections to :memory:", n)
	}
}

// New works on a pool the caller opened without the store's settings
// (SQLite's defaults: foreign keys off), and leaves it open on Close.
func TestNewOnCallersPool(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	s, err := New(ctx, db, SQLite, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddAccount(ctx, mustJID(t, "alice@example.com"), "alice-secret", testIterations, crypto.SHA256, crypto.SHA1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, mustJID(t, "alice@example.com")); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM credentials").Scan(&n); err != nil || n != 0 {
		t.Errorf("%d credentials left without foreign keys (%v)", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("Close closed the caller's pool: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := t.Context()
	for name, open := range map[string]func() error{
		"unknown dialect": func() error { _, err := Open(ctx, "mysql", "x", Options{}); return err },
		"empty file name": func() error { _, err := Open(ctx, SQLite, "", Options{}); return err },
		"missing directory": func() error {
			_, err := Open(ctx, SQLite, filepath.Join(t.TempDir(), "no", "such", "dir.db"), Options{})
			return err
		},
		"New, unknown dialect": func() error { _, err := New(ctx, nil, "oracle", Options{}); return err },
	} {
		if err := open(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in      string
		dialect Dialect
		dsn     string
		bad     bool
	}{
		{in: "sqlite:/var/lib/xmppauth/accounts.db", dialect: SQLite, dsn: "/var/lib/xmppauth/accounts.db"},
		{in: "sqlite:accounts.db?_pragma=x", dialect: SQLite, dsn: "accounts.db?_pragma=x"},
		{in: "sqlite::memory:", dialect: SQLite, dsn: ":memory:"},
		{in: "postgres:host=db user=x dbname=y", dialect: Postgres, dsn: "host=db user=x dbname=y"},
		{in: "postgresql:host=db", dialect: Postgres, dsn: "host=db"},
		{in: "postgres://u:pw@db/x?sslmode=require", dialect: Postgres, dsn: "postgres://u:pw@db/x?sslmode=require"},
		{in: "postgresql://db/x", dialect: Postgres, dsn: "postgresql://db/x"},
		{in: "", bad: true},
		{in: "accounts.db", bad: true},
		{in: "sqlite:", bad: true},
		{in: "mysql:u:pw@tcp(db)/x", bad: true},
	} {
		d, dsn, err := ParseSource(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseSource(%q) = %q, %q; want an error", tc.in, d, dsn)
			}
			continue
		}
		if err != nil || d != tc.dialect || dsn != tc.dsn {
			t.Errorf("ParseSource(%q) = %q, %q, %v; want %q, %q", tc.in, d, dsn, err, tc.dialect, tc.dsn)
		}
	}
	// An error never repeats what may be a password.
	if _, _, err := ParseSource("mysql:user:hunter2@db"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
}
