package throttle

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

func TestMemoryStore(t *testing.T) {
	ctx := context.Background()
	clock := config.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	m := NewMemoryStore(10, clock)
	get := func(key string) int64 {
		t.Helper()
		n, err := m.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	incr := func(key string, ttl time.Duration) int64 {
		t.Helper()
		n, err := m.Incr(ctx, key, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := get("k"); n != 0 {
		t.Fatalf("absent key = %d", n)
	}
	for want := int64(1); want <= 3; want++ {
		if n := incr("k", time.Minute); n != want {
			t.Fatalf("Incr = %d, want %d", n, want)
		}
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if n := get("k"); n != 3 {
		t.Fatalf("before expiry = %d, want 3", n)
	}
	clock.Advance(time.Nanosecond)
	if n := get("k"); n != 0 {
		t.Fatalf("at expiry = %d, want 0", n)
	}
	if n := incr("k", time.Minute); n != 1 {
		t.Fatalf("Incr after expiry = %d, want 1", n)
	}
	if err := m.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, "k"); err != nil {
		t.Fatalf("deleting an absent key: %v", err)
	}
	if n := get("k"); n != 0 {
		t.Fatalf("after Delete = %d", n)
	}
	if m.Len() != 0 {
		t.Fatalf("Len = %d after deleting the only key", m.Len())
	}
	if _, err := m.Incr(ctx, "k", 0); err == nil {
		t.Fatal("Incr accepted a zero ttl")
	}
	// An expired counter whose key is incremented again starts over even if
	// Get never dropped it.
	incr("e", time.Second)
	incr("e", time.Second)
	clock.Advance(time.Second)
	if n := incr("e", time.Second); n != 1 {
		t.Fatalf("Incr of an expired key = %d, want 1", n)
	}
}

func TestMemoryStoreEvictsSoonestExpiring(t *testing.T) {
	ctx := context.Background()
	clock := config.NewManualClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	m := NewMemoryStore(3, clock)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := m.Incr(ctx, k, time.Hour); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	// Refreshing "a" makes "b" the soonest to expire.
	m.Incr(ctx, "a", time.Hour)
	m.Incr(ctx, "d", time.Hour)
	for k, want := range map[string]int64{"a": 2, "b": 0, "c": 1, "d": 1} {
		if n, _ := m.Get(ctx, k); n != want {
			t.Errorf("%s = %d, want %d", k, n, want)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("Len = %d, want 3", m.Len())
	}
	// Expired counters are dropped when a new key arrives, even below the cap.
	clock.Advance(2 * time.Hour)
	m.Incr(ctx, "e", time.Hour)
	if m.Len() != 1 {
		t.Fatalf("Len = %d after everything else expired, want 1", m.Len())
	}
}

func TestMemoryStoreContext(t *testing.T) {
	m := NewMemoryStore(0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Incr(ctx, "k", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Incr = %v", err)
	}
	if _, err := m.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v", err)
	}
	if err := m.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete = %v", err)
	}
}

// A hostile client that tries random usernames from ever new addresses
// cannot grow the default store past its cap, and the newest counters are
// the ones kept.
func TestMemoryCapUnderRandomUsernames(t *testing.T) {
	const maxEntries = 1000
	attempts := 1_000_000
	if testing.Short() || raceEnabled {
		attempts = 100_000
	}
	l, clock := newLimiter(t, Config{MaxEntries: maxEntries})
	store := l.store.(*MemoryStore)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	addr := &net.TCPAddr{IP: net.ParseIP("2001:db8::1")}
	name := make([]byte, 0, 32)
	for i := range attempts {
		// A new /64 for every attempt, so that no ban stops the flood.
		binary.BigEndian.PutUint32(addr.IP[4:8], uint32(i))
		name = strconv.AppendUint(name[:0], rng.Uint64(), 36)
		if _, err := l.Failed(ctx, addr, string(name)); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			clock.Advance(time.Millisecond)
			if n := store.Len(); n > maxEntries {
				t.Fatalf("after %d attempts the store holds %d keys", i+1, n)
			}
		}
	}
	if n := store.Len(); n != maxEntries {
		t.Fatalf("store holds %d keys, want exactly the cap %d", n, maxEntries)
	}
	if n, _ := store.Get(ctx, AddrKey(addr)); n != 1 {
		t.Fatalf("the newest address counter was evicted: %d", n)
	}
}

func TestMemoryStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryStore(50, nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				k := fmt.Sprintf("k%d", (w*i)%80)
				m.Incr(ctx, k, time.Hour)
				m.Get(ctx, k)
				if i%11 == 0 {
					m.Delete(ctx, k)
				}
			}
		}()
	}
	wg.Wait()
	if m.Len() > 50 {
		t.Fatalf("Len = %d over the cap", m.Len())
	}
	// The heap and the map still agree.
	if len(m.byExp) != len(m.entries) {
		t.Fatalf("heap %d, map %d", len(m.byExp), len(m.entries))
	}
	for i, e := range m.byExp {
		if e.index != i || m.entries[e.key] != e {
			t.Fatalf("entry %q at %d has index %d", e.key, i, e.index)
		}
	}
}
