package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	xdisco "github.com/xmppauth/xmppauth/disco"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// testTimeout bounds every wait of these tests; it is a safety net against
// hangs, never a synchronisation device.
const testTimeout = 30 * time.Second

// testServer is a demo server started by run on loopback ports.
type testServer struct {
	addrs  Addrs
	log    *xmpptest.LogBuffer
	cancel context.CancelFunc
	done   chan error
	// handler, when set, serves the clients logged in from then on
	// instead of the default one that collects what they receive.
	handler func(*xmpp.Session) xmpp.Handler
}

// startServer runs the demo server with alice and bob (unless opts names
// users) and stops it when the test ends.
func startServer(t *testing.T, edit func(*options)) *testServer {
	t.Helper()
	ts := &testServer{log: &xmpptest.LogBuffer{}, done: make(chan error, 1)}
	opts := defaultOptions()
	opts.Addr, opts.TLSAddr, opts.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	opts.StateDir = t.TempDir()
	opts.Users = userList{{"alice", "alice-secret"}, {"bob", "bob-secret"}}
	opts.Logger = slog.New(slog.NewTextHandler(ts.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	listening := make(chan Addrs, 1)
	opts.Listening = func(a Addrs) { listening <- a }
	if edit != nil {
		edit(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- run(ctx, opts) }()
	select {
	case ts.addrs = <-listening:
	case err := <-ts.done:
		cancel()
		t.Fatalf("run: %v", err)
	case <-time.After(testTimeout):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", ts.log)
		}
	})
	return ts
}

// stop cancels run and waits for it to return (idempotent).
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("run returned %v", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(testTimeout):
		t.Fatal("run did not return after cancel")
	}
}

// received is a stanza a test client got.
type received struct {
	XMLName xml.Name
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:"body"`
}

// testClient is a logged-in mellium client serving its session.
type testClient struct {
	session *xmpp.Session
	jid     jid.JID // bound
	got     chan received
	served  chan error
	closed  sync.Once
	raw     net.Conn
}

// close ends the client's stream, waits for its Serve loop and closes the
// connection (idempotent).
func (c *testClient) close(t *testing.T) {
	c.closed.Do(func() {
		_ = c.session.Close()
		select {
		case <-c.served:
		case <-time.After(testTimeout):
			t.Error("client session did not end")
		}
		c.raw.Close()
	})
}

// login connects a mellium client with STARTTLS (trusting the generated
// certificate), SASL and resource binding.
func (ts *testServer) login(t *testing.T, user, password string, version uint16, mechs ...sasl.Mechanism) (*testClient, error) {
	t.Helper()
	return ts.loginAs(t, jid.MustParse(user+"@localhost"), password, version, mechs...)
}

// nsBind is RFC 6120's resource-binding namespace.
const nsBind = "urn:ietf:params:xml:ns:xmpp-bind"

// bindAs is a client resource-binding feature that requests resource.
// (mellium's BindResource requests the resource of the address the server
// put in its stream header, which is bare here.)
func bindAs(resource string) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			w := session.TokenWriter()
			defer w.Close()
			req := stanza.IQ{ID: "bind1", Type: stanza.SetIQ}.Wrap(xmlstream.Wrap(
				xmlstream.Wrap(xmlstream.Token(xml.CharData(resource)), xml.StartElement{Name: xml.Name{Local: "resource"}}),
				xml.StartElement{Name: xml.Name{Space: nsBind, Local: "bind"}}))
			if _, err := xmlstream.Copy(w, req); err != nil {
				return 0, nil, err
			}
			if err := w.Flush(); err != nil {
				return 0, nil, err
			}
			r := session.TokenReader()
			defer r.Close()
			var resp struct {
				Type string `xml:"type,attr"`
				JID  string `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
			}
			if err := xml.NewTokenDecoder(r).Decode(&resp); err != nil {
				return 0, nil, err
			}
			bound, err := jid.Parse(resp.JID)
			if resp.Type != "result" || err != nil {
				return 0, nil, fmt.Errorf("binding %q: %s %v", resource, resp.Type, err)
			}
			session.UpdateAddr(bound)
			return xmpp.Ready, nil, nil
		},
	}
}

