package saslclient_test

import (
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/saslclient"
)

const boundJID = "alice@localhost/TestClient/x1"

// TestSASL2Login: a SCRAM-SHA-256-PLUS login over SASL2 with Bind 2, the
// caller's inline elements and a token request, against a scripted server
// that checks what the client sends.
func TestSASL2Login(t *testing.T) {
	store := &saslclient.MemoryTokenStore{}
	expiry := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	fs := newFakeServer(t, defaultOffer.features(), func(c *fakeConn) {
		_, final := c.scramSASL2(defaultOffer)
		if final == nil {
			return
		}
		c.success2(final, boundJID,
			"<bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='sm1' resume='true'/><metadata xmlns='urn:xmpp:mam:2'><start id='a' timestamp='2008-08-22T21:09:04Z'/></metadata></bound>"+
				"<token xmlns='urn:xmpp:fast:0' expiry='"+expiry.Format(time.RFC3339)+"' token='s3cr3t-token'/>"+
				"<failed xmlns='urn:xmpp:sm:3' h='5'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
			"<sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/>")
		c.nextNode() // until the client goes
	})
	cfg := tokenCfg(store)
	cfg.Bind2.Inline = func(offered []string) []xml.TokenReader {
		if strings.Join(offered, " ") != "urn:xmpp:carbons:2 urn:xmpp:sm:3" {
			t.Errorf("Bind 2 inline features = %q", offered)
		}
		return []xml.TokenReader{xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:carbons:2", Local: "enable"}})}
	}
	cfg.Inline = func(offered []xml.Name) []xml.TokenReader {
		want := []xml.Name{{Space: features.NSBind2, Local: "bind"}, {Space: features.NSFAST, Local: "fast"}}
		if !slices.Equal(offered, want) {
			t.Errorf("SASL2 inline features = %v", offered)
		}
		return []xml.TokenReader{xmlstream.Wrap(nil, xml.StartElement{
			Name: xml.Name{Space: "urn:xmpp:sm:3", Local: "resume"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "previd"}, Value: "old"}, {Name: xml.Name{Local: "h"}, Value: "3"}},
		})}
	}
	c, session, err := login(t, fs.addr, cfg, loginOpts{})
	if err != nil {
		t.Fatal(err)
	}

	// What the client sent.
	got := fs.sent()[0]
	if r := got.child("urn:xmpp:sm:3", "resume"); r.attr("previd") != "old" {
		t.Errorf("inline <resume/> = %+v", r)
	}
	if m := got.attr("mechanism"); m != "SCRAM-SHA-256-PLUS" {
		t.Errorf("mechanism = %q", m)
	}
	if ir := string(got.child("", "initial-response").decoded()); !strings.HasPrefix(ir, "p=tls-exporter,,n=alice,r=") {
		t.Errorf("initial response = %q", ir)
	}
	ua := got.child(features.NSSASL2, "user-agent")
	if ua.attr("id") != uaID || ua.child("", "software").text() != "TestClient" || ua.child("", "device").text() != "test" {
		t.Errorf("user-agent = %+v", ua)
	}
	bind := got.child(features.NSBind2, "bind")
	if bind.child("", "tag").text() != "TestClient" || bind.child("urn:xmpp:carbons:2", "enable") == nil {
		t.Errorf("bind = %+v", bind)
	}
	if rt := got.child(features.NSFAST, "request-token"); rt.attr("mechanism") != "HT-SHA-256-EXPR" {
		t.Errorf("request-token = %+v", rt)
	}

	// What it made of the answer.
	res, ok := c.Result()
	if !ok {
		t.Fatal("no result")
	}
	if !res.SASL2 || !res.Bound || res.JID.String() != boundJID || res.Mechanism != "SCRAM-SHA-256-PLUS" || res.ChannelBinding != cbind.TLSExporter || !res.DowngradeProtected {
		t.Errorf("result = %+v", res)
	}
	if !session.LocalAddr().Equal(jid.MustParse(boundJID)) {
		t.Errorf("session address = %s", session.LocalAddr())
	}
	if len(res.BoundElements) != 2 || res.BoundElements[0].Name.Local != "enabled" {
		t.Fatalf("bound elements = %+v", res.BoundElements)
	}
	var enabled struct {
		XMLName xml.Name `xml:"urn:xmpp:sm:3 enabled"`
		ID      string   `xml:"id,attr"`
	}
	if err := xml.Unmarshal(res.BoundElements[0].XML, &enabled); err != nil || enabled.ID != "sm1" {
		t.Errorf("<enabled/> = %s: %v", res.BoundElements[0].XML, err)
	}
	if len(res.SuccessElements) != 1 || res.SuccessElements[0].Name != (xml.Name{Space: "urn:xmpp:sm:3", Local: "failed"}) ||
		!strings.Contains(string(res.SuccessElements[0].XML), "item-not-found") {
		t.Errorf("success elements = %+v", res.SuccessElements)
	}
	if len(res.Features) != 2 || res.Features[0].Name.Space != "urn:xmpp:sm:3" || res.Features[1].Name.Local != "csi" {
		t.Errorf("features = %+v", res.Features)
	}
	tok, ok, _ := store.LoadToken("alice@localhost")
	if !ok || !res.TokenStored || tok.Mechanism != "HT-SHA-256-EXPR" || tok.Secret != "s3cr3t-token" || !tok.Expiry.Equal(expiry) || tok.Count != 0 {
		t.Errorf("stored %v (%v), result %+v", tok, ok, res)
	}
}

