package oauth

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseElement feeds arbitrary XML to the element parser and checks that
// it never panics, that what it accepts respects the limits, and that an
// accepted element survives a marshal/parse round trip.
func FuzzParseElement(f *testing.F) {
	f.Add(marshalString(xepParams))
	f.Add(`<oauth xmlns='urn:xmpp:oauth:0'><oauth_nonce>a</oauth_nonce><oauth_nonce>b</oauth_nonce></oauth>`)
	f.Add(`<oauth xmlns='urn:xmpp:oauth:0'><oauth_version>2</oauth_version></oauth>`)
	f.Add(`<oauth xmlns='urn:xmpp:oauth:0'><x/></oauth>`)
	f.Add(`<oauth xmlns='urn:xmpp:oauth:0'><oauth_token><![CDATA[a]]>b&amp;</oauth_token></oauth>`)
	f.Add(`<oauth xmlns='urn:xmpp:oauth:0'>text</oauth>`)
	f.Add(`<oauth xmlns='urn:xmpp:oauth:0'><oauth_nonce>`)
	f.Fuzz(func(t *testing.T, in string) {
		d := xml.NewDecoder(strings.NewReader(in))
		tok, err := d.Token()
		if err != nil {
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			return
		}
		p, err := ParseElement(d, start)
		if err != nil {
			return
		}
		for _, v := range []string{p.ConsumerKey, p.Nonce, p.Signature, p.SignatureMethod, p.Timestamp, p.Token, p.Version} {
			if len(v) > MaxValueBytes {
				t.Fatalf("accepted a value of %d bytes", len(v))
			}
		}
		if p.Version != "" && p.Version != Version {
			t.Fatalf("accepted version %q", p.Version)
		}
		// Values that XML can carry round-trip.
		if !xmlSafe(p) {
			return
		}
		var q Params
		if err := xml.Unmarshal([]byte(marshalString(p)), &q); err != nil {
			t.Fatalf("re-parse of %s: %v", marshalString(p), err)
		}
		if q != p {
			t.Fatalf("round trip: %+v != %+v", q, p)
		}
	})
}

// FuzzBaseString checks the base-string builder against a direct
// implementation of its definition, and Verify against the signer, for
// arbitrary addresses and parameter values.
func FuzzBaseString(f *testing.F) {
	f.Add("iq", xepStanza.From, xepStanza.To, xepParams.ConsumerKey, xepParams.Nonce, xepParams.Timestamp, xepParams.Token)
	f.Add("message", "", "a&b=c%d", "k y", "é~", "0", "+/=")
	f.Add("presence", "\x00", "\xff", "", "", "", "")
	f.Fuzz(func(t *testing.T, name, from, to, key, nonce, ts, token string) {
		s := Stanza{Name: name, From: from, To: to}
		p := Params{ConsumerKey: key, Nonce: nonce, SignatureMethod: HMACSHA1, Timestamp: ts, Token: token, Version: Version}
		got := BaseString(s, &p)
		var norm []string
		for _, kv := range [][2]string{
			{"oauth_consumer_key", key}, {"oauth_nonce", nonce}, {"oauth_signature_method", HMACSHA1},
			{"oauth_timestamp", ts}, {"oauth_token", token}, {"oauth_version", Version},
		} {
			if kv[1] != "" {
				norm = append(norm, PercentEncode(kv[0])+"="+PercentEncode(kv[1]))
			}
		}
		want := PercentEncode(name) + "&" + PercentEncode(from+"&"+to) + "&" + PercentEncode(strings.Join(norm, "&"))
		if got != want {
			t.Fatalf("base string\n got %q\nwant %q", got, want)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c != '&' && c != '%' && !unreserved(c) {
				t.Fatalf("base string has %q", c)
			}
		}
		// A request the signer signed verifies, whatever the values.
		env := newTestEnv(t, nil)
		p.ConsumerKey, p.Token = xepParams.ConsumerKey, xepParams.Token
		p.Timestamp = "1218137843"
		if nonce == "" {
			p.Nonce = "n"
		}
		p = signed(t, s, p, xepConsumerSecret, xepTokenSecret)
		if _, err := env.v.Verify(context.Background(), s, p); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if _, err := env.v.Verify(context.Background(), s, p); !errors.Is(err, ErrNonceReplayed) {
			t.Fatalf("replay: %v", err)
		}
	})
}

