package metrics_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"log/slog"
	"net"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// loginServer is a features.Server on loopback wired to m the way the
// package documentation says, with alice@localhost (password
// "alice-secret"). login logs in with a mellium client (SCRAM-SHA-256-PLUS
// over TLS 1.3, so tls-exporter) and returns once the server's negotiation
// has ended, so that Observe has run.
func loginServer(tb testing.TB, m *metrics.Metrics) (login func(password string) error) {
	tb.Helper()
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice@localhost", "alice-secret", scram.MinIterations, crypto.SHA1, crypto.SHA256, crypto.SHA512); err != nil {
		tb.Fatal(err)
	}
	ca := xmpptest.NewCA()
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{ca.Server("localhost")}, MinVersion: tls.VersionTLS12}
	cfg := features.Config{
		Domains:   []string{"localhost"},
		Store:     store,
		TLSConfig: tlsCfg,
		Logger:    slog.New(slog.DiscardHandler),
	}
	if m != nil {
		cfg.Store = m.Scram("credentials", store)
		cfg.Throttle.Store = m.Throttle("throttle", throttle.NewMemoryStore(0, nil))
		cfg.Observe = m.Login
	}
	auth, err := features.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	results := make(chan xmpptest.Result, 1)
	addr := xmpptest.Listen(tb, xmpptest.SASLServer(auth, tlsCfg, func(r xmpptest.Result) { results <- r }))
	clientTLS := ca.ClientTLS(tls.VersionTLS13)
	return func(password string) error {
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		defer raw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		origin := jid.MustParse("alice@localhost")
		s, err := xmpp.NewSession(ctx, origin.Domain(), origin, raw, 0, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.StartTLS(clientTLS),
				xmpp.SASL("", password, sasl.ScramSha256Plus),
				xmpp.BindResource(),
			}}
		}))
		if err == nil {
			s.Close()
		}
		// Going away ends a failed negotiation, which would otherwise wait
		// for another attempt.
		raw.Close()
		// The channel orders the server's Observe before what the caller
		// reads next.
		select {
		case <-results:
		case <-ctx.Done():
			tb.Fatal("the server never finished negotiating")
		}
		return err
	}
}

// A real login over loopback, a mellium client against a features.Server
// wired the way the package documentation says, shows in the counters:
// one success with tls-exporter, then one wrong password.
func TestEndToEnd(t *testing.T) {
	m, reg := newMetrics(t)
	login := loginServer(t, m)
	if err := login("alice-secret"); err != nil {
		t.Fatalf("login: %v", err)
	}
	compare(t, reg, helpLogins+`
xmppauth_sasl_logins_total{channel_binding="tls-exporter",mechanism="SCRAM-SHA-256-PLUS",result="success"} 1
`, "xmppauth_sasl_logins_total")
	if err := login("wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	compare(t, reg, helpLogins+`
xmppauth_sasl_logins_total{channel_binding="none",mechanism="SCRAM-SHA-256-PLUS",result="not-authorized"} 1
xmppauth_sasl_logins_total{channel_binding="tls-exporter",mechanism="SCRAM-SHA-256-PLUS",result="success"} 1
`, "xmppauth_sasl_logins_total")

	results2 := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "xmppauth_store_operations_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			key := ""
			for _, l := range s.GetLabel() {
				key += l.GetValue() + "/"
			}
			results2[key] = s.GetCounter().GetValue()
		}
	}
	// Labels sorted by name: op, result, store.
	if results2["credential/ok/credentials/"] < 2 {
		t.Errorf("credential lookups: %v", results2)
	}
	if results2["credential/error/credentials/"] != 0 || results2["incr/error/throttle/"] != 0 {
		t.Errorf("store errors: %v", results2)
	}
	if results2["incr/ok/throttle/"] < 1 {
		t.Errorf("the wrong password was not counted by the limiter's store: %v", results2)
	}
	checkLabels(t, labelValues(t, reg))
}
