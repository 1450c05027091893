package saslclient

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/cbind"
)

// sasl2Offer is what the server's <authentication/> feature offered.
type sasl2Offer struct {
	mechanisms []string   // as received: the XEP-0474 input
	inline     []xml.Name // children of <inline/>
	bind2      bool       // <bind xmlns='urn:xmpp:bind:0'/> inline
	bindVars   []string   // its <inline><feature var/></inline>
	fast       []string   // FAST mechanisms, as received
}

func (c *Client) sasl2Feature() xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: nsSASL2, Local: "authentication"},
		Necessary:  xmpp.Secure,
		Prohibited: xmpp.Authn,
		List: func(context.Context, xmlstream.TokenWriter, xml.StartElement) (bool, error) {
			return false, errors.New("saslclient: client-side feature cannot be listed")
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			off, err := parseAuthentication(d)
			return true, off, err
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			return c.negotiate(ctx, session)
		},
	}
}

// parseAuthentication reads the children of <authentication/> (the start
// element already consumed). The limits are those of parseMechanisms, and
// MaxElements for the inline lists.
func parseAuthentication(d *xml.Decoder) (*sasl2Offer, error) {
	off := &sasl2Offer{mechanisms: []string{}}
	err := children(d, "authentication", func(t xml.StartElement) (bool, error) {
		var err error
		switch t.Name {
		case xml.Name{Space: nsSASL2, Local: "mechanism"}:
			off.mechanisms, err = appendMechanism(d, off.mechanisms)
		case xml.Name{Space: nsSASL2, Local: "inline"}:
			err = parseInline(d, off)
		default:
			// XEP-0233 hostname hints, XEP-0480 upgrades, …
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return off, nil
}

// parseInline reads the children of the SASL2 <inline/>.
func parseInline(d *xml.Decoder, off *sasl2Offer) error {
	return children(d, "inline", func(t xml.StartElement) (bool, error) {
		if len(off.inline) >= MaxElements {
			return true, fmt.Errorf("%w: more than %d inline features", ErrMalformed, MaxElements)
		}
		off.inline = append(off.inline, t.Name)
		var err error
		switch t.Name {
		case xml.Name{Space: nsBind2, Local: "bind"}:
			off.bind2 = true
			off.bindVars, err = parseBindFeature(d)
		case xml.Name{Space: nsFAST, Local: "fast"}:
			off.fast, err = parseFASTFeature(d)
		default:
			return false, nil
		}
		return true, err
	})
}

// parseBindFeature reads the children of the Bind 2 feature: the 'var' of
// each <inline><feature/></inline>.
func parseBindFeature(d *xml.Decoder) ([]string, error) {
	vars := []string{}
	err := children(d, "bind", func(t xml.StartElement) (bool, error) {
		if t.Name != (xml.Name{Space: nsBind2, Local: "inline"}) {
			return false, nil
		}
		return true, children(d, "bind", func(t xml.StartElement) (bool, error) {
			if t.Name != (xml.Name{Space: nsBind2, Local: "feature"}) {
				return false, nil
			}
			if len(vars) >= MaxElements {
				return true, fmt.Errorf("%w: more than %d Bind 2 inline features", ErrMalformed, MaxElements)
			}
			v, ok := attr(t, "var")
			if !ok || v == "" || len(v) > maxUserAgentLen {
				return true, fmt.Errorf("%w: Bind 2 inline feature without a valid var", ErrMalformed)
			}
			vars = append(vars, v)
			return false, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return vars, nil
}

// parseFASTFeature reads the mechanisms of the FAST feature.
func parseFASTFeature(d *xml.Decoder) ([]string, error) {
	return readNames(d, "fast", []string{}, xml.Name{Space: nsFAST, Local: "mechanism"})
}

func attr(start xml.StartElement, local string) (string, bool) {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}

// sasl2 is the XEP-0388 profile.
type sasl2 struct {
	s         *saslStream
	userAgent UserAgent
	// extras go into <authenticate/> after <user-agent/>: Bind 2, FAST and
	// the caller's inline elements.
	extras []xml.TokenReader
}

func (t *sasl2) start(mechanism string, initial []byte) error {
	children := []xml.TokenReader{
		xmlstream.Wrap(
			xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(initial))),
			xml.StartElement{Name: xml.Name{Local: "initial-response"}},
		),
		userAgentElement(t.userAgent),
	}
	children = append(children, t.extras...)
	return t.s.send(xmlstream.Wrap(
		xmlstream.MultiReader(children...),
		xml.StartElement{
			Name: xml.Name{Space: nsSASL2, Local: "authenticate"},
			Attr: []xml.Attr{{Name: xml.Name{Local: "mechanism"}, Value: mechanism}},
		},
	))
}

func userAgentElement(ua UserAgent) xml.TokenReader {
	start := xml.StartElement{Name: xml.Name{Local: "user-agent"}}
	if ua.ID != "" {
		start.Attr = []xml.Attr{{Name: xml.Name{Local: "id"}, Value: ua.ID}}
	}
	var children []xml.TokenReader
	for _, f := range []struct{ name, v string }{{"software", ua.Software}, {"device", ua.Device}} {
		if f.v != "" {
			children = append(children, xmlstream.Wrap(xmlstream.Token(xml.CharData(f.v)), xml.StartElement{Name: xml.Name{Local: f.name}}))
		}
	}
	return xmlstream.Wrap(xmlstream.MultiReader(children...), start)
}

func (t *sasl2) respond(data []byte) error {
	var inner xml.TokenReader
	if len(data) > 0 {
		inner = xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(data)))
	}
	return t.s.send(xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: nsSASL2, Local: "response"}}))
}

