package features

import (
	"context"
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
		el, err := c.readElement(d)
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
		m := &plainMechanism{store: accountStore{srv: srv, meta: connMeta{domain: domain}, a: &attempt{}}, profile: &srv.plain}
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

// FuzzReadElement2 feeds arbitrary client XML to the SASL2 element parser:
// it must never panic, never keep a payload, field or inline request over
// its cap, and never read past the element it parses.
func FuzzReadElement2(f *testing.F) {
	for _, s := range []string{
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1-PLUS'><initial-response>cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPTEyQzRDRDVDLUUzOEUtNEE5OC04RjZELTE1QzM4RjUxQ0NDNg==</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>AwesomeXMPP</software><device>Kiva's Phone</device></user-agent></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>biwsbj11c2VyLHI9YWJj</initial-response><bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3'/><inactive xmlns='urn:xmpp:csi:0'/></bind></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-ENDP'><initial-response>dXNlcgAx</initial-response><fast xmlns='urn:xmpp:fast:0' count='123' invalidate='true'/><request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-ENDP'/></authenticate>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1-PLUS'><upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade></authenticate>`,
		`<response xmlns='urn:xmpp:sasl:2'>
  U28sIG5leHQgRk9TREVNIC0gMjAxOCwgdGhhdCBpcy4uLg==
</response>`,
		`<response xmlns='urn:xmpp:sasl:2'/>`,
		`<abort xmlns='urn:xmpp:sasl:2'><text>x</text></abort>`,
		`<next xmlns='urn:xmpp:sasl:2' task='UPGR-SCRAM-SHA-256'/>`,
		`<task-data xmlns='urn:xmpp:sasl:2'><hash xmlns='urn:xmpp:scram-upgrade:0'>BzOnw3Pc5H4bOLlPZ/8JAy6wnTpH05aH21KW2+Xfpaw=</hash></task-data>`,
		`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='X'><bind xmlns='urn:xmpp:bind:0'><e xmlns='urn:x'><a><b/></a></e></bind></authenticate>`,
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>`,
	} {
		f.Add(s)
	}
	srv, err := New(Config{Domains: []string{"localhost"}, Store: scram.NewMemoryStore(), MaxPayloadSize: 64, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	c := srv.NewLogin()
	f.Fuzz(func(t *testing.T, in string) {
		d := xml.NewDecoder(strings.NewReader(in + "<after/>"))
		el, err := c.readElement2(d)
		if err != nil {
			return
		}
		if len(el.payload) > 64 {
			t.Fatalf("payload of %d bytes passed a 64-byte cap", len(el.payload))
		}
		if len(el.mechanism) > maxShortField {
			t.Fatalf("mechanism of %d bytes", len(el.mechanism))
		}
		if r := el.req; r != nil {
			for _, s := range []string{r.userAgent.ID, r.userAgent.Software, r.userAgent.Device, r.requestToken} {
				if len(s) > maxShortField || !utf8.ValidString(s) {
					t.Fatalf("field %q kept", s)
				}
			}
			if len(r.upgrades) > maxUpgrades {
				t.Fatalf("%d upgrades", len(r.upgrades))
			}
			if b := r.bind; b != nil {
				if len(b.tag) > maxTagLen || len(b.elements) > maxInline {
					t.Fatalf("bind %q with %d inline requests", b.tag, len(b.elements))
				}
				for _, e := range b.elements {
					if len(e.tokens) > maxInlineTokens {
						t.Fatalf("inline request of %d tokens", len(e.tokens))
					}
				}
			}
		}
		// The parser stops at the element's end, as Skip would.
		oracle := xml.NewDecoder(strings.NewReader(in + "<after/>"))
		if _, err := nextStart(oracle); err != nil {
			t.Fatalf("the parser accepted what the oracle cannot read: %v", err)
		}
		if err := oracle.Skip(); err != nil {
			t.Fatalf("the parser accepted an element the oracle cannot skip: %v", err)
		}
		if got, want := d.InputOffset(), oracle.InputOffset(); got != want {
			t.Fatalf("stopped at offset %d, the element ends at %d", got, want)
		}
	})
}
