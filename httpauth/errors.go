package httpauth

import "errors"

// Errors returned by the package. Check returns them inside an [Outcome];
// [Verifier.WriteError] converts them to HTTP responses, the only place where
// that happens.
var (
	// ErrNoCredentials means the request carried no Authorization header for
	// a scheme this Verifier accepts (HTTP 401 with challenges).
	ErrNoCredentials = errors.New("httpauth: no credentials")
	// ErrBadCredentials means the Authorization header was malformed or did
	// not satisfy the "xmpp" realm profile (HTTP 401).
	ErrBadCredentials = errors.New("httpauth: invalid credentials")
	// ErrStaleNonce means a Digest nonce was authentic but expired (HTTP 401
	// with stale=true).
	ErrStaleNonce = errors.New("httpauth: stale nonce")
	// ErrReplay means the transaction identifier or Digest nonce count was
	// already used (HTTP 401).
	ErrReplay = errors.New("httpauth: transaction already used")
	// ErrForbidden means the Authorizer refused the JID for this request
	// (HTTP 403); the user was not contacted.
	ErrForbidden = errors.New("httpauth: not authorized for this resource")
	// ErrDenied means the user denied the request over XMPP (HTTP 403).
	ErrDenied = errors.New("httpauth: request denied by the user")
	// ErrCouldNotAnswer means the user's XMPP client answered the
	// confirmation request with an error other than a refusal, e.g.
	// feature-not-implemented from a client without XEP-0070 (HTTP 502).
	ErrCouldNotAnswer = errors.New("httpauth: the client could not answer")
	// ErrSessionEnded means the session the confirmation request was sent
	// to ended before answering (HTTP 503).
	ErrSessionEnded = errors.New("httpauth: the user's session ended")
	// ErrTimeout means the user did not answer in time (Config.TimeoutStatus,
	// default HTTP 403).
	ErrTimeout = errors.New("httpauth: no answer in time")
	// ErrTooManyPending means the JID already has the maximum number of
	// pending transactions (HTTP 429).
	ErrTooManyPending = errors.New("httpauth: too many pending requests for this JID")
	// ErrOverloaded means the store holds the maximum number of pending
	// transactions in total (HTTP 503).
	ErrOverloaded = errors.New("httpauth: too many pending requests")
	// ErrRateLimited means too many confirmation prompts were sent to the
	// JID or caused by the client address lately (HTTP 429 with
	// Retry-After); the user was not contacted.
	ErrRateLimited = errors.New("httpauth: too many confirmation requests, try again later")
	// ErrUnknownHost means the request's Host header names no configured
	// host (Config.Hosts), or no way to build the URL shown to the user is
	// configured at all (HTTP 400); the user was not contacted.
	ErrUnknownHost = errors.New("httpauth: host not configured")
	// ErrDelivery means the confirmation request could not be sent (HTTP 503).
	ErrDelivery = errors.New("httpauth: confirmation request could not be sent")
	// ErrCanceled means the HTTP client went away before an answer arrived.
	ErrCanceled = errors.New("httpauth: request canceled")
	// ErrNotPending means an answer matched no pending transaction or came
	// from the wrong JID; it is ignored.
	ErrNotPending = errors.New("httpauth: answer matches no pending transaction")
	// ErrStore means the Store failed, e.g. its network backend is
	// unreachable (HTTP 503). The Verifier fails closed: nothing is served
	// and nobody is asked while it cannot record what it checks.
	ErrStore = errors.New("httpauth: store unavailable")
	// ErrMalformed means a <confirm/> element or answer stanza was invalid.
	ErrMalformed = errors.New("httpauth: malformed confirm element")
)
