package httpauth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

func TestMemStore(t *testing.T) {
	clock := newFakeClock()
	ctx := context.Background()
	s := NewMemStore(MemStoreConfig{Clock: clock, MaxPending: 3, MaxPendingPerJID: 2, MaxUsed: 2, UsedTTL: config.Duration(time.Hour), MaxGrants: 1, MaxNonces: 2})
	tx := func(ref, bare, id string) Transaction {
		return Transaction{Ref: ref, To: bare, Bare: bare, Confirm: Confirm{ID: id, Method: "GET", URL: "https://a.example/"}}
	}
	if err := s.Begin(ctx, tx("r1", "a@x", "i1")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tx   Transaction
		want error
	}{
		{tx("r1", "b@x", "i9"), ErrReplay},         // same ref
		{tx("r2", "a@x", "i1"), ErrReplay},         // same id, same JID
		{tx("r2", "a@x", "i2"), nil},               // second for a@x
		{tx("r3", "a@x", "i3"), ErrTooManyPending}, // third for a@x
		{tx("r3", "b@x", "i1"), nil},               // same id, other JID
		{tx("r4", "c@x", "i1"), ErrOverloaded},     // fourth in total
	} {
		if err := s.Begin(ctx, tc.tx); !errors.Is(err, tc.want) {
			t.Fatalf("Begin(%+v) = %v, want %v", tc.tx, err, tc.want)
		}
	}
	if got, ok, _ := s.LookupID(ctx, "a@x", "i1"); !ok || got.Ref != "r1" {
		t.Fatalf("LookupID: %+v %v", got, ok)
	}
	if err := s.Resolve(ctx, "r1", Answer{Result: AnswerConfirmed}); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.Wait(ctx, "r1"); a.Result != AnswerConfirmed {
		t.Fatalf("answer %+v, want confirmed", a)
	}
	if err := s.Resolve(ctx, "r1", Answer{Result: AnswerDenied}); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second Resolve: %v", err)
	}
	if _, ok, _ := s.Lookup(ctx, "r1"); ok {
		t.Fatal("decided transaction still looked up")
	}
	s.End(ctx, Transaction{Ref: "r1"})
	s.End(ctx, Transaction{Ref: "r1"}) // idempotent
	if n := storePending(t, s); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
	if err := s.Begin(ctx, tx("r5", "a@x", "i1")); !errors.Is(err, ErrReplay) {
		t.Fatalf("used id accepted: %v", err)
	}
	// Used ids are forgotten after UsedTTL.
	clock.Advance(time.Hour)
	if err := s.Begin(ctx, tx("r5", "a@x", "i1")); err != nil {
		t.Fatalf("id not forgotten after the TTL: %v", err)
	}
	// Beyond MaxUsed the oldest used id is forgotten first.
	s.End(ctx, Transaction{Ref: "r5"})
	s.End(ctx, Transaction{Ref: "r2"})
	s.End(ctx, Transaction{Ref: "r3"})
	if err := s.Begin(ctx, tx("r6", "a@x", "i1")); err != nil {
		t.Fatalf("oldest used id not evicted: %v", err)
	}
	if err := s.Begin(ctx, tx("r7", "b@x", "i1")); !errors.Is(err, ErrReplay) {
		t.Fatalf("newest used id evicted: %v", err)
	}

	// Grants expire and are capped.
	s.AddGrant(ctx, Grant{Bare: "a@x", ID: "g1", Expires: clock.Now().Add(time.Minute)})
	if _, ok, _ := s.Grant(ctx, "a@x", "g1"); !ok {
		t.Fatal("grant missing")
	}
	s.AddGrant(ctx, Grant{Bare: "a@x", ID: "g2", Expires: clock.Now().Add(time.Minute)})
	if _, ok, _ := s.Grant(ctx, "a@x", "g1"); ok {
		t.Fatal("grant beyond MaxGrants kept")
	}
	clock.Advance(time.Minute)
	if _, ok, _ := s.Grant(ctx, "a@x", "g2"); ok {
		t.Fatal("expired grant returned")
	}

	// Nonce counts must increase; at most MaxNonces are tracked.
	exp := clock.Now().Add(time.Minute)
	for i, tc := range []struct {
		nonce string
		nc    uint32
		want  error
	}{
		{"n1", 1, nil}, {"n1", 1, ErrReplay}, {"n1", 3, nil}, {"n1", 2, ErrReplay},
		{"n2", 1, nil}, {"n3", 1, nil}, {"n3", 1, ErrReplay},
	} {
		if err := s.UseNonce(ctx, tc.nonce, tc.nc, exp); !errors.Is(err, tc.want) {
			t.Fatalf("%d: UseNonce(%s, %d) = %v, want %v", i, tc.nonce, tc.nc, err, tc.want)
		}
	}
	if len(s.nonces) != 2 {
		t.Fatalf("%d nonces tracked, want 2", len(s.nonces))
	}
	clock.Advance(time.Minute)
	s.UseNonce(ctx, "n4", 1, clock.Now().Add(time.Minute))
	if len(s.nonces) != 1 {
		t.Fatalf("expired nonces kept: %d", len(s.nonces))
	}
}

func TestMemStoreDefaults(t *testing.T) {
	s := NewMemStore(MemStoreConfig{})
	ctx := context.Background()
	for i := range 5 {
		if err := s.Begin(ctx, Transaction{Ref: fmt.Sprint(i), Bare: "a@x", Confirm: Confirm{ID: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Begin(ctx, Transaction{Ref: "x", Bare: "a@x", Confirm: Confirm{ID: "x"}}); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("default per-JID limit: %v", err)
	}
}

// MemStore's own bookkeeping (the storetest contract covers the rest): the
// per-JID index forgets an account whose transactions all ended.
func TestMemStorePerJIDForgotten(t *testing.T) {
	s := NewMemStore(MemStoreConfig{})
	ctx := context.Background()
	for _, ref := range []string{"r1", "r2"} {
		if err := s.Begin(ctx, Transaction{Ref: ref, To: "a@x", Bare: "a@x", Confirm: Confirm{ID: ref, Method: "GET", URL: "https://a.example/"}}); err != nil {
			t.Fatal(err)
		}
	}
	s.End(ctx, Transaction{Ref: "r1"})
	if len(s.perJID) != 1 {
		t.Fatalf("perJID after one End: %v", s.perJID)
	}
	s.End(ctx, Transaction{Ref: "r2"})
	if txs, _ := s.PendingFor(ctx, "a@x"); txs != nil || len(s.perJID) != 0 {
		t.Fatalf("left after End: %v %v", txs, s.perJID)
	}
}