func (t *sasl2) abort() error {
	return t.s.send(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsSASL2, Local: "abort"}}))
}

// sasl2Success is what a SASL2 <success/> says beyond the mechanism's data.
type sasl2Success struct {
	authzid  string // as received (trimmed), "" when absent
	bound    bool
	boundEls []Element
	token    *Token // Mechanism unset: the client knows what it asked for
	other    []Element
}

func (t *sasl2) next() (outcome, error) {
	start, err := t.s.nextStart()
	if err != nil {
		return outcome{}, err
	}
	return readSASL2(t.s.d, start)
}

// readSASL2 reads the server element start opened: <challenge/>,
// <success/>, <failure/> or <continue/>.
func readSASL2(d *xml.Decoder, start xml.StartElement) (outcome, error) {
	el := outcome{kind: start.Name.Local}
	if start.Name.Space != nsSASL2 {
		return el, fmt.Errorf("%w: unexpected element <%s/> during SASL2", ErrMalformed, start.Name.Local)
	}
	var err error
	switch el.kind {
	case "challenge":
		el.data, err = readSASLData(d)
	case "success":
		err = readSuccess2(d, &el)
	case "failure":
		el.failure, err = readFailure2(d)
	case "continue":
		err = readContinue(d, &el)
	default:
		err = fmt.Errorf("%w: unexpected element <%s/> during SASL2", ErrMalformed, el.kind)
	}
	return el, err
}

// readSASLData reads the base64 content of <challenge/> or
// <additional-data/>.
func readSASLData(d *xml.Decoder) ([]byte, error) {
	text, err := readText(d, base64.StdEncoding.EncodedLen(MaxServerMessageLen)+64)
	if err != nil {
		return nil, err
	}
	return decodeSASLData(text, false)
}

