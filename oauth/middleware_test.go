package oauth

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"github.com/xmppauth/xmppauth/config"
	"io"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

const (
	nsPubsub   = "http://jabber.org/protocol/pubsub"
	clientJID  = "travelbot@findmenow.tld/bot"
	serviceJID = "feeds.worldgps.tld"
)

// xepStanzaXML is XEP-0235 §3 Example 1, verbatim but for the stream's
// default namespace, which a stanza read from a c2s stream has.
const xepStanzaXML = `<iq xmlns='jabber:client' from='travelbot@findmenow.tld/bot'
    id='sub1'
    to='feeds.worldgps.tld'
    type='set'>
  <pubsub xmlns='http://jabber.org/protocol/pubsub'>
    <subscribe jid='travelbot@findmenow.tld' node='bard_geoloc'/>
    <oauth xmlns='urn:xmpp:oauth:0'>
      <oauth_consumer_key>0685bd9184jfhq22</oauth_consumer_key>
      <oauth_nonce>4572616e48616d6d65724c61686176</oauth_nonce>
      <oauth_signature>9PQkM4YKgaM067wqrDGshXOwDW0=</oauth_signature>
      <oauth_signature_method>HMAC-SHA1</oauth_signature_method>
      <oauth_timestamp>1218137833</oauth_timestamp>
      <oauth_token>ad180jjd733klru7</oauth_token>
      <oauth_version>1.0</oauth_version>
    </oauth>
  </pubsub>
</iq>`

// dispatch runs one stanza through m the way a session does and returns what
// was written back.
func dispatch(t testing.TB, m *mux.ServeMux, in string) string {
	t.Helper()
	var out bytes.Buffer
	handle(t, m, strings.NewReader(in), xml.NewEncoder(&out))
	return out.String()
}

