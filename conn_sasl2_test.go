package xmppauth_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// startPluginTLS is startPlugin on a direct-TLS (XEP-0368) listener, with
// the host's Bind2 hooks: OnBind records the session, OnBind2 answers the
// inline requests it knows.
func startPluginTLS(t testing.TB, cfg xmppauth.Config, bound chan<- string) string {
	t.Helper()
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return xmpptest.Listen(t, func(raw net.Conn) {
		conn, err := p.AcceptTLS(raw)
		if err != nil {
			raw.Close()
			return
		}
		conn.OnBind(func(_ context.Context, _ *xmpp.Session, full jid.JID) error {
			bound <- full.String()
			return nil
		})
		conn.OnBind2(func(_ context.Context, _ *xmpp.Session, _ jid.JID, req features.Bind2Request) xml.TokenReader {
			var out []xml.TokenReader
			for _, f := range req.Features {
				if f.Start.Name.Space == "urn:xmpp:sm:3" {
					out = append(out, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:sm:3", Local: "enabled"}}))
				}
			}
			return xmlstream.MultiReader(out...)
		})
		session, err := conn.Negotiate(context.Background())
		if err != nil {
			return
		}
		opts := append(p.MuxOptions(), mdisco.Handle())
		_ = conn.Close(session, session.Serve(mux.New(stanza.NSClient, opts...)))
	})
}

// Direct TLS with SASL2 and Bind2 through the plugin's Conn: -PLUS from the
// first stream, no STARTTLS, one round trip to a ready session whose
// resource OnBind saw, the inline answer in <bound/>, the features after
// <success/>, and a working session (an IQ answered) under the session
// limits.
func TestSASL2DirectTLSPlugin(t *testing.T) {
	cfg := baseConfig(t)
	cfg.SASL.Bind2Features = []string{"urn:xmpp:sm:3"}
	bound := make(chan string, 1)
	addr := startPluginTLS(t, cfg, bound)
	tc := tls.Client(dial(t, addr), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"xmpp-client"}})
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(tc, header)
	d := newDecoder(tc)
	f := readUntil(t, d, "features")
	if strings.Contains(f, "starttls") || !strings.Contains(f, `xmlns="urn:xmpp:sasl:2"`) ||
		!strings.Contains(f, "<mechanism>SCRAM-SHA-256-PLUS:tls-exporter</mechanism>") || !strings.Contains(f, `var="urn:xmpp:sm:3"`) {
		t.Fatalf("features on direct TLS: %s", f)
	}
	io.WriteString(tc, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>`+
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-secret"))+`</initial-response>`+
		`<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>AwesomeXMPP</software></user-agent>`+
		`<bind xmlns='urn:xmpp:bind:0'><tag>AwesomeXMPP</tag><enable xmlns='urn:xmpp:sm:3'/></bind></authenticate>`)
	success := readUntil(t, d, "success")
	full := <-bound
	if !strings.HasPrefix(full, "alice@localhost/AwesomeXMPP/") || !strings.Contains(success, full) ||
		!strings.Contains(success, `<enabled xmlns="urn:xmpp:sm:3"></enabled>`) {
		t.Fatalf("success %s (OnBind saw %s)", success, full)
	}
	readUntil(t, d, "features")
	// Ready: an IQ to the server is answered, and a stanza far beyond the
	// pre-authentication limits passes the guard.
	io.WriteString(tc, `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if got := readUntil(t, d, "iq"); !strings.Contains(got, "disco#info") {
		t.Fatalf("disco: %s", got)
	}
	big := strings.Repeat("x", 100<<10)
	io.WriteString(tc, `<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info' node='`+big+`'/></iq>`)
	readUntil(t, d, "iq")
}

// SASL2 without Bind2 over STARTTLS through the plugin: no restart, the
// features after <success/> offer RFC 6120 resource binding, which binds
// the authenticated identity.
func TestSASL2ThenBindPlugin(t *testing.T) {
	_, addr := startPlugin(t, baseConfig(t))
	conn, d, f := rawTLS(t, addr)
	if !strings.Contains(f, `xmlns="urn:xmpp:sasl:2"`) {
		t.Fatalf("no SASL2 after STARTTLS: %s", f)
	}
	io.WriteString(conn, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>`+
		base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-secret"))+`</initial-response></authenticate>`)
	if got := readUntil(t, d, "success"); !strings.Contains(got, "<authorization-identifier>alice@localhost</authorization-identifier>") {
		t.Fatalf("success %s", got)
	}
	if got := readUntil(t, d, "features"); !strings.Contains(got, "urn:ietf:params:xml:ns:xmpp-bind") {
		t.Fatalf("features after SASL2: %s", got)
	}
	io.WriteString(conn, `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`)
	if got := readUntil(t, d, "iq"); !strings.Contains(got, "alice@localhost/r") {
		t.Fatalf("bind: %s", got)
	}
}
