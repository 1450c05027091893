package httpauth

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/xmppauth/xmppauth/internal/floodlog"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/config"
)

// TestDuplicateAttributes feeds answers whose stanza or <confirm/> element
// carries an attribute twice. A router that stamps the first from while the
// parser takes the last would let alice answer for bob; such answers are
// ignored (and logged), and the request waits for bob's real answer.
func TestDuplicateAttributes(t *testing.T) {
	const bob, bobFull = "bob@localhost", "bob@localhost/phone"
	for _, tc := range []struct {
		name   string
		user   string
		answer func(s sent) string
	}{
		{"message from twice (the reported stanza)", bob, func(s sent) string {
			return `<message to='localhost' from='x' from='bob@localhost' type='normal'><body>ID OK</body></message>`
		}},
		{"message from twice, with thread", bob, func(s sent) string {
			return `<message from='alice@localhost/x' from='bob@localhost/x'><thread>` + s.answer.thread + `</thread><body>OK</body></message>`
		}},
		{"iq from twice", bobFull, func(s sent) string {
			return `<iq type='result' from='alice@localhost/x' from='` + bobFull + `' id='` + s.answer.id + `'/>`
		}},
		{"iq id twice", bobFull, func(s sent) string {
			return `<iq type='result' from='` + bobFull + `' id='other' id='` + s.answer.id + `'/>`
		}},
		{"namespaced from twice", bob, func(s sent) string {
			return `<message xmlns:a='urn:x' xmlns:b='urn:x' a:from='x' b:from='y' from='bob@localhost/x'><thread>` + s.answer.thread + `</thread><body>ID OK</body></message>`
		}},
		{"confirm id twice", bob, func(s sent) string {
			return `<message from='bob@localhost/x'><thread>` + s.answer.thread + `</thread><confirm xmlns='` + NS + `' id='other' id='ID' method='GET' url='` + pageURL + `'/></message>`
		}},
		{"confirm foreign attribute twice", bob, func(s sent) string {
			return `<message from='bob@localhost/x'><thread>` + s.answer.thread + `</thread><confirm xmlns='` + NS + `' x='1' x='2' id='ID' method='GET' url='` + pageURL + `'/></message>`
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			f := e.start(basicReq("GET", pageURL, tc.user, "ID"))
			s := e.nextSent()
			if err := e.feed(tc.answer(s)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("answer with a duplicate attribute: err %v, want ErrMalformed", err)
			}
			logged := e.logs.take()
			if !strings.Contains(strings.Join(logged, "\n"), "duplicate attribute") {
				t.Errorf("not logged: %q", logged)
			}
			(<-e.clock.after) <- time.Time{}
			if rec := f.wait(); rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403 (timeout)", rec.Code)
			}
		})
	}
}

func TestParseConfirmDuplicate(t *testing.T) {
	for _, raw := range []string{
		`<confirm xmlns='` + NS + `' id='a' id='b' method='GET' url='https://a.example/'/>`,
		`<confirm xmlns='` + NS + `' foo='1' foo='1' id='a' method='GET' url='https://a.example/'/>`,
	} {
		tok, _ := xml.NewDecoder(strings.NewReader(raw)).Token()
		if _, err := ParseConfirm(tok.(xml.StartElement)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", raw, err)
		}
	}
}

