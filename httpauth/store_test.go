package httpauth

import (
	"github.com/xmppauth/xmppauth/config"

	"errors"
	"fmt"
	"testing"
	"time"
)

func TestMemStore(t *testing.T) {
	clock := newFakeClock()
	s := NewMemStore(MemStoreConfig{Clock: clock, MaxPending: 3, MaxPendingPerJID: 2, MaxUsed: 2, UsedTTL: config.Duration(time.Hour), MaxGrants: 1, MaxNonces: 2})
	tx := func(ref, bare, id string) Transaction {
		return Transaction{Ref: ref, To: bare, Bare: bare, Confirm: Confirm{ID: id, Method: "GET", URL: "https://a.example/"}}
	}
	ch, err := s.Begin(tx("r1", "a@x", "i1"))
	if err != nil {
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
		if _, err := s.Begin(tc.tx); !errors.Is(err, tc.want) {
			t.Fatalf("Begin(%+v) = %v, want %v", tc.tx, err, tc.want)
		}
	}
	if got, ok := s.LookupID("a@x", "i1"); !ok || got.Ref != "r1" {
		t.Fatalf("LookupID: %+v %v", got, ok)
	}
	if err := s.Resolve("r1", true); err != nil {
		t.Fatal(err)
	}
	if !<-ch {
		t.Fatal("decision lost")
	}
	if err := s.Resolve("r1", false); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second Resolve: %v", err)
	}
	if _, ok := s.Lookup("r1"); ok {
		t.Fatal("decided transaction still looked up")
	}
	s.End("r1")
	s.End("r1") // idempotent
	if n := s.Pending(); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
	if _, err := s.Begin(tx("r5", "a@x", "i1")); !errors.Is(err, ErrReplay) {
		t.Fatalf("used id accepted: %v", err)
	}
	// Used ids are forgotten after UsedTTL.
	clock.Advance(time.Hour)
	if _, err := s.Begin(tx("r5", "a@x", "i1")); err != nil {
		t.Fatalf("id not forgotten after the TTL: %v", err)
	}
	// Beyond MaxUsed the oldest used id is forgotten first.
	s.End("r5")
	s.End("r2")
	s.End("r3")
	if _, err := s.Begin(tx("r6", "a@x", "i1")); err != nil {
		t.Fatalf("oldest used id not evicted: %v", err)
	}
	if _, err := s.Begin(tx("r7", "b@x", "i1")); !errors.Is(err, ErrReplay) {
		t.Fatalf("newest used id evicted: %v", err)
	}

	// Grants expire and are capped.
	s.AddGrant(Grant{Bare: "a@x", ID: "g1", Expires: clock.Now().Add(time.Minute)})
	if _, ok := s.Grant("a@x", "g1"); !ok {
		t.Fatal("grant missing")
	}
	s.AddGrant(Grant{Bare: "a@x", ID: "g2", Expires: clock.Now().Add(time.Minute)})
	if _, ok := s.Grant("a@x", "g1"); ok {
		t.Fatal("grant beyond MaxGrants kept")
	}
	clock.Advance(time.Minute)
	if _, ok := s.Grant("a@x", "g2"); ok {
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
		if err := s.UseNonce(tc.nonce, tc.nc, exp); !errors.Is(err, tc.want) {
			t.Fatalf("%d: UseNonce(%s, %d) = %v, want %v", i, tc.nonce, tc.nc, err, tc.want)
		}
	}
	if len(s.nonces) != 2 {
		t.Fatalf("%d nonces tracked, want 2", len(s.nonces))
	}
	clock.Advance(time.Minute)
	s.UseNonce("n4", 1, clock.Now().Add(time.Minute))
	if len(s.nonces) != 1 {
		t.Fatalf("expired nonces kept: %d", len(s.nonces))
	}
}

func TestMemStoreDefaults(t *testing.T) {
	s := NewMemStore(MemStoreConfig{})
	for i := range 5 {
		if _, err := s.Begin(Transaction{Ref: fmt.Sprint(i), Bare: "a@x", Confirm: Confirm{ID: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Begin(Transaction{Ref: "x", Bare: "a@x", Confirm: Confirm{ID: "x"}}); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("default per-JID limit: %v", err)
	}
}
