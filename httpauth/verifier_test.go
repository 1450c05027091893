package httpauth

import (
	"github.com/xmppauth/xmppauth/config"

	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

const (
	fullJID = "juliet@capulet.com/balcony"
	bareJID = "juliet@capulet.com"
	txID    = "a7374jnjlalasdf82"
	pageURL = "https://files.shakespeare.lit:9345/missive.html"
)

func TestNoCredentialsChallenge(t *testing.T) {
	e := newEnv(t, nil)
	rec := e.serve(httptest.NewRequest("GET", pageURL, nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", rec.Code)
	}
	got := rec.Header().Values("WWW-Authenticate")
	if len(got) != 3 {
		t.Fatalf("got %d challenges, want 3: %q", len(got), got)
	}
	if got[0] != `Basic realm="xmpp", charset="UTF-8"` {
		t.Errorf("basic challenge %q", got[0])
	}
	for i, alg := range []string{"SHA-256", "MD5"} {
		c := got[i+1]
		for _, want := range []string{`Digest realm="xmpp"`, `qop="auth"`, "algorithm=" + alg, `nonce="`, `opaque="`, "stale=false"} {
			if !strings.Contains(c, want) {
				t.Errorf("challenge %q lacks %q", c, want)
			}
		}
	}
	e.noSend()
}

func TestDisabledSchemes(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DisableDigest = true })
	rec := e.serve(httptest.NewRequest("GET", pageURL, nil))
	if got := rec.Header().Values("WWW-Authenticate"); len(got) != 1 || !strings.HasPrefix(got[0], "Basic") {
		t.Errorf("challenges %q, want Basic only", got)
	}
	e = newEnv(t, func(c *Config) { c.DisableBasic = true })
	rec = e.serve(basicReq("GET", pageURL, fullJID, txID))
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("Basic accepted although disabled: %d", rec.Code)
	}
	for _, c := range rec.Header().Values("WWW-Authenticate") {
		if strings.HasPrefix(c, "Basic") {
			t.Errorf("Basic offered although disabled")
		}
	}
	e.noSend()
}