// loginAs is login with a full JID whose resource the client requests.
func (ts *testServer) loginAs(t *testing.T, origin jid.JID, password string, version uint16, mechs ...sasl.Mechanism) (*testClient, error) {
	t.Helper()
	if len(mechs) == 0 {
		mechs = []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha256}
	}
	raw, err := net.Dial("tcp", ts.addrs.XMPP)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ts.addrs.Cert)
	bind := xmpp.BindResource()
	if res := origin.Resourcepart(); res != "" {
		bind = bindAs(res)
	}
	// Not cancelled before the session ends: mellium's deadline watcher
	// could still see it (see server.handle).
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	session, err := xmpp.NewSession(ctx, origin.Domain(), origin, raw, 0,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
				xmpp.StartTLS(&tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: version, MaxVersion: version}),
				xmpp.SASL("", password, mechs...),
				bind,
			}}
		}))
	if err != nil {
		cancel()
		raw.Close()
		return nil, err
	}
	c := &testClient{session: session, raw: raw, jid: session.LocalAddr(), got: make(chan received, 16), served: make(chan error, 1)}
	if ts.handler != nil {
		go func() { c.served <- session.Serve(ts.handler(session)) }()
		t.Cleanup(func() {
			c.close(t)
			cancel()
		})
		return c, nil
	}
	go func() {
		c.served <- session.Serve(xmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local == "iq" {
				return nil // Serve answers get/set with service-unavailable
			}
			var r received
			// t holds the children and the end element: put the start back
			// so that the decoder sees a balanced element.
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), t)).Decode(&r); err != nil {
				return err
			}
			c.got <- r
			return nil
		}))
	}()
	t.Cleanup(func() {
		c.close(t)
		cancel()
	})
	return c, nil
}

func (ts *testServer) mustLogin(t *testing.T, user, password string) *testClient {
	t.Helper()
	c, err := ts.login(t, user, password, tls.VersionTLS13)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// next returns the next stanza the client received.
func (c *testClient) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-c.got:
		return r
	case <-time.After(testTimeout):
		t.Fatalf("%s received nothing", c.jid)
		return received{}
	}
}

// send writes a stanza as given (with whatever from it carries).
func (c *testClient) send(t *testing.T, r xml.TokenReader) {
	t.Helper()
	// No cancellable context: see xmppauth.SessionSender.
	if err := c.session.Send(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func chat(from, to jid.JID, body string) xml.TokenReader {
	return stanza.Message{From: from, To: to, Type: stanza.ChatMessage}.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}}))
}

// TestMessages logs in alice and bob and checks that messages reach bob
// with alice's bound JID as from, whatever alice wrote.
func TestMessages(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.mustLogin(t, "alice", "alice-secret")
	bob := ts.mustLogin(t, "bob", "bob-secret")
	spoofed := jid.MustParse("carol@localhost/evil")

	tests := []struct {
		name string
		from jid.JID
		to   jid.JID
	}{
		{"full JID", jid.JID{}, bob.jid},
		{"bare JID", jid.JID{}, bob.jid.Bare()},
		{"spoofed from, full JID", spoofed, bob.jid},
		{"spoofed from, bare JID", spoofed, bob.jid.Bare()},
		{"own bare JID as from", alice.jid.Bare(), bob.jid},
		{"offline full JID falls back to bare", jid.JID{}, jid.MustParse("bob@localhost/gone")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alice.send(t, chat(tc.from, tc.to, tc.name))
			got := bob.next(t)
			if got.From != alice.jid.String() || got.Body != tc.name || got.XMLName.Local != "message" {
				t.Errorf("bob got %+v, want a message from %s with body %q", got, alice.jid, tc.name)
			}
		})
	}
	if !strings.Contains(ts.log.String(), "mechanism=SCRAM-SHA-256-PLUS") ||
		!strings.Contains(ts.log.String(), "channel_binding=tls-exporter") {
		t.Errorf("log lacks the login's mechanism and binding:\n%s", ts.log)
	}
	for _, secret := range []string{"alice-secret", "bob-secret"} {
		if strings.Contains(ts.log.String(), secret) {
			t.Errorf("log contains a password")
		}
	}
}

