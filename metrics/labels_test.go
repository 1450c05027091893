package metrics_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
)

// allowed is the table of the package documentation: every value each label
// may take. The store label is the host's and not listed.
var allowed = map[string][]string{
	"mechanism": {
		"PLAIN", "EXTERNAL",
		"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512",
		"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS",
		"SCRAM-SHA-1-PLUS:tls-unique", "SCRAM-SHA-1-PLUS:tls-server-end-point", "SCRAM-SHA-1-PLUS:tls-exporter",
		"SCRAM-SHA-256-PLUS:tls-unique", "SCRAM-SHA-256-PLUS:tls-server-end-point", "SCRAM-SHA-256-PLUS:tls-exporter",
		"SCRAM-SHA-512-PLUS:tls-unique", "SCRAM-SHA-512-PLUS:tls-server-end-point", "SCRAM-SHA-512-PLUS:tls-exporter",
		"other",
	},
	"channel_binding": {"tls-unique", "tls-server-end-point", "tls-exporter", "none", "other"},
	"result": {
		// SASL
		"success", "aborted", "account-disabled", "credentials-expired", "encryption-required",
		"incorrect-encoding", "invalid-authzid", "invalid-mechanism", "malformed-request",
		"mechanism-too-weak", "not-authorized", "temporary-auth-failure",
		// XEP-0235
		"verified", "duplicated-parameter", "invalid-consumer-key", "invalid-nonce", "invalid-signature",
		"invalid-token", "missing-parameter", "token-required", "unsupported-parameter",
		"unsupported-signature-method", "error",
		// stores
		"ok", "unknown_user", "replayed", "full", "canceled",
		"other",
	},
	"outcome": {
		"granted", "reused", "no_credentials", "bad_credentials", "used_transaction", "unknown_host",
		"bad_request", "forbidden", "rate_limited", "too_many_pending", "overloaded", "offline", "denied",
		"timed_out", "could_not_answer", "session_ended", "canceled", "disabled", "internal", "store_unavailable", "other",
	},
	"op":    {"credential", "set_credential", "incr", "get", "delete", "use_nonce"},
	"store": nil,
}

// checkLabels fails for a label value outside allowed, and for any value
// that reads as a JID with a localpart or an IP address.
func checkLabels(t *testing.T, values map[string]map[string]bool) {
	t.Helper()
	for name, vs := range values {
		known, ok := allowed[name]
		if !ok {
			t.Errorf("unexpected label %q", name)
			continue
		}
		for v := range vs {
			if name != "store" && !contains(known, v) {
				t.Errorf("label %s=%q is not in the documented set", name, v)
			}
			if j, err := jid.Parse(v); err == nil && j.Localpart() != "" {
				t.Errorf("label %s=%q is a JID", name, v)
			}
			if _, err := netip.ParseAddr(v); err == nil {
				t.Errorf("label %s=%q is an IP address", name, v)
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// hostile are strings a careless or hostile caller of the hooks might pass:
// identities, addresses, near misses of real values, unbounded input.
var hostile = []string{
	"juliet@capulet.lit", "romeo@montague.lit/orchard", "192.0.2.1", "2001:db8::1", "[2001:db8::1]:5222",
	"success", "verified", "granted", "none", "Not-Authorized", "not-authorized\n", "PLAIN ", "plain",
	"SCRAM-SHA-256:tls-exporter", "SCRAM-SHA-256-PLUS:tls-exporter:x", "SCRAM-SHA3-512", "tls-exporter\x00",
	"\xff\xfe", "", strings.Repeat("x", 1<<12),
}

// No label value is ever an identity or outside the documented sets, even
// when every field of every hook carries hostile values; valid values still
// pass through.
func TestLabelsBounded(t *testing.T) {
	m, reg := newMetrics(t)
	for _, a := range hostile {
		for _, b := range hostile {
			m.Login(features.LoginEvent{Mechanism: a, ChannelBinding: cbind.Type(b), Condition: b, Banned: true})
			m.Login(features.LoginEvent{Mechanism: b, ChannelBinding: cbind.Type(a), Condition: a})
		}
		m.OAuth(oauth.Event{Condition: a})
	}
	for r := 0; r < 256; r++ {
		m.HTTPAuth(httpauth.Event{Reason: httpauth.Reason(r)})
		m.HTTPAuth(httpauth.Event{Reason: httpauth.Reason(r), Reused: true})
	}
	for _, v := range allowed["mechanism"] {
		m.Login(features.LoginEvent{Mechanism: v, ChannelBinding: cbind.TLSExporter, Condition: "not-authorized"})
	}
	values := labelValues(t, reg)
	checkLabels(t, values)
	for _, want := range []struct{ label, value string }{
		{"mechanism", "SCRAM-SHA-512-PLUS:tls-unique"}, {"mechanism", "other"},
		{"channel_binding", "tls-exporter"}, {"channel_binding", "none"}, {"channel_binding", "other"},
		{"result", "not-authorized"}, {"result", "success"}, {"result", "other"},
		{"outcome", "granted"}, {"outcome", "reused"}, {"outcome", "internal"}, {"outcome", "other"},
	} {
		if !values[want.label][want.value] {
			t.Errorf("no series with %s=%q", want.label, want.value)
		}
	}
	if n := len(values["mechanism"]); n != len(allowed["mechanism"]) {
		t.Errorf("%d mechanism values, want %d", n, len(allowed["mechanism"]))
	}
}

func FuzzLoginLabels(f *testing.F) {
	f.Add("SCRAM-SHA-256-PLUS", "tls-exporter", "", int64(time.Millisecond))
	f.Add("PLAIN", "", "not-authorized", int64(time.Second))
	f.Add("juliet@capulet.lit", "192.0.2.1", "romeo@montague.lit", int64(-1))
	f.Add("SCRAM-SHA-1-PLUS:tls-unique", "tls-unique", "success", int64(0))
	f.Fuzz(func(t *testing.T, mechanism, binding, condition string, d int64) {
		m, reg := newMetrics(t)
		m.Login(features.LoginEvent{Mechanism: mechanism, ChannelBinding: cbind.Type(binding), Condition: condition, Duration: time.Duration(d)})
		m.OAuth(oauth.Event{Condition: condition})
		checkLabels(t, labelValues(t, reg))
	})
}
