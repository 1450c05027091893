// Package storetest checks that an [httpauth.Store] keeps the contract the
// Verifier relies on: the replay and limit checks of Begin, lookups that
// see only undecided transactions, answers that reach Wait whether they
// are given to Resolve before or after it, Reopen, End remembering used
// identifiers, grants and Digest nonce counts with their expiry, and the
// atomicity of the checks under concurrent calls.
//
// A store's own tests call [Run] with a constructor; the in-memory store
// and the Redis store (module redisstore) are both held to it. Time is the
// [Clock] Run passes to the constructor, which the store must read for
// every expiry it checks.
package storetest // import "github.com/xmppauth/xmppauth/httpauth/storetest"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
)

// Clock is the settable clock Run passes to the constructor.
type Clock = config.ManualClock

// NewClock returns a Clock set to a fixed time.
func NewClock() *Clock {
	return config.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
}

// Limits are the limits Run asks the constructor to configure.
type Limits struct {
	MaxPending       int           // pending transactions in all
	MaxPendingPerJID int           // pending transactions per bare JID
	MaxUsed          int           // used identifiers remembered
	UsedTTL          time.Duration // how long a used identifier is remembered
	MaxNonces        int           // Digest nonces whose counts are kept
}

// Constructor returns an empty store with the given limits that reads the
// time from clock. Stores that need cleaning up register it with t.Cleanup.
// Each call must return a store that shares nothing with the previous ones.
type Constructor func(t *testing.T, l Limits, clock *Clock) httpauth.Store

// Run runs the contract's subtests against stores made by newStore.
func Run(t *testing.T, newStore Constructor) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, Constructor)
	}{
		{"Begin", testBegin},
		{"Lookups", testLookups},
		{"ResolveWait", testResolveWait},
		{"WaitEnds", testWaitEnds},
		{"Reopen", testReopen},
		{"EndAndUsed", testEndAndUsed},
		{"UsedCap", testUsedCap},
		{"Grants", testGrants},
		{"Nonces", testNonces},
		{"Concurrent", testConcurrent},
		{"Values", testValues},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore) })
	}
}

// ref returns a reference of the form the Verifier makes.
func ref(i int) string { return fmt.Sprintf("%024x", i) }

func txn(i int, bare, id string) httpauth.Transaction {
	return httpauth.Transaction{
		Ref: ref(i), To: bare + "/res", Bare: bare,
		Confirm: httpauth.Confirm{ID: id, Method: "GET", URL: "https://a.example/" + id},
		Expires: time.Date(2026, 1, 2, 3, 9, 5, 0, time.UTC),
	}
}

var defaults = Limits{MaxPending: 100, MaxPendingPerJID: 5, MaxUsed: 100, UsedTTL: time.Hour, MaxNonces: 100}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pending(t *testing.T, s httpauth.Store) int {
	t.Helper()
	n, err := s.Pending(context.Background())
	must(t, err)
	return n
}

