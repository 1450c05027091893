package httpauth

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
)

// stamp plays the server: it replaces the from attribute of a stanza a
// client sent (which may have none) with the session's address.
func stamp(raw, from string) string {
	d := xml.NewDecoder(strings.NewReader(raw))
	var b strings.Builder
	e := xml.NewEncoder(&b)
	first := true
	for {
		tok, err := d.RawToken()
		if err != nil {
			break
		}
		if s, ok := tok.(xml.StartElement); ok && first {
			first = false
			attrs := s.Attr[:0]
			for _, a := range s.Attr {
				if a.Name.Local != "from" || a.Name.Space != "" {
					attrs = append(attrs, a)
				}
			}
			s.Attr = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: from})
			tok = s
		}
		e.EncodeToken(xml.CopyToken(tok))
	}
	e.Flush()
	return b.String()
}

// TestGajimEmptyConfirm: Gajim 1.7.3 answers the IQ form with an empty
// <confirm/> (nbxmpp's Iq.buildReply copies the child's name only). The IQ
// id and the sender are what correlate an IQ answer.
func TestGajimEmptyConfirm(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		status       int
	}{
		{"empty confirm", `<iq type='result' id='%s'><confirm xmlns='http://jabber.org/protocol/http-auth'/></iq>`, 200},
		{"no child", `<iq type='result' id='%s'/>`, 200},
		{"matching attributes", `<iq type='result' id='%s'><confirm xmlns='` + NS + `' id='` + txID + `' method='GET'/></iq>`, 200},
		{"deny with empty confirm", `<iq type='error' id='%s'><confirm xmlns='` + NS + `'/><error type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			f := e.start(basicReq("GET", pageURL, fullJID, txID))
			s := e.nextSent()
			if err := e.feed(stamp(fmt.Sprintf(tc.answer, s.answer.id), fullJID)); err != nil {
				t.Fatalf("answer refused: %v", err)
			}
			if c := f.wait().Code; c != tc.status {
				t.Fatalf("status %d, want %d", c, tc.status)
			}
		})
	}
	t.Run("mismatching attribute", func(t *testing.T) {
		e := newEnv(t, nil)
		f := e.start(basicReq("GET", pageURL, fullJID, txID))
		s := e.nextSent()
		if err := e.feed(stamp(`<iq type='result' id='`+s.answer.id+`'><confirm xmlns='`+NS+`' method='POST'/></iq>`, fullJID)); !errors.Is(err, ErrNotPending) {
			t.Fatalf("mismatching confirm: %v", err)
		}
		(<-e.clock.after) <- time.Time{}
		if c := f.wait().Code; c != 403 {
			t.Fatal(c)
		}
	})
}

// gajimScript answers a confirmation request with python3-nbxmpp's stanza
// classes exactly as Gajim's http_auth module (build_http_auth_answer in
// gajim/common/modules/http_auth.py) does, after parsing it the way
// nbxmpp's own HTTPAuth module does. It prints what it parsed and the
// answer, as JSON.
const gajimScript = `
import json, sys
from nbxmpp.namespaces import Namespace
from nbxmpp.protocol import Iq, Message, Error, ERR_NOT_AUTHORIZED
from nbxmpp.simplexml import XML2Node

node = XML2Node(sys.stdin.read())
if not node.getNamespace():
    node.setNamespace(Namespace.CLIENT)  # the stream's default namespace
stanza = Iq(node=node) if node.getName() == 'iq' else Message(node=node)

# nbxmpp/modules/http_auth.py, _process_http_auth
confirm = stanza.getTag('confirm', namespace=Namespace.HTTP_AUTH)
attrs = confirm.getAttrs()
parsed = {'id': attrs.get('id'), 'method': attrs.get('method'), 'url': attrs.get('url'), 'body': stanza.getTagData('body')}

# gajim/common/modules/http_auth.py, build_http_auth_answer
if sys.argv[1] == 'yes':
    confirm = stanza.getTag('confirm')
    reply = stanza.buildReply('result')
    if stanza.getName() == 'message':
        reply.addChild(node=confirm)
else:
    reply = Error(stanza, ERR_NOT_AUTHORIZED)
json.dump({'parsed': parsed, 'reply': str(reply)}, sys.stdout)
`

// TestNbxmpp answers real confirmation requests with python3-nbxmpp
// (Gajim's XMPP library): the stanzas it builds for yes and no, for both
// forms, get the right HTTP status.
func TestNbxmpp(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		t.Skip("python3 is not installed at /usr/bin/python3; skipping the nbxmpp peer")
	}
	if out, err := exec.Command(python, "-c", "import nbxmpp").CombinedOutput(); err != nil {
		t.Skipf("python3-nbxmpp is not installed; skipping the nbxmpp peer: %s", out)
	}
	for _, tc := range []struct {
		user   string
		answer string
		status int
	}{
		{fullJID, "yes", 200},
		{fullJID, "no", 403},
		{bareJID, "yes", 200},
		{bareJID, "no", 403},
	} {
		t.Run(tc.user+" "+tc.answer, func(t *testing.T) {
			e := newEnv(t, nil)
			f := e.start(basicReq("GET", pageURL, tc.user, txID))
			s := e.nextSent()
			cmd := exec.Command(python, "-c", gajimScript, tc.answer)
			cmd.Stdin = strings.NewReader(s.raw)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("nbxmpp: %v\n%s", err, out)
			}
			var res struct {
				Parsed struct{ ID, Method, URL, Body *string }
				Reply  string
			}
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			p := res.Parsed
			if p.ID == nil || *p.ID != txID || p.Method == nil || *p.Method != "GET" || p.URL == nil || *p.URL != pageURL {
				t.Fatalf("nbxmpp parsed %s", out)
			}
			if (p.Body != nil) != (tc.user == bareJID) {
				t.Fatalf("body %v for %s", p.Body, tc.user)
			}
			t.Logf("nbxmpp answers %s", res.Reply)
			// The server stamps the user's full JID.
			if err := e.feed(stamp(res.Reply, fullJID)); err != nil {
				t.Fatalf("answer %s refused: %v", res.Reply, err)
			}
			if c := f.wait().Code; c != tc.status {
				t.Fatalf("status %d, want %d", c, tc.status)
			}
		})
	}
}

// TestClientCouldNotAnswer: an error other than a refusal ends the request
// at once with its own outcome; feature-not-implemented and
// service-unavailable (clients without XEP-0070: mcabber, Profanity) first
// get the message form, once, at the same full JID.
func TestClientCouldNotAnswer(t *testing.T) {
	iqErr := func(cond string) answerForm {
		return func(s sent) string {
			return stamp(fmt.Sprintf(`<iq type='error' id='%s'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, s.answer.id, cond), fullJID)
		}
	}
	msgErr := func(cond string) answerForm {
		return func(s sent) string {
			return stamp(fmt.Sprintf(`<message type='error' id='%s'><error type='cancel'><%s xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`, s.answer.id, cond), fullJID)
		}
	}
	for _, tc := range []struct {
		name     string
		answers  []answerForm // one per request sent
		status   int
		reason   Reason
		logged   string
		bodyHas  string
		fallback bool
	}{
		{"mcabber: feature-not-implemented, then the message is confirmed", []answerForm{iqErr("feature-not-implemented"), plaintext(fullJID, "OK", true)},
			200, 0, "", "", true},
		{"profanity: service-unavailable, then the message is denied", []answerForm{iqErr("service-unavailable"), plaintext(fullJID, txID+" no", false)},
			403, Denied, `reason="denied by the user"`, "denied", true},
		{"fallback bounced too", []answerForm{iqErr("feature-not-implemented"), msgErr("service-unavailable")},
			502, CouldNotAnswer, `reason="the client could not answer: service-unavailable"`, "(service-unavailable)", true},
		{"other condition: no fallback", []answerForm{iqErr("item-not-found")},
			502, CouldNotAnswer, `reason="the client could not answer: item-not-found"`, "(item-not-found)", false},
		{"not-authorized is a refusal", []answerForm{iqErr("not-authorized")},
			403, Denied, `reason="denied by the user" status="403"`, "denied", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Outcome
			e := newEnv(t, func(c *Config) {
				c.ErrorHandler = func(w http.ResponseWriter, r *http.Request, o Outcome) {
					got = o
					DefaultErrorHandler(w, r, o)
				}
			})
			f := e.start(basicReq("GET", pageURL, fullJID, txID))
			for i, a := range tc.answers {
				s := e.nextSent()
				if s.to != fullJID {
					t.Fatalf("request %d sent to %s", i, s.to)
				}
				if i == 1 && (s.start.Name.Local != "message" || s.answer.thread == "" || !strings.Contains(s.answer.body, txID) || s.confirm.ID != txID) {
					t.Fatalf("fallback is not the message form: %s", s.raw)
				}
				if err := e.feed(a(s)); err != nil {
					t.Fatalf("answer %d refused: %v", i, err)
				}
			}
			rec := f.wait()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			e.noSend()
			lines := e.logs.take()
			sent := strings.Count(strings.Join(lines, "\n"), "confirmation request sent")
			if want := map[bool]int{false: 1, true: 2}[tc.fallback]; sent != want {
				t.Errorf("%d requests logged, want %d: %q", sent, want, lines)
			}
			if tc.status == 200 {
				return
			}
			if got.Reason != tc.reason || !strings.Contains(lines[len(lines)-1], tc.logged) {
				t.Errorf("outcome %v, log %q; want %v, %s", got.Reason, lines[len(lines)-1], tc.reason, tc.logged)
			}
			if !strings.Contains(rec.Body.String(), tc.bodyHas) {
				t.Errorf("body %q lacks %q", rec.Body.String(), tc.bodyHas)
			}
		})
	}
}

