package features

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/xml"
	"errors"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/internal/netaddr"
)

// Bind2Request is what a client asked for in its XEP-0386 <bind/>, for the
// host's Login.OnBind2.
type Bind2Request struct {
	// Tag is the client's <tag/>, as sent ("" for none); the bound
	// resource starts with it when it is a valid resourcepart.
	Tag string
	// Features are the inline feature requests, in the order sent: the
	// children of <bind/> in other namespaces, such as
	// <enable xmlns='urn:xmpp:carbons:2'/>, <enable xmlns='urn:xmpp:sm:3'/>
	// or <inactive xmlns='urn:xmpp:csi:0'/>. At most 16, each at most 256
	// tokens.
	Features []Element
}

// OnBind2 sets f to be called after a Bind2 request bound full (after
// OnBind), before the client is told: the moment the host enables the
// inline features the client asked for (req.Features) that it supports
// (Config.Bind2Features). What f returns is placed inside <bound/> (a
// XEP-0198 <enabled/> or <failed/>, a XEP-0313 <metadata/>); nil places
// nothing. f cannot refuse the login: a feature that fails says so in what
// it returns, as XEP-0198 does. The session's writer is held while f runs,
// as for OnBind.
func (c *Login) OnBind2(f func(ctx context.Context, session *xmpp.Session, full jid.JID, req Bind2Request) xml.TokenReader) {
	c.mu.Lock()
	c.onBind2 = f
	c.mu.Unlock()
}

// bind2 binds a resource for a Bind2 request of a login that succeeded:
// the resource XEP-0386 derives from the client's tag and user-agent id,
// the host's BindResource (conflicts) and OnBind (registration) and
// OnBind2 (inline features). It returns the full JID and the <bound/>
// element; an error refuses the binding (a stanza.Error says with what).
func (c *Login) bind2(ctx context.Context, st *exchangeStream, id Identity, req *sasl2Request) (jid.JID, xml.TokenReader, error) {
	who := boundAccount(id)
	full, err := c.bindFull(ctx, st.meta, who, c.srv.bind2Resource(who, req.userAgent.ID, req.bind.tag))
	if err != nil {
		var se stanza.Error
		if !errors.As(err, &se) {
			c.srv.log.WarnContext(ctx, "bind2: host refused the binding", "jid", who.String(), "err", err)
			se = stanza.Error{Type: stanza.Cancel, Condition: stanza.InternalServerError}
			err = se
		}
		c.srv.log.InfoContext(ctx, "bind2 refused", "jid", who.String(), "condition", string(se.Condition),
			"ip", netaddr.IP(st.meta.RemoteAddr()))
		return jid.JID{}, nil, err
	}
	c.mu.Lock()
	onBind2 := c.onBind2
	c.mu.Unlock()
	var inner xml.TokenReader
	if onBind2 != nil {
		inner = onBind2(ctx, st.meta.session, full, Bind2Request{Tag: req.bind.tag, Features: req.bind.elements})
	}
	return full, xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: NSBind2, Local: "bound"}}), nil
}

// bind2IDLen is the length of the derived part of a Bind2 resource, in
// bytes before encoding: 80 bits, 16 base32 characters.
const bind2IDLen = 10

var resourceEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// bind2Resource is the resource XEP-0386 §"Resource identifier generation"
// asks for: "[client tag]/[server generated identifier]". The identifier is
// HMAC-SHA-256, keyed with a secret derived from Config.Secret, over the
// account, the user-agent id and the tag, so that the same client
// installation gets the same resource on every login (stable, as the XEP
// allows), another installation or account another one, and nobody can
// compute it or learn the user-agent id from it (which the XEP forbids
// exposing). Without a user-agent id the identifier is random. A tag that
// is not a valid resourcepart, or is longer than 64 bytes, is left out.
func (s *Server) bind2Resource(account jid.JID, userAgentID, tag string) string {
	var sum [sha256.Size]byte
	if userAgentID == "" {
		_, _ = rand.Read(sum[:bind2IDLen])
	} else {
		m := hmac.New(sha256.New, s.keys.bind2)
		writeField(m, account.String())
		writeField(m, userAgentID)
		writeField(m, tag)
		m.Sum(sum[:0])
	}
	id := resourceEncoding.EncodeToString(sum[:bind2IDLen])
	if tag != "" {
		if _, err := account.WithResource(tag); err == nil {
			return tag + "/" + id
		}
	}
	return id
}

// writeField writes s with its length, so that fields cannot run into
// each other.
func writeField(w interface{ Write([]byte) (int, error) }, s string) {
	n := len(s)
	_, _ = w.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
	_, _ = w.Write([]byte(s))
}
