package saslclient

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
)

func decodeStart(t testing.TB, doc string) (*xml.Decoder, xml.StartElement) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	return d, tok.(xml.StartElement)
}

func TestParseAuthentication(t *testing.T) {
	// XEP-0484's feature example with XEP-0386's Bind 2 feature and an
	// unknown inline feature.
	d, _ := decodeStart(t, `<authentication xmlns='urn:xmpp:sasl:2'>
		<mechanism>SCRAM-SHA-1</mechanism>
		<mechanism>SCRAM-SHA-1-PLUS</mechanism>
		<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>UPGR-SCRAM-SHA-256</upgrade>
		<inline>
			<bind xmlns='urn:xmpp:bind:0'><inline><feature var="urn:xmpp:carbons:2"/><feature var="urn:xmpp:csi:0"/></inline></bind>
			<sm xmlns='urn:xmpp:sm:3'/>
			<fast xmlns='urn:xmpp:fast:0' tls-0rtt='true'>
				<mechanism>HT-SHA-256-ENDP</mechanism>
				<mechanism>HT-SHA-256-EXPR</mechanism>
				<mechanism>HT-SHA-256-NONE</mechanism>
			</fast>
		</inline>
	</authentication>`)
	off, err := parseAuthentication(d)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(off.mechanisms, []string{"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"}) ||
		!off.bind2 || !slices.Equal(off.bindVars, []string{"urn:xmpp:carbons:2", "urn:xmpp:csi:0"}) ||
		!slices.Equal(off.fast, []string{"HT-SHA-256-ENDP", "HT-SHA-256-EXPR", "HT-SHA-256-NONE"}) ||
		len(off.inline) != 3 || off.inline[1] != (xml.Name{Space: "urn:xmpp:sm:3", Local: "sm"}) {
		t.Errorf("offer = %+v", off)
	}
	// Mechanisms of another namespace are not SASL2's.
	d, _ = decodeStart(t, `<authentication xmlns='urn:xmpp:sasl:2'><mechanism xmlns='urn:example'>X</mechanism></authentication>`)
	if off, err := parseAuthentication(d); err != nil || len(off.mechanisms) != 0 || off.mechanisms == nil {
		t.Errorf("foreign mechanism: %+v, %v", off, err)
	}
	for _, bad := range []string{
		`<authentication xmlns='urn:xmpp:sasl:2'>` + strings.Repeat(`<mechanism>A</mechanism>`, MaxMechanisms+1) + `</authentication>`,
		`<authentication xmlns='urn:xmpp:sasl:2'><mechanism>A B</mechanism></authentication>`,
		`<authentication xmlns='urn:xmpp:sasl:2'><inline>` + strings.Repeat(`<x xmlns='urn:x'/>`, MaxElements+1) + `</inline></authentication>`,
		`<authentication xmlns='urn:xmpp:sasl:2'><inline><bind xmlns='urn:xmpp:bind:0'><inline><feature/></inline></bind></inline></authentication>`,
		`<authentication xmlns='urn:xmpp:sasl:2'><inline><fast xmlns='urn:xmpp:fast:0'><mechanism><x/></mechanism></fast></inline></authentication>`,
		`<authentication xmlns='urn:xmpp:sasl:2'><mechanism>A</mechanism>`,
	} {
		d, _ := decodeStart(t, bad)
		if _, err := parseAuthentication(d); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.90q: %v", bad, err)
		}
	}
}

func TestParseHT(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		hash crypto.Hash
		cb   cbind.Type
	}{
		{"HT-SHA-256-EXPR", true, crypto.SHA256, cbind.TLSExporter},
		{"HT-SHA-256-ENDP", true, crypto.SHA256, cbind.TLSServerEndPoint},
		{"HT-SHA-512-UNIQ", true, crypto.SHA512, cbind.TLSUnique},
		{"HT-SHA3-512-NONE", true, crypto.SHA3_512, ""},
		{"HT-SHA-384-EXPR", true, crypto.SHA384, cbind.TLSExporter},
		{"HT-SHA-256-XXXX", false, 0, ""},
		{"HT-MD5-EXPR", false, 0, ""},
		{"SCRAM-SHA-256", false, 0, ""},
		{"HT-EXPR", false, 0, ""},
		{"HT-", false, 0, ""},
	}
	for _, tc := range tests {
		m, ok := parseHT(tc.name)
		if ok != tc.ok || ok && (m.hash != tc.hash || m.cbType != tc.cb || m.name != tc.name) {
			t.Errorf("%s: %+v, %v", tc.name, m, ok)
		}
		if ok && !m.hash.Available() {
			t.Errorf("%s: hash not linked in", tc.name)
		}
	}
}

