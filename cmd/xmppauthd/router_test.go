package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/httpauth"
)

// recorder is a sender that keeps what it was sent, as XML text.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) Send(_ context.Context, tr xml.TokenReader) error {
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(e, tr); err != nil {
		return err
	}
	if err := e.Flush(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, buf.String())
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// mustStanza buffers a stanza written as XML text.
func mustStanza(t testing.TB, s string) *xmppauth.Stanza {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	st, err := xmppauth.NewStanza(tok.(xml.StartElement), xmlstream.Inner(d))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return st
}

// register adds a session of full that records what it gets; closed counts
// the times the router disconnected it.
func register(t testing.TB, r *Router, full string, out httpauth.Sender) *route {
	t.Helper()
	rt := &route{jid: jid.MustParse(full), out: out, close: func() {}, kick: func(stream.Error) {}}
	if replaced, err := r.Register(rt); err != nil || replaced != nil {
		t.Fatalf("Register %s: %v, replaced %v", full, err, replaced)
	}
	return rt
}

// testRouter has:
//   - alice/a1 available, alice/a2 bound without presence;
//   - bob/b1 and bob/b2 bound without presence, b2 more recent;
//   - dave/d1 available with priority -1;
//   - carol with no session.
func testRouter(t testing.TB) (*Router, map[string]*recorder) {
	t.Helper()
	r := NewRouter([]string{"localhost"}, 10)
	recs := make(map[string]*recorder)
	for _, full := range []string{"alice@localhost/a1", "alice@localhost/a2", "bob@localhost/b1", "bob@localhost/b2", "dave@localhost/d1"} {
		rec := &recorder{}
		recs[full] = rec
		rt := register(t, r, full, rec)
		switch full {
		case "alice@localhost/a1":
			r.SetPresence(rt, mustStanza(t, `<presence xmlns='jabber:client'/>`))
		case "dave@localhost/d1":
			r.SetPresence(rt, mustStanza(t, `<presence xmlns='jabber:client'><priority>-1</priority></presence>`))
		}
	}
	return r, recs
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name    string
		stanza  string
		want    []string // full JIDs that get the stanza
		wantErr error
	}{
		{"message to a full JID", `<message xmlns='jabber:client' to='alice@localhost/a2' type='chat'/>`, []string{"alice@localhost/a2"}, nil},
		{"message to a bare JID: available sessions", `<message xmlns='jabber:client' to='alice@localhost' type='chat'/>`, []string{"alice@localhost/a1"}, nil},
		{"message without type to a bare JID", `<message xmlns='jabber:client' to='alice@localhost'/>`, []string{"alice@localhost/a1"}, nil},
		{"message to a bare JID, none available: newest", `<message xmlns='jabber:client' to='bob@localhost' type='chat'/>`, []string{"bob@localhost/b2"}, nil},
		{"message to a bare JID, only negative priority", `<message xmlns='jabber:client' to='dave@localhost' type='chat'/>`, nil, ErrUnavailable},
		{"message to an offline full JID: as bare", `<message xmlns='jabber:client' to='alice@localhost/gone' type='chat'/>`, []string{"alice@localhost/a1"}, nil},
		{"normal message to an offline full JID: as bare", `<message xmlns='jabber:client' to='bob@localhost/gone' type='normal'/>`, []string{"bob@localhost/b2"}, nil},
		{"groupchat to an offline full JID", `<message xmlns='jabber:client' to='alice@localhost/gone' type='groupchat'/>`, nil, ErrUnavailable},
		{"headline to an offline full JID: dropped", `<message xmlns='jabber:client' to='alice@localhost/gone' type='headline'/>`, nil, nil},
		{"headline to a bare JID", `<message xmlns='jabber:client' to='alice@localhost' type='headline'/>`, []string{"alice@localhost/a1"}, nil},
		{"headline to a user without sessions: dropped", `<message xmlns='jabber:client' to='carol@localhost' type='headline'/>`, nil, nil},
		{"chat to a user without sessions", `<message xmlns='jabber:client' to='carol@localhost' type='chat'/>`, nil, ErrUnavailable},
		{"error message undeliverable: dropped", `<message xmlns='jabber:client' to='carol@localhost' type='error'/>`, nil, nil},
		{"iq get to a full JID", `<iq xmlns='jabber:client' to='alice@localhost/a1' type='get' id='1'><x xmlns='urn:example'/></iq>`, []string{"alice@localhost/a1"}, nil},
		{"iq result to a full JID", `<iq xmlns='jabber:client' to='bob@localhost/b1' type='result' id='1'/>`, []string{"bob@localhost/b1"}, nil},
		{"iq get to a bare JID", `<iq xmlns='jabber:client' to='alice@localhost' type='get' id='1'><x xmlns='urn:example'/></iq>`, nil, ErrUnavailable},
		{"iq set to an offline full JID", `<iq xmlns='jabber:client' to='alice@localhost/gone' type='set' id='1'><x xmlns='urn:example'/></iq>`, nil, ErrUnavailable},
		{"iq result to an offline full JID: dropped", `<iq xmlns='jabber:client' to='alice@localhost/gone' type='result' id='1'/>`, nil, nil},
		{"iq error to a bare JID: dropped", `<iq xmlns='jabber:client' to='alice@localhost' type='error' id='1'/>`, nil, nil},
		{"presence to a bare JID: every session", `<presence xmlns='jabber:client' to='alice@localhost'/>`, []string{"alice@localhost/a1", "alice@localhost/a2"}, nil},
		{"presence to a full JID", `<presence xmlns='jabber:client' to='bob@localhost/b1' type='unavailable'/>`, []string{"bob@localhost/b1"}, nil},
		{"presence to an offline full JID: dropped", `<presence xmlns='jabber:client' to='alice@localhost/gone'/>`, nil, nil},
		{"presence to a user without sessions: dropped", `<presence xmlns='jabber:client' to='carol@localhost' type='subscribe'/>`, nil, nil},
		{"to the server", `<iq xmlns='jabber:client' to='localhost' type='get' id='1'/>`, nil, ErrToServer},
		{"to the server's full JID", `<message xmlns='jabber:client' to='localhost/x'/>`, nil, ErrToServer},
		{"no to at all", `<message xmlns='jabber:client'/>`, nil, ErrRemoteDomain},
		{"to a remote domain", `<message xmlns='jabber:client' to='someone@example.net'/>`, nil, ErrRemoteDomain},
		{"case-folded address", `<message xmlns='jabber:client' to='ALICE@LOCALHOST/a2'/>`, []string{"alice@localhost/a2"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, recs := testRouter(t)
			err := r.Route(context.Background(), mustStanza(t, tc.stanza))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Route = %v, want %v", err, tc.wantErr)
			}
			var got []string
			for full, rec := range recs {
				if n := len(rec.take()); n > 0 {
					if n != 1 {
						t.Errorf("%s got %d copies", full, n)
					}
					got = append(got, full)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("delivered to %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRouterSend(t *testing.T) {
	tests := []struct {
		name    string
		stanza  string
		want    string // what alice/a1 receives
		wantErr error
	}{
		{"from filled in with the domain",
			`<iq xmlns='jabber:client' to='alice@localhost/a1' type='get' id='c1'><confirm xmlns='http://jabber.org/protocol/http-auth' id='x'/></iq>`,
			`<iq xmlns="jabber:client" to="alice@localhost/a1" type="get" id="c1" from="localhost"><confirm xmlns="http://jabber.org/protocol/http-auth" id="x"></confirm></iq>`, nil},
		{"from kept when given",
			`<message xmlns='jabber:client' from='component.localhost' to='alice@localhost'><body>hi</body></message>`,
			`<message xmlns="jabber:client" from="component.localhost" to="alice@localhost"><body xmlns="jabber:client">hi</body></message>`, nil},
		{"no namespace: the stream's",
			`<message to='alice@localhost/a1'><body>hi</body></message>`,
			`<message xmlns="jabber:client" to="alice@localhost/a1" from="localhost"><body>hi</body></message>`, nil},
		{"not a stanza", `<foo xmlns='jabber:client' to='alice@localhost/a1'/>`, "", xmppauth.ErrNotStanza},
		{"wrong namespace", `<message xmlns='jabber:server' to='alice@localhost/a1'/>`, "", xmppauth.ErrNotStanza},
		{"malformed to", `<message xmlns='jabber:client' to='@@'/>`, "", xmppauth.ErrBadTo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, recs := testRouter(t)
			d := xml.NewDecoder(strings.NewReader(tc.stanza))
			err := xmppauth.RouterSender(r.Route).Send(context.Background(), d)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Send = %v, want %v", err, tc.wantErr)
			}
			got := recs["alice@localhost/a1"].take()
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("delivered %q", got)
			case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
				t.Errorf("delivered %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The newer session of a full JID replaces the older (RFC 6120 §7.7.2.2),
// and an account gets at most maxSessions.
func TestRegister(t *testing.T) {
	r := NewRouter([]string{"localhost"}, 2)
	old := &recorder{}
	oldRoute := register(t, r, "alice@localhost/phone", old)
	fresh := &recorder{}
	newRoute := &route{jid: jid.MustParse("alice@localhost/phone"), out: fresh, close: func() {}}
	replaced, err := r.Register(newRoute)
	if err != nil || replaced != oldRoute {
		t.Fatalf("Register replaced %v (%v), want the old session", replaced, err)
	}
	if r.Unregister(oldRoute) {
		t.Error("Unregister of the replaced route reported it available")
	}
	if err := r.Route(context.Background(), mustStanza(t, `<message xmlns='jabber:client' to='alice@localhost/phone'/>`)); err != nil {
		t.Fatal(err)
	}
	if len(old.take()) != 0 || len(fresh.take()) != 1 {
		t.Error("the stanza did not go to the newer session only")
	}
	register(t, r, "alice@localhost/laptop", &recorder{})
	if _, err := r.Register(&route{jid: jid.MustParse("alice@localhost/third")}); !errors.Is(err, ErrTooManySessions) {
		t.Errorf("third session: %v, want ErrTooManySessions", err)
	}
	register(t, r, "bob@localhost/one", &recorder{}) // the cap is per account
}

// A session that does not take a stanza in time is disconnected, and the
// sender learns it (to bounce <recipient-unavailable/>).
func TestRecipientNotReading(t *testing.T) {
	r := NewRouter([]string{"localhost"}, 10)
	closed := 0
	stuck := &route{jid: jid.MustParse("bob@localhost/stuck"), out: failingSender{}, close: func() { closed++ }}
	if _, err := r.Register(stuck); err != nil {
		t.Fatal(err)
	}
	err := r.Route(context.Background(), mustStanza(t, `<message xmlns='jabber:client' to='bob@localhost/stuck' type='chat'/>`))
	if !errors.Is(err, ErrNotReading) || closed != 1 {
		t.Fatalf("Route = %v, closed %d times; want ErrNotReading and a disconnect", err, closed)
	}
}

type failingSender struct{}

func (failingSender) Send(context.Context, xml.TokenReader) error { return context.DeadlineExceeded }

// TestPresenceState checks availability tracking: the sessions to broadcast
// to (every other session of the domain), the presences a new session is
// given, and going unavailable.
func TestPresenceState(t *testing.T) {
	r, _ := testRouter(t)
	routeOf := func(full string) *route {
		for _, rt := range r.accounts[jid.MustParse(full).Bare().String()] {
			if rt.jid.String() == full {
				return rt
			}
		}
		t.Fatalf("%s not registered", full)
		return nil
	}
	a1, a2 := routeOf("alice@localhost/a1"), routeOf("alice@localhost/a2")
	others, theirs := r.SetPresence(a2, mustStanza(t, `<presence xmlns='jabber:client'><show>away</show></presence>`))
	if len(others) != 4 || slices.Contains(others, a2) {
		t.Errorf("broadcast to %d sessions, want the 4 others", len(others))
	}
	if len(theirs) != 2 { // a1 and dave's d1 are available
		t.Errorf("initial presence got %d presences, want 2", len(theirs))
	}
	if _, theirs := r.SetPresence(a2, mustStanza(t, `<presence xmlns='jabber:client'/>`)); len(theirs) != 0 {
		t.Errorf("second presence got presences %v", theirs)
	}
	r.SetPresence(a1, nil) // unavailable
	if _, theirs := r.SetPresence(a2, nil); len(theirs) != 0 {
		t.Errorf("going unavailable gave presences %v", theirs)
	}
	if r.Unregister(a1) {
		t.Error("Unregister reported the unavailable a1 as available")
	}
	r.SetPresence(a2, mustStanza(t, `<presence xmlns='jabber:client'/>`))
	if !r.Unregister(a2) || r.Unregister(a2) {
		t.Error("Unregister of the available a2, twice")
	}
}

func BenchmarkRouteBareMessage(b *testing.B) {
	r, _ := testRouter(b)
	st := mustStanza(b, `<message xmlns='jabber:client' to='alice@localhost' type='chat'><body>hello</body></message>`)
	for _, rt := range r.accounts["alice@localhost"] {
		rt.out = discardSender{}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Route(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
}

// discardSender reads and drops the stanza.
type discardSender struct{}

func (discardSender) Send(_ context.Context, r xml.TokenReader) error {
	_, err := xmlstream.Copy(xmlstream.Discard(), r)
	return err
}
