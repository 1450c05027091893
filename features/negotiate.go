package features

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/cbind"
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
			mechanism := xml.StartElement{Name: xml.Name{Local: "mechanism"}}
			var inner []xml.TokenReader
			for _, name := range o.names {
				inner = append(inner, xmlstream.Wrap(xmlstream.Token(xml.CharData(name)), mechanism))
			}
			_, err := xmlstream.Copy(e, xmlstream.Wrap(xmlstream.MultiReader(inner...), start))
			return true, err
		},
		Parse: func(ctx context.Context, d *xml.Decoder, start *xml.StartElement) (bool, interface{}, error) {
			return true, nil, d.Skip()
		},
		Negotiate: func(ctx context.Context, session *xmpp.Session, _ interface{}) (xmpp.SessionState, io.ReadWriter, error) {
			return c.negotiate(ctx, session)
		},
	}
}

// saslElement is one element a client sends during SASL negotiation.
type saslElement struct {
	name      string // auth, response or abort
	mechanism string
	payload   []byte // decoded; nil when the element was empty
	err       error  // decoding error, reported as a failure
}

// negotiate runs SASL exchanges until one succeeds, the client exhausts its
// attempts, or the connection fails.
func (c *Login) negotiate(ctx context.Context, session *xmpp.Session) (xmpp.SessionState, io.ReadWriter, error) {
	cfg := &c.srv.cfg
	r := session.TokenReader()
	defer r.Close()
	w := session.TokenWriter()
	defer w.Close()
	d := xml.NewTokenDecoder(r)
	conn := session.Conn()
	defer restoreDeadline(ctx, conn)

	domain, ok := c.srv.streamDomain(session)
	if !ok {
		// The host's stream guard refuses such a header first; this is the
		// check that holds without it.
		c.srv.log.InfoContext(ctx, "stream to a domain not served", "domain", session.LocalAddr().String(),
			"ip", remoteIP(conn.RemoteAddr()))
		return 0, nil, closeStream(w, conn, stream.HostUnknown, "this server does not serve that domain")
	}
	meta := connMeta{session: session, domain: domain}
	o := c.currentOffer(session)

	if !o.secure && len(o.names) == 0 {
		// RFC 6120 §6.4.1 / §5.3.1: this server requires TLS first. Answer
		// the attempt and let the client go on with STARTTLS.
		el, err := c.readElement(ctx, d, conn)
		if errors.Is(err, errUnexpectedElement) {
			return 0, nil, closeStream(w, conn, stream.NotAuthorized, "negotiate TLS and authenticate first")
		}
		if err != nil {
			return 0, nil, err
		}
		if el.name == "abort" {
			return 0, nil, c.fail(ctx, w, meta, &attempt{}, errAborted, "")
		}
		return 0, nil, c.fail(ctx, w, meta, &attempt{}, errEncryptionRequired, el.mechanism)
	}

	for failures := 0; ; {
		id, err := c.exchange(ctx, session, meta, d, w, conn, o)
		if err == nil {
			c.mu.Lock()
			c.identity = &id
			c.mu.Unlock()
			c.srv.log.InfoContext(ctx, "sasl login", "jid", id.JID.String(),
				"mechanism", id.Mechanism, "channel_binding", string(id.ChannelBinding),
				"ip", remoteIP(conn.RemoteAddr()))
			return xmpp.Authn, session.Conn(), nil
		}
		if errors.Is(err, errUnexpectedElement) {
			// RFC 6120 §4.9.3.12: data other than SASL before authentication.
			return 0, nil, closeStream(w, conn, stream.NotAuthorized, "authenticate before sending anything else")
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return 0, nil, fatal.err
		}
		failures++
		if failures >= cfg.MaxAttempts {
			c.srv.log.InfoContext(ctx, "sasl attempts exhausted", "attempts", failures, "ip", remoteIP(conn.RemoteAddr()))
			return 0, nil, closeStream(w, conn, stream.PolicyViolation, "too many failed authentication attempts")
		}
	}
}

// fatalError ends the negotiation without a <failure/> (I/O errors, stream
// errors already sent).
type fatalError struct{ err error }

func (f fatalError) Error() string { return f.err.Error() }
func (f fatalError) Unwrap() error { return f.err }

