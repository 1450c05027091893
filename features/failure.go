package features

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"

	"mellium.im/xmlstream"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// The SASL failure conditions of RFC 6120 §6.5.
const (
	condAborted            = "aborted"
	condAccountDisabled    = "account-disabled"
	condCredentialsExpired = "credentials-expired"
	condEncryptionRequired = "encryption-required"
	condIncorrectEncoding  = "incorrect-encoding"
	condInvalidAuthzid     = "invalid-authzid"
	condInvalidMechanism   = "invalid-mechanism"
	condMalformedRequest   = "malformed-request"
	condNotAuthorized      = "not-authorized"
	condTemporaryFailure   = "temporary-auth-failure"
)

// Errors raised by the negotiation itself (as opposed to the mechanisms).
var (
	errIncorrectEncoding  = errors.New("features: payload is not valid base64")
	errInvalidMechanism   = errors.New("features: mechanism not offered")
	errAborted            = errors.New("features: client aborted the exchange")
	errInvalidAuthzid     = errors.New("features: authzid not allowed")
	errMalformed          = errors.New("features: malformed request")
	errEncryptionRequired = errors.New("features: TLS is required before authentication")
	errPayloadTooLarge    = errors.New("features: payload too large")
	errUnexpectedElement  = errors.New("features: non-SASL element before authentication")
	errFASTUnavailable    = errors.New("features: FAST mechanism without <fast/> or user-agent id")
	// errBadToken is a FAST token that does not verify (wrong, replaced,
	// replayed count, unknown account): <not-authorized/> without a text
	// that could tell them apart.
	errBadToken = errors.New("features: FAST token does not verify")
	errBadTask  = errors.New("features: SASL2 task not offered or malformed")
	// errTLSUniqueOnTLS13 is a client binding to tls-unique on TLS 1.3,
	// where RFC 9266 leaves it undefined (slixmpp 1.8 and poezio do this).
	errTLSUniqueOnTLS13 = fmt.Errorf("%w: tls-unique on TLS 1.3", cbind.ErrUnavailable)
)

// failureCondition maps every error an exchange can end with to the RFC 6120
// §6.5 condition sent in <failure/>, and a short <text/> that names the
// cause without revealing whether the account exists. This is the only place
// where errors become SASL conditions; the SCRAM errors are mapped by the
// table in package scram (scram.Condition), which this defers to.
func failureCondition(err error) (condition, text string) {
	switch {
	case errors.As(err, new(errBindRefused)):
		return condTemporaryFailure, "the server could not bind a resource for this session"
	case errors.Is(err, errFASTUnavailable):
		return condMalformedRequest, "FAST needs a <fast/> element and a <user-agent/> id"
	case errors.Is(err, errBadToken):
		return condNotAuthorized, ""
	case errors.Is(err, errBadTask):
		return condMalformedRequest, "the task is not the one offered, or its data is malformed"
	case errors.Is(err, ErrBanned):
		return condTemporaryFailure, "too many failed logins from your address; try again later"
	case errors.Is(err, errBadPassword):
		return condNotAuthorized, ""
	case errors.Is(err, errTLSUniqueOnTLS13):
		return scram.Condition(err), "tls-unique is not defined on TLS 1.3; use tls-exporter or tls-server-end-point"
	case errors.Is(err, errAborted):
		return condAborted, ""
	case errors.Is(err, ErrAccountDisabled):
		return condAccountDisabled, ""
	case errors.Is(err, ErrCredentialsExpired):
		return condCredentialsExpired, ""
	case errors.Is(err, errEncryptionRequired):
		return condEncryptionRequired, "TLS is required before authentication"
	case errors.Is(err, errIncorrectEncoding):
		return condIncorrectEncoding, ""
	case errors.Is(err, errInvalidAuthzid):
		return condInvalidAuthzid, ""
	case errors.Is(err, errInvalidMechanism):
		return condInvalidMechanism, ""
	case errors.Is(err, ErrNotAuthorized):
		return condNotAuthorized, ""
	case errors.Is(err, errMalformed), errors.Is(err, errPayloadTooLarge):
		return condMalformedRequest, ""
	}
	// SCRAM errors (and PLAIN's, which reuse them); the text is the RFC 5802
	// e= value, which is the same for a wrong password and an unknown user.
	return scram.Condition(err), scram.ServerError(err)
}

// guessed reports whether err is a wrong password or an unknown user: what
// the login limiter counts.
func guessed(err error) bool {
	return errors.Is(err, scram.ErrInvalidProof) || errors.Is(err, errBadPassword) || errors.Is(err, errBadToken)
}

// maxLoggedReason caps the error text logged with a failure.
const maxLoggedReason = 200

// failureReason is err's text for the log (never a secret: no error of this
// package or of scram carries one).
func failureReason(err error) string {
	s := err.Error()
	if len(s) > maxLoggedReason {
		s = s[:maxLoggedReason]
	}
	return s
}

// failureElement is <failure xmlns='…'><condition/><text>…</text></failure>.
func failureElement(condition, text string) xml.TokenReader {
	inner := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: condition}})
	if text != "" {
		inner = xmlstream.MultiReader(inner, langText(text))
	}
	return xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: NS, Local: "failure"}})
}

// textElement is <name>text</name> in its parent's namespace.
func textElement(name, text string, attr ...xml.Attr) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}, Attr: attr})
}

// langText is the <text xml:lang='en'/> of a <failure/>.
func langText(text string) xml.TokenReader {
	return textElement("text", text, xml.Attr{Name: xml.Name{Space: "http://www.w3.org/XML/1998/namespace", Local: "lang"}, Value: "en"})
}

// additionalData is XEP-0388's <additional-data/> carrying data.
func additionalData(data []byte) xml.TokenReader {
	return textElement("additional-data", base64.StdEncoding.EncodeToString(data))
}