func marshalString(p Params) string {
	var b strings.Builder
	e := xml.NewEncoder(&b)
	_ = p.MarshalXML(e, xml.StartElement{})
	return b.String()
}

// xmlSafe reports whether all values can be written as XML text and read
// back unchanged (valid UTF-8, XML characters, no carriage returns, which XML
// normalises).
func xmlSafe(p Params) bool {
	for _, v := range []string{p.ConsumerKey, p.Nonce, p.Signature, p.SignatureMethod, p.Timestamp, p.Token, p.Version} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, '\r') {
			return false
		}
		for _, r := range v {
			if r < 0x20 && r != '\t' && r != '\n' || r == 0xFFFE || r == 0xFFFF {
				return false
			}
		}
	}
	return true
}

// FuzzMiddleware runs arbitrary IQ and message payloads through the wrapped
// mux handlers: the middleware must never panic, and the host handler must
// run only with a Grant (OAuth is required here).
func FuzzMiddleware(f *testing.F) {
	good := marshalString(signed(f, Stanza{Name: "iq", From: clientJID, To: serviceJID}, xepParams, xepConsumerSecret, xepTokenSecret))
	f.Add(`<pubsub xmlns='http://jabber.org/protocol/pubsub'>` + good + `</pubsub>`)
	f.Add(`<pubsub xmlns='http://jabber.org/protocol/pubsub'/>` + good + good)
	f.Add(good)
	f.Add(`<body>x</body><x xmlns='urn:example'><oauth xmlns='urn:xmpp:oauth:0'/></x>`)
	f.Fuzz(func(t *testing.T, body string) {
		env := newTestEnv(t, func(c *Config) { c.MaxStanzaBytes = 4096 })
		rec := &recorder{}
		m := newFuzzMux(env.v, rec)
		for _, in := range []string{iqXML(body), msgXML("chat", body)} {
			d := xml.NewDecoder(strings.NewReader(in))
			tok, err := d.Token()
			if err != nil {
				continue
			}
			start := tok.(xml.StartElement)
			var out strings.Builder
			e := xml.NewEncoder(&out)
			rw := struct {
				xml.TokenReader
				xmlEncoder
			}{innerElement(d), e}
			_ = m.HandleXMPP(rw, &start)
		}
		for i := range rec.calls {
			if !rec.granted[i] {
				t.Fatalf("handler ran without a grant for %q", body)
			}
		}
	})
}

// pctByteByByte is RFC 5849 §3.6 written out one octet at a time, the
// reference for appendPct and appendPct2, which copy unreserved runs whole.
func pctByteByByte(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; unreserved(c) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func FuzzPercentEncode(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", " ", "é~", "%", "a&&b", "\x00\xff"} {
		f.Add("prefix", s)
	}
	f.Fuzz(func(t *testing.T, prefix, s string) {
		want := pctByteByByte(s)
		if got := string(appendPct([]byte(prefix), s)); got != prefix+want {
			t.Fatalf("appendPct(%q) = %q, want %q", s, got, prefix+want)
		}
		if got, want := string(appendPct2([]byte(prefix), s)), prefix+pctByteByByte(want); got != want {
			t.Fatalf("appendPct2(%q) = %q, want %q", s, got, want)
		}
	})
}

// AppendBaseString writes the parameter names as they are: that is their
// encoding only because they consist of unreserved characters.
func TestParamNamesUnreserved(t *testing.T) {
	for _, name := range []string{paramConsumerKey, paramNonce, paramSignature, paramSignatureMethod, paramTimestamp, paramToken, paramVersion} {
		if got := PercentEncode(PercentEncode(name)); got != name {
			t.Errorf("%s encodes as %s", name, got)
		}
	}
}
