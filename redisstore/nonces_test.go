package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
)

// TestNonces mirrors the tests of oauth.MemoryNonces: a nonce is accepted
// once per consumer key and token until it expires, and length-prefixing
// keeps ("ab","c") and ("a","bc") apart.
func TestNonces(t *testing.T) {
	sv := startServer(t)
	st := sv.node(t, redisstore.Options{Prefix: freshPrefix()})
	ctx := context.Background()
	now := time.Now()
	n := func(ck, tok, val string) oauth.Nonce {
		return oauth.Nonce{ConsumerKey: ck, Token: tok, Value: val, Now: now, Expires: now.Add(5 * time.Minute)}
	}
	for i, tc := range []struct {
		n    oauth.Nonce
		want error
	}{
		{n("ck", "tok", "n1"), nil},
		{n("ck", "tok", "n1"), oauth.ErrNonceReplayed},
		{n("ck", "tok", "n2"), nil},
		{n("ck", "tok2", "n1"), nil},
		{n("ck2", "tok", "n1"), nil},
		{n("ab", "c", "n"), nil},
		{n("a", "bc", "n"), nil},
		{n("a", "bc", "n"), oauth.ErrNonceReplayed},
	} {
		if err := st.Nonces.UseNonce(ctx, tc.n); !errors.Is(err, tc.want) {
			t.Fatalf("%d: UseNonce(%+v) = %v, want %v", i, tc.n, err, tc.want)
		}
	}
	// Neither the token nor the nonce appears in Redis.
	keys, err := sv.client(t).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "tok") || strings.Contains(k, "n1") {
			t.Fatalf("key %q shows the token or nonce", k)
		}
	}
	// A nonce is forgotten when its window ends (on Redis's clock: poll,
	// with a bound, for the key to expire).
	short := oauth.Nonce{ConsumerKey: "ck", Token: "tok", Value: "short", Now: now, Expires: now.Add(time.Millisecond)}
	if err := st.Nonces.UseNonce(ctx, short); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := st.Nonces.UseNonce(ctx, short)
		if err == nil {
			break
		}
		if !errors.Is(err, oauth.ErrNonceReplayed) || time.Now().After(deadline) {
			t.Fatalf("expired nonce: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A nonce already past its window is accepted (the verifier refuses
	// its timestamp anyway) and does not stay.
	old := oauth.Nonce{ConsumerKey: "ck", Token: "tok", Value: "old", Now: now, Expires: now.Add(-time.Minute)}
	if err := st.Nonces.UseNonce(ctx, old); err != nil {
		t.Fatal(err)
	}
}

// TestNoncesContext: a canceled context fails the call with its error.
func TestNoncesContext(t *testing.T) {
	sv := startServer(t)
	st := sv.node(t, redisstore.Options{Prefix: freshPrefix()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Now()
	if err := st.Nonces.UseNonce(ctx, oauth.Nonce{Value: "x", Now: now, Expires: now.Add(time.Minute)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("UseNonce = %v, want context.Canceled", err)
	}
}

// TestNoncesFull: a Redis out of memory (maxmemory, noeviction) makes a new
// nonce ErrNonceStoreFull, which oauth answers with resource-constraint.
func TestNoncesFull(t *testing.T) {
	sv := startServer(t)
	st := sv.node(t, redisstore.Options{Prefix: freshPrefix()})
	c := sv.client(t)
	ctx := context.Background()
	if err := c.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	err := st.Nonces.UseNonce(ctx, oauth.Nonce{Value: "x", Now: now, Expires: now.Add(time.Minute)})
	if !errors.Is(err, oauth.ErrNonceStoreFull) {
		t.Fatalf("UseNonce on a full Redis = %v, want ErrNonceStoreFull", err)
	}
	if err := c.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Nonces.UseNonce(ctx, oauth.Nonce{Value: "x", Now: now, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatalf("after memory was freed: %v", err)
	}
}
