package xmppauth

import (
	"bytes"
	"context"
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
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"
)

// Errors of ReadStanza.
var (
	// ErrNotStanza: a top-level element that is not an iq, message or
	// presence of jabber:client. ReadStanza's error also matches
	// stream.UnsupportedStanzaType (errors.As), which Conn.Close sends.
	ErrNotStanza = errors.New("xmppauth: not a stanza")
	// ErrBadTo: the to attribute is not a JID (answer <jid-malformed/>; the
	// Stanza is returned).
	ErrBadTo = errors.New("xmppauth: malformed to address")
)

// Stanza is one top-level stanza a client sent, read whole, with the from
// attribute already set to the client's bound full JID (whatever the client
// wrote: the identity comes from the authenticated account only), and the
// attributes a router needs. The stream guard has made sure it has no
// duplicate attribute and is within the size limit.
type Stanza struct {
	tokens []xml.Token // start element first, end element last
	// Kind is iq, message or presence.
	Kind string
	// Type and ID are the type and id attributes.
	Type, ID string
	// To and From are the addresses; From is the bound JID.
	To, From jid.JID
}

// ReadStanza reads the next stanza of session, sent by the client that
// bound the connection's JID. It returns io.EOF when the stream ends (also
// when the client closed the connection without a closing tag), a
// guard.Error when the stream guard refused what the client sent.
func (c *Conn) ReadStanza(session *xmpp.Session) (*Stanza, error) {
	r := session.TokenReader()
	defer r.Close()
	tok, err := r.Token()
	var syntax *xml.SyntaxError
	switch {
	case errors.As(err, &syntax) && syntax.Msg == "unexpected EOF":
		return nil, io.EOF // go-sendxmpp closes without a closing tag
	case err != nil:
		return nil, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		err = ErrNotStanza // the guard lets only elements through here
	} else {
		var st *Stanza
		if st, err = newStanza(start, xmlstream.Inner(r), false); st != nil {
			st.SetFrom(c.Bound())
			return st, err
		}
	}
	if errors.Is(err, ErrNotStanza) {
		err = fmt.Errorf("%w (%w)", err, stream.UnsupportedStanzaType)
	}
	return nil, err
}

// NewStanza reads the rest of the stanza that starts with start from inner
// (which returns io.EOF after the end element). Server-side code uses it to
// build stanzas it sends.
func NewStanza(start xml.StartElement, inner xml.TokenReader) (*Stanza, error) {
	return newStanza(start, inner, true)
}

// newStanza is NewStanza; without parseFrom the from attribute is left for
// the caller to replace (ReadStanza stamps the bound JID).
func newStanza(start xml.StartElement, inner xml.TokenReader, parseFrom bool) (*Stanza, error) {
	if start.Name.Space == "" {
		start.Name.Space = stanza.NSClient // built in Go, not decoded
	}
	if !stanza.Is(start.Name, stanza.NSClient) {
		return nil, fmt.Errorf("%w: %s %s", ErrNotStanza, start.Name.Space, start.Name.Local)
	}
	start = withoutNSDecls(start.Copy())
	st := &Stanza{Kind: start.Name.Local, tokens: []xml.Token{start}}
	for {
		tok, err := inner.Token()
		if tok != nil {
			tok = xml.CopyToken(tok)
			if s, ok := tok.(xml.StartElement); ok {
				tok = withoutNSDecls(s)
			}
			st.tokens = append(st.tokens, tok)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	st.tokens = append(st.tokens, start.End())
	for _, a := range start.Attr {
		var err error
		switch a.Name {
		case xml.Name{Local: "type"}:
			st.Type = a.Value
		case xml.Name{Local: "id"}:
			st.ID = a.Value
		case xml.Name{Local: "to"}:
			st.To, err = jid.Parse(a.Value)
		case xml.Name{Local: "from"}:
			if parseFrom {
				st.From, _ = jid.Parse(a.Value)
			}
		}
		if err != nil {
			return st, fmt.Errorf("%w: %v", ErrBadTo, err)
		}
	}
	return st, nil
}

// withoutNSDecls drops namespace declarations: the decoder resolved every
// name, and encoding/xml writes its own (re-encoding xmlns:p attributes
// breaks the XML).
func withoutNSDecls(s xml.StartElement) xml.StartElement {
	s.Attr = slices.DeleteFunc(s.Attr, func(a xml.Attr) bool {
		return a.Name.Space == "xmlns" || a.Name == xml.Name{Local: "xmlns"}
	})
	return s
}

// Start returns the stanza's start element (not to be modified).
func (st *Stanza) Start() xml.StartElement { return st.tokens[0].(xml.StartElement) }

// setAttr sets (or adds) an unqualified attribute of the start element.
func (st *Stanza) setAttr(name, value string) {
	s := st.Start()
	attrs := slices.DeleteFunc(slices.Clone(s.Attr), func(a xml.Attr) bool { return a.Name == xml.Name{Local: name} })
	st.tokens[0] = xml.StartElement{Name: s.Name, Attr: append(attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})}
}

// SetFrom stamps the sender's address.
func (st *Stanza) SetFrom(j jid.JID) { st.From = j; st.setAttr("from", j.String()) }

// SetTo readdresses the stanza.
func (st *Stanza) SetTo(j jid.JID) { st.To = j; st.setAttr("to", j.String()) }

// Clone returns a copy that SetTo or SetFrom on either does not affect.
func (st *Stanza) Clone() *Stanza {
	c := *st
	c.tokens = slices.Clone(st.tokens)
	return &c
}

// Reader returns the stanza's tokens, to send it. The start element is
// copied each time: mellium's encoder edits attributes in place, and a
// stanza may go to several sessions.
func (st *Stanza) Reader() xml.TokenReader {
	i := 0
	return xmlstream.ReaderFunc(func() (xml.Token, error) {
		if i >= len(st.tokens) {
			return nil, io.EOF
		}
		i++
		if i == 1 {
			return st.Start().Copy(), nil
		}
		return st.tokens[i-1], nil
	})
}

// Inner returns the tokens after the start element, end element included:
// what a mellium handler reads.
func (st *Stanza) Inner() xml.TokenReader {
	r := st.Reader()
	_, _ = r.Token()
	return r
}

// Priority returns the <priority/> of a presence, 0 when absent or invalid
// (RFC 6121 §4.7.2.3: -128 to 127).
func (st *Stanza) Priority() int {
	depth := 0
	for i, tok := range st.tokens {
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name == (xml.Name{Space: stanza.NSClient, Local: "priority"}) {
				if cd, ok := st.tokens[i+1].(xml.CharData); ok {
					if p, err := strconv.Atoi(strings.TrimSpace(string(cd))); err == nil && p >= -128 && p <= 127 {
						return p
					}
				}
				return 0
			}
		case xml.EndElement:
			depth--
		}
	}
	return 0
}

