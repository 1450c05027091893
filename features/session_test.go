package features_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// Psi 1.5 sends the RFC 3921 session IQ after binding and disconnects when
// it fails: the session feature is advertised as optional next to bind, and
// the IQ is answered with an empty result once the session is ready.
func TestSessionIQ(t *testing.T) {
	p := getPKI(t)
	tlsCfg := p.serverTLS()
	auth, err := features.New(features.Config{Domains: []string{"localhost"}, Store: testStore(t),
		TLSConfig: tlsCfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	startTLS := xmpp.StartTLS(cbind.ServerConfig(tlsCfg))
	addr := xmpptest.Listen(t, func(raw net.Conn) {
		defer raw.Close()
		login := auth.NewLogin()
		neg := xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: append([]xmpp.StreamFeature{startTLS}, login.Features(s)...)}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		session, err := xmpp.ReceiveSession(ctx, cbind.NewConn(raw), 0, neg)
		if err != nil {
			return
		}
		_ = session.Serve(mux.New(stanza.NSClient, features.HandleSession()))
	})
	c := dialRaw(t, addr, p.clientTLS(tls.VersionTLS13), "")
	c.auth("PLAIN", []byte("\x00alice\x00alice-secret"))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("login: %v", el)
	}
	c.restart("")
	if !strings.Contains(c.features, `<session xmlns="urn:ietf:params:xml:ns:xmpp-session"><optional></optional></session>`) ||
		!strings.Contains(c.features, `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind">`) {
		t.Fatalf("features after SASL: %s", c.features)
	}
	c.send(`<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>Psi</resource></bind></iq>`)
	if el := c.next(); !strings.Contains(el.Inner, "alice@localhost/Psi") {
		t.Fatalf("bind: %v", el)
	}
	// Psi's session request, as it sends it.
	c.send(`<iq type="set" id="ab2ba"><session xmlns="urn:ietf:params:xml:ns:xmpp-session"/></iq>`)
	el := c.next()
	var typ, id string
	for _, a := range el.Attrs {
		switch a.Name.Local {
		case "type":
			typ = a.Value
		case "id":
			id = a.Value
		}
	}
	if el.XMLName.Local != "iq" || typ != "result" || id != "ab2ba" || strings.TrimSpace(el.Inner) != "" {
		t.Fatalf("session IQ answered %v (type %q id %q)", el, typ, id)
	}
}