// TestIQs checks what the server answers itself and what it routes.
func TestIQs(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.mustLogin(t, "alice", "alice-secret")
	bob := ts.mustLogin(t, "bob", "bob-secret")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	t.Run("disco#info", func(t *testing.T) {
		got, err := disco.GetInfo(ctx, "", jid.MustParse("localhost"), alice.session)
		if err != nil {
			t.Fatal(err)
		}
		var features []string
		for _, f := range got.Features {
			features = append(features, f.Var)
		}
		// XEP-0070 and XEP-0235 are on by default in the demo.
		for _, want := range []string{disco.NSInfo, "urn:xmpp:ping", xdisco.NSHTTPAuth, xdisco.NSOAuth} {
			if !slices.Contains(features, want) {
				t.Errorf("features %v lack %s", features, want)
			}
		}
		if len(got.Identity) != 1 || got.Identity[0].Category != "server" || got.Identity[0].Type != "im" {
			t.Errorf("identities %+v, want one server/im", got.Identity)
		}
	})

	type query struct {
		XMLName xml.Name
		Inner   string `xml:",innerxml"`
	}
	rosterGet := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsRoster, Local: "query"}})
	tests := []struct {
		name    string
		to      jid.JID
		payload func() xml.TokenReader
		wantErr stanza.Condition // "" for a result
	}{
		{"roster get", jid.JID{}, func() xml.TokenReader { return rosterGet }, ""},
		{"roster get to own bare JID", alice.jid.Bare(), func() xml.TokenReader {
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsRoster, Local: "query"}})
		}, ""},
		{"unknown payload to the server", jid.JID{}, func() xml.TokenReader {
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:example:unknown", Local: "x"}})
		}, stanza.ServiceUnavailable},
		{"to another user's bare JID", bob.jid.Bare(), func() xml.TokenReader {
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:ping", Local: "ping"}})
		}, stanza.ServiceUnavailable},
		{"to an offline full JID", jid.MustParse("bob@localhost/gone"), func() xml.TokenReader {
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:ping", Local: "ping"}})
		}, stanza.ServiceUnavailable},
		{"to a remote domain", jid.MustParse("someone@example.net"), func() xml.TokenReader {
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:ping", Local: "ping"}})
		}, stanza.RemoteServerNotFound},
		{"routed to bob, answered by his client", bob.jid, func() xml.TokenReader {
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:example:unknown", Local: "x"}})
		}, stanza.ServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var q query
			err := alice.session.UnmarshalIQElement(ctx, tc.payload(), stanza.IQ{To: tc.to, Type: stanza.GetIQ}, &q)
			var se stanza.Error
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("got %v, want a result", err)
			case tc.wantErr != "" && !errors.As(err, &se):
				t.Fatalf("got %v (%+v), want %s", err, q, tc.wantErr)
			case tc.wantErr != "" && se.Condition != tc.wantErr:
				t.Fatalf("got %s, want %s", se.Condition, tc.wantErr)
			}
		})
	}

	t.Run("routed to bob with from stamped", func(t *testing.T) {
		// Bob's client answers with an error; the error comes back from
		// bob's full JID, which proves the request went to bob and the
		// answer was routed back.
		iq := stanza.IQ{To: bob.jid, From: jid.MustParse("carol@localhost/evil"), Type: stanza.GetIQ}
		resp, err := alice.session.SendIQ(ctx, iq.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:example:unknown", Local: "x"}})))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Close()
		tok, err := resp.Token()
		if err != nil {
			t.Fatal(err)
		}
		start := tok.(xml.StartElement)
		got, _ := stanza.NewIQ(start)
		if !got.From.Equal(bob.jid) || got.Type != stanza.ErrorIQ {
			t.Errorf("answer %+v, want an error from %s", got, bob.jid)
		}
	})
}

