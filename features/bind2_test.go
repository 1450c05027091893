package features_test

import (
	"context"
	"crypto"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// bind2Login logs in as alice with PLAIN and Bind2 on a new direct-TLS
// connection and returns the authorization identifier.
func bind2Login(t *testing.T, srv *testServer, ua, tag string) string {
	t.Helper()
	c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{userAgent: ua, bind: true, tag: tag})
	return parseSuccess2(t, c.next()).AuthzID
}

// XEP-0386 §"Resource identifier generation": the same client installation
// gets the same resource on every login, another installation another one,
// and a login without user-agent id a fresh one.
func TestBind2StableResource(t *testing.T) {
	srv := newHostServer(t, features.Config{Secret: []byte("a secret of the deployment")}, true, nil)
	first := bind2Login(t, srv, uaAlice, "AwesomeXMPP")
	if !strings.HasPrefix(first, "alice@localhost/AwesomeXMPP/") || strings.Contains(first, uaAlice) {
		t.Fatalf("resource %q", first)
	}
	for _, tc := range []struct {
		name, ua, tag string
		same          bool
	}{
		{"same user agent", uaAlice, "AwesomeXMPP", true},
		{"another user agent", "0b4c2a4e-0000-4000-8000-000000000000", "AwesomeXMPP", false},
		{"no user agent", "", "AwesomeXMPP", false},
	} {
		if got := bind2Login(t, srv, tc.ua, tc.tag); (got == first) != tc.same {
			t.Errorf("%s: %q vs %q", tc.name, got, first)
		}
	}
	a, b := bind2Login(t, srv, "", ""), bind2Login(t, srv, "", "")
	if a == b || strings.Count(a, "/") != 1 {
		t.Errorf("without user agent or tag: %q, %q", a, b)
	}
	// Another server process with the same Secret gives the same resource.
	again := newHostServer(t, features.Config{Secret: []byte("a secret of the deployment")}, true, nil)
	if got := bind2Login(t, again, uaAlice, "AwesomeXMPP"); got != first {
		t.Errorf("another process: %q vs %q", got, first)
	}
}

// The host's hooks run for Bind2 as for RFC 6120 binding: BindResource
// sees the derived resource and may change it (never the account), OnBind
// registers the session before the client learns its JID and may refuse
// it, OnBind2 gets the inline requests and answers inside <bound/>, and
// ListAfterBind2 says what the features after <success/> list.
func TestBind2Hooks(t *testing.T) {
	var mu sync.Mutex
	var requested, registered []string
	var inline []xml.Name
	refuse := true
	cfg := features.Config{
		Bind2Features: []string{"urn:xmpp:carbons:2", "urn:xmpp:sm:3"},
		BindResource: func(_ context.Context, _ features.ConnMetadata, who jid.JID, resource string) (jid.JID, error) {
			mu.Lock()
			requested = append(requested, resource)
			mu.Unlock()
			return who.WithResource(resource + "-host")
		},
	}
	setup := func(l *features.Login) {
		l.OnBind(func(_ context.Context, _ *xmpp.Session, full jid.JID) error {
			mu.Lock()
			defer mu.Unlock()
			if refuse {
				refuse = false
				return stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint}
			}
			if _, ok := l.Identity(); !ok {
				return errors.New("OnBind before the identity is known")
			}
			registered = append(registered, full.String())
			return nil
		})
		l.OnBind2(func(_ context.Context, _ *xmpp.Session, full jid.JID, req features.Bind2Request) xml.TokenReader {
			mu.Lock()
			for _, f := range req.Features {
				inline = append(inline, f.Start.Name)
			}
			mu.Unlock()
			return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:sm:3", Local: "enabled"}, Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: "sm1"}}})
		})
		l.ListAfterBind2(func(*xmpp.Session) []xmpp.StreamFeature {
			return []xmpp.StreamFeature{
				{Name: xml.Name{Space: "urn:xmpp:csi:0", Local: "csi"}, Necessary: xmpp.Authn, List: func(_ context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
					_, err := xmlstream.Copy(e, xmlstream.Wrap(nil, start))
					return false, err
				}},
				l.Bind(), // not listed: the session is ready
			}
		})
	}
	srv := newHostServer(t, cfg, true, setup)
	c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	opts := authenticateOpts{userAgent: uaAlice, bind: true, tag: "AwesomeXMPP",
		inline: `<enable xmlns='urn:xmpp:carbons:2'/><enable xmlns='urn:xmpp:sm:3' resume='true'/>`}

	// The first binding is refused: a failure with the stanza condition,
	// the stream unauthenticated, a retry possible.
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), opts)
	el := c.next()
	if condition2(el) != "temporary-auth-failure" || !strings.Contains(el.Inner, `<resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">`) {
		t.Fatalf("refused binding: %v", el)
	}
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), opts)
	s := parseSuccess2(t, c.next())
	f := c.readFeatures()
	res := srv.result(t)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requested) != 2 || requested[0] != requested[1] || !strings.HasPrefix(requested[0], "AwesomeXMPP/") {
		t.Fatalf("BindResource saw %q", requested)
	}
	want := "alice@localhost/" + requested[0] + "-host"
	if s.AuthzID != want || len(registered) != 1 || registered[0] != want || res.Conn.Bound().String() != want {
		t.Fatalf("success %q, registered %q, bound %v, want %s", s.AuthzID, registered, res.Conn.Bound(), want)
	}
	if len(inline) != 2 || inline[0] != (xml.Name{Space: "urn:xmpp:carbons:2", Local: "enable"}) || inline[1] != (xml.Name{Space: "urn:xmpp:sm:3", Local: "enable"}) {
		t.Fatalf("inline requests %v", inline)
	}
	if s.Bound == nil || !strings.Contains(s.Bound.Inner, `<enabled xmlns="urn:xmpp:sm:3" id="sm1">`) {
		t.Fatalf("bound %+v", s.Bound)
	}
	if !strings.Contains(f, `<csi xmlns="urn:xmpp:csi:0">`) || strings.Contains(f, "xmpp-bind") {
		t.Fatalf("features after Bind2: %s", f)
	}
}

