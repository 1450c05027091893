package features_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/internal/xmpptest"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// The RFC 6120 failure conditions on SASL2, from the same table; the
// stream stays usable after each.
func TestSASL2FailureConditions(t *testing.T) {
	plain := func(authzid, user, pass string) []byte { return []byte(authzid + "\x00" + user + "\x00" + pass) }
	authenticate := func(mech string, payload []byte) func(c *rawClient) element {
		return func(c *rawClient) element { c.authenticate(mech, payload, authenticateOpts{}); return c.next() }
	}
	tests := []struct {
		name string
		cfg  features.Config
		run  func(c *rawClient) element
		want string
	}{
		{"base64 error", features.Config{}, func(c *rawClient) element {
			c.send(`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>!!!</initial-response></authenticate>`)
			return c.next()
		}, "incorrect-encoding"},
		{"unknown mechanism", features.Config{}, authenticate("DIGEST-MD5", []byte("x")), "invalid-mechanism"},
		{"pseudomechanism not offered (tls-unique on TLS 1.3)", features.Config{}, authenticate("SCRAM-SHA-256-PLUS:tls-unique", []byte("p=tls-unique,,n=alice,r=abc")), "invalid-mechanism"},
		{"HT mechanism not offered (tls-unique on TLS 1.3)", features.Config{}, authenticate("HT-SHA-256-UNIQ", []byte("alice\x00x")), "invalid-mechanism"},
		{"abort after challenge", features.Config{}, func(c *rawClient) element {
			c.authenticate("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefgh"), authenticateOpts{})
			if el := c.next(); el.XMLName.Local != "challenge" {
				t.Fatalf("expected challenge, got %v", el)
			}
			c.send(`<abort xmlns='urn:xmpp:sasl:2'/>`)
			return c.next()
		}, "aborted"},
		{"authzid of someone else", features.Config{}, authenticate("PLAIN", plain("bob@localhost", "alice", "alice-secret")), "invalid-authzid"},
		{"wrong password", features.Config{}, authenticate("PLAIN", plain("", "alice", "nope")), "not-authorized"},
		{"unknown user", features.Config{}, authenticate("PLAIN", plain("", "mallory", "nope")), "not-authorized"},
		{"store down", features.Config{Store: failingStore{}}, authenticate("PLAIN", plain("", "alice", "alice-secret")), "temporary-auth-failure"},
		{"account disabled", features.Config{AccountStatus: func(context.Context, features.ConnMetadata, jid.JID) error {
			return features.ErrAccountDisabled
		}}, authenticate("PLAIN", plain("", "alice", "alice-secret")), "account-disabled"},
		{"malformed PLAIN", features.Config{}, authenticate("PLAIN", []byte("alice\x00alice-secret")), "malformed-request"},
		{"response without authenticate", features.Config{}, func(c *rawClient) element { c.response2([]byte("n,,n=alice,r=abc")); return c.next() }, "malformed-request"},
		{"oversized payload", features.Config{MaxPayloadSize: 64}, authenticate("PLAIN", plain("", "alice", strings.Repeat("x", 200))), "malformed-request"},
		{"SCRAM y flag while -PLUS advertised (downgrade)", features.Config{}, authenticate("SCRAM-SHA-256", []byte("y,,n=alice,r=abcdefgh")), "not-authorized"},
		{"pseudomechanism bound with another type", features.Config{}, authenticate("SCRAM-SHA-256-PLUS:tls-exporter", []byte("p=tls-server-end-point,,n=alice,r=abcdefgh")), "not-authorized"},
		{"user-agent id too long", features.Config{}, func(c *rawClient) element {
			c.authenticate("PLAIN", plain("", "alice", "alice-secret"), authenticateOpts{userAgent: strings.Repeat("u", 300)})
			return c.next()
		}, "malformed-request"},
		{"RFC 6120 element inside SASL2", features.Config{}, func(c *rawClient) element {
			c.authenticate("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefgh"), authenticateOpts{})
			c.next()
			c.response([]byte("c=biws"))
			return c.next()
		}, "stream error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHostServer(t, tc.cfg, false, nil)
			c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
			el := tc.run(c)
			if tc.want == "stream error" {
				if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "not-authorized") {
					t.Fatalf("got %v, want a not-authorized stream error", el)
				}
				return
			}
			if got := condition2(el); got != tc.want {
				t.Fatalf("got %v (condition %q), want <%s/>", el, got, tc.want)
			}
			if tc.cfg.Store == nil && tc.cfg.AccountStatus == nil {
				c.authenticate("PLAIN", plain("", "alice", "alice-secret"), authenticateOpts{})
				parseSuccess2(t, c.next())
			}
		})
	}
}