// TestRateLimits checks the per-JID and per-client-address prompt limits:
// over them a request gets 429 with Retry-After and nobody is contacted.
func TestRateLimits(t *testing.T) {
	deny := func(e *env, r *http.Request) int {
		t.Helper()
		f := e.start(r)
		s := e.nextSent()
		if err := e.feed(iqError(s.to)(s)); err != nil {
			t.Fatal(err)
		}
		return f.wait().Code
	}
	from := func(r *http.Request, addr string) *http.Request {
		r.RemoteAddr = addr
		return r
	}
	t.Run("per JID", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.JIDRate, c.ClientRate = RateLimit{}, RateLimit{} })
		for i := range DefaultJIDRate.Burst {
			// From different addresses, so that only the JID's bucket
			// empties.
			r := from(basicReq("GET", pageURL, fullJID, fmt.Sprint("id", i)), fmt.Sprintf("192.0.2.%d:1", i))
			if c := deny(e, r); c != http.StatusForbidden {
				t.Fatalf("prompt %d: %d", i, c)
			}
		}
		// Another resource of the same account shares the bucket.
		rec := e.serve(from(basicReq("GET", pageURL, bareJID+"/other", "idx"), "198.51.100.1:1"))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "12" {
			t.Fatalf("over the JID limit: %d, Retry-After %q; want 429, 12", rec.Code, rec.Header().Get("Retry-After"))
		}
		e.noSend()
		// Another JID is not limited.
		if c := deny(e, basicReq("GET", pageURL, "romeo@montague.lit/x", "idy")); c != http.StatusForbidden {
			t.Fatalf("other JID: %d", c)
		}
		e.clock.Advance(12 * time.Second)
		if c := deny(e, basicReq("GET", pageURL, fullJID, "idz")); c != http.StatusForbidden {
			t.Fatalf("after Retry-After: %d", c)
		}
	})
	t.Run("per client address", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.JIDRate, c.ClientRate = RateLimit{}, RateLimit{} })
		for i := range DefaultClientRate.Burst {
			r := from(basicReq("GET", pageURL, fmt.Sprintf("user%d@capulet.com/x", i), "id"), "[2001:db8:1:2::1]:1")
			if c := deny(e, r); c != http.StatusForbidden {
				t.Fatalf("prompt %d: %d", i, c)
			}
		}
		// Same /64, other address: the same bucket.
		rec := e.serve(from(basicReq("GET", pageURL, "nurse@capulet.com/x", "id"), "[2001:db8:1:2::ffff]:1"))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
			t.Fatalf("over the address limit: %d, Retry-After %q; want 429, 2", rec.Code, rec.Header().Get("Retry-After"))
		}
		e.noSend()
		// The refused request did not take a token from the JID's bucket,
		// and another /64 has its own.
		r := from(basicReq("GET", pageURL, "nurse@capulet.com/x", "id"), "[2001:db8:1:3::1]:1")
		if c := deny(e, r); c != http.StatusForbidden {
			t.Fatalf("other /64: %d", c)
		}
	})
	t.Run("configured and disabled", func(t *testing.T) {
		e := newEnv(t, func(c *Config) {
			c.JIDRate = RateLimit{Prompts: 1, Per: config.Duration(time.Hour)}
			c.ClientRate = RateLimit{Disable: true}
		})
		if c := deny(e, basicReq("GET", pageURL, fullJID, "a")); c != http.StatusForbidden {
			t.Fatal(c)
		}
		rec := e.serve(basicReq("GET", pageURL, fullJID, "b"))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "3600" {
			t.Fatalf("%d, Retry-After %q; want 429, 3600", rec.Code, rec.Header().Get("Retry-After"))
		}
	})
	t.Run("a replayed id takes no token", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.JIDRate = RateLimit{Prompts: 1, Per: config.Duration(time.Hour)} })
		if c := deny(e, basicReq("GET", pageURL, fullJID, "a")); c != http.StatusForbidden {
			t.Fatal(c)
		}
		e.clock.Advance(time.Hour)
		if c := e.serve(basicReq("GET", pageURL, fullJID, "a")).Code; c != http.StatusUnauthorized {
			t.Fatalf("replay: %d, want 401", c)
		}
		if c := deny(e, basicReq("GET", pageURL, fullJID, "b")); c != http.StatusForbidden {
			t.Fatalf("after a replay: %d", c)
		}
	})
}

