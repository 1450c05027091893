package xmppauth_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
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
	"github.com/xmppauth/xmppauth/scram"
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

// goXMPPClient is a client on github.com/xmppo/go-xmpp v0.4.1 (what
// go-sendxmpp 0.15 is built on, with SASL2, Bind2, FAST, XEP-0474 and
// XEP-0480), built by the test from the module cache.
const goXMPPClient = `package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	xmpp "github.com/xmppo/go-xmpp"
)

func main() {
	host := flag.String("host", "", "")
	direct := flag.Bool("direct", false, "")
	fast := flag.Bool("fast", true, "")
	token := flag.String("token", "", "")
	mech := flag.String("mech", "", "")
	flag.Parse()
	o := xmpp.Options{
		Host: *host, User: "alice@localhost", Password: "alice-secret",
		TLSConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: tls.VersionTLS13},
		NoTLS: !*direct, StartTLS: !*direct, SSDP: true,
		UserAgentSW: "interop", UserAgentID: "5b1c3d2e-8f4a-4b6c-9d7e-0a1b2c3d4e5f",
		Fast: *fast, FastToken: *token, FastMechanism: *mech,
	}
	c, err := o.NewClient()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{"mechanism": c.Mechanism, "jid": c.JID(), "token": c.Fast.Token, "fastmech": c.Fast.Mechanism})
	c.Close()
}
`

// buildGoXMPP builds goXMPPClient, offline, or skips the test.
func buildGoXMPP(t *testing.T) string {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"main.go": goXMPPClient,
		"go.mod":  "module interop\n\ngo 1.26.0\n\nrequire github.com/xmppo/go-xmpp v0.4.1\n",
	} {
		if err := os.WriteFile(dir+"/"+name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", "client", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot build a go-xmpp v0.4.1 client offline (go get github.com/xmppo/go-xmpp@v0.4.1 once): %v\n%s", err, out)
	}
	return dir + "/client"
}

// The go-xmpp client (go-sendxmpp's library) logs in with SASL2 and Bind2
// over direct TLS and STARTTLS, checks XEP-0474's h= (over the SASL2 list
// alone: ejabberd 24.12 hashed the FAST mechanisms too and go-sendxmpp
// could not log in), gets a FAST token, and its next login with the token
// (HT-SHA-256-EXPR) checks the server's responder hash.
func TestGoXMPPSASL2(t *testing.T) {
	client := buildGoXMPP(t)
	for _, direct := range []bool{true, false} {
		name := "STARTTLS"
		if direct {
			name = "direct TLS"
		}
		t.Run(name, func(t *testing.T) {
			cfg := baseConfig(t)
			events := make(chan features.LoginEvent, 8)
			cfg.SASL.Observe = func(e features.LoginEvent) { events <- e }
			addr := startHost(t, cfg, direct)
			first := runGoXMPP(t, client, "-host", addr, "-direct="+strconv.FormatBool(direct))
			if !strings.HasPrefix(first["jid"], "alice@localhost/interop/") || first["token"] == "" || first["fastmech"] != "HT-SHA-256-EXPR" {
				t.Fatalf("first login: %v", first)
			}
			if e := <-events; !e.SASL2 || e.Mechanism != "SCRAM-SHA-512-PLUS" || e.ChannelBinding != "tls-exporter" {
				t.Fatalf("first login: %+v", e)
			}
			second := runGoXMPP(t, client, "-host", addr, "-direct="+strconv.FormatBool(direct), "-token", first["token"], "-mech", first["fastmech"])
			if second["jid"] != first["jid"] || second["mechanism"] != "HT-SHA-256-EXPR" {
				t.Fatalf("FAST login: %v (first %v)", second, first)
			}
			if e := <-events; !e.SASL2 || e.Mechanism != "HT-SHA-256-EXPR" || e.ChannelBinding != "tls-exporter" {
				t.Fatalf("FAST login: %+v", e)
			}
		})
	}
	// XEP-0480 with go-xmpp: an account with only SHA-1 credentials is
	// upgraded to SHA-256 during a channel-bound SCRAM-SHA-1-PLUS login,
	// without the password leaving the client; the new credential is the
	// password's.
	t.Run("upgrade task", func(t *testing.T) {
		cfg := baseConfig(t)
		store := scram.NewMemoryStore()
		if err := store.SetPassword("alice@localhost", "alice-secret", scram.MinIterations, crypto.SHA1); err != nil {
			t.Fatal(err)
		}
		cfg.SASL.Store = store
		cfg.SASL.Mechanisms = []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "SCRAM-SHA-256"}
		addr := startHost(t, cfg, true)
		if got := runGoXMPP(t, client, "-host", addr, "-direct", "-fast=false"); got["mechanism"] != "SCRAM-SHA-1-PLUS" {
			t.Fatalf("login: %v", got)
		}
		c, err := store.Credential(t.Context(), "alice@localhost", crypto.SHA256)
		if err != nil || c.Iterations != scram.MinIterations || !scram.VerifyPassword(crypto.SHA256, c, "alice-secret") {
			t.Fatalf("SHA-256 credential after the upgrade task: %+v %v", c, err)
		}
	})
}

// startHost runs a host on the plugin: Accept or AcceptTLS, Negotiate, a
// mux for the session.
func startHost(t *testing.T, cfg xmppauth.Config, direct bool) string {
	p, err := xmppauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return xmpptest.Listen(t, func(raw net.Conn) {
		var conn *xmppauth.Conn
		if direct {
			var err error
			if conn, err = p.AcceptTLS(raw); err != nil {
				raw.Close()
				return
			}
		} else {
			conn = p.Accept(raw)
		}
		session, err := conn.Negotiate(context.Background())
		if err != nil {
			return
		}
		_ = conn.Close(session, session.Serve(mux.New(stanza.NSClient, p.MuxOptions()...)))
	})
}

func runGoXMPP(t *testing.T, client string, args ...string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, client, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go-xmpp client %v: %v\n%s", args, err, stderr.String())
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("go-xmpp client said %q: %v", out, err)
	}
	return res
}
