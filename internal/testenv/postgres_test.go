package testenv

import (
	"net"
	"strings"
	"testing"
)

// TestStartPostgres starts a server, creates a database through it, stops it
// (nothing listens, createdb fails) and starts it again on the same port
// with the database still there.
func TestStartPostgres(t *testing.T) {
	p := StartPostgres(t, PostgresOptions{})
	if !strings.HasPrefix(p.Addr, "127.0.0.1:") {
		t.Fatalf("listening on %s, not loopback", p.Addr)
	}
	dsn, err := p.CreateDatabase("first")
	if err != nil {
		t.Fatal(err)
	}
	if want := "postgres://postgres@" + p.Addr + "/first?sslmode=disable"; dsn != want {
		t.Errorf("DSN %q, want %q", dsn, want)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", p.Addr); err == nil {
		c.Close()
		t.Fatal("something still listens after Stop")
	}
	if _, err := p.CreateDatabase("second"); err == nil {
		t.Fatal("createdb worked on a stopped server")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Error("a second Start of a running server did not fail")
	}
	// The first database survived the restart: creating it again fails.
	if _, err := p.CreateDatabase("first"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("createdb of the kept database: %v", err)
	}
	if _, err := p.CreateDatabase("second"); err != nil {
		t.Fatal(err)
	}
}