// TestSessionEnded: the host says a session ended (go-sendxmpp crashed on
// the request); what waited for it ends at once.
func TestSessionEnded(t *testing.T) {
	t.Run("full JID", func(t *testing.T) {
		e := newEnv(t, nil)
		f := e.start(basicReq("GET", pageURL, fullJID, txID))
		e.nextSent()
		e.v.SessionEnded(jid.MustParse(bareJID + "/other")) // another session
		e.v.SessionEnded(jid.MustParse(fullJID))
		rec := f.wait()
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "session") {
			t.Fatalf("status %d %q, want 503 saying the session ended", rec.Code, rec.Body.String())
		}
		if l := e.logs.take(); len(l) != 2 || !strings.Contains(l[1], `reason="the user's session ended" status="503"`) {
			t.Fatalf("log %q", l)
		}
	})
	t.Run("bare JID", func(t *testing.T) {
		e := newEnv(t, nil)
		f := e.start(basicReq("GET", pageURL, bareJID, txID))
		e.nextSent()
		// One resource went away; others (or offline storage) may answer.
		e.v.SessionEnded(jid.MustParse(fullJID))
		select {
		case <-f.done:
			t.Fatal("a message request to the bare JID ended with one session")
		default:
		}
		e.v.SessionEnded(jid.MustParse(bareJID)) // the last one
		if c := f.wait().Code; c != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", c)
		}
	})
}

