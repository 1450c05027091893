package httpauth

import (
	"context"
	"encoding/xml"
	"fmt"
	"reflect"
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

// References of the transactions FuzzConfirm has pending.
const (
	fuzzIQRef  = "0aa000000000000000000000"
	fuzzMsgRef = "e0ffe42b28561960c6b12b94"
)

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
	for _, s := range []string{
		`<iq type='result' id='ha000'><confirm xmlns='http://jabber.org/protocol/http-auth'/></iq>`,
		`<message from='juliet@capulet.com/x' type='chat'><body>see you at nine</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message from='juliet@capulet.com/x' from='bob@capulet.com/x'><body>tx2 OK</body></message>`,
		`<message from='juliet@capulet.com/x' type='error' id='e0ffe42b28561960c6b12b944a092794b9683a38'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
	} {
		f.Add(s)
	}
	// The same with references of the form the Verifier makes, which are
	// the only ones looked up.
	for _, s := range []string{
		`<iq type='result' from='juliet@capulet.com/balcony' to='files.shakespeare.lit' id='%[1]s'/>`,
		`<iq type='error' from='juliet@capulet.com/balcony' id='%[1]s'><confirm xmlns='http://jabber.org/protocol/http-auth' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:xmpp-stanzas'/></error></iq>`,
		`<message from='juliet@capulet.com/balcony'><thread>%[2]s</thread><confirm xmlns='http://jabber.org/protocol/http-auth' id='tx2' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/></message>`,
		`<message from='juliet@capulet.com/x' type='error' id='%[2]s'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
	} {
		f.Add(fmt.Sprintf(s, fuzzIQRef, fuzzMsgRef))
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
		if err == nil {
			if a.confirm != nil && (a.confirmErr == nil) != (a.confirm.Validate() == nil) {
				t.Fatalf("confirm %+v: confirmErr %v", a.confirm, a.confirmErr)
			}
			if len(a.body) > MaxBodyLen || len(a.thread) > maxThreadLen {
				t.Fatalf("text limits exceeded")
			}
		}
		// HandleStanza, with requests pending for juliet in both forms,
		// must not panic, and what it does not handle it gives back token
		// for token.
		e := newEnv(t, nil)
		for _, tx := range []Transaction{
			{Ref: fuzzIQRef, To: "juliet@capulet.com/balcony", Bare: "juliet@capulet.com", Confirm: Confirm{ID: "a7374jnjlalasdf82", Method: "GET", URL: pageURL}},
			{Ref: fuzzMsgRef, To: "juliet@capulet.com", Bare: "juliet@capulet.com", ViaMessage: true, Confirm: Confirm{ID: "tx2", Method: "GET", URL: pageURL}},
		} {
			if err := e.store.Begin(context.Background(), tx); err != nil {
				t.Fatal(err)
			}
		}
		d = xml.NewDecoder(strings.NewReader(s))
		tok, _ = d.Token()
		rest, handled := e.v.HandleStanza(tok.(xml.StartElement).Copy(), d)
		if handled {
			return
		}
		want := xml.NewDecoder(strings.NewReader(s))
		want.Token()
		for {
			got, gerr := rest.Token()
			w, werr := want.Token()
			if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(xml.CopyToken(got), xml.CopyToken(w)) {
				t.Fatalf("given back %#v (%v), want %#v (%v)", got, gerr, w, werr)
			}
			if gerr != nil {
				return
			}
		}
	})
}
