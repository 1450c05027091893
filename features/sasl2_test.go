package features_test

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
)

const uaAlice = "d4565fa7-4d72-4749-b3d3-740edbf87770" // XEP-0388's example id

// SASL2 lists exactly what RFC 6120 SASL lists, on STARTTLS and on direct
// TLS alike, with Bind2, FAST per the connection's binding types, and the
// upgrade tasks; nothing before TLS.
func TestSASL2Advertisement(t *testing.T) {
	wantFAST := map[uint16][]string{
		tls.VersionTLS13: {"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"},
		tls.VersionTLS12: {"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-UNIQ", "HT-SHA-256-NONE"},
	}
	for _, direct := range []bool{false, true} {
		for _, v := range tlsVersions {
			name := v.name + "/STARTTLS"
			if direct {
				name = v.name + "/direct"
			}
			t.Run(name, func(t *testing.T) {
				srv := newHostServer(t, features.Config{Bind2Features: []string{"urn:xmpp:carbons:2", "urn:xmpp:sm:3"}}, direct, nil)
				var c *rawClient
				if direct {
					c = dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(v.version), "")
					if strings.Contains(c.features, "starttls") {
						t.Errorf("STARTTLS offered on direct TLS: %s", c.features)
					}
				} else {
					c = dialRaw(t, srv.addr, getPKI(t).clientTLS(v.version), "")
				}
				f := c.sasl2()
				if !f.Present || !slices.Equal(f.Mechanisms, c.mechanisms()) {
					t.Errorf("SASL2 mechanisms %q, RFC 6120 %q", f.Mechanisms, c.mechanisms())
				}
				if !slices.Contains(f.Mechanisms, "SCRAM-SHA-256-PLUS:tls-exporter") || !slices.Contains(f.Mechanisms, "SCRAM-SHA-256-PLUS") {
					t.Errorf("no -PLUS in %q", f.Mechanisms)
				}
				if !f.Bind || !slices.Equal(f.BindVars, []string{"urn:xmpp:carbons:2", "urn:xmpp:sm:3"}) {
					t.Errorf("Bind2 %v %q", f.Bind, f.BindVars)
				}
				if !slices.Equal(f.FAST, wantFAST[v.version]) {
					t.Errorf("FAST %q, want %q", f.FAST, wantFAST[v.version])
				}
				for _, m := range f.FAST {
					if slices.Contains(f.Mechanisms, m) {
						t.Errorf("FAST mechanism %s in the main list", m)
					}
				}
				if want := []string{"UPGR-SCRAM-SHA-512", "UPGR-SCRAM-SHA-256"}; !slices.Equal(f.Upgrades, want) {
					t.Errorf("upgrades %q, want %q", f.Upgrades, want)
				}
			})
		}
	}
	t.Run("before TLS", func(t *testing.T) {
		srv := newHostServer(t, features.Config{AllowUnencrypted: true}, false, nil)
		c := dialRaw(t, srv.addr, nil, "")
		if f := c.sasl2(); f.Present {
			t.Errorf("SASL2 offered before TLS: %s", c.features)
		}
	})
	t.Run("toggles", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			cfg   features.Config
			check func(t *testing.T, f sasl2Features)
		}{
			{"DisableSASL2", features.Config{DisableSASL2: true}, func(t *testing.T, f sasl2Features) {
				if f.Present {
					t.Error("listed")
				}
			}},
			{"DisableBind2", features.Config{DisableBind2: true}, func(t *testing.T, f sasl2Features) {
				if !f.Present || f.Bind {
					t.Errorf("%+v", f)
				}
			}},
			{"DisableFAST", features.Config{DisableFAST: true}, func(t *testing.T, f sasl2Features) {
				if !f.Present || len(f.FAST) != 0 {
					t.Errorf("%+v", f)
				}
			}},
			{"DisableUpgradeTasks", features.Config{DisableUpgradeTasks: true}, func(t *testing.T, f sasl2Features) {
				if !f.Present || len(f.Upgrades) != 0 {
					t.Errorf("%+v", f)
				}
			}},
			{"tls-server-end-point only", features.Config{ChannelBindingTypes: []cbind.Type{cbind.TLSServerEndPoint}}, func(t *testing.T, f sasl2Features) {
				if !slices.Equal(f.FAST, []string{"HT-SHA-256-ENDP", "HT-SHA-256-NONE"}) {
					t.Errorf("FAST %q", f.FAST)
				}
			}},
			{"Mechanisms restricts FAST too", features.Config{Mechanisms: []string{"SCRAM-SHA-256", "HT-SHA-256-NONE"}}, func(t *testing.T, f sasl2Features) {
				if !slices.Equal(f.FAST, []string{"HT-SHA-256-NONE"}) || !slices.Equal(f.Mechanisms, []string{"SCRAM-SHA-256"}) {
					t.Errorf("%+v", f)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				srv := newHostServer(t, tc.cfg, false, nil)
				c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
				tc.check(t, c.sasl2())
			})
		}
	})
}