// A host whose BindResource names another account is not obeyed.
func TestBind2NeverAnotherAccount(t *testing.T) {
	srv := newHostServer(t, features.Config{
		BindResource: func(context.Context, features.ConnMetadata, jid.JID, string) (jid.JID, error) {
			return jid.MustParse("admin@localhost/x"), nil
		},
	}, true, nil)
	c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{bind: true})
	if el := c.next(); condition2(el) != "temporary-auth-failure" {
		t.Fatalf("got %v", el)
	}
}

// XEP-0480: after a channel-bound SCRAM-SHA-1 login the client hands over
// its SHA-256 SaltedPassword (never the password); the server stores the
// credential, and SCRAM-SHA-256 then works. Without channel binding no
// task runs, and a task other than the one offered fails.
func TestUpgradeTask(t *testing.T) {
	newStore := func() *scram.MemoryStore {
		store := scram.NewMemoryStore()
		if err := store.SetPassword("carol@localhost", "carol-secret", scram.MinIterations, crypto.SHA1); err != nil {
			t.Fatal(err)
		}
		return store
	}
	run := func(t *testing.T, store *scram.MemoryStore, mech, next string) element {
		srv := newHostServer(t, features.Config{Store: store, Iterations: 5000}, true, nil)
		c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		s := newSCRAM(mech, "carol", "carol-secret")
		if strings.Contains(mech, "PLUS") {
			s.bind(cbind.TLSExporter, c.cbData(cbind.TLSExporter))
		}
		el := c.scram2(s, mech, authenticateOpts{upgrade: "UPGR-SCRAM-SHA-256"})
		if el.XMLName.Local != "continue" {
			return el
		}
		if !strings.Contains(el.Inner, "<task>UPGR-SCRAM-SHA-256</task>") {
			t.Fatalf("continue %v", el)
		}
		c.send(`<next xmlns='urn:xmpp:sasl:2' task='` + next + `'/>`)
		el = c.next()
		if el.XMLName.Local != "task-data" {
			return el
		}
		var td struct {
			Salt struct {
				Iterations string `xml:"iterations,attr"`
				Value      string `xml:",chardata"`
			} `xml:"urn:xmpp:scram-upgrade:0 salt"`
		}
		if err := xml.Unmarshal([]byte("<t>"+el.Inner+"</t>"), &td); err != nil {
			t.Fatal(err)
		}
		iter, _ := strconv.Atoi(td.Salt.Iterations)
		if iter != 5000 {
			t.Errorf("iterations %q", td.Salt.Iterations)
		}
		sp, err := pbkdf2.Key(sha256.New, "carol-secret", decode64(t, td.Salt.Value), iter, 32)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`<task-data xmlns='urn:xmpp:sasl:2'><hash xmlns='urn:xmpp:scram-upgrade:0'>` + base64.StdEncoding.EncodeToString(sp) + `</hash></task-data>`)
		return c.next()
	}
	sha256Login := func(t *testing.T, store *scram.MemoryStore) string {
		srv := newHostServer(t, features.Config{Store: store, Iterations: 5000}, true, nil)
		c := dialDirectTLS(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
		el := c.scram2(newSCRAM("SCRAM-SHA-256", "carol", "carol-secret"), "SCRAM-SHA-256", authenticateOpts{})
		if el.XMLName.Local == "success" {
			return ""
		}
		return condition2(el)
	}
	t.Run("channel-bound", func(t *testing.T) {
		store := newStore()
		el := run(t, store, "SCRAM-SHA-1-PLUS:tls-exporter", "UPGR-SCRAM-SHA-256")
		if s := parseSuccess2(t, el); s.AuthzID != "carol@localhost" || s.AdditionalData != "" {
			t.Fatalf("success after the task %+v", s)
		}
		if c, err := store.Credential(t.Context(), "carol@localhost", crypto.SHA256); err != nil || c.Iterations != 5000 {
			t.Fatalf("SHA-256 credential %+v, %v", c, err)
		}
		if got := sha256Login(t, store); got != "" {
			t.Fatalf("SCRAM-SHA-256 after the upgrade: %s", got)
		}
		// Done once: the next login goes straight to <success/>.
		if el := run(t, store, "SCRAM-SHA-1-PLUS:tls-exporter", "UPGR-SCRAM-SHA-256"); el.XMLName.Local != "success" {
			t.Fatalf("second login: %v", el)
		}
	})
	t.Run("not channel-bound", func(t *testing.T) {
		store := newStore()
		if el := run(t, store, "SCRAM-SHA-1", "UPGR-SCRAM-SHA-256"); el.XMLName.Local != "success" {
			t.Fatalf("got %v", el)
		}
		if _, err := store.Credential(t.Context(), "carol@localhost", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
			t.Fatalf("upgraded without channel binding: %v", err)
		}
	})
	t.Run("wrong task", func(t *testing.T) {
		store := newStore()
		if got := condition2(run(t, store, "SCRAM-SHA-1-PLUS:tls-exporter", "UPGR-SCRAM-SHA-512")); got != "malformed-request" {
			t.Fatalf("condition %q", got)
		}
		if _, err := store.Credential(t.Context(), "carol@localhost", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
			t.Fatalf("upgraded after a failed task: %v", err)
		}
	})
}

// RFC 6120 binding holds the host's BindResource to the account too: a
// full JID of another account is refused with <internal-server-error/>.
func TestBindNeverAnotherAccount(t *testing.T) {
	srv := newTestServer(t, features.Config{
		BindResource: func(context.Context, features.ConnMetadata, jid.JID, string) (jid.JID, error) {
			return jid.MustParse("admin@localhost/x"), nil
		},
	})
	c := dialRaw(t, srv.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.auth("PLAIN", []byte("\x00alice\x00alice-secret"))
	if el := c.next(); el.XMLName.Local != "success" {
		t.Fatalf("login: %v", el)
	}
	c.restart("")
	c.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	if el := c.next(); !slices.Contains(el.Attrs, xml.Attr{Name: xml.Name{Local: "type"}, Value: "error"}) ||
		!strings.Contains(el.Inner, "internal-server-error") || strings.Contains(el.Inner, "admin@") {
		t.Fatalf("bind answered %v", el)
	}
}