func TestConfigValidate(t *testing.T) {
	s := newFakeSender()
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, false},
		{"sender only", Config{Sender: s}, true},
		{"short key", Config{Sender: s, NonceKey: []byte("short")}, false},
		{"negative timeout", Config{Sender: s, Timeout: -1}, false},
		{"negative store timeout", Config{Sender: s, StoreTimeout: -1}, false},
		{"bad status", Config{Sender: s, TimeoutStatus: 200}, false},
		{"both disabled", Config{Sender: s, DisableBasic: true, DisableDigest: true}, false},
		{"base URL", Config{Sender: s, BaseURL: "https://files.example.net/app/"}, true},
		{"relative base URL", Config{Sender: s, BaseURL: "/app"}, false},
		{"base URL with query", Config{Sender: s, BaseURL: "https://a.example/?x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Errorf("New: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// answerForm builds an answer stanza for a captured request.
type answerForm func(s sent) string

func iqResult(from string) answerForm {
	return func(s sent) string {
		return fmt.Sprintf(`<iq type='result' from='%s' to='files.shakespeare.lit' id='%s'/>`, from, s.answer.id)
	}
}

func iqError(from string) answerForm {
	return func(s sent) string {
		return fmt.Sprintf(`<iq type='error' from='%s' to='files.shakespeare.lit' id='%s'><confirm xmlns='%s' id='%s' method='%s' url='%s'/><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:xmpp-stanzas'/></error></iq>`,
			from, s.answer.id, NS, s.confirm.ID, s.confirm.Method, s.confirm.URL)
	}
}

func msgEcho(from, typ string) answerForm {
	return func(s sent) string {
		errEl := ""
		if typ == "error" {
			errEl = `<error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:xmpp-stanzas'/></error>`
		}
		return fmt.Sprintf(`<message type='%s' from='%s' to='files.shakespeare.lit'><thread>%s</thread><confirm xmlns='%s' id='%s' method='%s' url='%s'/>%s</message>`,
			typ, from, s.answer.thread, NS, s.confirm.ID, s.confirm.Method, s.confirm.URL, errEl)
	}
}

func plaintext(from, body string, thread bool) answerForm {
	return func(s sent) string {
		th := ""
		if thread {
			th = "<thread>" + s.answer.thread + "</thread>"
		}
		return fmt.Sprintf(`<message type='chat' from='%s' to='files.shakespeare.lit'>%s<body>%s</body></message>`, from, th, body)
	}
}

func TestAnswerForms(t *testing.T) {
	for _, tc := range []struct {
		name   string
		user   string // JID in the Authorization header
		answer answerForm
		status int
	}{
		{"iq result", fullJID, iqResult(fullJID), 200},
		{"iq error not-authorized", fullJID, iqError(fullJID), 403},
		{"message echo", bareJID, msgEcho(bareJID+"/phone", "normal"), 200},
		{"message echo chat", bareJID, msgEcho(bareJID+"/phone", "chat"), 200},
		{"message error", bareJID, msgEcho(bareJID+"/phone", "error"), 403},
		{"plaintext id OK", bareJID, plaintext(bareJID+"/x", txID+" OK", false), 200},
		{"plaintext OK id", bareJID, plaintext(bareJID+"/x", "ok "+txID, false), 200},
		{"plaintext id No", bareJID, plaintext(bareJID+"/x", txID+" No", false), 403},
		{"plaintext quoted", bareJID, plaintext(bareJID+"/x", "&gt; Someone requested\n"+txID+" yes", false), 200},
		{"plaintext OK with thread", bareJID, plaintext(bareJID+"/x", "OK", true), 200},
		{"plaintext no with thread", bareJID, plaintext(bareJID+"/x", "no.", true), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			f := e.start(basicReq("GET", pageURL, tc.user, txID))
			s := e.nextSent()
			want := Confirm{ID: txID, Method: "GET", URL: pageURL}
			if s.confirm.ID != want.ID || s.confirm.Method != want.Method || s.confirm.URL != want.URL {
				t.Fatalf("sent confirm %+v, want %+v", s.confirm, want)
			}
			if s.to != tc.user {
				t.Fatalf("sent to %q, want %q", s.to, tc.user)
			}
			if (s.start.Name.Local == "message") != (tc.user == bareJID) {
				t.Fatalf("full JIDs get an IQ, bare JIDs a message; sent %s", s.raw)
			}
			if s.start.Name.Local == "message" && (s.answer.thread == "" || !strings.Contains(s.answer.body, txID)) {
				t.Fatalf("message without thread or instructions: %s", s.raw)
			}
			if err := e.feed(tc.answer(s)); err != nil {
				t.Fatalf("answer refused: %v", err)
			}
			rec := f.wait()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 200 && rec.Header().Get("X-JID") != tc.user {
				t.Errorf("verified JID %q, want %q", rec.Header().Get("X-JID"), tc.user)
			}
			if n := storePending(t, e.store); n != 0 {
				t.Errorf("%d transactions still pending", n)
			}
		})
	}
}

func TestIgnoredAnswers(t *testing.T) {
	otherURL := func(s sent) string {
		return fmt.Sprintf(`<message from='%s/phone'><thread>%s</thread><confirm xmlns='%s' id='%s' method='GET' url='https://evil.example/'/></message>`, bareJID, s.answer.thread, NS, s.confirm.ID)
	}
	wrongMethod := func(s sent) string {
		return fmt.Sprintf(`<message from='%s/phone'><thread>%s</thread><confirm xmlns='%s' id='%s' method='POST' url='%s'/></message>`, bareJID, s.answer.thread, NS, s.confirm.ID, s.confirm.URL)
	}
	wrongThread := func(s sent) string {
		return fmt.Sprintf(`<message from='%s/phone'><thread>nope</thread><confirm xmlns='%s' id='%s' method='GET' url='%s'/></message>`, bareJID, NS, s.confirm.ID, s.confirm.URL)
	}
	wrongIQID := func(s sent) string {
		return fmt.Sprintf(`<iq type='result' from='%s' id='%s'/>`, fullJID, "x"+s.answer.id)
	}
	iqGet := func(s sent) string {
		return fmt.Sprintf(`<iq type='get' from='%s' id='%s'><confirm xmlns='%s' id='%s' method='GET' url='%s'/></iq>`, fullJID, s.answer.id, NS, s.confirm.ID, s.confirm.URL)
	}
	iqWrongConfirm := func(s sent) string {
		return fmt.Sprintf(`<iq type='result' from='%s' id='%s'><confirm xmlns='%s' id='other' method='GET' url='%s'/></iq>`, fullJID, s.answer.id, NS, s.confirm.URL)
	}
	for _, tc := range []struct {
		name    string
		user    string
		answers []answerForm
		correct answerForm
	}{
		{"iq from other resource", fullJID, []answerForm{iqResult(bareJID + "/evil"), iqResult(bareJID)}, iqResult(fullJID)},
		{"iq from other user", fullJID, []answerForm{iqResult("romeo@montague.lit/balcony")}, iqResult(fullJID)},
		{"iq wrong id", fullJID, []answerForm{wrongIQID}, iqResult(fullJID)},
		{"iq get is no answer", fullJID, []answerForm{iqGet}, iqResult(fullJID)},
		{"iq with mismatching confirm", fullJID, []answerForm{iqWrongConfirm}, iqResult(fullJID)},
		{"message to an iq request", fullJID, []answerForm{msgEcho(fullJID, "normal"), plaintext(fullJID, txID+" OK", false)}, iqResult(fullJID)},
		{"message from other user", bareJID, []answerForm{msgEcho("romeo@montague.lit/x", "normal"), plaintext("romeo@montague.lit/x", txID+" OK", false)}, msgEcho(bareJID+"/x", "normal")},
		{"message other url", bareJID, []answerForm{otherURL, wrongMethod, wrongThread}, msgEcho(bareJID+"/x", "normal")},
		{"plaintext wrong id", bareJID, []answerForm{plaintext(bareJID+"/x", "zzz OK", false), plaintext(bareJID+"/x", "maybe", true)}, plaintext(bareJID+"/x", txID+" ok", false)},
		{"plaintext wrong thread", bareJID, []answerForm{func(s sent) string {
			return fmt.Sprintf(`<message from='%s/x'><thread>other</thread><body>%s OK</body></message>`, bareJID, txID)
		}}, plaintext(bareJID+"/x", txID+" ok", true)},
		{"iq result to a message request", bareJID, []answerForm{func(s sent) string {
			return fmt.Sprintf(`<iq type='result' from='%s/x' id='%s'/>`, bareJID, s.answer.thread)
		}}, plaintext(bareJID+"/x", txID+" ok", true)},
		{"groupchat", bareJID, []answerForm{func(s sent) string {
			return fmt.Sprintf(`<message type='groupchat' from='%s/x'><body>%s OK</body></message>`, bareJID, txID)
		}}, plaintext(bareJID+"/x", txID+" ok", true)},
		{"no from", fullJID, []answerForm{func(s sent) string { return fmt.Sprintf(`<iq type='result' id='%s'/>`, s.answer.id) }}, iqResult(fullJID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			f := e.start(basicReq("GET", pageURL, tc.user, txID))
			s := e.nextSent()
			for _, a := range tc.answers {
				if err := e.feed(a(s)); !errors.Is(err, ErrNotPending) {
					t.Fatalf("answer %s: err %v, want ErrNotPending", a(s), err)
				}
			}
			if err := e.feed(tc.correct(s)); err != nil {
				t.Fatalf("correct answer refused: %v", err)
			}
			// A duplicate of the accepted answer counts for nothing.
			if err := e.feed(tc.correct(s)); !errors.Is(err, ErrNotPending) {
				t.Fatalf("duplicate answer: err %v, want ErrNotPending", err)
			}
			if rec := f.wait(); rec.Code != 200 {
				t.Fatalf("status %d, want 200", rec.Code)
			}
			// A late answer after the request ended is ignored too.
			if err := e.feed(tc.correct(s)); !errors.Is(err, ErrNotPending) {
				t.Fatalf("late answer: err %v, want ErrNotPending", err)
			}
		})
	}
}

func TestDeniedThenConfirmIgnored(t *testing.T) {
	e := newEnv(t, nil)
	f := e.start(basicReq("GET", pageURL, fullJID, txID))
	s := e.nextSent()
	if err := e.feed(iqError(fullJID)(s)); err != nil {
		t.Fatal(err)
	}
	if err := e.feed(iqResult(fullJID)(s)); !errors.Is(err, ErrNotPending) {
		t.Fatalf("confirm after deny: %v", err)
	}
	if rec := f.wait(); rec.Code != 403 {
		t.Fatalf("status %d, want 403", rec.Code)
	}
}

func TestTimeout(t *testing.T) {
	for _, status := range []int{0, http.StatusGatewayTimeout} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.TimeoutStatus = status })
			f := e.start(basicReq("GET", pageURL, fullJID, txID))
			s := e.nextSent()
			(<-e.clock.after) <- time.Time{}
			rec := f.wait()
			want := status
			if want == 0 {
				want = 403
			}
			if rec.Code != want {
				t.Fatalf("status %d, want %d", rec.Code, want)
			}
			if n := storePending(t, e.store); n != 0 {
				t.Fatalf("%d pending after timeout", n)
			}
			if err := e.feed(iqResult(fullJID)(s)); !errors.Is(err, ErrNotPending) {
				t.Fatalf("late answer: %v", err)
			}
		})
	}
}

