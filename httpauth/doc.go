// Package httpauth implements XEP-0070: Verifying HTTP Requests via XMPP.
//
// An HTTP client that wants a resource names an XMPP address (JID) and a
// transaction identifier in an HTTP Authorization header (realm "xmpp"); the
// HTTP server asks the owner of that JID over XMPP whether the request is
// theirs and serves the resource only when they confirm.
//
// The package has three parts, and each side's call says which side it is:
//
//   - the HTTP side: a [Verifier] whose [Verifier.Handler] is net/http
//     middleware and whose [Verifier.Check] serves other routers. It issues
//     Basic and Digest (RFC 7616, MD5 and SHA-256) challenges with realm
//     "xmpp", holds the request while the user is asked, and passes the
//     verified JID to the next handler through the request context
//     ([FromContext]), or as an argument ([Verifier.HandlerWithJID], which
//     does not copy the request). [Verifier.ServerDefaults] sets the http.Server
//     timeouts a confirmation needs. A refused request's [Outcome] goes to
//     [Config.ErrorHandler], so that a host's page can say what happened;
//   - the XMPP side, server or component: the Verifier sends <confirm/>
//     requests through a [Sender] (the host's router, a component session)
//     and takes the answers from [Verifier.HandleStanza], which a server's
//     router calls for every stanza a user's session sends (it consumes
//     only answers and gives everything else back, so it never collides
//     with the host's own handlers), or from [Verifier.HandleComponent], the
//     mux option of an XEP-0114 component session. A server host also
//     calls [Verifier.SessionEnded] when a session ends;
//   - the client side: [Handle] is the mux option with which a mellium
//     client answers confirmation requests after asking an application
//     callback.
//
// # Which form reaches which client
//
// A full JID (user@domain/resource) gets an IQ get (XEP-0070 §4.2): clients
// with XEP-0070 (Gajim, mellium's [Handle]) show a dialog and
// answer with an IQ result or error. A client without it answers the IQ with
// feature-not-implemented or service-unavailable (mcabber, Profanity): the
// request is then sent once more, at the same full JID, as a message with a
// thread and a human-readable body, which any client shows and the user
// answers by typing "<id> OK" or "<id> No" (or "OK"/"No" in the same thread).
// A bare JID (user@domain) gets the message form directly, delivered by the
// user's server to the most available resource. So users of clients without
// XEP-0070 should give their bare JID.
//
// An answer counts only when it comes from the JID the request was sent to
// (the full JID for IQ; any resource of the bare JID for message) and
// matches the pending transaction: an IQ answer by IQ id and sender (a
// <confirm/> child may be left out, or be empty as Gajim sends it; the
// attributes it has must match); a message answer by the transaction id and
// thread of its <confirm/>, or by the id or thread of a plaintext or error
// answer. Everything else is ignored and logged.
//
// How a request ends, and the HTTP status the default ErrorHandler sends:
// confirmed (the next handler runs); denied by the user (error
// not-authorized, forbidden, not-allowed or none: 403); timed out
// ([Config.TimeoutStatus], default 403); the client could not answer (any
// other error condition, after the message fallback where it applies: 502,
// "the client could not answer: <condition>"); the user's session ended
// (503); the request could not be delivered, usually because the JID is not
// online (503). Before anybody is asked: 401 with challenges for missing or
// invalid credentials or a used transaction id, 400 for an unknown host or a
// request that makes no valid <confirm/>, 403 when the [Authorizer] refuses,
// 429 when rate-limited or too many requests wait for the JID, 503 when the
// service is overloaded or its store failed.
//
// # Several front ends
//
// A [Store] holds what must be shared for several servers to serve one
// domain: pending transactions, used transaction identifiers, reusable
// grants, Digest nonce counts, and the delivery of each answer to the
// request waiting for it. With a shared store (the redisstore module keeps
// it in Redis) an answer that reaches any node's HandleStanza decides the
// request waiting on another, and a replay on node B of what node A
// accepted is refused. The nodes must also share Config.NonceKey (a Digest
// nonce issued by one is checked by another). The store is networked and
// may fail: the Verifier then fails closed, each refusal is logged once
// (Reason StoreUnavailable, HTTP 503; nothing is served, nobody asked),
// answers are not accepted, every store call is bounded by
// Config.StoreTimeout and the wait for the answer by Config.Timeout, and
// the next request after the store is back works as usual.
//
// # Digest
//
// XEP-0070 profiles Digest so that the username is the JID and the cnonce is
// the transaction identifier. It defines no password, so the Digest response
// cannot be checked against a secret: the confirmation over XMPP is what
// authenticates the request. What this package does check: the realm is
// "xmpp"; the nonce was issued by this server (HMAC-SHA-256 under a server
// key), has not expired (stale=true is sent when only that is wrong) and its
// nonce count strictly increases (a replayed header is refused); the opaque
// value is ours; qop is "auth"; the algorithm is MD5 or SHA-256 (the -sess
// variants and userhash are refused); the uri equals the request-target; the
// response is well-formed hex of the algorithm's length. Real clients work:
// "curl --digest -u JID:anything" reaches the confirmation step, with curl's
// random cnonce as the transaction identifier the user is shown (not the
// password the user typed; [Outcome.Digest] lets a page say so).
//
// # Transactions
//
// A transaction identifier names exactly one request: one used before for
// the same JID is refused, except that a confirmation obtained with HEAD or
// OPTIONS may be reused by the same entity (by default the same client IP
// address) for GET, HEAD and OPTIONS requests on the same URL for
// [Config.ReuseWindow], as XEP-0070 §6.1 suggests. Requests with a body (POST,
// PUT, …) always need their own confirmation.
//
// # Hostile clients
//
// The HTTP side is open to anybody, so what an unauthenticated client can
// make the service do is bounded:
//
//   - prompts: [Config.JIDRate] (default 5 a minute, 5 at once, per bare
//     JID) and [Config.ClientRate] (default 30 a minute, 10 at once, per
//     client address; an IPv6 address counts by its /64) are token buckets
//     in maps of at most MaxKeys entries (least recently used forgotten
//     first); over either, 429 with Retry-After before anybody is
//     contacted. The store's per-JID cap bounds the prompts pending at once;
//   - the URL the user is shown: it comes from [Config.BaseURL] (or
//     RequestURL), or from the Host header only when that names one of
//     [Config.Hosts]; with none of them configured, every request gets 400
//     and the log says what to set;
//   - memory: a used transaction identifier is remembered as a 16-byte
//     keyed digest (about 70 bytes with its bookkeeping), never as the
//     credentials it came in;
//   - connections: [Verifier.ServerDefaults] gives the http.Server the
//     timeouts a confirmation needs, and closes idle keep-alive
//     connections;
//   - logs: one Info line per outcome that matters (a confirmation request
//     sent, a request granted, a request refused and why), with the JID,
//     method, URL and remote address; never a transaction identifier,
//     password or Digest response. A refused request is logged exactly once
//     (one without credentials, the protocol's first step, at Debug only);
//     one that was sent to the user also has its "confirmation request
//     sent" line (two with the message fallback). Refusals and ignored
//     answers, which a flood can cause, are logged at most 10 a second (20
//     at once); a "suppressed" line counts the rest;
//   - answers: a stanza or <confirm/> element with an attribute twice (which
//     encoding/xml accepts) is ignored and logged, since a router stamping
//     the first from and a parser reading the last would disagree on who
//     sent it.
//
// Left out: the message form for a full JID except as the fallback above,
// Digest "-sess" algorithms, userhash and auth-int, and any authentication
// scheme other than Basic and Digest. JIDs whose string form contains ':'
// cannot be used with Basic (RFC 7617 forbids ':' in the user-id). A
// component learns of no session ending, so its requests to a client that
// went away end at the timeout.
package httpauth // import "github.com/xmppauth/xmppauth/httpauth"

// NS is the XML namespace of the <confirm/> element.
const NS = "http://jabber.org/protocol/http-auth"
