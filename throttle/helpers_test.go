package throttle

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

func tcp(ip string) net.Addr {
	return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}
}

// stringAddr is a net.Addr that is only its strings.
type stringAddr struct{ network, s string }

func (a stringAddr) Network() string { return a.network }
func (a stringAddr) String() string  { return a.s }

func newLimiter(t testing.TB, c Config) (*Limiter, *config.ManualClock) {
	t.Helper()
	clock := config.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	if c.Clock == nil {
		c.Clock = clock
	}
	l, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, clock
}

func mustFail(t testing.TB, l *Limiter, addr net.Addr, account string) bool {
	t.Helper()
	banned, err := l.Failed(context.Background(), addr, account)
	if err != nil {
		t.Fatalf("Failed(%v, %q): %v", addr, account, err)
	}
	return banned
}

func mustCheck(t testing.TB, l *Limiter, addr net.Addr, account string) time.Duration {
	t.Helper()
	d, err := l.Check(context.Background(), addr, account)
	if err != nil {
		t.Fatalf("Check(%v, %q): %v", addr, account, err)
	}
	return d
}
