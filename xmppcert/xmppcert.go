// Package xmppcert reads and writes the id-on-xmppAddr names of X.509
// certificates (RFC 6120 §13.7.1.4): the otherName entries of a
// subjectAltName extension that carry a JID, as SASL EXTERNAL (XEP-0178)
// reads them from a client certificate.
//
// crypto/x509 does not parse otherName entries, and mellium.im/xmpp's own
// helpers do not look for this OID, so this package parses the extension
// itself with x/crypto's cryptobyte, strictly: a malformed entry is
// skipped, never guessed at. It does not read SRV-ID (RFC 6120
// §13.7.1.2.1) or the dNSName of server certificates; crypto/x509 verifies
// those.
package xmppcert

import (
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

var (
	// OID is id-on-xmppAddr, 1.3.6.1.5.5.7.8.5.
	OID = encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}

	oidSubjectAltName = encasn1.ObjectIdentifier{2, 5, 29, 17}
	otherNameTag      = asn1.Tag(0).ContextSpecific().Constructed()
)

// Addrs returns the id-on-xmppAddr values of cert's subjectAltName
// extension, in order. Entries that are malformed, or not UTF-8, are
// skipped; the values are not checked to be JIDs.
func Addrs(cert *x509.Certificate) []string {
	var out []string
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		in := cryptobyte.String(ext.Value)
		var names cryptobyte.String
		if !in.ReadASN1(&names, asn1.SEQUENCE) {
			return out
		}
		for !names.Empty() {
			var name cryptobyte.String
			var tag asn1.Tag
			if !names.ReadAnyASN1(&name, &tag) {
				return out
			}
			if tag != otherNameTag {
				continue
			}
			var oid encasn1.ObjectIdentifier
			var value, utf8String cryptobyte.String
			if !name.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(OID) ||
				!name.ReadASN1(&value, otherNameTag) ||
				!value.ReadASN1(&utf8String, asn1.UTF8String) || !utf8.Valid(utf8String) {
				continue
			}
			out = append(out, string(utf8String))
		}
	}
	return out
}

// Extension returns a subjectAltName extension that carries addrs as
// id-on-xmppAddr names, for x509.Certificate.ExtraExtensions when issuing a
// client certificate for SASL EXTERNAL. crypto/x509 then writes no
// subjectAltName of its own, so the template's DNSNames, EmailAddresses,
// IPAddresses and URIs are not written.
func Extension(addrs ...string) pkix.Extension {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, a := range addrs {
			b.AddASN1(otherNameTag, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(OID)
				b.AddASN1(otherNameTag, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte(a)) })
				})
			})
		}
	})
	return pkix.Extension{Id: oidSubjectAltName, Value: b.BytesOrPanic()}
}
