package metrics

import "github.com/xmppauth/xmppauth/oauth"

// oauthResults are the values of the result label of
// xmppauth_oauth_verifications_total besides "verified" and "other": the
// application conditions of XEP-0235 that package oauth sends, and "error"
// for the refusals that have none (a full nonce store, an oversized stanza,
// a store failure).
var oauthResults = set(
	"duplicated-parameter",
	"invalid-consumer-key",
	"invalid-nonce",
	"invalid-signature",
	"invalid-token",
	"missing-parameter",
	"token-required",
	"unsupported-parameter",
	"unsupported-signature-method",
	"error",
)

func oauthResultLabel(condition string) string {
	if condition == "" {
		return "verified"
	}
	return label(oauthResults, condition, other)
}

// OAuth records a stanza the XEP-0235 middleware decided: set it as
// oauth.Config.Observe (cfg.OAuth.Observe = m.OAuth). A condition this
// package does not know is counted as "other".
func (m *Metrics) OAuth(e oauth.Event) {
	m.oauth.WithLabelValues(oauthResultLabel(e.Condition)).Inc()
}
