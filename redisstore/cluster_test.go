package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
)

const bound = 10 * time.Second // longest a response may take in these tests

// TestTwoVerifiers: two front ends share one Redis. The HTTP request
// waits on A; the answer reaches B's HandleStanza; A serves the request.
func TestTwoVerifiers(t *testing.T) {
	sv := startServer(t)
	for _, tc := range []struct {
		name   string
		user   string
		answer func(req request) []string // stanzas handed to B, in order
		status int
		reason httpauth.Reason
	}{
		{"iq confirmed", fullJID, func(req request) []string { return []string{iqResult(fullJID, req)} }, 200, 0},
		{"iq denied", fullJID, func(req request) []string { return []string{iqError(fullJID, "not-authorized", req)} }, 403, httpauth.Denied},
		{"message confirmed", bareJID, func(req request) []string { return []string{plaintextOK(fullJID, req)} }, 200, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := freshPrefix()
			a, b := sv.web(t, p, nil), sv.web(t, p, nil)
			id := "tx-" + strings.ReplaceAll(tc.name, " ", "-")
			f := a.start(basicReq("GET", tc.user, id))
			req := a.nextSent()
			for _, s := range tc.answer(req) {
				if !b.handle(s) {
					t.Fatalf("B did not take %s", s)
				}
			}
			rec := f.wait(t, bound)
			if rec.Code != tc.status || a.lastReason() != tc.reason {
				t.Fatalf("A: status %d reason %v, want %d %v (%s)", rec.Code, a.lastReason(), tc.status, tc.reason, rec.Body)
			}
			b.noSend()
			// The same answer again is no answer on either node.
			for _, w := range []*web{a, b} {
				if w.handle(tc.answer(req)[0]) {
					t.Fatal("a late answer was taken")
				}
			}
			if n, err := b.st.HTTPAuth.Pending(context.Background()); err != nil || n != 0 {
				t.Fatalf("Pending = %d %v after the request", n, err)
			}
			// The transaction identifier is used on both nodes.
			for _, w := range []*web{a, b} {
				if rec := w.serve(basicReq("GET", tc.user, id)); rec.Code != 401 {
					t.Fatalf("replayed transaction id: status %d, want 401", rec.Code)
				}
				w.noSend()
			}
		})
	}
}

// TestTwoVerifiersFallback: A's IQ is answered through B with
// feature-not-implemented; A sends the message form, whose plaintext
// answer reaches B; A serves the request. The generation of the reopened
// transaction keeps the first answer from being taken for the second.
func TestTwoVerifiersFallback(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	a, b := sv.web(t, p, nil), sv.web(t, p, nil)
	f := a.start(basicReq("GET", fullJID, "tx-fallback"))
	req := a.nextSent()
	if req.name != "iq" || !b.handle(iqError(fullJID, "feature-not-implemented", req)) {
		t.Fatalf("first form %q, or B did not take the error", req.name)
	}
	req = a.nextSent()
	if req.name != "message" || req.to != fullJID {
		t.Fatalf("fallback form %+v", req)
	}
	if !b.handle(plaintextOK(fullJID, req)) {
		t.Fatal("B did not take the plaintext answer")
	}
	if rec := f.wait(t, bound); rec.Code != 200 {
		t.Fatalf("status %d (%s)", rec.Code, rec.Body)
	}
}

// TestTwoVerifiersSessionEnded: the session that was asked ends on B; the
// request waiting on A ends at once.
func TestTwoVerifiersSessionEnded(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	a, b := sv.web(t, p, nil), sv.web(t, p, nil)
	f := a.start(basicReq("GET", fullJID, "tx-session"))
	a.nextSent()
	b.v.SessionEnded(jid.MustParse(fullJID))
	if rec := f.wait(t, bound); rec.Code != http.StatusServiceUnavailable || a.lastReason() != httpauth.SessionEnded {
		t.Fatalf("status %d reason %v, want 503 session ended", rec.Code, a.lastReason())
	}
}

// TestTwoVerifiersGrant: a HEAD confirmed on A may be reused for GET on B
// by the same client.
func TestTwoVerifiersGrant(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	a, b := sv.web(t, p, nil), sv.web(t, p, nil)
	f := a.start(basicReq("HEAD", fullJID, "tx-grant"))
	if !b.handle(iqResult(fullJID, a.nextSent())) {
		t.Fatal("B did not take the answer")
	}
	if rec := f.wait(t, bound); rec.Code != 200 {
		t.Fatalf("HEAD: %d", rec.Code)
	}
	if rec := b.serve(basicReq("GET", fullJID, "tx-grant")); rec.Code != 200 {
		t.Fatalf("GET on B: %d, want the grant reused", rec.Code)
	}
	b.noSend()
	post := basicReq("POST", fullJID, "tx-grant")
	if rec := b.serve(post); rec.Code != 401 {
		t.Fatalf("POST on B with the used id: %d, want 401", rec.Code)
	}
}

