package saslclient_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"slices"
	"strings"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/saslclient"
	"github.com/xmppauth/xmppauth/scram"
)

// node is an element the client sent, parsed generically.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n *node) child(space, local string) *node {
	if n == nil {
		return nil
	}
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == local && (space == "" || n.Nodes[i].XMLName.Space == space) {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *node) attr(local string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attrs {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (n *node) text() string {
	if n == nil {
		return ""
	}
	return strings.TrimSpace(n.Text)
}

// decoded is the base64 text of n.
func (n *node) decoded() []byte {
	b, _ := base64.StdEncoding.DecodeString(n.text())
	return b
}

// nextNode reads the next element the client sends (nil when it closes).
func (c *fakeConn) nextNode() *node {
	for {
		tok, err := c.d.Token()
		if err != nil {
			return nil
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		var n node
		if err := c.d.DecodeElement(&n, &start); err != nil {
			return nil
		}
		c.seen <- start.Name.Local
		c.nodes <- &n
		return &n
	}
}

func (c *fakeConn) raw(format string, args ...any) {
	fmt.Fprintf(c.conn, format, args...)
}

// send2 sends a SASL2 element with base64 content.
func (c *fakeConn) send2(name string, payload []byte) {
	c.raw("<%s xmlns='urn:xmpp:sasl:2'>%s</%s>", name, base64.StdEncoding.EncodeToString(payload), name)
}

// success2 sends a SASL2 <success/> with additional data (nil: none), the
// authorization identifier and extra XML, then the features that follow.
func (c *fakeConn) success2(data []byte, authzid, extra, features string) {
	ad := ""
	if data != nil {
		ad = "<additional-data>" + base64.StdEncoding.EncodeToString(data) + "</additional-data>"
	}
	c.raw("<success xmlns='urn:xmpp:sasl:2'>%s<authorization-identifier>%s</authorization-identifier>%s</success><stream:features>%s</stream:features>", ad, authzid, extra, features)
}

// tlsBinding is the server side's channel binding on the fake connection.
func (c *fakeConn) tlsBinding() scram.ChannelBinding {
	cs := c.conn.(*tls.Conn).ConnectionState()
	leaf := getPKI().server.Leaf
	return scram.ChannelBinding{
		Advertised: true,
		Data:       func(t cbind.Type) ([]byte, error) { return cbind.Data(t, &cs, leaf) },
	}
}

// cbData is the server side's binding data of type t ("": none).
func (c *fakeConn) cbData(t cbind.Type) []byte {
	if t == "" {
		return nil
	}
	b, err := c.tlsBinding().Data(t)
	if err != nil {
		c.t.Errorf("fake server: %s: %v", t, err)
	}
	return b
}

// ssdp is the XEP-0474 input of a server that advertised mechs and types
// (nil types: no XEP-0440).
func ssdp(mechs, types []string) []byte {
	m := slices.Sorted(slices.Values(mechs))
	s := strings.Join(m, "\x1e")
	if types != nil {
		s += "\x1f" + strings.Join(slices.Sorted(slices.Values(types)), "\x1e")
	}
	return []byte(s)
}

// scramAs runs SCRAM for alice (stored under her localpart, as the client
// sends it) with the mechanism named by the client, over the fake's TLS.
func (c *fakeConn) scramAs(name string, h []byte) *scram.Exchange {
	base, _, _ := strings.Cut(name, ":")
	m, ok := scram.MechanismByName(base)
	if !ok {
		c.t.Errorf("fake server: client chose %q", name)
		return nil
	}
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice", alicePassword, scram.MinIterations, m.Hash()); err != nil {
		c.t.Fatal(err)
	}
	s, err := scram.NewServer(m, scram.Config{Store: store})
	if err != nil {
		c.t.Fatal(err)
	}
	cb := c.tlsBinding()
	if _, t, err := cbind.ParsePseudomechanism(name); err == nil {
		cb.Require = t
	}
	return s.Start(cb, h)
}

// sasl2Offer is the list a scripted SASL2 server advertises.
type sasl2Offer struct {
	mechs  []string
	types  []string // nil: no XEP-0440
	bind   bool
	fast   []string
	inline string // more inline XML
}

func (o sasl2Offer) features() string {
	var b strings.Builder
	b.WriteString("<authentication xmlns='urn:xmpp:sasl:2'>")
	for _, m := range o.mechs {
		b.WriteString("<mechanism>" + m + "</mechanism>")
	}
	b.WriteString("<inline>")
	if o.bind {
		b.WriteString("<bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:carbons:2'/><feature var='urn:xmpp:sm:3'/></inline></bind>")
	}
	if o.fast != nil {
		b.WriteString("<fast xmlns='urn:xmpp:fast:0'>")
		for _, m := range o.fast {
			b.WriteString("<mechanism>" + m + "</mechanism>")
		}
		b.WriteString("</fast>")
	}
	b.WriteString(o.inline + "</inline></authentication>")
	if o.types != nil {
		b.WriteString("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>")
		for _, t := range o.types {
			b.WriteString("<channel-binding type='" + t + "'/>")
		}
		b.WriteString("</sasl-channel-binding>")
	}
	return b.String()
}

var defaultOffer = sasl2Offer{
	mechs: []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"},
	types: []string{"tls-exporter", "tls-server-end-point"},
	bind:  true,
	fast:  []string{"HT-SHA-256-EXPR", "HT-SHA-256-ENDP", "HT-SHA-256-NONE"},
}

// scramSASL2 runs the SCRAM part of a SASL2 login the way a correct
// server does, with the XEP-0474 hash of what it advertised. It returns the
// client's <authenticate/> and server-final (nil on failure).
func (c *fakeConn) scramSASL2(o sasl2Offer) (*node, []byte) {
	auth := c.nextNode()
	if auth == nil || auth.XMLName.Local != "authenticate" {
		return auth, nil
	}
	ex := c.scramAs(auth.attr("mechanism"), ssdp(o.mechs, o.types))
	if ex == nil {
		return auth, nil
	}
	out, _, err := ex.Step(context.Background(), auth.child("", "initial-response").decoded())
	if err != nil {
		c.raw("<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>%s</text></failure>", err)
		return auth, nil
	}
	c.send2("challenge", out)
	resp := c.nextNode()
	if resp == nil || resp.XMLName.Local != "response" {
		return auth, nil
	}
	out, _, err = ex.Step(context.Background(), resp.decoded())
	if err != nil {
		c.raw("<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><text>%s</text></failure>", scram.ServerError(err))
		return auth, nil
	}
	return auth, out
}

// htProof is HMAC-SHA-256(token, label || cb-data), the server side of
// HT-SHA-256-*.
func htProof(token, label string, cbData []byte) []byte {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(label))
	mac.Write(cbData)
	return mac.Sum(nil)
}

// htBinding maps an HT-SHA-256-* name to its binding type.
func htBinding(mech string) cbind.Type {
	switch {
	case strings.HasSuffix(mech, "-EXPR"):
		return cbind.TLSExporter
	case strings.HasSuffix(mech, "-ENDP"):
		return cbind.TLSServerEndPoint
	case strings.HasSuffix(mech, "-UNIQ"):
		return cbind.TLSUnique
	}
	return ""
}

// checkHT verifies an HT-SHA-256 <authenticate/> for secret; it returns the
// responder message, or nil.
func (c *fakeConn) checkHT(auth *node, secret string) []byte {
	mech := auth.attr("mechanism")
	cb := c.cbData(htBinding(mech))
	user, proof, _ := strings.Cut(string(auth.child("", "initial-response").decoded()), "\x00")
	if user != "alice" || !hmac.Equal([]byte(proof), htProof(secret, "Initiator", cb)) {
		return nil
	}
	return htProof(secret, "Responder", cb)
}

// uaID is a UUID v4 for the tests' user agent.
const uaID = "d4565fa7-4d72-4749-b3d3-740edbf87770"

// tokenCfg is a FAST-enabled configuration over store.
func tokenCfg(store saslclient.TokenStore) saslclient.Config {
	return saslclient.Config{
		Password:  alicePassword,
		UserAgent: saslclient.UserAgent{ID: uaID, Software: "TestClient", Device: "test"},
		FAST:      saslclient.FAST{Tokens: store},
	}
}

var t0ctx = context.Background()

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
