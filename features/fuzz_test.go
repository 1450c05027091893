package features

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/scram"
)

// FuzzReadElement feeds arbitrary client XML to the SASL element reader: it
// must never panic, and never hand out a payload over the cap.
func FuzzReadElement(f *testing.F) {
	for _, s := range []string{
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>`,
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS:tls-exporter'>=</auth>`,
		`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
		`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`,
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X'><x/>AAAA</auth>`,
		`<message><body>hi</body></message>`,
		" \n<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>!!</auth>",
	} {
		f.Add(s)
	}
	srv, err := New(Config{Domains: []string{"localhost"}, Store: scram.NewMemoryStore(), MaxPayloadSize: 64, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	c := srv.NewLogin()
	f.Fuzz(func(t *testing.T, in string) {
		d := xml.NewDecoder(strings.NewReader(in))
		el, err := c.readElement(context.Background(), d, noDeadline{})
		if err != nil {
			return
		}
		if len(el.payload) > 64 {
			t.Fatalf("payload of %d bytes passed a 64-byte cap", len(el.payload))
		}
		if el.err == nil && el.payload != nil && el.name == "" {
			t.Fatal("payload without an element name")
		}
	})
}

// FuzzPLAIN runs arbitrary PLAIN messages against a store that knows alice.
func FuzzPLAIN(f *testing.F) {
	for _, s := range []string{"\x00alice\x00alice-secret", "admin@localhost\x00alice\x00x", "\x00\x00", "a\x00b", "\x00ALICE\x00alice-secret", "\x00al\xffice\x00p"} {
		f.Add([]byte(s))
	}
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice@localhost", "alice-secret", scram.MinIterations); err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Domains: []string{"localhost"}, Store: store, DisableThrottle: true})
	if err != nil {
		f.Fatal(err)
	}
	domain := jid.MustParse("localhost")
	f.Fuzz(func(t *testing.T, in []byte) {
		m := &plainMechanism{store: accountStore{srv: srv, domain: domain, a: &attempt{}}, profile: &srv.plain}
		_, done, err := m.step(context.Background(), in)
		if done != (err == nil) {
			t.Fatalf("done=%v err=%v", done, err)
		}
		if done {
			id, _, _ := m.result()
			if id.String() != "alice@localhost" {
				t.Fatalf("%q authenticated as %s", in, id)
			}
		}
	})
}

// FuzzXMPPAddrs parses arbitrary subjectAltName extension values.
func FuzzXMPPAddrs(f *testing.F) {
	// A SAN with one otherName id-on-xmppAddr "bob@localhost" and a dNSName.
	f.Add([]byte("0\x200\x19\xa0\x17\x06\x08+\x06\x01\x05\x05\x07\x08\x05\xa0\x0b\x0c\x09bob@local\x82\x03abc"))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, value []byte) {
		cert := &x509.Certificate{Extensions: []pkix.Extension{{Id: oidSubjectAltName, Value: value}}}
		for _, a := range XMPPAddrs(cert) {
			if len(a) > len(value) || !utf8.ValidString(a) {
				t.Fatalf("address %q from %x", a, value)
			}
		}
	})
}
