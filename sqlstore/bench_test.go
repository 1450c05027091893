package sqlstore

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/subtle"
	"encoding/base64"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// benchStore is one store under benchmark, holding alice@localhost
// ("alice-secret", every hash at 4096 iterations).
type benchStore struct {
	name  string
	store scram.Store
	sql   *Store // nil for the memory store
}

// benchStores returns the memory store and, on fresh databases, the SQLite
// and PostgreSQL stores (the latter only when PostgreSQL is installed).
func benchStores(b *testing.B) []benchStore {
	b.Helper()
	mem := scram.NewMemoryStore()
	if err := mem.SetPassword("alice@localhost", "alice-secret", testIterations); err != nil {
		b.Fatal(err)
	}
	stores := []benchStore{{name: "memory", store: mem}}
	backends := []backend{{SQLite, filepath.Join(b.TempDir(), "accounts.db")}}
	if postgresInstalled() {
		backends = append(backends, backend{Postgres, newPostgresDSN(b)})
	}
	for _, be := range backends {
		s := be.open(b, Options{})
		if err := s.AddAccount(b.Context(), mustJID(b, "alice@localhost"), "alice-secret", testIterations); err != nil {
			b.Fatal(err)
		}
		stores = append(stores, benchStore{name: string(be.dialect), store: s, sql: s})
	}
	return stores
}

// BenchmarkCredential is one credential lookup.
func BenchmarkCredential(b *testing.B) {
	for _, bs := range benchStores(b) {
		b.Run(bs.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bs.store.Credential(ctx, "alice@localhost", crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// constReader makes the server nonce the same in every exchange, so that the
// client messages can be computed once.
type constReader struct{}

func (constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}

// scramCase is a SCRAM-SHA-256 server with precomputed client messages for
// alice.
type scramCase struct {
	srv          *scram.Server
	first, final []byte
}

func newScramCase(b *testing.B, store scram.Store) scramCase {
	b.Helper()
	srv, err := scram.NewServer(scram.SHA256, scram.Config{Store: store, Rand: constReader{}})
	if err != nil {
		b.Fatal(err)
	}
	bare := "n=alice@localhost,r=fyko+d2lbbFgONRv9qkxdawL"
	first := []byte("n,," + bare)
	sf, _, err := srv.Start(scram.ChannelBinding{}, nil).Step(context.Background(), first)
	if err != nil {
		b.Fatal(err)
	}
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(sf), ",") {
		k, v, _ := strings.Cut(kv, "=")
		attrs[k] = v
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	iterations, _ := strconv.Atoi(attrs["i"])
	salted, err := pbkdf2.Key(crypto.SHA256.New, "alice-secret", salt, iterations, crypto.SHA256.Size())
	if err != nil {
		b.Fatal(err)
	}
	mac := hmac.New(crypto.SHA256.New, salted)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	h := crypto.SHA256.New()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	withoutProof := "c=biws,r=" + attrs["r"]
	mac = hmac.New(crypto.SHA256.New, storedKey)
	mac.Write([]byte(bare + "," + string(sf) + "," + withoutProof))
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, mac.Sum(nil))
	c := scramCase{srv: srv, first: first, final: []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof))}
	c.exchange(b)
	return c
}

// exchange runs one SCRAM-SHA-256 exchange through scram.Server: the
// server's work plus the store's lookup, no network, no PBKDF2.
func (c scramCase) exchange(b *testing.B) {
	ctx := context.Background()
	ex := c.srv.Start(scram.ChannelBinding{}, nil)
	if _, _, err := ex.Step(ctx, c.first); err != nil {
		b.Fatal(err)
	}
	if _, done, err := ex.Step(ctx, c.final); err != nil || !done {
		b.Fatalf("exchange: %v", err)
	}
}

// BenchmarkExchange is one SCRAM-SHA-256 exchange through scram.Server with
// each store.
func BenchmarkExchange(b *testing.B) {
	for _, bs := range benchStores(b) {
		b.Run(bs.name, func(b *testing.B) {
			c := newScramCase(b, bs.store)
			b.ReportAllocs()
			for b.Loop() {
				c.exchange(b)
			}
		})
	}
}

// newBenchServer is package features on loopback TLS with one store; the
// SQL stores come with their AccountStatus, as a host wires them.
func newBenchServer(b *testing.B, bs benchStore) *loginServer {
	b.Helper()
	if bs.sql != nil {
		return newLoginServer(b, bs.sql)
	}
	return newFeaturesServer(b, features.Config{Store: bs.store})
}

// login is one full login: TCP, STARTTLS (TLS 1.3), SCRAM-SHA-256 with
// mellium's client (PBKDF2 included), resource binding.
func (s *loginServer) benchLogin(b *testing.B) {
	if err := s.melliumLogin(b, "alice", "alice-secret", sasl.ScramSha256); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLogin is one full SCRAM-SHA-256 login over loopback TLS 1.3
// through package features with each store.
func BenchmarkLogin(b *testing.B) {
	for _, bs := range benchStores(b) {
		b.Run(bs.name, func(b *testing.B) {
			srv := newBenchServer(b, bs)
			b.ReportAllocs()
			for b.Loop() {
				srv.benchLogin(b)
			}
		})
	}
}

// BenchmarkRatio alternates blocks of exchanges (and of logins) with each
// store and reports each store's time per operation and its ratio to the
// memory store's, measured in the same run so that a loaded machine
// disturbs the comparison less than separate benchmarks do.
func BenchmarkRatio(b *testing.B) {
	stores := benchStores(b)
	run := func(b *testing.B, block int, ops []func()) {
		total := make([]time.Duration, len(ops))
		for b.Loop() {
			for i, op := range ops {
				t0 := time.Now()
				for range block {
					op()
				}
				total[i] += time.Since(t0)
			}
		}
		n := float64(b.N * block)
		for i, bs := range stores {
			b.ReportMetric(float64(total[i].Nanoseconds())/n, bs.name+"-ns/op")
			if i > 0 {
				b.ReportMetric(float64(total[i])/float64(total[0]), bs.name+"/memory")
			}
		}
	}
	b.Run("exchange", func(b *testing.B) {
		var ops []func()
		for _, bs := range stores {
			c := newScramCase(b, bs.store)
			ops = append(ops, func() { c.exchange(b) })
		}
		run(b, 64, ops)
	})
	b.Run("login", func(b *testing.B) {
		var ops []func()
		for _, bs := range stores {
			srv := newBenchServer(b, bs)
			ops = append(ops, func() { srv.benchLogin(b) })
		}
		run(b, 8, ops)
	})
}