func TestChooseHT(t *testing.T) {
	tls13 := connection{available: []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint}, defaultCB: cbind.TLSExporter, hasDefault: true}
	tls12 := connection{available: []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint, cbind.TLSUnique}, defaultCB: cbind.TLSUnique, hasDefault: true}
	all := []string{"HT-SHA-256-NONE", "HT-SHA-256-ENDP", "HT-SHA-256-UNIQ", "HT-SHA-256-EXPR", "HT-SHA-512-EXPR"}
	tests := []struct {
		name    string
		cfg     Config
		offered []string
		conn    connection
		want    string // "" none
	}{
		{"TLS 1.3: exporter, strongest hash", Config{}, all, tls13, "HT-SHA-512-EXPR"},
		{"TLS 1.2: the default tls-unique first", Config{}, all, tls12, "HT-SHA-256-UNIQ"},
		{"TLS 1.2 without UNIQ offered: exporter", Config{}, []string{"HT-SHA-256-ENDP", "HT-SHA-256-EXPR"}, tls12, "HT-SHA-256-EXPR"},
		{"TLS 1.3 without EXPR offered: end-point", Config{}, []string{"HT-SHA-256-NONE", "HT-SHA-256-UNIQ", "HT-SHA-256-ENDP"}, tls13, "HT-SHA-256-ENDP"},
		{"only NONE, not allowed", Config{}, []string{"HT-SHA-256-NONE"}, tls13, ""},
		{"only NONE, allowed", Config{FAST: FAST{AllowNoBinding: true}}, []string{"HT-SHA-256-NONE"}, tls13, "HT-SHA-256-NONE"},
		{"binding beats NONE even when allowed", Config{FAST: FAST{AllowNoBinding: true}}, all, tls13, "HT-SHA-512-EXPR"},
		{"no binding here", Config{FAST: FAST{AllowNoBinding: true}}, all, connection{}, "HT-SHA-256-NONE"},
		{"unknown names only", Config{}, []string{"HT-BLAKE-EXPR", "X-FOO"}, tls13, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := chooseHT(&tc.cfg, tc.offered, tc.conn)
			if ok != (tc.want != "") || m.name != tc.want {
				t.Errorf("got %q (%v), want %q", m.name, ok, tc.want)
			}
		})
	}
}

