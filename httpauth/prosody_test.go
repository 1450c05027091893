package httpauth

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/internal/testenv"
)

// TestProsodyComponent runs the XMPP side as an XEP-0114 component of a real
// Prosody: the component sends confirmation requests through Prosody to a
// mellium client logged in as the user, which answers with Handle; a second
// user's forged answer is ignored.
func TestProsodyComponent(t *testing.T) {
	const domain, secret = "auth.localhost", "s3cret"
	p := testenv.StartProsody(t, testenv.ProsodyOptions{
		Users:      map[string]string{"juliet": "juliet-pw", "romeo": "romeo-pw"},
		Components: map[string]string{domain: secret},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The component.
	comp := p.Component(t, ctx, domain, secret)
	srv, set := lateServer(t)
	v, err := New(Config{Sender: comp, From: jid.MustParse(domain), Hosts: []string{srvHost(srv)}, Logger: discardLog})
	if err != nil {
		t.Fatal(err)
	}
	fromRomeo := make(chan struct{}, 8)
	compMux := mux.New(component.NSAccept, v.HandleComponent())
	go comp.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		err := compMux.HandleXMPP(t, start)
		for _, a := range start.Attr {
			if a.Name.Local == "from" && jid.MustParse(a.Value).Localpart() == "romeo" {
				fromRomeo <- struct{}{}
			}
		}
		return err
	}))

	// The users.
	juliet := p.Login(t, ctx, "juliet", "juliet-pw")
	romeo := p.Login(t, ctx, "romeo", "romeo-pw")
	go romeo.Serve(nil)
	type decision struct {
		yes   bool
		forge bool // romeo first sends a plaintext "<id> OK" for the same id
	}
	decisions := make(chan decision, 1)
	asked := make(chan Request, 1)
	go juliet.Serve(mux.New(stanza.NSClient, Handle(juliet, func(ctx context.Context, r Request) (bool, error) {
		d := <-decisions
		if d.forge {
			err := romeo.Send(ctx, stanza.Message{To: jid.MustParse(domain), Type: stanza.ChatMessage}.Wrap(
				xmlstream.Wrap(xmlstream.Token(xml.CharData(r.ID+" OK")), xml.StartElement{Name: xml.Name{Local: "body"}})))
			if err != nil {
				t.Error(err)
			}
			<-fromRomeo // the component has handled (and ignored) it
		}
		asked <- r
		return d.yes, nil
	})))

	set(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, _ := FromContext(r.Context())
		io.WriteString(w, j.String())
	})))

	for _, tc := range []struct {
		name   string
		id     string
		user   jid.JID
		d      decision
		status int
	}{
		{"iq to full JID, confirmed", "tx1", juliet.LocalAddr(), decision{yes: true}, 200},
		{"iq to full JID, denied", "tx2", juliet.LocalAddr(), decision{yes: false}, 403},
		{"message to bare JID, confirmed", "tx3", juliet.LocalAddr().Bare(), decision{yes: true}, 200},
		{"message to bare JID, denied despite forged answer", "tx4", juliet.LocalAddr().Bare(), decision{yes: false, forge: true}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decisions <- tc.d
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/secret", nil)
			req.Header.Set("Authorization", BasicAuthorization(tc.user, tc.id))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tc.status, p.Log())
			}
			if tc.status == 200 && string(body) != tc.user.String() {
				t.Fatalf("verified JID %q, want %q", body, tc.user)
			}
			r := <-asked
			if r.From.String() != domain || r.ID != tc.id || r.URL != srv.URL+"/secret" || r.Message != (tc.user.Resourcepart() == "") {
				t.Fatalf("user was asked %+v", r)
			}
			if n := storePending(t, v.Store()); n != 0 {
				t.Fatalf("%d pending", n)
			}
		})
	}
}
