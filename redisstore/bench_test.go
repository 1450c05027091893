package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
)

// benchBlock is how many operations of each kind a benchmark runs in a
// row; kinds alternate block by block, and which goes first alternates
// too, so that GC and noise from other processes fall on all alike.
const benchBlock = 32

// BenchmarkOAuthVerify compares, in one run, an XEP-0235 verification
// (HMAC-SHA1, the stores, the replay check) with the in-memory nonce store
// and with the Redis one (one SET NX PX round trip to a local
// redis-server). ratio is redis/memory.
func BenchmarkOAuthVerify(b *testing.B) {
	sv := startServer(b)
	tokens := oauth.NewMemoryTokens()
	tokens.Put("token", oauth.TokenInfo{Secret: "token-secret", ConsumerKey: "consumer"})
	newVerifier := func(n oauth.NonceStore) *oauth.Verifier {
		v, err := oauth.New(oauth.Config{Consumers: oauth.MemoryConsumers{"consumer": "consumer-secret"}, Tokens: tokens, Nonces: n})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	verifiers := []*oauth.Verifier{
		newVerifier(oauth.NewMemoryNonces(0)),
		newVerifier(sv.node(b, redisstore.Options{Prefix: freshPrefix()}).Nonces),
	}
	sg := &oauth.Signer{Credentials: oauth.Credentials{ConsumerKey: "consumer", ConsumerSecret: "consumer-secret", Token: "token", TokenSecret: "token-secret"}}
	ctx := context.Background()
	params := make([]oauth.Params, benchBlock)
	var spent [2]time.Duration
	run := func(i int) {
		for j := range params { // signing is not measured
			var err error
			if params[j], err = sg.Sign(oauthStanza); err != nil {
				b.Fatal(err)
			}
		}
		t0 := time.Now()
		for _, p := range params {
			if _, err := verifiers[i].Verify(ctx, oauthStanza, p); err != nil {
				b.Fatal(err)
			}
		}
		spent[i] += time.Since(t0)
	}
	b.ReportAllocs()
	odd := false
	for b.Loop() {
		if odd {
			run(1)
			run(0)
		} else {
			run(0)
			run(1)
		}
		odd = !odd
	}
	n := float64(b.N * benchBlock)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "memory-ns/verify")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n, "redis-ns/verify")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
}

// BenchmarkRoundTrip compares, in one run, an XEP-0070 round trip (HTTP
// request, confirmation request sent, IQ answer handed to HandleStanza,
// response) on one Verifier with the in-memory store, on one Verifier with
// the Redis store, and across two Verifiers sharing Redis (A asks, B
// answers, the answer travels over Pub/Sub). two/one is the cost of the
// second node; two/memory the cost of the cluster.
func BenchmarkRoundTrip(b *testing.B) {
	sv := startServer(b)
	quiet := func(c *httpauth.Config) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.Observe = nil
	}
	memory := sv.web(b, freshPrefix(), func(c *httpauth.Config) { quiet(c); c.Store = nil })
	one := sv.web(b, freshPrefix(), quiet)
	p := freshPrefix()
	a, bb := sv.web(b, p, quiet), sv.web(b, p, quiet)
	pairs := [][2]*web{{memory, memory}, {one, one}, {a, bb}}
	var spent [3]time.Duration
	seq := 0
	run := func(i int) {
		asker, answerer := pairs[i][0], pairs[i][1]
		t0 := time.Now()
		for range benchBlock {
			seq++
			f := asker.start(basicReq("GET", fullJID, fmt.Sprintf("bench-%d", seq)))
			if !answerer.handle(iqResult(fullJID, asker.nextSent())) {
				b.Fatal("answer not taken")
			}
			if rec := f.wait(b, bound); rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
		spent[i] += time.Since(t0)
	}
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		for k := range 3 {
			run((k + round) % 3)
		}
		round++
	}
	n := float64(b.N * benchBlock)
	b.ReportMetric(float64(spent[0].Nanoseconds())/n, "memory-ns/trip")
	b.ReportMetric(float64(spent[1].Nanoseconds())/n, "one-ns/trip")
	b.ReportMetric(float64(spent[2].Nanoseconds())/n, "two-ns/trip")
	b.ReportMetric(float64(spent[2])/float64(spent[1]), "two/one")
	b.ReportMetric(float64(spent[2])/float64(spent[0]), "two/memory")
}