// TestOutcomeForPages: the host's ErrorHandler learns what happened and can
// tell the user what to do; the default bodies say the same in plain text.
func TestOutcomeForPages(t *testing.T) {
	var got Outcome
	e := newEnv(t, func(c *Config) {
		c.ErrorHandler = func(w http.ResponseWriter, r *http.Request, o Outcome) {
			got = o
			if len(w.Header().Values("WWW-Authenticate")) == 0 && o.Status == 401 {
				t.Error("challenges not set before the ErrorHandler")
			}
			w.WriteHeader(o.Status)
			io.WriteString(w, "page for "+o.Reason.String())
		}
	})
	rec := e.serve(httptest.NewRequest("GET", pageURL, nil))
	if rec.Code != 401 || got.Reason != NoCredentials || rec.Body.String() != "page for no credentials" {
		t.Fatalf("%d %q %+v", rec.Code, rec.Body.String(), got)
	}
	f := e.start(digestReq(t, e, "SHA-256", "GET", "/missive.html", bareJID, "cnonce1", 1))
	s := e.nextSent()
	e.feed(plaintext(bareJID+"/x", "cnonce1 no", false)(s))
	if rec := f.wait(); rec.Code != 403 || got.Reason != Denied || !got.Digest || got.JID.String() != bareJID || got.URL != pageURL {
		t.Fatalf("%d %+v", rec.Code, got)
	}

	// Check's error is the Outcome.
	e2 := newEnv(t, nil)
	bad := httptest.NewRequest("GET", pageURL, nil)
	bad.Header.Set("Authorization", "Basic !!!")
	_, err := e2.v.Check(bad)
	var o *Outcome
	if !errors.As(err, &o) || o.Reason != BadCredentials || !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("Check: %v", err)
	}

	for _, tc := range []struct {
		o    Outcome
		want []string
	}{
		{Outcome{Reason: NoCredentials}, []string{"XMPP address (JID", "transaction id of your choice", "cnonce"}},
		{Outcome{Reason: Denied, Digest: true}, []string{"denied", "cnonce"}},
		{Outcome{Reason: TimedOut}, []string{"in time"}},
		{Outcome{Reason: CouldNotAnswer, Condition: "feature-not-implemented"}, []string{"could not answer", "feature-not-implemented", "bare JID"}},
		{Outcome{Reason: Offline}, []string{"online"}},
		{Outcome{Reason: Disabled}, []string{"switched off"}},
		{Outcome{Reason: RateLimited, RetryAfter: 11500 * time.Millisecond}, []string{"12 seconds"}},
		{Outcome{Reason: UsedTransaction}, []string{"new one"}},
	} {
		rec := httptest.NewRecorder()
		DefaultErrorHandler(rec, httptest.NewRequest("GET", "/", nil), tc.o)
		body := rec.Body.String()
		if rec.Code != tc.o.Reason.status() || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%v: %d %q", tc.o.Reason, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%v: body %q lacks %q", tc.o.Reason, body, w)
			}
		}
	}
}