// TestRateLimiterBounded: a client naming ever new JIDs from ever new
// addresses cannot grow the limiters beyond MaxKeys.
func TestRateLimiterBounded(t *testing.T) {
	k := newKeyedLimiter(RateLimit{Prompts: 1, Per: config.Duration(time.Minute), Burst: 1, MaxKeys: 100})
	now := time.Unix(0, 0)
	for i := range 10000 {
		if res, _ := k.reserve(fmt.Sprint("key", i), now); res == nil {
			t.Fatalf("fresh key %d limited", i)
		}
	}
	if n := k.len(); n != 100 {
		t.Fatalf("%d keys kept, want 100", n)
	}
	// The most recently used keys are the ones kept.
	if res, _ := k.reserve("key9999", now); res != nil {
		t.Fatal("recent key forgotten")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2::1%eth0":   "2001:db8:1:2::/64",
		"proxy-said:203.0.113.9": "proxy-said:203.0.113.9",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUsedIDMemory remembers used identifiers that were cut from 4 KiB
// strings, as a parser cuts them from the decoded header, and measures the
// heap each one keeps: a fixed-size digest, not the header.
func TestUsedIDMemory(t *testing.T) {
	const n = 20000
	s := NewMemStore(MemStoreConfig{MaxPending: n, MaxPendingPerJID: n, MaxUsed: n})
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		header := fmt.Sprintf("juliet%06d@capulet.com:tx-%06d:", i, i) + strings.Repeat("x", 4096)
		bare, id := header[:24], header[25:34]
		tx := Transaction{Ref: fmt.Sprint(i), To: bare, Bare: bare, Confirm: Confirm{ID: id, Method: "GET", URL: "https://a.example/"}}
		if err := s.Begin(ctx, tx); err != nil {
			t.Fatal(err)
		}
		s.End(ctx, tx)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perID := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f bytes per remembered id", perID)
	if perID > 256 {
		t.Fatalf("%.0f bytes per remembered id, want ≤ 256", perID)
	}
	if err := s.Begin(ctx, Transaction{Ref: "x", Bare: "juliet000007@capulet.com", Confirm: Confirm{ID: "tx-000007"}}); !errors.Is(err, ErrReplay) {
		t.Fatalf("used id forgotten: %v", err)
	}
	runtime.KeepAlive(s)
}

// TestSpoofedHost: the URL shown to the user must not come from a Host
// header nobody configured.
func TestSpoofedHost(t *testing.T) {
	spoofed := func() *http.Request {
		r := basicReq("GET", "http://online-banking.example/transfer?to=mallory", fullJID, txID)
		return r
	}
	t.Run("hosts", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Hosts = []string{"FILES.shakespeare.lit:9345", "other.example"} })
		if c := e.serve(spoofed()).Code; c != http.StatusBadRequest {
			t.Fatalf("spoofed host: %d, want 400", c)
		}
		e.noSend()
		if l := e.logs.take(); len(l) != 1 || !strings.Contains(l[0], `host="online-banking.example"`) {
			t.Fatalf("log %q", l)
		}
		f := e.start(basicReq("GET", pageURL, fullJID, txID))
		s := e.nextSent()
		if s.confirm.URL != pageURL {
			t.Fatalf("URL shown %q, want %q", s.confirm.URL, pageURL)
		}
		e.feed(iqResult(fullJID)(s))
		if c := f.wait().Code; c != 200 {
			t.Fatal(c)
		}
	})
	t.Run("nothing configured", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Hosts = nil })
		for _, r := range []*http.Request{spoofed(), basicReq("GET", pageURL, fullJID, txID), httptest.NewRequest("GET", pageURL, nil)} {
			if c := e.serve(r).Code; c != http.StatusBadRequest {
				t.Fatalf("%s: %d, want 400", r.Host, c)
			}
		}
		e.noSend()
		l := e.logs.take()
		if len(l) != 4 || !strings.Contains(l[0], "none of base_url, hosts and RequestURL is configured") {
			t.Fatalf("log %q, want a warning from New and three lines saying what to configure", l)
		}
		for _, l := range l[1:] {
			if !strings.Contains(l, `fix="set base_url (or hosts)`) {
				t.Errorf("line %q does not say what to configure", l)
			}
		}
	})
	t.Run("base URL", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Hosts, c.BaseURL = nil, "https://files.example.net" })
		f := e.start(spoofed())
		s := e.nextSent()
		if s.confirm.URL != "https://files.example.net/transfer?to=mallory" {
			t.Fatalf("URL shown %q", s.confirm.URL)
		}
		e.feed(iqError(fullJID)(s))
		f.wait()
	})
}

