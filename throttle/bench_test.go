package throttle

import (
	"context"
	"fmt"
	"net"
	"testing"
)

// BenchmarkCheckFailed is one failed login: Check, then Failed, on the memory
// store, cycling through 1,000 addresses and accounts (no ban, counters hot).
func BenchmarkCheckFailed(b *testing.B) {
	l, err := New(Config{MaxFailures: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	addrs := make([]net.Addr, 1000)
	accts := make([]string, len(addrs))
	for i := range addrs {
		addrs[i] = tcp(fmt.Sprintf("2001:db8:%x::1", i))
		accts[i] = fmt.Sprintf("user%d@example.net", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a, n := addrs[i%len(addrs)], accts[i%len(accts)]
		if _, err := l.Check(ctx, a, n); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Failed(ctx, a, n); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCheckFailedParallel is the same under contention on one store.
func BenchmarkCheckFailedParallel(b *testing.B) {
	l, err := New(Config{MaxFailures: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		a := tcp("192.0.2.1")
		for pb.Next() {
			if _, err := l.Check(ctx, a, "user@example.net"); err != nil {
				b.Fatal(err)
			}
			if _, err := l.Failed(ctx, a, "user@example.net"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFailedEvicting is a failure with a new account name on a full
// store: every call evicts.
func BenchmarkFailedEvicting(b *testing.B) {
	l, err := New(Config{MaxEntries: 10_000, MaxFailures: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	a := tcp("192.0.2.1")
	names := make([]string, 1<<16)
	for i := range names {
		names[i] = fmt.Sprintf("random%d@example.net", i)
	}
	for i := range 20_000 {
		l.Failed(ctx, a, fmt.Sprint("fill", i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := l.Failed(ctx, a, names[i%len(names)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAddrKey(b *testing.B) {
	for _, a := range []net.Addr{tcp("192.0.2.1"), tcp("2001:db8::1"), stringAddr{"pipe", "pipe"}} {
		b.Run(a.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				AddrKey(a)
			}
		})
	}
}
