package oauth_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"github.com/xmppauth/xmppauth/config"
	"os"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/oauth"
)

// The stores of a Service Provider that issued the XEP's example token.
func exampleConfig() oauth.Config {
	tokens := oauth.NewMemoryTokens()
	tokens.Put("ad180jjd733klru7", oauth.TokenInfo{
		Secret:      "tokensecret",
		ConsumerKey: "0685bd9184jfhq22",
		Scopes:      []string{"pubsub:subscribe:bard_geoloc"},
	})
	return oauth.Config{
		Consumers: oauth.MemoryConsumers{"0685bd9184jfhq22": "consumersecret"},
		Tokens:    tokens,
		// A fixed clock so that the XEP's 2008 timestamp is fresh.
		Clock: config.ClockFunc(func() time.Time { return time.Unix(1218137833, 0) }),
	}
}

// A host wraps its own pubsub handler; the handler learns who was authorised
// from GrantFrom.
func ExampleVerifier_IQ() {
	v, err := oauth.New(exampleConfig())
	if err != nil {
		panic(err)
	}
	subscribe := mux.IQHandlerFunc(func(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
		g, _ := oauth.GrantFrom(t)
		fmt.Printf("consumer %s may %v\n", g.ConsumerKey, g.Scopes)
		_, err := xmlstream.Copy(t, iq.Result(nil))
		return err
	})
	m := mux.New(stanza.NSClient,
		mux.IQ(stanza.SetIQ, xml.Name{Space: "http://jabber.org/protocol/pubsub", Local: "pubsub"}, v.IQ(subscribe)),
	)

	// XEP-0235 Example 1 as read from a c2s stream (from already stamped).
	const in = `<iq xmlns='jabber:client' from='travelbot@findmenow.tld/bot' id='sub1' to='feeds.worldgps.tld' type='set'>
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
	for range 2 { // the second time it is a replay
		d := xml.NewDecoder(strings.NewReader(in))
		tok, _ := d.Token()
		start := tok.(xml.StartElement)
		e := xml.NewEncoder(os.Stdout)
		_ = m.HandleXMPP(struct {
			xml.TokenReader
			xmlstream.Encoder
		}{xmlstream.InnerElement(d), e}, &start)
		_ = e.Flush()
		fmt.Println()
	}
	// Output:
	// consumer 0685bd9184jfhq22 may [pubsub:subscribe:bard_geoloc]
	// <iq xmlns="jabber:client" type="result" to="travelbot@findmenow.tld/bot" from="feeds.worldgps.tld" id="sub1"></iq>
	// <iq xmlns="jabber:client" type="error" to="travelbot@findmenow.tld/bot" from="feeds.worldgps.tld" id="sub1"><error type="auth"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></not-authorized><invalid-nonce xmlns="urn:xmpp:oauth:0:errors"></invalid-nonce></error></iq>
}

// Verify can be used without a mux.
func ExampleVerifier_Verify() {
	v, err := oauth.New(exampleConfig())
	if err != nil {
		panic(err)
	}
	p := oauth.Params{
		ConsumerKey:     "0685bd9184jfhq22",
		Nonce:           "4572616e48616d6d65724c61686176",
		Signature:       "9PQkM4YKgaM067wqrDGshXOwDW0=",
		SignatureMethod: oauth.HMACSHA1,
		Timestamp:       "1218137833",
		Token:           "ad180jjd733klru7",
		Version:         oauth.Version,
	}
	s := oauth.Stanza{Name: "iq", From: "travelbot@findmenow.tld/bot", To: "feeds.worldgps.tld"}
	g, err := v.Verify(context.Background(), s, p)
	fmt.Println(g.ConsumerKey, err)
	_, err = v.Verify(context.Background(), s, p)
	fmt.Println(err)
	// Output:
	// 0685bd9184jfhq22 <nil>
	// oauth: nonce already used
}

// A c2s client signs with its own full JID as the server will stamp it, and
// puts the element into its pubsub request.
func ExampleSigner() {
	sg := oauth.Signer{
		Credentials: oauth.Credentials{
			ConsumerKey: "0685bd9184jfhq22", ConsumerSecret: "consumersecret",
			Token: "ad180jjd733klru7", TokenSecret: "tokensecret",
		},
		From: "travelbot@findmenow.tld/bot",
		// Deterministic for the example; leave both nil in real use.
		Clock: config.ClockFunc(func() time.Time { return time.Unix(1218137833, 0) }),
		Rand:  bytes.NewReader([]byte("EranHammerLahav\x00")),
	}
	p, err := sg.Sign(oauth.Stanza{Name: "iq", To: "feeds.worldgps.tld"})
	if err != nil {
		panic(err)
	}
	e := xml.NewEncoder(os.Stdout)
	e.Indent("", "  ")
	_ = e.Encode(p)
	// Output:
	// <oauth xmlns="urn:xmpp:oauth:0">
	//   <oauth_consumer_key>0685bd9184jfhq22</oauth_consumer_key>
	//   <oauth_nonce>4572616e48616d6d65724c6168617600</oauth_nonce>
	//   <oauth_signature>CmUdj95DPNgnjc7nuvEjpOQuiMs=</oauth_signature>
	//   <oauth_signature_method>HMAC-SHA1</oauth_signature_method>
	//   <oauth_timestamp>1218137833</oauth_timestamp>
	//   <oauth_token>ad180jjd733klru7</oauth_token>
	//   <oauth_version>1.0</oauth_version>
	// </oauth>
}

// The stanza error a failure maps to.
func ExampleErrorElement() {
	e := xml.NewEncoder(os.Stdout)
	_, _ = xmlstream.Copy(e, oauth.ErrorElement(oauth.ErrNonceReplayed))
	_ = e.Flush()
	// Output:
	// <error type="auth"><not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></not-authorized><invalid-nonce xmlns="urn:xmpp:oauth:0:errors"></invalid-nonce></error>
}
