package features

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/scram"
)

func parse2(t testing.TB, in string, maxPayload int) (saslElement, error) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(in))
	start, err := nextStart(d)
	if err != nil {
		return saslElement{}, err
	}
	return parseElement2(d, start, maxPayload)
}

// The client elements of XEP-0388, XEP-0386, XEP-0484 and XEP-0480, as the
// XEPs print them (comments and whitespace included), parse to what they
// say.
func TestParseElement2Examples(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, el saslElement)
	}{{
		name: "XEP-0388 An authentication request",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1-PLUS'>
  <!-- Base64 of: 'p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6' -->
  <initial-response>cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPTEyQzRDRDVDLUUzOEUtNEE5OC04RjZELTE1QzM4RjUxQ0NDNg==</initial-response>
  <user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>
    <software>AwesomeXMPP</software>
    <device>Kiva's Phone</device>
  </user-agent>
</authenticate>`,
		check: func(t *testing.T, el saslElement) {
			if el.kind != elBegin || el.mechanism != "SCRAM-SHA-1-PLUS" || el.err != nil ||
				string(el.payload) != "p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6" {
				t.Fatalf("%+v %q", el, el.payload)
			}
			if el.req.userAgent != (UserAgent{ID: "d4565fa7-4d72-4749-b3d3-740edbf87770", Software: "AwesomeXMPP", Device: "Kiva's Phone"}) {
				t.Errorf("user agent %+v", el.req.userAgent)
			}
			if el.req.bind != nil || el.req.fast != nil {
				t.Errorf("request %+v", el.req)
			}
		},
	}, {
		name: "XEP-0388 with a (hypothetical) bind request: indented data, unknown bind ignored",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='BLURDYBLOOP'>
  <initial-response>
    SSBzaG91bGQgbWFrZSB0aGlzIGEgY29tcGV0aXRpb24=
  </initial-response>
  <user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>
    <software>AwesomeXMPP</software>
    <device>Kiva's Phone</device>
  </user-agent>
  <bind xmlns='urn:xmpp:bind:example'/>
</authenticate>`,
		check: func(t *testing.T, el saslElement) {
			if el.err != nil || string(el.payload) != "I should make this a competition" || el.req.bind != nil {
				t.Fatalf("%+v %q", el, el.payload)
			}
		},
	}, {
		name: "XEP-0388 CRAM-MD5: no initial response",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='CRAM-MD5'>
  <user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>
    <software>AwesomeXMPP</software>
    <device>Kiva's Phone</device>
  </user-agent>
</authenticate>`,
		check: func(t *testing.T, el saslElement) {
			if el.err != nil || el.payload != nil {
				t.Fatalf("%+v", el)
			}
		},
	}, {
		name: "XEP-0388 response (SCRAM-SHA-1-PLUS client-final)",
		in: `<response xmlns='urn:xmpp:sasl:2'>
  Yz1jRDEwYkhNdFpYaHdiM0owWlhJc0xNY29Rdk9kQkRlUGQ0T3N3bG1BV1YzZGcxYTFXaDF0WVBUQndWaWQxMFZVLHI9MTJDNENENUMtRTM4RS00QTk4LThGNkQtMTVDMzhGNTFDQ0M2YTA5MTE3YTYtYWM1MC00ZjJmLTkzZjEtOTM3OTljMmJkZGY2LHA9VUFwbzd4bzZQYTlKK1ZhZWpmei9kRzdCb21VPQ==
</response>`,
		check: func(t *testing.T, el saslElement) {
			if el.kind != elResponse || !strings.HasPrefix(string(el.payload), "c=cD10bHMtZXhwb3J0ZXIsLMcoQvOdBDePd4OswlmAWV3dg1a1Wh1tYPTBwVid10VU,r=12C4CD5C") {
				t.Fatalf("%+v %q", el, el.payload)
			}
		},
	}, {
		name:  "XEP-0388 empty response",
		in:    `<response xmlns='urn:xmpp:sasl:2'/>`,
		check: func(t *testing.T, el saslElement) { wantPayload(t, el, "") },
	}, {
		name: "XEP-0388 Fictional TOTP task: next",
		in: `<next xmlns='urn:xmpp:sasl:2' task='TOTP-EXAMPLE'>
  <totp xmlns="urn:totp:example">
    SSd2ZSBydW4gb3V0IG9mIGlkZWFzIGhlcmUu
  </totp>
</next>`,
		check: func(t *testing.T, el saslElement) {
			if el.kind != elNext || el.mechanism != "TOTP-EXAMPLE" {
				t.Fatalf("%+v", el)
			}
		},
	}, {
		name: "XEP-0386 bind request with session features",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'>
  <initial-response>biwsbj11c2VyLHI9YWJj</initial-response>
  <bind xmlns='urn:xmpp:bind:0'>
    <tag>AwesomeXMPP</tag>
    <enable xmlns='urn:xmpp:carbons:2'/>
    <enable xmlns='urn:xmpp:sm:3'/>
    <inactive xmlns='urn:xmpp:csi:0'/>
  </bind>
</authenticate>`,
		check: func(t *testing.T, el saslElement) {
			b := el.req.bind
			if el.err != nil || b == nil || b.tag != "AwesomeXMPP" || len(b.elements) != 3 {
				t.Fatalf("%+v %+v", el, b)
			}
			for i, want := range []xml.Name{{Space: "urn:xmpp:carbons:2", Local: "enable"}, {Space: "urn:xmpp:sm:3", Local: "enable"}, {Space: "urn:xmpp:csi:0", Local: "inactive"}} {
				if b.elements[i].Start.Name != want {
					t.Errorf("inline %d: %v, want %v", i, b.elements[i].Start.Name, want)
				}
			}
			var buf bytes.Buffer
			e := xml.NewEncoder(&buf)
			if _, err := xmlstream.Copy(e, b.elements[1].TokenReader()); err != nil || e.Flush() != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != `<enable xmlns="urn:xmpp:sm:3"></enable>` {
				t.Errorf("inline element replayed as %s", got)
			}
		},
	}, {
		name: "XEP-0484 initial authentication requesting a token",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1-PLUS'>
    <initial-response>biwsbj11c2VyLHI9YWJj</initial-response>
    <bind xmlns='urn:xmpp:bind:0'>
      <tag>AwesomeXMPP</tag>
    </bind>
    <request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-ENDP'/>
</authenticate>`,
		check: func(t *testing.T, el saslElement) {
			if el.err != nil || el.req.requestToken != "HT-SHA-256-ENDP" || el.req.bind == nil || el.req.fast != nil {
				t.Fatalf("%+v", el.req)
			}
		},
	}, {
		name: "XEP-0484 token invalidation",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-ENDP'>
    <initial-response>dXNlcgAx</initial-response>
    <fast xmlns='urn:xmpp:fast:0' count='123' invalidate='true'/>
</authenticate>`,
		check: func(t *testing.T, el saslElement) {
			if el.err != nil || el.req.fast == nil || *el.req.fast != (fastRequest{count: 123, invalidate: true}) {
				t.Fatalf("%+v %+v", el, el.req.fast)
			}
		},
	}, {
		name: "XEP-0480 upgrade request",
		in: `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1-PLUS'>
    <upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade>
    <initial-response>cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPTEyQzRDRDVDLUUzOEUtNEE5OC04RjZELTE1QzM4RjUxQ0NDNg==</initial-response>
    <user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>
      <software>AwesomeXMPP</software>
      <device>Kiva's Phone</device>
    </user-agent>
  </authenticate>`,
		check: func(t *testing.T, el saslElement) {
			if el.err != nil || len(el.req.upgrades) != 1 || el.req.upgrades[0] != "UPGR-SCRAM-SHA-256" {
				t.Fatalf("%+v", el.req)
			}
		},
	}, {
		name: "XEP-0480 SaltedPassword task data",
		in: `<task-data xmlns='urn:xmpp:sasl:2'>
    <hash xmlns='urn:xmpp:scram-upgrade:0'>
      BzOnw3Pc5H4bOLlPZ/8JAy6wnTpH05aH21KW2+Xfpaw=
    </hash>
  </task-data>`,
		check: func(t *testing.T, el saslElement) {
			if el.kind != elTaskData || len(el.payload) != 32 {
				t.Fatalf("%+v", el)
			}
		},
	}, {
		name:  "abort with text",
		in:    `<abort xmlns='urn:xmpp:sasl:2'><text>bored</text></abort>`,
		check: func(t *testing.T, el saslElement) { wantKind(t, el, elAbort) },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el, err := parse2(t, tc.in, DefaultMaxPayloadSize)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, el)
		})
	}
}

