package httpauth

import (
	"net/http"
	"strconv"
	"time"

	"mellium.im/xmpp/jid"
)

// Reason says why a request was not served.
type Reason uint8

// The reasons of an Outcome, with the HTTP status the Verifier sends.
const (
	// NoCredentials (401): no Authorization header for an accepted scheme.
	// The first step of the protocol: the browser asks the user.
	NoCredentials Reason = iota + 1
	// BadCredentials (401): the header is malformed, is not for realm
	// "xmpp", or its Digest nonce is unknown or expired (Err tells which).
	BadCredentials
	// UsedTransaction (401): the transaction identifier was used before for
	// this JID; the user must choose another.
	UsedTransaction
	// UnknownHost (400): the Host header names no configured host.
	UnknownHost
	// BadRequest (400): the method or URL cannot be put in a <confirm/>.
	BadRequest
	// Forbidden (403): the Authorizer refused the JID; nobody was asked.
	Forbidden
	// RateLimited (429, Retry-After): too many prompts for the JID or from
	// the client address lately; nobody was asked.
	RateLimited
	// TooManyPending (429): the JID has the maximum of requests waiting.
	TooManyPending
	// Overloaded (503): the service has the maximum of requests waiting.
	Overloaded
	// Offline (503): the confirmation request could not be delivered;
	// usually the JID (or, for a full JID, that resource) is not online.
	Offline
	// Denied (403): the user refused the request in their XMPP client.
	Denied
	// TimedOut (Config.TimeoutStatus, default 403): nobody answered in time.
	TimedOut
	// CouldNotAnswer (502): the XMPP client answered with an error other
	// than a refusal (Condition says which; feature-not-implemented and
	// service-unavailable mean it does not support XEP-0070).
	CouldNotAnswer
	// SessionEnded (503): the session that was asked ended first.
	SessionEnded
	// Canceled (503): the HTTP request's context ended first (usually the
	// client went away).
	Canceled
	// Disabled (503): XEP-0070 is switched off. The Verifier never returns
	// it; a host that serves pages while XEP-0070 is off uses it with
	// DefaultErrorHandler.
	Disabled
	// Internal (500): the Verifier failed (randomness, a bad RequestURL).
	Internal
	// StoreUnavailable (503): the Store failed (Err says how), e.g. a
	// shared Redis is down; nobody was asked, or the answer could not be
	// waited for. The Verifier fails closed and recovers when the store
	// does.
	StoreUnavailable
)

var reasonText = [...]string{
	NoCredentials:    "no credentials",
	BadCredentials:   "invalid credentials",
	UsedTransaction:  "transaction id already used",
	UnknownHost:      "host not configured",
	BadRequest:       "bad request",
	Forbidden:        "refused by the authorizer",
	RateLimited:      "rate limited",
	TooManyPending:   "too many pending requests for this JID",
	Overloaded:       "too many pending requests",
	Offline:          "confirmation request could not be sent",
	Denied:           "denied by the user",
	TimedOut:         "timed out",
	CouldNotAnswer:   "the client could not answer",
	SessionEnded:     "the user's session ended",
	Canceled:         "HTTP client went away",
	Disabled:         "XEP-0070 is disabled",
	Internal:         "internal error",
	StoreUnavailable: "store unavailable",
}

