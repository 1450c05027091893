package saslclient

import (
	"context"
	"crypto/hmac"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// negotiate runs one login on session with the profile Config prefers among
// those the server offered.
func (c *Client) negotiate(ctx context.Context, session *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	var types []string
	if d, ok := session.Feature(cbind.NS); ok {
		at, _ := d.(*advertisedTypes)
		if at == nil {
			return 0, nil, errors.New("saslclient: XEP-0440 was advertised but not parsed: list every feature of Client.Features")
		}
		types = at.types
	}
	if !c.cfg.DisableSASL2 {
		if d, ok := session.Feature(nsSASL2); ok {
			if off, _ := d.(*sasl2Offer); off != nil {
				return c.negotiateSASL2(ctx, session, off, types)
			}
		}
	}
	d, ok := session.Feature(nsSASL)
	mechanisms, _ := d.([]string)
	if !ok || mechanisms == nil {
		if c.cfg.DisableSASL2 {
			return 0, nil, fmt.Errorf("%w: the server offers SASL2 only and DisableSASL2 is set", ErrNoMechanism)
		}
		return 0, nil, fmt.Errorf("%w: RFC 6120 SASL not offered", ErrNoMechanism)
	}
	return c.negotiateSASL1(ctx, session, offer{mechanisms: mechanisms, types: types})
}

// tlsState is what the client knows about its TLS connection.
type tlsState struct {
	cs   tls.ConnectionState
	leaf *x509.Certificate
	conn connection
}

func (c *Client) tlsState(session *xmpp.Session) *tlsState {
	st := &tlsState{cs: session.ConnectionState()}
	if len(st.cs.PeerCertificates) > 0 {
		st.leaf = st.cs.PeerCertificates[0]
	}
	st.conn = c.connection(&st.cs, st.leaf)
	return st
}

func (c *Client) username(session *xmpp.Session) string {
	if c.cfg.Username != "" {
		return c.cfg.Username
	}
	return session.LocalAddr().Localpart()
}

func (c *Client) newStream(ctx context.Context, session *xmpp.Session) (*saslStream, func()) {
	s := &saslStream{
		ctx:     ctx,
		conn:    session.Conn(),
		timeout: c.cfg.StepTimeout.D(),
	}
	r := session.TokenReader()
	w := session.TokenWriter()
	s.d = xml.NewTokenDecoder(r)
	s.w = w
	return s, func() {
		s.restoreDeadline()
		w.Close()
		r.Close()
	}
}

// negotiateSASL1 logs in with RFC 6120 SASL; a stream restart follows.
func (c *Client) negotiateSASL1(ctx context.Context, session *xmpp.Session, o offer) (xmpp.SessionState, io.ReadWriter, error) {
	st := c.tlsState(session)
	if c.password == "" {
		return 0, nil, fmt.Errorf("%w: no password, and FAST needs SASL2", ErrNoMechanism)
	}
	p, err := choose(&c.cfg, o, st.conn)
	if err != nil {
		return 0, nil, err
	}
	s, done := c.newStream(ctx, session)
	defer done()
	t := &sasl1{s: s}
	res, _, err := c.loginPassword(t, p, o, st, c.username(session))
	if err != nil {
		return 0, nil, err
	}
	c.setResult(res)
	return xmpp.Authn, session.Conn(), nil
}

// connection describes what cs can give, filtered by the configuration.
func (c *Client) connection(cs *tls.ConnectionState, leaf *x509.Certificate) connection {
	var conn connection
	if cs.Version == 0 {
		return conn
	}
	for _, t := range cbind.Available(cs, leaf) {
		if c.cfg.bindingEnabled(t) {
			conn.available = append(conn.available, t)
		}
	}
	if t, ok := cbind.Default(cs); ok && slices.Contains(conn.available, t) {
		conn.defaultCB, conn.hasDefault = t, true
	}
	return conn
}

// outcome is one server element of an exchange, in either profile.
type outcome struct {
	kind    string // "challenge", "success", "failure" or "continue"
	data    []byte // challenge data, or the additional data of success and continue
	failure *Failure
	tasks   *ContinueError
	success *sasl2Success // SASL2 <success/> details
}

// transport is a SASL profile: RFC 6120 (sasl1) or XEP-0388 (sasl2).
type transport interface {
	// start sends <auth/> or <authenticate/> with the initial response.
	start(mechanism string, initial []byte) error
	// respond sends <response/>.
	respond(data []byte) error
	// abort sends <abort/>.
	abort() error
	// next reads the server's next element.
	next() (outcome, error)
}

// unexpected turns an element that does not fit the exchange into an error.
func unexpected(o outcome) error {
	switch {
	case o.failure != nil:
		return o.failure
	case o.kind == "success" || o.kind == "challenge":
		if _, err := parseServerFinal(o.data); err != nil {
			var se *ServerError
			if errors.As(err, &se) {
				return se
			}
		}
	}
	return fmt.Errorf("%w: unexpected <%s/>", ErrMalformed, o.kind)
}

// endWith is err, for the server's last element el: after a <continue/>
// (tasks, which this client runs none of) it sends <abort/> first, and
// with no error of its own returns the tasks.
func endWith(t transport, el outcome, err error) error {
	if el.kind != "continue" {
		return err
	}
	if err == nil {
		err = el.tasks
	}
	return abortWith(t, err)
}

// abortWith sends <abort/> and returns err: the client gives up (the server
// answers with a failure, which is not waited for).
func abortWith(t transport, err error) error {
	if werr := t.abort(); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// loginPassword runs the password mechanism p over t and returns the final
// outcome (a success).
func (c *Client) loginPassword(t transport, p plan, o offer, st *tlsState, username string) (Result, outcome, error) {
	if p.plain {
		return c.loginPLAIN(t, username)
	}
	return c.loginSCRAM(t, p, o, st, username)
}

func (c *Client) loginPLAIN(t transport, username string) (Result, outcome, error) {
	msg := []byte(c.cfg.Authzid + "\x00" + username + "\x00" + c.password)
	defer clear(msg)
	if err := t.start(mechPLAIN, msg); err != nil {
		return Result{}, outcome{}, err
	}
	el, err := t.next()
	if err != nil {
		return Result{}, el, err
	}
	switch el.kind {
	case "success":
		return Result{Mechanism: mechPLAIN}, el, nil
	case "continue":
		return Result{}, el, abortWith(t, el.tasks)
	}
	return Result{}, el, unexpected(el)
}

func (c *Client) loginSCRAM(t transport, p plan, o offer, st *tlsState, username string) (Result, outcome, error) {
	var cbData []byte
	if p.cbType != "" {
		var err error
		if cbData, err = cbind.Data(p.cbType, &st.cs, st.leaf); err != nil {
			return Result{}, outcome{}, fmt.Errorf("saslclient: channel binding %s: %w", p.cbType, err)
		}
	}
	sc, err := newScramClient(p.mech, username, c.cfg.Authzid, c.password, p.flag, cbData, c.cfg.Rand)
	if err != nil {
		return Result{}, outcome{}, err
	}
	sc.cache, sc.minIter, sc.maxIter = c.cfg.Cache, c.cfg.MinIterations, c.cfg.MaxIterations

	if err := t.start(p.name, sc.first()); err != nil {
		return Result{}, outcome{}, err
	}
	el, err := t.next()
	if err != nil {
		return Result{}, el, err
	}
	if el.kind != "challenge" {
		return Result{}, el, unexpected(el)
	}
	final, err := sc.final(el.data, func(sf serverFirst) error {
		return c.checkDowngrade(p, o, sf)
	})
	if err != nil {
		return Result{}, el, abortWith(t, err)
	}
	if err := t.respond(final); err != nil {
		return Result{}, el, err
	}

	if el, err = t.next(); err != nil {
		return Result{}, el, err
	}
	switch el.kind {
	case "challenge":
		// Some servers send server-final in a challenge and <success/>
		// after an empty response.
		if err := sc.verifyFinal(el.data); err != nil {
			sc.forget()
			return Result{}, el, abortWith(t, err)
		}
		if err := t.respond(nil); err != nil {
			return Result{}, el, err
		}
		if el, err = t.next(); err != nil {
			return Result{}, el, err
		}
		switch el.kind {
		case "success":
		case "continue":
			return Result{}, el, abortWith(t, el.tasks)
		default:
			return Result{}, el, unexpected(el)
		}
		if len(el.data) > 0 {
			if err := sc.verifyFinal(el.data); err != nil {
				return Result{}, el, err
			}
		}
	case "success", "continue":
		var err error
		if len(el.data) == 0 {
			// The server never proved that it knows the credentials.
			err = fmt.Errorf("%w: <%s/> without server-final", ErrServerSignature, el.kind)
		} else if err = sc.verifyFinal(el.data); err != nil {
			sc.forget()
		}
		if err != nil || el.kind == "continue" {
			return Result{}, el, endWith(t, el, err)
		}
	default:
		sc.forget()
		return Result{}, el, unexpected(el)
	}
	return Result{Mechanism: p.name, ChannelBinding: p.cbType, DowngradeProtected: sc.h != nil}, el, nil
}

// checkDowngrade applies XEP-0474 §6.2 (and its modified XEP-0440 rule 6)
// to server-first.
func (c *Client) checkDowngrade(p plan, o offer, sf serverFirst) error {
	if sf.h == nil {
		switch {
		case c.cfg.RequireDowngradeProtection:
			return fmt.Errorf("%w: the server sent no XEP-0474 h attribute", ErrDowngrade)
		case p.rule6 && o.types != nil && !slices.Contains(o.types, string(cbind.TLSServerEndPoint)):
			// XEP-0440 business rule 6: without the hash, a binding list
			// that lacks the mandatory tls-server-end-point is a MITM's.
			return fmt.Errorf("%w: -PLUS offered without a usable binding type or tls-server-end-point, and no XEP-0474 hash", ErrDowngrade)
		}
		return nil
	}
	want := downgradeHash(p.mech.Hash(), scram.DowngradeProtectionInput(o.mechanisms, o.types))
	if !hmac.Equal(sf.h, want) {
		return fmt.Errorf("%w: XEP-0474 hash does not match the advertised lists", ErrDowngrade)
	}
	return nil
}

// saslStream reads and writes SASL elements with a deadline per step.
type saslStream struct {
	ctx     context.Context
	conn    interface{ SetReadDeadline(time.Time) error }
	timeout time.Duration
	d       *xml.Decoder
	w       xmlstream.TokenWriteFlusher
}

// send writes r and flushes.
func (s *saslStream) send(r xml.TokenReader) error {
	if _, err := xmlstream.Copy(s.w, r); err != nil {
		return err
	}
	return s.w.Flush()
}

func (s *saslStream) deadline() time.Time {
	d := time.Now().Add(s.timeout)
	if cd, ok := s.ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

func (s *saslStream) restoreDeadline() {
	d, _ := s.ctx.Deadline()
	_ = s.conn.SetReadDeadline(d)
}

// nextStart returns the start of the server's next element, skipping
// whitespace, within the step deadline. Stream errors come back as the
// stream.Error mellium's reader returns.
func (s *saslStream) nextStart() (xml.StartElement, error) {
	if err := s.ctx.Err(); err != nil {
		return xml.StartElement{}, err
	}
	if err := s.conn.SetReadDeadline(s.deadline()); err != nil {
		return xml.StartElement{}, err
	}
	for {
		tok, err := s.d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if st, ok := tok.(xml.StartElement); ok {
			return st, nil
		}
		if cd, ok := tok.(xml.CharData); !ok || strings.TrimSpace(string(cd)) != "" {
			return xml.StartElement{}, fmt.Errorf("%w: unexpected %T during SASL", ErrMalformed, tok)
		}
	}
}

// sasl1 is the RFC 6120 §6 profile.
type sasl1 struct {
	s *saslStream
}

func (t *sasl1) write(name, mechanism string, data []byte) error {
	start := xml.StartElement{Name: xml.Name{Space: nsSASL, Local: name}}
	if mechanism != "" {
		start.Attr = []xml.Attr{{Name: xml.Name{Local: "mechanism"}, Value: mechanism}}
	}
	var inner xml.TokenReader
	switch {
	case len(data) > 0:
		inner = xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(data)))
	case name == "auth":
		inner = xmlstream.Token(xml.CharData("=")) // RFC 6120 §6.4.2
	}
	return t.s.send(xmlstream.Wrap(inner, start))
}

func (t *sasl1) start(mechanism string, initial []byte) error {
	return t.write("auth", mechanism, initial)
}

func (t *sasl1) respond(data []byte) error { return t.write("response", "", data) }

func (t *sasl1) abort() error { return t.write("abort", "", nil) }

func (t *sasl1) next() (outcome, error) {
	start, err := t.s.nextStart()
	if err != nil {
		return outcome{}, err
	}
	el := outcome{kind: start.Name.Local}
	if start.Name.Space != nsSASL {
		return el, fmt.Errorf("%w: unexpected element <%s/> during SASL", ErrMalformed, start.Name.Local)
	}
	switch el.kind {
	case "failure":
		f, err := readFailure(t.s.d)
		if err != nil {
			return el, err
		}
		el.failure = f
		return el, nil
	case "challenge", "success":
	default:
		return el, fmt.Errorf("%w: unexpected element <%s/> during SASL", ErrMalformed, el.kind)
	}
	text, err := readText(t.s.d, base64.StdEncoding.EncodedLen(MaxServerMessageLen))
	if err != nil {
		return el, err
	}
	el.data, err = decodeSASLData(text, true)
	return el, err
}

// decodeSASLData decodes base64 element text, surrounding whitespace
// ignored; with equalsEmpty, RFC 6120's "=" is the empty string.
func decodeSASLData(text string, equalsEmpty bool) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" || equalsEmpty && text == "=" {
		return nil, nil
	}
	b, err := base64.StdEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not valid base64", ErrMalformed)
	}
	return b, nil
}

// readFailure reads the children of an RFC 6120 <failure/>.
func readFailure(d *xml.Decoder) (*Failure, error) {
	f := &Failure{}
	err := children(d, "failure", func(t xml.StartElement) (bool, error) {
		if t.Name.Local == "text" {
			text, err := readText(d, maxFailureText)
			f.Text = text
			return true, err
		}
		if f.Condition == "" && len(t.Name.Local) <= 64 {
			f.Condition = t.Name.Local
		}
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if f.Condition == "" {
		f.Condition = "not-authorized" // RFC 6120 §6.5: the condition is required
	}
	return f, nil
}
