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
// offers SASL2 with Bind 2 and every SCRAM mechanism with pseudomechanisms,
// XEP-0440 and XEP-0474, so the client picks SCRAM-SHA-512-PLUS with
// tls-exporter over SASL2, verifies the downgrade-protection hash and binds
// its resource in the same round trip.
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
		c.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: append(
				[]xmpp.StreamFeature{xmpp.StartTLS(tlsConfig)},
				append(c.Features(), xmpp.BindResource())...)}
		}))
	if err != nil {
		log.Fatal(err) // errors.Is(err, saslclient.ErrDowngrade) on a tampered list
	}
	defer session.Close()

	res, _ := c.Result()
	fmt.Println(res.Mechanism, res.ChannelBinding, res.DowngradeProtected, res.SASL2, res.Bound)
	// Output: SCRAM-SHA-512-PLUS:tls-exporter tls-exporter true true true
}

// With a TokenStore the client asks for a FAST token when it logs in with
// its password, and logs in with the token next time: one round trip, no
// password needed, bound to the TLS connection (HT-SHA-256-EXPR on TLS
// 1.3).
func Example_fast() {
	srv, stop, err := startServer(features.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	tlsConfig := &tls.Config{ServerName: "localhost", RootCAs: getPKI().Pool, MinVersion: tls.VersionTLS12}
	tokens := &saslclient.MemoryTokenStore{} // keep it where a password could be kept

	login := func(password string) saslclient.Result {
		c, err := saslclient.New(saslclient.Config{
			Password: password, // "" with a stored token: the token alone
			// FAST needs a stable id for this installation (a UUID v4).
			UserAgent: saslclient.UserAgent{ID: "d4565fa7-4d72-4749-b3d3-740edbf87770", Software: "Example"},
			FAST:      saslclient.FAST{Tokens: tokens},
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
		origin := jid.MustParse("alice@localhost")
		session, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, 0,
			c.Negotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
				return xmpp.StreamConfig{Features: append(
					[]xmpp.StreamFeature{xmpp.StartTLS(tlsConfig)},
					append(c.Features(), xmpp.BindResource())...)}
			}))
		if err != nil {
			log.Fatal(err)
		}
		defer session.Close()
		res, _ := c.Result()
		return res
	}

	first := login("alice-secret")
	fmt.Println(first.Mechanism, first.TokenStored)
	next := login("")
	fmt.Println(next.Mechanism, next.FAST)
	// Output:
	// SCRAM-SHA-512-PLUS:tls-exporter true
	// HT-SHA-256-EXPR true
}