// handle decodes one stanza from r as a session would, hands it to m and
// flushes what m wrote to enc. It runs inside benchmark loops, so it does
// not call t.Helper (which costs a stack walk per call).
func handle(t testing.TB, m *mux.ServeMux, r io.Reader, enc *xml.Encoder) {
	d := xml.NewDecoder(r)
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	rw := struct {
		xml.TokenReader
		xmlstream.Encoder
	}{xmlstream.InnerElement(d), enc}
	if err := m.HandleXMPP(rw, &start); err != nil {
		t.Fatalf("HandleXMPP: %v", err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// recorder is a host handler that records what it was given.
type recorder struct {
	calls   int
	grants  []Grant
	granted []bool
	read    []string // the tokens each call read, marshalled
}

func (r *recorder) record(t xmlstream.TokenReadEncoder, prefix ...xml.Token) {
	r.calls++
	g, ok := GrantFrom(t)
	r.grants = append(r.grants, g)
	r.granted = append(r.granted, ok)
	var b bytes.Buffer
	e := xml.NewEncoder(&b)
	for _, tok := range prefix {
		_ = e.EncodeToken(tok)
	}
	toks, _ := xmlstream.ReadAll(t)
	for _, tok := range toks {
		if _, end := tok.(xml.EndElement); end && b.Len() == 0 {
			continue
		}
		_ = e.EncodeToken(tok)
	}
	_ = e.Flush()
	r.read = append(r.read, b.String())
}

func (r *recorder) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	r.record(t)
	_, err := xmlstream.Copy(t, iq.Result(nil))
	return err
}

func (r *recorder) HandleMessage(_ stanza.Message, t xmlstream.TokenReadEncoder) error {
	r.record(t)
	return nil
}

// signedXML returns an <oauth/> element signed for the stanza.
func signedXML(t testing.TB, s Stanza, nonce byte) string {
	t.Helper()
	sg := Signer{
		Credentials: xepCreds,
		Clock:       config.ClockFunc(func() time.Time { return xepNow }),
		Rand:        bytes.NewReader(bytes.Repeat([]byte{nonce}, nonceBytes)),
	}
	p, err := sg.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	return marshal(t, p.TokenReader())
}

func iqXML(body string) string {
	return `<iq xmlns='jabber:client' from='` + clientJID + `' to='` + serviceJID + `' id='sub1' type='set'>` + body + `</iq>`
}

func errorReply(typ, cond, app string) string {
	s := `<iq xmlns="jabber:client" type="error" to="` + clientJID + `" from="` + serviceJID + `" id="sub1"><error type="` + typ + `"><` + cond + ` xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></` + cond + `>`
	if app != "" {
		s += `<` + app + ` xmlns="urn:xmpp:oauth:0:errors"></` + app + `>`
	}
	return s + `</error></iq>`
}

const resultReply = `<iq xmlns="jabber:client" type="result" to="` + clientJID + `" from="` + serviceJID + `" id="sub1"></iq>`

func TestIQMiddleware(t *testing.T) {
	iqStanza := Stanza{Name: "iq", From: clientJID, To: serviceJID}
	good := signedXML(t, iqStanza, 1)
	pubsub := func(inner string) string {
		return `<pubsub xmlns='` + nsPubsub + `'><subscribe node='n'/>` + inner + `</pubsub>`
	}
	for _, tc := range []struct {
		name      string
		in        string
		require   func(xml.StartElement, xml.Name) bool
		maxBytes  int
		wantOut   string
		wantCalls int
		wantGrant bool
	}{
		{name: "XEP example verbatim", in: xepStanzaXML, wantOut: resultReply, wantCalls: 1, wantGrant: true},
		{name: "inside the payload", in: iqXML(pubsub(good)), wantOut: resultReply, wantCalls: 1, wantGrant: true},
		{name: "after the payload", in: iqXML(pubsub("") + good), wantOut: resultReply, wantCalls: 1, wantGrant: true},
		{name: "first child", in: iqXML(good + pubsub("")), wantOut: resultReply, wantCalls: 1, wantGrant: true},
		{name: "too deep", in: iqXML(`<pubsub xmlns='` + nsPubsub + `'><subscribe node='n'>` + good + `</subscribe></pubsub>`), wantOut: errorReply("auth", "not-authorized", "token-required")},
		{name: "absent", in: iqXML(pubsub("")), wantOut: errorReply("auth", "not-authorized", "token-required")},
		{name: "absent, not required", in: iqXML(pubsub("")), require: func(xml.StartElement, xml.Name) bool { return false }, wantOut: resultReply, wantCalls: 1},
		{name: "present, not required, bad", in: iqXML(pubsub(strings.Replace(good, "oauth_nonce>01", "oauth_nonce>02", 1))), require: func(xml.StartElement, xml.Name) bool { return false }, wantOut: errorReply("auth", "not-authorized", "invalid-signature")},
		{name: "two oauth elements", in: iqXML(pubsub(good) + good), wantOut: errorReply("modify", "bad-request", "duplicated-parameter")},
		{name: "duplicated parameter", in: iqXML(pubsub(strings.Replace(good, "</oauth>", "<oauth_nonce>x</oauth_nonce></oauth>", 1))), wantOut: errorReply("modify", "bad-request", "duplicated-parameter")},
		{name: "unsupported parameter", in: iqXML(pubsub(strings.Replace(good, "</oauth>", "<oauth_callback>x</oauth_callback></oauth>", 1))), wantOut: errorReply("modify", "bad-request", "unsupported-parameter")},
		{name: "missing parameter", in: iqXML(pubsub(cut(good, "oauth_nonce"))), wantOut: errorReply("modify", "bad-request", "missing-parameter")},
		{name: "token required", in: iqXML(pubsub(cut(good, "oauth_token"))), wantOut: errorReply("auth", "not-authorized", "token-required")},
		{name: "unsupported method", in: iqXML(pubsub(strings.Replace(good, "HMAC-SHA1", "RSA-SHA1", 1))), wantOut: errorReply("modify", "bad-request", "unsupported-signature-method")},
		{name: "invalid consumer key", in: iqXML(pubsub(strings.Replace(good, xepParams.ConsumerKey, "nobody", 1))), wantOut: errorReply("auth", "not-authorized", "invalid-consumer-key")},
		{name: "invalid token", in: iqXML(pubsub(strings.Replace(good, xepParams.Token, "nothing", 1))), wantOut: errorReply("auth", "not-authorized", "invalid-token")},
		{name: "invalid signature", in: iqXML(pubsub(strings.Replace(good, "<oauth_signature>", "<oauth_signature>A", 1))), wantOut: errorReply("auth", "not-authorized", "invalid-signature")},
		{name: "stale timestamp", in: iqXML(pubsub(strings.Replace(good, "1218137843", "1218137000", 1))), wantOut: errorReply("auth", "not-authorized", "invalid-nonce")},
		{name: "too large", in: iqXML(pubsub(good + strings.Repeat("<x/>", 100))), maxBytes: 1000, wantOut: errorReply("modify", "policy-violation", "")},
		{name: "result IQ failing is dropped", in: strings.Replace(iqXML(pubsub("")), "type='set'", "type='result'", 1), wantOut: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, func(c *Config) { c.Require = tc.require; c.MaxStanzaBytes = tc.maxBytes })
			if tc.name == "XEP example verbatim" {
				env.now = time.Unix(1218137833, 0)
			}
			rec := &recorder{}
			m := mux.New(stanza.NSClient,
				mux.IQ(stanza.SetIQ, xml.Name{Space: nsPubsub, Local: "pubsub"}, env.v.IQ(rec)),
				mux.IQ(stanza.SetIQ, xml.Name{Space: NS, Local: "oauth"}, env.v.IQ(rec)),
				mux.IQ(stanza.ResultIQ, xml.Name{}, env.v.IQ(rec)),
			)
			out := dispatch(t, m, tc.in)
			if out != tc.wantOut {
				t.Errorf("reply:\n got %s\nwant %s", out, tc.wantOut)
			}
			if rec.calls != tc.wantCalls {
				t.Fatalf("handler calls = %d, want %d", rec.calls, tc.wantCalls)
			}
			if tc.wantCalls > 0 && rec.granted[0] != tc.wantGrant {
				t.Errorf("GrantFrom ok = %v, want %v", rec.granted[0], tc.wantGrant)
			}
			if tc.wantGrant && rec.grants[0].ConsumerKey != xepParams.ConsumerKey {
				t.Errorf("grant = %+v", rec.grants[0])
			}
		})
	}
}

