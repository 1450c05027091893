package features

import (
	"context"
	"crypto/rand"
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
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/internal/netaddr"
	"github.com/xmppauth/xmppauth/scram"
)

// SASL returns the RFC 6120 SASL stream feature (<mechanisms/>) for
// session: it replaces mellium's xmpp.SASLServer.
func (c *Login) SASL(session *xmpp.Session) xmpp.StreamFeature {
	return xmpp.StreamFeature{
		Name:       xml.Name{Space: NS, Local: "mechanisms"},
		Prohibited: xmpp.Authn,
		List: func(ctx context.Context, e xmlstream.TokenWriter, start xml.StartElement) (bool, error) {
			o := c.currentOffer(session)
			if len(o.names) == 0 {
				// Listed as nothing: a client that tries anyway reaches
				// Negotiate and learns why (encryption-required or
				// invalid-mechanism) instead of a bare policy violation.
				return false, nil
			}
			list, _, _ := o.lists(c.srv)
			return true, writeTokens(e, list)
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			return c.negotiate(ctx, session)
		},
	}
}

// writeMechanisms writes start with a <mechanism/> child per name, then
// whatever extra lists.
func writeMechanisms(e xmlstream.TokenWriter, start xml.StartElement, names []string, extra xml.TokenReader) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	mechanism := xml.StartElement{Name: xml.Name{Local: "mechanism"}}
	for _, name := range names {
		if err := writeText(e, mechanism, name); err != nil {
			return err
		}
	}
	if extra != nil {
		if _, err := xmlstream.Copy(e, extra); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// writeText writes <start>text</start>.
func writeText(e xmlstream.TokenWriter, start xml.StartElement, text string) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeToken(xml.CharData(text)); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// The kinds of SASL element a client sends, in either profile.
const (
	elOther    = iota
	elBegin    // RFC 6120 <auth/>, XEP-0388 <authenticate/>
	elResponse // <response/>
	elAbort    // <abort/>
	elNext     // XEP-0388 <next/>
	elTaskData // XEP-0388 <task-data/>
)

// saslElement is one element a client sends during SASL negotiation.
type saslElement struct {
	kind      int
	name      string // the local name, for logs
	mechanism string // of <auth/>/<authenticate/>; the task of <next/>
	payload   []byte // decoded; nil when there was none
	err       error  // decoding error, reported as a failure
	req       *sasl2Request
}

// deadliner is what the exchange needs of the connection.
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// exchangeStream is one stream's SASL negotiation in one profile: the
// element reader and writer, and the profile's framing.
type exchangeStream struct {
	c     *Login
	meta  connMeta
	d     *xml.Decoder
	w     xmlstream.TokenWriteFlusher
	conn  deadliner
	o     *offer
	sasl2 bool // XEP-0388 framing, else RFC 6120
}

// read reads the next element of the stream's profile within the step
// timeout.
func (st *exchangeStream) read(ctx context.Context) (saslElement, error) {
	if err := st.conn.SetReadDeadline(st.c.stepDeadline(ctx)); err != nil {
		return saslElement{}, err
	}
	if st.sasl2 {
		return st.c.readElement2(st.d)
	}
	return st.c.readElement(st.d)
}

// challenge sends a challenge and returns the payload of the client's
// <response/>.
// expect reads the client's next element, which must be of kind: an I/O
// error is fatal, <abort/> is errAborted, a bad payload its error, another
// element wrong.
func (st *exchangeStream) expect(ctx context.Context, kind int, wrong error) (saslElement, error) {
	el, err := st.read(ctx)
	switch {
	case err != nil:
		return el, fatalError{err}
	case el.err != nil:
		return el, el.err
	case el.kind == elAbort:
		return el, errAborted
	case el.kind != kind:
		return el, wrong
	}
	return el, nil
}

func (st *exchangeStream) challenge(ctx context.Context, data []byte) ([]byte, error) {
	var err error
	if st.sasl2 {
		err = writeChallenge2(st.w, data)
	} else {
		err = writeSASL(st.w, "challenge", data)
	}
	if err != nil {
		return nil, fatalError{err}
	}
	el, err := st.expect(ctx, elResponse, errMalformed)
	if err != nil {
		return nil, err
	}
	if el.payload == nil {
		el.payload = []byte{}
	}
	return el.payload, nil
}

// authenticated is an attempt whose mechanism succeeded and whose identity
// was authorized: what the profile needs to finish it.
type authenticated struct {
	id    Identity
	out   []byte // the mechanism's additional data for success
	a     *attempt
	m     mechanism
	begin saslElement // the <auth/> or <authenticate/> that began it
}

// attempt runs one authentication attempt from its first element until the
// mechanism succeeds (and the identity is authorized) or fails. A non-fatal
// error means a <failure/> was sent. It is the same for both profiles: the
// offered names, the limiter, the mechanisms, the authzid rules, the log
// and the events; only the framing differs.
func (st *exchangeStream) attempt(ctx context.Context) (*authenticated, error) {
	c := st.c
	a := &attempt{}
	el, err := st.read(ctx)
	if err != nil {
		return nil, fatalError{err}
	}
	switch {
	case el.err != nil:
		return nil, st.fail(ctx, a, el.err)
	case el.kind == elAbort:
		return nil, st.fail(ctx, a, errAborted)
	case el.kind != elBegin:
		return nil, st.fail(ctx, a, errMalformed)
	}

	selected := el.mechanism
	a.begun = time.Now()
	if !st.offered(selected) {
		a.requested = selected
		return nil, st.fail(ctx, a, errInvalidMechanism)
	}
	a.mechanism = selected
	if l := c.srv.limiter; l != nil {
		// A banned address is refused before any credential is looked at.
		if _, err := l.Check(ctx, st.meta.RemoteAddr(), ""); err != nil {
			return nil, st.fail(ctx, a, fmt.Errorf("%w: %w", scram.ErrStore, err))
		}
	}
	m, err := c.newMechanism(ctx, st, a, selected, el.req)
	if err != nil {
		return nil, st.fail(ctx, a, err)
	}

	in := el.payload
	if in == nil {
		// No initial response: every mechanism here is client-first, so send
		// an empty challenge (RFC 6120 §6.4.2, XEP-0388 "SASL Data
		// Encoding").
		if in, err = st.challenge(ctx, nil); err != nil {
			return nil, st.failUnlessFatal(ctx, a, err)
		}
	}
	for {
		out, done, err := m.step(ctx, in)
		if err != nil {
			return nil, st.fail(ctx, a, err)
		}
		if done {
			id, err := c.authorize(ctx, st, m, selected)
			if err != nil {
				return nil, st.fail(ctx, a, err)
			}
			if l := c.srv.limiter; l != nil && a.limitKey != "" {
				if err := l.Succeeded(ctx, st.meta.RemoteAddr(), a.limitKey); err != nil {
					c.srv.log.WarnContext(ctx, "login limiter: recording a success failed", "err", err)
				}
			}
			return &authenticated{id: id, out: out, a: a, m: m, begin: el}, nil
		}
		if in, err = st.challenge(ctx, out); err != nil {
			return nil, st.failUnlessFatal(ctx, a, err)
		}
	}
}

// offered reports whether the client may select name on this stream: a
// mechanism of the list, or, on SASL2, a FAST mechanism.
func (st *exchangeStream) offered(name string) bool {
	return st.o.offered(name) || st.sasl2 && slices.Contains(st.o.fast, name)
}

// negotiate runs RFC 6120 SASL exchanges until one succeeds, the client
// exhausts its attempts, or the connection fails.
func (c *Login) negotiate(ctx context.Context, session *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	st, closeFn, err := c.openStream(ctx, session, false)
	if st == nil {
		return 0, nil, err
	}
	defer closeFn()
	o := st.o

	if !o.secure && len(o.names) == 0 {
		// RFC 6120 §6.4.1 / §5.3.1: this server requires TLS first. Answer
		// the attempt and let the client go on with STARTTLS.
		el, err := st.read(ctx)
		if errors.Is(err, errUnexpectedElement) {
			return 0, nil, closeStream(st.w, session.Conn(), stream.NotAuthorized, "negotiate TLS and authenticate first")
		}
		if err != nil {
			return 0, nil, err
		}
		if el.kind == elAbort {
			return 0, nil, st.fail(ctx, &attempt{}, errAborted)
		}
		return 0, nil, st.fail(ctx, &attempt{requested: el.mechanism}, errEncryptionRequired)
	}

	return st.loop(ctx, func(r *authenticated) (xmpp.SessionState, error) {
		c.srv.observe(r.a, r.id.ChannelBinding, "", false, false)
		if err := writeSASL(st.w, "success", r.out); err != nil {
			return 0, fatalError{err}
		}
		c.loggedIn(ctx, st, r.id)
		return xmpp.Authn, nil
	}, session.Conn())
}

// loop runs attempts until one succeeds and finish accepts it, the client
// exhausts its attempts, or the connection fails. rw is what a success
// returns to mellium (the connection for RFC 6120's stream restart, nil for
// SASL2).
func (st *exchangeStream) loop(ctx context.Context, finish func(*authenticated) (xmpp.SessionState, error), rw io.ReadWriter) (xmpp.SessionState, io.ReadWriter, error) {
	c := st.c
	conn := st.meta.session.Conn()
	for failures := 0; ; {
		r, err := st.attempt(ctx)
		if err == nil {
			var mask xmpp.SessionState
			if mask, err = finish(r); err == nil {
				return mask, rw, nil
			}
		}
		if errors.Is(err, errUnexpectedElement) {
			// RFC 6120 §4.9.3.12 (and XEP-0388 "During Authentication"):
			// data other than SASL before authentication.
			return 0, nil, closeStream(st.w, conn, stream.NotAuthorized, "authenticate before sending anything else")
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return 0, nil, fatal.err
		}
		failures++
		if failures >= c.srv.cfg.MaxAttempts {
			c.srv.log.InfoContext(ctx, "sasl attempts exhausted", "attempts", failures, "ip", netaddr.IP(conn.RemoteAddr()))
			return 0, nil, closeStream(st.w, conn, stream.PolicyViolation, "too many failed authentication attempts")
		}
	}
}

// openStream checks the stream's domain and prepares the exchange; a nil
// stream means the negotiation ends with err (a stream error already sent).
// closeFn releases the session's reader and writer.
func (c *Login) openStream(ctx context.Context, session *xmpp.Session, sasl2 bool) (*exchangeStream, func(), error) {
	r := session.TokenReader()
	w := session.TokenWriter()
	conn := session.Conn()
	closeFn := func() {
		restoreDeadline(ctx, conn)
		w.Close()
		r.Close()
	}
	domain, ok := c.srv.streamDomain(session)
	if !ok {
		// The host's stream guard refuses such a header first; this is the
		// check that holds without it.
		c.srv.log.InfoContext(ctx, "stream to a domain not served", "domain", session.LocalAddr().String(),
			"ip", netaddr.IP(conn.RemoteAddr()))
		err := closeStream(w, conn, stream.HostUnknown, "this server does not serve that domain")
		closeFn()
		return nil, nil, err
	}
	st := &exchangeStream{
		c:     c,
		meta:  connMeta{session: session, domain: domain},
		d:     xml.NewTokenDecoder(r),
		w:     w,
		conn:  conn,
		o:     c.currentOffer(session),
		sasl2: sasl2,
	}
	return st, closeFn, nil
}

// loggedIn records and logs a successful login.
func (c *Login) loggedIn(ctx context.Context, st *exchangeStream, id Identity) {
	c.mu.Lock()
	c.identity = &id
	c.mu.Unlock()
	profile := "sasl"
	if st.sasl2 {
		profile = "sasl2"
	}
	c.srv.log.InfoContext(ctx, "sasl login", "jid", id.JID.String(),
		"mechanism", id.Mechanism, "channel_binding", string(id.ChannelBinding), "profile", profile,
		"ip", netaddr.IP(st.meta.RemoteAddr()))
}

// fatalError ends the negotiation without a <failure/> (I/O errors, stream
// errors already sent).
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

// authorize turns a finished mechanism into an Identity: the authzid rules
// and the host's account checks.
func (c *Login) authorize(ctx context.Context, st *exchangeStream, m mechanism, selected string) (Identity, error) {
	cfg := &c.srv.cfg
	meta := st.meta
	identity, authzid, cb := m.result()
	id := Identity{JID: identity, Mechanism: selected, ChannelBinding: cb}
	if authzid != "" {
		az, err := jid.Parse(authzid)
		if err != nil {
			return id, fmt.Errorf("%w: %v", errInvalidAuthzid, err)
		}
		if !az.Domain().Equal(meta.Domain()) {
			// Identities never cross domains, whatever Authorize would say.
			return id, fmt.Errorf("%w: another domain", errInvalidAuthzid)
		}
		if st.sasl2 {
			// XEP-0388 "Initiation": a non-empty authorization string that
			// does not match the stream's from fails the authentication.
			if from := meta.session.RemoteAddr(); !from.Equal(jid.JID{}) && !from.Bare().Equal(az.Bare()) {
				return id, fmt.Errorf("%w: not the stream's from", errInvalidAuthzid)
			}
		}
		if !az.Equal(identity) {
			if cfg.Authorize == nil {
				return id, errInvalidAuthzid
			}
			if err := cfg.Authorize(ctx, meta, identity, az); err != nil {
				return id, fmt.Errorf("%w: %v", errInvalidAuthzid, err)
			}
		}
		id.Authzid = az
	}
	if cfg.AccountStatus != nil {
		if err := cfg.AccountStatus(ctx, meta, identity); err != nil {
			if !errors.Is(err, ErrAccountDisabled) && !errors.Is(err, ErrCredentialsExpired) {
				err = fmt.Errorf("%w: %w", scram.ErrStore, err)
			}
			return id, err
		}
	}
	if a, ok := m.(interface{ authorized(context.Context) }); ok {
		a.authorized(ctx)
	}
	return id, nil
}

// fail sends <failure/> for err, records a guessing failure with the
// limiter, logs one line, and returns err (wrapped as fatal if the failure
// could not be written).
func (st *exchangeStream) fail(ctx context.Context, a *attempt, err error) error {
	return st.failWith(ctx, a, err, nil)
}

// failWith is fail with an application-specific condition for SASL2.
func (st *exchangeStream) failWith(ctx context.Context, a *attempt, err error, appCondition xml.TokenReader) error {
	s := st.c.srv
	condition, text := failureCondition(err)
	ip := netaddr.IP(st.meta.RemoteAddr())
	mechanism := a.mechanism
	if mechanism == "" {
		mechanism = capName(a.requested)
	}
	switch {
	case errors.Is(err, ErrBanned):
		// One line when the ban starts (below); refusals during it are
		// routine.
		s.log.DebugContext(ctx, "sasl refused: address banned", "ip", ip, "mechanism", mechanism)
	default:
		// Our own explanation, else the error (the RFC 5802 e= value, say
		// other-error for a store that is down, would not help).
		reason := text
		if text == "" || text == scram.ServerError(err) {
			reason = failureReason(err)
		}
		s.log.InfoContext(ctx, "sasl failure", "user", a.name, "ip", ip, "mechanism", mechanism,
			"condition", condition, "reason", reason)
	}
	banned := false
	if l := s.limiter; l != nil && guessed(err) && a.limitKey != "" {
		var lerr error
		banned, lerr = l.Failed(ctx, st.meta.RemoteAddr(), a.limitKey)
		switch {
		case lerr != nil:
			s.log.WarnContext(ctx, "login limiter: recording a failure failed", "ip", ip, "err", lerr)
		case banned:
			s.log.InfoContext(ctx, "sasl ban", "ip", ip, "user", a.name)
		}
	}
	s.observe(a, "", condition, banned, st.sasl2)
	var el xml.TokenReader
	if st.sasl2 {
		el = failureElement2(condition, text, appCondition)
	} else {
		el = failureElement(condition, text)
	}
	if _, werr := xmlstream.Copy(st.w, el); werr != nil {
		return fatalError{werr}
	}
	if werr := st.w.Flush(); werr != nil {
		return fatalError{werr}
	}
	return err
}

// observe reports a finished attempt to Config.Observe.
func (s *Server) observe(a *attempt, cb cbind.Type, condition string, banned, sasl2 bool) {
	if s.cfg.Observe == nil {
		return
	}
	var d time.Duration
	if !a.begun.IsZero() {
		d = time.Since(a.begun)
	}
	s.cfg.Observe(LoginEvent{Mechanism: a.mechanism, ChannelBinding: cb, Condition: condition, Duration: d, Banned: banned,
		SASL2: sasl2})
}

// failUnlessFatal sends <failure/> for err unless the connection itself
// failed (or the client sent something other than SASL), which ends the
// negotiation instead.
func (st *exchangeStream) failUnlessFatal(ctx context.Context, a *attempt, err error) error {
	var fatal fatalError
	if errors.As(err, &fatal) {
		return err
	}
	return st.fail(ctx, a, err)
}

// readElement reads the next RFC 6120 SASL element (the caller has set the
// step deadline). I/O errors and anything that is not a SASL element are
// returned as err; a SASL element with a bad payload comes back with el.err
// set.
func (c *Login) readElement(d *xml.Decoder) (saslElement, error) {
	cfg := &c.srv.cfg
	start, err := nextStart(d)
	if err != nil {
		return saslElement{}, err
	}
	if start.Name.Space != NS {
		return saslElement{}, errUnexpectedElement
	}
	el := saslElement{name: start.Name.Local}
	switch el.name {
	case "auth":
		el.kind = elBegin
	case "response":
		el.kind = elResponse
	case "abort":
		el.kind = elAbort
	}
	for _, a := range start.Attr {
		if a.Name.Local == "mechanism" && a.Name.Space == "" {
			el.mechanism = a.Value
		}
	}
	if len(el.mechanism) > 64 {
		el.mechanism = el.mechanism[:64]
	}

	// Read the character data, refusing to keep more than the cap.
	maxEncoded := base64.StdEncoding.EncodedLen(cfg.MaxPayloadSize)
	var text []byte
	empty := true
	for depth := 1; depth > 0; {
		tok, err := d.Token()
		if err != nil {
			return saslElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			el.err = errMalformed
		case xml.EndElement:
			depth--
		case xml.CharData:
			empty = false
			if len(text)+len(t) > maxEncoded {
				el.err = errPayloadTooLarge
				continue
			}
			text = append(text, t...)
		}
	}
	if el.err != nil || empty && len(text) == 0 {
		return el, nil
	}
	// RFC 6120 §6.4.2: "=" is an empty response; anything else must be
	// base64 without whitespace.
	if string(text) == "=" {
		el.payload = []byte{}
		return el, nil
	}
	el.payload, el.err = decodeBase64(text)
	return el, nil
}

// nextStart returns the next start element, skipping whitespace between
// elements; anything else is an error.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return s, nil
		}
		// Whitespace between elements is allowed; anything else is not.
		if cd, ok := tok.(xml.CharData); !ok || strings.TrimSpace(string(cd)) != "" {
			return xml.StartElement{}, fmt.Errorf("features: unexpected %T during SASL", tok)
		}
	}
}

