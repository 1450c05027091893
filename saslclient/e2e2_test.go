package saslclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/saslclient"
)

// checkServerSide asserts what the server recorded for a successful login.
func checkServerSide(t *testing.T, srv *testServer, mech string) {
	t.Helper()
	res := srv.result(t)
	if res.Err != nil {
		t.Fatalf("server: %v", res.Err)
	}
	id, ok := res.Conn.Identity()
	if !ok || !id.SASL2 || id.Mechanism != mech || id.UserAgent.ID != uaID || !id.JID.Equal(jid.MustParse("alice@localhost")) {
		t.Fatalf("server identity = %+v, %v", id, ok)
	}
}

// TestFASTEndToEnd against package features over loopback TLS 1.2 and 1.3:
// SCRAM-SHA-256-PLUS via SASL2 and Bind 2 with a token request, a FAST
// reconnect with the token, a rotation, the new token, and the old token
// refused.
func TestFASTEndToEnd(t *testing.T) {
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			clock := config.NewManualClock(time.Now())
			srv := newTestServer(t, features.Config{
				Bind2Features:     []string{"urn:xmpp:carbons:2"},
				Clock:             clock,
				FASTTokenLifetime: config.Duration(48 * time.Hour),
				FASTRotateAfter:   config.Duration(time.Hour),
			})
			wantHT := map[cbind.Type]string{cbind.TLSExporter: "HT-SHA-256-EXPR", cbind.TLSUnique: "HT-SHA-256-UNIQ"}[v.def]
			store := &saslclient.MemoryTokenStore{}
			cfg := tokenCfg(store)
			cfg.Clock = clock
			cfg.Mechanisms = []string{"SCRAM-SHA-256-PLUS"}
			noPassword := cfg
			noPassword.Password = ""

			// 1. Password login over SASL2 with Bind 2, asking for a token.
			c, session, err := login(t, srv.addr, cfg, loginOpts{version: v.version})
			if err != nil {
				t.Fatal(err)
			}
			wantSCRAM := "SCRAM-SHA-256-PLUS:" + string(v.types[0])
			checkServerSide(t, srv, wantSCRAM)
			res, _ := c.Result()
			if res.Mechanism != wantSCRAM || !res.DowngradeProtected || !res.Bound || !res.TokenStored || res.FAST {
				t.Fatalf("password login: %+v", res)
			}
			if !strings.HasPrefix(res.JID.Resourcepart(), "TestClient") || !session.LocalAddr().Equal(res.JID) {
				t.Errorf("bound %s, session address %s", res.JID, session.LocalAddr())
			}
			first, _, _ := store.LoadToken("alice@localhost")
			if first.Mechanism != wantHT || first.Secret == "" {
				t.Fatalf("token %v", first)
			}

			// 2. Reconnect with the token alone.
			c, session, err = login(t, srv.addr, noPassword, loginOpts{version: v.version})
			if err != nil {
				t.Fatal(err)
			}
			checkServerSide(t, srv, wantHT)
			if res, _ = c.Result(); !res.FAST || res.Mechanism != wantHT || res.ChannelBinding != v.def || !res.Bound || res.TokenStored {
				t.Fatalf("token login: %+v", res)
			}
			if session.LocalAddr().Resourcepart() == "" {
				t.Error("token login did not bind")
			}

			// 3. Past the rotation age the server hands out a new token with
			// the login.
			clock.Advance(2 * time.Hour)
			c, _, err = login(t, srv.addr, noPassword, loginOpts{version: v.version})
			if err != nil {
				t.Fatal(err)
			}
			checkServerSide(t, srv, wantHT)
			second, _, _ := store.LoadToken("alice@localhost")
			if res, _ = c.Result(); !res.TokenStored || second.Secret == first.Secret || second.Count != 0 || second.Mechanism != wantHT {
				t.Fatalf("rotation: %+v, token %v", res, second)
			}

			// 4. The new token works, and its use retires the old one.
			if _, _, err = login(t, srv.addr, noPassword, loginOpts{version: v.version}); err != nil {
				t.Fatal(err)
			}
			checkServerSide(t, srv, wantHT)

			// 5. The old token is refused: without a password the login
			// fails and the token is dropped; with one the client logs in
			// again on the same stream and gets a fresh token.
			old := &saslclient.MemoryTokenStore{}
			old.StoreToken("alice@localhost", first)
			oldCfg := tokenCfg(old)
			oldCfg.Password, oldCfg.Clock, oldCfg.Mechanisms = "", clock, cfg.Mechanisms
			_, _, err = login(t, srv.addr, oldCfg, loginOpts{version: v.version})
			var f *saslclient.Failure
			if !errors.As(err, &f) {
				t.Fatalf("old token: %v", err)
			}
			srv.result(t)
			if _, ok, _ := old.LoadToken("alice@localhost"); ok {
				t.Error("refused token kept")
			}
			old.StoreToken("alice@localhost", first)
			oldCfg.Password = alicePassword
			c, _, err = login(t, srv.addr, oldCfg, loginOpts{version: v.version})
			if err != nil {
				t.Fatalf("fallback to the password: %v", err)
			}
			checkServerSide(t, srv, wantSCRAM)
			fresh, _, _ := old.LoadToken("alice@localhost")
			if res, _ = c.Result(); res.TokenRefused == nil || !res.TokenStored || fresh.Secret == first.Secret {
				t.Fatalf("fallback: %+v, token %v", res, fresh)
			}

			// 6. Logging the token out: the next token login fails.
			logout := noPassword
			logout.FAST.Invalidate = true
			c, _, err = login(t, srv.addr, logout, loginOpts{version: v.version})
			if err != nil {
				t.Fatal(err)
			}
			checkServerSide(t, srv, wantHT)
			if res, _ = c.Result(); !res.TokenInvalidated {
				t.Fatalf("invalidate: %+v", res)
			}
			second.Count = 100 // as if the client had kept it: not a replay
			store.StoreToken("alice@localhost", second)
			if _, _, err = login(t, srv.addr, noPassword, loginOpts{version: v.version}); !errors.As(err, &f) {
				t.Fatalf("token after invalidation: %v", err)
			}
			srv.result(t)
		})
	}
}