// TestPresence checks that presence goes to every other session of the
// domain (the demo's users are each other's contacts), that a new session
// gets the presence of the others, and that bare-JID messages reach every
// available session.
func TestPresence(t *testing.T) {
	ts := startServer(t, nil)
	a1 := ts.mustLogin(t, "alice", "alice-secret")
	a2 := ts.mustLogin(t, "alice", "alice-secret")
	bob := ts.mustLogin(t, "bob", "bob-secret")

	a1.send(t, stanza.Presence{}.Wrap(nil))
	for _, c := range []*testClient{a2, bob} {
		if got := c.next(t); got.XMLName.Local != "presence" || got.From != a1.jid.String() || got.Type != "" {
			t.Fatalf("%s got %+v, want available presence from %s", c.jid, got, a1.jid)
		}
	}
	a2.send(t, stanza.Presence{}.Wrap(nil))
	for _, c := range []*testClient{a1, bob} {
		if got := c.next(t); got.From != a2.jid.String() {
			t.Fatalf("%s got %+v, want presence from %s", c.jid, got, a2.jid)
		}
	}
	// a2's initial presence brought it a1's presence.
	if got := a2.next(t); got.From != a1.jid.String() || got.To != a2.jid.String() {
		t.Fatalf("a2 got %+v, want a1's presence addressed to it", got)
	}
	// Bare-JID messages go to both available sessions.
	bob.send(t, chat(jid.JID{}, a1.jid.Bare(), "to both"))
	for _, c := range []*testClient{a1, a2} {
		if got := c.next(t); got.Body != "to both" || got.From != bob.jid.String() {
			t.Errorf("%s got %+v", c.jid, got)
		}
	}
	// When a2 goes away, the others get its unavailable presence.
	_ = a2.session.Close()
	for _, c := range []*testClient{a1, bob} {
		if got := c.next(t); got.From != a2.jid.String() || got.Type != "unavailable" {
			t.Fatalf("%s got %+v, want unavailable from %s", c.jid, got, a2.jid)
		}
	}
}

// TestLoginFailure checks a wrong password is refused and not logged.
func TestLoginFailure(t *testing.T) {
	ts := startServer(t, nil)
	if _, err := ts.login(t, "alice", "wrong-password", tls.VersionTLS13); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if strings.Contains(ts.log.String(), "wrong-password") {
		t.Error("log contains the password")
	}
}

// TestTLS12 logs in over TLS 1.2, where the binding is tls-unique or
// tls-server-end-point depending on the client.
func TestTLS12(t *testing.T) {
	ts := startServer(t, nil)
	c, err := ts.login(t, "alice", "alice-secret", tls.VersionTLS12, sasl.ScramSha256Plus)
	if err != nil {
		t.Fatal(err)
	}
	if c.jid.Bare().String() != "alice@localhost" {
		t.Errorf("bound %s", c.jid)
	}
	if !strings.Contains(ts.log.String(), "channel_binding=tls-unique") {
		t.Errorf("log lacks tls-unique:\n%s", ts.log)
	}
}

// TestDefaultUser checks that with no users one is created, its password
// logged (the only password ever logged), and that it can log in.
func TestDefaultUser(t *testing.T) {
	ts := startServer(t, func(o *options) { o.Users = nil })
	m := regexp.MustCompile(`msg="user created" name=(\S+) domains=localhost password=(\S+)`).FindStringSubmatch(ts.log.String())
	if m == nil {
		t.Fatalf("no user line in the log:\n%s", ts.log)
	}
	if _, err := ts.login(t, m[1], m[2], tls.VersionTLS13); err != nil {
		t.Fatalf("login as the logged user: %v", err)
	}
}