// XEP-0474 on SASL2: h= is the hash of what <authentication/> listed (the
// mechanisms and the XEP-0440 types), without the FAST mechanisms, which
// live in <inline/> (ejabberd 24.12 hashed them too and Monal and
// go-sendxmpp refused to log in). A relay that strips -PLUS is caught by
// the client's check of h=, and a client that says "y" is refused.
func TestSASL2DowngradeProtection(t *testing.T) {
	srv := newHostServer(t, features.Config{}, false, nil)
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	f := c.sasl2()
	types := []string{"tls-exporter", "tls-server-end-point"}
	honest := scram.DowngradeProtectionInput(f.Mechanisms, types)
	withFAST := scram.DowngradeProtectionInput(append(slices.Clone(f.Mechanisms), f.FAST...), types)

	s := newSCRAM("SCRAM-SHA-256", "alice", "alice-secret")
	s.ssdp = withFAST
	c.authenticate("SCRAM-SHA-256", s.first(), authenticateOpts{})
	serverFirst := decode64(t, c.next().Inner)
	if _, err := s.final(serverFirst); err == nil {
		t.Fatal("h= covers the FAST mechanisms")
	}
	s.ssdp = honest
	if _, err := s.final(serverFirst); err != nil {
		t.Fatalf("h= is not the hash of the SASL2 list: %v", err)
	}

	// A relay strips every -PLUS name (and XEP-0440) before the client
	// sees the list; the client, not offered channel binding, uses "n".
	var stripped []string
	for _, m := range f.Mechanisms {
		if !strings.Contains(m, "-PLUS") {
			stripped = append(stripped, m)
		}
	}
	c = dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	s = newSCRAM("SCRAM-SHA-256", "alice", "alice-secret")
	s.ssdp = scram.DowngradeProtectionInput(stripped, nil)
	c.authenticate("SCRAM-SHA-256", s.first(), authenticateOpts{})
	if _, err := s.final(decode64(t, c.next().Inner)); err == nil || !strings.Contains(err.Error(), "downgrade") {
		t.Fatalf("the stripped list went unnoticed: %v", err)
	}
	// A client that supports channel binding says so with "y": refused.
	c = dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	s = newSCRAM("SCRAM-SHA-256", "alice", "alice-secret")
	s.gs2 = "y,,"
	if got := condition2(c.scram2(s, "SCRAM-SHA-256", authenticateOpts{})); got != "not-authorized" {
		t.Fatalf("y flag: %q", got)
	}
}

// tls-unique on TLS 1.3 through a plain -PLUS name is refused with a text
// that says what happened (slixmpp 1.8, poezio), on SASL2 as on RFC 6120.
func TestSASL2TLSUniqueOnTLS13(t *testing.T) {
	srv := newHostServer(t, features.Config{}, true, nil)
	c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.authenticate("SCRAM-SHA-512-PLUS", []byte("p=tls-unique,,n=alice,r=abcdefgh"), authenticateOpts{})
	el := c.next()
	if condition2(el) != "not-authorized" || !strings.Contains(el.Inner, "tls-unique is not defined on TLS 1.3; use tls-exporter or tls-server-end-point") {
		t.Fatalf("got %v", el)
	}
}