func wantPayload(t *testing.T, el saslElement, want string) {
	t.Helper()
	if el.err != nil || el.payload == nil || string(el.payload) != want {
		t.Fatalf("%+v: payload %q, want %q", el, el.payload, want)
	}
}

func wantKind(t *testing.T, el saslElement, kind int) {
	t.Helper()
	if el.kind != kind {
		t.Fatalf("%+v: kind %d, want %d", el, el.kind, kind)
	}
}

// Hostile or broken elements are refused with the right error, never
// accepted and never kept beyond the caps.
func TestParseElement2Refuses(t *testing.T) {
	long := strings.Repeat("x", maxShortField+1)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"whitespace inside base64", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AGFs aWNl</initial-response></authenticate>`, errIncorrectEncoding},
		{"not base64", `<response xmlns='urn:xmpp:sasl:2'>!!!</response>`, errIncorrectEncoding},
		{"payload over the cap", `<response xmlns='urn:xmpp:sasl:2'>` + base64.StdEncoding.EncodeToString(make([]byte, 100)) + `</response>`, errPayloadTooLarge},
		{"child in a response", `<response xmlns='urn:xmpp:sasl:2'><x/>AAAA</response>`, errMalformed},
		{"two initial responses", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AA==</initial-response><initial-response>AA==</initial-response></authenticate>`, errMalformed},
		{"user-agent id too long", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='` + long + `'/></authenticate>`, errMalformed},
		{"software too long", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent><software>` + long + `</software></user-agent></authenticate>`, errMalformed},
		{"tag too long", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><bind xmlns='urn:xmpp:bind:0'><tag>` + strings.Repeat("t", maxTagLen+1) + `</tag></bind></authenticate>`, errMalformed},
		{"mechanism too long", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='` + long + `'/>`, errMalformed},
		{"count zero", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><fast xmlns='urn:xmpp:fast:0' count='0'/></authenticate>`, errMalformed},
		{"count not a number", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><fast xmlns='urn:xmpp:fast:0' count='-1'/></authenticate>`, errMalformed},
		{"invalidate not a boolean", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><fast xmlns='urn:xmpp:fast:0' invalidate='yes'/></authenticate>`, errMalformed},
		{"too many inline requests", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><bind xmlns='urn:xmpp:bind:0'>` + strings.Repeat(`<enable xmlns='urn:x'/>`, maxInline+1) + `</bind></authenticate>`, errMalformed},
		{"inline request too big", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><bind xmlns='urn:xmpp:bind:0'><e xmlns='urn:x'>` + strings.Repeat(`<a/>`, maxInlineTokens) + `</e></bind></authenticate>`, errMalformed},
		{"too many children", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'>` + strings.Repeat(`<x xmlns='urn:x'/>`, maxChildren+1) + `</authenticate>`, errMalformed},
		{"too many upgrades", `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'>` + strings.Repeat(`<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-X</upgrade>`, maxUpgrades+1) + `</authenticate>`, errMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			el, err := parse2(t, tc.in, 64)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(el.err, tc.want) {
				t.Fatalf("err %v, want %v", el.err, tc.want)
			}
			if len(el.payload) > 64 {
				t.Fatalf("payload of %d bytes", len(el.payload))
			}
		})
	}
	// Outside the namespace: not a SASL2 element at all.
	c := newTestLogin(t)
	if _, err := c.readElement2(xml.NewDecoder(strings.NewReader(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>`))); !errors.Is(err, errUnexpectedElement) {
		t.Fatalf("RFC 6120 <auth/> on SASL2: %v", err)
	}
}

func newTestLogin(t testing.TB) *Login {
	t.Helper()
	srv, err := New(Config{Domains: []string{"localhost"}, Mechanisms: []string{"EXTERNAL"}, MaxPayloadSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	return srv.NewLogin()
}

// The server's elements, written as the XEPs print them.
func TestSASL2ServerElements(t *testing.T) {
	encode := func(r xml.TokenReader) string {
		var buf bytes.Buffer
		e := xml.NewEncoder(&buf)
		if _, err := xmlstream.Copy(e, r); err != nil || e.Flush() != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	// XEP-0474 §6.3 (and XEP-0388 "Success"): the SCRAM server-final
	// 'v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c=' as additional data.
	got := encode(successElement2([]byte("v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c="), "user@example.org", nil, nil))
	want := `<success xmlns="urn:xmpp:sasl:2"><additional-data>dj1NUXJNUHZ2N3l2NHg0Q3E0VzRJaDI1RXFTMmM9</additional-data>` +
		`<authorization-identifier>user@example.org</authorization-identifier></success>`
	if got != want {
		t.Errorf("success\n got %s\nwant %s", got, want)
	}
	// XEP-0388 "Failure": the RFC 6120 condition in its namespace.
	got = encode(failureElement2("aborted", "This is a terrible example.", nil))
	want = `<failure xmlns="urn:xmpp:sasl:2"><aborted xmlns="urn:ietf:params:xml:ns:xmpp-sasl"></aborted>` +
		`<text xmlns:_xml="http://www.w3.org/XML/1998/namespace" _xml:lang="en">This is a terrible example.</text></failure>`
	if strings.ReplaceAll(got, `xmlns:_xml="http://www.w3.org/XML/1998/namespace" _xml:lang`, `xml:lang`) !=
		strings.ReplaceAll(want, `xmlns:_xml="http://www.w3.org/XML/1998/namespace" _xml:lang`, `xml:lang`) {
		t.Errorf("failure\n got %s\nwant %s", got, want)
	}
	// XEP-0474 §6.3: the h= of the SASL2 list of the example.
	sum := sha1.Sum(scram.DowngradeProtectionInput([]string{"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"}, []string{"tls-server-end-point", "tls-exporter"}))
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != "G6k/rBLDqgOhRRaCuuatSDFkJ08=" {
		t.Errorf("XEP-0474 h=%s", got)
	}
}

// XEP-0386 resources: "[client tag]/[server generated identifier]", the
// same for the same account, user agent and tag, different otherwise, and
// without the user-agent id in it.
func TestBind2Resource(t *testing.T) {
	srv, err := New(Config{Domains: []string{"localhost"}, Mechanisms: []string{"EXTERNAL"}, Secret: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := New(Config{Domains: []string{"localhost"}, Mechanisms: []string{"EXTERNAL"}, Secret: []byte("0123456789abcdef")})
	other, _ := New(Config{Domains: []string{"localhost"}, Mechanisms: []string{"EXTERNAL"}, Secret: []byte("another secret!!")})
	alice, bob := jid.MustParse("alice@localhost"), jid.MustParse("bob@localhost")
	const ua = "d4565fa7-4d72-4749-b3d3-740edbf87770"
	r := srv.bind2Resource(alice, ua, "AwesomeXMPP")
	if !strings.HasPrefix(r, "AwesomeXMPP/") || len(r) != len("AwesomeXMPP/")+16 || strings.Contains(r, ua) {
		t.Fatalf("resource %q", r)
	}
	for _, tc := range []struct {
		name string
		got  string
		same bool
	}{
		{"same client again", srv.bind2Resource(alice, ua, "AwesomeXMPP"), true},
		{"same secret, another server process", again.bind2Resource(alice, ua, "AwesomeXMPP"), true},
		{"another secret", other.bind2Resource(alice, ua, "AwesomeXMPP"), false},
		{"another user agent", srv.bind2Resource(alice, "0b4c2a4e-0000-4000-8000-000000000000", "AwesomeXMPP"), false},
		{"another account", srv.bind2Resource(bob, ua, "AwesomeXMPP"), false},
		{"another tag", srv.bind2Resource(alice, ua, "Other"), false},
	} {
		if (tc.got == r) != tc.same {
			t.Errorf("%s: %q vs %q", tc.name, tc.got, r)
		}
	}
	if a, b := srv.bind2Resource(alice, "", "AwesomeXMPP"), srv.bind2Resource(alice, "", "AwesomeXMPP"); a == b {
		t.Errorf("no user agent, yet the same resource twice: %q", a)
	}
	if got := srv.bind2Resource(alice, ua, "bad\u0000tag"); strings.Contains(got, "/") {
		t.Errorf("invalid tag kept: %q", got)
	}
}

// BenchmarkParseAuthenticate parses a SASL2 <authenticate/> as Conversations
// or go-xmpp send it: initial response, user agent, Bind2 with inline
// requests, a FAST token request.
func BenchmarkParseAuthenticate(b *testing.B) {
	in := `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256-PLUS'>` +
		`<initial-response>cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPTEyQzRDRDVDLUUzOEUtNEE5OC04RjZELTE1QzM4RjUxQ0NDNg==</initial-response>` +
		`<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>AwesomeXMPP</software><device>Kiva's Phone</device></user-agent>` +
		`<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3'/></bind>` +
		`<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-EXPR'/></authenticate>`
	r := strings.NewReader(in)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		d := xml.NewDecoder(r)
		start, err := nextStart(d)
		if err != nil {
			b.Fatal(err)
		}
		if el, err := parseElement2(d, start, DefaultMaxPayloadSize); err != nil || el.err != nil {
			b.Fatal(err, el.err)
		}
	}
}
