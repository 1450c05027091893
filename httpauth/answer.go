package httpauth

import (
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// Limits on answer stanzas.
const (
	maxAnswerTokens = 512
	maxThreadLen    = 256
)

// answer is what matters of an incoming IQ or message.
type answer struct {
	iq      bool
	typ     string
	id      string // stanza id
	from    jid.JID
	confirm *Confirm
	thread  string
	body    string
	isError bool   // type error or an <error/> child
	cond    string // the stanza error condition, if any
}

// readAnswer collects the parts of a stanza that matter for an answer from
// the tokens following its start element, up to its end. Unknown children
// are skipped; text is bounded.
func readAnswer(start xml.StartElement, r xml.TokenReader) (answer, error) {
	var a answer
	switch start.Name.Local {
	case "iq":
		a.iq = true
	case "message":
	default:
		return a, fmt.Errorf("%w: not an iq or message", ErrMalformed)
	}
	if duplicateAttr(start.Attr) {
		// A router that stamps only the first from, and a parser that
		// takes the last one, would disagree on who sent it.
		return a, fmt.Errorf("%w: duplicate attribute on the stanza", ErrMalformed)
	}
	for _, at := range start.Attr {
		if at.Name.Space != "" {
			continue
		}
		switch at.Name.Local {
		case "type":
			a.typ = at.Value
		case "id":
			a.id = at.Value
		case "from":
			j, err := jid.Parse(at.Value)
			if err != nil {
				return a, fmt.Errorf("%w: bad from", ErrMalformed)
			}
			a.from = j
		}
	}
	a.isError = a.typ == "error"
	return a, a.readChildren(r, 1, false)
}

// readChildren reads tokens from the given depth (1 = between children of
// the stanza, 2 = inside a child, inError if that child is <error/>) until
// the stanza's end element or io.EOF.
func (a *answer) readChildren(r xml.TokenReader, depth int, inError bool) error {
	var text *strings.Builder
	var limit int
	for n := 0; ; n++ {
		if n > maxAnswerTokens {
			return fmt.Errorf("%w: too many tokens", ErrMalformed)
		}
		tok, err := r.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 3 && inError && a.cond == "" && t.Name.Space == "urn:ietf:params:xml:ns:xmpp-stanzas" && t.Name.Local != "text" {
				a.cond = t.Name.Local
			}
			if depth != 2 {
				continue
			}
			inError = t.Name.Local == "error"
			if err := a.child(t); err != nil {
				return err
			}
			switch t.Name.Local {
			case "thread":
				text, limit = new(strings.Builder), maxThreadLen
			case "body":
				if a.body == "" {
					text, limit = new(strings.Builder), MaxBodyLen
				}
			}
		case xml.CharData:
			if text != nil && depth == 2 {
				if text.Len()+len(t) > limit {
					return fmt.Errorf("%w: text too long", ErrMalformed)
				}
				text.Write(t)
			}
		case xml.EndElement:
			if depth == 2 && text != nil {
				if t.Name.Local == "thread" {
					a.thread = text.String()
				} else {
					a.body = text.String()
				}
				text = nil
			}
			depth--
			if depth == 0 {
				return nil
			}
		}
	}
}

// child records a direct child element of the stanza.
func (a *answer) child(t xml.StartElement) error {
	switch {
	case t.Name.Space == NS && t.Name.Local == "confirm":
		if a.confirm != nil {
			return fmt.Errorf("%w: two confirm elements", ErrMalformed)
		}
		c, err := ParseConfirm(t)
		if err != nil {
			return err
		}
		a.confirm = &c
	case t.Name.Local == "error":
		a.isError = true
	}
	return nil
}

// HandleAnswer reads one incoming stanza (its start element and the tokens
// up to its end element) and, when it is a valid answer to a pending
// transaction, delivers the decision. It is for hosts with their own router:
// a server calls it for the IQ results and errors and the messages its
// router delivers to the service's address (Config.From). The stanza's from
// attribute must be the sender's authenticated address as stamped by the
// server, never a value the client chose: the check that answers come from
// the JID that was asked relies on it. Anything that is not an answer is
// ignored. It returns ErrNotPending for stanzas that answer nothing and
// ErrMalformed for invalid ones; both are informational and must not close
// the stream.
func (v *Verifier) HandleAnswer(start xml.StartElement, r xml.TokenReader) error {
	a, err := readAnswer(start, r)
	if err != nil {
		v.malformed(start, err)
		return err
	}
	return v.deliver(a)
}