// Served domains and identities on SASL2: each domain's account is its
// own, no authzid crosses domains, a stream to a domain not served is
// refused, and XEP-0388's rule holds: an authzid that is not the stream's
// from fails.
func TestSASL2Domains(t *testing.T) {
	srv := newHostServer(t, features.Config{Domains: []string{"a.example", "b.example"}, Store: twoDomainStore(t),
		Authorize: func(context.Context, features.ConnMetadata, jid.JID, jid.JID) error { return nil }}, false, nil)
	login := func(to, from string, payload string) element {
		c := dialRawTo(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), to, from)
		c.authenticate("PLAIN", []byte(payload), authenticateOpts{})
		return c.next()
	}
	for _, tc := range []struct {
		name, to, from, payload, want string
	}{
		{"a's password in a", "a.example", "", "\x00alice\x00a-secret", "alice@a.example"},
		{"b's password in a", "a.example", "", "\x00alice\x00b-secret", "not-authorized"},
		{"b's password in b", "b.example", "", "\x00alice\x00b-secret", "alice@b.example"},
		{"authzid in another domain", "a.example", "", "alice@b.example\x00alice\x00a-secret", "invalid-authzid"},
		{"authzid that is the stream's from", "a.example", "bob@a.example", "bob@a.example\x00alice\x00a-secret", "bob@a.example"},
		{"authzid that is not the stream's from", "a.example", "carol@a.example", "bob@a.example\x00alice\x00a-secret", "invalid-authzid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			el := login(tc.to, tc.from, tc.payload)
			if strings.Contains(tc.want, "@") {
				if s := parseSuccess2(t, el); s.AuthzID != tc.want {
					t.Fatalf("authorization identifier %q, want %q", s.AuthzID, tc.want)
				}
				return
			}
			if got := condition2(el); got != tc.want {
				t.Fatalf("got %v, want %s", el, tc.want)
			}
		})
	}
	t.Run("domain not served", func(t *testing.T) {
		c := dialRawTo(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "evil.example", "")
		c.authenticate("PLAIN", []byte("\x00alice\x00a-secret"), authenticateOpts{})
		el := c.next()
		if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "host-unknown") {
			t.Fatalf("got %v, want host-unknown", el)
		}
	})
}

// The login limiter on SASL2: guesses ban the address, then even the right
// password is refused with the text that says why; one log line per
// failure (with user and address) and one for the ban; the events say
// SASL2.
func TestSASL2LimiterBan(t *testing.T) {
	var log xmpptest.LogBuffer
	var mu sync.Mutex
	var events []features.LoginEvent
	srv := newHostServer(t, features.Config{
		Throttle: throttle.Config{MaxFailures: 3},
		Logger:   slog.New(slog.NewTextHandler(&log, nil)),
		Observe: func(e features.LoginEvent) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		},
	}, true, nil)
	attempt := func(password string) element {
		c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.authenticate("PLAIN", []byte("\x00bob\x00"+password), authenticateOpts{})
		return c.next()
	}
	for i := range 3 {
		if got := condition2(attempt("guess")); got != "not-authorized" {
			t.Fatalf("guess %d: %q", i, got)
		}
	}
	el := attempt("bob-secret")
	if condition2(el) != "temporary-auth-failure" || !strings.Contains(el.Inner, "too many failed logins from your address") {
		t.Fatalf("after the ban: %v", el)
	}
	checkBanLog(t, log.String())
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 4 || !events[2].Banned || events[3].Condition != "temporary-auth-failure" {
		t.Fatalf("events %+v", events)
	}
	for _, e := range events {
		if !e.SASL2 || e.Mechanism != "PLAIN" {
			t.Errorf("event %+v", e)
		}
	}
}

