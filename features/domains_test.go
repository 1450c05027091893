package features_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// twoDomainStore has alice in a.example and in b.example, with different
// passwords.
func twoDomainStore(t testing.TB) *scram.MemoryStore {
	store := scram.NewMemoryStore()
	for account, pass := range map[string]string{"alice@a.example": "a-secret", "alice@b.example": "b-secret"} {
		if err := store.SetPassword(account, pass, scram.MinIterations, scramHashes...); err != nil {
			t.Fatal(err)
		}
	}
	return store
}

// plainLogin runs PLAIN on a fresh connection with streams to domain and
// returns the condition ("" on success) and, on success, the identity.
func plainLogin(t *testing.T, srv *testServer, domain, authzid, user, password string) (string, jid.JID) {
	t.Helper()
	c := dialRawTo(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), domain, "")
	c.auth("PLAIN", []byte(authzid+"\x00"+user+"\x00"+password))
	el := c.next()
	if el.XMLName.Local != "success" {
		return condition(el), jid.JID{}
	}
	return "", bindAfterSuccess(t, srv, c)
}

// bindAfterSuccess restarts the stream after <success/>, binds a resource
// and returns the identity the server recorded, checking that the bound JID
// is that identity's.
func bindAfterSuccess(t *testing.T, srv *testServer, c *rawClient) jid.JID {
	t.Helper()
	c.restart("")
	c.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`)
	c.next()
	r := srv.result(t)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	id, _ := r.Conn.Identity()
	want := id.JID
	if !id.Authzid.Equal(jid.JID{}) {
		want = id.Authzid
	}
	if !r.Conn.Bound().Bare().Equal(want) {
		t.Errorf("bound %s for identity %s as %s", r.Conn.Bound(), id.JID, id.Authzid)
	}
	return id.JID
}

// alice@a.example and alice@b.example are two accounts: each password
// opens only its own, and the identity's domain is the one the stream was
// opened to.
func TestDomainsSeparateAccounts(t *testing.T) {
	srv := newTestServer(t, features.Config{Store: twoDomainStore(t), Domains: []string{"a.example", "B.Example."}})
	for _, tc := range []struct {
		domain, password string
		want             string // identity, or the failure condition
	}{
		{"a.example", "a-secret", "alice@a.example"},
		{"b.example", "b-secret", "alice@b.example"},
		{"a.example", "b-secret", "not-authorized"},
		{"b.example", "a-secret", "not-authorized"},
		{"A.EXAMPLE.", "a-secret", "alice@a.example"}, // canonical form (RFC 7622)
	} {
		cond, id := plainLogin(t, srv, tc.domain, "", "alice", tc.password)
		got := cond
		if cond == "" {
			got = id.String()
		}
		if got != tc.want {
			t.Errorf("PLAIN to %s with %s: %s, want %s", tc.domain, tc.password, got, tc.want)
		}
	}
}

// SCRAM looks the user up in the stream's domain too.
func TestDomainsSCRAM(t *testing.T) {
	srv := newTestServer(t, features.Config{Store: twoDomainStore(t), Domains: []string{"a.example", "b.example"}})
	for _, tc := range []struct {
		domain, password string
		ok               bool
	}{
		{"b.example", "b-secret", true},
		{"a.example", "b-secret", false},
	} {
		c := dialRawTo(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), tc.domain, "")
		client := sasl.NewClient(sasl.ScramSha256, sasl.Credentials(func() ([]byte, []byte, []byte) {
			return []byte("alice"), []byte(tc.password), nil
		}))
		_, first, err := client.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		c.auth("SCRAM-SHA-256", first)
		el := c.next()
		if el.XMLName.Local != "challenge" {
			t.Fatalf("%s: got %v", tc.domain, el)
		}
		_, final, err := client.Step(decode64(t, el.Inner))
		if err != nil {
			t.Fatal(err)
		}
		c.response(final)
		el = c.next()
		if ok := el.XMLName.Local == "success"; ok != tc.ok {
			t.Errorf("SCRAM-SHA-256 to %s: %v", tc.domain, el)
		}
		if tc.ok {
			if id := bindAfterSuccess(t, srv, c); id.String() != "alice@"+tc.domain {
				t.Errorf("identity %s", id)
			}
		}
	}
}

// A stream opened to a domain the server does not serve never
// authenticates: the SASL feature answers with <host-unknown/> (the check
// that holds even without the host's stream guard).
func TestDomainNotServed(t *testing.T) {
	srv := newTestServer(t, features.Config{Store: twoDomainStore(t), Domains: []string{"a.example"}})
	c := dialRawTo(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "trusted-bank.example", "")
	c.auth("PLAIN", []byte("\x00alice\x00a-secret"))
	el := c.next()
	if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "host-unknown") {
		t.Fatalf("got %v, want a <host-unknown/> stream error", el)
	}
	if r := srv.result(t); r.Err == nil {
		t.Fatal("negotiation succeeded")
	}
}

// An authzid of another domain is refused even when the host's Authorize
// would allow anything.
func TestAuthzidCrossDomain(t *testing.T) {
	allowAll := func(context.Context, features.ConnMetadata, jid.JID, jid.JID) error { return nil }
	srv := newTestServer(t, features.Config{Store: twoDomainStore(t), Domains: []string{"a.example", "b.example"}, Authorize: allowAll})
	for _, tc := range []struct{ authzid, want string }{
		{"alice@b.example", "invalid-authzid"},
		{"bob@a.example", ""},
	} {
		cond, _ := plainLogin(t, srv, "a.example", tc.authzid, "alice", "a-secret")
		if cond != tc.want {
			t.Errorf("authzid %s: %q, want %q", tc.authzid, cond, tc.want)
		}
	}
}

// A host's MapCertificate cannot make EXTERNAL log in to another domain:
// identities outside the stream's domain are ignored.
func TestExternalCrossDomain(t *testing.T) {
	p := getPKI(t)
	var mu sync.Mutex
	var seen []features.ConnMetadata
	mapTo := func(ids ...string) func(context.Context, features.ConnMetadata, *x509.Certificate) ([]jid.JID, error) {
		return func(_ context.Context, m features.ConnMetadata, _ *x509.Certificate) ([]jid.JID, error) {
			mu.Lock()
			seen = append(seen, m)
			mu.Unlock()
			var out []jid.JID
			for _, id := range ids {
				out = append(out, jid.MustParse(id))
			}
			return out, nil
		}
	}
	cert := p.Client("alice@a.example")
	for _, tc := range []struct {
		mapped []string
		want   string
	}{
		{[]string{"alice@b.example"}, "not-authorized"},
		{[]string{"alice@b.example", "alice@a.example"}, ""},
	} {
		srv := newTestServer(t, features.Config{Domains: []string{"a.example", "b.example"}, MapCertificate: mapTo(tc.mapped...)})
		c := dialRawTo(t, srv.addr, p.clientTLS(tls.VersionTLS13, cert), "a.example", "")
		c.auth("EXTERNAL", []byte{})
		el := c.next()
		if got := condition(el); got != tc.want {
			t.Errorf("mapped to %v: %q (%v), want %q", tc.mapped, got, el, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("MapCertificate never called")
	}
	m := seen[0]
	if m.Domain().String() != "a.example" {
		t.Errorf("ConnMetadata.Domain() = %s", m.Domain())
	}
	if ip := m.RemoteAddr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		t.Errorf("RemoteAddr %v", m.RemoteAddr())
	}
	if cs, ok := m.TLS(); !ok || cs.Version != tls.VersionTLS13 {
		t.Errorf("TLS() = %v, %v", cs.Version, ok)
	}
}

// PLAIN's failure does not name a SCRAM error: its <text/> is absent, the
// same for a wrong password and an unknown user.
func TestPLAINFailureText(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	for _, user := range []string{"alice", "nobody"} {
		c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		c.auth("PLAIN", []byte("\x00"+user+"\x00wrong"))
		el := c.next()
		if condition(el) != "not-authorized" || strings.Contains(el.Inner, "<text") {
			t.Errorf("%s: %v", user, el)
		}
	}
}

// The XEP-0035 namespace without ".txt" gets the same clear stream error as
// the one with it.
func TestLegacyXEP0035NoSuffix(t *testing.T) {
	srv := newTestServer(t, features.Config{})
	c := dialRaw(t, srv.addr, nil, "")
	c.send(`<starttls xmlns='http://www.ietf.org/rfc/rfc2595'/>`)
	el := c.next()
	if el.XMLName.Local != "error" || !strings.Contains(el.Inner, "unsupported-feature") {
		t.Fatalf("got %v", el)
	}
	if err := srv.result(t).Err; err == nil {
		t.Fatal("negotiation succeeded")
	}
}
