// Package oauth implements XEP-0235: OAuth Over XMPP.
//
// A Consumer that holds an OAuth 1.0 access token (obtained out of band, over
// HTTP) proves it to a Service Provider by adding a signed
// <oauth xmlns='urn:xmpp:oauth:0'/> element to a stanza. This
// package parses and marshals that element ([Params]), builds the signature
// base string and signs it ([Signer], for clients and components), and
// verifies it on the receiving side ([Verifier]), either as middleware around
// the host's own mellium handlers ([Verifier.IQ], [Verifier.Message],
// [Verifier.Presence]) or as a plain function ([Verifier.Verify]). The wrapped
// handler learns who was authorised with [GrantFrom].
//
// # Signature methods
//
// HMAC-SHA1, which the XEP recommends, is always available. PLAINTEXT
// (RFC 5849 §3.4.4) is accepted only when [Config].AllowPlaintext is set and
// the host reports the stream as encrypted ([Verifier.ForStream]). RSA-SHA1
// (RFC 5849 §3.4.3, RSASSA-PKCS1-v1_5 with SHA-1) is accepted only when the
// host provides the consumers' public keys ([Config].RSAKeys); it is tested
// against a signature made by OpenSSL. Go refuses RSA keys shorter than 1024
// bits.
//
// # Where the <oauth/> element may appear
//
// mellium's mux routes an IQ on its first child element, so an <oauth/> element
// placed beside (or, as in the XEP's example, inside) a <pubsub/> payload never
// reaches a handler of its own: verification is middleware that wraps the
// host's handlers. The middleware looks for exactly one <oauth/> element either
// as a direct child of the stanza (in any position, including first) or as a
// direct child of one of the stanza's children (the XEP's example puts it
// inside <pubsub/>). Deeper elements are not searched. Two or more <oauth/>
// elements in one stanza are rejected with <duplicated-parameter/>. The element
// is left in the stanza that the wrapped handler reads: per RFC 6120 §8.4 a
// handler ignores extension elements it does not understand. Register wrapped
// message and presence handlers for one specific payload: mellium runs such a
// handler once per matching child, and a second verification of the same
// stanza fails as a replay (see [Verifier.Message]).
//
// # Signature base string
//
// The base string is built as RFC 5849 §3.4.1 builds it, with the XEP's
// substitutions: the "HTTP method" is the stanza's name (iq, message or
// presence), the "request URL" is from + "&" + to, and the parameters are the
// oauth_* children except oauth_signature:
//
//	iq&pct(from "&" to)&pct(normalized parameters)
//
// The two top-level separators are literal "&". The base string printed in
// XEP-0235 v0.7 §4 encodes them as %26; that is a typo introduced in the XEP
// in 2009 and it does not produce the signature printed beside it
// (9PQkM4YKgaM067wqrDGshXOwDW0=), which this construction reproduces. The
// from and to addresses are the canonical string forms of the stanza's JIDs
// (as mellium's jid package renders them) or empty when absent. The
// oauth_signature element carries the raw base64 value, not percent-escaped.
//
// Signatures interoperate in both directions with slixmpp's xep_0235 plugin
// (the only other implementation, tested under Python 3 with shims). That
// plugin percent-encodes the joined parameter string once instead of each
// name and value first, so the two agree only while the values consist of
// unreserved characters (letters, digits, "-._~"), as keys, tokens, hex
// nonces and timestamps normally do.
//
// # Which from is signed
//
// The verifier signs over the from and to of the stanza as it is delivered to
// the wrapped handler. A client-to-server stream normally omits from and the
// server stamps it (RFC 6120 §8.1.2.1); mellium does not stamp it, so the host
// must do so before the verifier runs (otherwise from is empty, the base
// string differs and the request fails with <invalid-signature/>). A client
// therefore signs with its own full JID as the server will stamp it
// ([Signer].From), whether or not it puts that from on the wire; a component
// (XEP-0114) or server puts an explicit from on the stanza and signs that.
//
// # Errors
//
// Failures are reported as stanza errors with the generic condition and type
// that XEP-0235 §5's table names plus the application-specific element in the
// urn:xmpp:oauth:0:errors namespace ([NSErrors]). The XEP's own example pairs
// <invalid-nonce/> with <bad-request/>; this package follows the table
// (<not-authorized/>, type auth), which is normative. Conditions the table
// does not cover map as follows:
//
//   - a stale, future or malformed oauth_timestamp: <not-authorized/> with
//     <invalid-nonce/> (an OAuth nonce is only defined together with its
//     timestamp, RFC 5849 §3.3);
//   - an expired token, or a token issued to another consumer:
//     <not-authorized/> with <invalid-token/>;
//   - a missing <oauth/> element on a stanza that requires one, or a missing
//     or empty oauth_token: <not-authorized/> with <token-required/>;
//   - an empty required parameter: <bad-request/> with <missing-parameter/>;
//   - an oversized value, a present oauth_version other than "1.0", a child
//     element inside a parameter, or text directly inside <oauth/>:
//     <bad-request/> with <unsupported-parameter/>;
//   - PLAINTEXT on a stream the host did not report as encrypted, or when not
//     allowed by [Config], and RSA-SHA1 without [Config].RSAKeys:
//     <bad-request/> with <unsupported-signature-method/>;
//   - a full nonce store: <resource-constraint/> (type wait) without an
//     application element, because the request may be valid and should be
//     retried later;
//   - a stanza larger than [Config].MaxStanzaBytes: <policy-violation/>
//     (type modify) without an application element;
//   - a failing store: <internal-server-error/> (type cancel).
//
// Errors inside the package are sentinel values for [errors.Is]; they are
// turned into stanza errors in one place ([ErrorElement]). No secret, nonce or
// signature value ever appears in an error. Signatures are compared in
// constant time. Error replies are never sent for IQs of type result or error
// or for messages of type error; those stanzas are dropped when they fail.
//
// # Replay protection
//
// A nonce is recorded only after the signature has been verified, so only a
// holder of valid credentials can fill the nonce store. It is remembered for
// the consumer key and token it was used with until its timestamp leaves the
// acceptance window. The in-memory store is bounded; when it is full it
// rejects new nonces rather than forgetting ones still inside the window
// (failing closed).
//
// # Left out
//
// Obtaining tokens (the HTTP part of OAuth) is out of scope, as in the XEP.
// Advertising urn:xmpp:oauth:0 through service discovery (XEP-0235 §6) is
// done by package disco of this module, not here. The <oauth/> element is not
// removed from the stanza before the wrapped handler reads it.
package oauth // import "github.com/xmppauth/xmppauth/oauth"

// Namespaces defined by XEP-0235.
const (
	// NS is the namespace of the <oauth/> element and the disco feature.
	NS = "urn:xmpp:oauth:0"
	// NSErrors is the namespace of the application-specific error conditions.
	NSErrors = "urn:xmpp:oauth:0:errors"
)
