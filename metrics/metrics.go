package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric name.
const Namespace = "xmppauth"

// Metrics holds the collectors of the package. Its methods are the hooks of
// the protocol packages (features.Config.Observe, httpauth.Config.Observe,
// oauth.Config.Observe) and the store decorators. It is a
// prometheus.Collector; all of its methods are safe for concurrent use.
type Metrics struct {
	logins        *prometheus.CounterVec
	loginDuration *prometheus.HistogramVec
	bans          prometheus.Counter

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	pending      *pendingCollector

	oauth *prometheus.CounterVec

	storeOps      *prometheus.CounterVec
	storeDuration *prometheus.HistogramVec
}

var _ prometheus.Collector = (*Metrics)(nil)

// Histogram buckets, in seconds.
var (
	// A login is a few round trips, the limiter's delay and the step
	// timeout (30 s by default) at worst.
	loginBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// An XEP-0070 request that asks somebody waits for a person, up to
	// httpauth's Timeout (2 minutes by default).
	httpBuckets = []float64{.005, .05, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}
	// A store is memory (well under a millisecond) or a round trip to a
	// database.
	storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
)

// New returns the package's metrics, registered with reg. A nil reg
// registers nothing: register the returned Metrics (a prometheus.Collector)
// yourself, for example through prometheus.WrapRegistererWith to add
// constant labels. Registering two Metrics with one registry fails with a
// prometheus.AlreadyRegisteredError.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "sasl", Name: "logins_total",
			Help: `Finished SASL attempts by mechanism, channel-binding type ("none" without) and result ("success" or the RFC 6120 failure condition).`,
		}, []string{"mechanism", "channel_binding", "result"}),
		loginDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "sasl", Name: "login_duration_seconds",
			Help:    "Time from <auth/> to <success/> or <failure/>, the login limiter's delay included, by result.",
			Buckets: loginBuckets,
		}, []string{"result"}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "sasl", Name: "bans_total",
			Help: "Addresses the login limiter banned after repeated failures.",
		}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "httpauth", Name: "requests_total",
			Help: `HTTP requests the XEP-0070 verifier decided, by outcome ("granted", "reused" or why it refused).`,
		}, []string{"outcome"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "httpauth", Name: "duration_seconds",
			Help:    "Time the XEP-0070 verifier took, the user's answer included, by outcome (reused confirmations are not timed).",
			Buckets: httpBuckets,
		}, []string{"outcome"}),
		pending: &pendingCollector{desc: prometheus.NewDesc(
			prometheus.BuildFQName(Namespace, "httpauth", "pending"),
			"XEP-0070 confirmation requests waiting for an answer.", nil, nil)},
		oauth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "oauth", Name: "verifications_total",
			Help: `Stanzas the XEP-0235 middleware decided, by result ("verified" or the XEP-0235 condition).`,
		}, []string{"result"}),
		storeOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "store", Name: "operations_total",
			Help: `Store calls by store name, operation and result ("ok", "error", "canceled", or an answer such as "unknown_user").`,
		}, []string{"store", "op", "result"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "store", Name: "duration_seconds",
			Help:    "Latency of store calls by store name and operation.",
			Buckets: storeBuckets,
		}, []string{"store", "op"}),
	}
	if reg != nil {
		if err := reg.Register(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.logins, m.loginDuration, m.bans,
		m.httpRequests, m.httpDuration, m.pending,
		m.oauth,
		m.storeOps, m.storeDuration,
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// pendingCollector is the xmppauth_httpauth_pending gauge: the sum of the
// functions given to PendingHTTPAuth, absent until there is one (so that a
// host without XEP-0070 does not show a gauge that is always 0).
type pendingCollector struct {
	desc  *prometheus.Desc
	mu    sync.Mutex
	funcs []func() int
}

func (p *pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	funcs := p.funcs
	p.mu.Unlock()
	if len(funcs) == 0 {
		return
	}
	n := 0
	for _, f := range funcs {
		n += f()
	}
	ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(n))
}

func (p *pendingCollector) add(f func() int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A new slice, so that a Collect holding the old one is not disturbed.
	p.funcs = append(p.funcs[:len(p.funcs):len(p.funcs)], f)
}