// TestHTTP checks that every page is guarded by XEP-0070 and served once
// the user confirms the request from a logged-in XMPP client, whether the
// browser named a full JID (confirmation by IQ) or a bare one (by message).
func TestHTTP(t *testing.T) {
	ts := startServer(t, nil)
	asked := make(chan httpauth.Request, 16)
	ts.handler = func(s *xmpp.Session) xmpp.Handler {
		return mux.New(stanza.NSClient, httpauth.Handle(s, func(_ context.Context, req httpauth.Request) (bool, error) {
			asked <- req
			return strings.HasPrefix(req.ID, "yes"), nil
		}))
	}
	bob := ts.mustLogin(t, "bob", "bob-secret")
	url := "http://" + ts.addrs.HTTP + "/"

	tests := []struct {
		name       string
		user       jid.JID // zero: no Authorization header
		id         string
		wantStatus int
		wantAsked  bool
		wantByMsg  bool
	}{
		{"no credentials", jid.JID{}, "", http.StatusUnauthorized, false, false},
		{"full JID, confirmed", bob.jid, "yes-1", http.StatusOK, true, false},
		{"full JID, denied", bob.jid, "no-1", http.StatusForbidden, true, false},
		{"bare JID, confirmed", bob.jid.Bare(), "yes-2", http.StatusOK, true, true},
		{"bare JID, denied", bob.jid.Bare(), "no-2", http.StatusForbidden, true, true},
		{"offline user: not deliverable", jid.MustParse("alice@localhost/gone"), "yes-3", http.StatusServiceUnavailable, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.id != "" {
				req.Header.Set("Authorization", httpauth.BasicAuthorization(tc.user, tc.id))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("GET / = %d %q, want %d", resp.StatusCode, body, tc.wantStatus)
			}
			if tc.wantStatus == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="xmpp"`) {
				t.Errorf("challenge %q lacks realm xmpp", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.wantStatus == http.StatusOK && !strings.Contains(string(body), html.EscapeString(tc.user.String())) {
				t.Errorf("page %q does not greet %s", body, tc.user)
			}
			select {
			case got := <-asked:
				if !tc.wantAsked {
					t.Fatalf("bob was asked %+v", got)
				}
				if got.ID != tc.id || got.Method != http.MethodGet || got.URL != url ||
					got.Message != tc.wantByMsg || got.From.String() != "localhost" {
					t.Errorf("bob was asked %+v", got)
				}
			default:
				if tc.wantAsked {
					t.Error("bob was never asked")
				}
			}
		})
	}
}

// TestShutdown checks that cancelling run's context ends every connection
// and goroutine, including sessions that are still open and a connection
// that never finished negotiating.
func TestShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ts := startServer(t, nil)
		alice := ts.mustLogin(t, "alice", "alice-secret")
		bob := ts.mustLogin(t, "bob", "bob-secret")
		alice.send(t, chat(jid.JID{}, bob.jid, "hello"))
		bob.next(t)
		idle, err := net.Dial("tcp", ts.addrs.XMPP) // never says anything
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()
		ts.stop(t)
		// The server closed the streams: the clients' Serve loops end.
		for _, c := range []*testClient{alice, bob} {
			select {
			case <-c.served:
				c.served <- nil // for close
			case <-time.After(testTimeout):
				t.Fatalf("%s was not disconnected", c.jid)
			}
			c.close(t)
		}
		if _, err := idle.Read(make([]byte, 1)); err == nil {
			t.Error("idle connection still open")
		}
	}()
	// Everything the server and the clients started has ended: poll,
	// bounded, while the runtime reaps the exiting goroutines.
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after shutdown:\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
		runtime.GC()
	}
}

// TestHostileStanzas writes raw XML on a logged-in client's connection and
// checks the server's answer: a stanza error, or a stream error that ends
// the session.
func TestHostileStanzas(t *testing.T) {
	tests := []struct {
		name       string
		xml        string
		wantStream stream.Error // zero: the session survives
		wantType   string       // type of the stanza alice gets back
	}{
		{name: "malformed to", xml: `<message xmlns='jabber:client' to='@@' id='m1' type='chat'><body>x</body></message>`, wantType: "error"},
		{name: "malformed from is replaced", xml: `<message xmlns='jabber:client' from='@@' to='alice@localhost' id='m2' type='chat'><body>x</body></message>`, wantType: "chat"},
		{name: "unknown top-level element", xml: `<foo xmlns='jabber:client'/>`, wantStream: stream.UnsupportedStanzaType},
		{name: "other namespace", xml: `<message xmlns='jabber:server' to='alice@localhost'/>`, wantStream: stream.UnsupportedStanzaType},
		{name: "oversized stanza", xml: `<message xmlns='jabber:client' to='alice@localhost'><body>` + strings.Repeat("x", 256<<10) + `</body></message>`, wantStream: stream.PolicyViolation},
		{name: "not well-formed", xml: `<message xmlns='jabber:client'><body></message>`, wantStream: stream.NotWellFormed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			alice := ts.mustLogin(t, "alice", "alice-secret")
			// Write straight on the TLS connection, bypassing the client's
			// encoder; the write may fail once the server gives up reading.
			written := make(chan struct{})
			go func() {
				defer close(written)
				_, _ = io.WriteString(alice.session.Conn(), tc.xml)
			}()
			defer func() { <-written }()
			if tc.wantStream.Err != "" {
				select {
				case err := <-alice.served:
					alice.served <- err
					var se stream.Error
					if !errors.As(err, &se) || se.Err != tc.wantStream.Err {
						t.Fatalf("client session ended with %v, want stream error %s", err, tc.wantStream.Err)
					}
				case <-time.After(testTimeout):
					t.Fatal("the server did not end the stream")
				}
				return
			}
			if got := alice.next(t); got.Type != tc.wantType {
				t.Fatalf("alice got %+v, want type %s", got, tc.wantType)
			}
		})
	}
}

// TestNegotiationLimits checks that a connection that never negotiates, or
// sends too much before it has authenticated, is closed.
func TestNegotiationLimits(t *testing.T) {
	tests := []struct {
		name string
		send string
	}{
		{"silent", ""},
		{"flood before authentication", `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><foo>` + strings.Repeat("a", 64<<10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(o *options) {
				if tc.send == "" {
					o.NegotiateTimeout = 100 * time.Millisecond
				}
			})
			conn, err := net.Dial("tcp", ts.addrs.XMPP)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			written := make(chan struct{})
			go func() {
				defer close(written)
				_, _ = io.WriteString(conn, tc.send)
			}()
			defer func() { <-written }()
			_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server kept the connection open")
			}
		})
	}
}

// TestResourceConflict binds the same full JID twice: the older session is
// closed with a <conflict/> stream error (RFC 6120 §7.7.2.2) and the newer
// one gets the stanzas.
func TestResourceConflict(t *testing.T) {
	ts := startServer(t, nil)
	phone := jid.MustParse("alice@localhost/phone")
	first, err := ts.loginAs(t, phone, "alice-secret", tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	if !first.jid.Equal(phone) {
		t.Fatalf("bound %s, want %s", first.jid, phone)
	}
	second, err := ts.loginAs(t, phone, "alice-secret", tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-first.served:
		first.served <- err
		var se stream.Error
		if !errors.As(err, &se) || se.Err != stream.Conflict.Err {
			t.Fatalf("first session ended with %v, want <conflict/>", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the first session was not closed")
	}
	bob := ts.mustLogin(t, "bob", "bob-secret")
	bob.send(t, chat(jid.JID{}, phone, "to the phone"))
	if got := second.next(t); got.Body != "to the phone" {
		t.Fatalf("second session got %+v", got)
	}
}

// /metrics is served next to the guarded pages, without XEP-0070, and
// counts logins by mechanism and binding, with no JID or address in it.
func TestMetrics(t *testing.T) {
	ts := startServer(t, nil)
	ts.mustLogin(t, "alice", "alice-secret")
	resp, err := http.Get("http://" + ts.addrs.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	want := `xmppauth_sasl_logins_total{channel_binding="tls-exporter",mechanism="SCRAM-SHA-256-PLUS",result="success"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %s:\n%s", want, body)
	}
	if strings.Contains(string(body), "alice") || strings.Contains(string(body), "127.0.0.1") {
		t.Error("metrics carry a JID or an address")
	}
}

// Accounts live in the state directory's SQLite database: a restart without
// -user keeps them (and creates no demo user), and -user changes a password.
func TestAccountsSurviveRestart(t *testing.T) {
	state := t.TempDir()
	first := startServer(t, func(o *options) { o.StateDir = state })
	first.mustLogin(t, "alice", "alice-secret")
	first.stop(t)
	again := startServer(t, func(o *options) { o.StateDir = state; o.Users = nil })
	again.mustLogin(t, "bob", "bob-secret")
	if strings.Contains(again.log.String(), "user created") {
		t.Error("a demo user was created beside the kept accounts")
	}
	again.stop(t)
	third := startServer(t, func(o *options) { o.StateDir = state; o.Users = userList{{"alice", "new-secret"}} })
	if _, err := third.login(t, "alice", "alice-secret", tls.VersionTLS13); err == nil {
		t.Error("the old password still works after -user changed it")
	}
	third.mustLogin(t, "alice", "new-secret")
}
