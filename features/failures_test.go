package features_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/xmppauth/xmppauth/config"
	"runtime"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// failingStore is a credential store that is down.
type failingStore struct{}

func (failingStore) Credential(context.Context, string, crypto.Hash) (scram.Credential, error) {
	return scram.Credential{}, errors.New("database unreachable")
}

func TestFailureConditions(t *testing.T) {
	plain := func(authzid, user, pass string) []byte { return []byte(authzid + "\x00" + user + "\x00" + pass) }
	tests := []struct {
		name string
		cfg  features.Config
		// run performs the exchange and returns the element that ends it.
		run  func(c *rawClient) element
		want string
	}{{
		name: "base64 error",
		run: func(c *rawClient) element {
			c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!!not base64</auth>`)
			return c.next()
		},
		want: "incorrect-encoding",
	}, {
		name: "base64 with whitespace",
		run: func(c *rawClient) element {
			c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFs aWNl</auth>`)
			return c.next()
		},
		want: "incorrect-encoding",
	}, {
		name: "unknown mechanism",
		run:  func(c *rawClient) element { c.auth("DIGEST-MD5", []byte("x")); return c.next() },
		want: "invalid-mechanism",
	}, {
		name: "lowercase mechanism",
		run:  func(c *rawClient) element { c.auth("scram-sha-256", []byte("n,,n=alice,r=abc")); return c.next() },
		want: "invalid-mechanism",
	}, {
		name: "pseudomechanism not offered (tls-unique on TLS 1.3)",
		run: func(c *rawClient) element {
			c.auth("SCRAM-SHA-256-PLUS:tls-unique", []byte("p=tls-unique,,n=alice,r=abc"))
			return c.next()
		},
		want: "invalid-mechanism",
	}, {
		name: "abort after challenge",
		run: func(c *rawClient) element {
			c.auth("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefgh"))
			if el := c.next(); el.XMLName.Local != "challenge" {
				t.Fatalf("expected challenge, got %v", el)
			}
			c.send(`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
			return c.next()
		},
		want: "aborted",
	}, {
		name: "authzid of someone else",
		run: func(c *rawClient) element {
			c.auth("PLAIN", plain("bob@localhost", "alice", "alice-secret"))
			return c.next()
		},
		want: "invalid-authzid",
	}, {
		name: "authzid that is not a JID",
		run:  func(c *rawClient) element { c.auth("PLAIN", plain("@@", "alice", "alice-secret")); return c.next() },
		want: "invalid-authzid",
	}, {
		name: "wrong password",
		run:  func(c *rawClient) element { c.auth("PLAIN", plain("", "alice", "nope")); return c.next() },
		want: "not-authorized",
	}, {
		name: "unknown user",
		run:  func(c *rawClient) element { c.auth("PLAIN", plain("", "mallory", "nope")); return c.next() },
		want: "not-authorized",
	}, {
		name: "store down",
		cfg:  features.Config{Store: failingStore{}},
		run:  func(c *rawClient) element { c.auth("PLAIN", plain("", "alice", "alice-secret")); return c.next() },
		want: "temporary-auth-failure",
	}, {
		name: "account disabled",
		cfg: features.Config{AccountStatus: func(_ context.Context, _ features.ConnMetadata, j jid.JID) error {
			return fmt.Errorf("banned: %w", features.ErrAccountDisabled)
		}},
		run:  func(c *rawClient) element { c.auth("PLAIN", plain("", "alice", "alice-secret")); return c.next() },
		want: "account-disabled",
	}, {
		name: "credentials expired",
		cfg: features.Config{AccountStatus: func(context.Context, features.ConnMetadata, jid.JID) error {
			return features.ErrCredentialsExpired
		}},
		run:  func(c *rawClient) element { c.auth("PLAIN", plain("", "alice", "alice-secret")); return c.next() },
		want: "credentials-expired",
	}, {
		name: "malformed PLAIN",
		run:  func(c *rawClient) element { c.auth("PLAIN", []byte("alice\x00alice-secret")); return c.next() },
		want: "malformed-request",
	}, {
		name: "response without auth",
		run: func(c *rawClient) element {
			c.response([]byte("n,,n=alice,r=abc"))
			return c.next()
		},
		want: "malformed-request",
	}, {
		name: "child element in auth",
		run: func(c *rawClient) element {
			c.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'><x/></auth>`)
			return c.next()
		},
		want: "malformed-request",
	}, {
		name: "oversized payload",
		cfg:  features.Config{MaxPayloadSize: 64},
		run: func(c *rawClient) element {
			c.auth("PLAIN", plain("", "alice", strings.Repeat("x", 200)))
			return c.next()
		},
		want: "malformed-request",
	}, {
		name: "SCRAM y flag while -PLUS advertised (downgrade)",
		run:  func(c *rawClient) element { c.auth("SCRAM-SHA-256", []byte("y,,n=alice,r=abcdefgh")); return c.next() },
		want: "not-authorized",
	}, {
		name: "pseudomechanism bound with another type",
		run: func(c *rawClient) element {
			c.auth("SCRAM-SHA-256-PLUS:tls-exporter", []byte("p=tls-server-end-point,,n=alice,r=abcdefgh"))
			return c.next()
		},
		want: "not-authorized",
	}, {
		name: "p= on a non-PLUS mechanism",
		run: func(c *rawClient) element {
			c.auth("SCRAM-SHA-256", []byte("p=tls-exporter,,n=alice,r=abcdefgh"))
			return c.next()
		},
		want: "not-authorized",
	}, {
		name: "tls-unique on TLS 1.3 through the plain -PLUS name (slixmpp 1.8, poezio)",
		run: func(c *rawClient) element {
			c.auth("SCRAM-SHA-512-PLUS", []byte("p=tls-unique,,n=alice,r=abcdefgh"))
			el := c.next()
			if !strings.Contains(el.Inner, "tls-unique is not defined on TLS 1.3; use tls-exporter or tls-server-end-point") {
				t.Errorf("text does not say what happened: %v", el)
			}
			return el
		},
		want: "not-authorized",
	}, {
		name: "SCRAM mandatory extension",
		run: func(c *rawClient) element {
			c.auth("SCRAM-SHA-1", []byte("n,,m=ext,n=alice,r=abcdefgh"))
			return c.next()
		},
		want: "malformed-request",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, tc.cfg)
			c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
			el := tc.run(c)
			if got := condition(el); got != tc.want {
				t.Fatalf("got %v (condition %q), want <%s/>", el, got, tc.want)
			}
			// The stream stays usable: a correct login still succeeds.
			if tc.cfg.Store == nil && tc.cfg.AccountStatus == nil {
				c.auth("PLAIN", plain("", "alice", "alice-secret"))
				if el := c.next(); el.XMLName.Local != "success" {
					t.Fatalf("login after failure: %v", el)
				}
			}
		})
	}
}

