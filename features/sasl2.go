package features

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// Namespaces of XEP-0388 and the extensions negotiated inside it.
const (
	// NSSASL2 is XEP-0388 Extensible SASL Profile.
	NSSASL2 = "urn:xmpp:sasl:2"
	// NSBind2 is XEP-0386 Bind 2.
	NSBind2 = "urn:xmpp:bind:0"
	// NSFAST is XEP-0484 Fast Authentication Streamlining Tokens.
	NSFAST = "urn:xmpp:fast:0"
	// NSUpgrade is XEP-0480 SASL Upgrade Tasks.
	NSUpgrade = "urn:xmpp:sasl:upgrade:0"
	// NSSCRAMUpgrade is the XEP-0480 SCRAM upgrade task data.
	NSSCRAMUpgrade = "urn:xmpp:scram-upgrade:0"
)

// SASL2 returns the XEP-0388 stream feature (<authentication/>) for
// session, listed beside RFC 6120's <mechanisms/> after TLS: the same
// mechanisms (pseudomechanisms and plain -PLUS names included), with
// XEP-0440 and XEP-0474 as on RFC 6120, Bind2 and FAST inside <inline/>,
// and the XEP-0480 upgrade tasks. A success needs no stream restart; with a
// Bind2 request in it the session is ready at once (the feature returns
// Authn|Ready), otherwise the client binds with RFC 6120 resource binding
// on the same stream.
func (c *Login) SASL2(session *xmpp.Session) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name: xml.Name{Space: NSSASL2, Local: "authentication"},
		// XEP-0388 §"Security Considerations": only after TLS.
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			if c.srv.cfg.DisableSASL2 {
				return false, nil
			}
			o := c.currentOffer(session)
			if len(o.names) == 0 {
				// "MUST NOT be offered if not at least one mechanism can
				// be provided" (FAST needs a first login to be useful).
				return false, nil
			}
			_, list, _ := o.lists(c.srv)
			return true, writeTokens(e, list)
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			return c.negotiate2(ctx, session)
		},
	}
}

// sasl2Extras is what <authentication/> lists after the mechanisms:
// <inline/> with Bind2 and FAST, then the upgrade tasks.
func (s *Server) sasl2Extras(o *offerTemplate) xml.TokenReader {
	var inline []xml.TokenReader
	if !s.cfg.DisableBind2 {
		var fs []xml.TokenReader
		for _, v := range s.cfg.Bind2Features {
			fs = append(fs, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "feature"}, Attr: []xml.Attr{{Name: xml.Name{Local: "var"}, Value: v}}}))
		}
		var inner xml.TokenReader
		if len(fs) > 0 {
			inner = xmlstream.Wrap(xmlstream.MultiReader(fs...), xml.StartElement{Name: xml.Name{Local: "inline"}})
		}
		inline = append(inline, xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: NSBind2, Local: "bind"}}))
	}
	if len(o.fast) > 0 {
		var ms []xml.TokenReader
		for _, m := range o.fast {
			ms = append(ms, xmlstream.Wrap(xmlstream.Token(xml.CharData(m)), xml.StartElement{Name: xml.Name{Local: "mechanism"}}))
		}
		// No tls-0rtt: crypto/tls servers do not accept early data.
		inline = append(inline, xmlstream.Wrap(xmlstream.MultiReader(ms...), xml.StartElement{Name: xml.Name{Space: NSFAST, Local: "fast"}}))
	}
	var out []xml.TokenReader
	if len(inline) > 0 {
		out = append(out, xmlstream.Wrap(xmlstream.MultiReader(inline...), xml.StartElement{Name: xml.Name{Local: "inline"}}))
	}
	for _, task := range o.upgrades {
		out = append(out, xmlstream.Wrap(xmlstream.Token(xml.CharData(task)), xml.StartElement{Name: xml.Name{Space: NSUpgrade, Local: "upgrade"}}))
	}
	if len(out) == 0 {
		return nil
	}
	return xmlstream.MultiReader(out...)
}

// negotiate2 runs XEP-0388 exchanges until one succeeds, the client
// exhausts its attempts, or the connection fails.
func (c *Login) negotiate2(ctx context.Context, session *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	st, closeFn, err := c.openStream(ctx, session, true)
	if st == nil {
		return 0, nil, err
	}
	defer closeFn()
	if c.srv.cfg.DisableSASL2 || !st.o.secure {
		// Never listed then; mellium routes the element here anyway.
		return 0, nil, closeStream(st.w, session.Conn(), stream.PolicyViolation, "SASL2 is not offered on this stream")
	}
	return st.loop(ctx, func(r *authenticated) (xmpp.SessionState, error) {
		return c.finish2(ctx, st, r)
	}, nil)
}

