package metrics

import (
	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// Label values outside the known sets.
const (
	other = "other"
	none  = "none"
)

// saslResults are the values of the result label of the SASL metrics:
// "success" and the conditions of RFC 6120 §6.5.
var saslResults = set(
	"success",
	"aborted",
	"account-disabled",
	"credentials-expired",
	"encryption-required",
	"incorrect-encoding",
	"invalid-authzid",
	"invalid-mechanism",
	"malformed-request",
	"mechanism-too-weak",
	"not-authorized",
	"temporary-auth-failure",
)

// channelBindings are the values of the channel_binding label besides
// "none".
var channelBindings = set(string(cbind.TLSUnique), string(cbind.TLSServerEndPoint), string(cbind.TLSExporter))

// mechanisms are the values of the mechanism label besides "other": every
// mechanism package features can offer, pseudomechanisms included.
var mechanisms = func() map[string]string {
	names := []string{features.PLAIN, features.EXTERNAL}
	for _, m := range scram.Mechanisms() {
		names = append(names, m.Name())
		if m.Plus() {
			for cb := range channelBindings {
				names = append(names, cbind.Pseudomechanism(m.Name(), cbind.Type(cb)))
			}
		}
	}
	return set(names...)
}()

// set maps each value to itself, so that a label is always one of these
// strings and never the caller's.
func set(values ...string) map[string]string {
	m := make(map[string]string, len(values))
	for _, v := range values {
		m[v] = v
	}
	return m
}

// label returns v if it is in known, else dflt.
func label(known map[string]string, v, dflt string) string {
	if l, ok := known[v]; ok {
		return l
	}
	return dflt
}

func mechanismLabel(m string) string { return label(mechanisms, m, other) }

func channelBindingLabel(t cbind.Type) string {
	if t == "" {
		return none
	}
	return label(channelBindings, string(t), other)
}

func saslResultLabel(condition string) string {
	if condition == "" {
		return "success"
	}
	if condition == "success" {
		return other
	}
	return label(saslResults, condition, other)
}

// Login records a finished SASL attempt: set it as features.Config.Observe
// (cfg.SASL.Observe = m.Login). A mechanism, channel-binding type or
// condition outside the sets in the package documentation is counted as
// "other".
func (m *Metrics) Login(e features.LoginEvent) {
	result := saslResultLabel(e.Condition)
	m.logins.WithLabelValues(mechanismLabel(e.Mechanism), channelBindingLabel(e.ChannelBinding), result).Inc()
	m.loginDuration.WithLabelValues(result).Observe(e.Duration.Seconds())
	if e.Banned {
		m.bans.Inc()
	}
}
