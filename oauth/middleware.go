package oauth

import (
	"context"
	"encoding/xml"
	"errors"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// GrantFrom returns the Grant established by the verifier when r is the token
// reader that a handler wrapped by Verifier.IQ, Verifier.Message or
// Verifier.Presence received. ok is false when the stanza carried no <oauth/>
// element (possible only when Config.Require allowed that) or when r is not
// such a reader (for example because another middleware wrapped it).
//
// mellium handlers receive no context, so the Grant travels with the token
// reader, the one value every handler gets; the handler keeps mellium's own
// signature and can be registered with or without the verifier.
func GrantFrom(r xml.TokenReader) (Grant, bool) {
	if rw, ok := r.(*verifiedStream); ok && rw.ok {
		return rw.grant, true
	}
	return Grant{}, false
}

// verifiedStream is what a wrapped handler reads: the buffered stanza tokens,
// the original encoder, and the Grant.
type verifiedStream struct {
	sliceReader
	xmlstream.Encoder
	grant Grant
	ok    bool
	parse sliceReader // used while parsing the <oauth/> element
}

var _ xmlstream.TokenReadEncoder = (*verifiedStream)(nil)

// IQ returns a handler that verifies the <oauth/> element of each IQ before
// calling h. Register it in place of h: mux.IQ(stanza.SetIQ, name, v.IQ(h)).
// On failure it writes the error reply itself (for get and set IQs; failed
// result and error IQs are dropped) and does not call h. h reads the same
// tokens it would have read without the verifier and gets the Grant with
// GrantFrom.
func (v *Verifier) IQ(h mux.IQHandler) mux.IQHandler {
	return mux.IQHandlerFunc(func(iq stanza.IQ, t xmlstream.TokenReadEncoder, payload *xml.StartElement) error {
		var pl xml.StartElement
		if payload != nil {
			pl = *payload
		}
		toks, err := v.buffer(t, tokenSize(pl))
		if err != nil && !errors.Is(err, ErrStanzaTooLarge) {
			return err
		}
		rw := &verifiedStream{sliceReader: sliceReader{toks: toks}, Encoder: t}
		if err == nil {
			// The payload itself is a child of the stanza; the tokens read
			// start inside it, one level below the stanza's children.
			var el found
			if isOAuth(pl.Name) {
				el = found{start: pl, toks: toks}
			}
			el, err = findOAuth(toks, 2, el)
			if err == nil {
				if !el.ok() {
					if v.required(iq.StartElement(), pl.Name) {
						err = ErrTokenRequired
					}
				} else {
					s := Stanza{Name: "iq", From: jidString(iq.From), To: jidString(iq.To)}
					rw.grant, err = v.check(rw, el, s)
					rw.ok = err == nil
				}
			}
		}
		if err != nil || rw.ok {
			v.observe(err) // a decision: verified, or refused (passing through is none)
		}
		if err != nil {
			if iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ {
				return nil
			}
			reply := stanza.IQ{XMLName: iq.XMLName, ID: iq.ID, Type: stanza.ErrorIQ, From: iq.To, To: iq.From}
			return writeReply(t, reply.Wrap(ErrorElement(err)))
		}
		return h.HandleIQ(iq, rw, payload)
	})
}

// Message returns a handler that verifies the <oauth/> element of each message
// before calling h; see IQ. Failed messages of type error are dropped without
// a reply.
//
// mellium's mux calls a message handler once for each child element that its
// registration matches, and every call verifies the whole stanza. Register a
// wrapped handler for one specific payload (such as {jabber:client}body):
// a registration that matches several children of one message (a wildcard,
// or one that matches <oauth/> itself) runs the verification once per
// matching child, and every call after the first fails as a replayed nonce
// and is answered with <invalid-nonce/>. This fails closed on purpose: the
// middleware cannot tell a second call for the same stanza from a replay of
// it without relying on how the host allocates its tokens.
func (v *Verifier) Message(h mux.MessageHandler) mux.MessageHandler {
	return mux.MessageHandlerFunc(func(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
		rw, err, fatal := v.stanzaLevel("message", msg.From, msg.To, t)
		if fatal != nil {
			return fatal
		}
		if err != nil {
			if msg.Type == stanza.ErrorMessage {
				return nil
			}
			reply := stanza.Message{XMLName: msg.XMLName, ID: msg.ID, Type: stanza.ErrorMessage, From: msg.To, To: msg.From}
			return writeReply(t, reply.Wrap(ErrorElement(err)))
		}
		return h.HandleMessage(msg, rw)
	})
}

// Presence returns a handler that verifies the <oauth/> element of each
// presence before calling h; see Message.
func (v *Verifier) Presence(h mux.PresenceHandler) mux.PresenceHandler {
	return mux.PresenceHandlerFunc(func(p stanza.Presence, t xmlstream.TokenReadEncoder) error {
		rw, err, fatal := v.stanzaLevel("presence", p.From, p.To, t)
		if fatal != nil {
			return fatal
		}
		if err != nil {
			if p.Type == stanza.ErrorPresence {
				return nil
			}
			reply := stanza.Presence{XMLName: p.XMLName, ID: p.ID, Type: stanza.ErrorPresence, From: p.To, To: p.From}
			return writeReply(t, reply.Wrap(ErrorElement(err)))
		}
		return h.HandlePresence(p, rw)
	})
}

// stanzaLevel handles messages and presences, whose handlers read the whole
// stanza from its start element. err is a verification failure to answer;
// fatal is an error reading the stream, which ends it.
func (v *Verifier) stanzaLevel(name string, from, to jid.JID, t xmlstream.TokenReadEncoder) (rw *verifiedStream, err, fatal error) {
	toks, err := v.buffer(t, 0)
	rw = &verifiedStream{sliceReader: sliceReader{toks: toks}, Encoder: t}
	if err != nil && !errors.Is(err, ErrStanzaTooLarge) {
		return nil, nil, err
	}
	var start xml.StartElement
	if len(toks) > 0 {
		start, _ = toks[0].(xml.StartElement)
	}
	if err == nil {
		var el found
		el, err = findOAuth(toks, 0, found{})
		if err == nil {
			if !el.ok() {
				if v.required(start, firstChild(toks)) {
					err = ErrTokenRequired
				}
			} else {
				s := Stanza{Name: name, From: jidString(from), To: jidString(to)}
				rw.grant, err = v.check(rw, el, s)
				rw.ok = err == nil
			}
		}
	}
	if err != nil || rw.ok {
		v.observe(err) // a decision: verified, or refused (passing through is none)
	}
	if err != nil {
		return nil, err, nil
	}
	return rw, nil, nil
}

// check parses and verifies the element found. rw lends its spare reader so
// that parsing allocates no reader of its own.
func (v *Verifier) check(rw *verifiedStream, el found, s Stanza) (Grant, error) {
	rw.parse = sliceReader{toks: el.toks}
	p, err := ParseElement(&rw.parse, el.start)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The buffered stanza is balanced; a short element cannot happen,
			// but never let it through.
			err = paramError{ErrUnsupportedParameter, "truncated element"}
		}
		return Grant{}, err
	}
	ctx := context.Background()
	if v.storeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, v.storeTimeout)
		defer cancel()
	}
	return v.Verify(ctx, s, p)
}

