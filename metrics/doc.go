// Package metrics exports the authentication of an xmppauth host as
// Prometheus metrics (github.com/prometheus/client_golang): SASL logins
// (RFC 6120 §6) by mechanism, channel-binding type and result, their
// duration and the login limiter's bans; XEP-0070 requests by outcome and
// the requests waiting for an answer; XEP-0235 verifications by result; and
// the calls, errors and latency of the stores.
//
// It is a module of its own (github.com/xmppauth/xmppauth/metrics) so that
// hosts that do not use Prometheus never depend on it: the protocol packages
// only offer hooks (features.Config.Observe, httpauth.Config.Observe,
// oauth.Config.Observe, httpauth.Verifier.Pending) and take stores as
// interfaces, and this package fills them in:
//
//	m, err := metrics.New(prometheus.DefaultRegisterer)
//	…
//	cfg.SASL.Observe = m.Login
//	cfg.SASL.Store = m.Scram("credentials", store)
//	cfg.SASL.Throttle.Store = m.Throttle("throttle", throttle.NewMemoryStore(0, nil))
//	cfg.HTTPAuth.Observe = m.HTTPAuth
//	cfg.OAuth.Observe = m.OAuth
//	cfg.OAuth.Nonces = m.Nonces("nonces", oauth.NewMemoryNonces(0))
//	plugin, err := xmppauth.New(cfg)
//	if v := plugin.HTTPAuth(); v != nil {
//		m.PendingHTTPAuth(v.Pending)
//	}
//	mux.Handle("GET /metrics", promhttp.Handler())
//
// # Metrics
//
// Every name is in the namespace "xmppauth". Label values come from fixed
// sets only; a value outside its set (which the protocol packages never
// give, but a caller of the hooks could) is counted as "other".
//
//	xmppauth_sasl_logins_total                 counter    mechanism, channel_binding, result
//	xmppauth_sasl_login_duration_seconds       histogram  result
//	xmppauth_sasl_bans_total                   counter
//	xmppauth_httpauth_requests_total           counter    outcome
//	xmppauth_httpauth_duration_seconds         histogram  outcome
//	xmppauth_httpauth_pending                  gauge
//	xmppauth_oauth_verifications_total         counter    result
//	xmppauth_store_operations_total            counter    store, op, result
//	xmppauth_store_duration_seconds            histogram  store, op
//
// The label values:
//
//   - mechanism: a mechanism package features can offer — PLAIN, EXTERNAL,
//     SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, their -PLUS variants and
//     the -PLUS pseudomechanisms such as SCRAM-SHA-256-PLUS:tls-exporter —
//     or "other", which includes an attempt that named no offered mechanism.
//   - channel_binding: tls-unique, tls-server-end-point, tls-exporter, or
//     "none" (no binding, and every failure).
//   - result (SASL): "success" or the RFC 6120 §6.5 condition sent: aborted,
//     account-disabled, credentials-expired, encryption-required,
//     incorrect-encoding, invalid-authzid, invalid-mechanism,
//     malformed-request, mechanism-too-weak, not-authorized,
//     temporary-auth-failure (a banned address gets this one).
//   - outcome (XEP-0070): "granted", "reused" (a HEAD or OPTIONS
//     confirmation used again, not timed), or the httpauth.Reason as a fixed
//     identifier: no_credentials, bad_credentials, used_transaction,
//     unknown_host, bad_request, forbidden, rate_limited, too_many_pending,
//     overloaded, offline, denied, timed_out, could_not_answer,
//     session_ended, canceled, disabled, internal. (Not Reason.String(),
//     which is prose for logs.)
//   - result (XEP-0235): "verified" or the XEP-0235 application condition:
//     duplicated-parameter, invalid-consumer-key, invalid-nonce,
//     invalid-signature, invalid-token, missing-parameter, token-required,
//     unsupported-parameter, unsupported-signature-method, and "error" for
//     refusals without one (a full nonce store, an oversized stanza).
//   - store: the name the host gave the decorator (Scram, Throttle,
//     Nonces). op and result, for each decorator:
//     Scram: credential (ok, unknown_user, error, canceled) and, when the
//     store implements features.CredentialUpdater, set_credential (ok,
//     error, canceled); Throttle: incr, get, delete (ok, error, canceled);
//     Nonces: use_nonce (ok, replayed, full, error, canceled). An unknown
//     user and a replayed nonce are answers, not errors; "canceled" is a
//     call whose context was canceled (the client went away), while a
//     deadline that passed is an error. Each decorator exports its results
//     at 0 from the start, so that an alert on errors has a series.
//
// No label carries a username, JID, address, consumer key, token or nonce:
// those are in the log lines of the protocol packages.
//
// Left out: per-user and per-address metrics (unbounded; use the logs);
// the XEP-0070 store (httpauth.Store, whose interface is not yet stable);
// the XEP-0235 consumer and token stores; connection, stream and stanza
// counts, which are the host's; exemplars and native histograms. Series
// with labels other than the store's appear on first use, not at 0.
package metrics