func TestClientGoesAway(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r := basicReq("GET", pageURL, fullJID, txID).WithContext(ctx)
	f := e.start(r)
	s := e.nextSent()
	if n := storePending(t, e.store); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}
	cancel()
	f.wait()
	if n := storePending(t, e.store); n != 0 {
		t.Fatalf("%d pending after the client went away, want 0", n)
	}
	if err := e.feed(iqResult(fullJID)(s)); !errors.Is(err, ErrNotPending) {
		t.Fatalf("answer after cancel: %v", err)
	}
}

func TestDeliveryFailure(t *testing.T) {
	e := newEnv(t, nil)
	e.sender.err = errors.New("router down")
	rec := e.serve(basicReq("GET", pageURL, fullJID, txID))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	if storePending(t, e.store) != 0 {
		t.Fatal("pending entry left behind")
	}
}

func TestAuthorizer(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Authorizer = AuthorizerFunc(func(_ context.Context, j jid.JID, r *http.Request) error {
			if j.Domainpart() != "capulet.com" {
				return errors.New("not a Capulet")
			}
			return nil
		})
	})
	rec := e.serve(basicReq("GET", pageURL, "romeo@montague.lit/garden", txID))
	if rec.Code != http.StatusForbidden {
		t.Fatalf("status %d, want 403", rec.Code)
	}
	e.noSend()
	f := e.start(basicReq("GET", pageURL, fullJID, txID))
	e.feed(iqResult(fullJID)(e.nextSent()))
	if rec := f.wait(); rec.Code != 200 {
		t.Fatalf("status %d, want 200", rec.Code)
	}
}