// cut removes the parameter element name from an <oauth/> element.
func cut(s, name string) string {
	i := strings.Index(s, "<"+name+">")
	j := strings.Index(s, "</"+name+">")
	return s[:i] + s[j+len(name)+3:]
}

// The wrapped handler reads the same tokens it would read without the
// verifier, and a replay of the same stanza is refused.
func TestIQMiddlewareTransparentAndReplay(t *testing.T) {
	env := newTestEnv(t, nil)
	env.now = time.Unix(1218137833, 0)
	plain, wrapped := &recorder{}, &recorder{}
	name := xml.Name{Space: nsPubsub, Local: "pubsub"}
	mPlain := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, name, plain))
	mWrapped := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, name, env.v.IQ(wrapped)))
	dispatch(t, mPlain, xepStanzaXML)
	dispatch(t, mWrapped, xepStanzaXML)
	if plain.read[0] != wrapped.read[0] || !strings.Contains(wrapped.read[0], "bard_geoloc") {
		t.Fatalf("wrapped handler read\n%s\nunwrapped read\n%s", wrapped.read[0], plain.read[0])
	}
	out := dispatch(t, mWrapped, xepStanzaXML)
	if want := `<iq xmlns="jabber:client" type="error" to="` + clientJID + `" from="` + serviceJID + `" id="sub1"><error type="auth"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></not-authorized><invalid-nonce xmlns="urn:xmpp:oauth:0:errors"></invalid-nonce></error></iq>`; out != want {
		t.Fatalf("replay reply:\n got %s\nwant %s", out, want)
	}
	if wrapped.calls != 1 {
		t.Fatalf("handler ran %d times", wrapped.calls)
	}
}