// TestServerDefaults checks the recommended server settings, and with a
// real server that an idle keep-alive connection is closed.
func TestServerDefaults(t *testing.T) {
	e := newEnv(t, nil)
	var s http.Server
	e.v.ServerDefaults(&s)
	timeout := 2 * time.Minute
	if s.ReadHeaderTimeout != 10*time.Second || s.IdleTimeout != time.Minute ||
		s.ReadTimeout <= timeout || s.WriteTimeout <= timeout {
		t.Fatalf("defaults %v %v %v %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}

	// A real server, with an idle timeout the test can wait for (fields
	// already set are kept).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.h, IdleTimeout: 100 * time.Millisecond}
	e.v.ServerDefaults(srv)
	if srv.IdleTimeout != 100*time.Millisecond || srv.ReadTimeout <= timeout {
		t.Fatalf("set fields not kept or others not set: %v %v", srv.IdleTimeout, srv.ReadTimeout)
	}
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /missive.html HTTP/1.1\r\nHost: %s\r\n\r\n", testHost)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 401", resp.StatusCode, resp.Close)
	}
	// The bound only turns a hang into a failure.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF (closed by the server)", err)
	}
}

// TestLogLines checks that each refused request is logged exactly once at
// Info, with who and from where, that prompts and grants are logged, and
// that no line carries the transaction id or the credentials.
func TestLogLines(t *testing.T) {
	digestCreds := ""
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		do    func(e *env) int
		want  []string // substrings of the lines, in order
		codes int
	}{
		{"no credentials", nil, func(e *env) int { return e.serve(httptest.NewRequest("GET", pageURL, nil)).Code }, nil, 401},
		{"bad credentials", nil, func(e *env) int {
			r := httptest.NewRequest("GET", pageURL, nil)
			r.Header.Set("Authorization", "Basic !!!")
			return e.serve(r).Code
		}, []string{`request refused reason="invalid credentials" status="401" remote="192.0.2.1:1234" method="GET"`}, 401},
		{"authorizer", func(c *Config) {
			c.Authorizer = AuthorizerFunc(func(_ context.Context, _ jid.JID, _ *http.Request) error { return errors.New("not on the list") })
		}, func(e *env) int { return e.serve(basicReq("GET", pageURL, fullJID, txID)).Code },
			[]string{`reason="refused by the authorizer" status="403" remote="192.0.2.1:1234" method="GET" jid="` + fullJID + `" url="` + pageURL + `" err="httpauth: not authorized for this resource: not on the list"`}, 403},
		{"rate limited", func(c *Config) { c.JIDRate = RateLimit{Prompts: 1, Per: config.Duration(time.Hour)} }, func(e *env) int {
			f := e.start(basicReq("GET", pageURL, fullJID, "a"))
			e.feed(iqError(fullJID)(e.nextSent()))
			f.wait()
			e.logs.take()
			return e.serve(basicReq("GET", pageURL, fullJID, "b")).Code
		}, []string{`reason="rate limited" status="429"`}, 429},
		{"delivery failure", nil, func(e *env) int {
			e.sender.err = errors.New("recipient unavailable")
			return e.serve(basicReq("GET", pageURL, fullJID, txID)).Code
		}, []string{`reason="confirmation request could not be sent" status="503" remote="192.0.2.1:1234" method="GET" jid="` + fullJID + `" url="` + pageURL + `" err="httpauth: confirmation request could not be sent: recipient unavailable"`}, 503},
		{"denied", nil, func(e *env) int {
			f := e.start(basicReq("GET", pageURL, fullJID, txID))
			e.feed(iqError(fullJID)(e.nextSent()))
			return f.wait().Code
		}, []string{
			`confirmation request sent jid="` + fullJID + `" method="GET" url="` + pageURL + `" remote="192.0.2.1:1234" form="iq"`,
			`request refused reason="denied by the user" status="403" remote="192.0.2.1:1234" method="GET" jid="` + fullJID + `"`,
		}, 403},
		{"timed out", nil, func(e *env) int {
			f := e.start(basicReq("GET", pageURL, bareJID, txID))
			e.nextSent()
			(<-e.clock.after) <- time.Time{}
			return f.wait().Code
		}, []string{`form="message"`, `reason="timed out" status="403"`}, 403},
		{"granted", nil, func(e *env) int {
			f := e.start(basicReq("GET", pageURL, fullJID, txID))
			e.feed(iqResult(fullJID)(e.nextSent()))
			return f.wait().Code
		}, []string{`confirmation request sent`, `request granted jid="` + fullJID + `" method="GET" url="` + pageURL + `" remote="192.0.2.1:1234"`}, 200},
		{"digest granted", nil, func(e *env) int {
			r := digestReq(t, e, "SHA-256", "GET", "/missive.html", fullJID, txID, 1)
			digestCreds = r.Header.Get("Authorization")
			f := e.start(r)
			e.feed(iqResult(fullJID)(e.nextSent()))
			return f.wait().Code
		}, []string{`confirmation request sent`, `request granted`}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.mod)
			if c := tc.do(e); c != tc.codes {
				t.Fatalf("status %d, want %d", c, tc.codes)
			}
			lines := e.logs.take()
			if len(lines) != len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tc.want), strings.Join(lines, "\n"))
			}
			for i, l := range lines {
				if !strings.Contains(l, tc.want[i]) {
					t.Errorf("line %d:\n%s\nwant it to contain\n%s", i, l, tc.want[i])
				}
				secrets := []string{txID, BasicAuthorization(jid.MustParse(fullJID), txID)[6:]}
				if _, resp, ok := strings.Cut(digestCreds, `response="`); ok {
					secrets = append(secrets, resp[:16])
				}
				for _, secret := range secrets {
					if strings.Contains(l, secret) {
						t.Errorf("line %d contains a secret: %s", i, l)
					}
				}
			}
		})
	}
}

