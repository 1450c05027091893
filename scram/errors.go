package scram

import "errors"

// Errors returned by Exchange.Step. Each is matched with errors.Is; the
// returned error may wrap one of them with detail that is safe to log: it
// never contains secrets, and of the client's bytes at most a channel-binding
// type name that passed the cb-name syntax check. A Store or
// ChannelBinding.Data error is wrapped as well. ServerError gives the RFC
// 5802 "e=" value of each and Condition the RFC 6120 SASL failure condition.
var (
	// ErrMalformed: the message does not follow the RFC 5802 §7 grammar, or a
	// field exceeds this package's size limits.
	ErrMalformed = errors.New("scram: malformed message")
	// ErrInvalidEncoding: a base64 field (c= or p=) is not valid base64, or
	// the proof has the wrong length for the hash.
	ErrInvalidEncoding = errors.New("scram: invalid encoding")
	// ErrExtensionsNotSupported: the client sent the reserved mandatory
	// extension attribute "m".
	ErrExtensionsNotSupported = errors.New("scram: mandatory extensions not supported")
	// ErrInvalidProof: the client proof is wrong. It is also the error for a
	// user the Store does not know, so the two cannot be told apart.
	ErrInvalidProof = errors.New("scram: invalid proof")
	// ErrChannelBindingsDontMatch: the c= attribute is not the base64 of the
	// GS2 header plus this connection's channel-binding data; also returned
	// when a client selects a -PLUS mechanism but does not send the "p" flag.
	ErrChannelBindingsDontMatch = errors.New("scram: channel bindings don't match")
	// ErrServerDoesSupportCB: the client sent the GS2 flag "y" (it supports
	// channel binding but believes the server does not) on a connection where
	// the server advertised a -PLUS mechanism: a downgrade attack.
	ErrServerDoesSupportCB = errors.New("scram: server does support channel binding")
	// ErrChannelBindingNotSupported: the client sent "p=" on a mechanism
	// without -PLUS.
	ErrChannelBindingNotSupported = errors.New("scram: channel binding not supported by this mechanism")
	// ErrUnsupportedCBType: the client asked for a channel-binding type that
	// this connection cannot provide, the host disabled, or that differs from
	// the type the client selected with a pseudomechanism.
	ErrUnsupportedCBType = errors.New("scram: unsupported channel-binding type")
	// ErrInvalidUsernameEncoding: the user name or authzid is empty, not
	// UTF-8, contains NUL, or uses an "=" escape other than =2C and =3D.
	ErrInvalidUsernameEncoding = errors.New("scram: invalid username encoding")
	// ErrNonceMismatch: the nonce in client-final is not the combined nonce
	// of this exchange.
	ErrNonceMismatch = errors.New("scram: nonce mismatch")
	// ErrExchangeOver: Step was called after the exchange succeeded or failed.
	ErrExchangeOver = errors.New("scram: exchange is over")
	// ErrStore: the Store failed for a reason other than an unknown user; the
	// error wraps the Store's error as well.
	ErrStore = errors.New("scram: credential store failed")
	// ErrNoResources: the nonce source failed.
	ErrNoResources = errors.New("scram: no resources")
)

// The RFC 5802 §7 server-error-value strings.
const (
	eInvalidEncoding            = "invalid-encoding"
	eExtensionsNotSupported     = "extensions-not-supported"
	eInvalidProof               = "invalid-proof"
	eChannelBindingsDontMatch   = "channel-bindings-dont-match"
	eServerDoesSupportCB        = "server-does-support-channel-binding"
	eChannelBindingNotSupported = "channel-binding-not-supported"
	eUnsupportedCBType          = "unsupported-channel-binding-type"
	eInvalidUsernameEncoding    = "invalid-username-encoding"
	eNoResources                = "no-resources"
	eOtherError                 = "other-error"
)

// The RFC 6120 §6.5 SASL failure conditions Condition returns.
const (
	condMalformedRequest     = "malformed-request"
	condNotAuthorized        = "not-authorized"
	condTemporaryAuthFailure = "temporary-auth-failure"
)

var errorTable = [...]struct {
	err       error
	value     string // RFC 5802 e= value
	condition string // RFC 6120 §6.5 condition
}{
	{ErrMalformed, eInvalidEncoding, condMalformedRequest},
	{ErrInvalidEncoding, eInvalidEncoding, condMalformedRequest},
	{ErrExtensionsNotSupported, eExtensionsNotSupported, condMalformedRequest},
	{ErrInvalidProof, eInvalidProof, condNotAuthorized},
	{ErrChannelBindingsDontMatch, eChannelBindingsDontMatch, condNotAuthorized},
	{ErrServerDoesSupportCB, eServerDoesSupportCB, condNotAuthorized},
	{ErrChannelBindingNotSupported, eChannelBindingNotSupported, condNotAuthorized},
	{ErrUnsupportedCBType, eUnsupportedCBType, condNotAuthorized},
	{ErrInvalidUsernameEncoding, eInvalidUsernameEncoding, condMalformedRequest},
	{ErrNonceMismatch, eOtherError, condNotAuthorized},
	{ErrExchangeOver, eOtherError, condMalformedRequest},
	{ErrStore, eOtherError, condTemporaryAuthFailure},
	{ErrNoResources, eNoResources, condTemporaryAuthFailure},
}

// ServerError returns the RFC 5802 §7 server-error-value for an error returned
// by Step: "invalid-proof", "channel-bindings-dont-match" and so on. A
// message that breaks the grammar gives "invalid-encoding" like bad base64
// does. Errors the RFC names no value for (a nonce mismatch, a store failure,
// a finished exchange) and errors from outside this package give
// "other-error"; nil gives "". The value "unknown-user" is never used: unknown users get
// "invalid-proof" so they cannot be enumerated.
func ServerError(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.value
		}
	}
	return eOtherError
}

// Condition returns the RFC 6120 §6.5 SASL failure condition (the local name
// of the child of <failure/>) for an error returned by Step:
// "not-authorized" for authentication and channel-binding failures,
// "malformed-request" for syntax errors and misuse, "temporary-auth-failure"
// for store and randomness failures. Errors from outside this package give
// "temporary-auth-failure"; nil gives "". "invalid-authzid" is not returned:
// whether an authzid is acceptable is the caller's decision after success.
func Condition(err error) string {
	if err == nil {
		return ""
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.condition
		}
	}
	return condTemporaryAuthFailure
}