// Unknown users are indistinguishable on SASL2: SCRAM shows the same
// salt length and iteration count, and the failures read the same.
func TestSASL2UnknownUserLooksReal(t *testing.T) {
	srv := newHostServer(t, features.Config{}, true, nil)
	serverFirst := func(user string) map[string]string {
		c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.authenticate("SCRAM-SHA-256", []byte("n,,n="+user+",r=abcdefghijklmnop"), authenticateOpts{})
		attrs := map[string]string{}
		for _, kv := range strings.Split(string(decode64(t, c.next().Inner)), ",") {
			k, v, _ := strings.Cut(kv, "=")
			attrs[k] = v
		}
		return attrs
	}
	real, fake := serverFirst("alice"), serverFirst("mallory")
	if len(real["s"]) != len(fake["s"]) || real["i"] != fake["i"] || real["h"] != fake["h"] {
		t.Errorf("server-first differs: %v vs %v", real, fake)
	}
	failure := func(user, mech string) string {
		c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		if mech == "PLAIN" {
			c.authenticate("PLAIN", []byte("\x00"+user+"\x00wrong"), authenticateOpts{})
			return c.next().Inner
		}
		s := newSCRAM(mech, user, "wrong")
		return c.scram2(s, mech, authenticateOpts{}).Inner
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
		if a, b := failure("alice", mech), failure("mallory", mech); a != b || !strings.Contains(a, "not-authorized") {
			t.Errorf("%s: wrong password %s, unknown user %s", mech, a, b)
		}
	}
}

// A client that stalls mid-exchange is cut off by the step timeout, one
// that disconnects leaves no goroutine behind; attempts are bounded.
func TestSASL2StalledAndExhausted(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, disconnect := range []bool{false, true} {
		srv := newHostServer(t, features.Config{StepTimeout: config.Duration(200 * time.Millisecond)}, true, nil)
		c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.authenticate("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefghijklmnop"), authenticateOpts{})
		if el := c.next(); el.XMLName.Local != "challenge" {
			t.Fatalf("got %v", el)
		}
		if disconnect {
			c.conn.Close()
		}
		if res := srv.result(t); res.Err == nil {
			t.Fatal("stalled exchange succeeded")
		}
		c.conn.Close()
	}
	waitGoroutines(t, before)

	srv := newHostServer(t, features.Config{MaxAttempts: 2}, true, nil)
	c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	for i := range 2 {
		c.authenticate("PLAIN", []byte("\x00alice\x00wrong"), authenticateOpts{})
		if got := condition2(c.next()); got != "not-authorized" {
			t.Fatalf("attempt %d: %q", i, got)
		}
	}
	if el := c.next(); el.XMLName.Local != "error" || !strings.Contains(el.Inner, "policy-violation") {
		t.Fatalf("after the last attempt got %v", el)
	}
}

// Stanzas before authentication end the stream with <not-authorized/>,
// and after a success a second <authenticate/> is a stream error
// (XEP-0388 §"Security Layer": "any further <authenticate/> element MUST
// result in a stream error").
func TestSASL2OutOfOrder(t *testing.T) {
	srv := newHostServer(t, features.Config{}, true, nil)
	c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.authenticate("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefghijklmnop"), authenticateOpts{})
	c.next()
	c.send(`<message to='bob@localhost'><body>hi</body></message>`)
	if el := c.next(); el.XMLName.Local != "error" || !strings.Contains(el.Inner, "not-authorized") {
		t.Fatalf("stanza mid-exchange: %v", el)
	}
	srv.result(t)

	c = dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{})
	parseSuccess2(t, c.next())
	c.readFeatures()
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{})
	if res := srv.result(t); res.Err == nil {
		t.Fatal("a second authenticate was accepted")
	} else if !strings.Contains(fmt.Sprint(res.Err), "policy-violation") {
		t.Fatalf("second authenticate: %v", res.Err)
	}
}