// String returns the reason as the log says it, e.g. "denied by the user".
func (r Reason) String() string {
	if int(r) < len(reasonText) && reasonText[r] != "" {
		return reasonText[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// status returns the HTTP status of r; TimedOut's is configurable.
func (r Reason) status() int {
	switch r {
	case NoCredentials, BadCredentials, UsedTransaction:
		return http.StatusUnauthorized
	case UnknownHost, BadRequest:
		return http.StatusBadRequest
	case Forbidden, Denied, TimedOut:
		return http.StatusForbidden
	case RateLimited, TooManyPending:
		return http.StatusTooManyRequests
	case Overloaded, Offline, SessionEnded, Canceled, Disabled, StoreUnavailable:
		return http.StatusServiceUnavailable
	case CouldNotAnswer:
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// Outcome is why a request was not served: the error Check returns (get it
// with errors.As(err, &o), o an *Outcome) and what Config.ErrorHandler
// renders. errors.Is(o, ErrDenied) and the like work through Err.
type Outcome struct {
	// Reason says what happened.
	Reason Reason
	// Status is the HTTP status of the response.
	Status int
	// JID is the JID the credentials named; zero when they named none.
	JID jid.JID
	// Digest is true for Digest credentials: the transaction identifier the
	// user's XMPP client shows is then the browser's cnonce, not the
	// password the user typed.
	Digest bool
	// Method and URL are the request's; URL is the one shown to the user,
	// empty when the request was refused before it was known.
	Method, URL string
	// Condition is the stanza error condition when the client could not
	// answer (CouldNotAnswer) or denied with an error.
	Condition string
	// RetryAfter is how long to wait when RateLimited.
	RetryAfter time.Duration
	// Err is the package error (ErrDenied, ErrTimeout, …), possibly
	// wrapping a detail such as the Authorizer's error.
	Err error
}

// Error returns Err's text.
func (o *Outcome) Error() string {
	if o.Err == nil {
		return "httpauth: " + o.Reason.String()
	}
	return o.Err.Error()
}

// Unwrap returns Err.
func (o *Outcome) Unwrap() error { return o.Err }

// logReason is the reason as one log value, with the condition.
func (o *Outcome) logReason() string {
	if o.Reason == CouldNotAnswer && o.Condition != "" {
		return o.Reason.String() + ": " + o.Condition
	}
	return o.Reason.String()
}

// Message returns a short plain-text explanation for the user: what to type,
// or what happened and what to try.
func (o Outcome) Message() string {
	const login = "Log in with your XMPP address (JID, e.g. juliet@example.net) as the user name" +
		" and a transaction id of your choice as the password, then confirm the request in your XMPP client."
	const digest = " Your browser uses Digest: the transaction id your XMPP client shows is the browser's" +
		" cnonce, not the password you typed."
	m := ""
	switch o.Reason {
	case NoCredentials:
		return "This page needs confirmation over XMPP (XEP-0070). " + login +
			" If your browser uses Digest, your XMPP client shows the browser's cnonce as the transaction id instead."
	case BadCredentials:
		m = "These credentials cannot be confirmed over XMPP. " + login
	case UsedTransaction:
		m = "This transaction id was used already: log in again with a new one."
	case UnknownHost:
		return "This site does not confirm requests for this host name over XMPP."
	case BadRequest:
		return "This request cannot be confirmed over XMPP: its method or URL is not valid."
	case Forbidden:
		return "This XMPP address may not access this page."
	case RateLimited:
		return "Too many confirmation requests lately; try again in " +
			strconv.FormatInt(retryAfterSeconds(o.RetryAfter), 10) + " seconds."
	case TooManyPending:
		return "Too many confirmation requests are waiting for this XMPP address: answer them or let them expire first."
	case Overloaded:
		return "Too many confirmation requests are waiting; try again later."
	case Offline:
		return "The confirmation request could not be delivered: is this XMPP address online? With a full JID" +
			" (user@domain/resource) that resource must be online; the bare JID (user@domain) reaches any."
	case Denied:
		m = "The request was denied in the XMPP client."
	case TimedOut:
		m = "Nobody confirmed the request in the XMPP client in time."
	case CouldNotAnswer:
		m = "The XMPP client could not answer the confirmation request"
		if o.Condition != "" {
			m += " (" + o.Condition + ")"
		}
		m += "; it may not support XEP-0070. Log in with your bare JID (user@domain) to get the request as a chat message."
	case SessionEnded:
		return "The XMPP session that was asked to confirm the request ended before answering."
	case Canceled:
		return "The request was canceled."
	case Disabled:
		return "Confirming HTTP requests over XMPP (XEP-0070) is switched off on this server."
	case StoreUnavailable:
		return "Requests cannot be confirmed over XMPP at the moment (the service's storage is unavailable); try again in a minute."
	default:
		return "Internal error."
	}
	if o.Digest {
		m += digest
	}
	return m
}

// DefaultErrorHandler writes o.Status (or the Reason's usual status when it
// is zero) with o.Message as a short plain-text body. The headers the
// protocol needs (challenges, Retry-After) are set by the Verifier before
// its ErrorHandler runs.
func DefaultErrorHandler(w http.ResponseWriter, _ *http.Request, o Outcome) {
	status := o.Status
	if status == 0 {
		status = o.Reason.status()
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(o.Message() + "\n"))
}