// readSuccess2 reads the children of a SASL2 <success/>.
func readSuccess2(d *xml.Decoder, el *outcome) error {
	s := &sasl2Success{}
	el.success = s
	var seenData, seenID, seenToken bool
	return childElements(d, "success", func(t xml.StartElement) (bool, error) {
		var dup bool
		var err error
		switch t.Name {
		case xml.Name{Space: nsSASL2, Local: "additional-data"}:
			dup, seenData = seenData, true
			if el.data, err = readSASLData(d); err != nil {
				return true, err
			}
		case xml.Name{Space: nsSASL2, Local: "authorization-identifier"},
			// XEP-0386 and XEP-0484 print this name in their examples.
			xml.Name{Space: nsSASL2, Local: "authorization-identity"}:
			dup, seenID = seenID, true
			text, err := readText(d, maxJIDLen+64)
			if err != nil {
				return true, err
			}
			s.authzid = strings.TrimSpace(text)
		case xml.Name{Space: nsBind2, Local: "bound"}:
			dup, s.bound = s.bound, true
			if s.boundEls, err = captureChildren(d, "bound"); err != nil {
				return true, err
			}
		case xml.Name{Space: nsFAST, Local: "token"}:
			dup, seenToken = seenToken, true
			if s.token, err = parseTokenElement(t); err != nil {
				return true, err
			}
			if err := skip(d, "token"); err != nil {
				return true, err
			}
		default:
			if len(s.other) >= MaxElements {
				return true, fmt.Errorf("%w: more than %d elements in <success/>", ErrMalformed, MaxElements)
			}
			e, err := captureElement(d, t, MaxElementLen)
			if err != nil {
				return true, err
			}
			s.other = append(s.other, e)
		}
		if dup {
			return true, fmt.Errorf("%w: repeated <%s/> in <success/>", ErrMalformed, t.Name.Local)
		}
		return true, nil
	})
}

