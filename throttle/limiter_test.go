package throttle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

func TestBanAfterExactlyMaxFailures(t *testing.T) {
	for _, max := range []int{0, 1, 3, 20} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			l, _ := newLimiter(t, Config{MaxFailures: max})
			want := max
			if want == 0 {
				want = DefaultMaxFailures
			}
			addr := tcp("192.0.2.7")
			for i := 1; i <= want; i++ {
				// Different accounts: the ban is about the address.
				acct := fmt.Sprintf("user%d@example.net", i)
				if _, err := l.Check(context.Background(), addr, acct); err != nil {
					t.Fatalf("attempt %d refused before the ban: %v", i, err)
				}
				if banned := mustFail(t, l, addr, acct); banned != (i == want) {
					t.Fatalf("failure %d: banned = %v, want %v", i, banned, i == want)
				}
			}
			if _, err := l.Check(context.Background(), addr, "other@example.net"); !errors.Is(err, ErrBanned) {
				t.Fatalf("after %d failures Check = %v, want ErrBanned", want, err)
			}
			// A failure that raced past Check does not report a second ban.
			if mustFail(t, l, addr, "late@example.net") {
				t.Fatal("a failure after the ban reported a new ban")
			}
			if _, err := l.Check(context.Background(), tcp("192.0.2.8"), "other@example.net"); err != nil {
				t.Fatalf("a neighbouring IPv4 address is banned too: %v", err)
			}
		})
	}
}

func TestAddressGrouping(t *testing.T) {
	tests := []struct {
		name   string
		banned net.Addr
		other  net.Addr
		shared bool
	}{
		{"ipv6 same /64", tcp("2001:db8:1:2::1"), tcp("2001:db8:1:2:ffff:ffff:ffff:ffff"), true},
		{"ipv6 other /64", tcp("2001:db8:1:2::1"), tcp("2001:db8:1:3::1"), false},
		{"ipv4 same /24", tcp("192.0.2.1"), tcp("192.0.2.2"), false},
		{"ipv4-mapped as ipv4", tcp("::ffff:192.0.2.1"), tcp("192.0.2.1"), true},
		{"ipv4-mapped not its /64 neighbour", tcp("::ffff:192.0.2.1"), tcp("::ffff:192.0.2.2"), false},
		{"zone ignored", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}, &net.TCPAddr{IP: net.ParseIP("fe80::2"), Zone: "eth1"}, true},
		{"udp and tcp", &net.UDPAddr{IP: net.ParseIP("198.51.100.1")}, tcp("198.51.100.1"), true},
		{"loopback counted", tcp("127.0.0.1"), tcp("127.0.0.1"), true},
		{"pipe is one bucket", stringAddr{"pipe", "pipe"}, stringAddr{"pipe", "pipe"}, true},
		{"unix paths differ", &net.UnixAddr{Net: "unix", Name: "/run/a.sock"}, &net.UnixAddr{Net: "unix", Name: "/run/b.sock"}, false},
		{"string form parsed", stringAddr{"proxy", "[2001:db8:1:2::9]:5222"}, tcp("2001:db8:1:2::1"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, Config{MaxFailures: 2})
			mustFail(t, l, tt.banned, "a@example.net")
			mustFail(t, l, tt.banned, "b@example.net")
			_, err := l.Check(context.Background(), tt.other, "c@example.net")
			if got := errors.Is(err, ErrBanned); got != tt.shared {
				t.Fatalf("%v banned, Check(%v) = %v; want shared = %v", tt.banned, tt.other, err, tt.shared)
			}
		})
	}
}

func TestDecay(t *testing.T) {
	l, clock := newLimiter(t, Config{MaxFailures: 3, Lifetime: Duration(time.Hour)})
	addr := tcp("203.0.113.5")
	mustFail(t, l, addr, "")
	mustFail(t, l, addr, "")
	// Each failure pushes the expiry out: two failures 59 minutes apart
	// still add up.
	clock.Advance(59 * time.Minute)
	if !mustFail(t, l, addr, "") {
		t.Fatal("third failure within a lifetime of the previous one did not ban")
	}
	clock.Advance(59 * time.Minute)
	if _, err := l.Check(context.Background(), addr, ""); !errors.Is(err, ErrBanned) {
		t.Fatalf("59 minutes after the last failure: %v, want ErrBanned", err)
	}
	clock.Advance(time.Minute)
	if _, err := l.Check(context.Background(), addr, ""); err != nil {
		t.Fatalf("a lifetime after the last failure: %v, want the ban lifted", err)
	}
	// The counter started over, so it takes three failures again.
	for range 2 {
		if mustFail(t, l, addr, "") {
			t.Fatal("banned again before max_failures")
		}
	}
	if !mustFail(t, l, addr, "") {
		t.Fatal("not banned again after max_failures")
	}
}

func TestAccountDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		want []time.Duration // delay of attempt i+1 after i failures
	}{
		{"defaults", Config{}, []time.Duration{
			0, 0, 0, 0, 0, 250 * ms, 500 * ms, time.Second, 2 * time.Second,
			4 * time.Second, 8 * time.Second, 8 * time.Second, 8 * time.Second,
		}},
		{"one free, cap not a power", Config{FreeAttempts: 1, BaseDelay: Duration(100 * ms), MaxDelay: Duration(350 * ms)}, []time.Duration{
			0, 100 * ms, 200 * ms, 350 * ms, 350 * ms,
		}},
		{"base equals max", Config{FreeAttempts: 2, BaseDelay: Duration(time.Second), MaxDelay: Duration(time.Second)}, []time.Duration{
			0, 0, time.Second, time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, tt.cfg)
			for i, want := range tt.want {
				// A new address for every attempt: no ban interferes.
				addr := tcp(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
				if got := mustCheck(t, l, addr, "victim@example.net"); got != want {
					t.Fatalf("after %d failures: delay %v, want %v", i, got, want)
				}
				mustFail(t, l, addr, "victim@example.net")
			}
			if got := mustCheck(t, l, tcp("10.1.0.1"), "bystander@example.net"); got != 0 {
				t.Fatalf("another account is delayed by %v", got)
			}
		})
	}
}

func TestDelayNeverOverflows(t *testing.T) {
	huge := Duration(1<<63 - 1)
	l, _ := newLimiter(t, Config{FreeAttempts: 1, BaseDelay: Duration(time.Second), MaxDelay: huge})
	for _, n := range []int64{1, 2, 40, 62, 63, 64, 1 << 40, 1<<63 - 1} {
		d := l.delay(n)
		if d <= 0 || d > time.Duration(huge) {
			t.Fatalf("delay(%d) = %v", n, d)
		}
		if n >= 40 && d != time.Duration(huge) {
			t.Fatalf("delay(%d) = %v, want the cap", n, d)
		}
	}
}

func TestAccountDelayNeverRefuses(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	for i := range 200 {
		addr := tcp(fmt.Sprintf("10.%d.%d.1", i/256, i%256))
		if d := mustCheck(t, l, addr, "owner@example.net"); d > DefaultMaxDelay {
			t.Fatalf("delay %v exceeds the cap", d)
		}
		mustFail(t, l, addr, "owner@example.net")
	}
	// The owner, from a clean address, is delayed but let through.
	if d := mustCheck(t, l, tcp("198.51.100.9"), "owner@example.net"); d != DefaultMaxDelay {
		t.Fatalf("owner's delay after 200 foreign failures: %v, want %v", d, DefaultMaxDelay)
	}
}

func TestSucceededResetsAccountOnly(t *testing.T) {
	l, _ := newLimiter(t, Config{MaxFailures: 10, FreeAttempts: 2})
	addr := tcp("192.0.2.50")
	for range 9 {
		mustFail(t, l, addr, "alice@example.net")
	}
	mustFail(t, l, tcp("192.0.2.51"), "bob@example.net")
	mustFail(t, l, tcp("192.0.2.51"), "bob@example.net")
	mustFail(t, l, tcp("192.0.2.51"), "bob@example.net")
	if d := mustCheck(t, l, addr, "alice@example.net"); d == 0 {
		t.Fatal("alice not delayed before the success")
	}
	if err := l.Succeeded(context.Background(), addr, "alice@example.net"); err != nil {
		t.Fatal(err)
	}
	if d := mustCheck(t, l, addr, "alice@example.net"); d != 0 {
		t.Fatalf("alice delayed by %v after a success", d)
	}
	if d := mustCheck(t, l, tcp("192.0.2.52"), "bob@example.net"); d == 0 {
		t.Fatal("alice's success reset bob's counter")
	}
	// The address kept its nine failures: one more bans it.
	if !mustFail(t, l, addr, "carol@example.net") {
		t.Fatal("a success reset the address counter")
	}
}

// The limiter is never told whether an account exists: a name that exists
// and one that does not, driven through the same calls, yield the same
// results, and the keys differ only by hash.
func TestExistenceNotObservable(t *testing.T) {
	users := map[string]bool{"known@example.net": true} // the caller's user database
	l, _ := newLimiter(t, Config{FreeAttempts: 1})
	run := func(account string) (delays []time.Duration, bans []bool) {
		for i := range 6 {
			addr := tcp(fmt.Sprintf("10.%d.0.%d", len(account), i))
			delays = append(delays, mustCheck(t, l, addr, account))
			_ = users[account] // the password check, outside the limiter
			bans = append(bans, mustFail(t, l, addr, account))
		}
		return delays, bans
	}
	kd, kb := run("known@example.net")
	ud, ub := run("unknown@example.net")
	if fmt.Sprint(kd, kb) != fmt.Sprint(ud, ub) {
		t.Fatalf("known: %v %v; unknown: %v %v", kd, kb, ud, ub)
	}
	if k, u := AccountKey("known@example.net"), AccountKey("unknown@example.net"); len(k) != len(u) || k == u {
		t.Fatalf("keys %q and %q", k, u)
	}
}

