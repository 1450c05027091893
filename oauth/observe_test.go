package oauth_test

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/oauth"
)

// Config.Observe hears of each decision: verified, then the same stanza
// refused as a replay, then a stanza without <oauth/>: token required, then
// one over MaxStanzaBytes and one with two <oauth/> elements, refused
// before any signature is checked.
func TestObserve(t *testing.T) {
	var got []string
	cfg := exampleConfig()
	cfg.Observe = func(e oauth.Event) { got = append(got, e.Condition) }
	cfg.MaxStanzaBytes = 4096
	v, err := oauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ok := mux.IQHandlerFunc(func(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
		_, err := xmlstream.Copy(t, iq.Result(nil))
		return err
	})
	pubsub := xml.Name{Space: "http://jabber.org/protocol/pubsub", Local: "pubsub"}
	m := mux.New(stanza.NSClient, mux.IQ(stanza.SetIQ, pubsub, v.IQ(ok)))
	const signed = `<iq xmlns='jabber:client' from='travelbot@findmenow.tld/bot' id='sub1' to='feeds.worldgps.tld' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe jid='travelbot@findmenow.tld' node='bard_geoloc'/><oauth xmlns='urn:xmpp:oauth:0'><oauth_consumer_key>0685bd9184jfhq22</oauth_consumer_key><oauth_nonce>4572616e48616d6d65724c61686176</oauth_nonce><oauth_signature>9PQkM4YKgaM067wqrDGshXOwDW0=</oauth_signature><oauth_signature_method>HMAC-SHA1</oauth_signature_method><oauth_timestamp>1218137833</oauth_timestamp><oauth_token>ad180jjd733klru7</oauth_token><oauth_version>1.0</oauth_version></oauth></pubsub></iq>`
	const unsigned = `<iq xmlns='jabber:client' from='travelbot@findmenow.tld/bot' id='sub2' to='feeds.worldgps.tld' type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'/></iq>`
	large := strings.Replace(unsigned, "<pubsub xmlns='http://jabber.org/protocol/pubsub'/>",
		"<pubsub xmlns='http://jabber.org/protocol/pubsub'>"+strings.Repeat("x", 5000)+"</pubsub>", 1)
	oauthEl := signed[strings.Index(signed, "<oauth "):strings.Index(signed, "</pubsub>")]
	twice := strings.Replace(signed, "</pubsub>", oauthEl+"</pubsub>", 1)
	for _, in := range []string{signed, signed, unsigned, large, twice} {
		d := xml.NewDecoder(strings.NewReader(in))
		tok, _ := d.Token()
		start := tok.(xml.StartElement)
		e := xml.NewEncoder(io.Discard)
		if err := m.HandleXMPP(struct {
			xml.TokenReader
			xmlstream.Encoder
		}{xmlstream.InnerElement(d), e}, &start); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != ",invalid-nonce,token-required,error,duplicated-parameter" {
		t.Errorf("events %q", got)
	}
}
