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
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/cbind"
)

// negotiate runs one login on session.
func (c *Client) negotiate(ctx context.Context, session *xmpp.Session, data interface{}) (xmpp.SessionState, io.ReadWriter, error) {
	mechanisms, _ := data.([]string)
	o := offer{mechanisms: mechanisms}
	if d, ok := session.Feature(cbind.NS); ok {
		at, _ := d.(*advertisedTypes)
		if at == nil {
			return 0, nil, errors.New("saslclient: XEP-0440 was advertised but not parsed: list every feature of Client.Features")
		}
		o.types = at.types
	}

	cs := session.ConnectionState()
	var leaf *x509.Certificate
	if len(cs.PeerCertificates) > 0 {
		leaf = cs.PeerCertificates[0]
	}
	conn := c.connection(&cs, leaf)
	p, err := choose(&c.cfg, o, conn)
	if err != nil {
		return 0, nil, err
	}

	username := c.cfg.Username
	if username == "" {
		username = session.LocalAddr().Localpart()
	}

	s := &saslStream{
		ctx:     ctx,
		conn:    session.Conn(),
		timeout: c.cfg.StepTimeout,
	}
	r := session.TokenReader()
	defer r.Close()
	w := session.TokenWriter()
	defer w.Close()
	s.d = xml.NewTokenDecoder(r)
	s.w = w
	defer s.restoreDeadline()

	var res Result
	if p.plain {
		res, err = c.loginPLAIN(s, username)
	} else {
		res, err = c.loginSCRAM(s, p, o, &cs, leaf, username)
	}
	if err != nil {
		return 0, nil, err
	}
	c.mu.Lock()
	c.result = &res
	c.mu.Unlock()
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

func (c *Client) loginPLAIN(s *saslStream, username string) (Result, error) {
	msg := []byte(c.cfg.Authzid + "\x00" + username + "\x00" + c.password)
	defer clear(msg)
	if err := s.write("auth", PLAIN, msg); err != nil {
		return Result{}, err
	}
	el, err := s.read()
	if err != nil {
		return Result{}, err
	}
	if el.name != "success" {
		return Result{}, s.unexpected(el)
	}
	return Result{Mechanism: PLAIN}, nil
}

func (c *Client) loginSCRAM(s *saslStream, p plan, o offer, cs *tls.ConnectionState, leaf *x509.Certificate, username string) (Result, error) {
	var cbData []byte
	if p.cbType != "" {
		var err error
		if cbData, err = cbind.Data(p.cbType, cs, leaf); err != nil {
			return Result{}, fmt.Errorf("saslclient: channel binding %s: %w", p.cbType, err)
		}
	}
	sc, err := newScramClient(p.mech, username, c.cfg.Authzid, c.password, p.flag, cbData, c.cfg.Rand)
	if err != nil {
		return Result{}, err
	}
	sc.cache, sc.minIter, sc.maxIter = c.cfg.Cache, c.cfg.MinIterations, c.cfg.MaxIterations

	if err := s.write("auth", p.name, sc.first()); err != nil {
		return Result{}, err
	}
	el, err := s.read()
	if err != nil {
		return Result{}, err
	}
	if el.name != "challenge" {
		return Result{}, s.unexpected(el)
	}
	final, err := sc.final(el.payload, func(sf serverFirst) error {
		return c.checkDowngrade(p, o, sf)
	})
	if err != nil {
		return Result{}, s.abort(err)
	}
	if err := s.write("response", "", final); err != nil {
		return Result{}, err
	}

	el, err = s.read()
	if err != nil {
		return Result{}, err
	}
	switch el.name {
	case "challenge":
		// Some servers send server-final in a challenge and <success/>
		// after an empty response.
		if err := sc.verifyFinal(el.payload); err != nil {
			sc.forget()
			return Result{}, s.abort(err)
		}
		if err := s.write("response", "", nil); err != nil {
			return Result{}, err
		}
		if el, err = s.read(); err != nil {
			return Result{}, err
		}
		if el.name != "success" {
			return Result{}, s.unexpected(el)
		}
		if len(el.payload) > 0 {
			if err := sc.verifyFinal(el.payload); err != nil {
				return Result{}, err
			}
		}
	case "success":
		if len(el.payload) == 0 {
			// The server never proved that it knows the credentials.
			return Result{}, fmt.Errorf("%w: success without server-final", ErrServerSignature)
		}
		if err := sc.verifyFinal(el.payload); err != nil {
			sc.forget()
			return Result{}, err
		}
	default:
		sc.forget()
		return Result{}, s.unexpected(el)
	}
	return Result{Mechanism: p.name, ChannelBinding: p.cbType, DowngradeProtected: sc.h != nil}, nil
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
	want := downgradeHash(p.mech.Hash(), downgradeInput(o.mechanisms, o.types))
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

// saslElement is one element the server sent.
type saslElement struct {
	name    string // challenge, success or failure
	payload []byte // decoded
	failure *Failure
}

func (s *saslStream) write(name, mechanism string, data []byte) error {
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: name}}
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
	if _, err := xmlstream.Copy(s.w, xmlstream.Wrap(inner, start)); err != nil {
		return err
	}
	return s.w.Flush()
}