func TestReplayAndReuse(t *testing.T) {
	confirm := func(e *env, r *http.Request) int {
		f := e.start(r)
		e.feed(iqResult(fullJID)(e.nextSent()))
		return f.wait().Code
	}
	t.Run("GET is single use", func(t *testing.T) {
		e := newEnv(t, nil)
		if c := confirm(e, basicReq("GET", pageURL, fullJID, txID)); c != 200 {
			t.Fatal(c)
		}
		if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != 401 {
			t.Fatalf("replayed GET: %d, want 401", c)
		}
		// Another resource of the same user cannot reuse the id either.
		if c := e.serve(basicReq("GET", pageURL, bareJID+"/other", txID)).Code; c != 401 {
			t.Fatalf("replayed id from another resource: %d, want 401", c)
		}
		e.noSend()
	})
	for _, m := range []string{"HEAD", "OPTIONS"} {
		t.Run(m+" is reusable", func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ReuseWindow = config.Duration(time.Minute) })
			if c := confirm(e, basicReq(m, pageURL, fullJID, txID)); c != 200 {
				t.Fatal(c)
			}
			for _, m2 := range []string{"GET", "HEAD", "OPTIONS"} {
				if c := e.serve(basicReq(m2, pageURL, fullJID, txID)).Code; c != 200 {
					t.Fatalf("%s after %s: %d, want 200", m2, m, c)
				}
			}
			e.noSend()
			for _, tc := range []struct {
				name string
				r    *http.Request
			}{
				{"POST", basicReq("POST", pageURL, fullJID, txID)},
				{"GET with body", func() *http.Request {
					r := httptest.NewRequest("GET", pageURL, strings.NewReader("x"))
					r.Header.Set("Authorization", BasicAuthorization(jid.MustParse(fullJID), txID))
					return r
				}()},
				{"other URL", basicReq("GET", pageURL+"?x", fullJID, txID)},
				{"other entity", func() *http.Request {
					r := basicReq("GET", pageURL, fullJID, txID)
					r.RemoteAddr = "192.0.2.99:1234"
					return r
				}()},
			} {
				if c := e.serve(tc.r).Code; c != 401 {
					t.Errorf("%s reusing a %s confirmation: %d, want 401", tc.name, m, c)
				}
			}
			e.clock.Advance(time.Minute)
			if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != 401 {
				t.Fatalf("reuse after the window: %d, want 401", c)
			}
			e.noSend()
		})
	}
	t.Run("reuse disabled", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.DisableReuse = true })
		confirm(e, basicReq("HEAD", pageURL, fullJID, txID))
		if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != 401 {
			t.Fatalf("reuse although disabled: %d", c)
		}
	})
	t.Run("denied HEAD is not reusable", func(t *testing.T) {
		e := newEnv(t, nil)
		f := e.start(basicReq("HEAD", pageURL, fullJID, txID))
		e.feed(iqError(fullJID)(e.nextSent()))
		if c := f.wait().Code; c != 403 {
			t.Fatal(c)
		}
		if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != 401 {
			t.Fatalf("GET after denied HEAD: %d", c)
		}
	})
}

