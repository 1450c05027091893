package saslclient_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/saslclient"
	"github.com/xmppauth/xmppauth/scram"
)

var tlsVersions = []struct {
	name    string
	version uint16
	types   []cbind.Type // binding types this version allows, strongest first
	def     cbind.Type
}{
	{"TLS1.2", tls.VersionTLS12, []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint, cbind.TLSUnique}, cbind.TLSUnique},
	{"TLS1.3", tls.VersionTLS13, []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint}, cbind.TLSExporter},
}

var plusMechs = []scram.Mechanism{scram.SHA1Plus, scram.SHA256Plus, scram.SHA512Plus}
var plainMechs = []scram.Mechanism{scram.SHA1, scram.SHA256, scram.SHA512}

// checkLogin asserts that both ends agree on a successful login.
func checkLogin(t *testing.T, srv *testServer, c *saslclient.Client, err error, wantMech string, wantCB cbind.Type) {
	t.Helper()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	res := srv.result(t)
	if res.Err != nil {
		t.Fatalf("server: %v", res.Err)
	}
	id, ok := res.Conn.Identity()
	if !ok || !id.JID.Equal(jid.MustParse("alice@localhost")) {
		t.Fatalf("server identity = %+v, %v", id, ok)
	}
	got, ok := c.Result()
	if !ok {
		t.Fatal("client reports no result after success")
	}
	if got.Mechanism != id.Mechanism || got.ChannelBinding != id.ChannelBinding || got.SASL2 != id.SASL2 {
		t.Errorf("client used %q/%q, server saw %q/%q", got.Mechanism, got.ChannelBinding, id.Mechanism, id.ChannelBinding)
	}
	if got.Mechanism != wantMech || got.ChannelBinding != wantCB {
		t.Errorf("used %q/%q, want %q/%q", got.Mechanism, got.ChannelBinding, wantMech, wantCB)
	}
	if !got.DowngradeProtected {
		t.Error("XEP-0474 hash not reported as verified")
	}
	// The profile loops name their subtests after the profile.
	if want := strings.Contains(t.Name()+"/", "/SASL2/"); got.SASL2 != want {
		t.Errorf("SASL2 = %v, want %v", got.SASL2, want)
	}
}

// TestLoginMatrix logs in with every SCRAM mechanism and every binding type
// each TLS version allows, under each way a server can advertise them, over
// RFC 6120 SASL and SASL2.
func TestLoginMatrix(t *testing.T) {
	type mode struct {
		name     string
		server   features.Config
		client   saslclient.Config
		wantMech string
		// sasl1Only: the server lists neither pseudomechanisms nor
		// XEP-0440, which a SASL2 client refuses (XEP-0440 rule 4).
		sasl1Only bool
	}
	for _, p := range profiles {
		for _, v := range tlsVersions {
			for _, m := range plusMechs {
				for _, typ := range v.types {
					modes := []mode{{
						name:     "pseudomechanism",
						server:   features.Config{ChannelBindingTypes: []cbind.Type{typ}},
						wantMech: cbind.Pseudomechanism(m.Name(), typ),
					}, {
						// The plain -PLUS name needs the default type enabled
						// on the server; the client restricts itself to typ.
						name:     "XEP-0440",
						server:   features.Config{ChannelBindingTypes: []cbind.Type{v.def, typ}, DisablePseudomechanisms: true},
						client:   saslclient.Config{ChannelBindingTypes: []cbind.Type{typ}},
						wantMech: m.Name(),
					}}
					if typ == v.def {
						modes = append(modes, mode{
							name:      "plain -PLUS name only",
							server:    features.Config{DisablePseudomechanisms: true, DisableChannelBindingCapability: true},
							wantMech:  m.Name(),
							sasl1Only: true,
						})
					}
					for _, mode := range modes {
						t.Run(fmt.Sprintf("%s/%s/%s/%s/%s", p.name, v.name, m.Name(), typ, mode.name), func(t *testing.T) {
							mode.server.Mechanisms = []string{m.Name()}
							mode.client.DisableSASL2 = !p.sasl2
							srv := newTestServer(t, mode.server)
							c, _, err := login(t, srv.addr, mode.client, loginOpts{version: v.version})
							if p.sasl2 && mode.sasl1Only {
								if !errors.Is(err, saslclient.ErrDowngrade) {
									t.Fatalf("error = %v, want ErrDowngrade", err)
								}
								return
							}
							checkLogin(t, srv, c, err, mode.wantMech, typ)
						})
					}
				}
			}
			for _, m := range plainMechs {
				t.Run(p.name+"/"+v.name+"/"+m.Name(), func(t *testing.T) {
					srv := newTestServer(t, features.Config{Mechanisms: []string{m.Name()}})
					c, _, err := login(t, srv.addr, saslclient.Config{DisableSASL2: !p.sasl2}, loginOpts{version: v.version})
					checkLogin(t, srv, c, err, m.Name(), "")
				})
			}
		}
	}
}

