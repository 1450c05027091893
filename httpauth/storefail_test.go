package httpauth

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// errDown is the error of a store that is down.
var errDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// flakyStore is a MemStore whose methods fail, or hang until their context
// ends, on demand.
type flakyStore struct {
	*MemStore
	mu   sync.Mutex
	fail map[string]bool // method → fails with errDown
	hang map[string]bool // method → blocks until ctx ends
	// waitBroken, when closed, makes every Wait fail with errDown, as a
	// subscription that lost its connection does.
	waitBroken chan struct{}
}

func (s *flakyStore) set(m map[string]bool, method string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[method] = on
}

func (s *flakyStore) check(ctx context.Context, method string) error {
	s.mu.Lock()
	fail, hang := s.fail[method], s.hang[method]
	s.mu.Unlock()
	switch {
	case hang:
		<-ctx.Done()
		return ctx.Err()
	case fail:
		return errDown
	}
	return nil
}

func (s *flakyStore) Begin(ctx context.Context, tx Transaction) error {
	if err := s.check(ctx, "Begin"); err != nil {
		return err
	}
	return s.MemStore.Begin(ctx, tx)
}

func (s *flakyStore) Wait(ctx context.Context, ref string) (Answer, error) {
	if err := s.check(ctx, "Wait"); err != nil {
		return Answer{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-s.waitBroken:
			cancel(errDown)
		case <-ctx.Done():
		}
	}()
	a, err := s.MemStore.Wait(ctx, ref)
	if err != nil && errors.Is(context.Cause(ctx), errDown) {
		return Answer{}, errDown
	}
	return a, err
}

func (s *flakyStore) Lookup(ctx context.Context, ref string) (Transaction, bool, error) {
	if err := s.check(ctx, "Lookup"); err != nil {
		return Transaction{}, false, err
	}
	return s.MemStore.Lookup(ctx, ref)
}

func (s *flakyStore) LookupID(ctx context.Context, bare, id string) (Transaction, bool, error) {
	if err := s.check(ctx, "LookupID"); err != nil {
		return Transaction{}, false, err
	}
	return s.MemStore.LookupID(ctx, bare, id)
}

func (s *flakyStore) PendingFor(ctx context.Context, bare string) ([]Transaction, error) {
	if err := s.check(ctx, "PendingFor"); err != nil {
		return nil, err
	}
	return s.MemStore.PendingFor(ctx, bare)
}

func (s *flakyStore) Resolve(ctx context.Context, ref string, a Answer) error {
	if err := s.check(ctx, "Resolve"); err != nil {
		return err
	}
	return s.MemStore.Resolve(ctx, ref, a)
}

func (s *flakyStore) Reopen(ctx context.Context, tx Transaction) error {
	if err := s.check(ctx, "Reopen"); err != nil {
		return err
	}
	return s.MemStore.Reopen(ctx, tx)
}

func (s *flakyStore) End(ctx context.Context, tx Transaction) error {
	if err := s.check(ctx, "End"); err != nil {
		return err
	}
	return s.MemStore.End(ctx, tx)
}

func (s *flakyStore) AddGrant(ctx context.Context, g Grant) error {
	if err := s.check(ctx, "AddGrant"); err != nil {
		return err
	}
	return s.MemStore.AddGrant(ctx, g)
}

func (s *flakyStore) Grant(ctx context.Context, bare, id string) (Grant, bool, error) {
	if err := s.check(ctx, "Grant"); err != nil {
		return Grant{}, false, err
	}
	return s.MemStore.Grant(ctx, bare, id)
}

func (s *flakyStore) UseNonce(ctx context.Context, nonce string, nc uint32, expires time.Time) error {
	if err := s.check(ctx, "UseNonce"); err != nil {
		return err
	}
	return s.MemStore.UseNonce(ctx, nonce, nc, expires)
}

// flakyEnv is newEnv with a flakyStore, and Observe recording reasons.
type flakyEnv struct {
	*env
	fs *flakyStore

	mu      sync.Mutex
	reasons []Reason
}

func newFlakyEnv(t *testing.T, mod func(*Config)) *flakyEnv {
	fe := &flakyEnv{}
	fe.env = newEnv(t, func(c *Config) {
		fe.fs = &flakyStore{MemStore: c.Store.(*MemStore), fail: map[string]bool{}, hang: map[string]bool{}, waitBroken: make(chan struct{})}
		c.Store = fe.fs
		c.Observe = func(ev Event) {
			fe.mu.Lock()
			fe.reasons = append(fe.reasons, ev.Reason)
			fe.mu.Unlock()
		}
		if mod != nil {
			mod(c)
		}
	})
	return fe
}

func (fe *flakyEnv) lastReason() Reason {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if len(fe.reasons) == 0 {
		return 0
	}
	return fe.reasons[len(fe.reasons)-1]
}

