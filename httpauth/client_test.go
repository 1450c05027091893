package httpauth

import (
	"context"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// TestClientHandlerIQ sends confirmation requests to a mellium client using
// Handle and checks the stanza it answers with.
func TestClientHandlerIQ(t *testing.T) {
	user := jid.MustParse("juliet@capulet.com/balcony")
	service := jid.MustParse("files.shakespeare.lit")
	good := `<confirm xmlns='` + NS + `' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/>`
	for _, tc := range []struct {
		name    string
		typ     stanza.IQType
		payload string
		decide  func() (bool, error)
		want    string // "" for a result, else the error condition
		asked   bool
	}{
		{"confirm", stanza.GetIQ, good, func() (bool, error) { return true, nil }, "", true},
		{"deny", stanza.GetIQ, good, func() (bool, error) { return false, nil }, "not-authorized", true},
		{"decide error", stanza.GetIQ, good, func() (bool, error) { return true, errors.New("ui gone") }, "not-authorized", true},
		{"set", stanza.SetIQ, good, nil, "feature-not-implemented", false},
		{"no id", stanza.GetIQ, `<confirm xmlns='` + NS + `' method='GET' url='https://a.example/'/>`, nil, "bad-request", false},
		{"relative url", stanza.GetIQ, `<confirm xmlns='` + NS + `' id='x' method='GET' url='/missive.html'/>`, nil, "bad-request", false},
		{"bad method", stanza.GetIQ, `<confirm xmlns='` + NS + `' id='x' method='G T' url='https://a.example/'/>`, nil, "bad-request", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipeSessions(t, user, service)
			asked := false
			go client.Serve(mux.New(stanza.NSClient, Handle(client, func(ctx context.Context, r Request) (bool, error) {
				asked = true
				if r.From.String() != service.String() || r.ID != "a7374jnjlalasdf82" || r.Message {
					t.Errorf("request %+v", r)
				}
				return tc.decide()
			})))
			go server.Serve(nil)
			d := xml.NewDecoder(strings.NewReader(tc.payload))
			resp, err := server.SendIQ(context.Background(), stanza.IQ{ID: "ha000", To: user, From: service, Type: tc.typ}.Wrap(d))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			tok, err := resp.Token()
			if err != nil {
				t.Fatal(err)
			}
			start := tok.(xml.StartElement)
			iq, _ := stanza.NewIQ(start)
			if tc.want == "" {
				if iq.Type != stanza.ResultIQ {
					t.Fatalf("got IQ type %s, want result", iq.Type)
				}
			} else {
				_, e := stanza.UnmarshalIQError(resp, start)
				var se stanza.Error
				if !errors.As(e, &se) || string(se.Condition) != tc.want {
					t.Fatalf("got %v, want %s", e, tc.want)
				}
			}
			if asked != tc.asked {
				t.Fatalf("decide called: %v, want %v", asked, tc.asked)
			}
		})
	}
}

// TestClientHandlerMessage checks the answers to message requests.
func TestClientHandlerMessage(t *testing.T) {
	user := jid.MustParse("juliet@capulet.com/balcony")
	service := jid.MustParse("files.shakespeare.lit")
	good := `<thread>th1</thread><confirm xmlns='` + NS + `' id='a7374jnjlalasdf82' method='GET' url='https://files.shakespeare.lit:9345/missive.html'/>`
	for _, tc := range []struct {
		name    string
		payload string
		yes     bool
		typ     stanza.MessageType
		errCond string
		thread  string
		confirm bool
	}{
		{"confirm", good, true, stanza.NormalMessage, "", "th1", true},
		{"deny", good, false, stanza.ErrorMessage, "not-authorized", "th1", true},
		{"malformed", `<confirm xmlns='` + NS + `' id='' method='GET' url='https://a.example/'/>`, true, stanza.ErrorMessage, "bad-request", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipeSessions(t, user, service)
			go client.Serve(mux.New(stanza.NSClient, Handle(client, func(ctx context.Context, r Request) (bool, error) {
				if !r.Message || r.Thread != "th1" {
					t.Errorf("request %+v", r)
				}
				return tc.yes, nil
			})))
			got := make(chan answer, 1)
			go server.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
				a, err := readAnswer(*start, t)
				if err == nil {
					got <- a
				}
				return err
			}))
			d := xml.NewDecoder(strings.NewReader(tc.payload))
			err := server.Send(context.Background(), stanza.Message{ID: "m1", To: user.Bare(), From: service, Type: stanza.NormalMessage}.Wrap(d))
			if err != nil {
				t.Fatal(err)
			}
			a := <-got
			if a.typ != string(tc.typ) && !(tc.typ == stanza.NormalMessage && a.typ == "") {
				t.Fatalf("answer type %q, want %q", a.typ, tc.typ)
			}
			if (a.confirm != nil) != tc.confirm || a.thread != tc.thread {
				t.Fatalf("answer %+v", a)
			}
			if a.cond != tc.errCond {
				t.Fatalf("error condition %q, want %q", a.cond, tc.errCond)
			}
		})
	}
}

func TestClientFeature(t *testing.T) {
	m := mux.New(stanza.NSClient, Handle(nil, nil))
	var got []string
	m.ForFeatures("", func(f info.Feature) error {
		got = append(got, f.Var)
		return nil
	})
	n := 0
	for _, v := range got {
		if v == NS {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("features %q: want %s once", got, NS)
	}
}

// TestClientHandlerBusy fills the handler's decision slots with message
// requests; one more gets resource-constraint.
func TestClientHandlerBusy(t *testing.T) {
	user := jid.MustParse("juliet@capulet.com/balcony")
	service := jid.MustParse("files.shakespeare.lit")
	client, server := pipeSessions(t, user, service)
	started := make(chan struct{}, MaxConcurrentDecisions)
	release := make(chan struct{})
	go client.Serve(mux.New(stanza.NSClient, Handle(client, func(ctx context.Context, r Request) (bool, error) {
		started <- struct{}{}
		<-release
		return true, nil
	})))
	got := make(chan answer, MaxConcurrentDecisions+1)
	go server.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		a, err := readAnswer(*start, t)
		if err == nil {
			got <- a
		}
		return err
	}))
	send := func(i int) {
		d := xml.NewDecoder(strings.NewReader(`<confirm xmlns='` + NS + `' id='` + string(rune('a'+i)) + `' method='GET' url='https://a.example/'/>`))
		if err := server.Send(context.Background(), stanza.Message{To: user, From: service}.Wrap(d)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range MaxConcurrentDecisions {
		send(i)
		<-started
	}
	send(MaxConcurrentDecisions)
	a := <-got
	if a.cond != "resource-constraint" || a.confirm == nil || a.confirm.ID != string(rune('a'+MaxConcurrentDecisions)) {
		t.Fatalf("busy answer %+v", a)
	}
	close(release)
	for range MaxConcurrentDecisions {
		if a := <-got; a.isError {
			t.Fatalf("answer %+v", a)
		}
	}
}