// TestLoginPreference: against the default server the strongest hash and
// binding type win.
func TestLoginPreference(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			for _, v := range tlsVersions {
				t.Run(v.name, func(t *testing.T) {
					srv := newTestServer(t, features.Config{})
					c, _, err := login(t, srv.addr, saslclient.Config{}, loginOpts{sasl1: !p.sasl2, version: v.version})
					checkLogin(t, srv, c, err, "SCRAM-SHA-512-PLUS:tls-exporter", cbind.TLSExporter)
				})
			}
			t.Run("server-end-point over a weaker hash's exporter", func(t *testing.T) {
				// SHA-512 only with tls-server-end-point beats SHA-256 with
				// tls-exporter: the hash is chosen first.
				srv := newTestServer(t, features.Config{Mechanisms: []string{"SCRAM-SHA-512-PLUS", "SCRAM-SHA-256-PLUS"}})
				c, _, err := login(t, srv.addr, saslclient.Config{ChannelBindingTypes: []cbind.Type{cbind.TLSServerEndPoint}}, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-512-PLUS:tls-server-end-point", cbind.TLSServerEndPoint)
			})
			t.Run("pseudomechanisms without XEP-0440", func(t *testing.T) {
				srv := newTestServer(t, features.Config{DisableChannelBindingCapability: true})
				c, _, err := login(t, srv.addr, saslclient.Config{ChannelBindingTypes: []cbind.Type{cbind.TLSServerEndPoint}}, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-512-PLUS:tls-server-end-point", cbind.TLSServerEndPoint)
			})
			t.Run("client restricted to one mechanism", func(t *testing.T) {
				srv := newTestServer(t, features.Config{})
				c, _, err := login(t, srv.addr, saslclient.Config{Mechanisms: []string{"SCRAM-SHA-1-PLUS"}}, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-1-PLUS:tls-exporter", cbind.TLSExporter)
			})
			t.Run("authzid", func(t *testing.T) {
				srv := newTestServer(t, features.Config{})
				c, _, err := login(t, srv.addr, saslclient.Config{Authzid: "alice@localhost"}, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-512-PLUS:tls-exporter", cbind.TLSExporter)
			})
		})
	}
}

func TestWrongPassword(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			for _, mechs := range [][]string{{"SCRAM-SHA-256-PLUS"}, {"SCRAM-SHA-256"}} {
				t.Run(mechs[0], func(t *testing.T) {
					srv := newTestServer(t, features.Config{Mechanisms: mechs})
					c, _, err := login(t, srv.addr, saslclient.Config{Password: "wrong"}, loginOpts{sasl1: !p.sasl2})
					var f *saslclient.Failure
					if !errors.As(err, &f) || f.Condition != "not-authorized" {
						t.Fatalf("client error = %v, want a not-authorized failure", err)
					}
					if _, ok := c.Result(); ok {
						t.Error("client reports a result after failure")
					}
					if res := srv.result(t); res.Err == nil {
						t.Fatal("server accepted a wrong password")
					} else if _, ok := res.Conn.Identity(); ok {
						t.Fatal("server recorded an identity")
					}
				})
			}
		})
	}
}

