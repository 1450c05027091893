package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/oauth"
)

func newMetrics(t testing.TB) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// compare checks the named metrics of reg against the text exposition
// format (HELP and TYPE lines are added from the metrics themselves).
func compare(t *testing.T, reg prometheus.Gatherer, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

const (
	helpLogins   = "# HELP xmppauth_sasl_logins_total Finished SASL attempts by mechanism, channel-binding type (\"none\" without) and result (\"success\" or the RFC 6120 failure condition).\n# TYPE xmppauth_sasl_logins_total counter\n"
	helpBans     = "# HELP xmppauth_sasl_bans_total Addresses the login limiter banned after repeated failures.\n# TYPE xmppauth_sasl_bans_total counter\n"
	helpDuration = "# HELP xmppauth_sasl_login_duration_seconds Time from <auth/> to <success/> or <failure/>, the login limiter's delay included, by result.\n# TYPE xmppauth_sasl_login_duration_seconds histogram\n"
	helpHTTP     = "# HELP xmppauth_httpauth_requests_total HTTP requests the XEP-0070 verifier decided, by outcome (\"granted\", \"reused\" or why it refused).\n# TYPE xmppauth_httpauth_requests_total counter\n"
	helpPending  = "# HELP xmppauth_httpauth_pending XEP-0070 confirmation requests waiting for an answer.\n# TYPE xmppauth_httpauth_pending gauge\n"
	helpOAuth    = "# HELP xmppauth_oauth_verifications_total Stanzas the XEP-0235 middleware decided, by result (\"verified\" or the XEP-0235 condition).\n# TYPE xmppauth_oauth_verifications_total counter\n"
)

func TestLogin(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []features.LoginEvent
		want   string // xmppauth_sasl_logins_total and xmppauth_sasl_bans_total
	}{{
		name: "success with channel binding",
		events: []features.LoginEvent{
			{Mechanism: "SCRAM-SHA-256-PLUS", ChannelBinding: cbind.TLSExporter},
			{Mechanism: "SCRAM-SHA-256-PLUS", ChannelBinding: cbind.TLSExporter},
			{Mechanism: "SCRAM-SHA-512-PLUS:tls-server-end-point", ChannelBinding: cbind.TLSServerEndPoint},
		},
		want: helpLogins +
			`xmppauth_sasl_logins_total{channel_binding="tls-exporter",mechanism="SCRAM-SHA-256-PLUS",result="success"} 2` + "\n" +
			`xmppauth_sasl_logins_total{channel_binding="tls-server-end-point",mechanism="SCRAM-SHA-512-PLUS:tls-server-end-point",result="success"} 1` + "\n" +
			helpBans + "xmppauth_sasl_bans_total 0\n",
	}, {
		name: "failures and a ban",
		events: []features.LoginEvent{
			{Mechanism: "PLAIN", Condition: "not-authorized"},
			{Mechanism: "PLAIN", Condition: "not-authorized", Banned: true},
			{Mechanism: "PLAIN", Condition: "temporary-auth-failure"},
			{Mechanism: "", Condition: "invalid-mechanism"},
			{Mechanism: "EXTERNAL", Condition: "account-disabled"},
		},
		want: helpLogins +
			`xmppauth_sasl_logins_total{channel_binding="none",mechanism="EXTERNAL",result="account-disabled"} 1` + "\n" +
			`xmppauth_sasl_logins_total{channel_binding="none",mechanism="PLAIN",result="not-authorized"} 2` + "\n" +
			`xmppauth_sasl_logins_total{channel_binding="none",mechanism="PLAIN",result="temporary-auth-failure"} 1` + "\n" +
			`xmppauth_sasl_logins_total{channel_binding="none",mechanism="other",result="invalid-mechanism"} 1` + "\n" +
			helpBans + "xmppauth_sasl_bans_total 1\n",
	}, {
		// A caller of the hook other than package features could pass
		// anything: identities and unbounded strings become "other".
		name: "hostile values",
		events: []features.LoginEvent{
			{Mechanism: "juliet@capulet.lit", ChannelBinding: "192.0.2.7", Condition: "romeo@montague.lit/orchard"},
			{Mechanism: "SCRAM-SHA-256-PLUS:2001:db8::1", ChannelBinding: "tls-exporter\x00", Condition: "success"},
			{Mechanism: "scram-sha-256", ChannelBinding: "TLS-EXPORTER", Condition: "Not-Authorized"},
			{Mechanism: strings.Repeat("A", 1<<16), ChannelBinding: "\xff\xfe", Condition: "\xff"},
			{Mechanism: "SCRAM-SHA-256:tls-exporter", Condition: "not-authorized "},
		},
		want: helpLogins +
			`xmppauth_sasl_logins_total{channel_binding="none",mechanism="other",result="other"} 1` + "\n" +
			`xmppauth_sasl_logins_total{channel_binding="other",mechanism="other",result="other"} 4` + "\n" +
			helpBans + "xmppauth_sasl_bans_total 0\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newMetrics(t)
			for _, e := range tc.events {
				m.Login(e)
			}
			compare(t, reg, tc.want, "xmppauth_sasl_logins_total", "xmppauth_sasl_bans_total")
		})
	}
}

