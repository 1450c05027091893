package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/httpauth/storetest"
	"github.com/xmppauth/xmppauth/redisstore"
)

// TestHTTPAuthContract holds the Redis store to the contract of
// httpauth.Store, as MemStore is; the two nodes variant begins on one node
// and does everything else through another.
func TestHTTPAuthContract(t *testing.T) {
	sv := startServer(t)
	opts := func(l storetest.Limits, clock *storetest.Clock) redisstore.Options {
		return redisstore.Options{
			Prefix: freshPrefix(), MaxPending: l.MaxPending, MaxPendingPerJID: l.MaxPendingPerJID,
			MaxUsed: l.MaxUsed, UsedTTL: l.UsedTTL, MaxNonces: l.MaxNonces, Clock: clock,
		}
	}
	t.Run("one node", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, l storetest.Limits, clock *storetest.Clock) httpauth.Store {
			return sv.node(t, opts(l, clock)).HTTPAuth
		})
	})
	t.Run("two nodes", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, l storetest.Limits, clock *storetest.Clock) httpauth.Store {
			o := opts(l, clock)
			return twoNodes{a: sv.node(t, o).HTTPAuth, b: sv.node(t, o).HTTPAuth}
		})
	})
}

// twoNodes is a store whose Begin and Wait run on node a (as the Verifier
// that holds the request does) and every other call on node b.
type twoNodes struct{ a, b *redisstore.HTTPAuth }

func (s twoNodes) Begin(ctx context.Context, tx httpauth.Transaction) error {
	return s.a.Begin(ctx, tx)
}
func (s twoNodes) Wait(ctx context.Context, ref string) (httpauth.Answer, error) {
	return s.a.Wait(ctx, ref)
}
func (s twoNodes) Lookup(ctx context.Context, ref string) (httpauth.Transaction, bool, error) {
	return s.b.Lookup(ctx, ref)
}
func (s twoNodes) LookupID(ctx context.Context, bare, id string) (httpauth.Transaction, bool, error) {
	return s.b.LookupID(ctx, bare, id)
}
func (s twoNodes) PendingFor(ctx context.Context, bare string) ([]httpauth.Transaction, error) {
	return s.b.PendingFor(ctx, bare)
}
func (s twoNodes) Resolve(ctx context.Context, ref string, a httpauth.Answer) error {
	return s.b.Resolve(ctx, ref, a)
}
func (s twoNodes) Reopen(ctx context.Context, tx httpauth.Transaction) error {
	return s.b.Reopen(ctx, tx)
}
func (s twoNodes) End(ctx context.Context, tx httpauth.Transaction) error { return s.b.End(ctx, tx) }
func (s twoNodes) AddGrant(ctx context.Context, g httpauth.Grant) error   { return s.b.AddGrant(ctx, g) }
func (s twoNodes) Grant(ctx context.Context, bare, id string) (httpauth.Grant, bool, error) {
	return s.b.Grant(ctx, bare, id)
}
func (s twoNodes) UseNonce(ctx context.Context, nonce string, nc uint32, expires time.Time) error {
	return s.b.UseNonce(ctx, nonce, nc, expires)
}
func (s twoNodes) Pending(ctx context.Context) (int, error) { return s.b.Pending(ctx) }

// TestWaitOnAnotherNode: only the node that began a transaction waits for
// it; elsewhere Wait says so at once instead of waiting for an answer that
// would never arrive there.
func TestWaitOnAnotherNode(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	a, b := sv.node(t, redisstore.Options{Prefix: p}).HTTPAuth, sv.node(t, redisstore.Options{Prefix: p}).HTTPAuth
	ctx := context.Background()
	tx := httpauth.Transaction{Ref: "0123456789abcdef01234567", To: bareJID, Bare: bareJID, Confirm: httpauth.Confirm{ID: "i", Method: "GET", URL: "http://files.example/"}}
	if err := a.Begin(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Wait(ctx, tx.Ref); err == nil || errors.Is(err, httpauth.ErrNotPending) {
		t.Fatalf("Wait on another node = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	sv := startServer(t)
	c := sv.client(t)
	for _, o := range []redisstore.Options{
		{},                     // no key
		{Key: []byte("short")}, // short key
		{Key: testKey, MaxPending: -1},
		{Key: testKey, UsedTTL: -time.Second},
	} {
		if st, err := redisstore.New(c, o); err == nil {
			st.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
	if _, err := redisstore.New(nil, redisstore.Options{Key: testKey}); err == nil {
		t.Error("New accepted a nil client")
	}
}