func testBegin(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	s := newStore(t, Limits{MaxPending: 4, MaxPendingPerJID: 2, MaxUsed: 10, UsedTTL: time.Hour, MaxNonces: 10}, NewClock())
	must(t, s.Begin(ctx, txn(1, "a@x", "i1")))
	for _, tc := range []struct {
		tx   httpauth.Transaction
		want error
	}{
		{txn(1, "b@x", "i9"), httpauth.ErrReplay},         // same ref
		{txn(2, "a@x", "i1"), httpauth.ErrReplay},         // same id, same JID
		{txn(2, "a@x", "i2"), nil},                        // second for a@x
		{txn(3, "a@x", "i3"), httpauth.ErrTooManyPending}, // third for a@x
		{txn(3, "b@x", "i1"), nil},                        // same id, other JID
		{txn(4, "c@x", "i1"), nil},                        // fourth in total
		{txn(5, "d@x", "i1"), httpauth.ErrOverloaded},     // fifth in total
	} {
		if err := s.Begin(ctx, tc.tx); !errors.Is(err, tc.want) {
			t.Fatalf("Begin(%s, %s, %s) = %v, want %v", tc.tx.Ref, tc.tx.Bare, tc.tx.Confirm.ID, err, tc.want)
		}
	}
	if n := pending(t, s); n != 4 {
		t.Fatalf("Pending = %d, want 4", n)
	}
	// Ending one makes room, for the JID and in total.
	must(t, s.End(ctx, txn(1, "a@x", "i1")))
	must(t, s.Begin(ctx, txn(6, "a@x", "i6")))
	if err := s.Begin(ctx, txn(7, "e@x", "i7")); !errors.Is(err, httpauth.ErrOverloaded) {
		t.Fatalf("Begin beyond MaxPending = %v", err)
	}
	// A decided transaction still counts until it ends.
	must(t, s.End(ctx, txn(4, "c@x", "i1")))
	must(t, s.Resolve(ctx, ref(6), httpauth.Answer{Result: httpauth.AnswerDenied}))
	if err := s.Begin(ctx, txn(8, "a@x", "i8")); !errors.Is(err, httpauth.ErrTooManyPending) {
		t.Fatalf("decided transaction not counted: %v", err)
	}
}

func testLookups(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	s := newStore(t, defaults, NewClock())
	for _, lookup := range []func() (httpauth.Transaction, bool, error){
		func() (httpauth.Transaction, bool, error) { return s.Lookup(ctx, ref(1)) },
		func() (httpauth.Transaction, bool, error) { return s.LookupID(ctx, "a@x", "i1") },
	} {
		if _, ok, err := lookup(); ok || err != nil {
			t.Fatalf("lookup in an empty store: %v %v", ok, err)
		}
	}
	if txs, err := s.PendingFor(ctx, "a@x"); txs != nil || err != nil {
		t.Fatalf("PendingFor with nothing pending: %v %v", txs, err)
	}
	iq := txn(1, "a@x", "i1")
	msg := txn(2, "a@x", "i2")
	msg.To, msg.ViaMessage = "a@x", true
	other := txn(3, "b@x", "i1")
	for _, tx := range []httpauth.Transaction{iq, msg, other} {
		must(t, s.Begin(ctx, tx))
	}
	for _, tc := range []struct {
		name string
		got  func() (httpauth.Transaction, bool, error)
		want httpauth.Transaction
	}{
		{"Lookup", func() (httpauth.Transaction, bool, error) { return s.Lookup(ctx, ref(1)) }, iq},
		{"Lookup message", func() (httpauth.Transaction, bool, error) { return s.Lookup(ctx, ref(2)) }, msg},
		{"LookupID", func() (httpauth.Transaction, bool, error) { return s.LookupID(ctx, "a@x", "i1") }, iq},
		{"LookupID other JID", func() (httpauth.Transaction, bool, error) { return s.LookupID(ctx, "b@x", "i1") }, other},
	} {
		got, ok, err := tc.got()
		if err != nil || !ok || !sameTx(got, tc.want) {
			t.Fatalf("%s = %+v %v %v, want %+v", tc.name, got, ok, err, tc.want)
		}
	}
	if _, ok, _ := s.LookupID(ctx, "c@x", "i1"); ok {
		t.Fatal("LookupID found a transaction of another JID")
	}
	txs, err := s.PendingFor(ctx, "a@x")
	must(t, err)
	if !sameSet(txs, iq, msg) {
		t.Fatalf("PendingFor = %+v", txs)
	}
	// Decided transactions are no longer found.
	must(t, s.Resolve(ctx, ref(1), httpauth.Answer{Result: httpauth.AnswerConfirmed}))
	if _, ok, _ := s.Lookup(ctx, ref(1)); ok {
		t.Fatal("Lookup found a decided transaction")
	}
	if _, ok, _ := s.LookupID(ctx, "a@x", "i1"); ok {
		t.Fatal("LookupID found a decided transaction")
	}
	if txs, _ := s.PendingFor(ctx, "a@x"); !sameSet(txs, msg) {
		t.Fatalf("PendingFor after Resolve = %+v", txs)
	}
	must(t, s.End(ctx, iq))
	must(t, s.End(ctx, msg))
	if txs, err := s.PendingFor(ctx, "a@x"); txs != nil || err != nil {
		t.Fatalf("PendingFor after End: %v %v", txs, err)
	}
}