func TestLoginDuration(t *testing.T) {
	m, reg := newMetrics(t)
	m.Login(features.LoginEvent{Mechanism: "SCRAM-SHA-256", Duration: 20 * time.Millisecond})
	m.Login(features.LoginEvent{Mechanism: "SCRAM-SHA-256", Duration: 3 * time.Second})
	m.Login(features.LoginEvent{Mechanism: "PLAIN", Condition: "not-authorized", Duration: 500 * time.Millisecond})
	compare(t, reg, helpDuration+`
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.005"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.01"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.025"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.05"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.1"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.25"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="0.5"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="1"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="2.5"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="5"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="10"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="30"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="not-authorized",le="+Inf"} 1
xmppauth_sasl_login_duration_seconds_sum{result="not-authorized"} 0.5
xmppauth_sasl_login_duration_seconds_count{result="not-authorized"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.005"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.01"} 0
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.025"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.05"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.1"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.25"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="0.5"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="1"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="2.5"} 1
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="5"} 2
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="10"} 2
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="30"} 2
xmppauth_sasl_login_duration_seconds_bucket{result="success",le="+Inf"} 2
xmppauth_sasl_login_duration_seconds_sum{result="success"} 3.02
xmppauth_sasl_login_duration_seconds_count{result="success"} 2
`, "xmppauth_sasl_login_duration_seconds")
}

func TestHTTPAuth(t *testing.T) {
	m, reg := newMetrics(t)
	for _, e := range []httpauth.Event{
		{Duration: time.Second},
		{Reused: true, Duration: time.Hour}, // not timed
		{Reason: httpauth.NoCredentials},
		{Reason: httpauth.NoCredentials},
		{Reason: httpauth.Denied, Duration: 10 * time.Second},
		{Reason: httpauth.TimedOut, Duration: 2 * time.Minute},
		{Reason: httpauth.Internal},
		{Reason: 200},
	} {
		m.HTTPAuth(e)
	}
	compare(t, reg, helpHTTP+`
xmppauth_httpauth_requests_total{outcome="denied"} 1
xmppauth_httpauth_requests_total{outcome="granted"} 1
xmppauth_httpauth_requests_total{outcome="internal"} 1
xmppauth_httpauth_requests_total{outcome="no_credentials"} 2
xmppauth_httpauth_requests_total{outcome="other"} 1
xmppauth_httpauth_requests_total{outcome="reused"} 1
xmppauth_httpauth_requests_total{outcome="timed_out"} 1
`, "xmppauth_httpauth_requests_total")

	durations := map[string]uint64{}
	sums := map[string]float64{}
	for _, s := range histograms(t, reg, "xmppauth_httpauth_duration_seconds") {
		durations[s.labels["outcome"]] = s.count
		sums[s.labels["outcome"]] = s.sum
	}
	wantCounts := map[string]uint64{"denied": 1, "granted": 1, "internal": 1, "no_credentials": 2, "other": 1, "timed_out": 1}
	if !equalMaps(durations, wantCounts) {
		t.Errorf("duration counts %v, want %v", durations, wantCounts)
	}
	if sums["granted"] != 1 || sums["timed_out"] != 120 {
		t.Errorf("duration sums %v", sums)
	}
}

func TestPendingHTTPAuth(t *testing.T) {
	m, reg := newMetrics(t)
	if n, err := testutil.GatherAndCount(reg, "xmppauth_httpauth_pending"); err != nil || n != 0 {
		t.Fatalf("gauge exported before PendingHTTPAuth: %d, %v", n, err)
	}
	a, b := 3, 0
	m.PendingHTTPAuth(func() int { return a })
	compare(t, reg, helpPending+"xmppauth_httpauth_pending 3\n", "xmppauth_httpauth_pending")
	m.PendingHTTPAuth(func() int { return b })
	m.PendingHTTPAuth(nil) // ignored
	a, b = 1, 4
	compare(t, reg, helpPending+"xmppauth_httpauth_pending 5\n", "xmppauth_httpauth_pending")
}

func TestOAuth(t *testing.T) {
	m, reg := newMetrics(t)
	for _, c := range []string{"", "", "invalid-nonce", "token-required", "error", "alice@example.net", "Invalid-Nonce"} {
		m.OAuth(oauth.Event{Condition: c})
	}
	compare(t, reg, helpOAuth+`
xmppauth_oauth_verifications_total{result="error"} 1
xmppauth_oauth_verifications_total{result="invalid-nonce"} 1
xmppauth_oauth_verifications_total{result="other"} 2
xmppauth_oauth_verifications_total{result="token-required"} 1
xmppauth_oauth_verifications_total{result="verified"} 2
`, "xmppauth_oauth_verifications_total")
}

func TestNew(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatal(err)
	}
	var already prometheus.AlreadyRegisteredError
	if _, err := metrics.New(reg); !errors.As(err, &already) {
		t.Errorf("second New on one registry: %v, want AlreadyRegisteredError", err)
	}

	// nil: nothing registered; the host registers it, here with a constant
	// label.
	m, err := metrics.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	reg = prometheus.NewPedanticRegistry()
	if err := prometheus.WrapRegistererWith(prometheus.Labels{"server": "a"}, reg).Register(m); err != nil {
		t.Fatal(err)
	}
	m.Login(features.LoginEvent{Mechanism: "PLAIN"})
	compare(t, reg, helpLogins+
		`xmppauth_sasl_logins_total{channel_binding="none",mechanism="PLAIN",result="success",server="a"} 1`+"\n",
		"xmppauth_sasl_logins_total")
}

// The names and help texts follow Prometheus' conventions (promlint).
func TestLint(t *testing.T) {
	m, _ := newMetrics(t)
	// Create one series of every metric, so that each is linted.
	m.Login(features.LoginEvent{Mechanism: "PLAIN", Banned: true})
	m.HTTPAuth(httpauth.Event{})
	m.PendingHTTPAuth(func() int { return 0 })
	m.OAuth(oauth.Event{})
	m.Nonces("nonces", oauth.NewMemoryNonces(0))
	problems, err := testutil.CollectAndLint(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(m); n < 9 {
		t.Errorf("only %d series collected", n)
	}
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
