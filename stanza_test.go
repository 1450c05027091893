package xmppauth_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth"
)

func parse(t testing.TB, s string) (*xmppauth.Stanza, error) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	return xmppauth.NewStanza(tok.(xml.StartElement), xmlstream.Inner(d))
}

func encode(t testing.TB, r xml.TokenReader) string {
	t.Helper()
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(e, r); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestNewStanza(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      error
	}{
		{`<message xmlns='jabber:client' to='Bob@LocalHost/x' from='evil@localhost' id='m1' type='chat'><body>hi</body></message>`,
			`<message xmlns="jabber:client" to="Bob@LocalHost/x" id="m1" type="chat" from="alice@localhost/a"><body xmlns="jabber:client">hi</body></message>`, nil},
		{`<message to='bob@localhost'/>`, `<message xmlns="jabber:client" to="bob@localhost" from="alice@localhost/a"></message>`, nil},
		{`<foo xmlns='jabber:client'/>`, "", xmppauth.ErrNotStanza},
		{`<message xmlns='jabber:server'/>`, "", xmppauth.ErrNotStanza},
		{`<message xmlns='jabber:client' to='@@'/>`, "", xmppauth.ErrBadTo},
	} {
		st, err := parse(t, tc.in)
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		st.SetFrom(jid.MustParse("alice@localhost/a"))
		if got := encode(t, st.Reader()); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if st.From.String() != "alice@localhost/a" {
			t.Errorf("From = %s", st.From)
		}
	}
}

// Re-encoding keeps a stanza with namespaced children well formed (the
// namespace declarations of the decoded start elements are dropped).
func TestStanzaNamespaces(t *testing.T) {
	st, err := parse(t, `<iq xmlns='jabber:client' xmlns:p='urn:p' type='get' id='1'><p:q p:a='1'><p:r/></p:q></iq>`)
	if err != nil {
		t.Fatal(err)
	}
	out := encode(t, st.Reader())
	var v struct {
		Q struct {
			A string `xml:"urn:p a,attr"`
			R struct {
				XMLName xml.Name
			} `xml:"urn:p r"`
		} `xml:"urn:p q"`
	}
	if err := xml.Unmarshal([]byte(out), &v); err != nil || v.Q.A != "1" || v.Q.R.XMLName.Local != "r" {
		t.Fatalf("%s → %+v, %v", out, v, err)
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		presence string
		want     int
	}{
		{`<presence xmlns='jabber:client'/>`, 0},
		{`<presence xmlns='jabber:client'><priority>5</priority></presence>`, 5},
		{`<presence xmlns='jabber:client'><priority> -128 </priority></presence>`, -128},
		{`<presence xmlns='jabber:client'><priority>127</priority></presence>`, 127},
		{`<presence xmlns='jabber:client'><priority>128</priority></presence>`, 0},
		{`<presence xmlns='jabber:client'><priority>high</priority></presence>`, 0},
		{`<presence xmlns='jabber:client'><priority/></presence>`, 0},
		{`<presence xmlns='jabber:client'><x xmlns='urn:example'><priority>9</priority></x></presence>`, 0},
		{`<presence xmlns='jabber:client'><priority xmlns='urn:example'>9</priority></presence>`, 0},
	} {
		st, err := parse(t, tc.presence)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Priority(); got != tc.want {
			t.Errorf("%s: priority %d, want %d", tc.presence, got, tc.want)
		}
	}
}

// Bounce answers to the sender, from the address the stanza was sent to,
// with the same id; it never answers presence, errors, results, headlines.
func TestBounce(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`<message xmlns='jabber:client' to='bob@localhost' id='m1' type='chat'><body>hi</body></message>`,
			`<message xmlns="jabber:client" type="error" to="alice@localhost/a" id="m1" from="bob@localhost"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></service-unavailable></error></message>`},
		{`<iq xmlns='jabber:client' to='bob@localhost/x' type='get' id='q'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq xmlns="jabber:client" type="error" to="alice@localhost/a" id="q" from="bob@localhost/x"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></service-unavailable></error></iq>`},
		{`<presence xmlns='jabber:client' to='bob@localhost'/>`, ""},
		{`<message xmlns='jabber:client' to='bob@localhost' type='error'/>`, ""},
		{`<message xmlns='jabber:client' to='bob@localhost' type='headline'/>`, ""},
		{`<iq xmlns='jabber:client' to='bob@localhost/x' type='result' id='q'/>`, ""},
	} {
		st, err := parse(t, tc.in)
		if err != nil {
			t.Fatal(err)
		}
		st.SetFrom(jid.MustParse("alice@localhost/a"))
		r := st.Bounce(stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
		got := ""
		if r != nil {
			got = encode(t, r)
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// FuzzNewStanza feeds arbitrary XML through buffering: nothing may panic,
// and the stanza must re-encode as well-formed XML.
func FuzzNewStanza(f *testing.F) {
	for _, seed := range []string{
		`<message xmlns='jabber:client' to='alice@localhost' type='chat'><body>hi</body></message>`,
		`<iq xmlns='jabber:client' to='alice@localhost/a1' type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`,
		`<presence xmlns='jabber:client' to='alice@localhost'><priority>-5</priority></presence>`,
		`<message xmlns='jabber:client' xmlns:x='urn:x' to='bob@localhost'><x:y x:a='1'/></message>`,
		`<message xmlns='jabber:client' to='@'/>`,
	} {
		f.Add(seed)
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
		st, err := xmppauth.NewStanza(start, xmlstream.Inner(d))
		if err != nil {
			return
		}
		st.SetFrom(jid.MustParse("carol@localhost/x"))
		_ = st.Priority()
		out := encode(t, st.Reader())
		dd := xml.NewDecoder(strings.NewReader(out))
		for {
			if _, err := dd.Token(); err != nil {
				if err != io.EOF {
					t.Fatalf("re-encoded malformed XML %q: %v", out, err)
				}
				break
			}
		}
	})
}

func BenchmarkNewStanza(b *testing.B) {
	const s = `<message xmlns='jabber:client' to='alice@localhost' type='chat' id='x1'><body>hello there</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`
	b.ReportAllocs()
	for b.Loop() {
		d := xml.NewDecoder(strings.NewReader(s))
		tok, _ := d.Token()
		if _, err := xmppauth.NewStanza(tok.(xml.StartElement), xmlstream.Inner(d)); err != nil {
			b.Fatal(err)
		}
	}
}
