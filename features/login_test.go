package features_test

import (
	"crypto"
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
)

var scramHashes = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512}

var tlsVersions = []struct {
	name    string
	version uint16
}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}}

func TestAdvertisementAfterTLS(t *testing.T) {
	// Go's TLS 1.2 always negotiates Extended Master Secret with itself, so
	// tls-exporter is available on both versions; tls-unique only below 1.3.
	want := map[uint16][]string{
		tls.VersionTLS13: {
			"SCRAM-SHA-512-PLUS", "SCRAM-SHA-512-PLUS:tls-exporter", "SCRAM-SHA-512-PLUS:tls-server-end-point",
			"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-SHA-256-PLUS:tls-server-end-point",
			"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1-PLUS:tls-exporter", "SCRAM-SHA-1-PLUS:tls-server-end-point",
			"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
		},
		tls.VersionTLS12: {
			"SCRAM-SHA-512-PLUS", "SCRAM-SHA-512-PLUS:tls-exporter", "SCRAM-SHA-512-PLUS:tls-server-end-point", "SCRAM-SHA-512-PLUS:tls-unique",
			"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-SHA-256-PLUS:tls-server-end-point", "SCRAM-SHA-256-PLUS:tls-unique",
			"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1-PLUS:tls-exporter", "SCRAM-SHA-1-PLUS:tls-server-end-point", "SCRAM-SHA-1-PLUS:tls-unique",
			"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN",
		},
	}
	wantTypes := map[uint16]string{
		tls.VersionTLS13: `<channel-binding type="tls-exporter"></channel-binding><channel-binding type="tls-server-end-point"></channel-binding>`,
		tls.VersionTLS12: `<channel-binding type="tls-exporter"></channel-binding><channel-binding type="tls-server-end-point"></channel-binding><channel-binding type="tls-unique"></channel-binding>`,
	}
	for _, v := range tlsVersions {
		t.Run(v.name, func(t *testing.T) {
			srv := newTestServer(t, features.Config{})
			c := dialRaw(t, srv.addr, getPKI(t).clientTLS(v.version), "")
			if got := c.mechanisms(); !slices.Equal(got, want[v.version]) {
				t.Errorf("mechanisms:\n got %q\nwant %q", got, want[v.version])
			}
			if !strings.Contains(c.features, `xmlns="urn:xmpp:sasl-cb:0"`) || !strings.Contains(c.features, wantTypes[v.version]) {
				t.Errorf("XEP-0440 element missing or wrong in %s", c.features)
			}
		})
	}
}

func TestAdvertisementToggles(t *testing.T) {
	tests := []struct {
		name string
		cfg  features.Config
		want []string
		cb   bool // XEP-0440 listed
	}{{
		name: "no pseudomechanisms, no XEP-0440, SHA-256 only",
		cfg: features.Config{DisablePseudomechanisms: true, DisableChannelBindingCapability: true,
			Mechanisms: []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}},
		want: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"},
	}, {
		name: "only tls-server-end-point: the default tls-exporter is off, so no plain -PLUS",
		cfg:  features.Config{ChannelBindingTypes: []cbind.Type{cbind.TLSServerEndPoint}, Mechanisms: []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, DisablePLAIN: true},
		want: []string{"SCRAM-SHA-1-PLUS:tls-server-end-point", "SCRAM-SHA-1"},
		cb:   true,
	}, {
		name: "PLAIN off",
		cfg:  features.Config{Mechanisms: []string{"SCRAM-SHA-1", "PLAIN"}, DisablePLAIN: true},
		want: []string{"SCRAM-SHA-1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer(t, tc.cfg)
			c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
			if got := c.mechanisms(); !slices.Equal(got, tc.want) {
				t.Errorf("mechanisms:\n got %q\nwant %q", got, tc.want)
			}
			if got := strings.Contains(c.features, "urn:xmpp:sasl-cb:0"); got != tc.cb {
				t.Errorf("XEP-0440 listed = %v, want %v", got, tc.cb)
			}
		})
	}
}