func sameTx(a, b httpauth.Transaction) bool {
	return a.Ref == b.Ref && a.To == b.To && a.Bare == b.Bare && a.Confirm == b.Confirm && a.ViaMessage == b.ViaMessage
}

func sameSet(got []httpauth.Transaction, want ...httpauth.Transaction) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g httpauth.Transaction) bool { return sameTx(g, w) }) {
			return false
		}
	}
	return true
}

func testResolveWait(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	s := newStore(t, defaults, NewClock())
	// Resolve before Wait: Wait returns at once.
	must(t, s.Begin(ctx, txn(1, "a@x", "i1")))
	want := httpauth.Answer{Result: httpauth.AnswerCouldNotAnswer, Condition: "feature-not-implemented"}
	must(t, s.Resolve(ctx, ref(1), want))
	if got, err := s.Wait(ctx, ref(1)); err != nil || got != want {
		t.Fatalf("Wait after Resolve = %+v %v, want %+v", got, err, want)
	}
	if err := s.Resolve(ctx, ref(1), httpauth.Answer{Result: httpauth.AnswerConfirmed}); !errors.Is(err, httpauth.ErrNotPending) {
		t.Fatalf("second Resolve = %v, want ErrNotPending", err)
	}
	if err := s.Resolve(ctx, ref(9), httpauth.Answer{Result: httpauth.AnswerConfirmed}); !errors.Is(err, httpauth.ErrNotPending) {
		t.Fatalf("Resolve of an unknown ref = %v, want ErrNotPending", err)
	}

	// Wait first, Resolve from elsewhere.
	must(t, s.Begin(ctx, txn(2, "a@x", "i2")))
	type result struct {
		a   httpauth.Answer
		err error
	}
	done := make(chan result, 1)
	go func() {
		a, err := s.Wait(ctx, ref(2))
		done <- result{a, err}
	}()
	must(t, s.Resolve(ctx, ref(2), httpauth.Answer{Result: httpauth.AnswerConfirmed}))
	if r := <-done; r.err != nil || r.a.Result != httpauth.AnswerConfirmed {
		t.Fatalf("Wait = %+v %v", r.a, r.err)
	}
}