// A SASL2 login with every kind of mechanism, with and without Bind2: the
// success names the identity (the full JID after Bind2), the features of
// the authenticated stream follow without a restart, and without Bind2 the
// client binds with RFC 6120 on the same stream.
func TestSASL2Login(t *testing.T) {
	for _, direct := range []bool{false, true} {
		for _, mech := range []string{"SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-SHA-512-PLUS", "SCRAM-SHA-1", "PLAIN"} {
			for _, bind := range []bool{false, true} {
				name := mech
				if bind {
					name += "/Bind2"
				}
				if direct {
					name += "/direct"
				}
				t.Run(name, func(t *testing.T) {
					srv := newHostServer(t, features.Config{}, direct, nil)
					var c *rawClient
					if direct {
						c = dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
					} else {
						c = dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
					}
					o := authenticateOpts{userAgent: uaAlice, software: "AwesomeXMPP", bind: bind, tag: "AwesomeXMPP"}
					var el element
					if mech == "PLAIN" {
						c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), o)
						el = c.next()
					} else {
						s := newSCRAM(mech, "alice", "alice-secret")
						if strings.Contains(mech, "PLUS") {
							s.bind(cbind.TLSExporter, c.cbData(cbind.TLSExporter))
						}
						el = c.scram2(s, mech, o)
					}
					succ := parseSuccess2(t, el)
					f := c.readFeatures()
					if !bind {
						if succ.AuthzID != "alice@localhost" || succ.Bound != nil {
							t.Fatalf("success %+v", succ)
						}
						if !strings.Contains(f, "urn:ietf:params:xml:ns:xmpp-bind") {
							t.Fatalf("no resource binding offered after SASL2: %s", f)
						}
						if strings.Contains(f, "urn:xmpp:sasl:2") || strings.Contains(f, "xmpp-sasl") {
							t.Fatalf("SASL offered again: %s", f)
						}
						c.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
						if el := c.next(); !strings.Contains(el.Inner, "alice@localhost/phone") {
							t.Fatalf("bind: %v", el)
						}
					} else {
						full, err := jid.Parse(succ.AuthzID)
						if err != nil || full.Bare().String() != "alice@localhost" || !strings.HasPrefix(full.Resourcepart(), "AwesomeXMPP/") || succ.Bound == nil {
							t.Fatalf("success %+v", succ)
						}
						if strings.Contains(f, "xmpp-bind") || strings.Contains(f, "sasl") {
							t.Fatalf("features after Bind2: %s", f)
						}
					}
					res := srv.result(t)
					if res.Err != nil {
						t.Fatalf("server: %v", res.Err)
					}
					id, ok := res.Conn.Identity()
					if !ok || id.JID.String() != "alice@localhost" || id.Mechanism != mech || !id.SASL2 ||
						id.UserAgent != (features.UserAgent{ID: uaAlice, Software: "AwesomeXMPP", Device: "test"}) {
						t.Errorf("identity %+v", id)
					}
					if strings.Contains(mech, "PLUS") && id.ChannelBinding != cbind.TLSExporter {
						t.Errorf("binding %q", id.ChannelBinding)
					}
					if bind && res.Conn.Bound().String() != succ.AuthzID {
						t.Errorf("bound %v, success said %s", res.Conn.Bound(), succ.AuthzID)
					}
				})
			}
		}
	}
}
