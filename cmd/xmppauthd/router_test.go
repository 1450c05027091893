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

// parseStanza buffers a stanza written as XML text.
func parseStanza(t testing.TB, s string) (*stanzaBuf, error) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	return bufferStanza(tok.(xml.StartElement), xmlstream.Inner(d), stanzaLimit)
}

func mustStanza(t testing.TB, s string) *stanzaBuf {
	t.Helper()
	st, err := parseStanza(t, s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return st
}

// testRouter has:
//   - alice/a1 available, alice/a2 bound without presence;
//   - bob/b1 and bob/b2 bound without presence, b2 more recent;
//   - dave/d1 available with priority -1;
//   - carol with no session.
func testRouter(t testing.TB) (*Router, map[string]*recorder) {
	t.Helper()
	r := NewRouter(jid.MustParse("localhost"), stanzaLimit)
	recs := make(map[string]*recorder)
	for _, full := range []string{"alice@localhost/a1", "alice@localhost/a2", "bob@localhost/b1", "bob@localhost/b2", "dave@localhost/d1"} {
		rec := &recorder{}
		recs[full] = rec
		rt, replaced := r.Register(jid.MustParse(full), rec)
		if replaced != nil {
			t.Fatal("unexpected replacement")
		}
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
		{"not a stanza", `<foo xmlns='jabber:client' to='alice@localhost/a1'/>`, "", ErrNotStanza},
		{"wrong namespace", `<message xmlns='jabber:server' to='alice@localhost/a1'/>`, "", ErrNotStanza},
		{"malformed to", `<message xmlns='jabber:client' to='@@'/>`, "", ErrBadAddress},
		{"malformed from", `<message xmlns='jabber:client' from='@@' to='alice@localhost/a1'/>`, "", ErrBadAddress},
		{"too large", `<message xmlns='jabber:client' to='alice@localhost/a1'><body>` + strings.Repeat("x", stanzaLimit) + `</body></message>`, "", ErrStanzaTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, recs := testRouter(t)
			d := xml.NewDecoder(strings.NewReader(tc.stanza))
			err := r.Send(context.Background(), d)
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

// TestReserveAttach checks that stanzas for a session bound but not yet
// ready are queued, in order, and delivered on Attach.
func TestReserveAttach(t *testing.T) {
	r := NewRouter(jid.MustParse("localhost"), stanzaLimit)
	full := jid.MustParse("alice@localhost/new")
	rt, _ := r.Reserve(full)
	ctx := context.Background()
	for _, body := range []string{"one", "two", "three"} {
		if err := r.Route(ctx, mustStanza(t, `<message xmlns='jabber:client' to='alice@localhost/new'><body>`+body+`</body></message>`)); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	if err := r.Attach(ctx, rt, rec); err != nil {
		t.Fatal(err)
	}
	if err := r.Route(ctx, mustStanza(t, `<message xmlns='jabber:client' to='alice@localhost'><body>four</body></message>`)); err != nil {
		t.Fatal(err)
	}
	got := rec.take()
	if len(got) != 4 {
		t.Fatalf("got %d stanzas, want 4: %q", len(got), got)
	}
	for i, body := range []string{"one", "two", "three", "four"} {
		if !strings.Contains(got[i], ">"+body+"<") {
			t.Errorf("stanza %d = %s, want body %s", i, got[i], body)
		}
	}
}

func TestReserveQueueLimit(t *testing.T) {
	r := NewRouter(jid.MustParse("localhost"), stanzaLimit)
	r.Reserve(jid.MustParse("alice@localhost/new"))
	st := mustStanza(t, `<message xmlns='jabber:client' to='alice@localhost/new'/>`)
	for i := range maxQueued {
		if err := r.Route(context.Background(), st); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := r.Route(context.Background(), st); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("message past the queue limit: %v, want ErrUnavailable", err)
	}
}

// TestReplace checks RFC 6120 §7.7.2.2 handling: the newer session wins.
func TestReplace(t *testing.T) {
	r := NewRouter(jid.MustParse("localhost"), stanzaLimit)
	full := jid.MustParse("alice@localhost/phone")
	old := &recorder{}
	oldRoute, _ := r.Register(full, old)

	newRoute, replaced := r.Reserve(full)
	if replaced != sender(old) {
		t.Fatalf("Reserve replaced %v, want the old session", replaced)
	}
	if r.Unregister(oldRoute) {
		t.Error("Unregister of the replaced route reported it available")
	}
	if err := r.Attach(context.Background(), oldRoute, old); !errors.Is(err, ErrReplaced) {
		t.Errorf("Attach of the replaced route = %v, want ErrReplaced", err)
	}
	fresh := &recorder{}
	if err := r.Attach(context.Background(), newRoute, fresh); err != nil {
		t.Fatal(err)
	}
	if got := r.Online(full); len(got) != 1 || !got[0].Equal(full) {
		t.Fatalf("Online = %v", got)
	}
	if err := r.Route(context.Background(), mustStanza(t, `<message xmlns='jabber:client' to='alice@localhost/phone'/>`)); err != nil {
		t.Fatal(err)
	}
	if len(old.take()) != 0 || len(fresh.take()) != 1 {
		t.Error("the stanza did not go to the newer session only")
	}
	r.Unregister(newRoute)
	if got := r.Online(full); len(got) != 0 {
		t.Errorf("Online after Unregister = %v", got)
	}
}

// TestPresenceState checks availability tracking: initial presence, the
// other sessions to broadcast to, the presences a new session is given, and
// going unavailable.
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

	others, initial, theirs := r.SetPresence(a2, mustStanza(t, `<presence xmlns='jabber:client'><show>away</show></presence>`))
	if !initial || len(others) != 1 || others[0] != a1 {
		t.Errorf("SetPresence = %v, %v; want [a1], initial", others, initial)
	}
	if len(theirs) != 1 || theirs[0] != a1.presence {
		t.Errorf("SetPresence gave %v, want a1's presence", theirs)
	}
	if _, initial, theirs := r.SetPresence(a2, mustStanza(t, `<presence xmlns='jabber:client'/>`)); initial || len(theirs) != 0 {
		t.Errorf("second presence: initial %v, presences %v", initial, theirs)
	}
	r.SetPresence(a1, nil) // unavailable
	if _, _, theirs := r.SetPresence(a2, nil); len(theirs) != 0 {
		t.Errorf("going unavailable gave presences %v", theirs)
	}
	if _, initial, theirs := r.SetPresence(a2, mustStanza(t, `<presence xmlns='jabber:client'/>`)); !initial || len(theirs) != 0 {
		t.Errorf("after a1 went unavailable: initial %v, presences %v", initial, theirs)
	}
	if r.Unregister(a1) {
		t.Error("Unregister reported the unavailable a1 as available")
	}
	if !r.Unregister(a2) {
		t.Error("Unregister reported the available a2 as unavailable")
	}
	if r.Unregister(a2) {
		t.Error("second Unregister reported available")
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
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
	}
	for _, tc := range tests {
		if got := mustStanza(t, tc.presence).priority(); got != tc.want {
			t.Errorf("%s: priority %d, want %d", tc.presence, got, tc.want)
		}
	}
}

// FuzzRoute feeds arbitrary XML through buffering and routing: nothing may
// panic, and a delivered stanza must re-encode as well-formed XML.
func FuzzRoute(f *testing.F) {
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
		st, err := bufferStanza(start, xmlstream.Inner(d), 4096)
		if err != nil {
			return
		}
		r, recs := testRouter(t)
		st.setFrom(jid.MustParse("carol@localhost/x"))
		_ = r.Route(context.Background(), st)
		for _, rec := range recs {
			for _, out := range rec.take() {
				dd := xml.NewDecoder(strings.NewReader(out))
				for {
					if _, err := dd.Token(); err != nil {
						if err.Error() != "EOF" {
							t.Fatalf("delivered malformed XML %q: %v", out, err)
						}
						break
					}
				}
			}
		}
	})
}

func BenchmarkRouteBareMessage(b *testing.B) {
	r, _ := testRouter(b)
	st := mustStanza(b, `<message xmlns='jabber:client' to='alice@localhost' type='chat'><body>hello</body></message>`)
	discard := discardSender{}
	for _, rt := range r.accounts["alice@localhost"] {
		rt.to = discard
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Route(ctx, st); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBufferStanza(b *testing.B) {
	const s = `<message xmlns='jabber:client' to='alice@localhost' type='chat' id='x1'><body>hello there</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`
	b.ReportAllocs()
	for b.Loop() {
		d := xml.NewDecoder(strings.NewReader(s))
		tok, _ := d.Token()
		if _, err := bufferStanza(tok.(xml.StartElement), xmlstream.Inner(d), stanzaLimit); err != nil {
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