func testWaitEnds(t *testing.T, newStore Constructor) {
	s := newStore(t, defaults, NewClock())
	if _, err := s.Wait(context.Background(), ref(1)); !errors.Is(err, httpauth.ErrNotPending) {
		t.Fatalf("Wait for an unknown ref = %v, want ErrNotPending", err)
	}
	must(t, s.Begin(context.Background(), txn(1, "a@x", "i1")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Wait(ctx, ref(1))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
	}
	// The transaction is still pending, and a later Wait gets its answer.
	must(t, s.Resolve(context.Background(), ref(1), httpauth.Answer{Result: httpauth.AnswerDenied, Condition: "forbidden"}))
	if a, err := s.Wait(context.Background(), ref(1)); err != nil || a.Result != httpauth.AnswerDenied || a.Condition != "forbidden" {
		t.Fatalf("Wait after a canceled Wait = %+v %v", a, err)
	}
}

func testReopen(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	s := newStore(t, defaults, NewClock())
	iq := txn(1, "a@x", "i1")
	must(t, s.Begin(ctx, iq))
	must(t, s.Resolve(ctx, ref(1), httpauth.Answer{Result: httpauth.AnswerCouldNotAnswer, Condition: "service-unavailable"}))
	if a, err := s.Wait(ctx, ref(1)); err != nil || a.Condition != "service-unavailable" {
		t.Fatalf("Wait = %+v %v", a, err)
	}
	reopened := iq
	reopened.ViaMessage = true
	must(t, s.Reopen(ctx, reopened))
	if tx, ok, err := s.LookupID(ctx, "a@x", "i1"); err != nil || !ok || !tx.ViaMessage || tx.To != iq.To {
		t.Fatalf("reopened transaction %+v %v %v", tx, ok, err)
	}
	if txs, _ := s.PendingFor(ctx, "a@x"); !sameSet(txs, reopened) {
		t.Fatalf("PendingFor after Reopen = %+v", txs)
	}
	// The next answer reaches the next Wait, not the first one again.
	must(t, s.Resolve(ctx, ref(1), httpauth.Answer{Result: httpauth.AnswerConfirmed}))
	if a, err := s.Wait(ctx, ref(1)); err != nil || a.Result != httpauth.AnswerConfirmed {
		t.Fatalf("Wait after Reopen = %+v %v", a, err)
	}
	// Reopen while undecided, and with a resolved answer nobody waited for:
	// Wait waits for the next one.
	must(t, s.Reopen(ctx, reopened))
	must(t, s.Resolve(ctx, ref(1), httpauth.Answer{Result: httpauth.AnswerDenied}))
	must(t, s.Reopen(ctx, reopened))
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	if a, err := s.Wait(wctx, ref(1)); err == nil {
		t.Fatalf("Wait after Reopen returned the answer before it: %+v", a)
	}
	for _, tx := range []httpauth.Transaction{
		func() httpauth.Transaction { o := reopened; o.Confirm.URL = "https://evil.example/"; return o }(),
		func() httpauth.Transaction { o := reopened; o.Bare = "b@x"; return o }(),
		txn(9, "a@x", "i1"),
	} {
		if err := s.Reopen(ctx, tx); !errors.Is(err, httpauth.ErrNotPending) {
			t.Fatalf("Reopen(%+v) = %v, want ErrNotPending", tx, err)
		}
	}
}

func testEndAndUsed(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	clock := NewClock()
	s := newStore(t, defaults, clock)
	tx := txn(1, "a@x", "i1")
	must(t, s.Begin(ctx, tx))
	must(t, s.End(ctx, tx))
	must(t, s.End(ctx, tx))                  // idempotent
	must(t, s.End(ctx, txn(2, "b@x", "i2"))) // unknown
	if n := pending(t, s); n != 0 {
		t.Fatalf("Pending after End = %d", n)
	}
	if _, ok, _ := s.Lookup(ctx, ref(1)); ok {
		t.Fatal("ended transaction looked up")
	}
	if _, err := s.Wait(ctx, ref(1)); !errors.Is(err, httpauth.ErrNotPending) {
		t.Fatalf("Wait after End = %v", err)
	}
	if err := s.Resolve(ctx, ref(1), httpauth.Answer{Result: httpauth.AnswerConfirmed}); !errors.Is(err, httpauth.ErrNotPending) {
		t.Fatalf("Resolve after End = %v", err)
	}
	if err := s.Begin(ctx, txn(3, "a@x", "i1")); !errors.Is(err, httpauth.ErrReplay) {
		t.Fatalf("used id accepted again: %v", err)
	}
	if err := s.Begin(ctx, txn(4, "b@x", "i1")); err != nil {
		t.Fatalf("id used by another JID refused: %v", err)
	}
	clock.Advance(defaults.UsedTTL - time.Second)
	if err := s.Begin(ctx, txn(5, "a@x", "i1")); !errors.Is(err, httpauth.ErrReplay) {
		t.Fatalf("used id forgotten before UsedTTL: %v", err)
	}
	clock.Advance(time.Second)
	if err := s.Begin(ctx, txn(5, "a@x", "i1")); err != nil {
		t.Fatalf("used id not forgotten after UsedTTL: %v", err)
	}
}

func testUsedCap(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	clock := NewClock()
	s := newStore(t, Limits{MaxPending: 10, MaxPendingPerJID: 10, MaxUsed: 2, UsedTTL: time.Hour, MaxNonces: 10}, clock)
	for i, id := range []string{"i1", "i2", "i3"} {
		tx := txn(i, "a@x", id)
		must(t, s.Begin(ctx, tx))
		must(t, s.End(ctx, tx))
		clock.Advance(time.Second)
	}
	// Beyond MaxUsed the oldest used id is forgotten first.
	if err := s.Begin(ctx, txn(10, "a@x", "i1")); err != nil {
		t.Fatalf("oldest used id not forgotten: %v", err)
	}
	if err := s.Begin(ctx, txn(11, "a@x", "i3")); !errors.Is(err, httpauth.ErrReplay) {
		t.Fatalf("newest used id forgotten: %v", err)
	}
}

func testGrants(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	clock := NewClock()
	s := newStore(t, defaults, clock)
	if _, ok, err := s.Grant(ctx, "a@x", "g1"); ok || err != nil {
		t.Fatalf("Grant in an empty store: %v %v", ok, err)
	}
	g := httpauth.Grant{Bare: "a@x", ID: "g1", Entity: "192.0.2.7", URL: "https://a.example/doc", Expires: clock.Now().Add(time.Minute)}
	must(t, s.AddGrant(ctx, g))
	got, ok, err := s.Grant(ctx, "a@x", "g1")
	if err != nil || !ok || got.Bare != g.Bare || got.ID != g.ID || got.Entity != g.Entity || got.URL != g.URL || !got.Expires.Equal(g.Expires) {
		t.Fatalf("Grant = %+v %v %v, want %+v", got, ok, err, g)
	}
	for _, k := range [][2]string{{"a@x", "g2"}, {"b@x", "g1"}} {
		if _, ok, _ := s.Grant(ctx, k[0], k[1]); ok {
			t.Fatalf("Grant(%s, %s) found", k[0], k[1])
		}
	}
	// A new grant for the same JID and id replaces the old one.
	g.URL = "https://a.example/other"
	g.Expires = clock.Now().Add(2 * time.Minute)
	must(t, s.AddGrant(ctx, g))
	if got, _, _ := s.Grant(ctx, "a@x", "g1"); got.URL != g.URL {
		t.Fatalf("replaced grant = %+v", got)
	}
	clock.Advance(2*time.Minute - time.Nanosecond)
	if _, ok, _ := s.Grant(ctx, "a@x", "g1"); !ok {
		t.Fatal("grant expired early")
	}
	clock.Advance(time.Nanosecond)
	if _, ok, _ := s.Grant(ctx, "a@x", "g1"); ok {
		t.Fatal("expired grant returned")
	}
}

func testNonces(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	clock := NewClock()
	s := newStore(t, Limits{MaxPending: 10, MaxPendingPerJID: 5, MaxUsed: 10, UsedTTL: time.Hour, MaxNonces: 2}, clock)
	// Nonces expire in the order they are first used (as the Verifier's
	// do), so "oldest" and "soonest to expire" are the same.
	t0 := clock.Now()
	exp := map[string]time.Time{"n1": t0.Add(time.Minute), "n2": t0.Add(2 * time.Minute), "n3": t0.Add(3 * time.Minute)}
	for i, tc := range []struct {
		nonce string
		nc    uint32
		want  error
	}{
		{"n1", 1, nil}, {"n1", 1, httpauth.ErrReplay}, {"n1", 3, nil}, {"n1", 2, httpauth.ErrReplay},
		{"n1", 4294967295, nil}, {"n1", 4294967295, httpauth.ErrReplay},
		{"n2", 1, nil}, {"n2", 2, nil}, {"n2", 2, httpauth.ErrReplay},
	} {
		if err := s.UseNonce(ctx, tc.nonce, tc.nc, exp[tc.nonce]); !errors.Is(err, tc.want) {
			t.Fatalf("%d: UseNonce(%s, %d) = %v, want %v", i, tc.nonce, tc.nc, err, tc.want)
		}
	}
	// Beyond MaxNonces the oldest nonce is forgotten first, never the one
	// just used.
	clock.Advance(time.Second)
	must(t, s.UseNonce(ctx, "n3", 1, exp["n3"]))
	if err := s.UseNonce(ctx, "n3", 1, exp["n3"]); !errors.Is(err, httpauth.ErrReplay) {
		t.Fatalf("nonce just used forgotten: %v", err)
	}
	if err := s.UseNonce(ctx, "n2", 2, exp["n2"]); !errors.Is(err, httpauth.ErrReplay) {
		t.Fatalf("newer nonce forgotten: %v", err)
	}
	if err := s.UseNonce(ctx, "n1", 1, exp["n1"]); err != nil {
		t.Fatalf("oldest nonce kept beyond MaxNonces: %v", err)
	}
	// Expired nonces are forgotten.
	clock.Advance(3 * time.Minute)
	if err := s.UseNonce(ctx, "n3", 1, clock.Now().Add(time.Minute)); err != nil {
		t.Fatalf("expired nonce remembered: %v", err)
	}
}

// testConcurrent checks that the checks and the records are one step:
// of several concurrent attempts, exactly one wins.
func testConcurrent(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	s := newStore(t, Limits{MaxPending: 100, MaxPendingPerJID: 3, MaxUsed: 100, UsedTTL: time.Hour, MaxNonces: 100}, NewClock())
	const n = 8
	count := func(fn func(i int) error, want error) (won int) {
		t.Helper()
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- fn(i)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, want):
				t.Fatalf("unexpected error %v", err)
			}
		}
		return won
	}
	if won := count(func(i int) error { return s.Begin(ctx, txn(i, "a@x", "same")) }, httpauth.ErrReplay); won != 1 {
		t.Fatalf("%d concurrent Begins of one id succeeded", won)
	}
	if won := count(func(i int) error { return s.Begin(ctx, txn(100+i, "b@x", fmt.Sprint(i))) }, httpauth.ErrTooManyPending); won != 3 {
		t.Fatalf("%d concurrent Begins for one JID succeeded, want MaxPendingPerJID (3)", won)
	}
	if won := count(func(int) error { return s.UseNonce(ctx, "n", 1, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) }, httpauth.ErrReplay); won != 1 {
		t.Fatalf("%d concurrent uses of one nonce count succeeded", won)
	}
	winner, ok, err := s.LookupID(ctx, "a@x", "same")
	if err != nil || !ok {
		t.Fatalf("LookupID of the Begin that won: %v %v", ok, err)
	}
	if won := count(func(int) error { return s.Resolve(ctx, winner.Ref, httpauth.Answer{Result: httpauth.AnswerConfirmed}) }, httpauth.ErrNotPending); won != 1 {
		t.Fatalf("%d concurrent Resolves succeeded", won)
	}
}