// decodeBase64 decodes strict base64 (no whitespace, canonical padding);
// empty text is an error.
func decodeBase64(text []byte) ([]byte, error) {
	payload := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(payload, text)
	if err != nil || len(text) == 0 {
		return nil, errIncorrectEncoding
	}
	return payload[:n], nil
}

// writeSASL writes <name xmlns=NS>base64(data)</name>; empty data is "="
// for challenges and an empty element for success.
func writeSASL(w xmlstream.TokenWriteFlusher, name string, data []byte) error {
	var inner xml.TokenReader
	switch {
	case len(data) > 0:
		inner = xmlstream.Token(xml.CharData(base64.StdEncoding.EncodeToString(data)))
	case name == "challenge":
		inner = xmlstream.Token(xml.CharData("="))
	}
	if _, err := xmlstream.Copy(w, xmlstream.Wrap(inner, xml.StartElement{Name: xml.Name{Space: NS, Local: name}})); err != nil {
		return err
	}
	return w.Flush()
}

// closeStream sends a stream error and the closing stream tag, and returns
// the error for the negotiator to end the session with.
func closeStream(w xmlstream.TokenWriteFlusher, conn io.Writer, e stream.Error, text string) error {
	if text != "" {
		e.Text = append(e.Text, struct {
			Lang  string
			Value string
		}{Lang: "en", Value: text})
	}
	if _, err := e.WriteXML(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if _, err := io.WriteString(conn, "</stream:stream>"); err != nil {
		return err
	}
	return e
}

// stepDeadline is when the client's next message must have arrived.
func (c *Login) stepDeadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(c.srv.cfg.StepTimeout.D())
	if ctxDeadline, ok := ctx.Deadline(); ok && ctxDeadline.Before(deadline) {
		return ctxDeadline
	}
	return deadline
}