// TestHostMuxComposes: a server host with its own chat-message, IQ-result
// and disco handlers routes every stanza through HandleStanza first: no
// registration collides, answers arrive, and what is not an answer reaches
// the host's handlers intact, even from a user with a request pending.
func TestHostMuxComposes(t *testing.T) {
	user := jid.MustParse(fullJID)
	service := jid.MustParse("files.shakespeare.lit")
	client, server := pipeSessions(t, user, service)
	srv, set := lateServer(t)
	v, err := New(Config{Sender: server, From: service, Hosts: []string{srvHost(srv)}, Logger: discardLog,
		JIDRate: RateLimit{Disable: true}, ClientRate: RateLimit{Disable: true}})
	if err != nil {
		t.Fatal(err)
	}
	chats := make(chan string, 4)
	results := make(chan string, 4)
	hostMux := mux.New(stanza.NSClient,
		disco.Handle(),
		ping.Handle(),
		mux.MessageFunc(stanza.ChatMessage, xml.Name{Local: "body"}, func(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
			var m struct {
				stanza.Message
				Body string `xml:"body"`
			}
			if err := xml.NewTokenDecoder(t).Decode(&m); err != nil {
				return err
			}
			chats <- m.Body
			return nil
		}),
		mux.IQFunc(stanza.ResultIQ, xml.Name{}, func(iq stanza.IQ, _ xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
			results <- iq.ID
			return nil
		}),
	)
	go server.Serve(stampFrom(user, hostRouter(v, hostMux)))
	decide := make(chan bool, 1)
	go client.Serve(mux.New(stanza.NSClient, Handle(client, func(ctx context.Context, r Request) (bool, error) {
		if r.Message {
			// While the request waits, the user chats with the host.
			if err := client.Send(ctx, stanza.Message{To: service, Type: stanza.ChatMessage}.Wrap(
				xmlstream.Wrap(xmlstream.Token(xml.CharData("ok, thanks")), xml.StartElement{Name: xml.Name{Local: "body"}}))); err != nil {
				return false, err
			}
		}
		return <-decide, nil
	})))
	set(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })))

	get := func(j jid.JID, id string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/doc", nil)
		req.Header.Set("Authorization", BasicAuthorization(j, id))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	decide <- true
	if c := get(user, "tx1"); c != 200 {
		t.Fatalf("IQ form: %d", c)
	}
	decide <- true
	if c := get(user.Bare(), "tx2"); c != 200 {
		t.Fatalf("message form: %d", c)
	}
	if got := <-chats; got != "ok, thanks" {
		t.Fatalf("host's chat handler got %q", got)
	}
	// An IQ result that answers nothing of ours reaches the host.
	if err := client.Send(context.Background(), stanza.IQ{ID: "host-1", To: service, Type: stanza.ResultIQ}.Wrap(nil)); err != nil {
		t.Fatal(err)
	}
	if got := <-results; got != "host-1" {
		t.Fatalf("host's IQ handler got %q", got)
	}
	// Disco still answers, with the host's features.
	resp, err := client.SendIQ(context.Background(), stanza.IQ{To: service, Type: stanza.GetIQ}.Wrap(
		xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "http://jabber.org/protocol/disco#info", Local: "query"}})))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(xmlTokens{resp})
	resp.Close()
	if !strings.Contains(string(raw), "urn:xmpp:ping") {
		t.Fatalf("disco answer %s", raw)
	}
}

