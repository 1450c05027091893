package xmppauth_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log"
	"log/slog"
	"net"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/xmppcert"
)

// A host wires the plugin into its own accept loop: Accept and Negotiate per
// connection (which bounds negotiation without handing mellium a context
// that ends, see Conn.Negotiate), the authenticated identity from the Conn,
// MuxOptions in the session's mux, and Close with what ended the session.
func Example() {
	// The host's own pieces: a credential store and a TLS certificate.
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice@localhost", "correct horse", scram.MinIterations,
		crypto.SHA1, crypto.SHA256, crypto.SHA512); err != nil {
		log.Fatal(err)
	}
	certPEM, keyPEM, err := xmppcert.SelfSigned([]string{"localhost"}, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		log.Fatal(err)
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	// The zero Config is the safe default: every SCRAM mechanism with every
	// channel-binding type the connection can give, nothing before TLS.
	plugin, err := xmppauth.New(xmppauth.Config{
		Domains:   []string{"localhost"},
		TLSConfig: tlsConfig,
		Logger:    slog.New(slog.DiscardHandler),
		SASL:      features.Config{Store: store},
	})
	if err != nil {
		log.Fatal(err)
	}

	logins := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				conn := plugin.Accept(raw)
				session, err := conn.Negotiate(context.Background())
				if err != nil {
					return // answered and closed by Negotiate
				}
				id, _ := conn.Identity() // who authenticated, never the header's from
				logins <- fmt.Sprint(id.JID, " ", id.Mechanism, " ", id.ChannelBinding, " bound ", conn.Bound().Bare())
				m := mux.New(stanza.NSClient, append(plugin.MuxOptions(), disco.Handle())...)
				_ = conn.Close(session, session.Serve(m))
			}()
		}
	}()

	// A mellium client logs in with SCRAM-SHA-256-PLUS over TLS 1.3.
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	alice := jid.MustParse("alice@localhost")
	session, err := xmpp.NewSession(context.Background(), alice.Domain(), alice, raw, 0,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.StartTLS(&tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13}),
				xmpp.SASL("", "correct horse", sasl.ScramSha256Plus, sasl.ScramSha256),
				xmpp.BindResource(),
			}}
		}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("server:", <-logins)
	session.Close()
	raw.Close()
	// Output:
	// server: alice@localhost SCRAM-SHA-256-PLUS tls-exporter bound alice@localhost
}
