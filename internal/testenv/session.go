package testenv

import (
	"context"
	"net"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// Login connects a mellium client to p as localpart@VHost with PLAIN,
// binds a resource and sends initial presence (so that messages to the bare
// JID are delivered to it). The test Prosody allows PLAIN without TLS on
// loopback; the session starts with the xmpp.Secure bit because mellium only
// authenticates on streams it considers secure. The connection is closed in
// t.Cleanup; serving the session is up to the caller.
func (p *Prosody) Login(t testing.TB, ctx context.Context, localpart, password string) *xmpp.Session {
	t.Helper()
	conn, err := net.Dial("tcp", p.C2SAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	j, err := jid.New(localpart, p.VHost, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := xmpp.NewSession(ctx, j.Domain(), j, conn, xmpp.Secure, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: []xmpp.StreamFeature{xmpp.SASL("", password, sasl.Plain), xmpp.BindResource()}}
	}))
	if err != nil {
		t.Fatalf("testenv: login %s: %v\n%s", j, err, p.Log())
	}
	if err := s.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
		t.Fatal(err)
	}
	return s
}

// Component connects an XEP-0114 component session for domain, which must
// be one of ProsodyOptions.Components. The connection is closed in
// t.Cleanup.
func (p *Prosody) Component(t testing.TB, ctx context.Context, domain, secret string) *xmpp.Session {
	t.Helper()
	conn, err := net.Dial("tcp", p.ComponentAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d, err := jid.Parse(domain)
	if err != nil {
		t.Fatal(err)
	}
	s, err := component.NewSession(ctx, d, []byte(secret), conn)
	if err != nil {
		t.Fatalf("testenv: component %s: %v\n%s", domain, err, p.Log())
	}
	return s
}
