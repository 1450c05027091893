package guard

import (
	"bytes"
	"crypto/rand"
	"encoding/xml"

	"mellium.im/xmpp/stream"
)

// Error is a violation found by a guard. A guard's Read returns it (and
// then keeps returning it); mellium passes it on unwrapped, so after
// xmpp.ReceiveSession or Session.Serve fails the host finds it with
// errors.As (or asks Conn.Err).
//
// Answering it (RFC 6120 §4.9): when xmpp.ReceiveSession fails, mellium
// has written nothing, and the host calls Conn.WriteError (or writes
// Response) and closes the connection. Once the session is ready, mellium
// closes the stream itself when a read fails, and the guard's Write puts
// the Response in place of mellium's closing tag (see Conn.Write); the host
// writes nothing more.
type Error struct {
	// Condition is the stream error to send, its Text filled in (lang "en").
	Condition stream.Error
	// Header reports that the violation is in a stream header (or before
	// it) that the server has not answered yet: the answer must start with
	// the server's own stream header (RFC 6120 §4.9.1.2).
	Header bool
	// Domain is the canonical served domain of the stream, "" when not
	// known (no valid served 'to' yet).
	Domain string

	ns string // content namespace of the answer's header
}

// Error returns e.g. "guard: not-well-formed: duplicate attribute".
func (e *Error) Error() string {
	s := "guard: " + e.Condition.Err
	if len(e.Condition.Text) > 0 {
		s += ": " + e.Condition.Text[0].Value
	}
	return s
}

// Unwrap returns the stream error, so that errors.Is(err,
// stream.PolicyViolation) holds for a policy violation.
func (e *Error) Unwrap() error { return e.Condition }

// Response returns what the server sends before it closes the connection:
// when e.Header, its own stream header (content namespace, stream
// namespace, version 1.0, from the served domain when known, a random id),
// then the <stream:error/> and </stream:stream>.
func (e *Error) Response() []byte {
	var b bytes.Buffer
	if e.Header {
		ns := e.ns
		if ns == "" {
			ns = nsClient
		}
		b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='`)
		escape(&b, ns)
		b.WriteString(`' xmlns:stream='` + stream.NS + `' version='1.0'`)
		if e.Domain != "" {
			b.WriteString(` from='`)
			escape(&b, e.Domain)
			b.WriteString(`'`)
		}
		b.WriteString(` id='` + rand.Text() + `'>`)
	}
	b.WriteString(`<stream:error><`)
	b.WriteString(e.Condition.Err)
	b.WriteString(` xmlns='` + stream.NSError + `'/>`)
	for _, t := range e.Condition.Text {
		b.WriteString(`<text xmlns='` + stream.NSError + `'`)
		if t.Lang != "" {
			b.WriteString(` xml:lang='`)
			escape(&b, t.Lang)
			b.WriteString(`'`)
		}
		b.WriteString(`>`)
		escape(&b, t.Value)
		b.WriteString(`</text>`)
	}
	b.WriteString(`</stream:error></stream:stream>`)
	return b.Bytes()
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}

// newError builds an Error with an English text.
func newError(cond stream.Error, text string) *Error {
	cond.Text = []struct {
		Lang  string
		Value string
	}{{Lang: "en", Value: text}}
	return &Error{Condition: cond}
}