// finish2 completes a SASL2 attempt whose mechanism succeeded: the XEP-0480
// tasks, Bind2, the FAST token, then <success/> (and, after Bind2, the
// stream features, as no restart follows). A non-fatal error means a
// <failure/> was sent.
func (c *Login) finish2(ctx context.Context, st *exchangeStream, r *authenticated) (xmpp.SessionState, error) {
	req := r.begin.req
	r.id.SASL2 = true
	r.id.UserAgent = req.userAgent

	additional := r.out
	sent, err := c.runTasks(ctx, st, r)
	if err != nil {
		return 0, err
	}
	if sent {
		additional = nil // it went with the first <continue/>
	}

	// Bind2 needs the identity recorded (the host's OnBind may ask for it);
	// a refused binding takes it back.
	c.mu.Lock()
	c.identity = &r.id
	c.mu.Unlock()
	var full jid.JID
	var bound xml.TokenReader
	if req.bind != nil && !c.srv.cfg.DisableBind2 {
		full, bound, err = c.bind2(ctx, st, r.id, req)
		if err != nil {
			c.mu.Lock()
			c.identity = nil
			c.mu.Unlock()
			var app xml.TokenReader
			if se := (stanza.Error{}); errors.As(err, &se) {
				app = se.TokenReader()
			}
			return 0, st.failWith(ctx, r.a, errBindRefused{err}, app)
		}
	}

	token := c.srv.fast.afterLogin(ctx, st, r)

	c.srv.observe(r.a, r.id.ChannelBinding, "", false, true)
	success := successElement2(additional, authorizationIdentifier(r.id, full), bound, token)
	if _, err := xmlstream.Copy(st.w, success); err != nil {
		return 0, fatalError{err}
	}
	c.loggedIn(ctx, st, r.id)
	if full.Equal(jid.JID{}) {
		if err := st.w.Flush(); err != nil {
			return 0, fatalError{err}
		}
		// mellium lists the features of the authenticated stream next
		// (resource binding among them), on the same stream.
		return xmpp.Authn, nil
	}
	c.mu.Lock()
	c.bound = full
	after := c.after
	c.mu.Unlock()
	// XEP-0388: <success/> is followed by the features of the
	// authenticated stream; mellium will not list them, as the session is
	// ready. Clients wait for them (go-xmpp reads one element after
	// <success/>; Prosody's mod_sasl2 always sends them).
	if err := c.writeFeaturesAfterBind(ctx, st, after); err != nil {
		return 0, fatalError{err}
	}
	return xmpp.Authn | xmpp.Ready, nil
}

// authorizationIdentifier is XEP-0388's negotiated identity: the full JID
// once bound, else the bare JID the session acts as.
func authorizationIdentifier(id Identity, full jid.JID) string {
	switch {
	case !full.Equal(jid.JID{}):
		return full.String()
	case !id.Authzid.Equal(jid.JID{}):
		return id.Authzid.Bare().String()
	}
	return id.JID.String()
}

// successElement2 is <success xmlns='urn:xmpp:sasl:2'>.
func successElement2(additional []byte, authzid string, bound, token xml.TokenReader) xml.TokenReader {
	var inner []xml.TokenReader
	if len(additional) > 0 {
		inner = append(inner, additionalData(additional))
	}
	inner = append(inner, textElement("authorization-identifier", authzid))
	if bound != nil {
		inner = append(inner, bound)
	}
	if token != nil {
		inner = append(inner, token)
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{Name: xml.Name{Space: NSSASL2, Local: "success"}})
}

// writeChallenge2 writes <challenge xmlns='urn:xmpp:sasl:2'>.
func writeChallenge2(w xmlstream.TokenWriteFlusher, data []byte) error {
	var inner xml.TokenReader
	if len(data) > 0 {
		inner = xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(data)))
	}
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: NSSASL2, Local: "challenge"}})); err != nil {
		return err
	}
	return w.Flush()
}

// failureElement2 is XEP-0388's <failure/>: the RFC 6120 condition in the
// RFC 6120 namespace, an optional application-specific condition, and the
// text.
func failureElement2(condition, text string, app xml.TokenReader) xml.TokenReader {
	inner := []xml.TokenReader{xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NS, Local: condition}})}
	if app != nil {
		inner = append(inner, app)
	}
	if text != "" {
		inner = append(inner, langText(text))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{Name: xml.Name{Space: NSSASL2, Local: "failure"}})
}

// writeFeaturesAfterBind writes <stream:features/> with what after lists
// for a ready session (nil: the login's own features, of which none is
// listed once the session is ready).
func (c *Login) writeFeaturesAfterBind(ctx context.Context, st *exchangeStream, after func(*xmpp.Session) []xmpp.StreamFeature) error {
	session := st.meta.session
	var fs []xmpp.StreamFeature
	if after != nil {
		fs = after(session)
	}
	state := session.State() | xmpp.Authn | xmpp.Ready
	start := xml.StartElement{Name: xml.Name{Local: "stream:features"}}
	if err := st.w.EncodeToken(start); err != nil {
		return err
	}
	for _, f := range fs {
		if state&f.Necessary != f.Necessary || state&f.Prohibited != 0 || f.List == nil {
			continue
		}
		if _, err := f.List(ctx, st.w, xml.StartElement{Name: f.Name}); err != nil {
			return err
		}
	}
	if err := st.w.EncodeToken(start.End()); err != nil {
		return err
	}
	return st.w.Flush()
}

// ListAfterBind2 sets the features listed in the <stream:features/> that
// follows a SASL2 success with Bind2: f is called with the session and its
// features are listed as a negotiator would for a ready session (those
// whose Necessary bits are set and Prohibited bits are not). A host passes
// the same function its negotiator uses; nil lists nothing.
func (c *Login) ListAfterBind2(f func(*xmpp.Session) []xmpp.StreamFeature) {
	c.mu.Lock()
	c.after = f
	c.mu.Unlock()
}

// errBindRefused is a Bind2 binding the host (or the resource rules)
// refused after the credentials were verified.
type errBindRefused struct{ err error }

func (e errBindRefused) Error() string { return "features: Bind2 refused: " + e.err.Error() }
func (e errBindRefused) Unwrap() error { return e.err }
