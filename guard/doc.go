// Package guard checks the bytes an XMPP peer sends before an XML decoder
// reads them: a net.Conn wrapper that scans every byte on its way to
// mellium's xml.Decoder and refuses, with an *Error carrying the stream
// error to send, the moment the stream breaks a rule below or crosses a
// limit, before the offending bytes reach the decoder (a refused start tag
// never reaches its '>').
//
// What it checks:
//
//   - Stream headers (RFC 6120 §4.7, §4.8), the first one and the restarts
//     after STARTTLS and SASL (a stream header where a child of the stream
//     root would be starts a new document; an element with the local name
//     stream there is taken as one): the element must be <stream> in
//     http://etherx.jabber.org/streams (else <invalid-namespace/>, or
//     <bad-namespace-prefix/> for an undeclared prefix, as in RFC 6120
//     §4.9.3.2); the default namespace must be the configured content
//     namespace (<invalid-namespace/>); version must be 1.0, the only
//     version mellium speaks (<unsupported-version/>; RFC 6120 §4.7.5 would
//     answer a higher version with 1.0, mellium refuses it); 'to' must be a
//     domain the server serves, compared in RFC 7622 canonical form, and the
//     same domain on every restart (<host-unknown/>); 'from', if present,
//     must be a JID (<invalid-from/>).
//   - XML 1.0 and Namespaces in XML well-formedness that encoding/xml does
//     not enforce: no two attributes with the same name or the same
//     expanded name (encoding/xml keeps both and mellium takes the last),
//     xmlns and xmlns:p included; no undeclared prefix (RFC 6120 §11.2
//     requires namespace-well-formed XML); no reserved prefix misused;
//     tag syntax is strict (quoted values, whitespace between attributes).
//     These get <not-well-formed/>.
//   - Restricted XML (RFC 6120 §11.1): comments, processing instructions
//     (but an XML declaration directly before a stream header), DTDs and
//     entity references other than the five predefined ones and character
//     references get <restricted-xml/>. CDATA sections are allowed.
//   - Character data directly inside the stream root other than whitespace
//     gets <bad-format/>.
//   - Limits (see Limits and Config) get <policy-violation/> with a text
//     that names the limit: before authentication the total bytes, depth,
//     attributes, namespace declarations, name and namespace lengths; after
//     it, the same per stanza; and stream headers on their own.
//
// It also drops the whitespace between top-level elements (RFC 6120 allows
// it; mellium v0.23.0's server negotiation fails on it, and go-xmpp sends a
// newline after its header and every element), and passes every other byte
// unchanged. With STARTTLS it steps aside after <starttls/> (see NewConn).
//
// Answering (RFC 6120 §4.9): an *Error says whether the server has still to
// answer a stream header (§4.9.1.2), and Error.Response gives the bytes to
// send: the server's header if needed, the <stream:error/> and the closing
// tag. The host writes them when xmpp.ReceiveSession fails
// (Conn.WriteError); once the session is ready the guard writes them itself
// in place of mellium's closing tag (Conn.Write).
//
// Memory: a guard holds the current name, one attribute value (a namespace
// name or a stream header attribute), the names of the current tag's
// attributes, and the namespace prefixes in scope as 64-bit keyed hashes
// (see the comment in ns.go); nothing grows with the stream's length, and
// once a stream runs a Read allocates nothing. With the default limits that
// is at most about 11 KiB before authentication and 150 KiB after it (128
// nested elements declaring 32 prefixes each), besides the 0.5 KiB of the
// guard itself. The buffers keep their largest size for the connection's
// life.
//
// Left out: it is not a full XML parser. The decoder still checks that end
// tags match start tags, that text is UTF-8 of XML characters, that names
// are XML names, the XML declaration's content and the syntax of what is
// inside character data; the guard only models what it needs to find tags,
// attributes and the stream's structure, and is stricter than encoding/xml
// where they differ. WebSocket framing (RFC 7395) is not handled.
// Server-to-server streams only through Config.Namespace ("jabber:server"),
// with the same rules for 'to' and 'from' as client streams (no dialback
// checks); XEP-0114 component streams, whose headers carry no version, are
// refused.
package guard
