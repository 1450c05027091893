// Package cbind implements TLS channel bindings for SCRAM -PLUS SASL
// mechanisms in XMPP: the channel-binding types of RFC 5929 (tls-unique,
// tls-server-end-point) and RFC 9266 (tls-exporter), the XEP-0440 SASL
// Channel-Binding Type Capability stream feature, and the channel-binding
// pseudomechanism names of the "Channel Binding Pseudomechanisms" ProtoXEP
// (for example "SCRAM-SHA-256-PLUS:tls-exporter").
//
// Data and Available tell, for a finished TLS handshake, which binding types
// can be used and what their bytes are. On the server side the connection
// state does not say which certificate was served; wrap the connection with
// NewConn and the configuration with ServerConfig, then ask Served.
//
// Left out, on purpose:
//   - tls-server-end-point for certificates whose signature algorithm names
//     no single hash (Ed25519, Ed448, unknown algorithms): RFC 5929 §4.1
//     defines no binding for them, so it is reported unavailable
//     (ErrUnavailable), never guessed.
//   - tls-exporter below TLS 1.3 without Extended Master Secret (RFC 9266
//     §4.2): unavailable. Go's ConnectionState does not expose whether EMS was
//     negotiated; this package relies on ExportKeyingMaterial failing without
//     it, which Go guarantees unless GODEBUG=tlsunsafeekm=1 is in effect. With
//     that setting (in the GODEBUG environment variable or the binary's
//     default GODEBUG) tls-exporter is reported unavailable below TLS 1.3.
//   - Renegotiation: RFC 9266 §4.2 forbids tls-exporter on connections that may
//     renegotiate; Go then refuses to export keying material, so the type is
//     unavailable. tls-unique on a renegotiated (client) connection is
//     whatever Go reports for the latest handshake; Go servers never
//     renegotiate, and clients should keep tls.RenegotiateNever.
//   - Channel-binding types other than the three above (e.g. tls-unique-for-telnet).
package cbind // import "github.com/xmppauth/xmppauth/cbind"

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"

	// Register the hashes RFC 5929 §4.1 can choose.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

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

const (
	// ExporterLabel is the RFC 9266 §2 exporter label of tls-exporter.
	ExporterLabel = "EXPORTER-Channel-Binding"
	// ExporterLength is the RFC 9266 §2 length of tls-exporter data in bytes.
	ExporterLength = 32

	// maxTypeLen caps how much of an unknown type name goes into an error.
	maxTypeLen = 64
)

// Errors returned by this package; test them with errors.Is.
var (
	// ErrUnavailable means the binding type cannot be given on this
	// connection (wrong TLS version, no Extended Master Secret, no hash
	// defined for the certificate, handshake not complete, …).
	ErrUnavailable = errors.New("cbind: binding type not available on this connection")
	// ErrUnknownType means a name is not one of the three supported
	// channel-binding types.
	ErrUnknownType = errors.New("cbind: unknown channel-binding type")
)

// ParseType returns the Type named s. It is strict: only the exact lowercase
// IANA names "tls-unique", "tls-server-end-point" and "tls-exporter" are
// accepted; anything else wraps ErrUnknownType.
func ParseType(s string) (Type, error) {
	switch Type(s) {
	case TLSUnique, TLSServerEndPoint, TLSExporter:
		return Type(s), nil
	}
	return "", fmt.Errorf("%w: %s", ErrUnknownType, quoteShort(s))
}

// String returns the IANA name of the type.
func (t Type) String() string { return string(t) }

// quoteShort quotes s for an error message, cutting long untrusted input.
func quoteShort(s string) string {
	if len(s) > maxTypeLen {
		return fmt.Sprintf("%q… (%d bytes)", s[:maxTypeLen], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func unavailable(t Type, why string) error {
	return fmt.Errorf("%w: %s: %s", ErrUnavailable, t, why)
}

// Data returns the channel-binding data of type t for the connection whose
// state is cs.
//
// serverLeaf is the end-entity certificate the server presented: on the
// server side the one it served (see Served), on the client side
// cs.PeerCertificates[0]. It is only used for tls-server-end-point; nil makes
// that type unavailable.
//
//   - tls-unique: cs.TLSUnique, only below TLS 1.3 and only when non-empty
//     (Go leaves it empty on resumed sessions without Extended Master Secret).
//   - tls-exporter: 32 bytes exported with the label
//     "EXPORTER-Channel-Binding" and an empty (non-nil) context; on TLS 1.3,
//     and below only when Extended Master Secret was negotiated.
//   - tls-server-end-point: the RFC 5929 §4.1 hash (see EndPointHash) of the
//     DER encoding of serverLeaf.
//
// When the type cannot be given on this connection the error wraps
// ErrUnavailable; an unknown t wraps ErrUnknownType. The returned slice is
// the caller's to keep.
func Data(t Type, cs *tls.ConnectionState, serverLeaf *x509.Certificate) ([]byte, error) {
	switch t {
	case TLSUnique, TLSServerEndPoint, TLSExporter:
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnknownType, quoteShort(string(t)))
	}
	if cs == nil || !cs.HandshakeComplete {
		return nil, unavailable(t, "TLS handshake not complete")
	}
	switch t {
	case TLSUnique:
		if cs.Version >= tls.VersionTLS13 {
			return nil, unavailable(t, "undefined on TLS 1.3")
		}
		if len(cs.TLSUnique) == 0 {
			return nil, unavailable(t, "not provided by the TLS stack")
		}
		return bytes.Clone(cs.TLSUnique), nil
	case TLSExporter:
		if cs.Version < tls.VersionTLS13 && unsafeEKM() {
			return nil, unavailable(t, "GODEBUG=tlsunsafeekm=1 hides whether Extended Master Secret was negotiated")
		}
		return exportKeyingMaterial(cs)
	default: // TLSServerEndPoint
		if serverLeaf == nil || len(serverLeaf.Raw) == 0 {
			return nil, unavailable(t, "server certificate unknown")
		}
		h, err := EndPointHash(serverLeaf)
		if err != nil {
			return nil, err
		}
		hh := h.New()
		hh.Write(serverLeaf.Raw)
		return hh.Sum(nil), nil
	}
}

// exportKeyingMaterial calls ExportKeyingMaterial, turning its failure (no
// EMS below TLS 1.3, renegotiation enabled) into ErrUnavailable. A
// ConnectionState not made by crypto/tls has no exporter and panics when
// asked; that is reported as unavailable too.
func exportKeyingMaterial(cs *tls.ConnectionState) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, unavailable(TLSExporter, "connection state has no keying material exporter")
		}
	}()
	b, err = cs.ExportKeyingMaterial(ExporterLabel, []byte{}, ExporterLength)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, TLSExporter, err)
	}
	return b, nil
}

