// Package httpauth implements XEP-0070: Verifying HTTP Requests via XMPP.
//
// An HTTP client that wants a resource names an XMPP address (JID) and a
// transaction identifier in an HTTP Authorization header (realm "xmpp"); the
// HTTP server asks the owner of that JID over XMPP whether the request is
// theirs and serves the resource only when they confirm.
//
// The package has three parts:
//
//   - the HTTP side: a [Verifier] whose [Verifier.Handler] is net/http
//     middleware and whose [Verifier.Check] serves other routers. It issues
//     Basic and Digest (RFC 7616, MD5 and SHA-256) challenges with realm
//     "xmpp", holds the request while the user is asked, and passes the
//     verified JID to the next handler through the request context
//     ([FromContext]);
//   - the XMPP side (server or XEP-0114 component): the Verifier sends
//     <confirm/> requests through a [Sender] (an *xmpp.Session, a component
//     session or the host's router) and accepts the answers fed to it by
//     [Verifier.Handle] (mux options) or [Verifier.HandleAnswer] (hosts with
//     their own router);
//   - the client side: [Handle] answers confirm requests on a mellium client
//     session after asking an application callback.
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
// random cnonce as the transaction identifier the user is shown.
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
// An answer counts only when it comes from the JID the request was sent to
// (the full JID for IQ; any resource of the bare JID for message), matches the
// transaction's id, method and URL (and thread) and the transaction is still
// pending. Everything else is ignored and logged.
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
//     (one without credentials, the protocol's first step, at Debug only).
//     Refusals and ignored answers, which a flood can cause, are logged at
//     most 10 a second (20 at once); a "suppressed" line counts the rest;
//   - answers: a stanza or <confirm/> element with an attribute twice (which
//     encoding/xml accepts) is ignored and logged, since a router stamping
//     the first from and a parser reading the last would disagree on who
//     sent it.
//
// Left out: the XEP's optional use of message for full JIDs (full JIDs always
// get an IQ), Digest "-sess" algorithms, userhash and auth-int, and any
// authentication scheme other than Basic and Digest. JIDs whose string form
// contains ':' cannot be used with Basic (RFC 7617 forbids ':' in the user-id).
package httpauth // import "github.com/xmppauth/xmppauth/httpauth"

// NS is the XML namespace of the <confirm/> element.
const NS = "http://jabber.org/protocol/http-auth"
