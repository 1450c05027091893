package saslclient_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/saslclient"
)

// A mellium client logs in with this package instead of xmpp.SASL. The
// server here is package features on loopback (see harness_test.go); it
// offers every SCRAM mechanism with pseudomechanisms, XEP-0440 and
// XEP-0474, so the client picks SCRAM-SHA-512-PLUS with tls-exporter and
// verifies the downgrade-protection hash.
func Example() {
	srv, stop, err := startServer(features.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	tlsConfig := &tls.Config{ServerName: "localhost", RootCAs: getPKI().Pool, MinVersion: tls.VersionTLS12}

	// One Client per connection; it records what the login used.
	c, err := saslclient.New(saslclient.Config{
		Password: "alice-secret",
		// Repeat logins with the same salt skip PBKDF2. The cache holds
		// password-equivalent data in memory.
		Cache: saslclient.NewMemoryCache(0),
	})
	if err != nil {
		log.Fatal(err)
	}

	conn, err := net.Dial("tcp", srv.addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	origin := jid.MustParse("alice@localhost") // the user name is its localpart
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: append(
				[]xmpp.StreamFeature{xmpp.StartTLS(tlsConfig)},
				append(c.Features(), xmpp.BindResource())...)}
		}))
	if err != nil {
		log.Fatal(err) // errors.Is(err, saslclient.ErrDowngrade) on a tampered list
	}
	defer session.Close()

	res, _ := c.Result()
	fmt.Println(res.Mechanism, res.ChannelBinding, res.DowngradeProtected)
	// Output: SCRAM-SHA-512-PLUS:tls-exporter tls-exporter true
}