// malformed logs (rate-limited) a stanza that was ignored as malformed.
func (v *Verifier) malformed(start xml.StartElement, err error) {
	v.flood.logAttrs(slog.LevelInfo, "httpauth: ignoring malformed answer", slog.String("stanza", start.Name.Local), slog.String("err", err.Error()))
}

// duplicateAttr reports whether two attributes have the same name
// (namespace and local name). encoding/xml accepts them; XML does not.
func duplicateAttr(attrs []xml.Attr) bool {
	for i := 1; i < len(attrs); i++ {
		for j := range i {
			if attrs[i].Name == attrs[j].Name {
				return true
			}
		}
	}
	return false
}

// deliver validates an answer against the pending transaction it names and
// resolves it.
func (v *Verifier) deliver(a answer) error {
	if a.from.Domainpart() == "" {
		return v.ignoreQuietly(a, "no sender")
	}
	var tx Transaction
	var ok bool
	var decision bool
	if a.iq {
		if a.typ != "result" && a.typ != "error" {
			return v.ignoreQuietly(a, "not an IQ response")
		}
		tx, ok = v.store.Lookup(a.id)
		if !ok || tx.ViaMessage {
			return v.ignoreQuietly(a, "no pending IQ with this id")
		}
		if a.from.String() != tx.To {
			return v.ignore(a, "IQ response from the wrong JID")
		}
		if a.confirm != nil && !sameConfirm(*a.confirm, tx.Confirm) {
			return v.ignore(a, "confirm does not match")
		}
		decision = a.typ == "result"
	} else {
		if a.typ == "groupchat" || a.typ == "headline" {
			return v.ignoreQuietly(a, "message type")
		}
		bare := a.from.Bare().String()
		switch {
		case a.confirm != nil:
			tx, ok = v.store.LookupID(bare, a.confirm.ID)
			if !ok || !tx.ViaMessage {
				return v.ignore(a, "no pending message transaction")
			}
			if !sameConfirm(*a.confirm, tx.Confirm) {
				return v.ignore(a, "confirm does not match")
			}
			if a.thread != tx.Ref {
				return v.ignore(a, "thread does not match")
			}
			decision = !a.isError
		case a.isError:
			// A bounced request without the <confirm/>: only the thread
			// or stanza id identifies it.
			tx, ok = v.lookupRef(a)
			if !ok {
				return v.ignoreQuietly(a, "error without a pending transaction")
			}
			decision = false
		case a.body != "":
			id, yes, okParse := parsePlaintext(a.body)
			if !okParse {
				return v.ignoreQuietly(a, "body is not an answer")
			}
			if id == "" {
				tx, ok = v.lookupRef(a)
			} else {
				tx, ok = v.store.LookupID(bare, id)
				if ok && a.thread != "" && a.thread != tx.Ref {
					ok = false
				}
			}
			if !ok || !tx.ViaMessage {
				return v.ignore(a, "plaintext answer matches no pending transaction")
			}
			decision = yes
		default:
			return v.ignoreQuietly(a, "not an answer")
		}
		if tx.Bare != bare {
			return v.ignore(a, "message from the wrong JID")
		}
	}
	if err := v.store.Resolve(tx.Ref, decision); err != nil {
		return v.ignoreQuietly(a, "already answered")
	}
	v.log.Debug("httpauth: answer accepted", "ref", tx.Ref, "confirmed", decision, "condition", a.cond)
	return nil
}

// lookupRef finds a message transaction by the answer's thread or id.
func (v *Verifier) lookupRef(a answer) (Transaction, bool) {
	ref := a.thread
	if ref == "" {
		ref = a.id
	}
	if ref == "" {
		return Transaction{}, false
	}
	tx, ok := v.store.Lookup(ref)
	return tx, ok && tx.ViaMessage
}

// ignore logs (at Info) an answer-like stanza that names a transaction it
// cannot answer: wrong sender, wrong id, mismatching confirm.
func (v *Verifier) ignore(a answer, why string) error {
	v.flood.logAttrs(slog.LevelInfo, "httpauth: ignoring stanza", slog.String("reason", why), slog.String("from", a.from.String()), slog.Bool("iq", a.iq), slog.String("type", a.typ))
	return fmt.Errorf("%w: %s", ErrNotPending, why)
}