func msgXML(typ, body string) string {
	return `<message xmlns='jabber:client' from='` + clientJID + `' to='` + serviceJID + `' id='m1' type='` + typ + `'>` + body + `</message>`
}

func TestMessageMiddleware(t *testing.T) {
	good := signedXML(t, Stanza{Name: "message", From: clientJID, To: serviceJID}, 7)
	body := `<body>hi</body>`
	bodyName := xml.Name{Space: stanza.NSClient, Local: "body"}
	const msgError = `<message xmlns="jabber:client" type="error" to="` + clientJID + `" from="` + serviceJID + `" id="m1"><error type="auth"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></not-authorized><%s xmlns="urn:xmpp:oauth:0:errors"></%s></error></message>`
	for _, tc := range []struct {
		name      string
		in        string
		wildcard  bool
		wantOut   string
		wantCalls int
	}{
		{name: "body handler", in: msgXML("chat", body+good), wantCalls: 1},
		{name: "inside a child", in: msgXML("chat", `<x xmlns='urn:example'>`+good+`</x>`+body), wantCalls: 1},
		// A wildcard registration runs the middleware for <body/> and for
		// <oauth/>: the second verification fails closed as a replay.
		{name: "wildcard registration", in: msgXML("chat", body+good), wildcard: true, wantCalls: 1, wantOut: strings.ReplaceAll(msgError, "%s", "invalid-nonce")},
		{name: "absent", in: msgXML("chat", body), wantOut: strings.ReplaceAll(msgError, "%s", "token-required")},
		{name: "bad signature", in: msgXML("chat", body+strings.Replace(good, "<oauth_signature>", "<oauth_signature>A", 1)), wantOut: strings.ReplaceAll(msgError, "%s", "invalid-signature")},
		{name: "error message dropped", in: msgXML("error", body), wantOut: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil)
			rec := &recorder{}
			m := mux.New(stanza.NSClient, withTypes(tc.wildcard, env.v.Message(rec), bodyName)...)
			out := dispatch(t, m, tc.in)
			if out != tc.wantOut {
				t.Errorf("reply:\n got %s\nwant %s", out, tc.wantOut)
			}
			if rec.calls != tc.wantCalls {
				t.Fatalf("handler calls = %d, want %d", rec.calls, tc.wantCalls)
			}
			for i := range rec.calls {
				if !rec.granted[i] || rec.grants[i].Token != xepParams.Token {
					t.Errorf("call %d: grant %+v, %v", i, rec.grants[i], rec.granted[i])
				}
				if !strings.HasPrefix(rec.read[i], `<message xmlns="jabber:client"`) || !strings.Contains(rec.read[i], "<body") {
					t.Errorf("call %d read %s", i, rec.read[i])
				}
			}
			if tc.wantCalls > 0 && !tc.wildcard {
				if n := env.nonces.Len(); n != 1 {
					t.Errorf("nonces used = %d, want 1", n)
				}
				// The same message received again is a replay.
				out := dispatch(t, m, tc.in)
				if !strings.Contains(out, "invalid-nonce") {
					t.Errorf("replayed message: reply %s", out)
				}
			}
		})
	}
}

// withTypes registers h for chat and error messages.
func withTypes(wildcard bool, h mux.MessageHandler, name xml.Name) []mux.Option {
	if wildcard {
		name = xml.Name{}
	}
	return []mux.Option{
		mux.Message(stanza.ChatMessage, name, h),
		mux.Message(stanza.ErrorMessage, name, h),
	}
}

func (r *recorder) HandlePresence(_ stanza.Presence, t xmlstream.TokenReadEncoder) error {
	r.record(t)
	return nil
}

