package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// Instrument sets every hook (keeping the host's), wraps the stores the
// configuration holds and leaves nil ones nil.
func TestInstrument(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	hostSaw := 0
	cfg := xmppauth.Config{Domains: []string{"localhost"}}
	cfg.SASL.Store = scram.NewMemoryStore()
	cfg.SASL.Observe = func(features.LoginEvent) { hostSaw++ }
	cfg.SASL.Throttle.Store = throttle.NewMemoryStore(0, nil)
	m.Instrument(&cfg)
	if cfg.HTTPAuth.Observe == nil || cfg.OAuth.Observe == nil || cfg.OAuth.Nonces != nil {
		t.Fatal("hooks not set, or a nil store made non-nil")
	}
	if _, ok := cfg.SASL.Store.(features.CredentialUpdater); !ok {
		t.Error("the wrapped memory store lost CredentialUpdater")
	}
	cfg.SASL.Observe(features.LoginEvent{Mechanism: "PLAIN"})
	cfg.OAuth.Observe(oauth.Event{})
	if hostSaw != 1 {
		t.Errorf("the host's own hook ran %d times", hostSaw)
	}
	got, err := testutil.GatherAndCount(reg, "xmppauth_sasl_logins_total", "xmppauth_oauth_verifications_total")
	if err != nil || got != 2 {
		t.Errorf("series: %d, %v", got, err)
	}
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.Watch(p) // XEP-0070 off: no gauge
	out, _ := testutil.GatherAndCount(reg, "xmppauth_httpauth_pending")
	if out != 0 {
		t.Error("pending gauge while XEP-0070 is off")
	}
}
