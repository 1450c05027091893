package metrics_test

import (
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/metrics"
)

func BenchmarkLogin(b *testing.B) {
	m, err := metrics.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	e := features.LoginEvent{Mechanism: "SCRAM-SHA-256-PLUS", ChannelBinding: cbind.TLSExporter, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.Login(e)
	}
}

func BenchmarkLoginParallel(b *testing.B) {
	m, err := metrics.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	e := features.LoginEvent{Mechanism: "SCRAM-SHA-256-PLUS", ChannelBinding: cbind.TLSExporter, Duration: 3 * time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Login(e)
		}
	})
}
