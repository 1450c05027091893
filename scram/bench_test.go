package scram_test

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// constReader returns the same bytes on every read, so the server nonce, and
// thus the client-final message, is the same in every iteration while the
// server still reads and encodes it.
type constReader struct{}

func (constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

type benchCase struct {
	mech        scram.Mechanism
	srv         *scram.Server
	cb          scram.ChannelBinding
	clientFirst []byte
	clientFinal []byte
	serverFinal string
	// for BenchmarkRawWork
	storedKey, serverKey, proof, authMessage []byte
}

func newBenchCase(b *testing.B, m scram.Mechanism) benchCase {
	b.Helper()
	store := scram.NewMemoryStore()
	if err := store.SetPassword("user", "pencil", 4096, m.Hash()); err != nil {
		b.Fatal(err)
	}
	srv, err := scram.NewServer(m, scram.Config{Store: store, Rand: constReader{}})
	if err != nil {
		b.Fatal(err)
	}
	c := testClient{mech: m, password: "pencil", gs2: "n,,", bare: "n=user,r=rOprNGfwEbeRWgbNEkqO"}
	cb := scram.ChannelBinding{}
	if m.Plus() {
		data := seq(32)
		c.gs2, c.cbData = "p=tls-exporter,,", data
		cb = scram.ChannelBinding{Advertised: true, Data: func(cbind.Type) ([]byte, error) { return data, nil }}
	}
	ex := srv.Start(cb, nil)
	sf, _, err := ex.Step(context.Background(), []byte(c.first()))
	if err != nil {
		b.Fatal(err)
	}
	cf, want := c.final(b, string(sf))
	cred, err := store.Credential(context.Background(), "user", m.Hash())
	if err != nil {
		b.Fatal(err)
	}
	i := strings.LastIndex(cf, ",p=")
	proof, _ := base64.StdEncoding.DecodeString(cf[i+3:])
	return benchCase{
		mech: m, srv: srv, cb: cb,
		clientFirst: []byte(c.first()), clientFinal: []byte(cf), serverFinal: want,
		storedKey: cred.StoredKey, serverKey: cred.ServerKey, proof: proof,
		authMessage: []byte(c.bare + "," + string(sf) + "," + cf[:i]),
	}
}

// BenchmarkExchange measures one complete server exchange (Start, client-first,
// client-final) per mechanism; the client messages are precomputed.
func BenchmarkExchange(b *testing.B) {
	for _, m := range scram.Mechanisms() {
		b.Run(m.Name(), func(b *testing.B) {
			bc := newBenchCase(b, m)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ex := bc.srv.Start(bc.cb, nil)
				if _, _, err := ex.Step(ctx, bc.clientFirst); err != nil {
					b.Fatal(err)
				}
				out, done, err := ex.Step(ctx, bc.clientFinal)
				if err != nil || !done {
					b.Fatal(err)
				}
				if len(out) != len(bc.serverFinal) {
					b.Fatal("wrong server-final")
				}
			}
		})
	}
}

// BenchmarkRawWork measures only the HMAC and hash work RFC 5802 requires of
// the server per exchange, for comparison with BenchmarkExchange:
// ClientSignature := HMAC(StoredKey, AuthMessage), ClientKey := ClientProof
// XOR ClientSignature, compare H(ClientKey) with StoredKey, ServerSignature
// := HMAC(ServerKey, AuthMessage).
func BenchmarkRawWork(b *testing.B) {
	for _, m := range []scram.Mechanism{scram.SHA512, scram.SHA256, scram.SHA1} {
		b.Run(m.Hash().String(), func(b *testing.B) {
			bc := newBenchCase(b, m)
			b.ReportAllocs()
			for b.Loop() {
				rawWork(b, &bc)
			}
		})
	}
}

func rawWork(b *testing.B, bc *benchCase) {
	h := bc.mech.Hash()
	mac := hmac.New(h.New, bc.storedKey)
	mac.Write(bc.authMessage)
	clientSig := mac.Sum(nil)
	clientKey := make([]byte, h.Size())
	subtle.XORBytes(clientKey, bc.proof, clientSig)
	sum := h.New()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), bc.storedKey) != 1 {
		b.Fatal("proof does not verify")
	}
	mac = hmac.New(h.New, bc.serverKey)
	mac.Write(bc.authMessage)
	_ = mac.Sum(nil)
}

func exchange(b *testing.B, bc *benchCase) {
	ctx := context.Background()
	ex := bc.srv.Start(bc.cb, nil)
	if _, _, err := ex.Step(ctx, bc.clientFirst); err != nil {
		b.Fatal(err)
	}
	if _, done, err := ex.Step(ctx, bc.clientFinal); err != nil || !done {
		b.Fatal(err)
	}
}

// BenchmarkRatio alternates blocks of exchanges and of raw work (with the
// AuthMessage of the same mechanism, -PLUS included) and reports the ratio
// of their times, which a loaded machine disturbs less than two separate
// benchmarks. ns/op is the time of 64 exchanges plus 64 raw works.
func BenchmarkRatio(b *testing.B) {
	const block = 64
	for _, m := range scram.Mechanisms() {
		b.Run(m.Name(), func(b *testing.B) {
			bc := newBenchCase(b, m)
			var exT, rawT time.Duration
			for b.Loop() {
				t0 := time.Now()
				for range block {
					exchange(b, &bc)
				}
				t1 := time.Now()
				for range block {
					rawWork(b, &bc)
				}
				exT += t1.Sub(t0)
				rawT += time.Since(t1)
			}
			b.ReportMetric(float64(exT)/float64(rawT), "exchange/raw")
			b.ReportMetric(float64(exT.Nanoseconds())/float64(b.N*block), "exchange-ns")
			b.ReportMetric(float64(rawT.Nanoseconds())/float64(b.N*block), "raw-ns")
		})
	}
}
