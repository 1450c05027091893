package httpauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

type otherKey struct{}

// The context the middleware hands to the next handler behaves as the
// request's own context in every respect and carries the JID through the
// contexts derived from it.
func TestJIDContext(t *testing.T) {
	j := jid.MustParse(fullJID)
	cause := errors.New("parent's cause")
	deadline := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	parent, cancelParent := context.WithCancelCause(context.WithValue(context.Background(), otherKey{}, "v"))
	parent, cancelDeadline := context.WithDeadline(parent, deadline)
	defer cancelDeadline()
	ctx := NewContext(parent, j)

	derived, cancelDerived := context.WithCancel(context.WithValue(ctx, otherKey{}, "shadow"))
	defer cancelDerived()
	for name, c := range map[string]context.Context{"direct": ctx, "derived": derived} {
		if got, ok := FromContext(c); !ok || !got.Equal(j) {
			t.Errorf("%s: FromContext = %s, %v", name, got, ok)
		}
		if d, ok := c.Deadline(); !ok || !d.Equal(deadline) {
			t.Errorf("%s: Deadline = %s, %v", name, d, ok)
		}
	}
	if got := ctx.Value(otherKey{}); got != "v" {
		t.Errorf("parent's value = %v", got)
	}
	if got := derived.Value(otherKey{}); got != "shadow" {
		t.Errorf("derived value = %v", got)
	}
	if !strings.Contains(ctx.(interface{ String() string }).String(), fullJID) {
		t.Errorf("String() = %s", ctx)
	}
	if ctx.Err() != nil || derived.Err() != nil {
		t.Fatal("done before the parent is canceled")
	}
	cancelParent(cause)
	// Both are closed by the time cancel returns: derived was registered
	// with the parent's cancelCtx (found through jidContext's Value), not
	// left to a goroutine.
	for name, c := range map[string]context.Context{"direct": ctx, "derived": derived} {
		select {
		case <-c.Done():
		default:
			t.Fatalf("%s: not done after the parent was canceled", name)
		}
		if !errors.Is(c.Err(), context.Canceled) || context.Cause(c) != cause {
			t.Errorf("%s: Err %v, Cause %v", name, c.Err(), context.Cause(c))
		}
	}
	if _, ok := FromContext(context.WithValue(context.Background(), otherKey{}, &j)); ok {
		t.Error("FromContext found a JID under another key")
	}
}

// HandlerWithJID hands the verified JID to next as an argument, leaves the
// request's context as it was, and answers refusals itself.
func TestHandlerWithJID(t *testing.T) {
	e := newEnv(t, nil)
	type call struct {
		j       jid.JID
		inCtx   bool
		sameReq bool
	}
	calls := make(chan call, 2)
	var sent *http.Request
	h := e.v.HandlerWithJID(func(w http.ResponseWriter, r *http.Request, j jid.JID) {
		_, inCtx := FromContext(r.Context())
		calls <- call{j, inCtx, r == sent}
		w.Write([]byte("ok"))
	})
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	// A HEAD confirmed through the slow path, then a GET that reuses it.
	sent = basicReq("HEAD", pageURL, fullJID, txID)
	done := make(chan *httptest.ResponseRecorder)
	go func(r *http.Request) { done <- serve(r) }(sent)
	if err := e.feed(iqResult(fullJID)(e.nextSent())); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		var rec *httptest.ResponseRecorder
		if i == 0 {
			rec = <-done
		} else {
			sent = basicReq("GET", pageURL, fullJID, txID)
			rec = serve(sent)
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d", i, rec.Code)
		}
		c := <-calls
		if c.j.String() != fullJID || c.inCtx || !c.sameReq {
			t.Errorf("request %d: next got %+v", i, c)
		}
	}
	rec := serve(httptest.NewRequest("GET", pageURL, nil))
	if rec.Code != http.StatusUnauthorized || len(rec.Header().Values("WWW-Authenticate")) == 0 {
		t.Errorf("without credentials: %d %v", rec.Code, rec.Header())
	}
	select {
	case c := <-calls:
		t.Errorf("next ran for a refused request: %+v", c)
	default:
	}
}
