package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/throttle"
)

// TestCounters mirrors the tests of throttle.MemoryStore: counting,
// expiry renewed by every Incr, Delete, a zero ttl refused.
func TestCounters(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	st := sv.node(t, redisstore.Options{Prefix: p})
	c := sv.client(t)
	ctx := context.Background()
	get := func(key string) int64 {
		t.Helper()
		n, err := st.Counters.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := get("k"); n != 0 {
		t.Fatalf("absent key = %d", n)
	}
	for want := int64(1); want <= 3; want++ {
		if n, err := st.Counters.Incr(ctx, "k", time.Minute); err != nil || n != want {
			t.Fatalf("Incr = %d %v, want %d", n, err, want)
		}
	}
	if n := get("k"); n != 3 {
		t.Fatalf("Get = %d, want 3", n)
	}
	// Each Incr sets the expiry to ttl from now.
	if ttl := c.PTTL(ctx, p+"throttle:k").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL = %v, want up to a minute", ttl)
	}
	if _, err := st.Counters.Incr(ctx, "k", time.Hour); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, p+"throttle:k").Val(); ttl <= time.Minute {
		t.Fatalf("PTTL after Incr with an hour = %v, want it renewed", ttl)
	}
	if err := st.Counters.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if err := st.Counters.Delete(ctx, "k"); err != nil {
		t.Fatalf("deleting an absent key: %v", err)
	}
	if n := get("k"); n != 0 {
		t.Fatalf("after Delete = %d", n)
	}
	if _, err := st.Counters.Incr(ctx, "k", 0); err == nil {
		t.Fatal("Incr accepted a zero ttl")
	}
	// Expiry (on Redis's clock): a counter that expired starts over.
	if _, err := st.Counters.Incr(ctx, "e", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get("e") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("counter did not expire")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, _ := st.Counters.Incr(ctx, "e", time.Minute); n != 1 {
		t.Fatalf("Incr after expiry = %d, want 1", n)
	}

	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Counters.Incr(ctx, "k", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Incr = %v", err)
	}
	if _, err := st.Counters.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v", err)
	}
	if err := st.Counters.Delete(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete = %v", err)
	}
}

// TestCountersConcurrent: concurrent increments on two nodes are all
// counted.
func TestCountersConcurrent(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	nodes := []*redisstore.Stores{sv.node(t, redisstore.Options{Prefix: p}), sv.node(t, redisstore.Options{Prefix: p})}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := nodes[w%2].Counters.Incr(ctx, "k", time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := nodes[0].Counters.Get(ctx, "k"); err != nil || n != 400 {
		t.Fatalf("Get = %d %v, want 400", n, err)
	}
}

// TestLimitersShareCounters: failed logins on node A count on node B, the
// ban is reported exactly once across the nodes, and a success on B
// resets the account for A.
func TestLimitersShareCounters(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	newLimiter := func() *throttle.Limiter {
		l, err := throttle.New(throttle.Config{Store: sv.node(t, redisstore.Options{Prefix: p}).Counters, MaxFailures: 4, FreeAttempts: 1})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := newLimiter(), newLimiter()
	ctx := context.Background()
	addr := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 5222}
	other := &net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 5222}
	bans := 0
	for i, l := range []*throttle.Limiter{a, b, a, b} {
		banned, err := l.Failed(ctx, addr, fmt.Sprintf("user%d@example.net", i))
		if err != nil {
			t.Fatal(err)
		}
		if banned {
			bans++
		}
	}
	if bans != 1 {
		t.Fatalf("%d bans reported, want 1", bans)
	}
	for name, l := range map[string]*throttle.Limiter{"A": a, "B": b} {
		if _, err := l.Check(ctx, addr, "x@example.net"); !errors.Is(err, throttle.ErrBanned) {
			t.Fatalf("Check on %s after 4 failures = %v, want ErrBanned", name, err)
		}
	}
	// The account delay is shared too.
	for range 3 {
		if _, err := a.Failed(ctx, other, "romeo@example.net"); err != nil {
			t.Fatal(err)
		}
	}
	if d, err := b.Check(ctx, other, "romeo@example.net"); err != nil || d == 0 {
		t.Fatalf("Check on B = %v %v, want a delay", d, err)
	}
	if err := b.Succeeded(ctx, other, "romeo@example.net"); err != nil {
		t.Fatal(err)
	}
	if d, err := a.Check(ctx, other, "romeo@example.net"); err != nil || d != 0 {
		t.Fatalf("Check on A after a success on B = %v %v, want no delay", d, err)
	}
}