// xmlTokens renders a token stream as text, for assertions.
type xmlTokens struct{ r xml.TokenReader }

func (x xmlTokens) Read(p []byte) (int, error) {
	tok, err := x.r.Token()
	if err != nil {
		return 0, err
	}
	var b strings.Builder
	e := xml.NewEncoder(&b)
	e.EncodeToken(tok)
	e.Flush()
	return copy(p, b.String()), nil
}

// TestComponentMuxComposes: the component option composes with the
// component's other handlers.
func TestComponentMuxComposes(t *testing.T) {
	v := newEnv(t, nil).v
	m := mux.New(component.NSAccept, v.HandleComponent(), disco.Handle(), ping.Handle(),
		mux.MessageFunc(stanza.HeadlineMessage, xml.Name{}, func(stanza.Message, xmlstream.TokenReadEncoder) error { return nil }))
	if m == nil {
		t.Fatal("no mux")
	}
	var _ xmpp.Handler = m
}

// TestHandleStanzaGivesBack: a stanza that is not an answer comes back
// token for token, whether HandleStanza read some of it or not.
func TestHandleStanzaGivesBack(t *testing.T) {
	e := newEnv(t, nil)
	f := e.start(basicReq("GET", pageURL, bareJID, txID))
	s := e.nextSent()
	for _, raw := range []string{
		`<message type='chat' from='juliet@capulet.com/x'><body>see you at nine</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message type='chat' from='juliet@capulet.com/x'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message type='chat' from='juliet@capulet.com/x'><body>` + strings.Repeat("x", MaxBodyLen+1) + `</body></message>`,
		`<message type='chat' from='romeo@montague.lit/x'><body>` + txID + ` OK</body></message>`,
		`<message type='groupchat' from='juliet@capulet.com/x'><body>` + txID + ` OK</body></message>`,
		`<iq type='result' from='juliet@capulet.com/balcony' id='unrelated'><query xmlns='jabber:iq:version'><name>x</name></query></iq>`,
		`<presence from='juliet@capulet.com/x'/>`,
	} {
		d := xml.NewDecoder(strings.NewReader(raw))
		tok, _ := d.Token()
		start := tok.(xml.StartElement).Copy()
		rest, handled := e.v.HandleStanza(start, d)
		if handled {
			t.Fatalf("%s handled", raw)
		}
		got := tokens(rest)
		d = xml.NewDecoder(strings.NewReader(raw))
		d.Token()
		if want := tokens(d); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: given back\n%#v\nwant\n%#v", raw, got, want)
		}
	}
	e.feed(plaintext(bareJID+"/x", txID+" OK", false)(s))
	if c := f.wait().Code; c != 200 {
		t.Fatal(c)
	}
}

// tokens reads r to its end, copying the tokens.
func tokens(r xml.TokenReader) []xml.Token {
	var toks []xml.Token
	for {
		tok, err := r.Token()
		if err != nil {
			return toks
		}
		toks = append(toks, xml.CopyToken(tok))
	}
}