// TestHTProof: draft-schmaus-kitten-sasl-ht §3 gives no vectors; these were
// computed with Python's hmac and hashlib (token from XEP-0484's example,
// channel-binding data 0x00…0x1f).
func TestHTProof(t *testing.T) {
	const token = "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm"
	cb := make([]byte, 32)
	for i := range cb {
		cb[i] = byte(i)
	}
	tests := []struct {
		hash  crypto.Hash
		label string
		cb    []byte
		want  string
	}{
		{crypto.SHA256, "Initiator", cb, "0c5745576afeea711960549186a31a65c9f328205ee38b66825b3d4c872b395c"},
		{crypto.SHA256, "Responder", cb, "1260579b34d55aeba4e43062a412db609a0a7153abd218b0f148445c4e83529f"},
		{crypto.SHA512, "Initiator", cb, "9f653097fb6a675f07f429e3b1398be77188c1489b702a5109f9446e5783e5d3cbe1bf87a1fa7689d9c95a1d694b4b59bc371d1104cf21809efd240d3cacb609"},
		{crypto.SHA3_512, "Responder", cb, "7d5d847ba0d4040978919a258bb78e01ba76c76d389e94befd7400b1a2614506f7e3d7d6e7bf66e6bf0b379019cb5919a754aba8c47b9d96e046565261883e52"},
		{crypto.SHA256, "Initiator", nil, "9097787461a184e0fa84ec00c1381190b6c4d16a8ec4453c7b2ac5e7fcf935ed"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(htProof(tc.hash, token, tc.label, tc.cb)); got != tc.want {
			t.Errorf("%v %s: %s, want %s", tc.hash, tc.label, got, tc.want)
		}
	}
}

func TestReadSASL2(t *testing.T) {
	read := func(doc string) (outcome, error) {
		d, start := decodeStart(t, doc)
		return readSASL2(d, start)
	}
	// XEP-0388's success example, with Bind 2 and FAST from XEP-0484.
	el, err := read(`<success xmlns='urn:xmpp:sasl:2'>
		<additional-data>
			dj1tc1ZIcy9CeklPSERxWGVWSDdFbW1EdTlpZDg9
		</additional-data>
		<authorization-identity>user@example.com/AwesomeXMPP.4232f4d4</authorization-identity>
		<bound xmlns='urn:xmpp:bind:0'><metadata xmlns='urn:xmpp:mam:2'><start id='YWxwaGEg' timestamp='2008-08-22T21:09:04Z' /></metadata></bound>
		<token xmlns='urn:xmpp:fast:0' expiry='2020-03-12T14:36:15Z' token='WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm' />
		<resumed xmlns='urn:xmpp:sm:3' h='345' previd='124'/>
	</success>`)
	if err != nil {
		t.Fatal(err)
	}
	s := el.success
	if string(el.data) != "v=msVHs/BzIOHDqXeVH7EmmDu9id8=" || s.authzid != "user@example.com/AwesomeXMPP.4232f4d4" || !s.bound ||
		len(s.boundEls) != 1 || s.token == nil || s.token.Secret != "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm" ||
		!s.token.Expiry.Equal(time.Date(2020, 3, 12, 14, 36, 15, 0, time.UTC)) || len(s.other) != 1 {
		t.Fatalf("success = %+v %+v", el, s)
	}
	var resumed struct {
		XMLName xml.Name `xml:"urn:xmpp:sm:3 resumed"`
		H       int      `xml:"h,attr"`
	}
	if err := xml.Unmarshal(s.other[0].XML, &resumed); err != nil || resumed.H != 345 {
		t.Errorf("resumed = %s: %v", s.other[0].XML, err)
	}
	if !bytes.Contains(s.boundEls[0].XML, []byte(`xmlns="urn:xmpp:mam:2"`)) || bytes.Count(s.boundEls[0].XML, []byte(`xmlns=`)) != 2 {
		t.Errorf("metadata re-encoded as %s", s.boundEls[0].XML)
	}

	el, err = read(`<continue xmlns='urn:xmpp:sasl:2'><additional-data>SSdtIGJvcmVkIG5vdy4=</additional-data><tasks><task>HOTP-EXAMPLE</task><task>TOTP-EXAMPLE</task></tasks><text>This account requires 2FA</text></continue>`)
	if err != nil || string(el.data) != "I'm bored now." || !slices.Equal(el.tasks.Tasks, []string{"HOTP-EXAMPLE", "TOTP-EXAMPLE"}) || el.tasks.Text != "This account requires 2FA" {
		t.Errorf("continue = %+v, %v", el, err)
	}
	el, err = read(`<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><optional-application-specific xmlns='urn:something:else'/><text>This is a terrible example.</text></failure>`)
	if err != nil || el.failure.Condition != "aborted" || el.failure.Text != "This is a terrible example." || len(el.failure.AppSpecific) != 1 {
		t.Errorf("failure = %+v, %v", el.failure, err)
	}
	el, err = read(`<challenge xmlns='urn:xmpp:sasl:2'>
		cj0xMkM0Q0Q1Qy1FMzhFLTRBOTgtOEY2RC0xNUMzOEY1MUNDQzZhMDkxMTdhNi1hYzUwLTRmMmYtOTNmMS05Mzc5OWMyYmRkZjYscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==
	</challenge>`)
	if err != nil || !strings.HasPrefix(string(el.data), "r=12C4CD5C") {
		t.Errorf("challenge = %q, %v", el.data, err)
	}

	for _, bad := range []string{
		`<success xmlns='urn:xmpp:sasl:2'><additional-data>!</additional-data></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><authorization-identifier><x/></authorization-identifier></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>a</authorization-identifier><authorization-identifier>b</authorization-identifier></success>`,
		`<success xmlns='urn:xmpp:sasl:2'>text</success>`,
		`<success xmlns='urn:xmpp:sasl:2'><bound xmlns='urn:xmpp:bind:0'/><bound xmlns='urn:xmpp:bind:0'/></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><token xmlns='urn:xmpp:fast:0' expiry='tomorrow' token='x'/></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><token xmlns='urn:xmpp:fast:0' expiry='2020-03-12T14:36:15Z'/></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><token xmlns='urn:xmpp:fast:0' expiry='2020-03-12T14:36:15Z' token='` + strings.Repeat("a", maxTokenLen+1) + `'/></success>`,
		`<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>` + strings.Repeat("a", maxJIDLen+65) + `</authorization-identifier></success>`,
		`<continue xmlns='urn:xmpp:sasl:2'><tasks/></continue>`,
		`<continue xmlns='urn:xmpp:sasl:2'><tasks><task>A</task></tasks><tasks><task>B</task></tasks></continue>`,
		`<challenge xmlns='urn:xmpp:sasl:2'>` + strings.Repeat("QUFB", MaxServerMessageLen) + `</challenge>`,
		`<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>QUFB</challenge>`,
		`<next xmlns='urn:xmpp:sasl:2' task='X'/>`,
	} {
		if _, err := read(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.90q: %v", bad, err)
		}
	}
}

func TestCaptureElement(t *testing.T) {
	d, start := decodeStart(t, `<enabled xmlns='urn:xmpp:sm:3' xmlns:x='urn:x' id='a&amp;b' x:flag='1' xml:lang='en'><child>t&lt;</child><x:other/></enabled>`)
	e, err := captureElement(d, start, 1024)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		XMLName xml.Name  `xml:"urn:xmpp:sm:3 enabled"`
		ID      string    `xml:"id,attr"`
		Flag    string    `xml:"urn:x flag,attr"`
		Lang    string    `xml:"http://www.w3.org/XML/1998/namespace lang,attr"`
		Child   string    `xml:"urn:xmpp:sm:3 child"`
		Other   *struct{} `xml:"urn:x other"`
	}
	if err := xml.Unmarshal(e.XML, &got); err != nil || got.ID != "a&b" || got.Flag != "1" || got.Lang != "en" || got.Child != "t<" || got.Other == nil {
		t.Errorf("%s → %+v, %v", e.XML, got, err)
	}
	d, start = decodeStart(t, `<a xmlns='urn:a'>`+strings.Repeat("<b/>", 100)+`</a>`)
	if _, err := captureElement(d, start, 200); !errors.Is(err, ErrMalformed) {
		t.Errorf("over the limit: %v", err)
	}
}