// TestSASL2WithoutBind2: the server offers no Bind 2; the client binds the
// RFC 6120 way after <success/> (here the server lists nothing more).
func TestSASL2WithoutBind2(t *testing.T) {
	o := defaultOffer
	o.bind, o.fast = false, nil
	fs := newFakeServer(t, o.features(), func(c *fakeConn) {
		_, final := c.scramSASL2(o)
		if final != nil {
			c.success2(final, "alice@localhost", "", "")
			c.nextNode()
		}
	})
	c, session, err := login(t, fs.addr, saslclient.Config{}, loginOpts{})
	if err != nil {
		t.Fatal(err)
	}
	got := fs.sent()[0]
	if got.child(features.NSBind2, "bind") != nil {
		t.Error("bind requested although not offered")
	}
	if ua := got.child(features.NSSASL2, "user-agent"); ua == nil || ua.attr("id") != "" {
		t.Errorf("user-agent = %+v, want one without id", ua)
	}
	res, _ := c.Result()
	if !res.SASL2 || res.Bound || res.JID.String() != "alice@localhost" || res.Features != nil {
		t.Errorf("result = %+v", res)
	}
	if session.LocalAddr().String() != "alice@localhost" {
		t.Errorf("address = %s", session.LocalAddr())
	}
}

// TestSASL2Preference: offered both, the client takes SASL2 unless
// DisableSASL2.
func TestSASL2Preference(t *testing.T) {
	o := defaultOffer
	o.bind, o.fast = false, nil
	both := o.features() + `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-256-PLUS</mechanism></mechanisms>`
	for _, disable := range []bool{false, true} {
		t.Run(map[bool]string{false: "SASL2", true: "DisableSASL2"}[disable], func(t *testing.T) {
			// Feature order in mellium's map is random: run a few times.
			for range 4 {
				first := make(chan string, 1)
				fs := newFakeServer(t, both, func(c *fakeConn) {
					n := c.nextNode()
					if n == nil {
						return
					}
					first <- n.XMLName.Space + " " + n.XMLName.Local
				})
				_, _, err := login(t, fs.addr, saslclient.Config{DisableSASL2: disable, StepTimeout: config.Duration(5 * time.Second)}, loginOpts{})
				if err == nil {
					t.Fatal("login succeeded against a server that never answers")
				}
				want := features.NSSASL2 + " authenticate"
				if disable {
					want = features.NS + " auth"
				}
				if got := <-first; got != want {
					t.Fatalf("client sent %q, want %q", got, want)
				}
			}
		})
	}
}

// fastServer issues and checks tokens like a FAST server with one token
// slot per client, over one connection each.
type fastServer struct {
	t       *testing.T
	offer   sasl2Offer
	current string // token accepted
	issue   string // token to hand out on request or rotation
	rotate  bool   // hand out issue after a token login
	fail    bool   // refuse every token
	badHT   bool   // answer with a wrong HT proof
}

