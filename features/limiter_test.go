package features_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/throttle"
)

// recordingLimiter records the calls the SASL feature makes and answers
// with err (for Check) when set.
type recordingLimiter struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (l *recordingLimiter) record(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf(format, args...))
}

func (l *recordingLimiter) Check(_ context.Context, addr net.Addr, account string) (time.Duration, error) {
	l.record("check %s %q", addr.(*net.TCPAddr).IP, account)
	return 0, l.err
}

func (l *recordingLimiter) Failed(_ context.Context, addr net.Addr, account string) (bool, error) {
	l.record("failed %q", account)
	return false, nil
}

func (l *recordingLimiter) Succeeded(_ context.Context, addr net.Addr, account string) error {
	l.record("succeeded %q", account)
	return nil
}

func (l *recordingLimiter) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// The limiter sees every password attempt the same way whether or not the
// account exists: an address check when the attempt starts, an account check
// before the lookup, and a failure or success after.
func TestLimiterCalls(t *testing.T) {
	l := &recordingLimiter{}
	srv := newTestServer(t, features.Config{Limiter: l})
	ip := "127.0.0.1"
	for _, tc := range []struct {
		name    string
		mech    string
		payload string
		want    []string
	}{
		{"PLAIN wrong", "PLAIN", "\x00alice\x00wrong",
			[]string{`check ` + ip + ` ""`, `check ` + ip + ` "alice@localhost"`, `failed "alice@localhost"`}},
		{"PLAIN unknown", "PLAIN", "\x00Nobody\x00wrong",
			[]string{`check ` + ip + ` ""`, `check ` + ip + ` "nobody@localhost"`, `failed "nobody@localhost"`}},
		{"PLAIN right", "PLAIN", "\x00alice\x00alice-secret",
			[]string{`check ` + ip + ` ""`, `check ` + ip + ` "alice@localhost"`, `succeeded "alice@localhost"`}},
		{"malformed PLAIN is no guess", "PLAIN", "alice",
			[]string{`check ` + ip + ` ""`}},
	} {
		c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.auth(tc.mech, []byte(tc.payload))
		c.next()
		got := l.take()
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: calls\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// A limiter that cannot answer (its store is down) fails the login closed
// with <temporary-auth-failure/>, before any credential is checked.
func TestLimiterDown(t *testing.T) {
	l := &recordingLimiter{err: fmt.Errorf("%w: redis: connection refused", throttle.ErrStore)}
	srv := newTestServer(t, features.Config{Limiter: l})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.auth("PLAIN", []byte("\x00alice\x00alice-secret"))
	if got := condition(c.next()); got != "temporary-auth-failure" {
		t.Fatalf("condition %q", got)
	}
}

// With the default limiter, an address that failed MaxFailures times is
// banned: even the right password gets <temporary-auth-failure/>, with a
// text that says why, and the ban is logged once; each failure is logged
// with the attempted user and the address (what fail2ban matches).
func TestLimiterBan(t *testing.T) {
	var log xmpptest.LogBuffer
	srv := newTestServer(t, features.Config{
		Throttle: throttle.Config{MaxFailures: 3},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
	})
	attempt := func(password string) element {
		c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.auth("PLAIN", []byte("\x00bob\x00"+password))
		return c.next()
	}
	for i := range 3 {
		if got := condition(attempt("guess")); got != "not-authorized" {
			t.Fatalf("guess %d: %q", i, got)
		}
	}
	el := attempt("bob-secret")
	if condition(el) != "temporary-auth-failure" || !strings.Contains(el.Inner, "too many failed logins from your address") {
		t.Fatalf("after the ban: %v", el)
	}
	checkBanLog(t, log.String())
}

// Turning the limiter off lets an address fail without a ban.
func TestLimiterDisabled(t *testing.T) {
	srv := newTestServer(t, features.Config{Throttle: throttle.Config{MaxFailures: 1}, DisableThrottle: true})
	for range 3 {
		c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.auth("PLAIN", []byte("\x00bob\x00guess"))
		if got := condition(c.next()); got != "not-authorized" {
			t.Fatalf("condition %q", got)
		}
	}
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.auth("PLAIN", []byte("\x00bob\x00bob-secret"))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("right password: %v", el)
	}
	if !errors.Is(features.ErrBanned, throttle.ErrBanned) {
		t.Error("features.ErrBanned is not throttle.ErrBanned")
	}
}

// Config.Observe hears of every finished attempt, with labels that stay
// within what the server offered.
func TestObserve(t *testing.T) {
	var mu sync.Mutex
	var events []features.LoginEvent
	srv := newTestServer(t, features.Config{Throttle: throttle.Config{MaxFailures: 2}, Observe: func(e features.LoginEvent) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	attempt := func(mech, payload string) {
		c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.auth(mech, []byte(payload))
		c.next()
	}
	attempt("PLAIN", "\x00alice\x00alice-secret")
	attempt("X-MADE-UP-MECHANISM", "x")
	attempt("PLAIN", "\x00alice\x00wrong")
	attempt("PLAIN", "\x00alice\x00wrong")
	mu.Lock()
	defer mu.Unlock()
	want := []features.LoginEvent{
		{Mechanism: "PLAIN"},
		{Condition: "invalid-mechanism"},
		{Mechanism: "PLAIN", Condition: "not-authorized"},
		{Mechanism: "PLAIN", Condition: "not-authorized", Banned: true},
	}
	if len(events) != len(want) {
		t.Fatalf("%d events: %+v", len(events), events)
	}
	for i, e := range events {
		d := e.Duration
		e.Duration = 0
		if e != want[i] || d <= 0 && e.Mechanism != "" {
			t.Errorf("event %d: %+v (duration %v), want %+v", i, e, d, want[i])
		}
	}
}

// A store that is down is logged with its error, not the other-error sent
// to the client.
func TestStoreFailureLogged(t *testing.T) {
	var log xmpptest.LogBuffer
	srv := newTestServer(t, features.Config{Store: failingStore{}, Logger: slog.New(slog.NewTextHandler(&log, nil))})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.auth("PLAIN", []byte("\x00alice\x00alice-secret"))
	if got := condition(c.next()); got != "temporary-auth-failure" {
		t.Fatalf("condition %q", got)
	}
	if out := log.String(); !strings.Contains(out, `condition=temporary-auth-failure reason="scram: credential store failed: database unreachable"`) {
		t.Errorf("log:\n%s", out)
	}
}

// checkBanLog checks the log of three wrong guesses for bob from 127.0.0.1
// and the ban after them: one line each (what fail2ban matches), and no
// password.
func checkBanLog(t *testing.T, out string) {
	t.Helper()
	if n := strings.Count(out, `msg="sasl failure" user=bob ip=127.0.0.1 mechanism=PLAIN condition=not-authorized`); n != 3 {
		t.Errorf("%d failure lines, want 3:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="sasl ban" ip=127.0.0.1 user=bob`); n != 1 {
		t.Errorf("%d ban lines, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "guess") || strings.Contains(out, "bob-secret") {
		t.Errorf("a password reached the log:\n%s", out)
	}
}