func TestPLAIN(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			t.Run("only when allowed", func(t *testing.T) {
				srv := newTestServer(t, features.Config{Mechanisms: []string{"PLAIN"}})
				_, _, err := login(t, srv.addr, saslclient.Config{}, loginOpts{sasl1: !p.sasl2})
				if !errors.Is(err, saslclient.ErrNoMechanism) {
					t.Fatalf("error = %v, want ErrNoMechanism", err)
				}
			})
			t.Run("allowed", func(t *testing.T) {
				srv := newTestServer(t, features.Config{Mechanisms: []string{"PLAIN"}})
				c, _, err := login(t, srv.addr, saslclient.Config{AllowPLAIN: true}, loginOpts{sasl1: !p.sasl2})
				if err != nil {
					t.Fatal(err)
				}
				if res := srv.result(t); res.Err != nil {
					t.Fatal(res.Err)
				}
				if r, _ := c.Result(); r.Mechanism != "PLAIN" {
					t.Errorf("mechanism = %q", r.Mechanism)
				}
			})
			t.Run("SCRAM preferred", func(t *testing.T) {
				srv := newTestServer(t, features.Config{Mechanisms: []string{"PLAIN", "SCRAM-SHA-1"}})
				c, _, err := login(t, srv.addr, saslclient.Config{AllowPLAIN: true}, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-1", "")
			})
		})
	}
}

// TestManInTheMiddle: the client's TLS ends at a relay whose certificate
// the client trusts. Every -PLUS login must fail, whatever the type; plain
// SCRAM still works (channel binding is what detects the relay).
func TestManInTheMiddle(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			for _, v := range tlsVersions {
				for _, typ := range v.types {
					for _, pseudo := range []bool{true, false} {
						name := fmt.Sprintf("%s/%s/pseudo=%v", v.name, typ, pseudo)
						t.Run(name, func(t *testing.T) {
							cfg := features.Config{ChannelBindingTypes: []cbind.Type{typ}, DisablePseudomechanisms: !pseudo}
							client := saslclient.Config{}
							if !pseudo {
								cfg.ChannelBindingTypes = []cbind.Type{v.def, typ}
								client.ChannelBindingTypes = []cbind.Type{typ}
							}
							srv := newTestServer(t, cfg)
							r := newRelay(t, srv.addr, v.version, nil, nil)
							c, _, err := login(t, r.addr, client, loginOpts{sasl1: !p.sasl2, version: v.version})
							var f *saslclient.Failure
							if !errors.As(err, &f) || f.Condition != "not-authorized" || f.Text != "channel-bindings-dont-match" {
								t.Fatalf("client error = %v, want not-authorized: channel-bindings-dont-match", err)
							}
							if _, ok := c.Result(); ok {
								t.Error("client reports success")
							}
							res := srv.result(t)
							if _, ok := res.Conn.Identity(); ok || res.Err == nil {
								t.Fatalf("server logged the client in through the relay: %v", res.Err)
							}
						})
					}
				}
				t.Run(v.name+"/non-PLUS server", func(t *testing.T) {
					srv := newTestServer(t, features.Config{Mechanisms: []string{"SCRAM-SHA-256"}})
					r := newRelay(t, srv.addr, v.version, nil, nil)
					c, _, err := login(t, r.addr, saslclient.Config{}, loginOpts{sasl1: !p.sasl2, version: v.version})
					checkLogin(t, srv, c, err, "SCRAM-SHA-256", "")
				})
				t.Run(v.name+"/non-PLUS client", func(t *testing.T) {
					srv := newTestServer(t, features.Config{})
					r := newRelay(t, srv.addr, v.version, nil, nil)
					c, _, err := login(t, r.addr, saslclient.Config{Mechanisms: []string{"SCRAM-SHA-512"}}, loginOpts{sasl1: !p.sasl2, version: v.version})
					checkLogin(t, srv, c, err, "SCRAM-SHA-512", "")
				})
			}
		})
	}
}

