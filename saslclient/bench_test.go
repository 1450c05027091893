package saslclient_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/saslclient"
)

// BenchmarkLogin measures complete logins over loopback TLS 1.3: TCP,
// STARTTLS, then
//   - SASL: RFC 6120 SCRAM-SHA-256-PLUS with tls-exporter, stream restart
//     and RFC 6120 resource binding;
//   - SASL2: the same mechanism over XEP-0388 with Bind 2 (no restart, no
//     binding round trip);
//   - FAST: HT-SHA-256-EXPR with a token over SASL2 and Bind 2 (one round
//     trip, no PBKDF2 on either side).
//
// After the timed loop it runs as many bare TLS 1.3 handshakes with the
// same certificate (see BenchmarkTLSHandshake) and reports both rates and
// their ratio.
func BenchmarkLogin(b *testing.B) {
	for _, bc := range []struct {
		name  string
		sasl1 bool
		cache bool
		fast  bool
	}{
		{"SASL/cache", true, true, false},
		{"SASL/nocache", true, false, false},
		{"SASL2/cache", false, true, false},
		{"SASL2/nocache", false, false, false},
		{"FAST", false, false, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := newTestServer(b, features.Config{
				Mechanisms:          []string{"SCRAM-SHA-256-PLUS", "HT-SHA-256-EXPR"},
				ChannelBindingTypes: []cbind.Type{cbind.TLSExporter},
			})
			cfg := saslclient.Config{Password: alicePassword, Mechanisms: []string{"SCRAM-SHA-256-PLUS"}, DisableSASL2: bc.sasl1, UserAgent: saslclient.UserAgent{ID: uaID}}
			want := "SCRAM-SHA-256-PLUS:tls-exporter"
			if bc.cache {
				cfg.Cache = saslclient.NewMemoryCache(0)
			}
			tlsCfg := getPKI().clientTLS(tls.VersionTLS13)
			origin := jid.MustParse("alice@localhost")
			loginOnce := func(cfg saslclient.Config) saslclient.Result {
				c, err := saslclient.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				raw, err := net.Dial("tcp", srv.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer raw.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				session, err := xmpp.NewSession(ctx, origin.Domain(), origin, raw, 0, c.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
					return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, append(c.Features(), xmpp.BindResource())...)}
				}))
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				defer session.Close()
				r, _ := c.Result()
				return r
			}
			if bc.fast {
				cfg = tokenCfg(&saslclient.MemoryTokenStore{})
				cfg.Mechanisms = []string{"SCRAM-SHA-256-PLUS"}
				if r := loginOnce(cfg); !r.TokenStored {
					b.Fatalf("no token: %+v", r)
				}
				cfg.Password = ""
				want = "HT-SHA-256-EXPR"
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if r := loginOnce(cfg); r.Mechanism != want || r.SASL2 == bc.sasl1 {
					b.Fatalf("logged in with %+v", r)
				}
			}
			b.StopTimer()
			logins := float64(b.N) / b.Elapsed().Seconds()
			handshakes := measureHandshakes(b, max(b.N, 50))
			b.ReportMetric(logins, "logins/s")
			b.ReportMetric(handshakes, "handshakes/s")
			b.ReportMetric(logins/handshakes, "ratio")
		})
	}
}

// BenchmarkTLSHandshake measures bare TLS 1.3 handshakes over loopback TCP
// with the server certificate BenchmarkLogin uses.
func BenchmarkTLSHandshake(b *testing.B) {
	addr, stop := handshakeServer(b)
	defer stop()
	cfg := getPKI().clientTLS(tls.VersionTLS13)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		handshake(b, addr, cfg)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
}

// measureHandshakes returns the rate of n bare handshakes.
func measureHandshakes(b *testing.B, n int) float64 {
	addr, stop := handshakeServer(b)
	defer stop()
	cfg := getPKI().clientTLS(tls.VersionTLS13)
	start := time.Now()
	for range n {
		handshake(b, addr, cfg)
	}
	return float64(n) / time.Since(start).Seconds()
}

func handshake(b *testing.B, addr string, cfg *tls.Config) {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		b.Fatal(err)
	}
	// Read the server's close so that its side of the handshake is
	// counted too, as a login waits for the server's answers.
	var one [1]byte
	_, _ = tc.Read(one[:])
	tc.Close()
}

// handshakeServer accepts TLS 1.3 connections, completes the handshake
// (with the configuration a features server uses) and closes them.
func handshakeServer(b *testing.B) (string, func()) {
	p := getPKI()
	cfg := cbind.ServerConfig(p.serverTLS(p.server))
	addr, stop, err := xmpptest.Serve(func(raw net.Conn) {
		tc := tls.Server(cbind.NewConn(raw), cfg)
		_ = tc.Handshake()
		tc.Close()
	})
	if err != nil {
		b.Fatal(err)
	}
	return addr, stop
}