func TestEmptyAccountSkipsAccountCounter(t *testing.T) {
	store := NewMemoryStore(0, config.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)))
	l, _ := newLimiter(t, Config{Store: store, FreeAttempts: 1})
	mustFail(t, l, tcp("192.0.2.1"), "")
	mustFail(t, l, tcp("192.0.2.1"), "")
	if d := mustCheck(t, l, tcp("192.0.2.1"), ""); d != 0 {
		t.Fatalf("empty account delayed by %v", d)
	}
	if n := store.Len(); n != 1 {
		t.Fatalf("store holds %d keys, want only the address", n)
	}
}

func TestDisable(t *testing.T) {
	tests := []struct {
		name                string
		cfg                 Config
		wantBanned, wantDel bool
	}{
		{"both on", Config{MaxFailures: 2, FreeAttempts: 1}, true, true},
		{"address off", Config{MaxFailures: 2, FreeAttempts: 1, DisableAddressBan: true}, false, true},
		{"account off", Config{MaxFailures: 2, FreeAttempts: 1, DisableAccountDelay: true}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, tt.cfg)
			addr := tcp("192.0.2.1")
			mustFail(t, l, addr, "a@example.net")
			banned := mustFail(t, l, addr, "a@example.net")
			if banned != tt.wantBanned {
				t.Fatalf("banned = %v, want %v", banned, tt.wantBanned)
			}
			_, err := l.Check(context.Background(), addr, "a@example.net")
			if errors.Is(err, ErrBanned) != tt.wantBanned {
				t.Fatalf("Check from the address = %v", err)
			}
			d := mustCheck(t, l, tcp("192.0.2.2"), "a@example.net")
			if (d > 0) != tt.wantDel {
				t.Fatalf("delay = %v, want delayed = %v", d, tt.wantDel)
			}
		})
	}
}

func TestConcurrentFailuresBanOnce(t *testing.T) {
	const workers, each = 16, 50
	l, _ := newLimiter(t, Config{MaxFailures: 300})
	addr := tcp("2001:db8::1")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		bans int
		errs []error
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				acct := fmt.Sprintf("u%d-%d@example.net", w, i%5)
				if _, err := l.Check(context.Background(), addr, acct); err != nil && !errors.Is(err, ErrBanned) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				banned, err := l.Failed(context.Background(), addr, acct)
				mu.Lock()
				if banned {
					bans++
				}
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if i%7 == 0 {
					if err := l.Succeeded(context.Background(), addr, acct); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs[0])
	}
	if bans != 1 {
		t.Fatalf("%d failures reported %d bans, want 1", workers*each, bans)
	}
	n, err := l.store.Get(context.Background(), AddrKey(addr))
	if err != nil || n != workers*each {
		t.Fatalf("address counter = %d, %v; want %d", n, err, workers*each)
	}
}

// brokenStore fails every call with err.
type brokenStore struct{ err error }

func (s brokenStore) Incr(context.Context, string, time.Duration) (int64, error) { return 0, s.err }
func (s brokenStore) Get(context.Context, string) (int64, error)                 { return 0, s.err }
func (s brokenStore) Delete(context.Context, string) error                       { return s.err }

func TestStoreErrorsFailClosed(t *testing.T) {
	down := errors.New("redis: connection refused")
	tests := []struct {
		name string
		cfg  Config
	}{
		{"both", Config{Store: brokenStore{down}}},
		{"address only", Config{Store: brokenStore{down}, DisableAccountDelay: true}},
		{"account only", Config{Store: brokenStore{down}, DisableAddressBan: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newLimiter(t, tt.cfg)
			ctx := context.Background()
			addr := tcp("192.0.2.1")
			if _, err := l.Check(ctx, addr, "a@example.net"); !errors.Is(err, ErrStore) || !errors.Is(err, down) || errors.Is(err, ErrBanned) {
				t.Errorf("Check = %v; want it to wrap ErrStore and the store's error", err)
			}
			if banned, err := l.Failed(ctx, addr, "a@example.net"); banned || !errors.Is(err, ErrStore) || !errors.Is(err, down) {
				t.Errorf("Failed = %v, %v", banned, err)
			}
			if err := l.Succeeded(ctx, addr, "a@example.net"); tt.cfg.DisableAccountDelay != (err == nil) {
				t.Errorf("Succeeded = %v", err)
			} else if err != nil && (!errors.Is(err, ErrStore) || !errors.Is(err, down)) {
				t.Errorf("Succeeded = %v; want it to wrap ErrStore and the store's error", err)
			}
		})
	}
}

func TestCanceledContextFailsClosed(t *testing.T) {
	l, _ := newLimiter(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Check(ctx, tcp("192.0.2.1"), "a@example.net"); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrStore) {
		t.Fatalf("Check with a canceled context = %v", err)
	}
}

func TestWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"zero", context.Background(), 0, nil},
		{"negative", context.Background(), -time.Second, nil},
		{"zero with a canceled context", ctx, 0, nil},
		{"canceled before an hour", ctx, time.Hour, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Wait(tt.ctx, tt.d); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Wait = %v, want %v", err, tt.want)
			}
		})
	}
}
