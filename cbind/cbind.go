// Package cbind implements channel bindings for TLS (RFC 5929, RFC 9266) as
// used by the SCRAM -PLUS SASL mechanisms in XMPP.
package cbind

// Type is a channel-binding type from the IANA Channel-Binding Types registry.
type Type string

// The channel-binding types this package can extract from a TLS connection.
const (
	// TLSUnique is RFC 5929 §3 tls-unique: the first Finished message of the
	// most recent handshake. Undefined on TLS 1.3.
	TLSUnique Type = "tls-unique"
	// TLSServerEndPoint is RFC 5929 §4 tls-server-end-point: a hash of the
	// server's certificate.
	TLSServerEndPoint Type = "tls-server-end-point"
	// TLSExporter is RFC 9266 tls-exporter: 32 bytes of keying material
	// exported with the label "EXPORTER-Channel-Binding".
	TLSExporter Type = "tls-exporter"
)