// TestTwoVerifiersDigestNonce: a Digest nonce count that A accepted is
// refused by B, even with another transaction identifier; a larger count
// is accepted there.
func TestTwoVerifiersDigestNonce(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	a, b := sv.web(t, p, nil), sv.web(t, p, nil)
	rec := a.serve(httptest.NewRequest("GET", "http://"+host+"/doc", nil))
	var challenge string
	for _, c := range rec.Header().Values("WWW-Authenticate") {
		if strings.Contains(c, "algorithm=SHA-256") {
			challenge = c
		}
	}
	if challenge == "" {
		t.Fatalf("no SHA-256 challenge in %q", rec.Header().Values("WWW-Authenticate"))
	}
	digest := func(id string, nc uint32) *http.Request {
		h, err := httpauth.DigestAuthorization(challenge, jid.MustParse(fullJID), id, "GET", "/doc", nc)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "http://"+host+"/doc", nil)
		r.Header.Set("Authorization", h)
		return r
	}
	f := a.start(digest("cnonce-1", 1))
	if !b.handle(iqResult(fullJID, a.nextSent())) {
		t.Fatal("B did not take the answer")
	}
	if rec := f.wait(t, bound); rec.Code != 200 {
		t.Fatalf("A: %d", rec.Code)
	}
	if rec := b.serve(digest("cnonce-2", 1)); rec.Code != 401 || b.lastReason() != httpauth.UsedTransaction {
		t.Fatalf("B, replayed nonce count: %d %v, want 401", rec.Code, b.lastReason())
	}
	b.noSend()
	f = b.start(digest("cnonce-3", 2))
	if !a.handle(iqResult(fullJID, b.nextSent())) {
		t.Fatal("A did not take the answer")
	}
	if rec := f.wait(t, bound); rec.Code != 200 {
		t.Fatalf("B, next nonce count: %d", rec.Code)
	}
}

// oauthPair returns two XEP-0235 verifiers sharing one Redis, and a signer
// whose requests both accept.
func oauthPair(t testing.TB, sv *server) (a, b *oauth.Verifier, sg *oauth.Signer) {
	t.Helper()
	p := freshPrefix()
	tokens := oauth.NewMemoryTokens()
	tokens.Put("token", oauth.TokenInfo{Secret: "token-secret", ConsumerKey: "consumer"})
	verifier := func() *oauth.Verifier {
		v, err := oauth.New(oauth.Config{
			Consumers: oauth.MemoryConsumers{"consumer": "consumer-secret"},
			Tokens:    tokens,
			Nonces:    sv.node(t, redisstore.Options{Prefix: p}).Nonces,
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sg = &oauth.Signer{Credentials: oauth.Credentials{ConsumerKey: "consumer", ConsumerSecret: "consumer-secret", Token: "token", TokenSecret: "token-secret"}}
	return verifier(), verifier(), sg
}

var oauthStanza = oauth.Stanza{Name: "iq", From: "bot@example.net/x", To: "pubsub.example.net"}

// TestTwoOAuthVerifiers: an XEP-0235 nonce accepted by A is a replay for B.
func TestTwoOAuthVerifiers(t *testing.T) {
	sv := startServer(t)
	a, b, sg := oauthPair(t, sv)
	ctx := context.Background()
	p, err := sg.Sign(oauthStanza)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, oauthStanza, p); err != nil {
		t.Fatalf("A: %v", err)
	}
	if _, err := b.Verify(ctx, oauthStanza, p); !errors.Is(err, oauth.ErrNonceReplayed) {
		t.Fatalf("B, replay: %v, want ErrNonceReplayed", err)
	}
	if _, err := a.Verify(ctx, oauthStanza, p); !errors.Is(err, oauth.ErrNonceReplayed) {
		t.Fatalf("A, replay: %v, want ErrNonceReplayed", err)
	}
	if p, err = sg.Sign(oauthStanza); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, oauthStanza, p); err != nil {
		t.Fatalf("B, fresh nonce: %v", err)
	}
}

// TestTimeoutOnRedis: on the system clock, a request nobody answers ends
// at Config.Timeout with TimedOut, and its answer is no longer taken.
func TestTimeoutOnRedis(t *testing.T) {
	sv := startServer(t)
	p := freshPrefix()
	short := func(c *httpauth.Config) { c.Timeout = config.Duration(50 * time.Millisecond) }
	a, b := sv.web(t, p, short), sv.web(t, p, short)
	f := a.start(basicReq("GET", fullJID, "tx-timeout"))
	req := a.nextSent()
	if rec := f.wait(t, bound); rec.Code != 403 || a.lastReason() != httpauth.TimedOut {
		t.Fatalf("status %d reason %v, want 403 timed out", rec.Code, a.lastReason())
	}
	if b.handle(iqResult(fullJID, req)) {
		t.Fatal("an answer after the timeout was taken")
	}
}
