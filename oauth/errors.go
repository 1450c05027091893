package oauth

import (
	"encoding/xml"
	"errors"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// Sentinel errors returned by parsing and verification. Each corresponds to
// one row of XEP-0235's error table or to one of the additional conditions
// listed in the package documentation; use [errors.Is] to test for them and
// [ErrorElement] to turn them into a stanza error.
var (
	// ErrDuplicatedParameter: an oauth_* element, or the <oauth/> element
	// itself, occurs more than once.
	ErrDuplicatedParameter = errors.New("oauth: duplicated parameter")
	// ErrInvalidConsumerKey: the consumer key is not known.
	ErrInvalidConsumerKey = errors.New("oauth: invalid consumer key")
	// ErrNonceReplayed: the nonce was already used with this consumer key and
	// token within the timestamp window.
	ErrNonceReplayed = errors.New("oauth: nonce already used")
	// ErrTimestampRefused: oauth_timestamp is malformed or outside the
	// configured window (stale or in the future).
	ErrTimestampRefused = errors.New("oauth: timestamp outside the accepted window")
	// ErrInvalidSignature: the signature does not match.
	ErrInvalidSignature = errors.New("oauth: invalid signature")
	// ErrInvalidToken: the token is unknown or was issued to another consumer.
	ErrInvalidToken = errors.New("oauth: invalid token")
	// ErrTokenExpired: the token is known but has expired.
	ErrTokenExpired = errors.New("oauth: token expired")
	// ErrMissingParameter: a required oauth_* element is missing or empty.
	ErrMissingParameter = errors.New("oauth: missing parameter")
	// ErrTokenRequired: the request carries no oauth_token, or a stanza that
	// requires OAuth carries no <oauth/> element.
	ErrTokenRequired = errors.New("oauth: token required")
	// ErrUnsupportedParameter: the <oauth/> element contains an unknown
	// element, an oversized value, a nested element, stray text, or an
	// oauth_version other than "1.0".
	ErrUnsupportedParameter = errors.New("oauth: unsupported parameter")
	// ErrUnsupportedSignatureMethod: the signature method is unknown, or is
	// PLAINTEXT where PLAINTEXT is not allowed.
	ErrUnsupportedSignatureMethod = errors.New("oauth: unsupported signature method")
	// ErrNonceStoreFull: the nonce store cannot remember another nonce.
	ErrNonceStoreFull = errors.New("oauth: nonce store full")
	// ErrStanzaTooLarge: the stanza exceeds Config.MaxStanzaBytes.
	ErrStanzaTooLarge = errors.New("oauth: stanza too large")
	// ErrUnknownConsumer is returned by a ConsumerStore for an unknown key.
	ErrUnknownConsumer = errors.New("oauth: unknown consumer")
	// ErrUnknownToken is returned by a TokenStore for an unknown token.
	ErrUnknownToken = errors.New("oauth: unknown token")
)

// paramError names the parameter an error is about. Names are fixed strings
// (or the local name of an unknown element), never values.
type paramError struct {
	err  error
	name string
}

func (e paramError) Error() string { return e.err.Error() + ": " + e.name }
func (e paramError) Unwrap() error { return e.err }

// storeError hides a store's own error text (which may contain anything)
// behind a fixed message while keeping it reachable through errors.Unwrap.
type storeError struct{ err error }

func (e storeError) Error() string { return "oauth: store failed" }
func (e storeError) Unwrap() error { return e.err }

type condition struct {
	typ  stanza.ErrorType
	cond stanza.Condition
	app  string // local name in NSErrors, or "" for none
}

var conditions = []struct {
	err error
	c   condition
}{
	{ErrDuplicatedParameter, condition{stanza.Modify, stanza.BadRequest, "duplicated-parameter"}},
	{ErrInvalidConsumerKey, condition{stanza.Auth, stanza.NotAuthorized, "invalid-consumer-key"}},
	{ErrNonceReplayed, condition{stanza.Auth, stanza.NotAuthorized, "invalid-nonce"}},
	{ErrTimestampRefused, condition{stanza.Auth, stanza.NotAuthorized, "invalid-nonce"}},
	{ErrInvalidSignature, condition{stanza.Auth, stanza.NotAuthorized, "invalid-signature"}},
	{ErrInvalidToken, condition{stanza.Auth, stanza.NotAuthorized, "invalid-token"}},
	{ErrTokenExpired, condition{stanza.Auth, stanza.NotAuthorized, "invalid-token"}},
	{ErrMissingParameter, condition{stanza.Modify, stanza.BadRequest, "missing-parameter"}},
	{ErrTokenRequired, condition{stanza.Auth, stanza.NotAuthorized, "token-required"}},
	{ErrUnsupportedParameter, condition{stanza.Modify, stanza.BadRequest, "unsupported-parameter"}},
	{ErrUnsupportedSignatureMethod, condition{stanza.Modify, stanza.BadRequest, "unsupported-signature-method"}},
	{ErrNonceStoreFull, condition{stanza.Wait, stanza.ResourceConstraint, ""}},
	{ErrStanzaTooLarge, condition{stanza.Modify, stanza.PolicyViolation, ""}},
}

func conditionOf(err error) condition {
	for _, c := range conditions {
		if errors.Is(err, c.err) {
			return c.c
		}
	}
	return condition{stanza.Cancel, stanza.InternalServerError, ""}
}

// StanzaError returns the stanza error for err and the local name of the
// application-specific condition in [NSErrors] ("" when there is none).
// Errors this package does not know map to internal-server-error.
func StanzaError(err error) (se stanza.Error, app string) {
	c := conditionOf(err)
	return stanza.Error{Type: c.typ, Condition: c.cond}, c.app
}

// ErrorElement returns the <error/> element to send for err: the generic
// condition and type from XEP-0235's error table and the application-specific
// condition element. It carries no text, so nothing about the request or the
// secrets leaks.
func ErrorElement(err error) xml.TokenReader {
	se, app := StanzaError(err)
	var payload xml.TokenReader
	if app != "" {
		payload = xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NSErrors, Local: app}})
	}
	return se.Wrap(payload)
}