// captureChildren keeps the child elements of the current element.
func captureChildren(d *xml.Decoder, parent string) ([]Element, error) {
	els := []Element{}
	err := childElements(d, parent, func(t xml.StartElement) (bool, error) {
		if len(els) >= MaxElements {
			return true, fmt.Errorf("%w: more than %d elements in <%s/>", ErrMalformed, MaxElements, parent)
		}
		e, err := captureElement(d, t, MaxElementLen)
		if err != nil {
			return true, err
		}
		els = append(els, e)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return els, nil
}

// parseTokenElement reads the attributes of a XEP-0484 <token/>: the secret
// and the XEP-0082 expiry, both required.
func parseTokenElement(start xml.StartElement) (*Token, error) {
	secret, ok := attr(start, "token")
	if !ok || secret == "" || len(secret) > maxTokenLen || !xmlText(secret) {
		return nil, fmt.Errorf("%w: FAST <token/> without a valid token attribute", ErrMalformed)
	}
	expiry, ok := attr(start, "expiry")
	if !ok {
		return nil, fmt.Errorf("%w: FAST <token/> without expiry", ErrMalformed)
	}
	exp, err := time.Parse(time.RFC3339, strings.TrimSpace(expiry))
	if err != nil {
		return nil, fmt.Errorf("%w: FAST <token/> expiry is not a XEP-0082 DateTime", ErrMalformed)
	}
	return &Token{Secret: secret, Expiry: exp}, nil
}

// readFailure2 reads the children of a SASL2 <failure/>: the RFC 6120
// condition, <text/> and application-specific conditions.
func readFailure2(d *xml.Decoder) (*Failure, error) {
	f := &Failure{}
	err := children(d, "failure", func(t xml.StartElement) (bool, error) {
		switch {
		case t.Name == xml.Name{Space: nsSASL2, Local: "text"}:
			var err error
			f.Text, err = readText(d, maxFailureText)
			return true, err
		case t.Name.Space == nsSASL && f.Condition == "" && len(t.Name.Local) <= 64:
			f.Condition = t.Name.Local
		case t.Name.Space != nsSASL && len(f.AppSpecific) < MaxElements:
			f.AppSpecific = append(f.AppSpecific, t.Name)
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if f.Condition == "" {
		f.Condition = "not-authorized" // XEP-0388: the condition is required
	}
	return f, nil
}

// readContinue reads the children of <continue/>.
func readContinue(d *xml.Decoder, el *outcome) error {
	ce := &ContinueError{}
	var seenTasks bool
	err := children(d, "continue", func(t xml.StartElement) (bool, error) {
		var err error
		switch t.Name {
		case xml.Name{Space: nsSASL2, Local: "additional-data"}:
			el.data, err = readSASLData(d)
		case xml.Name{Space: nsSASL2, Local: "text"}:
			ce.Text, err = readText(d, maxFailureText)
		case xml.Name{Space: nsSASL2, Local: "tasks"}:
			if seenTasks {
				return true, fmt.Errorf("%w: repeated <tasks/>", ErrMalformed)
			}
			seenTasks = true
			ce.Tasks, err = readTasks(d)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return err
	}
	if !seenTasks || len(ce.Tasks) == 0 {
		return fmt.Errorf("%w: <continue/> without tasks", ErrMalformed)
	}
	el.tasks = ce
	return nil
}

func readTasks(d *xml.Decoder) ([]string, error) {
	return readNames(d, "tasks", nil, xml.Name{Space: nsSASL2, Local: "task"})
}

// negotiateSASL2 logs in with XEP-0388: with a stored FAST token where one
// can be used, else (or after the server refused the token) with the
// password. No stream restart follows.
func (c *Client) negotiateSASL2(ctx context.Context, session *xmpp.Session, off *sasl2Offer, types []string) (xmpp.SessionState, io.ReadWriter, error) {
	st := c.tlsState(session)
	username := c.username(session)
	account := accountOf(username, session.LocalAddr())
	o := offer{mechanisms: off.mechanisms, types: types, sasl2: true}

	s, done := c.newStream(ctx, session)
	defer done()
	t := &sasl2{s: s, userAgent: c.cfg.UserAgent}

	var refused *Failure
	var unusable error // why a stored token was not used (nil: none stored)
	if store := c.cfg.FAST.Tokens; store != nil {
		tok, ht, ok, why, err := c.storedToken(store, account, off, st)
		if err != nil {
			return 0, nil, err
		}
		unusable = why
		if ok {
			res, el, err := c.loginHT(t, off, st, username, account, tok, ht)
			if err == nil {
				return c.finishSASL2(session, res, el, ht.name, account)
			}
			var f *Failure
			if errors.As(err, &f) || errors.Is(err, ErrServerSignature) {
				// XEP-0484: a refused token is discarded. One the server
				// could not prove it knows may have reached someone else.
				if derr := store.DeleteToken(account); derr != nil {
					return 0, nil, errors.Join(err, derr)
				}
			}
			if f == nil || c.password == "" {
				return 0, nil, err
			}
			refused = f
		}
	}
	if c.password == "" { // and no token was used: a usable one has returned
		if unusable != nil {
			return 0, nil, fmt.Errorf("%w: %v", ErrTokenUnusable, unusable)
		}
		return 0, nil, fmt.Errorf("%w: no password and no FAST token", ErrNoMechanism)
	}

	p, err := choose(&c.cfg, o, st.conn)
	if err != nil {
		return 0, nil, err
	}
	var fast xml.TokenReader
	var tokenMech string
	if c.cfg.FAST.Tokens != nil && !c.cfg.FAST.Invalidate {
		if ht, ok := chooseHT(&c.cfg, off.fast, st.conn); ok {
			tokenMech = ht.name
			fast = xmlstream.Wrap(nil, xml.StartElement{
				Name: xml.Name{Space: nsFAST, Local: "request-token"},
				Attr: []xml.Attr{{Name: xml.Name{Local: "mechanism"}, Value: ht.name}},
			})
		}
	}
	t.extras = c.extras(off, fast)
	res, el, err := c.loginPassword(t, p, o, st, username)
	if err != nil {
		return 0, nil, err
	}
	res.TokenRefused = refused
	return c.finishSASL2(session, res, el, tokenMech, account)
}

// accountOf is the TokenStore key: the bare JID logged in as.
func accountOf(username string, origin jid.JID) string {
	if j, err := jid.New(username, origin.Domainpart(), ""); err == nil {
		return j.String()
	}
	return username + "@" + origin.Domainpart()
}

// storedToken loads the account's token and decides whether it can be used
// here; why says why not (nil: there is none).
func (c *Client) storedToken(store TokenStore, account string, off *sasl2Offer, st *tlsState) (tok Token, ht htMechanism, ok bool, why error, err error) {
	tok, found, err := store.LoadToken(account)
	if err != nil || !found {
		return tok, ht, false, nil, err
	}
	ht, known := parseHT(tok.Mechanism)
	switch {
	case !known || tok.Secret == "":
		return tok, ht, false, fmt.Errorf("token for an unknown mechanism %q", tok.Mechanism), store.DeleteToken(account)
	case !c.cfg.Clock.Now().Before(tok.Expiry):
		return tok, ht, false, errors.New("token expired"), store.DeleteToken(account)
	case !slices.Contains(off.fast, tok.Mechanism):
		return tok, ht, false, fmt.Errorf("the server does not offer %s for FAST", tok.Mechanism), nil
	case ht.cbType == "" && !c.cfg.FAST.AllowNoBinding:
		return tok, ht, false, fmt.Errorf("%s uses no channel binding and FAST.AllowNoBinding is off", tok.Mechanism), nil
	case ht.cbType != "" && !slices.Contains(st.conn.available, ht.cbType):
		return tok, ht, false, fmt.Errorf("%s needs %s, which this connection cannot give", tok.Mechanism, ht.cbType), nil
	}
	return tok, ht, true, nil, nil
}

// loginHT authenticates with the token (draft-schmaus-kitten-sasl-ht):
// one message each way.
func (c *Client) loginHT(t *sasl2, off *sasl2Offer, st *tlsState, username, account string, tok Token, ht htMechanism) (Result, outcome, error) {
	var cbData []byte
	if ht.cbType != "" {
		var err error
		if cbData, err = cbind.Data(ht.cbType, &st.cs, st.leaf); err != nil {
			return Result{}, outcome{}, fmt.Errorf("saslclient: channel binding %s: %w", ht.cbType, err)
		}
	}
	// The count goes to the store before it goes to the server, so that it
	// is never sent twice.
	tok.Count++
	if err := c.cfg.FAST.Tokens.StoreToken(account, tok); err != nil {
		return Result{}, outcome{}, err
	}
	fastAttrs := []xml.Attr{{Name: xml.Name{Local: "count"}, Value: strconv.FormatUint(tok.Count, 10)}}
	if c.cfg.FAST.Invalidate {
		fastAttrs = append(fastAttrs, xml.Attr{Name: xml.Name{Local: "invalidate"}, Value: "true"})
	}
	t.extras = c.extras(off, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: nsFAST, Local: "fast"}, Attr: fastAttrs}))

	msg := append([]byte(username+"\x00"), htProof(ht.hash, tok.Secret, "Initiator", cbData)...)
	if err := t.start(ht.name, msg); err != nil {
		return Result{}, outcome{}, err
	}
	el, err := t.next()
	if err != nil {
		return Result{}, el, err
	}
	switch el.kind {
	case "success", "continue":
		want := htProof(ht.hash, tok.Secret, "Responder", cbData)
		if len(el.data) == 0 || !hmac.Equal(el.data, want) {
			err = fmt.Errorf("%w: HT answer missing or wrong", ErrServerSignature)
		}
		if err != nil || el.kind == "continue" { // XEP-0484 forbids tasks after a token login
			return Result{}, el, endWith(t, el, err)
		}
	default:
		return Result{}, el, unexpected(el)
	}
	return Result{Mechanism: ht.name, ChannelBinding: ht.cbType, FAST: true}, el, nil
}

// extras builds the <authenticate/> children after <user-agent/>.
func (c *Client) extras(off *sasl2Offer, fast xml.TokenReader) []xml.TokenReader {
	var out []xml.TokenReader
	if off.bind2 && !c.cfg.Bind2.Disable {
		out = append(out, c.bindRequest(off))
	}
	if fast != nil {
		out = append(out, fast)
	}
	if c.cfg.Inline != nil {
		out = append(out, c.cfg.Inline(slices.Clone(off.inline))...)
	}
	return out
}

func (c *Client) bindRequest(off *sasl2Offer) xml.TokenReader {
	tag := c.cfg.Bind2.Tag
	if tag == "" {
		tag = c.cfg.UserAgent.Software
	}
	var children []xml.TokenReader
	if tag != "" {
		children = append(children, xmlstream.Wrap(xmlstream.Token(xml.CharData(tag)), xml.StartElement{Name: xml.Name{Local: "tag"}}))
	}
	if c.cfg.Bind2.Inline != nil {
		children = append(children, c.cfg.Bind2.Inline(slices.Clone(off.bindVars))...)
	}
	return xmlstream.Wrap(xmlstream.MultiReader(children...), xml.StartElement{Name: xml.Name{Space: nsBind2, Local: "bind"}})
}

// finishSASL2 reads what a SASL2 <success/> says beyond the mechanism:
// the authorization identifier, Bind 2 and a FAST token. tokenMech is the
// mechanism a token in it is for: the one asked for, or the one just used
// (rotation); "" when the client expects none.
func (c *Client) finishSASL2(session *xmpp.Session, res Result, el outcome, tokenMech, account string) (xmpp.SessionState, io.ReadWriter, error) {
	succ := el.success
	if succ == nil || succ.authzid == "" {
		return 0, nil, fmt.Errorf("%w: SASL2 <success/> without an authorization identifier", ErrMalformed)
	}
	j, err := jid.Parse(succ.authzid)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: authorization identifier is not a JID", ErrMalformed)
	}
	res.SASL2, res.JID = true, j
	res.SuccessElements = succ.other
	if succ.bound {
		if j.Resourcepart() == "" {
			return 0, nil, fmt.Errorf("%w: <bound/> with a bare authorization identifier", ErrMalformed)
		}
		res.Bound, res.BoundElements = true, succ.boundEls
	}

	store := c.cfg.FAST.Tokens
	switch {
	case store == nil:
	case res.FAST && c.cfg.FAST.Invalidate:
		if err := store.DeleteToken(account); err != nil {
			return 0, nil, err
		}
		res.TokenInvalidated = true
	case succ.token != nil && tokenMech != "" && c.cfg.Clock.Now().Before(succ.token.Expiry):
		tok := *succ.token
		tok.Mechanism = tokenMech
		if err := store.StoreToken(account, tok); err != nil {
			return 0, nil, err
		}
		res.TokenStored = true
	}
	if res.Bound && !session.UpdateAddr(j) {
		return 0, nil, errors.New("saslclient: session already ready, cannot set the bound address")
	}
	c.setResult(res)
	return xmpp.Authn, nil, nil
}

// Negotiator returns xmpp.NewNegotiator(cfg), extended for Bind 2: after a
// SASL2 login that bound a resource inline, it reads the features list that
// follows <success/> into Result.Features and marks the session ready,
// instead of letting mellium negotiate that list (it fails on a list that
// holds only features the client does not know, and would bind again if
// the server still listed RFC 6120 binding). Without Bind 2 it is
// xmpp.NewNegotiator(cfg).
func (c *Client) Negotiator(cfg func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig) xmpp.Negotiator {
	inner := xmpp.NewNegotiator(cfg)
	return func(ctx context.Context, in, out *stream.Info, s *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, interface{}, error) {
		mask, rw, cache, err := inner(ctx, in, out, s, data)
		if err != nil || rw != nil || mask&xmpp.Ready != 0 || !c.takeFeaturesPending() {
			return mask, rw, cache, err
		}
		features, err := c.readFeatures(ctx, s)
		if err != nil {
			// The session is lost: so is the login.
			c.mu.Lock()
			c.result = nil
			c.mu.Unlock()
			return mask, nil, cache, err
		}
		c.mu.Lock()
		c.result.Features = features
		c.mu.Unlock()
		return mask | xmpp.Ready, nil, cache, nil
	}
}

func (c *Client) takeFeaturesPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.featuresPending
	c.featuresPending = false
	return p
}

// readFeatures reads a <stream:features/> list into Elements.
func (c *Client) readFeatures(ctx context.Context, session *xmpp.Session) ([]Element, error) {
	r := session.TokenReader()
	defer r.Close()
	s := &saslStream{ctx: ctx, conn: session.Conn(), timeout: c.cfg.StepTimeout.D(), d: xml.NewTokenDecoder(r)}
	defer s.restoreDeadline()
	start, err := s.nextStart()
	if err != nil {
		return nil, err
	}
	switch start.Name {
	case xml.Name{Space: stream.NS, Local: "features"}:
	case xml.Name{Space: stream.NS, Local: "error"}:
		var se stream.Error
		if err := s.d.DecodeElement(&se, &start); err != nil {
			return nil, fmt.Errorf("%w: stream error: %v", ErrMalformed, err)
		}
		return nil, se
	default:
		return nil, fmt.Errorf("%w: <%s/> instead of stream features after SASL2", ErrMalformed, start.Name.Local)
	}
	return captureChildren(s.d, "features")
}
