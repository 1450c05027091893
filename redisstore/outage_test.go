package redisstore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/throttle"
)

// within runs fn and fails the test if it does not return within bound:
// a store outage must make calls fail, never hang.
func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s: still running after %s", what, bound)
	}
}

// cluster is two nodes of every kind on one Redis.
type cluster struct {
	a, b           *web
	limA, limB     *throttle.Limiter
	oauthA, oauthB *oauth.Verifier
	signer         *oauth.Signer
}

func newCluster(t *testing.T, sv *server) *cluster {
	p := freshPrefix()
	c := &cluster{a: sv.web(t, p, nil), b: sv.web(t, p, nil)}
	var err error
	if c.limA, err = throttle.New(throttle.Config{Store: c.a.st.Counters, MaxFailures: 3}); err != nil {
		t.Fatal(err)
	}
	if c.limB, err = throttle.New(throttle.Config{Store: c.b.st.Counters, MaxFailures: 3}); err != nil {
		t.Fatal(err)
	}
	tokens := oauth.NewMemoryTokens()
	tokens.Put("token", oauth.TokenInfo{Secret: "token-secret", ConsumerKey: "consumer"})
	for _, v := range []struct {
		dst    **oauth.Verifier
		nonces oauth.NonceStore
	}{{&c.oauthA, c.a.st.Nonces}, {&c.oauthB, c.b.st.Nonces}} {
		if *v.dst, err = oauth.New(oauth.Config{Consumers: oauth.MemoryConsumers{"consumer": "consumer-secret"}, Tokens: tokens, Nonces: v.nonces}); err != nil {
			t.Fatal(err)
		}
	}
	c.signer = &oauth.Signer{Credentials: oauth.Credentials{ConsumerKey: "consumer", ConsumerSecret: "consumer-secret", Token: "token", TokenSecret: "token-secret"}}
	return c
}

var client = &net.TCPAddr{IP: net.ParseIP("203.0.113.9"), Port: 40000}

// works checks that everything works across the nodes: an XEP-0070 round
// trip (A asks, B answers), an XEP-0235 nonce (A accepts, B refuses the
// replay) and a failed login (A records, B counts).
func (c *cluster) works(t *testing.T, id string) {
	t.Helper()
	f := c.a.start(basicReq("GET", fullJID, id))
	if !c.b.handle(iqResult(fullJID, c.a.nextSent())) {
		t.Fatal("B did not take the answer")
	}
	if rec := f.wait(t, bound); rec.Code != 200 {
		t.Fatalf("round trip: status %d (%s)", rec.Code, rec.Body)
	}
	ctx := context.Background()
	p, err := c.signer.Sign(oauthStanza)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.oauthA.Verify(ctx, oauthStanza, p); err != nil {
		t.Fatalf("XEP-0235 on A: %v", err)
	}
	if _, err := c.oauthB.Verify(ctx, oauthStanza, p); !errors.Is(err, oauth.ErrNonceReplayed) {
		t.Fatalf("XEP-0235 replay on B: %v", err)
	}
	if _, err := c.limA.Failed(ctx, client, id+"@example.net"); err != nil {
		t.Fatalf("Failed on A: %v", err)
	}
	if _, err := c.limB.Check(ctx, client, id+"@example.net"); err != nil {
		t.Fatalf("Check on B: %v", err)
	}
}

