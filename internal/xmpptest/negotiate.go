package xmpptest

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"

	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
)

// Result is the outcome of one server-side negotiation.
type Result struct {
	Conn    *features.Login
	Session *xmpp.Session
	Err     error
}

// SASLServer returns a connection handler (for Serve or Listen) that does
// what a host does with an accepted connection: STARTTLS with tlsCfg, then
// the features of auth, through xmpp.ReceiveSession. It reports each
// outcome to report, then holds a negotiated session until the client goes
// away.
func SASLServer(auth *features.Server, tlsCfg *tls.Config, report func(Result)) func(net.Conn) {
	startTLS := xmpp.StartTLS(cbind.ServerConfig(tlsCfg))
	return func(raw net.Conn) {
		defer raw.Close()
		conn := auth.NewLogin()
		neg := xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{startTLS}, conn.Features(s)...)}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		session, err := xmpp.ReceiveSession(ctx, cbind.NewConn(raw), 0, neg)
		report(Result{Conn: conn, Session: session, Err: err})
		if err == nil {
			_, _ = io.Copy(io.Discard, session.Conn())
		}
	}
}
