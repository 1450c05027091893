package metrics_test

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/scram"
)

// BenchmarkLogin compares the hook's cost per event with what one login it
// reports costs: a whole loopback login (TLS 1.3, SCRAM-SHA-256-PLUS) with
// and without the metrics wired in.
func BenchmarkLogin(b *testing.B) {
	e := features.LoginEvent{Mechanism: "SCRAM-SHA-256-PLUS", ChannelBinding: cbind.TLSExporter, Duration: 3 * time.Millisecond}
	b.Run("hook", func(b *testing.B) {
		m, _ := newMetrics(b)
		b.ReportAllocs()
		for b.Loop() {
			m.Login(e)
		}
	})
	b.Run("hook-parallel", func(b *testing.B) {
		m, _ := newMetrics(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Login(e)
			}
		})
	})
	b.Run("hook-failure-ban", func(b *testing.B) {
		m, _ := newMetrics(b)
		e := features.LoginEvent{Mechanism: "PLAIN", Condition: "not-authorized", Duration: time.Second, Banned: true}
		b.ReportAllocs()
		for b.Loop() {
			m.Login(e)
		}
	})
	for _, tc := range []struct {
		name  string
		wired bool
	}{{"loopback-without-metrics", false}, {"loopback-with-metrics", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var m *metrics.Metrics
			if tc.wired {
				m, _ = newMetrics(b)
			}
			login := loginServer(b, m)
			b.ReportAllocs()
			for b.Loop() {
				if err := login("alice-secret"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHooks(b *testing.B) {
	m, _ := newMetrics(b)
	b.Run("httpauth", func(b *testing.B) {
		e := httpauth.Event{Reason: httpauth.Denied, Duration: 5 * time.Second}
		b.ReportAllocs()
		for b.Loop() {
			m.HTTPAuth(e)
		}
	})
	b.Run("oauth", func(b *testing.B) {
		e := oauth.Event{Condition: "invalid-signature"}
		b.ReportAllocs()
		for b.Loop() {
			m.OAuth(e)
		}
	})
}

// BenchmarkScramStore compares a MemoryStore lookup with the same lookup
// through the decorator.
func BenchmarkScramStore(b *testing.B) {
	mem := scram.NewMemoryStore()
	if err := mem.SetPassword("alice@example.net", "alice-secret", scram.MinIterations, crypto.SHA256); err != nil {
		b.Fatal(err)
	}
	m, _ := newMetrics(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		store scram.Store
	}{{"bare", mem}, {"decorated", m.Scram("credentials", mem)}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.store.Credential(ctx, "alice@example.net", crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
