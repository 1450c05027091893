package metrics

import (
	"errors"
	"strings"
	"testing"

	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
)

// Every Reason package httpauth names has an outcome of its own, and no
// other does: a Reason added there fails here until it is given one.
func TestHTTPOutcomesCoverReasons(t *testing.T) {
	for r := 1; r < 256; r++ {
		reason := httpauth.Reason(r)
		named := !strings.HasPrefix(reason.String(), "Reason(")
		got := httpOutcomeLabel(httpauth.Event{Reason: reason})
		if named && got == other {
			t.Errorf("%v (%d) has no outcome label", reason, r)
		}
		if !named && got != other {
			t.Errorf("unnamed Reason(%d) has outcome %q", r, got)
		}
	}
}

// Every condition the XEP-0235 middleware can report (StanzaError's
// application condition, "error" when there is none, as
// oauth.Config.Observe reports it) has a result of its own.
func TestOAuthResultsCoverConditions(t *testing.T) {
	for _, err := range []error{
		oauth.ErrDuplicatedParameter, oauth.ErrInvalidConsumerKey, oauth.ErrNonceReplayed,
		oauth.ErrTimestampRefused, oauth.ErrInvalidSignature, oauth.ErrInvalidToken, oauth.ErrTokenExpired,
		oauth.ErrMissingParameter, oauth.ErrTokenRequired, oauth.ErrUnsupportedParameter,
		oauth.ErrUnsupportedSignatureMethod, oauth.ErrNonceStoreFull, oauth.ErrStanzaTooLarge,
		oauth.ErrUnknownConsumer, oauth.ErrUnknownToken, errors.New("a store failed"),
	} {
		_, cond := oauth.StanzaError(err)
		if cond == "" {
			cond = "error"
		}
		if got := oauthResultLabel(cond); got == other {
			t.Errorf("%v: condition %q has no result label", err, cond)
		}
	}
}
