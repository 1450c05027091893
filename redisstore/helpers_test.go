package redisstore_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/internal/testenv"
	"github.com/xmppauth/xmppauth/redisstore"
)

// quietLogger silences go-redis's own log (dial failures during the
// outage tests).
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

var (
	testKey   = []byte("0123456789abcdef0123456789abcdef")
	nonceKey  = []byte("fedcba9876543210fedcba9876543210")
	prefixSeq atomic.Int64
)

// server is a redis-server for one test, on which each store gets a
// prefix of its own.
type server struct{ r *testenv.Redis }

func startServer(t testing.TB) *server {
	t.Helper()
	return &server{r: testenv.StartRedis(t, testenv.RedisOptions{})}
}

// prefix returns a prefix no other store of the test run uses.
func freshPrefix() string { return fmt.Sprintf("test%d:", prefixSeq.Add(1)) }

// client returns a client with the package's recommended options, as one
// node would have.
func (sv *server) client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(redisstore.ClientOptions(sv.r.Addr))
	t.Cleanup(func() { c.Close() })
	return c
}

// node returns the stores of one node, with a client of its own; nodes
// made with the same opts.Prefix share their state.
func (sv *server) node(t testing.TB, opts redisstore.Options) *redisstore.Stores {
	t.Helper()
	if opts.Key == nil {
		opts.Key = testKey
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := redisstore.New(sv.client(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// capture is an httpauth.Sender that keeps the stanzas sent.
type capture struct{ ch chan string }

func (c *capture) Send(_ context.Context, r xml.TokenReader) error {
	var b bytes.Buffer
	e := xml.NewEncoder(&b)
	if _, err := xmlstream.Copy(e, r); err != nil {
		return err
	}
	if err := e.Flush(); err != nil {
		return err
	}
	c.ch <- b.String()
	return nil
}

// request is a confirmation request as sent: the IQ id or message thread
// (the reference), the element name and the transaction identifier.
type request struct {
	name, ref, id, to string
}

func parseRequest(t testing.TB, raw string) request {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	var req request
	var inThread bool
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if req.name == "" {
				req.name = tok.Name.Local
				for _, a := range tok.Attr {
					switch a.Name.Local {
					case "id":
						req.ref = a.Value
					case "to":
						req.to = a.Value
					}
				}
			}
			inThread = tok.Name.Local == "thread"
			if tok.Name.Local == "confirm" {
				for _, a := range tok.Attr {
					if a.Name.Local == "id" {
						req.id = a.Value
					}
				}
			}
		case xml.CharData:
			if inThread {
				req.ref = string(tok)
			}
		case xml.EndElement:
			inThread = false
		}
	}
	return req
}

// logLines is a slog.Handler that keeps messages and their attributes.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (h *logLines) Enabled(context.Context, slog.Level) bool { return true }
func (h *logLines) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%q", a.Key, a.Value.String())
		return true
	})
	h.mu.Lock()
	h.lines = append(h.lines, b.String())
	h.mu.Unlock()
	return nil
}
func (h *logLines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logLines) WithGroup(string) slog.Handler      { return h }

func (h *logLines) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

// web is one node's XEP-0070 front end: a Verifier on the node's store.
type web struct {
	t    testing.TB
	st   *redisstore.Stores
	v    *httpauth.Verifier
	sent chan string
	log  *logLines
	h    http.Handler
	// reasons records what Observe heard, refusals and grants (0).
	mu      sync.Mutex
	reasons []httpauth.Reason
}

const (
	host    = "files.example"
	fullJID = "juliet@capulet.example/balcony"
	bareJID = "juliet@capulet.example"
)

func (sv *server) web(t testing.TB, prefix string, mod func(*httpauth.Config)) *web {
	t.Helper()
	w := &web{t: t, sent: make(chan string, 16), log: &logLines{}}
	w.st = sv.node(t, redisstore.Options{Prefix: prefix, Logger: slog.New(w.log)})
	cfg := httpauth.Config{
		Sender:     &capture{ch: w.sent},
		From:       jid.MustParse(host),
		Store:      w.st.HTTPAuth,
		Timeout:    config.Duration(time.Minute),
		NonceKey:   nonceKey,
		Hosts:      []string{host},
		JIDRate:    httpauth.RateLimit{Disable: true},
		ClientRate: httpauth.RateLimit{Disable: true},
		Logger:     slog.New(w.log),
		Observe: func(e httpauth.Event) {
			w.mu.Lock()
			w.reasons = append(w.reasons, e.Reason)
			w.mu.Unlock()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := httpauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.v = v
	w.h = v.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		j, _ := httpauth.FromContext(r.Context())
		rw.Write([]byte(j.String()))
	}))
	return w
}

func (w *web) lastReason() httpauth.Reason {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.reasons) == 0 {
		return 0
	}
	return w.reasons[len(w.reasons)-1]
}

// inflight is an HTTP request served in the background.
type inflight struct {
	rec  *httptest.ResponseRecorder
	done chan struct{}
}

func (w *web) start(r *http.Request) *inflight {
	f := &inflight{rec: httptest.NewRecorder(), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		w.h.ServeHTTP(f.rec, r)
	}()
	return f
}

// wait returns the response, failing the test if it takes longer than
// bound (so that a hang is reported as one).
func (f *inflight) wait(t testing.TB, bound time.Duration) *httptest.ResponseRecorder {
	t.Helper()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-f.done:
		return f.rec
	case <-timer.C:
		t.Fatalf("no response within %s", bound)
		return nil
	}
}

func (w *web) serve(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	return rec
}

func (w *web) nextSent() request {
	w.t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case raw := <-w.sent:
		return parseRequest(w.t, raw)
	case <-timer.C:
		w.t.Fatal("no confirmation request sent")
		return request{}
	}
}

func (w *web) noSend() {
	w.t.Helper()
	select {
	case raw := <-w.sent:
		w.t.Fatalf("unexpected stanza sent: %s", raw)
	default:
	}
}

// handle hands a stanza to the node's HandleStanza.
func (w *web) handle(raw string) bool {
	w.t.Helper()
	d := xml.NewDecoder(strings.NewReader(raw))
	tok, err := d.Token()
	if err != nil {
		w.t.Fatal(err)
	}
	_, handled := w.v.HandleStanza(tok.(xml.StartElement).Copy(), d)
	return handled
}

func basicReq(method, user, id string) *http.Request {
	r := httptest.NewRequest(method, "http://"+host+"/doc", nil)
	r.Header.Set("Authorization", httpauth.BasicAuthorization(jid.MustParse(user), id))
	return r
}

func iqResult(from string, req request) string {
	return fmt.Sprintf(`<iq type='result' from='%s' to='%s' id='%s'/>`, from, host, req.ref)
}

func iqError(from, cond string, req request) string {
	return fmt.Sprintf(`<iq type='error' from='%s' to='%s' id='%s'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, from, host, req.ref, cond)
}

func plaintextOK(from string, req request) string {
	return fmt.Sprintf(`<message type='chat' from='%s' to='%s'><thread>%s</thread><body>%s OK</body></message>`, from, host, req.ref, req.id)
}
