package httpauth

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{
		"Basic anVsaWV0QGNhcHVsZXQuY29tOmE3Mzc0am5qbGFsYXNkZjgy",
		"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
		`Digest username="juliet@capulet.com", realm="xmpp", nonce="ec2cc00f21f71acd35ab9be057970609", uri="missive.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
		`Digest username*=UTF-8''j%C3%BCliet%40capulet.com, realm="xmpp", nonce="n", uri="/", qop=auth, nc=00000001, cnonce="a\"b", response="6629fae49393a05397450978507c4ef1", algorithm=SHA-256`,
		`Digest a=, b="`,
		"Bearer x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := parseAuthorization(h)
		if err != nil {
			return
		}
		if c.jid.Localpart() == "" || c.id == "" || len(c.id) > MaxTransactionIDLen || !utf8.ValidString(c.id) {
			t.Fatalf("accepted bad credentials %+v", c)
		}
		if c.scheme == schemeDigest && (c.realm != Realm || c.qop != "auth" || c.nc == 0) {
			t.Fatalf("accepted bad digest %+v", c)
		}
	})
}

func FuzzConfirm(f *testing.F) {
	for _, s := range []string{
		`<iq type='result' from='juliet@capulet.com/balcony' to='files.shakespeare.lit' id='ha000'/>`,
		`<iq type='error' from='juliet@capulet.com/balcony' id='ha000'><confirm xmlns='http://jabber.org/protocol/http-auth' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:xmpp-stanzas'/></error></iq>`,
		`<message from='juliet@capulet.com/balcony'><thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/></message>`,
		`<message type='chat' from='juliet@capulet.com/x'><body>a7374jnjlalasdf82 OK</body></message>`,
		`<message><confirm xmlns='http://jabber.org/protocol/http-auth' id='1' id='2' method='GET' url='http://a/'/></message>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := xml.NewDecoder(strings.NewReader(s))
		tok, err := d.Token()
		if err != nil {
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			return
		}
		if start.Name.Local == "confirm" {
			if c, err := ParseConfirm(start); err == nil {
				if c.Validate() != nil {
					t.Fatalf("ParseConfirm accepted an invalid element: %+v", c)
				}
			}
			return
		}
		a, err := readAnswer(start, d)
		if err != nil {
			return
		}
		if a.confirm != nil && a.confirm.Validate() != nil {
			t.Fatalf("invalid confirm accepted: %+v", a.confirm)
		}
		if len(a.body) > MaxBodyLen || len(a.thread) > maxThreadLen {
			t.Fatalf("text limits exceeded")
		}
		// Feeding it to a Verifier with nothing pending must not panic.
		e := newEnv(t, nil)
		d = xml.NewDecoder(strings.NewReader(s))
		tok, _ = d.Token()
		_ = e.v.HandleAnswer(tok.(xml.StartElement), d)
	})
}