// TestDowngrade: a relay rewrites the features list; the XEP-0474 hash on
// the client catches it.
func TestDowngrade(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			nonPlus := saslclient.Config{Mechanisms: []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"}}
			stripSHA512 := holdUntilComplete(func(b []byte) []byte {
				return bytes.ReplaceAll(b, []byte("<mechanism>SCRAM-SHA-512</mechanism>"), nil)
			})
			tests := []struct {
				name    string
				server  features.Config
				client  saslclient.Config
				c2s     rewriter
				s2c     rewriter
				wantErr error  // nil: success
				failure string // expected <failure/> condition instead
				text    string // and its text
				mech    string
			}{{
				name:   "control: relay without rewriting",
				client: nonPlus,
				s2c:    holdUntilComplete(func(b []byte) []byte { return b }),
				mech:   "SCRAM-SHA-512",
			}, {
				name:    "-PLUS and XEP-0440 stripped, client without channel binding",
				client:  nonPlus,
				s2c:     stripPlus(true),
				wantErr: saslclient.ErrDowngrade,
			}, {
				name:    "-PLUS and XEP-0440 stripped, y rewritten to n",
				s2c:     stripPlus(true),
				c2s:     flagYToN(),
				wantErr: saslclient.ErrDowngrade,
			}, {
				name:    "-PLUS and XEP-0440 stripped, client sends y: the server refuses",
				s2c:     stripPlus(true),
				failure: "not-authorized",
				text:    "server-does-support-channel-binding",
			}, {
				name:    "only -PLUS stripped: XEP-0440 without -PLUS",
				s2c:     stripPlus(false),
				wantErr: saslclient.ErrDowngrade,
			}, {
				name:    "strongest hash stripped",
				client:  nonPlus,
				s2c:     stripSHA512,
				wantErr: saslclient.ErrDowngrade,
			}, {
				name:   "server without XEP-0474: stripping goes unnoticed by the hash",
				server: features.Config{DisableDowngradeProtection: true},
				client: nonPlus,
				s2c:    stripSHA512,
				mech:   "SCRAM-SHA-256",
			}, {
				name:    "server without XEP-0474, client requires it",
				server:  features.Config{DisableDowngradeProtection: true},
				client:  saslclient.Config{Mechanisms: nonPlus.Mechanisms, RequireDowngradeProtection: true},
				s2c:     holdUntilComplete(func(b []byte) []byte { return b }),
				wantErr: saslclient.ErrDowngrade,
			}}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					srv := newTestServer(t, tc.server)
					r := newRelay(t, srv.addr, tls.VersionTLS13, tc.c2s, tc.s2c)
					c, _, err := login(t, r.addr, tc.client, loginOpts{sasl1: !p.sasl2})
					switch {
					case tc.mech != "":
						if err != nil {
							t.Fatalf("client: %v", err)
						}
						if res := srv.result(t); res.Err != nil {
							t.Fatalf("server: %v", res.Err)
						}
						if got, _ := c.Result(); got.Mechanism != tc.mech {
							t.Errorf("mechanism = %q, want %q", got.Mechanism, tc.mech)
						}
						return
					case tc.wantErr != nil:
						if !errors.Is(err, tc.wantErr) {
							t.Fatalf("client error = %v, want %v", err, tc.wantErr)
						}
					default:
						var f *saslclient.Failure
						if !errors.As(err, &f) || f.Condition != tc.failure || f.Text != tc.text {
							t.Fatalf("client error = %v, want failure %s", err, tc.failure)
						}
					}
					if _, ok := c.Result(); ok {
						t.Error("client reports success")
					}
					res := srv.result(t)
					if _, ok := res.Conn.Identity(); ok {
						t.Error("server recorded an identity")
					}
				})
			}
		})
	}
}

// TestRule6: the server offers -PLUS but no binding type this client may
// use; the client logs in without binding and relies on XEP-0474.
func TestRule6(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			onlyUnique := saslclient.Config{ChannelBindingTypes: []cbind.Type{cbind.TLSUnique}} // not on TLS 1.3
			t.Run("hash present", func(t *testing.T) {
				srv := newTestServer(t, features.Config{})
				c, _, err := login(t, srv.addr, onlyUnique, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-512", "")
			})
			t.Run("no hash, tls-server-end-point advertised", func(t *testing.T) {
				srv := newTestServer(t, features.Config{DisableDowngradeProtection: true})
				c, _, err := login(t, srv.addr, onlyUnique, loginOpts{sasl1: !p.sasl2})
				if err != nil {
					t.Fatal(err)
				}
				if res := srv.result(t); res.Err != nil {
					t.Fatal(res.Err)
				}
				if r, _ := c.Result(); r.Mechanism != "SCRAM-SHA-512" || r.DowngradeProtected {
					t.Errorf("result = %+v", r)
				}
			})
			t.Run("no hash, no tls-server-end-point", func(t *testing.T) {
				srv := newTestServer(t, features.Config{DisableDowngradeProtection: true, ChannelBindingTypes: []cbind.Type{cbind.TLSExporter}})
				_, _, err := login(t, srv.addr, onlyUnique, loginOpts{sasl1: !p.sasl2})
				if !errors.Is(err, saslclient.ErrDowngrade) {
					t.Fatalf("error = %v, want ErrDowngrade", err)
				}
			})
		})
	}
}