func TestLimits(t *testing.T) {
	e := newEnv(t, nil) // 2 per JID, 4 in total
	var fs []*inflight
	var ss []sent
	for i := range 2 {
		fs = append(fs, e.start(basicReq("GET", pageURL, fullJID, fmt.Sprint("id", i))))
		ss = append(ss, e.nextSent())
	}
	if c := e.serve(basicReq("GET", pageURL, fullJID, "id9")).Code; c != http.StatusTooManyRequests {
		t.Fatalf("third for one JID: %d, want 429", c)
	}
	for i := range 2 {
		fs = append(fs, e.start(basicReq("GET", pageURL, "romeo@montague.lit/g", fmt.Sprint("id", i))))
		ss = append(ss, e.nextSent())
	}
	if c := e.serve(basicReq("GET", pageURL, "nurse@capulet.com/k", "id0")).Code; c != http.StatusServiceUnavailable {
		t.Fatalf("fifth in total: %d, want 503", c)
	}
	e.noSend()
	for i, s := range ss {
		to := fullJID
		if i >= 2 {
			to = "romeo@montague.lit/g"
		}
		if err := e.feed(iqResult(to)(s)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		if c := f.wait().Code; c != 200 {
			t.Fatal(c)
		}
	}
	if storePending(t, e.store) != 0 {
		t.Fatal("pending left")
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t, nil)
	for _, h := range []string{
		"Basic !!!",
		"Basic " + "anVsaWV0",
		"Bearer abc",
		"Basic " + strings.Repeat("A", MaxHeaderLen),
	} {
		r := httptest.NewRequest("GET", pageURL, nil)
		r.Header.Set("Authorization", h)
		rec := e.serve(r)
		if rec.Code != 401 || len(rec.Header().Values("WWW-Authenticate")) != 3 {
			t.Errorf("%.40q: status %d, challenges %d", h, rec.Code, len(rec.Header().Values("WWW-Authenticate")))
		}
	}
	e.noSend()
}

func TestAuthorizerOnReuse(t *testing.T) {
	allow := true
	e := newEnv(t, func(c *Config) {
		c.Authorizer = AuthorizerFunc(func(context.Context, jid.JID, *http.Request) error {
			if !allow {
				return errors.New("revoked")
			}
			return nil
		})
	})
	f := e.start(basicReq("HEAD", pageURL, fullJID, txID))
	e.feed(iqResult(fullJID)(e.nextSent()))
	if c := f.wait().Code; c != 200 {
		t.Fatal(c)
	}
	if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != 200 {
		t.Fatalf("reuse: %d", c)
	}
	allow = false
	if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != 403 {
		t.Fatalf("reuse after the Authorizer changed its mind: %d, want 403", c)
	}
	e.noSend()
}

func TestCheckAndContext(t *testing.T) {
	e := newEnv(t, nil)
	done := make(chan error, 1)
	var got jid.JID
	go func() {
		var err error
		got, err = e.v.Check(basicReq("GET", pageURL, fullJID, txID))
		done <- err
	}()
	e.feed(iqResult(fullJID)(e.nextSent()))
	if err := <-done; err != nil || got.String() != fullJID {
		t.Fatalf("Check = %s, %v", got, err)
	}
	if _, err := e.v.Check(httptest.NewRequest("GET", pageURL, nil)); !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("Check without credentials: %v", err)
	}
	ctx := NewContext(context.Background(), got)
	if j, ok := FromContext(ctx); !ok || !j.Equal(got) {
		t.Fatal("FromContext(NewContext(j)) != j")
	}
	if _, ok := FromContext(context.Background()); ok {
		t.Fatal("JID in an empty context")
	}
}

