// Package xmpptest connects two mellium sessions in memory for tests, the way
// mellium's own internal/xmpptest does: a client and a server session over
// net.Pipe whose stream negotiation is already done, each serving a handler.
package xmpptest

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"strings"
	"testing"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// Pipe returns a client session for client (whose server is the domain of
// client) connected to a server session. Each serves its handler (nil: none)
// until the test ends.
func Pipe(t testing.TB, client jid.JID, clientHandler, serverHandler xmpp.Handler) (c, s *xmpp.Session) {
	t.Helper()
	server := client.Domain()
	cc, sc := net.Pipe()
	c = session(t, xmpp.Ready, client, server, cc, server, client)
	s = session(t, xmpp.Ready|xmpp.Received, server, client, sc, server, client)
	for _, p := range []struct {
		s *xmpp.Session
		h xmpp.Handler
	}{{c, clientHandler}, {s, serverHandler}} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = p.s.Serve(p.h)
		}()
		t.Cleanup(func() {
			_ = p.s.Close()
			<-done
		})
	}
	t.Cleanup(func() {
		cc.Close()
		sc.Close()
	})
	return c, s
}

// session builds a session whose peer's stream header is already "read":
// the reader starts with it, and the negotiator only consumes it.
func session(t testing.TB, state xmpp.SessionState, local, remote jid.JID, conn net.Conn, serverJID, clientJID jid.JID) *xmpp.Session {
	t.Helper()
	header := `<stream:stream from="` + remote.String() + `" to="` + local.String() +
		`" id="123" version="1.0" xmlns="` + stanza.NSClient + `" xmlns:stream="` + stream.NS + `">`
	rw := struct {
		io.Reader
		io.Writer
	}{
		Reader: io.MultiReader(strings.NewReader(header), conn, strings.NewReader(`</stream:stream>`)),
		Writer: conn,
	}
	negotiate := func(ctx context.Context, in, out *stream.Info, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, interface{}, error) {
		r := s.TokenReader()
		defer r.Close()
		for {
			tok, err := r.Token()
			if err != nil {
				return state, nil, nil, err
			}
			if start, ok := tok.(xml.StartElement); ok && start.Name.Local == "stream" {
				return state, nil, nil, nil
			}
		}
	}
	var s *xmpp.Session
	var err error
	if state&xmpp.Received != 0 {
		s, err = xmpp.NewSession(context.Background(), local, remote, rw, state&^xmpp.Ready, negotiate)
	} else {
		s, err = xmpp.NewSession(context.Background(), remote, local, rw, state&^xmpp.Ready, negotiate)
	}
	if err != nil {
		t.Fatalf("xmpptest: %v", err)
	}
	return s
}
