package metrics

import (
	"github.com/xmppauth/xmppauth"
)

// Instrument wires m into a plugin configuration: the three hooks
// (SASL.Observe, HTTPAuth.Observe, OAuth.Observe, each after a hook the host
// set already) and the stores cfg holds, named "credentials"
// (SASL.Store), "throttle" (SASL.Throttle.Store) and "nonces"
// (OAuth.Nonces). A nil store is left nil (the plugin's default, which is
// then not measured). Call it last, once cfg holds its stores; after
// xmppauth.New, Watch adds the pending gauge.
func (m *Metrics) Instrument(cfg *xmppauth.Config) {
	cfg.SASL.Observe = then(cfg.SASL.Observe, m.Login)
	cfg.HTTPAuth.Observe = then(cfg.HTTPAuth.Observe, m.HTTPAuth)
	cfg.OAuth.Observe = then(cfg.OAuth.Observe, m.OAuth)
	cfg.SASL.Store = m.Scram("credentials", cfg.SASL.Store)
	cfg.SASL.Throttle.Store = m.Throttle("throttle", cfg.SASL.Throttle.Store)
	cfg.OAuth.Nonces = m.Nonces("nonces", cfg.OAuth.Nonces)
}

// then is a hook that runs prev (when set), then f.
func then[E any](prev, f func(E)) func(E) {
	if prev == nil {
		return f
	}
	return func(e E) { prev(e); f(e) }
}

// Watch adds the XEP-0070 pending gauge of p (nothing while XEP-0070 is
// off).
func (m *Metrics) Watch(p *xmppauth.Plugin) {
	if v := p.HTTPAuth(); v != nil {
		m.PendingHTTPAuth(v.Pending)
	}
}