// refusedLines returns the "request refused" log lines since the last
// call, and fails unless every other line matches one of also.
func (fe *flakyEnv) refusedLines(t *testing.T, also ...string) []string {
	t.Helper()
	var refused []string
	for _, l := range fe.logs.take() {
		switch {
		case strings.HasPrefix(l, "httpauth: request refused"):
			refused = append(refused, l)
		case strings.HasPrefix(l, "httpauth: confirmation request sent"):
		default:
			ok := false
			for _, a := range also {
				ok = ok || strings.Contains(l, a)
			}
			if !ok {
				t.Errorf("unexpected log line %s", l)
			}
		}
	}
	return refused
}

// TestStoreFailsClosed: when the store fails at any step of a request, the
// request gets 503 with Reason StoreUnavailable, one Warn line naming the
// store's error, and nothing is served; once the store is back, the same
// Verifier serves again.
func TestStoreFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		method string
		// run serves one request against e, feeding the answer stanza
		// where the flow reaches the user.
		run func(e *flakyEnv) int
		// asked: the user is asked before the failure.
		asked bool
	}{
		{method: "Begin", run: func(e *flakyEnv) int { return e.serve(basicReq("GET", pageURL, fullJID, txID)).Code }},
		{method: "Grant", run: func(e *flakyEnv) int { return e.serve(basicReq("GET", pageURL, fullJID, txID)).Code }},
		{method: "UseNonce", run: func(e *flakyEnv) int {
			return e.serve(digestReq(e.t, e.env, "SHA-256", "GET", "/missive.html", fullJID, txID, 1)).Code
		}},
		{method: "Wait", asked: true, run: func(e *flakyEnv) int { return e.serve(basicReq("GET", pageURL, fullJID, txID)).Code }},
		{method: "Reopen", asked: true, run: func(e *flakyEnv) int {
			f := e.start(basicReq("GET", pageURL, fullJID, txID))
			s := e.nextSent()
			err := e.feed(`<iq type='error' from='` + fullJID + `' id='` + s.answer.id + `'><error type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
			if err != nil {
				e.t.Fatal(err)
			}
			return f.wait().Code
		}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			e := newFlakyEnv(t, nil)
			e.fs.set(e.fs.fail, tc.method, true)
			// A store that is down fails End too, which must not make a
			// second log line.
			e.fs.set(e.fs.fail, "End", true)
			if code := tc.run(e); code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", code)
			}
			if tc.method != "Reopen" {
				if tc.asked {
					e.nextSent()
				}
				e.noSend()
			}
			if r := e.lastReason(); r != StoreUnavailable {
				t.Fatalf("observed reason %v, want %v", r, StoreUnavailable)
			}
			lines := e.refusedLines(t)
			if len(lines) != 1 || !strings.Contains(lines[0], `reason="store unavailable"`) || !strings.Contains(lines[0], "connection refused") {
				t.Fatalf("log %q, want one refusal naming the store's error", lines)
			}
			if n := e.v.Pending(); n != 0 {
				t.Fatalf("Pending() = %d after the failure", n)
			}

			// Back up: the same Verifier serves again, with a new id.
			e.fs.set(e.fs.fail, tc.method, false)
			e.fs.set(e.fs.fail, "End", false)
			f := e.start(basicReq("GET", pageURL, fullJID, "after-recovery"))
			if err := e.feed(iqResult(fullJID)(e.nextSent())); err != nil {
				t.Fatal(err)
			}
			if rec := f.wait(); rec.Code != 200 {
				t.Fatalf("after recovery: status %d", rec.Code)
			}
		})
	}
}

// TestStoreFailsDuringWait: a store that loses its connection while a
// request waits for the answer ends that request at once with 503, not
// at the timeout.
func TestStoreFailsDuringWait(t *testing.T) {
	e := newFlakyEnv(t, nil)
	f := e.start(basicReq("GET", pageURL, fullJID, txID))
	e.nextSent()
	close(e.fs.waitBroken)
	if rec := f.wait(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "storage is unavailable") {
		t.Fatalf("status %d %q, want 503 saying the storage is unavailable", rec.Code, rec.Body.String())
	}
	if n := storePending(t, e.store); n != 0 {
		t.Fatalf("%d pending after the failed wait", n)
	}
}

// TestStoreHangs: a store that does not answer is given up on after
// StoreTimeout (503), and a client that goes away meanwhile gets Canceled.
func TestStoreHangs(t *testing.T) {
	e := newFlakyEnv(t, func(c *Config) { c.StoreTimeout = config1ms })
	e.fs.set(e.fs.hang, "Begin", true)
	if rec := e.serve(basicReq("GET", pageURL, fullJID, txID)); rec.Code != http.StatusServiceUnavailable || e.lastReason() != StoreUnavailable {
		t.Fatalf("status %d, reason %v; want 503 store unavailable", rec.Code, e.lastReason())
	}

	e = newFlakyEnv(t, nil) // StoreTimeout 5s: the client leaves first
	e.fs.set(e.fs.hang, "Begin", true)
	ctx, cancel := context.WithCancel(context.Background())
	f := e.start(basicReq("GET", pageURL, fullJID, txID).WithContext(ctx))
	cancel()
	if rec := f.wait(); rec.Code != http.StatusServiceUnavailable || e.lastReason() != Canceled {
		t.Fatalf("status %d, reason %v; want 503 canceled", rec.Code, e.lastReason())
	}
}

const config1ms = 1_000_000 // config.Duration of 1ms

// TestStoreFailsAfterConfirmation: when only recording the outcome fails
// (End, AddGrant), the confirmed request is served and the failure logged.
func TestStoreFailsAfterConfirmation(t *testing.T) {
	e := newFlakyEnv(t, nil)
	e.fs.set(e.fs.fail, "End", true)
	e.fs.set(e.fs.fail, "AddGrant", true)
	f := e.start(basicReq("HEAD", pageURL, fullJID, txID))
	if err := e.feed(iqResult(fullJID)(e.nextSent())); err != nil {
		t.Fatal(err)
	}
	if rec := f.wait(); rec.Code != 200 {
		t.Fatalf("status %d, want 200", rec.Code)
	}
	if refused := e.refusedLines(t, "ending a transaction", "adding a grant", "request granted"); len(refused) != 0 {
		t.Fatalf("refusals logged: %q", refused)
	}
	// The Basic grant is still reusable on this node.
	if rec := e.serve(basicReq("GET", pageURL, fullJID, txID)); rec.Code != 200 {
		t.Fatalf("reuse: status %d", rec.Code)
	}
	e.noSend()
	if n := e.v.Pending(); n != 0 {
		t.Fatalf("Pending() = %d", n)
	}
}

// TestStoreFailsForAnswers: while the store fails, answers are not
// accepted: an answer that was not read yet is given back to the router
// token for token, one read already is dropped; every case is logged. The
// waiting request then times out, and once the store is back, answers count
// again.
func TestStoreFailsForAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  string
		to      string // JID the request is for
		answer  answerForm
		handled bool
	}{
		{"iq lookup", "Lookup", fullJID, iqResult(fullJID), false},
		{"message pending", "PendingFor", bareJID, msgEcho(fullJID, "normal"), false},
		{"message by id", "LookupID", bareJID, msgEcho(fullJID, "normal"), false},
		{"plaintext by id", "LookupID", bareJID, plaintext(fullJID, txID+" OK", false), false},
		{"resolve iq", "Resolve", fullJID, iqResult(fullJID), true},
		{"resolve message", "Resolve", bareJID, msgEcho(fullJID, "normal"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFlakyEnv(t, nil)
			f := e.start(basicReq("GET", pageURL, tc.to, txID))
			s := e.nextSent()
			e.fs.set(e.fs.fail, tc.method, true)
			raw := tc.answer(s)
			d := xml.NewDecoder(strings.NewReader(raw))
			tok, _ := d.Token()
			rest, handled, err := e.v.handleStanza(tok.(xml.StartElement).Copy(), d)
			if !errors.Is(err, ErrStore) || handled != tc.handled {
				t.Fatalf("handleStanza = %v, %v; want ErrStore, handled %v", handled, err, tc.handled)
			}
			if !handled {
				if got, want := tokensOf(t, rest), innerTokens(t, raw); got != want {
					t.Fatalf("given back %s, want %s", got, want)
				}
			}
			lines := e.logs.take()
			if len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), "httpauth: store failed") {
				t.Fatalf("log %q, want the store failure", lines)
			}
			(<-e.clock.after) <- time.Time{}
			if rec := f.wait(); rec.Code != 403 {
				t.Fatalf("status %d, want 403 (timed out)", rec.Code)
			}

			e.fs.set(e.fs.fail, tc.method, false)
			f = e.start(basicReq("GET", pageURL, tc.to, "after-recovery"))
			s = e.nextSent()
			answer := iqResult(fullJID)
			if tc.to == bareJID {
				answer = msgEcho(fullJID, "normal")
			}
			if err := e.feed(answer(s)); err != nil {
				t.Fatal(err)
			}
			if rec := f.wait(); rec.Code != 200 {
				t.Fatalf("after recovery: status %d", rec.Code)
			}
		})
	}
}

// tokensOf describes the tokens r yields.
func tokensOf(t *testing.T, r xml.TokenReader) string {
	t.Helper()
	var b strings.Builder
	for {
		tok, err := r.Token()
		if tok != nil {
			fmt.Fprintf(&b, "%T%v ", tok, tok)
		}
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// innerTokens is tokensOf the tokens after raw's start element.
func innerTokens(t *testing.T, raw string) string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	d.Token()
	return tokensOf(t, d)
}

// TestSessionEndedStoreFails: SessionEnded logs a failing store, and the
// request it could not end times out instead.
func TestSessionEndedStoreFails(t *testing.T) {
	e := newFlakyEnv(t, nil)
	f := e.start(basicReq("GET", pageURL, fullJID, txID))
	e.nextSent()
	e.fs.set(e.fs.fail, "PendingFor", true)
	e.v.SessionEnded(jid.MustParse(fullJID))
	if lines := e.logs.take(); !strings.Contains(strings.Join(lines, "\n"), "ending the requests of a session") {
		t.Fatalf("log %q", lines)
	}
	(<-e.clock.after) <- time.Time{}
	if rec := f.wait(); rec.Code != 403 {
		t.Fatalf("status %d, want 403 (timed out)", rec.Code)
	}
}