// testValues round-trips values with bytes a careless encoding would
// mangle.
func testValues(t *testing.T, newStore Constructor) {
	ctx := context.Background()
	s := newStore(t, defaults, NewClock())
	tx := httpauth.Transaction{
		Ref: ref(1), To: "jüliet@cäpulet.example/balcony \x00 ☃", Bare: "jüliet@cäpulet.example",
		Confirm: httpauth.Confirm{ID: "id with spaces:colons\n" + strings.Repeat("x", 300), Method: "PROPFIND", URL: "https://a.example/a%20b?q=1&r=\"2\"#f"},
	}
	must(t, s.Begin(ctx, tx))
	got, ok, err := s.LookupID(ctx, tx.Bare, tx.Confirm.ID)
	if err != nil || !ok || !sameTx(got, tx) {
		t.Fatalf("LookupID = %+v %v %v, want %+v", got, ok, err, tx)
	}
	a := httpauth.Answer{Result: httpauth.AnswerCouldNotAnswer, Condition: "undefined-condition \x00 ☃"}
	must(t, s.Resolve(ctx, tx.Ref, a))
	if got, err := s.Wait(ctx, tx.Ref); err != nil || got != a {
		t.Fatalf("Wait = %+v %v, want %+v", got, err, a)
	}
	must(t, s.UseNonce(ctx, "nonce \x00 ☃", 7, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err := s.UseNonce(ctx, "nonce \x00 ☃", 7, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, httpauth.ErrReplay) {
		t.Fatalf("replayed odd nonce: %v", err)
	}
}
