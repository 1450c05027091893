package xmppcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"
	"unicode/utf8"
)

// TestRoundTrip issues a certificate with Extension and reads its names
// back through crypto/x509's parser.
func TestRoundTrip(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"juliet@example.com", "romeo@éxample.net"}
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: "client"},
		ExtraExtensions: []pkix.Extension{Extension(want...)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if got := Addrs(cert); !slices.Equal(got, want) {
		t.Fatalf("Addrs = %q, want %q", got, want)
	}
}

// TestSkips checks that other names, other OIDs and malformed values are
// skipped without losing the good entries around them.
func TestSkips(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []string
	}{
		// otherName xmppAddr "bob@local", then a dNSName "abc".
		{"with dNSName", "0\x1e\xa0\x17\x06\x08+\x06\x01\x05\x05\x07\x08\x05\xa0\x0b\x0c\x09bob@local\x82\x03abc", []string{"bob@local"}},
		// The same otherName with the OID's last arc changed to 4.
		{"other OID", "0\x19\xa0\x17\x06\x08+\x06\x01\x05\x05\x07\x08\x04\xa0\x0b\x0c\x09bob@local", nil},
		// IA5String instead of UTF8String.
		{"wrong string type", "0\x19\xa0\x17\x06\x08+\x06\x01\x05\x05\x07\x08\x05\xa0\x0b\x16\x09bob@local", nil},
		{"invalid UTF-8", "0\x13\xa0\x11\x06\x08+\x06\x01\x05\x05\x07\x08\x05\xa0\x05\x0c\x03a\xffb", nil},
		{"truncated", "0\x20\xa0\x17\x06", nil},
		{"empty", "0\x00", nil},
	}
	for _, tc := range tests {
		cert := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName, Value: []byte(tc.value)}}}
		if got := Addrs(cert); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Addrs = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzAddrs parses arbitrary subjectAltName extension values.
func FuzzAddrs(f *testing.F) {
	f.Add([]byte(Extension("bob@localhost").Value))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, value []byte) {
		cert := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName, Value: value}}}
		for _, a := range Addrs(cert) {
			if len(a) > len(value) || !utf8.ValidString(a) {
				t.Fatalf("address %q from %x", a, value)
			}
		}
	})
}
