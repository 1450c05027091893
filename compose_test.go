package xmppauth_test

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/httpauth"
)

// A host with its own chat-message, IQ-result and disco handlers composes
// with the plugin's mux options without a panic (mellium's mux refuses
// duplicate registrations), and XEP-0070 answers still reach the verifier
// through the router's one call, Plugin.HandleStanza.
func TestHostComposition(t *testing.T) {
	sent := make(chan *xmppauth.Stanza, 1)
	cfg := baseConfig(t)
	cfg.EnableHTTPAuth = true
	cfg.HTTPAuth.BaseURL = "http://localhost"
	cfg.HTTPAuth.Sender = xmppauth.RouterSender(func(_ context.Context, st *xmppauth.Stanza) error {
		sent <- st
		return nil
	})
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	nop := func(stanza.Message, xmlstream.TokenReadEncoder) error { return nil }
	opts := append(p.MuxOptions(),
		mux.MessageFunc(stanza.ChatMessage, xml.Name{Local: "body"}, nop),
		mux.IQFunc(stanza.ResultIQ, xml.Name{}, func(stanza.IQ, xmlstream.TokenReadEncoder, *xml.StartElement) error { return nil }),
		disco.Handle(),
	)
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("composing the host's handlers with the plugin's panicked: %v", r)
			}
		}()
		mux.New(stanza.NSClient, opts...)
	}()

	// An HTTP request asks bob; his answer, handed over by the router,
	// ends it.
	done := make(chan error, 1)
	go func() {
		_, err := p.HTTPAuth().Check(basicRequest("bob@localhost/phone", "tx-compose"))
		done <- err
	}()
	req := <-sent
	answer := `<iq xmlns='jabber:client' type='result' from='bob@localhost/phone' to='localhost' id='` + req.ID + `'/>`
	if !p.HandleStanza(stanzaOf(t, answer)) {
		t.Fatal("the answer was not taken")
	}
	if err := <-done; err != nil {
		t.Fatalf("request after the answer: %v", err)
	}
	// A stanza that is not an answer is left to the host.
	if p.HandleStanza(stanzaOf(t, `<message xmlns='jabber:client' type='chat' from='bob@localhost/phone' to='localhost'><body>hi</body></message>`)) {
		t.Error("a chat message was taken as an answer")
	}
}

// stanzaOf parses one stanza as a router has it.
func stanzaOf(t *testing.T, s string) *xmppauth.Stanza {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	tok, _ := d.Token()
	st, err := xmppauth.NewStanza(tok.(xml.StartElement), xmlstream.Inner(d))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func basicRequest(user, id string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://localhost/page", nil)
	r.Header.Set("Authorization", httpauth.BasicAuthorization(jid.MustParse(user), id))
	return r
}