func (f *fastServer) serve(c *fakeConn) {
	for {
		auth := c.nextNode()
		if auth == nil {
			return
		}
		mech := auth.attr("mechanism")
		token := ""
		if auth.child(features.NSFAST, "request-token") != nil || (f.rotate && strings.HasPrefix(mech, "HT-")) {
			token = "<token xmlns='urn:xmpp:fast:0' expiry='" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + "' token='" + f.issue + "'/>"
		}
		if strings.HasPrefix(mech, "HT-") {
			answer := c.checkHT(auth, f.current)
			if answer == nil || f.fail {
				c.raw("<failure xmlns='urn:xmpp:sasl:2'><credentials-expired xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>token refused</text></failure>")
				continue // the stream stays usable (XEP-0388)
			}
			if f.badHT {
				answer[0] ^= 1
			}
			c.success2(answer, "alice@localhost", token, "")
			c.nextNode()
			return
		}
		// A password login: run SCRAM on the already-read <authenticate/>.
		ex := c.scramAs(mech, ssdp(f.offer.mechs, f.offer.types))
		out, _, err := ex.Step(t0ctx, auth.child("", "initial-response").decoded())
		if err != nil {
			return
		}
		c.send2("challenge", out)
		resp := c.nextNode()
		if resp == nil {
			return
		}
		if out, _, err = ex.Step(t0ctx, resp.decoded()); err != nil {
			return
		}
		c.success2(out, "alice@localhost", token, "")
		c.nextNode()
		return
	}
}