// observe reports a decision to Config.Observe.
func (v *Verifier) observe(err error) {
	if v.observeFn == nil {
		return
	}
	var e Event
	if err != nil {
		_, e.Condition = StanzaError(err)
		if e.Condition == "" {
			e.Condition = "error"
		}
	}
	v.observeFn(e)
}

// Event is one stanza the middleware decided on, for metrics: no consumer
// key, token or address.
type Event struct {
	// Condition is "" when the stanza was verified, else the XEP-0235
	// application condition it was refused with (invalid-signature,
	// invalid-nonce, token-required, …; "error" for the refusals that have
	// none: a store failure, a full nonce store, an oversized stanza).
	Condition string
}

func (v *Verifier) required(start xml.StartElement, payload xml.Name) bool {
	if v.require == nil {
		return true
	}
	return v.require(start, payload)
}

// found is an <oauth/> element located in a buffered stanza; the zero value
// is none.
type found struct {
	start xml.StartElement
	toks  []xml.Token // the tokens after the start element
}

func (f found) ok() bool { return f.start.Name.Local != "" }

// findOAuth looks for <oauth/> elements among toks at the depths where the
// package documentation allows them: children (depth 1) and grandchildren
// (depth 2) of the stanza element. depth is the depth of the first token (0
// when toks starts with the stanza's start element). prev is an element
// already found elsewhere. Two elements give ErrDuplicatedParameter.
func findOAuth(toks []xml.Token, depth int, prev found) (found, error) {
	el := prev
	for i, tok := range toks {
		switch t := tok.(type) {
		case xml.StartElement:
			if (depth == 1 || depth == 2) && isOAuth(t.Name) {
				if el.ok() {
					return found{}, paramError{ErrDuplicatedParameter, "oauth"}
				}
				el = found{start: t, toks: toks[i+1:]}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return el, nil
}

// firstChild returns the name of the first child of the stanza in toks, which
// start with the stanza's start element.
func firstChild(toks []xml.Token) xml.Name {
	for _, tok := range toks[min(1, len(toks)):] {
		switch t := tok.(type) {
		case xml.StartElement:
			return t.Name
		case xml.EndElement:
			return xml.Name{}
		}
	}
	return xml.Name{}
}

// tokenCost is what a token counts against MaxStanzaBytes beyond its text,
// so that a flood of tiny tokens is bounded too.
const tokenCost = 16

func tokenSize(t xml.StartElement) int {
	n := tokenCost + len(t.Name.Space) + len(t.Name.Local)
	for _, a := range t.Attr {
		n += len(a.Name.Space) + len(a.Name.Local) + len(a.Value)
	}
	return n
}

// buffer reads r to its end, copying character data (a decoder may reuse
// it), and fails with ErrStanzaTooLarge once more than MaxStanzaBytes were
// read; used counts bytes already spent on tokens read by the mux.
func (v *Verifier) buffer(r xml.TokenReader, used int) ([]xml.Token, error) {
	toks := make([]xml.Token, 0, 32)
	var arena []byte
	for {
		tok, err := r.Token()
		if tok != nil {
			switch t := tok.(type) {
			case xml.StartElement:
				used += tokenSize(t)
			case xml.EndElement:
				used += tokenCost
			case xml.CharData:
				used += tokenCost + len(t)
				if used <= v.maxStanza {
					if arena == nil {
						arena = make([]byte, 0, max(256, len(t)))
					}
					arena = append(arena, t...)
					tok = xml.CharData(arena[len(arena)-len(t) : len(arena) : len(arena)])
				}
			default:
				tok = xml.CopyToken(tok)
				used += tokenCost + 64
			}
			if used > v.maxStanza {
				return toks, ErrStanzaTooLarge
			}
			toks = append(toks, tok)
		}
		if err == io.EOF {
			return toks, nil
		}
		if err != nil {
			return toks, err
		}
		if tok == nil {
			// A reader returning neither a token nor an error would spin.
			return toks, io.ErrNoProgress
		}
	}
}

func jidString(j jid.JID) string {
	if j.Equal(jid.JID{}) {
		return ""
	}
	return j.String()
}

// writeReply sends an error reply to the peer through the handler's encoder.
func writeReply(t xmlstream.TokenWriter, r xml.TokenReader) error {
	_, err := xmlstream.Copy(t, r)
	return err
}