// TestLogFlood: refusals beyond the log rate limit are counted, not
// written, and the count is reported once logging resumes.
func TestLogFlood(t *testing.T) {
	e := newEnv(t, nil)
	bad := func() {
		r := httptest.NewRequest("GET", pageURL, nil)
		r.Header.Set("Authorization", "Basic !!!")
		e.serve(r)
	}
	const n = 1000
	for range n {
		bad()
	}
	lines := e.logs.take()
	if len(lines) != floodlog.Burst {
		t.Fatalf("%d lines for %d refusals, want %d", len(lines), n, floodlog.Burst)
	}
	e.clock.Advance(time.Second)
	bad()
	lines = e.logs.take()
	want := fmt.Sprintf(`suppressed similar log lines (rate limit) lines="%d"`, n-floodlog.Burst)
	if len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[1], "request refused") {
		t.Fatalf("after a second: %q, want the summary (%s) and the refusal", lines, want)
	}
}

// TestValidateNamesKeys: Validate checks settings only, without the run-time
// dependencies, and names the JSON key of what is wrong.
func TestValidateNamesKeys(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	if _, err := New(Config{Hosts: []string{"a.example"}}); err == nil || !strings.Contains(err.Error(), "Sender") {
		t.Fatalf("New without Sender: %v", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Timeout: -1}, "timeout: -1ns is negative"},
		{Config{ReuseWindow: config.Duration(-time.Second)}, "reuse_window: -1s is negative"},
		{Config{NonceLifetime: -1}, "nonce_lifetime: -1ns is negative"},
		{Config{TimeoutStatus: 200}, "timeout_status: 200 is not a 4xx or 5xx status"},
		{Config{DisableBasic: true, DisableDigest: true}, "disable_digest: "},
		{Config{BaseURL: "/app"}, `base_url: "/app" is not an absolute http(s) URL`},
		{Config{Hosts: []string{"a.example", "http://b.example/"}}, `hosts[1]: "http://b.example/" is not a host or host:port`},
		{Config{JIDRate: RateLimit{Burst: -1}}, "jid_rate.burst: -1 is negative"},
		{Config{ClientRate: RateLimit{Per: -1}}, "client_rate.per: -1ns is negative"},
		{Config{NonceKey: []byte("short")}, "NonceKey: 5 bytes is shorter than 16"},
	} {
		err := tc.cfg.Validate()
		var fe *config.FieldError
		if err == nil || !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want a FieldError %q", tc.cfg, err, tc.want)
		}
	}
}
