package oauth

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// stamp is what a host does for a client-to-server stream before its mux
// runs: set from to the sender's bound full JID (RFC 6120 §8.1.2.1).
func stamp(from jid.JID, next xmpp.Handler) xmpp.Handler {
	return xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		attrs := start.Attr[:0:0]
		for _, a := range start.Attr {
			if a.Name.Local != "from" {
				attrs = append(attrs, a)
			}
		}
		start.Attr = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: from.String()})
		return next.HandleXMPP(t, start)
	})
}

// granted is a host handler that reports its Grant and answers the IQ.
type granted chan Grant

func (g granted) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	grant, _ := GrantFrom(t)
	g <- grant
	_, err := xmlstream.Copy(t, iq.Result(nil))
	return err
}

func (g granted) HandleMessage(_ stanza.Message, t xmlstream.TokenReadEncoder) error {
	grant, _ := GrantFrom(t)
	g <- grant
	return nil
}

func liveEnv(t *testing.T) *testEnv {
	env := newTestEnv(t, nil)
	env.now = time.Now()
	return env
}

func TestRoundTripThroughSessions(t *testing.T) {
	client := jid.MustParse(clientJID)
	component := jid.MustParse("bot.findmenow.tld")
	service := jid.MustParse(serviceJID)
	creds := xepCreds
	for _, tc := range []struct {
		name       string
		wireFrom   jid.JID // from put on the stanza by the sender
		signerFrom string  // Signer.From
		stampFrom  *jid.JID
		wantResult bool
		wantErr    string
	}{
		// A c2s client omits from and signs its full JID, which the server
		// stamps.
		{name: "client, server stamps from", signerFrom: clientJID, stampFrom: &client, wantResult: true},
		// A client that puts its full JID on the wire too.
		{name: "client with explicit from", wireFrom: client, stampFrom: &client, wantResult: true},
		// A component sets an explicit from, signs it, and the server keeps it.
		{name: "component with explicit from", wireFrom: component, wantResult: true},
		// A host that does not stamp from verifies over an empty from.
		{name: "client, host forgot to stamp", signerFrom: clientJID, wantErr: "invalid-signature"},
		// A client that signs without from fails once the server stamps it.
		{name: "client signs empty from", stampFrom: &client, wantErr: "invalid-signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := liveEnv(t)
			grants := make(granted, 1)
			var h xmpp.Handler = mux.New(stanza.NSClient,
				mux.IQ(stanza.SetIQ, xml.Name{Space: nsPubsub, Local: "pubsub"}, env.v.IQ(grants)),
			)
			if tc.stampFrom != nil {
				h = stamp(*tc.stampFrom, h)
			}
			c, _ := xmpptest.Pipe(t, client, nil, h)

			sg := Signer{Credentials: creds, From: tc.signerFrom}
			iq := stanza.IQ{ID: "sub1", Type: stanza.SetIQ, From: tc.wireFrom, To: service}
			p, err := sg.Sign(Stanza{Name: "iq", From: jidString(iq.From), To: jidString(iq.To)})
			if err != nil {
				t.Fatal(err)
			}
			payload := xmlstream.Wrap(
				xmlstream.MultiReader(
					xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "subscribe"}, Attr: []xml.Attr{{Name: xml.Name{Local: "node"}, Value: "bard_geoloc"}}}),
					p.TokenReader(),
				),
				xml.StartElement{Name: xml.Name{Space: nsPubsub, Local: "pubsub"}},
			)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := c.SendIQ(ctx, iq.Wrap(payload))
			if err != nil {
				t.Fatal(err)
			}
			toks, err := xmlstream.ReadAll(resp)
			resp.Close()
			if err != nil {
				t.Fatal(err)
			}
			reply := marshalTokens(t, toks)
			if tc.wantResult {
				if !strings.Contains(reply, `type="result"`) {
					t.Fatalf("reply %s", reply)
				}
				select {
				case g := <-grants:
					if g.ConsumerKey != creds.ConsumerKey || g.Token != creds.Token {
						t.Fatalf("grant %+v", g)
					}
				default:
					t.Fatal("handler did not run")
				}
				return
			}
			if !strings.Contains(reply, `type="error"`) || !strings.Contains(reply, tc.wantErr) {
				t.Fatalf("reply %s, want error %s", reply, tc.wantErr)
			}
			select {
			case g := <-grants:
				t.Fatalf("handler ran with %+v", g)
			default:
			}
		})
	}
}

func TestRoundTripMessage(t *testing.T) {
	env := liveEnv(t)
	client := jid.MustParse(clientJID)
	grants := make(granted, 1)
	h := stamp(client, mux.New(stanza.NSClient,
		mux.Message(stanza.ChatMessage, xml.Name{Space: stanza.NSClient, Local: "body"}, env.v.Message(grants)),
	))
	c, _ := xmpptest.Pipe(t, client, nil, h)
	sg := Signer{Credentials: xepCreds, From: clientJID}
	msg := stanza.Message{ID: "m1", Type: stanza.ChatMessage, To: jid.MustParse(serviceJID)}
	p, err := sg.Sign(Stanza{Name: "message", To: serviceJID})
	if err != nil {
		t.Fatal(err)
	}
	body := xmlstream.Wrap(xmlstream.Token(xml.CharData("hi")), xml.StartElement{Name: xml.Name{Local: "body"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Send(ctx, msg.Wrap(xmlstream.MultiReader(body, p.TokenReader()))); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-grants:
		if g.Token != xepParams.Token {
			t.Fatalf("grant %+v", g)
		}
	case <-ctx.Done():
		t.Fatal("message handler did not run")
	}
}

func marshalTokens(t testing.TB, toks []xml.Token) string {
	t.Helper()
	var b strings.Builder
	e := xml.NewEncoder(&b)
	for _, tok := range toks {
		if err := e.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