func TestTokenRedacted(t *testing.T) {
	tok := Token{Mechanism: "HT-SHA-256-EXPR", Secret: "very-secret", Expiry: time.Unix(0, 0), Count: 2}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok), fmt.Sprint(&tok)} {
		if strings.Contains(s, "very-secret") {
			t.Errorf("secret in %q", s)
		}
	}
}

func TestConfigValidateSASL2(t *testing.T) {
	store := &MemoryTokenStore{}
	const id = "d4565fa7-4d72-4749-b3d3-740edbf87770"
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"tokens without password", Config{UserAgent: UserAgent{ID: id}, FAST: FAST{Tokens: store}}, true},
		{"tokens without id", Config{Password: "p", FAST: FAST{Tokens: store}}, false},
		{"tokens without SASL2", Config{Password: "p", UserAgent: UserAgent{ID: id}, FAST: FAST{Tokens: store}, DisableSASL2: true}, false},
		{"id not a UUID", Config{Password: "p", UserAgent: UserAgent{ID: "my-phone"}}, false},
		{"id UUID v1", Config{Password: "p", UserAgent: UserAgent{ID: "d4565fa7-4d72-1749-b3d3-740edbf87770"}}, false},
		{"id upper case", Config{Password: "p", UserAgent: UserAgent{ID: strings.ToUpper(id)}}, true},
		{"software too long", Config{Password: "p", UserAgent: UserAgent{Software: strings.Repeat("a", maxUserAgentLen+1)}}, false},
		{"device with a control character", Config{Password: "p", UserAgent: UserAgent{Device: "a\x00b"}}, false},
		{"tag not UTF-8", Config{Password: "p", Bind2: Bind2{Tag: "\xff"}}, false},
		{"everything", Config{Password: "p", UserAgent: UserAgent{ID: id, Software: "App", Device: "Kiva's Phone"}, Bind2: Bind2{Tag: "App"}, FAST: FAST{Tokens: store}}, true},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestChooseSASL2Rule4(t *testing.T) {
	tls13 := connection{available: []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint}, defaultCB: cbind.TLSExporter, hasDefault: true}
	tests := []struct {
		name string
		cfg  Config
		o    offer
		conn connection
		want string
		err  error
	}{
		{"-PLUS without types", Config{}, offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}, sasl2: true}, tls13, "", ErrDowngrade},
		{"the same on RFC 6120: the default type", Config{}, offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}}, tls13, "SCRAM-SHA-256-PLUS", nil},
		{"pseudomechanisms name the types", Config{}, offer{mechanisms: []string{"SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-SHA-256"}, sasl2: true}, tls13, "SCRAM-SHA-256-PLUS:tls-exporter", nil},
		{"client without -PLUS is not concerned", Config{Mechanisms: []string{"SCRAM-SHA-256"}}, offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}, sasl2: true}, tls13, "SCRAM-SHA-256", nil},
		{"no binding here: not concerned", Config{}, offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}, sasl2: true}, connection{}, "SCRAM-SHA-256", nil},
	}
	for _, tc := range tests {
		p, err := choose(&tc.cfg, tc.o, tc.conn)
		if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) || p.name != tc.want {
			t.Errorf("%s: %q, %v", tc.name, p.name, err)
		}
	}
}
