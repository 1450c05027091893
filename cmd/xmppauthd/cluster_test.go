package main

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/internal/testenv"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
)

// Two nodes of one domain sharing one PostgreSQL and one Redis, as a
// cluster runs: a user logged in on node B confirms an HTTP request made to
// node A; an XEP-0235 stanza accepted on A is a replay on B; failed logins
// on A count on B.
func TestCluster(t *testing.T) {
	rd := testenv.StartRedis(t, testenv.RedisOptions{})
	dsn, err := testenv.StartPostgres(t, testenv.PostgresOptions{}).CreateDatabase("xmppauth")
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgFile, []byte(`{"enable_http_auth":true,"enable_oauth":true,"sasl":{"throttle":{"max_failures":3}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := []byte("the cluster's shared secret")
	node := func() *testServer {
		return startServer(t, func(o *options) {
			o.DB, o.Redis, o.Secret, o.ConfigFile = dsn, rd.Addr, secret, cfgFile
		})
	}
	a, b := node(), node()

	// XEP-0070: bob's session is on B, the HTTP request on A.
	b.handler = func(s *xmpp.Session) xmpp.Handler {
		return mux.New(stanza.NSClient, httpauth.Handle(s, func(context.Context, httpauth.Request) (bool, error) { return true, nil }))
	}
	bob := b.mustLogin(t, "bob", "bob-secret")
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.addrs.HTTP+"/", nil)
	req.Header.Set("Authorization", httpauth.BasicAuthorization(bob.jid, "cluster-tx"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request on A confirmed on B: %d", resp.StatusCode)
	}

	// XEP-0235: the same signed stanza from alice/phone on A, then on B.
	phone := jid.MustParse("alice@localhost/phone")
	onA, err := a.loginAs(t, phone, "alice-secret", tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	onB, err := b.loginAs(t, phone, "alice-secret", tls.VersionTLS13)
	if err != nil {
		t.Fatal(err)
	}
	var cfg xmppauth.Config
	cfg.HTTPAuth.Sender = xmppauth.RouterSender(nil)
	cluster, err := redisstore.Join(&cfg, redis.NewClient(redisstore.ClientOptions(rd.Addr)), secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	creds := demoOAuth(&cfg.OAuth, cluster) // as every node derives them
	signer := oauth.Signer{From: phone.String(), Credentials: oauth.Credentials{
		ConsumerKey: creds[0], ConsumerSecret: creds[1], Token: creds[2], TokenSecret: creds[3],
	}}
	params, err := signer.Sign(oauth.Stanza{Name: "iq", To: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	whoami := func(c *testClient) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		query := xmlstream.Wrap(params.TokenReader(), xml.StartElement{Name: xml.Name{Space: nsWhoami, Local: "query"}})
		r, err := c.session.SendIQ(ctx, stanza.IQ{To: jid.MustParse("localhost"), Type: stanza.GetIQ}.Wrap(query))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var b strings.Builder
		e := xml.NewEncoder(&b)
		_, _ = xmlstream.Copy(e, r)
		_ = e.Flush()
		return b.String()
	}
	if got := whoami(onA); !strings.Contains(got, "consumer xmppauthd-demo, token demo-token") {
		t.Fatalf("signed request on A: %s", got)
	}
	if got := whoami(onB); !strings.Contains(got, "invalid-nonce") {
		t.Fatalf("the same request on B: %s, want invalid-nonce", got)
	}

	// Login limiter: three failures on A ban the address on B too.
	for range 3 {
		if _, err := a.login(t, "carol", "guess", tls.VersionTLS13); err == nil {
			t.Fatal("a guess logged in")
		}
	}
	if _, err := b.login(t, "bob", "bob-secret", tls.VersionTLS13); err == nil || !strings.Contains(err.Error(), "too many failed logins from your address") {
		t.Fatalf("login on B after the failures on A: %v, want the ban (<temporary-auth-failure/>)", err)
	}
}