// failsClosed checks that every kind of call fails, promptly and with the
// protocol's error for a failing store.
func (c *cluster) failsClosed(t *testing.T, id string) {
	t.Helper()
	ctx := context.Background()
	within(t, "XEP-0070 request", func() {
		rec := c.a.serve(basicReq("GET", fullJID, id))
		if rec.Code != http.StatusServiceUnavailable || c.a.lastReason() != httpauth.StoreUnavailable ||
			!strings.Contains(rec.Body.String(), "storage is unavailable") {
			t.Errorf("XEP-0070 request: %d %v %q, want 503 store unavailable", rec.Code, c.a.lastReason(), rec.Body)
		}
	})
	c.a.noSend()
	within(t, "XEP-0070 Digest request", func() {
		rec := c.a.serve(httptest.NewRequest("GET", "http://"+host+"/doc", nil))
		var challenge string
		for _, h := range rec.Header().Values("WWW-Authenticate") {
			if strings.Contains(h, "algorithm=MD5") {
				challenge = h
			}
		}
		h, err := httpauth.DigestAuthorization(challenge, jid.MustParse(fullJID), id+"-digest", "GET", "/doc", 1)
		if err != nil {
			t.Error(err)
			return
		}
		r := httptest.NewRequest("GET", "http://"+host+"/doc", nil)
		r.Header.Set("Authorization", h)
		if rec := c.b.serve(r); rec.Code != http.StatusServiceUnavailable || c.b.lastReason() != httpauth.StoreUnavailable {
			t.Errorf("Digest request: %d %v, want 503 store unavailable", rec.Code, c.b.lastReason())
		}
	})
	within(t, "answer stanza", func() {
		raw := iqResult(fullJID, request{ref: "0123456789abcdef01234567"})
		if c.b.handle(raw) {
			t.Error("an answer was taken while the store is down")
		}
	})
	within(t, "XEP-0235", func() {
		p, err := c.signer.Sign(oauthStanza)
		if err != nil {
			t.Error(err)
			return
		}
		_, err = c.oauthA.Verify(ctx, oauthStanza, p)
		if se, _ := oauth.StanzaError(err); err == nil || se.Condition != stanza.InternalServerError {
			t.Errorf("XEP-0235: %v (%v), want internal-server-error", err, se.Condition)
		}
	})
	within(t, "login limiter", func() {
		if _, err := c.limB.Check(ctx, client, "x@example.net"); !errors.Is(err, throttle.ErrStore) {
			t.Errorf("Check: %v, want ErrStore", err)
		}
	})
}

// recovered polls, with a bound, until the store answers again; go-redis
// probes a server that refused its connections once a second.
func (c *cluster) recovered(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		_, err := c.limA.Check(context.Background(), client, "")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store not back after %s: %v", bound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOutage stops redis-server in the middle of the test: the request
// waiting on A fails at once (not at its one-minute timeout), every call
// fails closed promptly with the protocol's error and a log line; once
// redis-server is back, the same clients and stores work again.
func TestOutage(t *testing.T) {
	sv := startServer(t)
	c := newCluster(t, sv)
	c.works(t, "before")

	f := c.a.start(basicReq("GET", fullJID, "waiting"))
	req := c.a.nextSent()
	sv.r.Stop()
	rec := f.wait(t, bound)
	if rec.Code != http.StatusServiceUnavailable || c.a.lastReason() != httpauth.StoreUnavailable {
		t.Fatalf("waiting request: %d %v, want 503 store unavailable", rec.Code, c.a.lastReason())
	}
	c.failsClosed(t, "during")
	if c.b.handle(iqResult(fullJID, req)) {
		t.Fatal("the answer to the failed request was taken")
	}
	for _, want := range []string{
		`httpauth: request refused reason="store unavailable"`,
		"redisstore: answer subscription lost",
	} {
		if !strings.Contains(c.a.log.String(), want) {
			t.Errorf("A's log has no %q:\n%s", want, c.a.log)
		}
	}
	if !strings.Contains(c.b.log.String(), "httpauth: store failed") {
		t.Errorf("B's log has no store failure:\n%s", c.b.log)
	}

	sv.r.Restart()
	c.recovered(t)
	c.works(t, "after")
	if n := c.a.v.Pending(); n != 0 {
		t.Fatalf("A: Pending() = %d", n)
	}
}

// TestFrozenRedis: a redis-server that hangs (SIGSTOP) makes calls fail
// after the client's read timeout, not hang; after it resumes, the same
// clients work.
func TestFrozenRedis(t *testing.T) {
	sv := startServer(t)
	c := newCluster(t, sv)
	c.works(t, "before")
	sv.r.Freeze()
	c.failsClosed(t, "frozen")
	sv.r.Thaw()
	c.recovered(t)
	c.works(t, "after")
}

// TestStartWhileDown: a node starts while Redis is down and works once it
// is up, without being rebuilt.
func TestStartWhileDown(t *testing.T) {
	sv := startServer(t)
	sv.r.Stop()
	c := newCluster(t, sv)
	c.failsClosed(t, "down")
	sv.r.Restart()
	c.recovered(t)
	c.works(t, "up")
}

// TestClosedStore: after Close, a Wait fails at once.
func TestClosedStore(t *testing.T) {
	sv := startServer(t)
	st := sv.node(t, redisstore.Options{Prefix: freshPrefix()})
	st.Close()
	if _, err := st.HTTPAuth.Wait(context.Background(), "0123456789abcdef01234567"); err == nil {
		t.Fatal("Wait on a closed store succeeded")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
