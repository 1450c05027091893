package metrics

import "github.com/xmppauth/xmppauth/httpauth"

// httpOutcomes are the values of the outcome label of the XEP-0070 metrics
// for each refusal. They are fixed identifiers, not Reason.String(), which
// is prose for logs (with spaces, and reworded at will).
var httpOutcomes = [...]string{
	httpauth.NoCredentials:    "no_credentials",
	httpauth.BadCredentials:   "bad_credentials",
	httpauth.UsedTransaction:  "used_transaction",
	httpauth.UnknownHost:      "unknown_host",
	httpauth.BadRequest:       "bad_request",
	httpauth.Forbidden:        "forbidden",
	httpauth.RateLimited:      "rate_limited",
	httpauth.TooManyPending:   "too_many_pending",
	httpauth.Overloaded:       "overloaded",
	httpauth.Offline:          "offline",
	httpauth.Denied:           "denied",
	httpauth.TimedOut:         "timed_out",
	httpauth.CouldNotAnswer:   "could_not_answer",
	httpauth.SessionEnded:     "session_ended",
	httpauth.Canceled:         "canceled",
	httpauth.Disabled:         "disabled",
	httpauth.Internal:         "internal",
	httpauth.StoreUnavailable: "store_unavailable",
}

// httpOutcomeLabel returns the outcome label of e.
func httpOutcomeLabel(e httpauth.Event) string {
	switch {
	case e.Reason == 0 && e.Reused:
		return "reused"
	case e.Reason == 0:
		return "granted"
	case int(e.Reason) < len(httpOutcomes) && httpOutcomes[e.Reason] != "":
		return httpOutcomes[e.Reason]
	}
	return other
}

// HTTPAuth records a request the XEP-0070 verifier decided: set it as
// httpauth.Config.Observe (cfg.HTTPAuth.Observe = m.HTTPAuth). A Reason
// this package does not know is counted as "other".
func (m *Metrics) HTTPAuth(e httpauth.Event) {
	outcome := httpOutcomeLabel(e)
	m.httpRequests.WithLabelValues(outcome).Inc()
	if !e.Reused {
		m.httpDuration.WithLabelValues(outcome).Observe(e.Duration.Seconds())
	}
}

// PendingHTTPAuth makes xmppauth_httpauth_pending report pending, usually
// the Verifier's Pending method (m.PendingHTTPAuth(v.Pending)). With
// several verifiers, call it for each: the gauge is their sum. Until it is
// called the gauge is not exported. pending runs on every scrape and must be
// safe for concurrent use.
func (m *Metrics) PendingHTTPAuth(pending func() int) {
	if pending != nil {
		m.pending.add(pending)
	}
}
