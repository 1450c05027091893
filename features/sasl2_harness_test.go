package features_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// sasl2Features is what <authentication xmlns='urn:xmpp:sasl:2'/> lists.
type sasl2Features struct {
	Present    bool
	Mechanisms []string
	Bind       bool
	BindVars   []string
	FAST       []string
	Upgrades   []string
}

func (c *rawClient) sasl2() sasl2Features {
	c.t.Helper()
	var f struct {
		Auth *struct {
			Mechs  []string `xml:"mechanism"`
			Inline struct {
				Bind *struct {
					Vars []struct {
						Var string `xml:"var,attr"`
					} `xml:"inline>feature"`
				} `xml:"urn:xmpp:bind:0 bind"`
				Fast []string `xml:"urn:xmpp:fast:0 fast>mechanism"`
			} `xml:"inline"`
			Upgrades []string `xml:"urn:xmpp:sasl:upgrade:0 upgrade"`
		} `xml:"urn:xmpp:sasl:2 authentication"`
	}
	if err := xml.Unmarshal([]byte("<f>"+c.features+"</f>"), &f); err != nil {
		c.t.Fatal(err)
	}
	if f.Auth == nil {
		return sasl2Features{}
	}
	out := sasl2Features{Present: true, Mechanisms: f.Auth.Mechs, FAST: f.Auth.Inline.Fast, Upgrades: f.Auth.Upgrades}
	if b := f.Auth.Inline.Bind; b != nil {
		out.Bind = true
		for _, v := range b.Vars {
			out.BindVars = append(out.BindVars, v.Var)
		}
	}
	return out
}

// tlsState is the client's TLS state (the connection must be TLS).
func (c *rawClient) tlsState() tls.ConnectionState {
	return c.conn.(*tls.Conn).ConnectionState()
}

// cbData is the client's channel-binding data of type t.
func (c *rawClient) cbData(t cbind.Type) []byte {
	c.t.Helper()
	cs := c.tlsState()
	d, err := cbind.Data(t, &cs, cs.PeerCertificates[0])
	if err != nil {
		c.t.Fatalf("client cannot bind to %s: %v", t, err)
	}
	return d
}

// authenticateOpts is what a SASL2 <authenticate/> carries.
type authenticateOpts struct {
	userAgent    string // id; "" for no <user-agent/>
	software     string
	bind         bool
	tag          string
	inline       string // raw XML inside <bind/>
	requestToken string
	useFAST      bool   // send <fast/>
	fast         string // its raw attributes
	upgrade      string
	extra        string // raw XML appended
}