func TestEmptyInitialResponse(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	// No initial response: the server must send an empty challenge "=".
	c.auth("PLAIN", nil)
	el := c.next()
	if el.XMLName.Local != "challenge" || strings.TrimSpace(el.Inner) != "=" {
		t.Fatalf("expected empty challenge, got %v", el)
	}
	c.response([]byte("\x00alice\x00alice-secret"))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("got %v", el)
	}
}

func TestRetriesExhausted(t *testing.T) {
	srv := newTestServer(t, features.Config{MaxAttempts: 2})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	for i := 0; i < 2; i++ {
		c.auth("PLAIN", []byte("\x00alice\x00wrong"))
		if got := condition(c.next()); got != "not-authorized" {
			t.Fatalf("attempt %d: %q", i, got)
		}
	}
	el := c.next()
	if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "policy-violation") {
		t.Fatalf("after the last attempt got %v, want a policy-violation stream error", el)
	}
	if _, err := c.tryNext(); err == nil {
		t.Fatal("stream not closed")
	}
	if res := srv.result(t); res.Err == nil {
		t.Fatal("server session survived")
	}
}

func TestLegacyXEP0035StartTLS(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	c := dialRaw(t, srv.addr, nil, "")
	c.send(`<tls:starttls xmlns:tls='http://www.ietf.org/rfc/rfc2595.txt'/>`)
	el := c.next()
	if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "unsupported-feature") || !strings.Contains(el.Inner, "XEP-0035") {
		t.Fatalf("got %v, want an unsupported-feature stream error naming XEP-0035", el)
	}
	if _, err := c.tryNext(); err == nil {
		t.Fatal("stream not closed after the stream error")
	}
}

// TestSpoofedFrom logs in as bob, then restarts the stream claiming to be
// alice: the session stays bob's.
func TestSpoofedFrom(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.auth("PLAIN", []byte("\x00bob\x00bob-secret"))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("login: %v", el)
	}
	c.restart("alice@localhost")
	c.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	el := c.next()
	if !strings.Contains(el.Inner, "bob@localhost/phone") {
		t.Fatalf("bind answered %v, want bob@localhost/phone", el)
	}
	res := srv.result(t)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	id, _ := res.Conn.Identity()
	if got := id.JID.String(); got != "bob@localhost" {
		t.Errorf("identity %s, want bob@localhost", got)
	}
	if got := res.Conn.Bound().String(); got != "bob@localhost/phone" {
		t.Errorf("bound %s, want bob@localhost/phone", got)
	}
}