// Available lists the types Data can give for this connection, strongest
// first: tls-exporter, tls-server-end-point, tls-unique. serverLeaf is as for
// Data. A nil cs or an incomplete handshake gives none.
//
// On a resumed connection the client takes the server certificate from its
// session while the server reports what it serves now; if the certificate
// changed in between, tls-server-end-point differs on the two ends and the
// SCRAM exchange fails (it fails closed).
func Available(cs *tls.ConnectionState, serverLeaf *x509.Certificate) []Type {
	if cs == nil || !cs.HandshakeComplete {
		return nil
	}
	var types []Type
	if exporterAvailable(cs) {
		types = append(types, TLSExporter)
	}
	if serverLeaf != nil && len(serverLeaf.Raw) != 0 {
		if _, err := EndPointHash(serverLeaf); err == nil {
			types = append(types, TLSServerEndPoint)
		}
	}
	if cs.Version < tls.VersionTLS13 && len(cs.TLSUnique) != 0 {
		types = append(types, TLSUnique)
	}
	return types
}

func exporterAvailable(cs *tls.ConnectionState) bool {
	if cs.Version < tls.VersionTLS13 && unsafeEKM() {
		return false
	}
	_, err := exportKeyingMaterial(cs)
	return err == nil
}

// Default returns the connection's default channel-binding type: tls-exporter
// on TLS 1.3, tls-unique below (RFC 9266 §3, XEP-0440). It is what a client
// means by a bare "-PLUS" mechanism without a pseudomechanism suffix. ok is
// false when that type is not available on this connection (or the
// handshake is not complete); the type is still returned when known.
func Default(cs *tls.ConnectionState) (t Type, ok bool) {
	if cs == nil || !cs.HandshakeComplete {
		return "", false
	}
	if cs.Version >= tls.VersionTLS13 {
		return TLSExporter, exporterAvailable(cs)
	}
	return TLSUnique, len(cs.TLSUnique) != 0
}

// EndPointHash reports the hash RFC 5929 §4.1 chooses for the
// tls-server-end-point binding of cert: the hash of its signature algorithm,
// with MD5 and SHA-1 replaced by SHA-256. Algorithms that use no single hash
// (Ed25519, Ed448) or that Go does not know give an error wrapping
// ErrUnavailable.
func EndPointHash(cert *x509.Certificate) (crypto.Hash, error) {
	if cert == nil {
		return 0, unavailable(TLSServerEndPoint, "no certificate")
	}
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		h = crypto.SHA256
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = crypto.SHA512
	case x509.PureEd25519:
		return 0, unavailable(TLSServerEndPoint, "Ed25519 certificates have no RFC 5929 hash")
	default:
		return 0, unavailable(TLSServerEndPoint, "no RFC 5929 hash for signature algorithm "+cert.SignatureAlgorithm.String())
	}
	if !h.Available() {
		return 0, unavailable(TLSServerEndPoint, h.String()+" not linked in")
	}
	return h, nil
}

// unsafeEKM reports whether GODEBUG=tlsunsafeekm=1 is in effect, in which
// case crypto/tls exports keying material even without Extended Master
// Secret and a TLS 1.2 exporter can no longer be trusted.
func unsafeEKM() bool {
	if v, ok := godebugValue(os.Getenv("GODEBUG"), "tlsunsafeekm"); ok {
		return v == "1"
	}
	return defaultUnsafeEKM()
}

var defaultUnsafeEKM = sync.OnceValue(func() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "DefaultGODEBUG" {
			v, ok := godebugValue(s.Value, "tlsunsafeekm")
			return ok && v == "1"
		}
	}
	return false
})

// godebugValue finds key in a comma-separated GODEBUG list; the last setting
// wins, as in the runtime.
func godebugValue(list, key string) (value string, ok bool) {
	for list != "" {
		var kv string
		kv, list, _ = strings.Cut(list, ",")
		if k, v, found := strings.Cut(strings.TrimSpace(kv), "="); found && k == key {
			value, ok = v, true
		}
	}
	return value, ok
}