// authenticate sends <authenticate/> with the base64 of payload (nil: no
// initial response).
func (c *rawClient) authenticate(mechanism string, payload []byte, o authenticateOpts) {
	c.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='%s'>`, mechanism)
	if payload != nil {
		fmt.Fprintf(&b, `<initial-response>%s</initial-response>`, base64.StdEncoding.EncodeToString(payload))
	}
	if o.userAgent != "" {
		fmt.Fprintf(&b, `<user-agent id='%s'><software>%s</software><device>test</device></user-agent>`, o.userAgent, o.software)
	}
	if o.bind {
		b.WriteString(`<bind xmlns='urn:xmpp:bind:0'>`)
		if o.tag != "" {
			fmt.Fprintf(&b, `<tag>%s</tag>`, o.tag)
		}
		b.WriteString(o.inline + `</bind>`)
	}
	if o.requestToken != "" {
		fmt.Fprintf(&b, `<request-token xmlns='urn:xmpp:fast:0' mechanism='%s'/>`, o.requestToken)
	}
	if o.useFAST {
		fmt.Fprintf(&b, `<fast xmlns='urn:xmpp:fast:0' %s/>`, o.fast)
	}
	if o.upgrade != "" {
		fmt.Fprintf(&b, `<upgrade xmlns='urn:xmpp:sasl:upgrade:0'>%s</upgrade>`, o.upgrade)
	}
	b.WriteString(o.extra + `</authenticate>`)
	c.send(b.String())
}

func (c *rawClient) response2(payload []byte) {
	c.send(`<response xmlns='urn:xmpp:sasl:2'>` + base64.StdEncoding.EncodeToString(payload) + `</response>`)
}

// success2 is a decoded SASL2 <success/>.
type success2 struct {
	AdditionalData string `xml:"additional-data"`
	AuthzID        string `xml:"authorization-identifier"`
	Bound          *struct {
		Inner string `xml:",innerxml"`
	} `xml:"urn:xmpp:bind:0 bound"`
	Token *struct {
		Expiry string `xml:"expiry,attr"`
		Token  string `xml:"token,attr"`
	} `xml:"urn:xmpp:fast:0 token"`
}

func parseSuccess2(t testing.TB, el element) success2 {
	t.Helper()
	if el.XMLName != (xml.Name{Space: features.NSSASL2, Local: "success"}) {
		t.Fatalf("expected a SASL2 success, got %v", el)
	}
	var s success2
	if err := xml.Unmarshal([]byte("<s>"+el.Inner+"</s>"), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// condition2 is the condition of a SASL2 <failure/> (in the RFC 6120
// namespace), "" if el is not one.
func condition2(el element) string {
	if el.XMLName != (xml.Name{Space: features.NSSASL2, Local: "failure"}) {
		return ""
	}
	var f struct {
		Children []struct{ XMLName xml.Name } `xml:",any"`
	}
	_ = xml.Unmarshal([]byte("<f>"+el.Inner+"</f>"), &f)
	for _, ch := range f.Children {
		if ch.XMLName.Space == features.NS {
			return ch.XMLName.Local
		}
	}
	return ""
}

// scramClient is the client side of SCRAM (RFC 5802) for tests, with
// channel binding and the XEP-0474 check.
type scramClient struct {
	h          func() hash.Hash
	user, pass string
	gs2        string
	cbData     []byte
	ssdp       []byte // expected XEP-0474 input; nil: not checked

	nonce, clientFirstBare string
	saltedPassword         []byte
	authMessage            string
}

func newSCRAM(mechanism, user, pass string) *scramClient {
	name, _, _ := strings.Cut(mechanism, ":")
	s := &scramClient{user: user, pass: pass, gs2: "n,,"}
	switch strings.TrimSuffix(name, "-PLUS") {
	case "SCRAM-SHA-1":
		s.h = sha1.New
	case "SCRAM-SHA-256":
		s.h = sha256.New
	case "SCRAM-SHA-512":
		s.h = sha512.New
	}
	return s
}

// bind makes the client bind to type t with data.
func (s *scramClient) bind(t cbind.Type, data []byte) *scramClient {
	s.gs2, s.cbData = "p="+string(t)+",,", data
	return s
}

func (s *scramClient) first() []byte {
	s.nonce = rand.Text()
	s.clientFirstBare = "n=" + s.user + ",r=" + s.nonce
	return []byte(s.gs2 + s.clientFirstBare)
}

func (s *scramClient) final(serverFirst []byte) ([]byte, error) {
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(serverFirst), ",") {
		k, v, _ := strings.Cut(kv, "=")
		attrs[k] = v
	}
	if !strings.HasPrefix(attrs["r"], s.nonce) {
		return nil, errors.New("server nonce does not extend ours")
	}
	if s.ssdp != nil {
		h := s.h()
		h.Write(s.ssdp)
		if want := base64.StdEncoding.EncodeToString(h.Sum(nil)); attrs["h"] != want {
			return nil, fmt.Errorf("XEP-0474: h=%q, want %q: downgrade", attrs["h"], want)
		}
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		return nil, err
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil {
		return nil, err
	}
	s.saltedPassword, err = pbkdf2.Key(s.h, s.pass, salt, iter, s.h().Size())
	if err != nil {
		return nil, err
	}
	cbind := base64.StdEncoding.EncodeToString(append([]byte(s.gs2), s.cbData...))
	withoutProof := "c=" + cbind + ",r=" + attrs["r"]
	s.authMessage = s.clientFirstBare + "," + string(serverFirst) + "," + withoutProof
	clientKey := s.mac(s.saltedPassword, "Client Key")
	h := s.h()
	h.Write(clientKey)
	sig := s.mac(h.Sum(nil), s.authMessage)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(clientKey)), nil
}

func (s *scramClient) verify(serverFinal []byte) error {
	want := "v=" + base64.StdEncoding.EncodeToString(s.mac(s.mac(s.saltedPassword, "Server Key"), s.authMessage))
	if string(serverFinal) != want {
		return fmt.Errorf("server-final %q, want %q", serverFinal, want)
	}
	return nil
}

func (s *scramClient) mac(key []byte, msg string) []byte {
	m := hmac.New(s.h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// scram2 runs a whole SASL2 SCRAM exchange and returns the element that
// ends it, checking the server's signature on success.
func (c *rawClient) scram2(s *scramClient, mechanism string, o authenticateOpts) element {
	c.t.Helper()
	c.authenticate(mechanism, s.first(), o)
	el := c.next()
	if el.XMLName.Local != "challenge" {
		return el
	}
	final, err := s.final(decode64(c.t, el.Inner))
	if err != nil {
		c.t.Fatalf("client: %v", err)
	}
	c.response2(final)
	el = c.next()
	var data string
	switch el.XMLName.Local {
	case "success":
		data = parseSuccess2(c.t, el).AdditionalData
	case "continue":
		var cont struct {
			AdditionalData string `xml:"additional-data"`
		}
		_ = xml.Unmarshal([]byte("<c>"+el.Inner+"</c>"), &cont)
		data = cont.AdditionalData
	default:
		return el
	}
	if err := s.verify(decode64(c.t, data)); err != nil {
		c.t.Fatalf("server signature: %v", err)
	}
	return el
}

// htClient computes the HT-SHA-256-* messages of draft-schmaus-kitten-sasl-ht.
func htInitiator(user, token string, cbData []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	m.Write(cbData)
	return append([]byte(user+"\x00"), m.Sum(nil)...)
}

func htResponder(token string, cbData []byte) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Responder"))
	m.Write(cbData)
	return m.Sum(nil)
}

// newHostServer is newTestServer with a say in the Login (setup, for its
// hooks) and the choice of direct TLS (XEP-0368: TLS from the first byte,
// the session Secure from the start) instead of STARTTLS.
func newHostServer(t testing.TB, cfg features.Config, direct bool, setup func(*features.Login)) *testServer {
	tlsCfg := cbind.ServerConfig(getPKI(t).serverTLS())
	auth := newAuth(t, cfg)
	srv := &testServer{results: make(chan serverResult, 1024)}
	srv.addr = xmpptest.Listen(t, func(raw net.Conn) {
		defer raw.Close()
		var rw net.Conn = cbind.NewConn(raw)
		var state xmpp.SessionState
		var pre []xmpp.StreamFeature
		if direct {
			tc := tls.Server(rw, tlsCfg)
			_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
			if err := tc.Handshake(); err != nil {
				srv.results <- serverResult{Err: err}
				return
			}
			_ = tc.SetDeadline(time.Time{})
			rw, state = tc, xmpp.Secure
		} else {
			pre = []xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}
		}
		login := auth.NewLogin()
		if setup != nil {
			setup(login)
		}
		neg := xmpp.NewNegotiator(func(s *xmpp.Session, _ *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: append(pre[:len(pre):len(pre)], login.Features(s)...)}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		session, err := xmpp.ReceiveSession(ctx, rw, state, neg)
		srv.results <- serverResult{Conn: login, Session: session, Err: err}
		if err == nil {
			_, _ = io.Copy(io.Discard, session.Conn())
		}
	})
	return srv
}

// dialDirectTLS connects to a direct-TLS server and reads the features.
func dialDirectTLS(t testing.TB, addr string, tlsCfg *tls.Config, from string) *rawClient {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	tc := tls.Client(raw, tlsCfg)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: tc, to: "localhost"}
	c.conn.SetDeadline(time.Now().Add(20 * time.Second))
	c.restart(from)
	return c
}

// readFeatures reads a <stream:features/> sent without a restart.
func (c *rawClient) readFeatures() string {
	c.t.Helper()
	el := c.next()
	if el.XMLName.Local != "features" {
		c.t.Fatalf("expected features, got %v", el)
	}
	c.features = el.Inner
	return el.Inner
}
