// Package guard checks the bytes an XMPP peer sends before an XML decoder
// reads them: a net.Conn wrapper that scans every byte on its way to
// mellium's xml.Decoder and refuses, with an *Error carrying the stream
// error to send, the moment the stream is malformed in a way the decoder
// would accept, or crosses a limit, before the offending bytes reach the
// decoder (a refused start tag never reaches its '>').
//
// What it checks:
//
//   - Stream headers (RFC 6120 §4.7, §4.8), the first one and the restarts
//     after STARTTLS and SASL (a stream header where a child of the stream
//     root would be starts a new document): the element must be <stream> in
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
// Answering: an *Error says whether the server has still to answer a stream
// header (RFC 6120 §4.9.1.2) and Error.Response gives the bytes to send:
// the server's header if needed, the <stream:error/> and the closing tag.
//
// The guard's memory is bounded by the limits and does not grow with the
// stream; it allocates nothing per Read once a stream runs.
//
// Left out: it is not a full XML parser. The decoder still checks that end
// tags match start tags, that text is UTF-8 of XML characters, that names
// are XML names, the XML declaration's content and the syntax of what is
// inside character data; the guard only models what it needs to find tags,
// attributes and the stream's structure, and is stricter than encoding/xml
// where they differ. WebSocket framing (RFC 7395) is not handled. Server to
// server and component streams only through Config.Namespace (jabber:server,
// jabber:component:accept), with the c2s rules for 'to' and 'from'.
package guard