func TestFAST(t *testing.T) {
	offer := defaultOffer
	offer.bind = false
	seed := func(store *saslclient.MemoryTokenStore, mech, secret string, expiry time.Time) {
		if err := store.StoreToken("alice@localhost", saslclient.Token{Mechanism: mech, Secret: secret, Expiry: expiry}); err != nil {
			t.Fatal(err)
		}
	}
	later := time.Now().Add(time.Hour)
	tests := []struct {
		name     string
		version  uint16
		offer    func(*sasl2Offer)
		token    string // stored mechanism; "" none
		expiry   time.Time
		server   fastServer
		cfg      func(*saslclient.Config)
		wantMech string // mechanism of the successful login
		wantErr  error
		check    func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node)
	}{{
		name:     "token login, count 1, rotation stored",
		token:    "HT-SHA-256-EXPR",
		server:   fastServer{current: "tok1", issue: "tok2", rotate: true},
		wantMech: "HT-SHA-256-EXPR",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if f := seen[0].child(features.NSFAST, "fast"); f == nil || f.attr("count") != "1" || f.attr("invalidate") != "" {
				t.Errorf("<fast/> = %+v", f)
			}
			if seen[0].child(features.NSFAST, "request-token") != nil {
				t.Error("token requested with a token login")
			}
			tok, _, _ := store.LoadToken("alice@localhost")
			if !res.FAST || !res.TokenStored || tok.Secret != "tok2" || tok.Count != 0 || tok.Mechanism != "HT-SHA-256-EXPR" {
				t.Errorf("result %+v, stored %v", res, tok)
			}
		},
	}, {
		name:     "token login without rotation keeps the count",
		token:    "HT-SHA-256-ENDP",
		server:   fastServer{current: "tok1"},
		wantMech: "HT-SHA-256-ENDP",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			tok, _, _ := store.LoadToken("alice@localhost")
			if res.TokenStored || tok.Secret != "tok1" || tok.Count != 1 || res.ChannelBinding != cbind.TLSServerEndPoint {
				t.Errorf("result %+v, stored %v", res, tok)
			}
		},
	}, {
		name:     "TLS 1.2: token requested for UNIQ",
		version:  tlsVersions[0].version,
		offer:    func(o *sasl2Offer) { o.fast = append(o.fast, "HT-SHA-256-UNIQ") },
		server:   fastServer{issue: "tok"},
		wantMech: "SCRAM-SHA-256-PLUS",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if rt := seen[0].child(features.NSFAST, "request-token"); rt.attr("mechanism") != "HT-SHA-256-UNIQ" {
				t.Errorf("request-token = %+v", rt)
			}
			if tok, _, _ := store.LoadToken("alice@localhost"); tok.Mechanism != "HT-SHA-256-UNIQ" {
				t.Errorf("stored %v", tok)
			}
		},
	}, {
		name:     "only NONE offered: no token asked for",
		offer:    func(o *sasl2Offer) { o.fast = []string{"HT-SHA-256-NONE"} },
		server:   fastServer{issue: "tok"},
		wantMech: "SCRAM-SHA-256-PLUS",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if seen[0].child(features.NSFAST, "request-token") != nil {
				t.Error("asked for a NONE token without AllowNoBinding")
			}
			if _, ok, _ := store.LoadToken("alice@localhost"); ok || res.TokenStored {
				t.Error("token stored")
			}
		},
	}, {
		name:     "only NONE offered, allowed",
		offer:    func(o *sasl2Offer) { o.fast = []string{"HT-SHA-256-NONE"} },
		server:   fastServer{issue: "tok"},
		cfg:      func(c *saslclient.Config) { c.FAST.AllowNoBinding = true },
		wantMech: "SCRAM-SHA-256-PLUS",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if tok, _, _ := store.LoadToken("alice@localhost"); tok.Mechanism != "HT-SHA-256-NONE" {
				t.Errorf("stored %v", tok)
			}
		},
	}, {
		name:     "token for tls-unique on TLS 1.3: password login, new token",
		token:    "HT-SHA-256-UNIQ",
		offer:    func(o *sasl2Offer) { o.fast = append(o.fast, "HT-SHA-256-UNIQ") },
		server:   fastServer{current: "tok1", issue: "tok2"},
		wantMech: "SCRAM-SHA-256-PLUS",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if tok, _, _ := store.LoadToken("alice@localhost"); tok.Mechanism != "HT-SHA-256-EXPR" || tok.Secret != "tok2" {
				t.Errorf("stored %v", tok)
			}
		},
	}, {
		name:    "token for tls-unique on TLS 1.3, no password",
		token:   "HT-SHA-256-UNIQ",
		offer:   func(o *sasl2Offer) { o.fast = append(o.fast, "HT-SHA-256-UNIQ") },
		server:  fastServer{current: "tok1"},
		cfg:     func(c *saslclient.Config) { c.Password = "" },
		wantErr: saslclient.ErrTokenUnusable,
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if len(seen) != 0 {
				t.Errorf("client sent %d elements", len(seen))
			}
			if _, ok, _ := store.LoadToken("alice@localhost"); !ok {
				t.Error("token deleted: a TLS 1.2 connection could still use it")
			}
		},
	}, {
		name:    "server no longer offers the token's mechanism (stripped)",
		token:   "HT-SHA-256-EXPR",
		offer:   func(o *sasl2Offer) { o.fast = []string{"HT-SHA-256-NONE"} },
		server:  fastServer{current: "tok1"},
		cfg:     func(c *saslclient.Config) { c.Password = ""; c.FAST.AllowNoBinding = true },
		wantErr: saslclient.ErrTokenUnusable,
	}, {
		name:    "NONE token without AllowNoBinding",
		token:   "HT-SHA-256-NONE",
		server:  fastServer{current: "tok1"},
		cfg:     func(c *saslclient.Config) { c.Password = "" },
		wantErr: saslclient.ErrTokenUnusable,
	}, {
		name:     "NONE token, allowed",
		token:    "HT-SHA-256-NONE",
		server:   fastServer{current: "tok1"},
		cfg:      func(c *saslclient.Config) { c.Password = ""; c.FAST.AllowNoBinding = true },
		wantMech: "HT-SHA-256-NONE",
	}, {
		name:     "expired token: deleted, password login",
		token:    "HT-SHA-256-EXPR",
		expiry:   time.Now().Add(-time.Minute),
		server:   fastServer{current: "tok1", issue: "tok2"},
		wantMech: "SCRAM-SHA-256-PLUS",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if tok, _, _ := store.LoadToken("alice@localhost"); tok.Secret != "tok2" {
				t.Errorf("stored %v", tok)
			}
		},
	}, {
		name:     "refused token: deleted, password login on the same stream",
		token:    "HT-SHA-256-EXPR",
		server:   fastServer{current: "tok1", issue: "tok2", fail: true},
		wantMech: "SCRAM-SHA-256-PLUS",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if res.TokenRefused == nil || res.TokenRefused.Condition != "credentials-expired" {
				t.Errorf("TokenRefused = %+v", res.TokenRefused)
			}
			if len(seen) < 2 || seen[1].child(features.NSFAST, "request-token") == nil {
				t.Error("no new token asked for")
			}
			if tok, _, _ := store.LoadToken("alice@localhost"); tok.Secret != "tok2" {
				t.Errorf("stored %v", tok)
			}
		},
	}, {
		name:    "refused token without password",
		token:   "HT-SHA-256-EXPR",
		server:  fastServer{current: "tok1", fail: true},
		cfg:     func(c *saslclient.Config) { c.Password = "" },
		wantErr: &saslclient.Failure{},
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if _, ok, _ := store.LoadToken("alice@localhost"); ok {
				t.Error("refused token kept")
			}
		},
	}, {
		name:    "wrong token proof from the server",
		token:   "HT-SHA-256-EXPR",
		server:  fastServer{current: "tok1", badHT: true},
		wantErr: saslclient.ErrServerSignature,
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if _, ok, _ := store.LoadToken("alice@localhost"); ok {
				t.Error("token kept after a server that cannot prove it")
			}
		},
	}, {
		name:     "invalidate",
		token:    "HT-SHA-256-EXPR",
		server:   fastServer{current: "tok1", issue: "tok2", rotate: true},
		cfg:      func(c *saslclient.Config) { c.FAST.Invalidate = true },
		wantMech: "HT-SHA-256-EXPR",
		check: func(t *testing.T, res saslclient.Result, store *saslclient.MemoryTokenStore, seen []*node) {
			if f := seen[0].child(features.NSFAST, "fast"); f.attr("invalidate") != "true" {
				t.Errorf("<fast/> = %+v", f)
			}
			if _, ok, _ := store.LoadToken("alice@localhost"); ok || !res.TokenInvalidated || res.TokenStored {
				t.Errorf("token kept after invalidation: %+v", res)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &saslclient.MemoryTokenStore{}
			if tc.token != "" {
				exp := tc.expiry
				if exp.IsZero() {
					exp = later
				}
				seed(store, tc.token, tc.server.current, exp)
			}
			fsrv := tc.server
			fsrv.t = t
			fsrv.offer = offer
			if tc.offer != nil {
				tc.offer(&fsrv.offer)
			}
			fs := newFakeServer(t, fsrv.offer.features(), fsrv.serve)
			cfg := tokenCfg(store)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c, _, err := login(t, fs.addr, cfg, loginOpts{version: tc.version})
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
				res, _ := c.Result()
				if res.Mechanism != tc.wantMech {
					t.Errorf("mechanism = %q, want %q", res.Mechanism, tc.wantMech)
				}
			case *saslclient.Failure:
				if !errors.As(err, &want) {
					t.Fatalf("error = %v, want a failure", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("error = %v, want %v", err, want)
				}
			}
			if tc.check != nil {
				res, _ := c.Result()
				tc.check(t, res, store, fs.sent())
			}
		})
	}
}

// TestTokenCount: every attempt sends a higher count, also one that fails.
func TestTokenCount(t *testing.T) {
	store := &saslclient.MemoryTokenStore{}
	store.StoreToken("alice@localhost", saslclient.Token{Mechanism: "HT-SHA-256-EXPR", Secret: "tok", Expiry: time.Now().Add(time.Hour)})
	offer := defaultOffer
	for i := 1; i <= 3; i++ {
		srv := fastServer{t: t, offer: offer, current: "tok"}
		fs := newFakeServer(t, offer.features(), srv.serve)
		cfg := tokenCfg(store)
		cfg.Password = ""
		if _, _, err := login(t, fs.addr, cfg, loginOpts{}); err != nil {
			t.Fatal(err)
		}
		if got := fs.sent()[0].child(features.NSFAST, "fast").attr("count"); got != string(rune('0'+i)) {
			t.Errorf("login %d: count %s", i, got)
		}
	}
	if tok, _, _ := store.LoadToken("alice@localhost"); tok.Count != 3 {
		t.Errorf("stored count %d", tok.Count)
	}
}