// Serve hands st to m as the server's own answer to the client of session:
// the mux answers an IQ get or set no handler takes with
// <service-unavailable/>, and what the handlers write goes to the session
// within timeout (zero: DefaultWriteTimeout).
func Serve(session *xmpp.Session, m *mux.ServeMux, st *Stanza, timeout time.Duration) error {
	if timeout == 0 {
		timeout = DefaultWriteTimeout
	}
	w := &sessionEncoder{session: session, timeout: timeout}
	start := st.Start()
	err := m.HandleXMPP(struct {
		xml.TokenReader
		xmlstream.Encoder
	}{st.Inner(), w}, &start)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// sessionEncoder writes a handler's answer to the session, taking the
// session's writer (and a write deadline) only if it writes something.
type sessionEncoder struct {
	session *xmpp.Session
	timeout time.Duration
	w       xmlstream.TokenWriteFlushCloser
}

func (e *sessionEncoder) EncodeToken(t xml.Token) error {
	if e.w == nil {
		e.w = e.session.TokenWriter()
		_ = e.session.Conn().SetWriteDeadline(time.Now().Add(e.timeout))
	}
	return e.w.EncodeToken(t)
}

func (e *sessionEncoder) Encode(v any) error { return e.EncodeElement(v, xml.StartElement{}) }

func (e *sessionEncoder) EncodeElement(v any, start xml.StartElement) error {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	var err error
	if start.Name.Local == "" {
		err = enc.Encode(v)
	} else {
		err = enc.EncodeElement(v, start)
	}
	if err == nil {
		_, err = xmlstream.Copy(e, xml.NewDecoder(&buf))
	}
	return err
}

func (e *sessionEncoder) Close() error {
	if e.w == nil {
		return nil
	}
	err := e.w.Close()
	_ = e.session.Conn().SetWriteDeadline(time.Time{})
	return err
}

// Bounce returns the error reply to st (RFC 6120 §8.3: to the sender, from
// the address it was sent to, same id), or nil for the stanzas that are
// never answered with an error: presence, errors, IQ results and headlines.
func (st *Stanza) Bounce(se stanza.Error) xml.TokenReader {
	if st.Kind == "presence" || st.Type == "error" || st.Type == "headline" || (st.Kind == "iq" && st.Type == "result") {
		return nil
	}
	attrs := []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "error"}, {Name: xml.Name{Local: "to"}, Value: st.From.String()}}
	if st.ID != "" {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "id"}, Value: st.ID})
	}
	if !st.To.Equal(jid.JID{}) {
		attrs = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: st.To.String()})
	}
	return xmlstream.Wrap(se.TokenReader(), xml.StartElement{Name: xml.Name{Space: stanza.NSClient, Local: st.Kind}, Attr: attrs})
}

// RouterSender makes a host's router an httpauth.Sender (how server-side
// features such as XEP-0070 reach users): Send buffers the stanza, gives it
// the recipient's domain as from when it has none, and hands it to route.
type RouterSender func(ctx context.Context, st *Stanza) error

// Send implements httpauth.Sender.
func (route RouterSender) Send(ctx context.Context, r xml.TokenReader) error {
	tok, err := r.Token()
	if err != nil {
		return err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return ErrNotStanza
	}
	st, err := NewStanza(start, xmlstream.Inner(r))
	if err != nil {
		return err
	}
	if st.From.Equal(jid.JID{}) {
		st.SetFrom(st.To.Domain())
	}
	return route(ctx, st)
}