func TestExternal(t *testing.T) {
	p := getPKI(t)
	bob := p.Client("bob@localhost")
	two := p.Client("bob@localhost", "alice@localhost")
	tests := []struct {
		name    string
		cert    []tls.Certificate
		authzid []byte
		offered bool
		want    string // identity, or the failure condition
	}{
		{name: "no certificate", offered: false},
		{name: "derive", cert: []tls.Certificate{bob}, authzid: []byte{}, offered: true, want: "bob@localhost"},
		{name: "authzid names the cert identity", cert: []tls.Certificate{bob}, authzid: []byte("bob@localhost"), offered: true, want: "bob@localhost"},
		{name: "authzid of someone else", cert: []tls.Certificate{bob}, authzid: []byte("alice@localhost"), offered: true, want: "invalid-authzid"},
		{name: "ambiguous certificate", cert: []tls.Certificate{two}, authzid: []byte{}, offered: true, want: "not-authorized"},
		{name: "ambiguous certificate, chosen", cert: []tls.Certificate{two}, authzid: []byte("alice@localhost"), offered: true, want: "alice@localhost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, features.Config{})
			c := dialRaw(t, srv.addr, p.clientTLS(tls.VersionTLS13, tc.cert...), "")
			offered := strings.Contains(c.features, "<mechanism>EXTERNAL</mechanism>")
			if offered != tc.offered {
				t.Fatalf("EXTERNAL offered = %v, want %v", offered, tc.offered)
			}
			if !offered {
				return
			}
			c.auth("EXTERNAL", tc.authzid)
			el := c.next()
			if strings.Contains(tc.want, "@") {
				if el.XMLName.Local != "success" {
					t.Fatalf("got %v", el)
				}
				c.restart("")
				c.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
				c.next()
				res := srv.result(t)
				id, _ := res.Conn.Identity()
				if id.JID.String() != tc.want || id.Mechanism != "EXTERNAL" {
					t.Fatalf("identity %+v, want %s", id, tc.want)
				}
				return
			}
			if got := condition(el); got != tc.want {
				t.Fatalf("got %v, want %s", el, tc.want)
			}
		})
	}
}

// TestDowngradeProtectionHash checks the XEP-0474 h= attribute the server
// puts in server-first against the features as the client received them.
func TestDowngradeProtectionHash(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	mechs := c.mechanisms()
	c.auth("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefghijklmnop"))
	el := c.next()
	if el.XMLName.Local != "challenge" {
		t.Fatalf("got %v", el)
	}
	serverFirst := string(decode64(t, el.Inner))
	sum := sha256.Sum256(scram.DowngradeProtectionInput(mechs, []string{"tls-exporter", "tls-server-end-point"}))
	want := ",h=" + base64.StdEncoding.EncodeToString(sum[:])
	if !strings.Contains(serverFirst, want) {
		t.Fatalf("server-first %q lacks %q", serverFirst, want)
	}
}

// TestStalledClient: a client that stops mid-exchange is cut off by the step
// deadline, and one that disconnects leaves no goroutine behind.
func TestStalledClient(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, disconnect := range []bool{false, true} {
		srv := newTestServer(t, features.Config{StepTimeout: config.Duration(200 * time.Millisecond)})
		c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.auth("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefghijklmnop"))
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
}

// TestStanzaBeforeAuth: anything but SASL before authentication ends the
// stream with <not-authorized/> (RFC 6120 §4.9.3.12), never silently.
func TestStanzaBeforeAuth(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
		mid  bool // after a first challenge
	}{{"before TLS", false, false}, {"after TLS", true, false}, {"mid-exchange", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, features.Config{})
			var tlsCfg *tls.Config
			if tc.tls {
				tlsCfg = getPKI(t).clientTLS(tls.VersionTLS13)
			}
			c := dialRaw(t, srv.addr, tlsCfg, "")
			if tc.mid {
				c.auth("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefghijklmnop"))
				if el := c.next(); el.XMLName.Local != "challenge" {
					t.Fatalf("got %v", el)
				}
			}
			c.send(`<message to='bob@localhost'><body>hi</body></message>`)
			el := c.next()
			if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "not-authorized") {
				t.Fatalf("got %v, want a not-authorized stream error", el)
			}
			if _, err := c.tryNext(); err == nil {
				t.Fatal("stream not closed")
			}
			if res := srv.result(t); res.Err == nil {
				t.Fatal("session survived")
			}
		})
	}
}

// waitGoroutines fails t unless the goroutines of finished sessions go
// away, giving the runtime a bounded number of chances to reap them.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	for i := 0; ; i++ {
		if n := runtime.NumGoroutine(); n <= before+2 {
			return
		} else if i == 100 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left (was %d):\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