// exchange runs one authentication attempt, from <auth/> to <success/> or
// <failure/>. A non-fatal error means a <failure/> was sent.
func (c *Login) exchange(ctx context.Context, session *xmpp.Session, meta connMeta, d *xml.Decoder, w xmlstream.TokenWriteFlusher, conn interface {
	SetReadDeadline(time.Time) error
}, o *offer) (Identity, error) {
	a := &attempt{}
	el, err := c.readElement(ctx, d, conn)
	if err != nil {
		return Identity{}, fatalError{err}
	}
	switch {
	case el.err != nil:
		return Identity{}, c.fail(ctx, w, meta, a, el.err, el.mechanism)
	case el.name == "abort":
		return Identity{}, c.fail(ctx, w, meta, a, errAborted, "")
	case el.name != "auth":
		return Identity{}, c.fail(ctx, w, meta, a, errMalformed, "")
	}

	selected := el.mechanism
	a.begun = time.Now()
	if !o.offered(selected) {
		return Identity{}, c.fail(ctx, w, meta, a, errInvalidMechanism, selected)
	}
	a.mechanism = selected
	if l := c.srv.limiter; l != nil {
		// A banned address is refused before any credential is looked at.
		if _, err := l.Check(ctx, meta.RemoteAddr(), ""); err != nil {
			return Identity{}, c.fail(ctx, w, meta, a, fmt.Errorf("%w: %w", scram.ErrStore, err), selected)
		}
	}
	m, err := c.newMechanism(ctx, meta, o, a, selected)
	if err != nil {
		return Identity{}, c.fail(ctx, w, meta, a, err, selected)
	}

	in := el.payload
	if in == nil {
		// No initial response: every mechanism here is client-first, so send
		// an empty challenge (RFC 6120 §6.4.2).
		if in, err = c.challenge(ctx, d, w, conn, nil); err != nil {
			return Identity{}, c.failUnlessFatal(ctx, w, meta, a, err, selected)
		}
	}
	for {
		out, done, err := m.step(ctx, in)
		if err != nil {
			return Identity{}, c.fail(ctx, w, meta, a, err, selected)
		}
		if done {
			id, err := c.authorize(ctx, meta, m, selected)
			if err != nil {
				return Identity{}, c.fail(ctx, w, meta, a, err, selected)
			}
			if l := c.srv.limiter; l != nil && a.limitKey != "" {
				if err := l.Succeeded(ctx, meta.RemoteAddr(), a.limitKey); err != nil {
					c.srv.log.WarnContext(ctx, "login limiter: recording a success failed", "err", err)
				}
			}
			if err := writeSASL(w, "success", out); err != nil {
				return Identity{}, fatalError{err}
			}
			c.srv.observe(a, id.ChannelBinding, "", false)
			return id, nil
		}
		if in, err = c.challenge(ctx, d, w, conn, out); err != nil {
			return Identity{}, c.failUnlessFatal(ctx, w, meta, a, err, selected)
		}
	}
}

// challenge sends a challenge and returns the payload of the client's
// <response/>.
func (c *Login) challenge(ctx context.Context, d *xml.Decoder, w xmlstream.TokenWriteFlusher, conn interface {
	SetReadDeadline(time.Time) error
}, data []byte) ([]byte, error) {
	if err := writeSASL(w, "challenge", data); err != nil {
		return nil, fatalError{err}
	}
	el, err := c.readElement(ctx, d, conn)
	switch {
	case err != nil:
		return nil, fatalError{err}
	case el.err != nil:
		return nil, el.err
	case el.name == "abort":
		return nil, errAborted
	case el.name != "response":
		return nil, errMalformed
	}
	if el.payload == nil {
		el.payload = []byte{}
	}
	return el.payload, nil
}

// authorize turns a finished mechanism into an Identity: the authzid rules
// and the host's account checks.
func (c *Login) authorize(ctx context.Context, meta connMeta, m mechanism, selected string) (Identity, error) {
	cfg := &c.srv.cfg
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
	return id, nil
}