// ignoreQuietly logs (at Debug) stanzas that are simply not answers, such as
// chat messages or responses to other IQs, which are routine.
func (v *Verifier) ignoreQuietly(a answer, why string) error {
	v.flood.logAttrs(slog.LevelDebug, "httpauth: ignoring stanza", slog.String("reason", why), slog.String("from", a.from.String()), slog.Bool("iq", a.iq), slog.String("type", a.typ))
	return fmt.Errorf("%w: %s", ErrNotPending, why)
}

func sameConfirm(a, b Confirm) bool {
	return a.ID == b.ID && a.Method == b.Method && a.URL == b.URL
}

// parsePlaintext reads a plaintext answer: "<id> OK", "OK <id>", "<id> No",
// "No <id>", or a lone "OK"/"No" (then the thread must identify the
// transaction). Quoted lines ("> …") are skipped; the last other non-empty
// line counts. Yes-words: ok, yes, y; no-words: no, n. Case-insensitive.
func parsePlaintext(body string) (id string, yes bool, ok bool) {
	var line string
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, ">") {
			line = l
		}
	}
	f := strings.Fields(line)
	word := func(s string) (bool, bool) {
		switch strings.ToLower(strings.Trim(s, ".!\"'")) {
		case "ok", "yes", "y":
			return true, true
		case "no", "n":
			return false, true
		}
		return false, false
	}
	switch len(f) {
	case 1:
		yes, ok = word(f[0])
		return "", yes, ok
	case 2:
		if yes, ok = word(f[1]); ok {
			return f[0], yes, true
		}
		if yes, ok = word(f[0]); ok {
			return f[1], yes, true
		}
	}
	return "", false, false
}

// HandleIQ implements mux.IQHandler for IQ results and errors. Stanzas that
// are not answers are ignored; it never returns an error for them, so a
// stray IQ never closes the stream.
func (v *Verifier) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	a := answer{iq: true, typ: string(iq.Type), id: iq.ID, from: iq.From, isError: iq.Type == stanza.ErrorIQ}
	if start != nil && start.Name.Local != "" {
		if err := a.child(*start); err != nil {
			v.malformed(*start, err)
			return nil
		}
		if err := a.readChildren(t, 2, start.Name.Local == "error"); err != nil {
			v.malformed(*start, err)
			return nil
		}
	}
	_ = v.deliver(a)
	return nil
}

// HandleMessage implements mux.MessageHandler. t must yield the whole
// message, as mux does.
func (v *Verifier) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	tok, err := t.Token()
	if err != nil {
		return nil
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil
	}
	a, err := readAnswer(start, t)
	if err != nil {
		v.malformed(start, err)
		return nil
	}
	a.from = msg.From
	_ = v.deliver(a)
	return nil
}

// Handle returns a mux option that feeds answers to v: every IQ result and
// error without a more specific handler (the session's own SendIQ calls are
// answered before the mux sees them), messages carrying <confirm/> (types
// normal, chat and error), messages of type error and messages with a
// <body/> (types normal and chat, for the plaintext fallback).
//
// Register it on a session whose incoming stanzas are all addressed to the
// service: an XEP-0114 component session, or a client session the service
// uses as its own account. A server must not register it on its users'
// sessions (it would swallow IQ results meant for other entities); its
// router calls HandleAnswer instead. Hosts whose mux already handles message
// bodies should call HandleMessage from their handler instead.
func (v *Verifier) Handle() mux.Option {
	confirm := xml.Name{Space: NS, Local: "confirm"}
	body := xml.Name{Local: "body"}
	return func(m *mux.ServeMux) {
		mux.IQ(stanza.ResultIQ, xml.Name{}, v)(m)
		mux.IQ(stanza.ErrorIQ, xml.Name{}, v)(m)
		for _, typ := range []stanza.MessageType{stanza.NormalMessage, stanza.ChatMessage, stanza.ErrorMessage} {
			mux.Message(typ, confirm, v)(m)
		}
		mux.Message(stanza.NormalMessage, body, v)(m)
		mux.Message(stanza.ChatMessage, body, v)(m)
		mux.Message(stanza.ErrorMessage, xml.Name{Local: "error"}, v)(m)
	}
}

var (
	_ mux.IQHandler      = (*Verifier)(nil)
	_ mux.MessageHandler = (*Verifier)(nil)
)

// Interface guards: the Verifier is registered directly as a mux handler.
var (
	_ mux.IQHandler      = (*Verifier)(nil)
	_ mux.MessageHandler = (*Verifier)(nil)
)
