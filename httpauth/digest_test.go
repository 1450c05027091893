package httpauth

import (
	"github.com/xmppauth/xmppauth/config"

	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// RFC 7616 §3.9.1 and RFC 2617 §3.5 (VECTORS.md §13).
func TestDigestResponseVectors(t *testing.T) {
	for _, tc := range []struct {
		name, alg, user, realm, pass, method, uri, nonce, nc, cnonce, qop, want string
	}{
		{"RFC 7616 MD5", "MD5", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"8ca523f5e9506fed4657c9700eebdbec"},
		{"RFC 7616 SHA-256", "SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
			"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
			"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
		{"RFC 2617", "MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
			"dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth",
			"6629fae49393a05397450978507c4ef1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := digestResponse(tc.alg, tc.user, tc.realm, tc.pass, tc.method, tc.uri, tc.nonce, tc.nc, tc.cnonce, tc.qop)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The XEP-0070 §4.3.2 example header parses (its nonce is not ours, so a
// Verifier refuses it; see TestDigestFlow).
func TestParseXEPDigestExample(t *testing.T) {
	h := `Digest username="juliet@capulet.com",
               realm="xmpp",
               nonce="ec2cc00f21f71acd35ab9be057970609",
               uri="missive.html",
               qop=auth,
               nc=00000001,
               cnonce="0a4f113b",
               response="6629fae49393a05397450978507c4ef1",
               opaque="5ccc069c403ebaf9f0171e9517f40e41"`
	h = strings.NewReplacer("\n", " ").Replace(h)
	c, err := parseAuthorization(h)
	if err != nil {
		t.Fatal(err)
	}
	if c.jid.String() != "juliet@capulet.com" || c.id != "0a4f113b" || c.uri != "missive.html" || c.nc != 1 || c.alg.name != "MD5" {
		t.Fatalf("parsed %+v", c)
	}
}

func TestParseAuthorization(t *testing.T) {
	b64 := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	const okDigest = `username="juliet@capulet.com", realm="xmpp", nonce="n", uri="/", qop=auth, nc=00000001, cnonce="tx1", response="6629fae49393a05397450978507c4ef1"`
	for _, tc := range []struct {
		name   string
		h      string
		jid    string
		id     string
		err    error
		scheme scheme
	}{
		// VECTORS.md §2: base64("juliet@capulet.com:a7374jnjlalasdf82").
		{"basic vector", "Basic anVsaWV0QGNhcHVsZXQuY29tOmE3Mzc0am5qbGFsYXNkZjgy", "juliet@capulet.com", "a7374jnjlalasdf82", nil, schemeBasic},
		{"basic lower-case scheme", strings.Replace(b64("a@b/c:x"), "Basic", "basic", 1), "a@b/c", "x", nil, schemeBasic},
		{"basic full jid", b64("juliet@capulet.com/balcony:id:with:colons"), "juliet@capulet.com/balcony", "id:with:colons", nil, schemeBasic},
		{"basic percent-encoded", b64("j%C3%BCliet@capulet.com:%E2%82%AC1"), "jüliet@capulet.com", "€1", nil, schemeBasic},
		{"basic raw utf-8", b64("jüliet@capulet.com:€1"), "jüliet@capulet.com", "€1", nil, schemeBasic},
		{"basic RFC 2617 sample is no JID", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "", "", ErrBadCredentials, 0},
		{"basic no colon", b64("juliet@capulet.com"), "", "", ErrBadCredentials, 0},
		{"basic empty id", b64("juliet@capulet.com:"), "", "", ErrBadCredentials, 0},
		{"basic no localpart", b64("capulet.com:x"), "", "", ErrBadCredentials, 0},
		{"basic bad percent", b64("juliet@capulet.com:%zz"), "", "", ErrBadCredentials, 0},
		{"basic invalid utf-8", b64("juliet@capulet.com:%FF"), "", "", ErrBadCredentials, 0},
		{"basic control char", b64("juliet@capulet.com:a%0Ab"), "", "", ErrBadCredentials, 0},
		{"basic id too long", b64("juliet@capulet.com:" + strings.Repeat("x", MaxTransactionIDLen+1)), "", "", ErrBadCredentials, 0},
		{"basic unpadded", "Basic YTpi", "", "", ErrBadCredentials, 0},
		{"basic bad base64", "Basic ####", "", "", ErrBadCredentials, 0},
		{"unknown scheme", "Bearer x", "", "", ErrBadCredentials, 0},
		{"empty", "", "", "", ErrNoCredentials, 0},
		{"digest", "Digest " + okDigest, "juliet@capulet.com", "tx1", nil, schemeDigest},
		{"digest sha-256", "Digest " + strings.Replace(okDigest, `response="6629fae49393a05397450978507c4ef1"`, `algorithm=SHA-256, response="`+strings.Repeat("ab", 32)+`"`, 1), "juliet@capulet.com", "tx1", nil, schemeDigest},
		{"digest username*", "Digest " + strings.Replace(okDigest, `username="juliet@capulet.com"`, `username*=UTF-8''j%C3%BCliet%40capulet.com`, 1), "jüliet@capulet.com", "tx1", nil, schemeDigest},
		{"digest escaped quote", "Digest " + strings.Replace(okDigest, `cnonce="tx1"`, `cnonce="t\"x"`, 1), "juliet@capulet.com", `t"x`, nil, schemeDigest},
		{"digest wrong realm", "Digest " + strings.Replace(okDigest, `realm="xmpp"`, `realm="XMPP"`, 1), "", "", ErrBadCredentials, 0},
		{"digest no qop", "Digest " + strings.Replace(okDigest, `qop=auth, `, ``, 1), "", "", ErrBadCredentials, 0},
		{"digest auth-int", "Digest " + strings.Replace(okDigest, `qop=auth`, `qop=auth-int`, 1), "", "", ErrBadCredentials, 0},
		{"digest md5-sess", "Digest " + strings.Replace(okDigest, `qop=auth`, `qop=auth, algorithm=MD5-sess`, 1), "", "", ErrBadCredentials, 0},
		{"digest userhash", "Digest " + strings.Replace(okDigest, `qop=auth`, `qop=auth, userhash=true`, 1), "", "", ErrBadCredentials, 0},
		{"digest nc zero", "Digest " + strings.Replace(okDigest, `nc=00000001`, `nc=00000000`, 1), "", "", ErrBadCredentials, 0},
		{"digest nc short", "Digest " + strings.Replace(okDigest, `nc=00000001`, `nc=1`, 1), "", "", ErrBadCredentials, 0},
		{"digest no cnonce", "Digest " + strings.Replace(okDigest, `cnonce="tx1", `, ``, 1), "", "", ErrBadCredentials, 0},
		{"digest short response", "Digest " + strings.Replace(okDigest, `6629fae4`, ``, 1), "", "", ErrBadCredentials, 0},
		{"digest duplicate", "Digest " + okDigest + `, cnonce="tx2"`, "", "", ErrBadCredentials, 0},
		{"digest both usernames", "Digest " + okDigest + `, username*=UTF-8''x%40y`, "", "", ErrBadCredentials, 0},
		{"digest unterminated", "Digest " + okDigest + `, opaque="abc`, "", "", ErrBadCredentials, 0},
		{"digest no equals", "Digest " + okDigest + `, opaque`, "", "", ErrBadCredentials, 0},
		{"digest garbage", "Digest " + okDigest + ` x`, "", "", ErrBadCredentials, 0},
		{"digest too many params", "Digest " + okDigest + strings.Repeat(", a=b", 1) + ", p1=1, p2=2, p3=3, p4=4, p5=5, p6=6, p7=7, p8=8", "", "", ErrBadCredentials, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseAuthorization(tc.h)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.jid.String() != tc.jid || c.id != tc.id || c.scheme != tc.scheme {
				t.Fatalf("got %s %q scheme %d, want %s %q", c.jid, c.id, c.scheme, tc.jid, tc.id)
			}
		})
	}
}

// challengeFor fetches a fresh challenge for the given algorithm.
func challengeFor(t *testing.T, e *env, alg string) string {
	t.Helper()
	rec := e.serve(httptest.NewRequest("GET", pageURL, nil))
	for _, c := range rec.Header().Values("WWW-Authenticate") {
		if strings.Contains(c, "algorithm="+alg+",") {
			return c
		}
	}
	t.Fatalf("no %s challenge in %q", alg, rec.Header().Values("WWW-Authenticate"))
	return ""
}

func digestReq(t *testing.T, e *env, alg, method, target, user, id string, nc uint32) *http.Request {
	t.Helper()
	h, err := DigestAuthorization(challengeFor(t, e, alg), jid.MustParse(user), id, method, target, nc)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(method, "https://files.shakespeare.lit:9345"+target, nil)
	r.Header.Set("Authorization", h)
	return r
}

func TestDigestFlow(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		for _, user := range []string{fullJID, "jüliet@cäpulet.com/balcony"} {
			t.Run(alg+" "+user, func(t *testing.T) {
				e := newEnv(t, nil)
				r := digestReq(t, e, alg, "GET", "/missive.html", user, "tx-€", 1)
				f := e.start(r)
				s := e.nextSent()
				if s.confirm.ID != "tx-€" || s.confirm.URL != pageURL || s.to != user {
					t.Fatalf("sent %s", s.raw)
				}
				e.feed(iqResult(user)(s))
				if rec := f.wait(); rec.Code != 200 || rec.Header().Get("X-JID") != user {
					t.Fatalf("status %d, JID %q", rec.Code, rec.Header().Get("X-JID"))
				}
				// The very same header again: nonce count not increased.
				r2 := httptest.NewRequest("GET", pageURL, nil)
				r2.Header.Set("Authorization", r.Header.Get("Authorization"))
				if rec := e.serve(r2); rec.Code != 401 {
					t.Fatalf("replayed header: %d", rec.Code)
				}
				e.noSend()
			})
		}
	}
}

func TestDigestNonceCount(t *testing.T) {
	e := newEnv(t, nil)
	ch := challengeFor(t, e, "MD5")
	do := func(id string, nc uint32) (*inflight, *http.Request) {
		h, _ := DigestAuthorization(ch, jid.MustParse(fullJID), id, "GET", "/missive.html", nc)
		r := httptest.NewRequest("GET", pageURL, nil)
		r.Header.Set("Authorization", h)
		return nil, r
	}
	_, r := do("t1", 1)
	f := e.start(r)
	e.feed(iqResult(fullJID)(e.nextSent()))
	if c := f.wait().Code; c != 200 {
		t.Fatal(c)
	}
	// Same nonce, higher count, new transaction: accepted.
	_, r = do("t2", 2)
	f = e.start(r)
	e.feed(iqResult(fullJID)(e.nextSent()))
	if c := f.wait().Code; c != 200 {
		t.Fatal(c)
	}
	// Lower count: refused before contacting anyone.
	_, r = do("t3", 2)
	if c := e.serve(r).Code; c != 401 {
		t.Fatalf("nc not increasing: %d", c)
	}
	e.noSend()
}

func TestDigestRefusals(t *testing.T) {
	e := newEnv(t, nil)
	mod := func(f func(h string) string) *http.Request {
		r := digestReq(t, e, "MD5", "GET", "/missive.html", fullJID, "tx", 1)
		r.Header.Set("Authorization", f(r.Header.Get("Authorization")))
		return r
	}
	for _, tc := range []struct {
		name string
		r    *http.Request
	}{
		{"xep example nonce", mod(func(h string) string {
			i := strings.Index(h, `nonce="`)
			j := strings.Index(h[i+7:], `"`)
			return h[:i+7] + "ec2cc00f21f71acd35ab9be057970609" + h[i+7+j:]
		})},
		{"wrong uri", mod(func(h string) string { return strings.Replace(h, `uri="/missive.html"`, `uri="/other.html"`, 1) })},
		{"absolute uri other host", mod(func(h string) string {
			return strings.Replace(h, `uri="/missive.html"`, `uri="https://evil.example/missive.html"`, 1)
		})},
		{"wrong opaque", mod(func(h string) string { return strings.Replace(h, `opaque="`, `opaque="x`, 1) })},
		{"no opaque", mod(func(h string) string { return h[:strings.Index(h, `, opaque=`)] })},
		{"tampered nonce", mod(func(h string) string { return strings.Replace(h, `nonce="`, `nonce="A`, 1)[:len(h)] })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.serve(tc.r)
			if rec.Code != 401 {
				t.Fatalf("status %d, want 401", rec.Code)
			}
			for _, c := range rec.Header().Values("WWW-Authenticate") {
				if strings.Contains(c, "stale=true") {
					t.Errorf("stale=true for a bad nonce")
				}
			}
		})
	}
	t.Run("absolute uri", func(t *testing.T) {
		r := mod(func(h string) string {
			return strings.Replace(h, `uri="/missive.html"`, `uri="https://files.shakespeare.lit:9345/missive.html"`, 1)
		})
		f := e.start(r)
		e.feed(iqResult(fullJID)(e.nextSent()))
		if c := f.wait().Code; c != 200 {
			t.Fatal(c)
		}
	})
	e.noSend()
}

func TestDigestStale(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NonceLifetime = config.Duration(time.Minute) })
	r := digestReq(t, e, "SHA-256", "GET", "/missive.html", fullJID, "tx", 1)
	e.clock.Advance(time.Minute)
	rec := e.serve(r)
	if rec.Code != 401 {
		t.Fatalf("status %d", rec.Code)
	}
	n := 0
	for _, c := range rec.Header().Values("WWW-Authenticate") {
		if strings.HasPrefix(c, "Digest") {
			n++
			if !strings.Contains(c, "stale=true") {
				t.Errorf("no stale=true in %q", c)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d digest challenges", n)
	}
	e.noSend()
}