// fail sends <failure/> for err, records a guessing failure with the
// limiter, logs one line, and returns err (wrapped as fatal if the failure
// could not be written).
func (c *Login) fail(ctx context.Context, w xmlstream.TokenWriteFlusher, meta connMeta, a *attempt, err error, mechanism string) error {
	condition, text := failureCondition(err)
	ip := remoteIP(meta.RemoteAddr())
	switch {
	case errors.Is(err, ErrBanned):
		// One line when the ban starts (below); refusals during it are
		// routine.
		c.srv.log.DebugContext(ctx, "sasl refused: address banned", "ip", ip, "mechanism", mechanism)
	default:
		reason := text
		if reason == "" {
			reason = failureReason(err)
		}
		c.srv.log.InfoContext(ctx, "sasl failure", "user", a.name, "ip", ip, "mechanism", mechanism,
			"condition", condition, "reason", reason)
	}
	banned := false
	if l := c.srv.limiter; l != nil && guessed(err) && a.limitKey != "" {
		var lerr error
		banned, lerr = l.Failed(ctx, meta.RemoteAddr(), a.limitKey)
		switch {
		case lerr != nil:
			c.srv.log.WarnContext(ctx, "login limiter: recording a failure failed", "ip", ip, "err", lerr)
		case banned:
			c.srv.log.InfoContext(ctx, "sasl ban", "ip", ip, "user", a.name)
		}
	}
	c.srv.observe(a, "", condition, banned)
	if _, werr := xmlstream.Copy(w, failureElement(condition, text)); werr != nil {
		return fatalError{werr}
	}
	if werr := w.Flush(); werr != nil {
		return fatalError{werr}
	}
	return err
}

// observe reports a finished attempt to Config.Observe.
func (s *Server) observe(a *attempt, cb cbind.Type, condition string, banned bool) {
	if s.cfg.Observe == nil {
		return
	}
	var d time.Duration
	if !a.begun.IsZero() {
		d = time.Since(a.begun)
	}
	s.cfg.Observe(LoginEvent{Mechanism: a.mechanism, ChannelBinding: cb, Condition: condition, Duration: d, Banned: banned})
}

// failUnlessFatal sends <failure/> for err unless the connection itself
// failed (or the client sent something other than SASL), which ends the
// negotiation instead.
func (c *Login) failUnlessFatal(ctx context.Context, w xmlstream.TokenWriteFlusher, meta connMeta, a *attempt, err error, mechanism string) error {
	var fatal fatalError
	if errors.As(err, &fatal) {
		return err
	}
	return c.fail(ctx, w, meta, a, err, mechanism)
}

// remoteIP is the address part of a remote address, for logs (fail2ban
// matches it); the whole address when it has no port.
func remoteIP(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	s := addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// readElement reads the next SASL element within the step timeout. I/O
// errors and anything that is not a SASL element are returned as err; a
// SASL element with a bad payload comes back with el.err set.
func (c *Login) readElement(ctx context.Context, d *xml.Decoder, conn interface {
	SetReadDeadline(time.Time) error
}) (saslElement, error) {
	cfg := &c.srv.cfg
	if err := conn.SetReadDeadline(c.stepDeadline(ctx)); err != nil {
		return saslElement{}, err
	}
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return saslElement{}, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			start = s
			break
		}
		// Whitespace between elements is allowed; anything else is not.
		if cd, ok := tok.(xml.CharData); !ok || strings.TrimSpace(string(cd)) != "" {
			return saslElement{}, fmt.Errorf("features: unexpected %T during SASL", tok)
		}
	}
	if start.Name.Space != NS {
		return saslElement{}, errUnexpectedElement
	}
	el := saslElement{name: start.Name.Local}
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
	payload := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(payload, text)
	if err != nil || len(text) == 0 {
		el.err = errIncorrectEncoding
		return el, nil
	}
	el.payload = payload[:n]
	return el, nil
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
	deadline := time.Now().Add(c.srv.cfg.StepTimeout)
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
// attempt a.
func (c *Login) newMechanism(ctx context.Context, meta connMeta, o *offer, a *attempt, selected string) (mechanism, error) {
	store := accountStore{srv: c.srv, meta: meta, domain: meta.Domain(), a: a}
	switch selected {
	case PLAIN:
		return &plainMechanism{store: store, profile: &c.srv.plain}, nil
	case EXTERNAL:
		return c.newExternal(ctx, meta, o)
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
			Data: func(t cbind.Type) ([]byte, error) {
				if data, ok := o.cbData[t]; ok {
					return data, nil
				}
				if t == cbind.TLSUnique && o.tls13 {
					return nil, errTLSUniqueOnTLS13
				}
				return nil, cbind.ErrUnavailable
			},
		}
		return &scramMechanism{ex: m.server.StartWith(store, cb, o.ssdp), a: a}, nil
	}
	return nil, errInvalidMechanism
}
