package guard_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth/guard"
)

// A host guards each connection: the plaintext guard hands over to TLS
// after <starttls/>, the TLS connection gets a guard of its own, the SASL
// feature switches the guard to the session limits, and a violation found
// during negotiation is answered with the guard's Response.
func Example() {
	cfg := &guard.Config{Serves: func(domain string) bool { return domain == "example.com" }}
	if err := cfg.Validate(); err != nil {
		log.Fatal(err)
	}
	tlsCfg := &tls.Config{ /* certificates */ }
	ln, err := net.Listen("tcp", "127.0.0.1:5222")
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			g := guard.NewConn(c, cfg, true)
			current := g // the guard in use: after STARTTLS, the TLS one

			starttls := xmpp.StartTLS(tlsCfg)
			negotiateTLS := starttls.Negotiate
			starttls.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
				mask, rw, err := negotiateTLS(ctx, s, data)
				if tc, ok := rw.(*tls.Conn); ok && err == nil {
					tg := g.StartTLS(tc) // keeps ConnectionState visible
					current, rw = tg.Conn, tg
				}
				return mask, rw, err
			}
			auth := xmpp.SASLServer(func(*sasl.Negotiator) bool { return false /* check credentials */ }, sasl.Plain)
			negotiateSASL := auth.Negotiate
			auth.Negotiate = func(ctx context.Context, s *xmpp.Session, data any) (xmpp.SessionState, io.ReadWriter, error) {
				mask, rw, err := negotiateSASL(ctx, s, data)
				if err == nil && mask&xmpp.Authn != 0 {
					current.SetAuthenticated()
				}
				return mask, rw, err
			}
			features := []xmpp.StreamFeature{starttls, auth, xmpp.BindResource()}

			session, err := xmpp.ReceiveSession(context.Background(), g, 0, xmpp.NewNegotiator(
				func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
					return xmpp.StreamConfig{Features: features}
				}))
			var gerr *guard.Error
			if errors.As(err, &gerr) {
				log.Printf("refused %s: %v", c.RemoteAddr(), gerr)
				_ = current.WriteError()
				return
			}
			if err != nil {
				return
			}
			log.Printf("session for %s", current.Domain())
			// Once the session is ready, the guard answers violations itself
			// when mellium closes the stream.
			_ = session.Serve(nil)
		}()
	}
}
