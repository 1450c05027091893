package httpauth

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// sent is a stanza captured by fakeSender.
type sent struct {
	raw     string
	start   xml.StartElement
	answer  answer // parsed with readAnswer (to/from not set)
	to      string
	confirm Confirm
}

// fakeSender records stanzas instead of delivering them.
type fakeSender struct {
	ch  chan sent
	err error
}

func newFakeSender() *fakeSender { return &fakeSender{ch: make(chan sent, 16)} }

func (s *fakeSender) Send(ctx context.Context, r xml.TokenReader) error {
	if s.err != nil {
		return s.err
	}
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	for {
		tok, err := r.Token()
		if tok != nil {
			if err := e.EncodeToken(tok); err != nil {
				return err
			}
		}
		if err != nil {
			break
		}
	}
	if err := e.Flush(); err != nil {
		return err
	}
	d := xml.NewDecoder(strings.NewReader(buf.String()))
	tok, err := d.Token()
	if err != nil {
		return err
	}
	start := tok.(xml.StartElement)
	a, err := readAnswer(start, d)
	if err != nil {
		return err
	}
	st := sent{raw: buf.String(), start: start, answer: a}
	for _, at := range start.Attr {
		if at.Name.Local == "to" {
			st.to = at.Value
		}
	}
	if a.confirm != nil {
		st.confirm = *a.confirm
	}
	s.ch <- st
	return nil
}

// fakeClock is a settable clock whose After channels fire only when the
// test calls fire.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	after chan chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), after: make(chan chan time.Time, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.after <- ch
	return ch
}

// logRecorder is a slog.Handler that keeps the records at Info and above,
// as a production logger would write them.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// lines returns the records as "message key=value …" lines and forgets
// them.
func (h *logRecorder) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
			return true
		})
		out = append(out, b.String())
	}
	h.records = nil
	return out
}

// discardLog is the logger of tests that do not look at the log.
var discardLog = slog.New(slog.DiscardHandler)

// testHost is the host of pageURL, which newEnv configures in Config.Hosts.
const testHost = "files.shakespeare.lit:9345"

// env is a Verifier wired to fakes.
type env struct {
	t      *testing.T
	v      *Verifier
	sender *fakeSender
	clock  *fakeClock
	store  *MemStore
	logs   *logRecorder
	h      http.Handler
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{t: t, sender: newFakeSender(), clock: newFakeClock(), logs: &logRecorder{}}
	e.store = NewMemStore(MemStoreConfig{Clock: e.clock, MaxPendingPerJID: 2, MaxPending: 4})
	cfg := Config{
		Sender:   e.sender,
		From:     jid.MustParse("files.shakespeare.lit"),
		Store:    e.store,
		Clock:    e.clock,
		NonceKey: []byte("0123456789abcdef0123456789abcdef"),
		Hosts:    []string{testHost},
		Logger:   slog.New(e.logs),
		// Most tests are not about rate limits; TestRateLimits is.
		JIDRate:    RateLimit{Disable: true},
		ClientRate: RateLimit{Disable: true},
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.v = v
	e.h = v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, ok := FromContext(r.Context())
		if !ok {
			t.Error("no JID in context")
		}
		w.Header().Set("X-JID", j.String())
		w.Write([]byte("hello " + j.String()))
	}))
	return e
}

// serveEnv is newEnv behind a real HTTP server on loopback, whose host is
// the one configured host.
func serveEnv(t *testing.T, mod func(*Config)) (*env, *httptest.Server) {
	t.Helper()
	srv, set := lateServer(t)
	e := newEnv(t, func(c *Config) {
		c.Hosts = []string{srvHost(srv)}
		if mod != nil {
			mod(c)
		}
	})
	set(e.h)
	return e, srv
}

// lateServer starts an HTTP server on loopback whose handler is set later,
// so that its host can go into Config.Hosts first.
func lateServer(t testing.TB) (*httptest.Server, func(http.Handler)) {
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	return srv, func(next http.Handler) { h.Store(&next) }
}

// srvHost is the host:port of a test server.
func srvHost(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// inflight is an HTTP request being served in the background.
type inflight struct {
	rec  *httptest.ResponseRecorder
	done chan struct{}
}

func (e *env) start(r *http.Request) *inflight {
	f := &inflight{rec: httptest.NewRecorder(), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		e.h.ServeHTTP(f.rec, r)
	}()
	return f
}

func (f *inflight) wait() *httptest.ResponseRecorder {
	<-f.done
	return f.rec
}

// serve serves r synchronously (for requests that must not reach the user).
func (e *env) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec
}

func (e *env) nextSent() sent {
	e.t.Helper()
	return <-e.sender.ch
}

// feed hands a raw answer stanza to the verifier.
func (e *env) feed(raw string) error {
	e.t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		e.t.Fatal(err)
	}
	_, _, err = e.v.handleStanza(tok.(xml.StartElement), d)
	return err
}

func basicReq(method, url, user, id string) *http.Request {
	r := httptest.NewRequest(method, url, nil)
	r.Header.Set("Authorization", BasicAuthorization(jid.MustParse(user), id))
	return r
}

func (e *env) noSend() {
	e.t.Helper()
	select {
	case s := <-e.sender.ch:
		e.t.Fatalf("unexpected stanza sent: %s", s.raw)
	default:
	}
}

// storePending is s.Pending for tests, where the store cannot fail.
func storePending(t testing.TB, s Store) int {
	t.Helper()
	n, err := s.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
