package features

import (
	"context"
	"encoding/xml"
	"errors"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/cbind"
)

// NSBind is the resource-binding namespace of RFC 6120 §7.
const NSBind = "urn:ietf:params:xml:ns:xmpp-bind"

// ChannelBindingCapability returns the informational XEP-0440
// <sasl-channel-binding/> element, listed beside <mechanisms/> after TLS
// when a -PLUS mechanism is.
func (c *Login) ChannelBindingCapability(session *xmpp.Session) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: cbind.NS, Local: "sasl-channel-binding"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			o := c.currentOffer(session)
			if !o.cbListed {
				return false, nil
			}
			_, _, list := o.lists(c.srv)
			return false, writeTokens(e, list)
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return false, nil, d.Skip()
		},
	}
}

// legacyTLSFeature catches the retracted XEP-0035 <starttls/> in namespace
// ns (NSLegacyTLS, or the same without ".txt", which clients also sent). It
// lists nothing; a client that sends it gets an <unsupported-feature/>
// stream error naming the replacement, instead of a silent close or a hang.
func legacyTLSFeature(ns string) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: ns, Local: "starttls"},
		Prohibited: xmpp.Secure | xmpp.Authn,
		List: func(context.Context, xmlstream.TokenWriter, xml.StartElement) (bool, error) {
			return false, nil
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return false, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			w := session.TokenWriter()
			defer w.Close()
			return 0, nil, closeStream(w, session.Conn(), stream.UnsupportedFeature,
				"XEP-0035 STARTTLS (http://www.ietf.org/rfc/rfc2595.txt) was retracted; use RFC 6120 STARTTLS (urn:ietf:params:xml:ns:xmpp-tls)")
		},
	}
}

// stanzaTrapFeature catches <message/> and <presence/> (namespace
// jabber:client) sent before the session is ready. mellium dispatches each
// element by namespace and would close the stream silently; this lists
// nothing and answers with the <not-authorized/> stream error of RFC 6120
// §4.9.3.12. (An IQ is dispatched on its payload's namespace, so an early IQ
// still gets mellium's silent close.)
func stanzaTrapFeature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: stanza.NSClient, Local: "message"},
		Prohibited: xmpp.Ready,
		List: func(context.Context, xmlstream.TokenWriter, xml.StartElement) (bool, error) {
			return false, nil
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return false, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			w := session.TokenWriter()
			defer w.Close()
			return 0, nil, closeStream(w, session.Conn(), stream.NotAuthorized,
				"authenticate and bind a resource before sending stanzas")
		},
	}
}

// Bind returns RFC 6120 §7 resource binding, which binds the identity SASL
// authenticated, whatever the stream header claimed: it replaces mellium's
// xmpp.BindResource.
func (c *Login) Bind() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: NSBind, Local: "bind"},
		Necessary:  xmpp.Authn,
		Prohibited: xmpp.Ready,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			_, err := xmlstream.Copy(e, xmlstream.Wrap(nil, start))
			return true, err
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			return c.negotiateBind(ctx, session)
		},
	}
}

type bindRequest struct {
	stanza.IQ
	Bind struct {
		Resource string `xml:"resource"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
}

// maxResourceLen is RFC 7622 §3.4's limit on the resourcepart.
const maxResourceLen = 1023

func (c *Login) negotiateBind(ctx context.Context, session *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	id, ok := c.Identity()
	if !ok {
		return 0, nil, errors.New("features: resource binding before authentication")
	}
	r := session.TokenReader()
	defer r.Close()
	w := session.TokenWriter()
	defer w.Close()
	conn := session.Conn()
	defer restoreDeadline(ctx, conn)
	if err := conn.SetReadDeadline(c.stepDeadline(ctx)); err != nil {
		return 0, nil, err
	}
	d := xml.NewTokenDecoder(r)
	tok, err := d.Token()
	if err != nil {
		return 0, nil, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok || start.Name.Local != "iq" {
		return 0, nil, closeStream(w, conn, stream.PolicyViolation, "expected a resource-binding IQ")
	}
	var req bindRequest
	if err := d.DecodeElement(&req, &start); err != nil {
		return 0, nil, closeStream(w, conn, stream.BadFormat, "")
	}
	resp := stanza.IQ{XMLName: req.IQ.XMLName, ID: req.ID, Type: stanza.ResultIQ}
	if req.Type != stanza.SetIQ {
		_, err := xmlstream.Copy(w, stanza.IQ{XMLName: req.IQ.XMLName, ID: req.ID, Type: stanza.ErrorIQ}.Wrap(
			stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest}.TokenReader()))
		if err == nil {
			err = w.Flush()
		}
		return 0, nil, firstErr(err, errors.New("features: resource binding IQ was not a set"))
	}
	resource := req.Bind.Resource
	if len(resource) > maxResourceLen {
		resource = ""
	}
	// Registered before the result is written (this holds the session's
	// writer): whatever the host sends the new session from now on
	// reaches the client after the result.
	full, err := c.bindFull(ctx, connMeta{session: session, domain: id.JID.Domain()}, boundAccount(id), resource)
	if err != nil {
		var se stanza.Error
		if !errors.As(err, &se) {
			se = stanza.Error{Type: stanza.Cancel, Condition: stanza.InternalServerError}
		}
		resp.Type = stanza.ErrorIQ
		if _, werr := xmlstream.Copy(w, resp.Wrap(se.TokenReader())); werr != nil {
			return 0, nil, werr
		}
		return 0, nil, firstErr(w.Flush(), err)
	}
	payload := xmlstream.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(full.String())), xml.StartElement{Name: xml.Name{Local: "jid"}}),
		xml.StartElement{Name: xml.Name{Space: NSBind, Local: "bind"}},
	)
	if _, err := xmlstream.Copy(w, resp.Wrap(payload)); err != nil {
		return 0, nil, err
	}
	if err := w.Flush(); err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	c.bound = full
	c.mu.Unlock()
	return xmpp.Ready, nil, nil
}

// defaultResource binds the requested resource, or a random one when the
// client asked for none or for one that is not a valid resourcepart.
func defaultResource(who jid.JID, requested string) (jid.JID, error) {
	if requested != "" {
		if full, err := who.WithResource(requested); err == nil {
			return full, nil
		}
	}
	return who.WithResource(randomResource())
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// boundAccount is the account a login binds a resource of: the identity
// SASL established (the authzid when one was authorized), never the stream
// header's from.
func boundAccount(id Identity) jid.JID {
	if !id.Authzid.Equal(jid.JID{}) {
		return id.Authzid.Bare()
	}
	return id.JID
}

// bindFull binds resource (a request, or a derived one) of account, for
// RFC 6120 binding and Bind2 alike: the host's BindResource, or
// defaultResource, chooses the full JID, which must stay in account, and
// the host's OnBind registers it. An error refuses the binding; a
// stanza.Error says with what.
func (c *Login) bindFull(ctx context.Context, meta connMeta, account jid.JID, resource string) (jid.JID, error) {
	var full jid.JID
	var err error
	if f := c.srv.cfg.BindResource; f != nil {
		full, err = f(ctx, meta, account, resource)
	} else {
		full, err = defaultResource(account, resource)
	}
	if err == nil && !full.Bare().Equal(account) {
		// The host may choose the resource, never the account.
		err = errors.New("features: BindResource returned another account")
	}
	c.mu.Lock()
	onBind := c.onBind
	c.mu.Unlock()
	if err == nil && onBind != nil {
		err = onBind(ctx, meta.session, full)
	}
	return full, err
}
