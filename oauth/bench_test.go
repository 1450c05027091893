package oauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" // #nosec G505 -- the benchmark measures HMAC-SHA1.
	"encoding/xml"
	"fmt"
	"io"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// benchBatch is how many distinct signed requests the benchmarks cycle
// through; each needs its own nonce. When a batch is used up the nonce store
// is replaced (outside the timer), so it holds up to benchBatch entries.
const benchBatch = 4096

// signedBatch returns benchBatch parameter sets for xepStanza with distinct
// nonces, signed at xepNow.
func signedBatch(b *testing.B) []Params {
	b.Helper()
	out := make([]Params, benchBatch)
	for i := range out {
		p := xepParams
		p.Nonce = fmt.Sprintf("%030x", i)
		p.Timestamp = "1218137843"
		out[i] = signed(b, xepStanza, p, xepConsumerSecret, xepTokenSecret)
	}
	return out
}

// BenchmarkVerify measures one verification: parsing the <oauth/> element
// from the tokens the decoder produced, building the base string, HMAC-SHA1,
// the constant-time compare, the store look-ups and the replay check.
func BenchmarkVerify(b *testing.B) {
	env := newTestEnv(b, nil)
	batch := signedBatch(b)
	toks := make([][]xml.Token, len(batch))
	for i, p := range batch {
		all, err := xmlstream.ReadAll(p.TokenReader())
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = all[1:]
	}
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "oauth"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % benchBatch
		if j == 0 && i > 0 {
			b.StopTimer()
			env.v.nonces = NewMemoryNonces(0)
			b.StartTimer()
		}
		p, err := ParseElement(&sliceReader{toks: toks[j]}, start)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.v.Verify(ctx, xepStanza, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawHMACSHA1 is HMAC-SHA1 of the same base string with a
// per-request key, the floor under BenchmarkVerify.
func BenchmarkRawHMACSHA1(b *testing.B) {
	key := []byte(xepConsumerSecret + "&" + xepTokenSecret)
	base := []byte(xepBaseString)
	var sum [sha1.Size]byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := hmac.New(sha1.New, key)
		m.Write(base)
		m.Sum(sum[:0])
	}
}

// stanzaBatch returns the XEP example IQ (with the <oauth/> element inside
// <pubsub/>) for each request of the batch, as bytes on the wire.
func stanzaBatch(b *testing.B) [][]byte {
	b.Helper()
	out := make([][]byte, benchBatch)
	for i, p := range signedBatch(b) {
		out[i] = []byte(`<iq xmlns='jabber:client' from='travelbot@findmenow.tld/bot' id='sub1' to='feeds.worldgps.tld' type='set'>` +
			`<pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe jid='travelbot@findmenow.tld' node='bard_geoloc'/>` +
			marshalString(p) + `</pubsub></iq>`)
	}
	return out
}

// pubsubHandler stands for a host handler: it reads its payload and answers.
type pubsubHandler struct{}

func (pubsubHandler) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	if _, err := xmlstream.Copy(xmlstream.Discard(), t); err != nil {
		return err
	}
	_, err := xmlstream.Copy(t, iq.Result(nil))
	return err
}

func benchMux(b *testing.B, h mux.IQHandler, reset func()) {
	stanzas := stanzaBatch(b)
	m := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, xml.Name{Space: nsPubsub, Local: "pubsub"}, h))
	enc := xml.NewEncoder(io.Discard)
	r := bytes.NewReader(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % benchBatch
		if j == 0 && i > 0 && reset != nil {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		r.Reset(stanzas[j])
		handle(b, m, r, enc)
	}
}

// BenchmarkMux is the IQ decoded from the wire and routed by a mellium mux
// to its handler, which answers it; no OAuth.
func BenchmarkMux(b *testing.B) {
	benchMux(b, pubsubHandler{}, nil)
}

// BenchmarkMuxWithOAuth is BenchmarkMux with the handler wrapped by the
// verifier.
func BenchmarkMuxWithOAuth(b *testing.B) {
	env := newTestEnv(b, nil)
	benchMux(b, env.v.IQ(pubsubHandler{}), func() { env.v.nonces = NewMemoryNonces(0) })
}

// ratioChunk is how many operations of one kind run between clock reads in
// the ratio benchmarks.
const ratioChunk = 64

// interleave runs a and b alternately in chunks, so that both see the same
// machine load, and reports the time per operation of each and their ratio.
func interleave(bm *testing.B, nameA, nameB string, a, b func(i int)) {
	var ta, tb time.Duration
	n := 0
	bm.ReportAllocs()
	bm.ResetTimer()
	for n < bm.N {
		t0 := time.Now()
		for k := range ratioChunk {
			a(n + k)
		}
		t1 := time.Now()
		for k := range ratioChunk {
			b(n + k)
		}
		tb += time.Since(t1)
		ta += t1.Sub(t0)
		n += ratioChunk
	}
	bm.ReportMetric(float64(ta.Nanoseconds())/float64(n), "ns/"+nameA)
	bm.ReportMetric(float64(tb.Nanoseconds())/float64(n), "ns/"+nameB)
	bm.ReportMetric(float64(tb)/float64(ta), nameB+"/"+nameA)
}

// BenchmarkVerifyVsRawHMAC interleaves BenchmarkRawHMACSHA1's and
// BenchmarkVerify's work and reports their ratio (target ≤ 3).
func BenchmarkVerifyVsRawHMAC(b *testing.B) {
	env := newTestEnv(b, nil)
	batch := signedBatch(b)
	toks := make([][]xml.Token, len(batch))
	for i, p := range batch {
		all, _ := xmlstream.ReadAll(p.TokenReader())
		toks[i] = all[1:]
	}
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "oauth"}}
	key := []byte(xepConsumerSecret + "&" + xepTokenSecret)
	base := []byte(xepBaseString)
	var sum [sha1.Size]byte
	ctx := context.Background()
	interleave(b, "raw", "verify", func(int) {
		m := hmac.New(sha1.New, key)
		m.Write(base)
		m.Sum(sum[:0])
	}, func(i int) {
		j := i % benchBatch
		if j == 0 {
			env.v.nonces = NewMemoryNonces(0)
		}
		p, err := ParseElement(&sliceReader{toks: toks[j]}, start)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := env.v.Verify(ctx, xepStanza, p); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkMuxVsMuxWithOAuth interleaves BenchmarkMux's and
// BenchmarkMuxWithOAuth's work and reports their ratio (target ≤ 1.25).
func BenchmarkMuxVsMuxWithOAuth(b *testing.B) {
	env := newTestEnv(b, nil)
	stanzas := stanzaBatch(b)
	name := xml.Name{Space: nsPubsub, Local: "pubsub"}
	plain := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, name, pubsubHandler{}))
	wrapped := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, name, env.v.IQ(pubsubHandler{})))
	enc := xml.NewEncoder(io.Discard)
	r := bytes.NewReader(nil)
	run := func(m *mux.ServeMux, j int) {
		r.Reset(stanzas[j])
		handle(b, m, r, enc)
	}
	interleave(b, "mux", "oauth", func(i int) { run(plain, i%benchBatch) }, func(i int) {
		j := i % benchBatch
		if j == 0 {
			env.v.nonces = NewMemoryNonces(0)
		}
		run(wrapped, j)
	})
}
