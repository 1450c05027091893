package httpauth

import (
	"context"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// stampFrom plays the part of a server that stamps stanzas from a client
// with the client's authenticated address before routing them (mellium does
// not do it for c2s streams).
func stampFrom(from jid.JID, h xmpp.Handler) xmpp.Handler {
	return xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		s := start.Copy()
		attrs := s.Attr[:0]
		for _, a := range s.Attr {
			if a.Name.Local != "from" {
				attrs = append(attrs, a)
			}
		}
		s.Attr = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: from.String()})
		return h.HandleXMPP(t, &s)
	})
}

// hostRouter plays the part of a server's router: each stanza from the
// user goes to HandleStanza first and, when it is not an answer, to the
// host's own mux.
func hostRouter(v *Verifier, m *mux.ServeMux) xmpp.Handler {
	return xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		rest, handled := v.HandleStanza(*start, t)
		if handled {
			return nil
		}
		return m.HandleXMPP(struct {
			xml.TokenReader
			xmlstream.Encoder
		}{rest, t}, start)
	})
}

// nopNegotiator reads the stream header from the prefix pipeSessions puts
// in front of the connection and declares the session ready, like mellium's
// internal xmpptest package: nothing is negotiated.
func nopNegotiator(ctx context.Context, in, out *stream.Info, s *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, interface{}, error) {
	r := s.TokenReader()
	defer r.Close()
	for {
		tok, err := r.Token()
		if err != nil {
			return 0, nil, nil, err
		}
		if start, ok := tok.(xml.StartElement); ok {
			if err := in.FromStartElement(start); err != nil {
				return 0, nil, nil, err
			}
			out.XMLNS = stanza.NSClient
			return xmpp.Ready, nil, nil, nil
		}
	}
}

// pipeSessions connects a mellium client session (the user) to a mellium
// server session (the XMPP side of the HTTP service) over net.Pipe.
func pipeSessions(t *testing.T, user, service jid.JID) (client, server *xmpp.Session) {
	t.Helper()
	c, s := net.Pipe()
	header := func(from, to jid.JID) io.Reader {
		return strings.NewReader(`<stream:stream from="` + from.String() + `" to="` + to.String() +
			`" id="1" version="1.0" xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">`)
	}
	rw := func(conn net.Conn, hdr io.Reader) io.ReadWriter {
		return struct {
			io.Reader
			io.Writer
		}{io.MultiReader(hdr, conn), conn}
	}
	client, err := xmpp.NewSession(context.Background(), service, user, rw(c, header(service, user)), 0, nopNegotiator)
	if err != nil {
		t.Fatal(err)
	}
	server, err = xmpp.NewSession(context.Background(), service, user, rw(s, header(user, service)), xmpp.Received, nopNegotiator)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return client, server
}

// TestEndToEnd runs net/http's client against the middleware while a
// mellium client answers the confirmation requests with Handle.
func TestEndToEnd(t *testing.T) {
	user := jid.MustParse("juliet@capulet.com/balcony")
	service := jid.MustParse("files.shakespeare.lit")
	for _, tc := range []struct {
		name   string
		jid    string
		answer bool
		digest bool
		status int
	}{
		{"iq confirm basic", user.String(), true, false, 200},
		{"iq deny basic", user.String(), false, false, 403},
		{"message confirm digest", user.Bare().String(), true, true, 200},
		{"message deny digest", user.Bare().String(), false, true, 403},
		{"iq confirm digest", user.String(), true, true, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := pipeSessions(t, user, service)
			srv, set := lateServer(t)
			v, err := New(Config{Sender: server, Hosts: []string{srvHost(srv)}, Logger: discardLog})
			if err != nil {
				t.Fatal(err)
			}
			asked := make(chan Request, 1)
			go client.Serve(mux.New("jabber:client", Handle(client, func(ctx context.Context, r Request) (bool, error) {
				asked <- r
				return tc.answer, nil
			})))
			go server.Serve(stampFrom(user, hostRouter(v, mux.New("jabber:client"))))

			set(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				j, _ := FromContext(r.Context())
				io.WriteString(w, j.String())
			})))

			req, _ := http.NewRequest("GET", srv.URL+"/doc", nil)
			if tc.digest {
				resp, err := http.Get(srv.URL + "/doc")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				h, err := DigestAuthorization(resp.Header.Values("WWW-Authenticate")[1], jid.MustParse(tc.jid), "e2e-tx", "GET", "/doc", 1)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", h)
			} else {
				req.Header.Set("Authorization", BasicAuthorization(jid.MustParse(tc.jid), "e2e-tx"))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.status == 200 && string(body) != tc.jid {
				t.Fatalf("verified JID %q, want %q", body, tc.jid)
			}
			r := <-asked
			if r.ID != "e2e-tx" || r.Method != "GET" || r.URL != srv.URL+"/doc" || r.Message != (tc.jid == user.Bare().String()) {
				t.Fatalf("client was asked %+v", r)
			}
			if n := storePending(t, v.Store()); n != 0 {
				t.Fatalf("%d pending", n)
			}
		})
	}
}