// abort sends <abort/> and returns err: the client gives up (the server
// answers with <failure><aborted/></failure>, which is not waited for).
func (s *saslStream) abort(err error) error {
	if werr := s.write("abort", "", nil); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// unexpected turns an element that does not fit the exchange into an error.
func (s *saslStream) unexpected(el saslElement) error {
	if el.failure != nil {
		return el.failure
	}
	if el.name == "success" || el.name == "challenge" {
		if _, err := parseServerFinal(el.payload); err != nil {
			var se *ServerError
			if errors.As(err, &se) {
				return se
			}
		}
	}
	return fmt.Errorf("%w: unexpected <%s/>", ErrMalformed, el.name)
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

// read returns the next SASL element from the server.
func (s *saslStream) read() (saslElement, error) {
	if err := s.ctx.Err(); err != nil {
		return saslElement{}, err
	}
	if err := s.conn.SetReadDeadline(s.deadline()); err != nil {
		return saslElement{}, err
	}
	var start xml.StartElement
	for {
		tok, err := s.d.Token()
		if err != nil {
			return saslElement{}, err
		}
		if st, ok := tok.(xml.StartElement); ok {
			start = st
			break
		}
		if cd, ok := tok.(xml.CharData); !ok || strings.TrimSpace(string(cd)) != "" {
			return saslElement{}, fmt.Errorf("%w: unexpected %T during SASL", ErrMalformed, tok)
		}
	}
	if start.Name.Space == stream.NS && start.Name.Local == "error" {
		var se stream.Error
		if err := s.d.DecodeElement(&se, &start); err != nil {
			return saslElement{}, fmt.Errorf("%w: stream error: %v", ErrMalformed, err)
		}
		return saslElement{}, se
	}
	el := saslElement{name: start.Name.Local}
	if start.Name.Space != NS {
		return el, fmt.Errorf("%w: unexpected element <%s/> during SASL", ErrMalformed, start.Name.Local)
	}
	switch el.name {
	case "failure":
		f, err := readFailure(s.d)
		if err != nil {
			return el, err
		}
		el.failure = f
		return el, nil
	case "challenge", "success":
	default:
		return el, fmt.Errorf("%w: unexpected element <%s/> during SASL", ErrMalformed, el.name)
	}
	text, err := readText(s.d, base64.StdEncoding.EncodedLen(MaxServerMessageLen))
	if err != nil {
		return el, err
	}
	text = strings.TrimSpace(text)
	if text == "" || text == "=" {
		return el, nil
	}
	if el.payload, err = base64.StdEncoding.Strict().DecodeString(text); err != nil {
		return el, fmt.Errorf("%w: payload is not valid base64", ErrMalformed)
	}
	return el, nil
}

// readFailure reads the children of <failure/>.
func readFailure(d *xml.Decoder) (*Failure, error) {
	f := &Failure{}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: failure: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if f.Condition == "" {
				f.Condition = "not-authorized" // RFC 6120 §6.5: the condition is required
			}
			return f, nil
		case xml.StartElement:
			if t.Name.Local == "text" {
				text, err := readText(d, maxFailureText)
				if err != nil {
					return nil, err
				}
				f.Text = text
				continue
			}
			if f.Condition == "" && len(t.Name.Local) <= 64 {
				f.Condition = t.Name.Local
			}
			if err := d.Skip(); err != nil {
				return nil, fmt.Errorf("%w: failure: %v", ErrMalformed, err)
			}
		}
	}
}