// mapCache is a Cache whose entries the test can see and corrupt.
type mapCache struct {
	mu   sync.Mutex
	m    map[saslclient.CacheKey][]byte
	gets int
	hits int
}

func (c *mapCache) Get(k saslclient.CacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	v, ok := c.m[k]
	if ok {
		c.hits++
	}
	return append([]byte(nil), v...), ok
}

func (c *mapCache) Put(k saslclient.CacheKey, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = append([]byte(nil), v...)
}

func (c *mapCache) Delete(k saslclient.CacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

func TestCache(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.name, func(t *testing.T) {
			cache := &mapCache{m: map[saslclient.CacheKey][]byte{}}
			srv := newTestServer(t, features.Config{Mechanisms: []string{"SCRAM-SHA-256-PLUS"}})
			cfg := saslclient.Config{Cache: cache}
			for i := range 2 {
				c, _, err := login(t, srv.addr, cfg, loginOpts{sasl1: !p.sasl2})
				checkLogin(t, srv, c, err, "SCRAM-SHA-256-PLUS:tls-exporter", cbind.TLSExporter)
				if cache.hits != i || len(cache.m) != 1 {
					t.Fatalf("login %d: %d hits, %d entries", i, cache.hits, len(cache.m))
				}
			}
			// A stale entry (the password changed) fails one login and is dropped.
			for k := range cache.m {
				cache.m[k][0] ^= 1
			}
			_, _, err := login(t, srv.addr, cfg, loginOpts{sasl1: !p.sasl2})
			var f *saslclient.Failure
			if !errors.As(err, &f) {
				t.Fatalf("login with a corrupted cache entry: %v", err)
			}
			srv.result(t)
			if len(cache.m) != 0 {
				t.Fatal("stale entry kept")
			}
			c, _, err := login(t, srv.addr, cfg, loginOpts{sasl1: !p.sasl2})
			checkLogin(t, srv, c, err, "SCRAM-SHA-256-PLUS:tls-exporter", cbind.TLSExporter)
		})
	}
}

// TestDisconnectMidExchange: a client that goes away in the middle of SASL
// leaves no goroutine behind on either side.
func TestDisconnectMidExchange(t *testing.T) {
	for _, tc := range []struct {
		trigger string
		sasl1   bool
	}{
		{"<auth", true},
		{"<response", true},
		// Over SASL2 the last client message (<response/>) completes the
		// login with Bind 2: only the first is mid-exchange.
		{"<authenticate", false},
	} {
		trigger := tc.trigger
		t.Run(trigger, func(t *testing.T) {
			srv := newTestServer(t, features.Config{})
			base := runtime.NumGoroutine()
			var raw net.Conn
			tee := &triggerWriter{trigger: []byte(trigger), f: func() { raw.Close() }}
			_, _, err := login(t, srv.addr, saslclient.Config{}, loginOpts{
				sasl1:  tc.sasl1,
				teeOut: tee,
				conn:   func(c net.Conn) net.Conn { raw = c; return c },
			})
			if err == nil {
				t.Fatal("login succeeded over a closed connection")
			}
			if res := srv.result(t); res.Err == nil {
				t.Fatal("server session succeeded")
			}
			// The server's connection goroutine ends after reporting; poll
			// (bounded) until the count is back to where it was.
			n := runtime.NumGoroutine()
			for i := 0; i < 2000 && n > base; i++ {
				time.Sleep(time.Millisecond)
				n = runtime.NumGoroutine()
			}
			if n > base {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines, %d before the login:\n%s", n, base, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}
