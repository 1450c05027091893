// Command xmppauth-sign prints an IQ signed with XEP-0235 (OAuth over XMPP)
// that a user can paste into their client's XML console to try the
// protected query of xmppauthd (or of any host that wraps a handler with the
// plugin's OAuthIQ):
//
//	go run ./cmd/xmppauth-sign -from alice@localhost/laptop \
//		-consumer-key xmppauthd-demo -consumer-secret S -token demo-token -token-secret T
//
// The signature covers the stanza's from, which the server stamps with the
// sender's bound full JID: give -from exactly as the client shows it. It is
// fresh for the verifier's window (five minutes by default) and can be used
// once.
package main

import (
	"encoding/xml"
	"flag"
	"fmt"
	"os"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/oauth"
)

func main() {
	var creds oauth.Credentials
	from := flag.String("from", "", "your bound full `JID`, e.g. alice@localhost/laptop (required)")
	to := flag.String("to", "localhost", "the server's `domain`")
	flag.StringVar(&creds.ConsumerKey, "consumer-key", "xmppauthd-demo", "OAuth consumer `key`")
	flag.StringVar(&creds.ConsumerSecret, "consumer-secret", "", "OAuth consumer `secret`")
	flag.StringVar(&creds.Token, "token", "demo-token", "OAuth access `token`")
	flag.StringVar(&creds.TokenSecret, "token-secret", "", "OAuth token `secret`")
	flag.Parse()
	sender, err := jid.Parse(*from)
	recipient, err2 := jid.Parse(*to)
	if err != nil || err2 != nil || sender.Resourcepart() == "" {
		fmt.Fprintln(os.Stderr, "-from must be a full JID and -to a domain")
		os.Exit(2)
	}
	signer := oauth.Signer{Credentials: creds, From: sender.String()}
	params, err := signer.Sign(oauth.Stanza{Name: "iq", To: recipient.String()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	query := xmlstream.Wrap(params.TokenReader(), xml.StartElement{Name: xml.Name{Space: "urn:xmppauthd:whoami", Local: "query"}})
	e := xml.NewEncoder(os.Stdout)
	iq := stanza.IQ{ID: "whoami1", To: recipient, Type: stanza.GetIQ}
	_, err = xmlstream.Copy(e, iq.Wrap(query))
	if err == nil {
		err = e.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println()
}