func TestAdvertisementBeforeTLS(t *testing.T) {
	t.Run("TLS required (default)", func(t *testing.T) {
		srv := newTestServer(t, features.Config{})
		c := dialRaw(t, srv.addr, nil, "")
		if got := c.mechanisms(); len(got) != 0 {
			t.Errorf("offered %q before TLS", got)
		}
		c.auth("SCRAM-SHA-256", []byte("n,,n=alice,r=abcdefghijkl"))
		if got := condition(c.next()); got != "encryption-required" {
			t.Errorf("condition = %q, want encryption-required", got)
		}
	})
	t.Run("AllowUnencrypted", func(t *testing.T) {
		srv := newTestServer(t, features.Config{AllowUnencrypted: true})
		c := dialRaw(t, srv.addr, nil, "")
		want := []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"}
		if got := c.mechanisms(); !slices.Equal(got, want) {
			t.Errorf("mechanisms before TLS: got %q, want %q", got, want)
		}
		c.auth("PLAIN", []byte("\x00alice\x00alice-secret"))
		if got := condition(c.next()); got != "invalid-mechanism" {
			t.Errorf("PLAIN before TLS: condition = %q, want invalid-mechanism", got)
		}
	})
}

func TestMelliumClientLogin(t *testing.T) {
	mechs := []struct {
		mech sasl.Mechanism
		cb   map[uint16]cbind.Type
	}{
		{sasl.ScramSha256Plus, map[uint16]cbind.Type{tls.VersionTLS12: cbind.TLSUnique, tls.VersionTLS13: cbind.TLSExporter}},
		{sasl.ScramSha1Plus, map[uint16]cbind.Type{tls.VersionTLS12: cbind.TLSUnique, tls.VersionTLS13: cbind.TLSExporter}},
		{sasl.ScramSha256, nil},
		{sasl.ScramSha1, nil},
		{sasl.Plain, nil},
	}
	for _, v := range tlsVersions {
		for _, m := range mechs {
			t.Run(v.name+"/"+m.mech.Name, func(t *testing.T) {
				srv := newTestServer(t, features.Config{Mechanisms: []string{m.mech.Name}})
				session, err := melliumLogin(t, srv.addr, v.version, "alice", "alice-secret", m.mech)
				if err != nil {
					t.Fatalf("client: %v", err)
				}
				defer session.Close()
				res := srv.result(t)
				if res.Err != nil {
					t.Fatalf("server: %v", res.Err)
				}
				id, ok := res.Conn.Identity()
				if !ok || !id.JID.Equal(jid.MustParse("alice@localhost")) {
					t.Fatalf("identity = %v, %v", id, ok)
				}
				if id.Mechanism != m.mech.Name || id.ChannelBinding != m.cb[v.version] {
					t.Errorf("identity = %+v, want mechanism %s binding %q", id, m.mech.Name, m.cb[v.version])
				}
				if bound := res.Conn.Bound(); !bound.Bare().Equal(id.JID) || bound.Resourcepart() == "" {
					t.Errorf("bound %v for %v", bound, id.JID)
				}
			})
		}
	}
}

func TestMelliumClientWrongPassword(t *testing.T) {
	for _, m := range []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1, sasl.Plain} {
		t.Run(m.Name, func(t *testing.T) {
			srv := newTestServer(t, features.Config{MaxAttempts: 1})
			if _, err := melliumLogin(t, srv.addr, tls.VersionTLS13, "alice", "wrong", m); err == nil {
				t.Fatal("client logged in with a wrong password")
			}
			if res := srv.result(t); res.Err == nil {
				t.Fatal("server accepted a wrong password")
			} else if _, ok := res.Conn.Identity(); ok {
				t.Fatal("identity recorded after a failed login")
			}
		})
	}
}
