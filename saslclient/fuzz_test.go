package saslclient

import (
	"bytes"
	"encoding/xml"
	"errors"
	"slices"
	"testing"
)

func FuzzParseServerFirst(f *testing.F) {
	f.Add([]byte("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"), []byte("fyko+d2lbbFgONRv9qkxdawL"))
	f.Add([]byte("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08="), []byte("abc"))
	f.Add([]byte("m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"), []byte("abc"))
	f.Fuzz(func(t *testing.T, msg, nonce []byte) {
		sf, err := parseServerFirst(msg, nonce)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNonceMismatch) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		switch {
		case !bytes.HasPrefix(sf.nonce, nonce) || len(sf.nonce) <= len(nonce):
			t.Fatalf("nonce %q accepted for client nonce %q", sf.nonce, nonce)
		case len(sf.salt) == 0 || len(sf.salt) > maxSaltLen:
			t.Fatalf("salt of %d bytes accepted", len(sf.salt))
		case sf.iterations <= 0:
			t.Fatalf("iteration count %d accepted", sf.iterations)
		case len(msg) > MaxServerMessageLen:
			t.Fatalf("message of %d bytes accepted", len(msg))
		}
	})
}

func FuzzParseServerFinal(f *testing.F) {
	f.Add([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))
	f.Add([]byte("e=invalid-proof"))
	f.Add([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=1"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := parseServerFinal(msg)
		var se *ServerError
		switch {
		case errors.As(err, &se):
			if se.Value == "" || !bytes.HasPrefix(msg, []byte("e=")) {
				t.Fatalf("server error %q from %q", se.Value, msg)
			}
		case err != nil:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error type: %v", err)
			}
		case len(v) == 0 || !bytes.HasPrefix(msg, []byte("v=")):
			t.Fatalf("verifier %x from %q", v, msg)
		}
	})
}

// FuzzParseFeatures feeds the two feature parsers arbitrary XML.
func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte(`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-1-PLUS:tls-exporter</mechanism></mechanisms>`))
	f.Add([]byte(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-server-end-point'/><channel-binding type='tls-exporter'/></sasl-channel-binding>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, parse := range []func(*xml.Decoder) ([]string, error){parseMechanisms, parseChannelBindingTypes} {
			d := xml.NewDecoder(bytes.NewReader(doc))
			if _, err := d.Token(); err != nil {
				return
			}
			names, err := parse(d)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type: %v", err)
				}
				continue
			}
			if len(names) > MaxMechanisms {
				t.Fatalf("%d names kept", len(names))
			}
			for _, n := range names {
				if !validMechanismName(n) {
					t.Fatalf("invalid name %q kept", n)
				}
			}
		}
	})
}

// FuzzParseAuthentication feeds the SASL2 feature parser arbitrary XML.
func FuzzParseAuthentication(f *testing.F) {
	f.Add([]byte(`<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-1-PLUS</mechanism><inline><bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:carbons:2'/></inline></bind><fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-EXPR</mechanism></fast><sm xmlns='urn:xmpp:sm:3'/></inline></authentication>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d := xml.NewDecoder(bytes.NewReader(doc))
		if _, err := d.Token(); err != nil {
			return
		}
		off, err := parseAuthentication(d)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		switch {
		case len(off.mechanisms) > MaxMechanisms || len(off.fast) > MaxMechanisms:
			t.Fatalf("%d/%d mechanisms kept", len(off.mechanisms), len(off.fast))
		case len(off.inline) > MaxElements || len(off.bindVars) > MaxElements:
			t.Fatalf("%d/%d inline names kept", len(off.inline), len(off.bindVars))
		case off.bind2 != slices.Contains(off.inline, xml.Name{Space: nsBind2, Local: "bind"}):
			t.Fatalf("bind2 %v with inline %v", off.bind2, off.inline)
		}
		for _, n := range append(slices.Clone(off.mechanisms), off.fast...) {
			if !validMechanismName(n) {
				t.Fatalf("invalid name %q kept", n)
			}
		}
	})
}

// FuzzReadSASL2 feeds the parser of SASL2 server elements arbitrary XML.
func FuzzReadSASL2(f *testing.F) {
	f.Add([]byte(`<success xmlns='urn:xmpp:sasl:2'><additional-data>dj1tc1ZIcy9CeklPSERxWGVWSDdFbW1EdTlpZDg9</additional-data><authorization-identifier>user@example.org/r</authorization-identifier><bound xmlns='urn:xmpp:bind:0'><enabled xmlns='urn:xmpp:sm:3' id='x'/></bound><token xmlns='urn:xmpp:fast:0' expiry='2020-03-12T14:36:15Z' token='abc'/></success>`))
	f.Add([]byte(`<continue xmlns='urn:xmpp:sasl:2'><additional-data>SSdtIGJvcmVkIG5vdy4=</additional-data><tasks><task>HOTP-EXAMPLE</task></tasks><text>2FA</text></continue>`))
	f.Add([]byte(`<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><x xmlns='urn:x'/><text>t</text></failure>`))
	f.Add([]byte(`<challenge xmlns='urn:xmpp:sasl:2'>cj1hYmMscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==</challenge>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d := xml.NewDecoder(bytes.NewReader(doc))
		tok, err := d.Token()
		start, ok := tok.(xml.StartElement)
		if err != nil || !ok {
			return
		}
		el, err := readSASL2(d, start)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if len(el.data) > MaxServerMessageLen+64 {
			t.Fatalf("%d bytes of data kept", len(el.data))
		}
		switch el.kind {
		case "success":
			s := el.success
			if len(s.other) > MaxElements || len(s.boundEls) > MaxElements || len(s.authzid) > maxJIDLen+64 {
				t.Fatalf("success kept too much: %d, %d, %d", len(s.other), len(s.boundEls), len(s.authzid))
			}
			for _, e := range append(slices.Clone(s.other), s.boundEls...) {
				if len(e.XML) > MaxElementLen {
					t.Fatalf("element of %d bytes kept", len(e.XML))
				}
				var any struct{}
				if err := xml.Unmarshal(e.XML, &any); err != nil {
					t.Fatalf("kept element %q does not parse: %v", e.XML, err)
				}
			}
			if s.token != nil && (s.token.Secret == "" || len(s.token.Secret) > maxTokenLen) {
				t.Fatalf("token of %d bytes kept", len(s.token.Secret))
			}
		case "continue":
			if el.tasks == nil || len(el.tasks.Tasks) == 0 {
				t.Fatal("continue without tasks accepted")
			}
		case "failure":
			if el.failure == nil || el.failure.Condition == "" || len(el.failure.AppSpecific) > MaxElements {
				t.Fatalf("failure = %+v", el.failure)
			}
		case "challenge":
		default:
			t.Fatalf("accepted <%s/>", el.kind)
		}
	})
}