func TestBadRequestURL(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RequestURL = func(r *http.Request) string { return "/relative" }
	})
	if c := e.serve(basicReq("GET", pageURL, fullJID, txID)).Code; c != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", c)
	}
	e.noSend()
}

func TestBaseURL(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BaseURL = "https://files.example.net/app/" })
	r := basicReq("HEAD", "http://evil.example/doc?x=1", fullJID, txID)
	f := e.start(r)
	s := e.nextSent()
	if s.confirm.URL != "https://files.example.net/app/doc?x=1" {
		t.Fatalf("confirm URL %q", s.confirm.URL)
	}
	e.feed(iqResult(fullJID)(s))
	if c := f.wait().Code; c != 200 {
		t.Fatal(c)
	}
	if c := e.serve(basicReq("GET", "http://other.example/doc?x=1", fullJID, txID)).Code; c != 200 {
		t.Fatalf("reuse with BaseURL: %d", c)
	}
	if c := e.serve(basicReq("GET", "http://other.example/doc?x=2", fullJID, txID)).Code; c != 401 {
		t.Fatalf("reuse for another target: %d", c)
	}
}

// TestClientDisconnectsOverNetwork closes a real HTTP connection while the
// user is being asked: net/http cancels the request context and the pending
// entry goes away.
func TestClientDisconnectsOverNetwork(t *testing.T) {
	srv, set := lateServer(t)
	e := newEnv(t, func(c *Config) { c.Hosts = []string{srvHost(srv)} })
	returned := make(chan struct{})
	set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		e.h.ServeHTTP(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/doc", nil)
	req.Header.Set("Authorization", BasicAuthorization(jid.MustParse(fullJID), txID))
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	s := e.nextSent()
	if n := storePending(t, e.store); n != 1 {
		t.Fatalf("%d pending, want 1", n)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v", err)
	}
	<-returned
	if n := storePending(t, e.store); n != 0 {
		t.Fatalf("%d pending after the client disconnected", n)
	}
	if err := e.feed(iqResult(fullJID)(s)); !errors.Is(err, ErrNotPending) {
		t.Fatalf("answer after disconnect: %v", err)
	}
}

func TestIQErrorCondition(t *testing.T) {
	for _, raw := range []string{
		`<iq type='error' from='a@b/c' id='x'><error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
		`<iq type='error' from='a@b/c' id='x'><confirm xmlns='` + NS + `' id='i' method='GET' url='https://a.example/'/><error type='auth'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
	} {
		d := xml.NewDecoder(strings.NewReader(raw))
		tok, _ := d.Token()
		a, err := readAnswer(tok.(xml.StartElement), d)
		if err != nil || !a.isError || a.cond != "not-authorized" {
			t.Errorf("%s: %+v %v", raw, a, err)
		}
	}
}

// TestIsTarget: the allocation-free comparison of the fast path agrees with
// requestTarget.
func TestIsTarget(t *testing.T) {
	for _, target := range []string{
		"https://files.shakespeare.lit/missive.html",
		"https://files.shakespeare.lit/a%20b?x=1&y=%2F",
		"https://files.shakespeare.lit",
		"https://files.shakespeare.lit/?",
		"https://files.shakespeare.lit/caf%C3%A9",
		"/origin/form?q",
		"*",
		"https://files.shakespeare.lit/plain-path_1.~/x",
		"https://files.shakespeare.lit/a:b@c",
		"https://files.shakespeare.lit/a%2Fb",
		"https://files.shakespeare.lit/%7Euser",
		"https://files.shakespeare.lit//double",
	} {
		r := httptest.NewRequest("OPTIONS", target, nil)
		want := requestTarget(r)
		if !isTarget(want, r) {
			t.Errorf("%s: isTarget(%q) false", target, want)
		}
		for _, other := range []string{want + "x", want + "?", strings.TrimSuffix(want, "1"), "/", ""} {
			if other != want && isTarget(other, r) {
				t.Errorf("%s: isTarget(%q) true, target is %q", target, other, want)
			}
		}
	}
}

// Config.Observe hears of every decided request: granted (Reason 0), a
// refusal with its reason, and a reused HEAD confirmation.
func TestObserve(t *testing.T) {
	var mu sync.Mutex
	var events []Event
	e := newEnv(t, func(c *Config) {
		c.Observe = func(ev Event) {
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
		}
	})
	f := e.start(basicReq("HEAD", pageURL, fullJID, txID))
	if err := e.feed(iqResult(fullJID)(e.nextSent())); err != nil {
		t.Fatal(err)
	}
	if rec := f.wait(); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if rec := e.serve(basicReq("HEAD", pageURL, fullJID, txID)); rec.Code != 200 {
		t.Fatalf("reuse: status %d", rec.Code)
	}
	f = e.start(basicReq("GET", pageURL, fullJID, "other-id"))
	if err := e.feed(iqError(fullJID)(e.nextSent())); err != nil {
		t.Fatal(err)
	}
	f.wait()
	e.serve(httptest.NewRequest("GET", pageURL, nil))
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, ev := range events {
		got = append(got, fmt.Sprintf("%d/%v", ev.Reason, ev.Reused))
	}
	want := []string{"0/false", "0/true", fmt.Sprintf("%d/false", Denied), fmt.Sprintf("%d/false", NoCredentials)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", got, want)
	}
	if e.v.Pending() != 0 {
		t.Errorf("Pending() = %d", e.v.Pending())
	}
}
