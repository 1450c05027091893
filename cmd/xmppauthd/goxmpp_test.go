package main

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"

	goxmpp "github.com/xmppo/go-xmpp"
)

// goxmppUA is the XEP-0388 user-agent id go-xmpp sends; FAST needs one.
const goxmppUA = "0c9d0a39-d0a6-4d45-9b6c-7d8a2a5f2b11"

// TestGoXMPP logs in to the demo server with the client of
// github.com/xmppo/go-xmpp v0.4.1, a real peer speaking SASL2, Bind 2 and
// FAST: first with SCRAM-SHA-512-PLUS over SASL2 (tls-exporter from
// XEP-0440, the XEP-0474 hash checked by go-xmpp) asking for a token, then
// with the token alone (HT-SHA-256-EXPR), over STARTTLS and direct TLS.
//
// What it does: go-xmpp writes a newline after each element, picks plain
// -PLUS names (no pseudomechanisms), sends the localpart as the HT authcid,
// and needs TLS 1.3 for tls-exporter (it derives the exporter with a nil
// context, which below TLS 1.3 differs from RFC 9266's empty one).
func TestGoXMPP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		startTLS bool
	}{
		{"STARTTLS", true},
		{"direct TLS", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			pool := x509.NewCertPool()
			pool.AddCert(ts.addrs.Cert)
			addr := ts.addrs.TLS
			if tc.startTLS {
				addr = ts.addrs.XMPP
			}
			opts := goxmpp.Options{
				Host:        addr,
				User:        "alice@localhost",
				Password:    "alice-secret",
				NoTLS:       tc.startTLS,
				StartTLS:    tc.startTLS,
				TLSConfig:   &tls.Config{ServerName: "localhost", RootCAs: pool, MinVersion: tls.VersionTLS13},
				SSDP:        true,
				NoPLAIN:     true,
				UserAgentSW: "go-xmpp-test",
				UserAgentID: goxmppUA,
				Fast:        true,
				// XEP-0480 upgrade tasks are beside the point here.
				NoSASLUpgrade: true,
			}
			c, err := opts.NewClient()
			if err != nil {
				t.Fatalf("password login: %v", err)
			}
			if c.Mechanism != "SCRAM-SHA-512-PLUS" || !strings.HasPrefix(c.JID(), "alice@localhost/go-xmpp-test") {
				t.Errorf("logged in with %q as %q", c.Mechanism, c.JID())
			}
			if c.Fast.Token == "" || c.Fast.Mechanism != "HT-SHA-256-EXPR" {
				t.Fatalf("no FAST token: %+v", c.Fast.Mechanism)
			}
			token := c.Fast
			c.Close()

			opts.Password = "wrong: the token must do"
			opts.FastToken, opts.FastMechanism = token.Token, token.Mechanism
			c, err = opts.NewClient()
			if err != nil {
				t.Fatalf("FAST login: %v", err)
			}
			defer c.Close()
			if c.Mechanism != "HT-SHA-256-EXPR" || !strings.HasPrefix(c.JID(), "alice@localhost/go-xmpp-test") {
				t.Errorf("logged in with %q as %q", c.Mechanism, c.JID())
			}
			for _, want := range []string{"mechanism=SCRAM-SHA-512-PLUS", "mechanism=HT-SHA-256-EXPR"} {
				if !strings.Contains(ts.log.String(), want) {
					t.Errorf("server log lacks %s:\n%s", want, ts.log)
				}
			}
		})
	}
}
