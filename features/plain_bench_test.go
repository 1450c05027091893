package features

import (
	"context"
	"crypto"
	"slices"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/scram"
)

// BenchmarkPLAINUnknownVsKnown measures PLAIN's server work for a wrong
// password of a real account and for an unknown account, interleaved so
// that both see the same machine, and reports the ratio of their medians
// (unknown/known; 1.00 means indistinguishable by the server's own work).
// The store holds SHA-512 credentials at 10000 iterations and the server is
// configured with that count, as a deployment would.
func BenchmarkPLAINUnknownVsKnown(b *testing.B) {
	const iterations = 10000
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice@localhost", "alice-secret", iterations, crypto.SHA1, crypto.SHA256, crypto.SHA512); err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Domains: []string{"localhost"}, Store: store, Iterations: iterations, DisableThrottle: true})
	if err != nil {
		b.Fatal(err)
	}
	domain := jid.MustParse("localhost")
	run := func(user string) time.Duration {
		m := &plainMechanism{store: accountStore{srv: srv, meta: connMeta{domain: domain}, a: &attempt{}}, profile: &srv.plain}
		start := time.Now()
		_, _, err := m.step(context.Background(), []byte("\x00"+user+"\x00wrong"))
		d := time.Since(start)
		if err == nil {
			b.Fatal("wrong password accepted")
		}
		return d
	}
	run("alice") // let the profile follow the real credentials first
	var known, unknown []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		known = append(known, run("alice"))
		unknown = append(unknown, run("nobody"))
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	b.ReportMetric(float64(median(unknown))/float64(median(known)), "unknown/known")
	b.ReportMetric(float64(median(known).Microseconds()), "known-µs")
}