func randomResource() string { return rand.Text() }

func restoreDeadline(ctx context.Context, conn interface{ SetReadDeadline(time.Time) error }) {
	deadline, _ := ctx.Deadline() // zero when ctx has none
	_ = conn.SetReadDeadline(deadline)
}

// newMechanism starts the server side of the selected mechanism for
// attempt a; req is the SASL2 request (nil on RFC 6120).
func (c *Login) newMechanism(ctx context.Context, st *exchangeStream, a *attempt, selected string, req *sasl2Request) (mechanism, error) {
	meta, o := st.meta, st.o
	store := accountStore{srv: c.srv, meta: meta, a: a}
	switch selected {
	case PLAIN:
		return &plainMechanism{store: store, profile: &c.srv.plain}, nil
	case EXTERNAL:
		return c.newExternal(ctx, meta, o)
	}
	if ht, ok := htMechanismByName(selected); ok {
		return c.srv.fast.newMechanism(st, store, ht, req)
	}
	name, require := selected, cbind.Type("")
	if strings.ContainsRune(selected, ':') {
		var err error
		if name, require, err = cbind.ParsePseudomechanism(selected); err != nil {
			return nil, errInvalidMechanism
		}
	}
	for _, m := range c.srv.scram {
		if m.mech.Name() != name {
			continue
		}
		cb := scram.ChannelBinding{
			Advertised: o.plus,
			Require:    require,
			Data:       o.data,
		}
		return &scramMechanism{ex: m.server.StartWith(store, cb, o.ssdp), a: a}, nil
	}
	return nil, errInvalidMechanism
}