func TestPresenceMiddleware(t *testing.T) {
	good := signedXML(t, Stanza{Name: "presence", From: clientJID, To: serviceJID}, 9)
	pres := func(typ, body string) string {
		return `<presence xmlns='jabber:client' from='` + clientJID + `' to='` + serviceJID + `' id='p1'` + typ + `>` + body + `</presence>`
	}
	for _, tc := range []struct {
		name, in, wantOut string
		wantCalls         int
	}{
		{name: "signed", in: pres("", `<status>x</status>`+good), wantCalls: 1},
		{name: "signed for another stanza name", in: pres("", `<status>x</status>`+signedXML(t, Stanza{Name: "message", From: clientJID, To: serviceJID}, 9)),
			wantOut: `<presence xmlns="jabber:client" type="error" to="` + clientJID + `" from="` + serviceJID + `" id="p1"><error type="auth"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></not-authorized><invalid-signature xmlns="urn:xmpp:oauth:0:errors"></invalid-signature></error></presence>`},
		{name: "error presence dropped", in: pres(` type='error'`, `<status>x</status>`), wantOut: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, nil)
			rec := &recorder{}
			h := env.v.Presence(rec)
			status := xml.Name{Space: stanza.NSClient, Local: "status"}
			m := mux.New(stanza.NSClient,
				mux.Presence("", status, h),
				mux.Presence(stanza.ErrorPresence, status, h),
			)
			if out := dispatch(t, m, tc.in); out != tc.wantOut {
				t.Errorf("reply:\n got %s\nwant %s", out, tc.wantOut)
			}
			if rec.calls != tc.wantCalls {
				t.Fatalf("calls = %d, want %d", rec.calls, tc.wantCalls)
			}
			for i := range rec.calls {
				if !rec.granted[i] {
					t.Errorf("call %d without grant", i)
				}
			}
		})
	}
}

// errReader yields its tokens, then fails.
type errReader struct {
	sliceReader
	xmlstream.Encoder
}

var errRead = errors.New("connection reset")

func (r *errReader) Token() (xml.Token, error) {
	tok, err := r.sliceReader.Token()
	if err == io.EOF {
		return nil, errRead
	}
	return tok, err
}

// A failure to read the stanza is returned to the mux (ending the stream),
// not answered with a stanza error.
func TestMiddlewareReadError(t *testing.T) {
	env := newTestEnv(t, nil)
	rec := &recorder{}
	var out bytes.Buffer
	enc := xml.NewEncoder(&out)
	msgStart := xml.StartElement{Name: xml.Name{Space: stanza.NSClient, Local: "message"}}
	r := &errReader{sliceReader: sliceReader{toks: []xml.Token{msgStart}}, Encoder: enc}
	if err := env.v.Message(rec).HandleMessage(stanza.Message{}, r); !errors.Is(err, errRead) {
		t.Errorf("message: err = %v", err)
	}
	r = &errReader{Encoder: enc}
	payload := xml.StartElement{Name: xml.Name{Space: nsPubsub, Local: "pubsub"}}
	if err := env.v.IQ(rec).HandleIQ(stanza.IQ{Type: stanza.SetIQ}, r, &payload); !errors.Is(err, errRead) {
		t.Errorf("iq: err = %v", err)
	}
	_ = enc.Flush()
	if out.Len() != 0 || rec.calls != 0 {
		t.Errorf("wrote %q, handler calls %d", out.String(), rec.calls)
	}
}

// blockingTokens is a TokenStore that waits for its context.
type blockingTokens struct{}

func (blockingTokens) LookupToken(ctx context.Context, _ string) (TokenInfo, error) {
	<-ctx.Done()
	return TokenInfo{}, ctx.Err()
}

// With StoreTimeout a hanging store fails the stanza instead of stalling the
// stream.
func TestMiddlewareStoreTimeout(t *testing.T) {
	env := newTestEnv(t, func(c *Config) {
		c.Tokens = blockingTokens{}
		c.StoreTimeout = Duration(time.Millisecond)
	})
	env.now = time.Unix(1218137833, 0)
	m := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, xml.Name{Space: nsPubsub, Local: "pubsub"}, env.v.IQ(&recorder{})))
	if out := dispatch(t, m, xepStanzaXML); !strings.Contains(out, "internal-server-error") {
		t.Fatalf("reply %s", out)
	}
}