// TestTokenReplay: a count the server has seen for a token is refused, so
// a recorded token login cannot be played again.
func TestTokenReplay(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	store := &saslclient.MemoryTokenStore{}
	cfg := tokenCfg(store)
	if _, _, err := login(t, srv.addr, cfg, loginOpts{}); err != nil {
		t.Fatal(err)
	}
	srv.result(t)
	cfg.Password = ""
	for range 2 {
		if _, _, err := login(t, srv.addr, cfg, loginOpts{}); err != nil {
			t.Fatal(err)
		}
		checkServerSide(t, srv, "HT-SHA-256-EXPR")
	}
	tok, _, _ := store.LoadToken("alice@localhost")
	tok.Count = 1 // the next attempt sends 2, which the server accepted
	store.StoreToken("alice@localhost", tok)
	_, _, err := login(t, srv.addr, cfg, loginOpts{})
	var f *saslclient.Failure
	if !errors.As(err, &f) {
		t.Fatalf("replayed count: %v", err)
	}
	if res := srv.result(t); res.Err == nil {
		t.Fatal("server accepted a replayed count")
	}
}

// TestSASL2MelliumNegotiator: with mellium's own negotiator instead of
// Client.Negotiator, a Bind 2 login works when the features that follow
// <success/> are empty (mellium reads them and is done); Result.Features
// stays nil.
func TestSASL2MelliumNegotiator(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	c, err := saslclient.New(saslclient.Config{Password: alicePassword})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	origin := jid.MustParse("alice@localhost")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsCfg := getPKI().clientTLS(tls.VersionTLS13)
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, append(c.Features(), xmpp.BindResource())...)}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	srv.result(t)
	res, _ := c.Result()
	if !res.Bound || res.Features != nil || !session.LocalAddr().Equal(res.JID) || res.JID.Resourcepart() == "" {
		t.Errorf("result %+v, address %s", res, session.LocalAddr())
	}
}

// TestSASL2DirectTLS: the root package's Plugin.AcceptTLS (XEP-0368 direct
// TLS, no STARTTLS): SCRAM-SHA-256-PLUS via SASL2 and Bind 2 from the first
// stream, then a FAST login with the token.
func TestSASL2DirectTLS(t *testing.T) {
	p := getPKI()
	plugin, err := xmppauth.New(xmppauth.Config{
		Domains:   []string{"localhost"},
		TLSConfig: p.serverTLS(p.server),
		Logger:    slog.New(slog.DiscardHandler),
		SASL:      features.Config{Store: testStore(t), Bind2Features: []string{"urn:xmpp:sm:3"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 4)
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		conn, err := plugin.AcceptTLS(raw)
		if err != nil {
			raw.Close()
			results <- err
			return
		}
		session, err := conn.Negotiate(context.Background())
		results <- err
		if err == nil {
			_ = conn.Close(session, nil)
		}
	})
	store := &saslclient.MemoryTokenStore{}
	for i, want := range []string{"SCRAM-SHA-256-PLUS", "HT-SHA-256-EXPR"} {
		cfg := tokenCfg(store)
		cfg.Mechanisms = []string{"SCRAM-SHA-256-PLUS"}
		if i == 1 {
			cfg.Password = ""
		}
		c, err := saslclient.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		clientTLS := p.clientTLS(tls.VersionTLS13)
		clientTLS.NextProtos = []string{xmppauth.ALPN}
		tc, err := tls.Dial("tcp", addr, clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		origin := jid.MustParse("alice@localhost")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		session, err := xmpp.NewSession(ctx, origin.Domain(), origin, tc, 0, c.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: append(c.Features(), xmpp.BindResource())}
		}))
		cancel()
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if err := <-results; err != nil {
			t.Fatalf("server: %v", err)
		}
		res, _ := c.Result()
		if !strings.HasPrefix(res.Mechanism, want) || !res.Bound || !res.SASL2 || res.ChannelBinding != cbind.TLSExporter {
			t.Fatalf("login %d: %+v", i, res)
		}
		if i == 0 && !res.TokenStored {
			t.Fatal("no token issued")
		}
		session.Close()
	}
}
