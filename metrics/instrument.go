package metrics

import (
	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
)

// Instrument wires m into a plugin configuration: the three hooks
// (SASL.Observe, HTTPAuth.Observe, OAuth.Observe, each after a hook the host
// set already) and the stores cfg holds, named "credentials"
// (SASL.Store), "throttle" (SASL.Throttle.Store) and "nonces"
// (OAuth.Nonces). A nil store is left nil (the plugin's default, which is
// then not measured). Call it last, once cfg holds its stores; after
// xmppauth.New, Watch adds the pending gauge.
func (m *Metrics) Instrument(cfg *xmppauth.Config) {
	if prev := cfg.SASL.Observe; prev != nil {
		cfg.SASL.Observe = func(e features.LoginEvent) { prev(e); m.Login(e) }
	} else {
		cfg.SASL.Observe = m.Login
	}
	if prev := cfg.HTTPAuth.Observe; prev != nil {
		cfg.HTTPAuth.Observe = func(e httpauth.Event) { prev(e); m.HTTPAuth(e) }
	} else {
		cfg.HTTPAuth.Observe = m.HTTPAuth
	}
	if prev := cfg.OAuth.Observe; prev != nil {
		cfg.OAuth.Observe = func(e oauth.Event) { prev(e); m.OAuth(e) }
	} else {
		cfg.OAuth.Observe = m.OAuth
	}
	cfg.SASL.Store = m.Scram("credentials", cfg.SASL.Store)
	cfg.SASL.Throttle.Store = m.Throttle("throttle", cfg.SASL.Throttle.Store)
	cfg.OAuth.Nonces = m.Nonces("nonces", cfg.OAuth.Nonces)
}

// Watch adds the XEP-0070 pending gauge of p (nothing while XEP-0070 is
// off).
func (m *Metrics) Watch(p *xmppauth.Plugin) {
	if v := p.HTTPAuth(); v != nil {
		m.PendingHTTPAuth(v.Pending)
	}
}
