package httpauth

import (
	"context"
	"encoding/xml"
	"errors"
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
	confirm *Confirm // the <confirm/> child's attributes as given
	// confirmHas says which of id, method and url the <confirm/> has;
	// confirmErr why it is not a valid request (nil when it is).
	confirmHas [3]bool
	confirmErr error
	sawConfirm bool // a <confirm/> child started, even if it was malformed
	depth      int  // where readAnswer stopped: 0 after the stanza's end, else inside it
	thread     string
	body       string
	isError    bool   // type error or an <error/> child
	cond       string // the stanza error condition, if any
}

// readAnswer collects the parts of a stanza that matter for an answer from
// the tokens following its start element, up to its end. Unknown children
// are skipped; text is bounded.
func readAnswer(start xml.StartElement, r xml.TokenReader) (answer, error) {
	a := answer{depth: 1}
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
	return a, a.readChildren(r)
}

// readChildren reads the stanza's children (from depth 1: between children
// of the stanza; 2 is inside a child, inError if that child is <error/>)
// until the stanza's end element or io.EOF.
func (a *answer) readChildren(r xml.TokenReader) (err error) {
	depth, inError := 1, false
	defer func() { a.depth = depth }()
	var text *strings.Builder
	var limit int
	for n := 0; ; n++ {
		if n > maxAnswerTokens {
			return errTooLong
		}
		tok, err := r.Token()
		if err == io.EOF {
			depth = 0
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 3 && inError && a.cond == "" && t.Name.Space == nsStanzas && t.Name.Local != "text" {
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
					return errTooLong
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

const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// errTooLong: more tokens or text than an answer has. Such a stanza is not
// an answer (but may be a valid stanza for somebody else).
var errTooLong = fmt.Errorf("%w: too long for an answer", ErrMalformed)

// child records a direct child element of the stanza.
func (a *answer) child(t xml.StartElement) error {
	switch {
	case t.Name.Space == NS && t.Name.Local == "confirm":
		a.sawConfirm = true
		if a.confirm != nil {
			return fmt.Errorf("%w: two confirm elements", ErrMalformed)
		}
		c, has, err := confirmAttrs(t)
		if err != nil {
			return err
		}
		a.confirm, a.confirmHas, a.confirmErr = &c, has, c.Validate()
	case t.Name.Local == "error":
		a.isError = true
	}
	return nil
}

// confirmMatches reports whether the attributes the answer's <confirm/> has
// are those of c. An answer may leave them out: Gajim answers an IQ with an
// empty <confirm/>.
func (a *answer) confirmMatches(c Confirm) bool {
	return (!a.confirmHas[0] || a.confirm.ID == c.ID) &&
		(!a.confirmHas[1] || a.confirm.Method == c.Method) &&
		(!a.confirmHas[2] || a.confirm.URL == c.URL)
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

// HandleStanza is the one call a server's router makes for each stanza it
// receives from a user's session, before routing it: it consumes the
// stanza (and returns handled true) only when it is an answer to a pending
// confirmation request; otherwise it returns false and rest, which yields
// exactly the tokens r would have yielded (HandleStanza may have read some
// of them), for the router to route as usual.
//
// start is the stanza's start element with the from attribute the server
// stamped (the session's full JID, never a value the client chose: the
// check that answers come from the JID that was asked relies on it); r
// yields the tokens after it, up to its end element or io.EOF. Stanzas with
// a to attribute other than Config.From (when From is set) are not
// answers.
//
// It is cheap for stanzas that are not answers: an IQ result or error is
// looked up by its id (one Store.Lookup) only when the id has the form of
// the Verifier's references, a message is read only when its sender has a
// confirmation request pending by message (one Store.PendingFor per
// message); nothing else is read. Answers that name a pending request but
// do not count (wrong sender, mismatching <confirm/>, duplicate
// attributes) are consumed, ignored and logged.
//
// While the Store fails, no answer is accepted (the request waiting for it
// fails or times out): HandleStanza logs the failure (rate-limited) and
// gives the stanza back as one that is not an answer, or drops it when it
// has consumed it already. Each store call is bounded by
// Config.StoreTimeout.
func (v *Verifier) HandleStanza(start xml.StartElement, r xml.TokenReader) (rest xml.TokenReader, handled bool) {
	rest, handled, _ = v.handleStanza(start, r)
	return rest, handled
}

// handleStanza is HandleStanza with the reason an answer was ignored.
func (v *Verifier) handleStanza(start xml.StartElement, r xml.TokenReader) (xml.TokenReader, bool, error) {
	iq := start.Name.Local == "iq"
	if !iq && start.Name.Local != "message" {
		return r, false, errNotAnswer
	}
	var typ, id, from, to string
	for _, at := range start.Attr {
		if at.Name.Space != "" {
			continue
		}
		switch at.Name.Local {
		case "type":
			typ = at.Value
		case "id":
			id = at.Value
		case "from":
			from = at.Value
		case "to":
			to = at.Value
		}
	}
	switch {
	case iq && typ != "result" && typ != "error":
		return r, false, errNotAnswer
	case !iq && typ != "" && typ != "normal" && typ != "chat" && typ != "error":
		return r, false, errNotAnswer
	case duplicateAttr(start.Attr):
		// Which from, id or to counts is ambiguous: whatever it is, it is
		// no answer.
		err := fmt.Errorf("%w: duplicate attribute on the stanza", ErrMalformed)
		v.malformed(start, err)
		return r, false, err
	case !v.addressedToUs(to):
		return r, false, errNotAnswer
	}
	sender, err := jid.Parse(from)
	if from == "" || err != nil {
		return r, false, errNotAnswer // the host stamps from; without it, nobody answers
	}
	if iq && !isRef(id) {
		return r, false, errNotAnswer
	}
	ctx, cancel := v.storeCtx(context.Background())
	defer cancel()
	if iq {
		tx, ok, err := v.store.Lookup(ctx, id)
		if err != nil {
			return r, false, v.answerLost("looking up an IQ answer", err)
		}
		if !ok || tx.ViaMessage {
			return r, false, errNotAnswer
		}
		a, err := readAnswer(start, r)
		if err != nil {
			drain(r, a.depth)
			v.malformed(start, err)
			return nil, true, err
		}
		return nil, true, v.deliverIQ(ctx, a, tx)
	}
	txs, err := v.store.PendingFor(ctx, sender.Bare().String())
	if err != nil {
		return r, false, v.answerLost("looking up the requests pending by message", err)
	}
	if !pendingByMessage(txs) {
		return r, false, errNotAnswer
	}
	rec := &recorder{r: r}
	a, err := readAnswer(start, rec)
	switch {
	case err != nil && a.sawConfirm:
		drain(r, a.depth)
		v.malformed(start, err)
		return nil, true, err
	case err != nil:
		return rec.replay(), false, err
	}
	switch err := v.deliverMessage(ctx, a); {
	case errors.Is(err, errNotAnswer), errors.Is(err, errLookupFailed):
		return rec.replay(), false, err
	default:
		return nil, true, err
	}
}

// errLookupFailed marks a store failure while an answer was looked up:
// HandleStanza then gives the stanza back.
var errLookupFailed = errors.New("httpauth: looking up the answer failed")

// answerLost logs a store failure that kept an answer from being looked up
// or accepted, and returns the error HandleStanza reports for it.
func (v *Verifier) answerLost(op string, err error) error {
	v.storeFailed(op+" (answers are not accepted while the store fails)", err)
	return fmt.Errorf("%w: %w: %w", ErrStore, errLookupFailed, err)
}

func pendingByMessage(txs []Transaction) bool {
	for _, tx := range txs {
		if tx.ViaMessage {
			return true
		}
	}
	return false
}

// addressedToUs reports whether a stanza's to attribute is empty or names
// Config.From (any resource of it); without From, every to counts.
func (v *Verifier) addressedToUs(to string) bool {
	if to == "" || v.cfg.From.Domainpart() == "" {
		return true
	}
	j, err := jid.Parse(to)
	return err == nil && j.Bare().Equal(v.cfg.From.Bare())
}

// recorder copies the tokens read through it, so that they can be given
// back.
type recorder struct {
	r    xml.TokenReader
	toks []xml.Token
}

func (rec *recorder) Token() (xml.Token, error) {
	tok, err := rec.r.Token()
	if tok != nil {
		rec.toks = append(rec.toks, xml.CopyToken(tok))
	}
	return tok, err
}

// replay returns a reader of the recorded tokens followed by the rest.
func (rec *recorder) replay() xml.TokenReader {
	toks := rec.toks
	return xmlstream.MultiReader(xmlstream.ReaderFunc(func() (xml.Token, error) {
		if len(toks) == 0 {
			return nil, io.EOF
		}
		tok := toks[0]
		toks = toks[1:]
		return tok, nil
	}), rec.r)
}

// drain reads r from depth (1: inside the stanza) to the end of the stanza
// (its end element or io.EOF), so that a consumed stanza is consumed
// entirely. The host bounds its size.
func drain(r xml.TokenReader, depth int) {
	for depth > 0 {
		tok, err := r.Token()
		if err != nil {
			return
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// malformed logs (rate-limited) a stanza that was ignored as malformed.
func (v *Verifier) malformed(start xml.StartElement, err error) {
	v.flood.LogAttrs(slog.LevelInfo, "httpauth: ignoring malformed answer", slog.String("stanza", start.Name.Local), slog.String("err", err.Error()))
}

// errNotAnswer: a stanza that is not an answer at all. HandleStanza gives
// it back to the host.
var errNotAnswer = fmt.Errorf("%w: not an answer", ErrNotPending)

// errorAnswer classifies an error answer by its condition: a refusal, or a
// client that could not answer.
func errorAnswer(cond string) Answer {
	switch cond {
	case "", string(stanza.NotAuthorized), string(stanza.Forbidden), string(stanza.NotAllowed):
		return Answer{Result: AnswerDenied, Condition: cond}
	}
	return Answer{Result: AnswerCouldNotAnswer, Condition: cond}
}

// deliverIQ validates an IQ response to the pending IQ transaction tx,
// which its id named, and resolves it. The IQ id and the sender correlate
// it; a <confirm/> child is not needed, and when present its attributes
// must match (an empty one, as Gajim sends, matches).
func (v *Verifier) deliverIQ(ctx context.Context, a answer, tx Transaction) error {
	if a.from.String() != tx.To {
		return v.ignore(a, "IQ response from the wrong JID")
	}
	if a.confirm != nil && !a.confirmMatches(tx.Confirm) {
		return v.ignore(a, "confirm does not match")
	}
	ans := Answer{Result: AnswerConfirmed}
	if a.typ == "error" {
		ans = errorAnswer(a.cond)
	}
	return v.resolve(ctx, a, tx, ans)
}

// deliverMessage validates a message answer and resolves the transaction
// it names. It returns errNotAnswer for messages that are not answers.
func (v *Verifier) deliverMessage(ctx context.Context, a answer) error {
	bare := a.from.Bare().String()
	var tx Transaction
	var ok bool
	var err error
	var ans Answer
	switch {
	case a.confirm != nil:
		if a.confirmHas[0] {
			tx, ok, err = v.store.LookupID(ctx, bare, a.confirm.ID)
		} else {
			tx, ok, err = v.lookupRef(ctx, a)
		}
		if err != nil {
			return v.answerLost("looking up a message answer", err)
		}
		if !ok || !tx.ViaMessage {
			return v.ignore(a, "no pending message transaction")
		}
		if !a.confirmMatches(tx.Confirm) {
			return v.ignore(a, "confirm does not match")
		}
		if a.thread != tx.Ref {
			return v.ignore(a, "thread does not match")
		}
		ans = Answer{Result: AnswerConfirmed}
		if a.isError {
			ans = errorAnswer(a.cond)
		}
	case a.isError:
		// A bounced request without the <confirm/>: only the thread or
		// stanza id identifies it.
		if tx, ok, err = v.lookupRef(ctx, a); err != nil {
			return v.answerLost("looking up a bounced request", err)
		} else if !ok {
			return v.ignoreQuietly(a, "error without a pending transaction")
		}
		ans = errorAnswer(a.cond)
	case a.body != "":
		id, yes, okParse := parsePlaintext(a.body)
		if !okParse {
			return v.ignoreQuietly(a, "body is not an answer")
		}
		if id == "" {
			tx, ok, err = v.lookupRef(ctx, a)
		} else {
			tx, ok, err = v.store.LookupID(ctx, bare, id)
			if ok && a.thread != "" && a.thread != tx.Ref {
				ok = false
			}
		}
		if err != nil {
			return v.answerLost("looking up a plaintext answer", err)
		}
		if !ok || !tx.ViaMessage {
			return v.ignoreQuietly(a, "plaintext answer matches no pending transaction")
		}
		ans = Answer{Result: AnswerDenied}
		if yes {
			ans = Answer{Result: AnswerConfirmed}
		}
	default:
		return v.ignoreQuietly(a, "not an answer")
	}
	if tx.Bare != bare {
		return v.ignore(a, "message from the wrong JID")
	}
	return v.resolve(ctx, a, tx, ans)
}

func (v *Verifier) resolve(ctx context.Context, a answer, tx Transaction, ans Answer) error {
	if err := v.store.Resolve(ctx, tx.Ref, ans); errors.Is(err, ErrNotPending) {
		return v.ignore(a, "already answered")
	} else if err != nil {
		v.storeFailed("accepting an answer (dropped)", err)
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	v.log.Debug("httpauth: answer accepted", "jid", a.from.String(), "result", int(ans.Result), "condition", ans.Condition)
	return nil
}

// lookupRef finds a message transaction by the answer's thread or id.
func (v *Verifier) lookupRef(ctx context.Context, a answer) (Transaction, bool, error) {
	ref := a.thread
	if ref == "" {
		ref = a.id
	}
	if !isRef(ref) {
		return Transaction{}, false, nil
	}
	tx, ok, err := v.store.Lookup(ctx, ref)
	return tx, ok && tx.ViaMessage, err
}

// ignore logs (at Info, rate-limited) an answer that names a transaction it
// cannot answer: wrong sender, wrong id, mismatching confirm.
func (v *Verifier) ignore(a answer, why string) error {
	v.flood.LogAttrs(slog.LevelInfo, "httpauth: ignoring stanza", slog.String("reason", why), slog.String("from", a.from.String()), slog.Bool("iq", a.iq), slog.String("type", a.typ))
	return fmt.Errorf("%w: %s", ErrNotPending, why)
}

// ignoreQuietly logs (at Debug) messages that are simply not answers, such
// as a chat message from a user who also has a request pending.
func (v *Verifier) ignoreQuietly(a answer, why string) error {
	v.flood.LogAttrs(slog.LevelDebug, "httpauth: not an answer", slog.String("reason", why), slog.String("from", a.from.String()), slog.String("type", a.typ))
	return fmt.Errorf("%w: %s", errNotAnswer, why)
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

// SessionEnded tells the Verifier that a user's session ended, so that the
// requests waiting for it end at once (Outcome SessionEnded, HTTP 503)
// instead of at the timeout. With a full JID it ends the requests sent to
// that full JID (IQ, or a message sent to it after an IQ fallback); with a
// bare JID, when the account's last session ended, all of the account's
// requests, including those sent by message to the bare JID. A server host
// calls it when a session's stream closes; a component does not learn of
// sessions and does not call it. A store failure is logged; the requests
// then end at the timeout. Each store call is bounded by
// Config.StoreTimeout.
func (v *Verifier) SessionEnded(j jid.JID) {
	all := j.Resourcepart() == ""
	to := j.String()
	ctx, cancel := v.storeCtx(context.Background())
	defer cancel()
	txs, err := v.store.PendingFor(ctx, j.Bare().String())
	if err != nil {
		v.storeFailed("ending the requests of a session", err)
		return
	}
	for _, tx := range txs {
		if all || tx.To == to {
			if err := v.store.Resolve(ctx, tx.Ref, Answer{Result: AnswerSessionEnded}); err != nil && !errors.Is(err, ErrNotPending) {
				v.storeFailed("ending the requests of a session", err)
			}
		}
	}
}

// HandleComponent returns the mux option for an XEP-0114 component session
// (component.NewSession), whose incoming stanzas are all addressed to the
// component and whose mux the component owns: it handles every IQ result
// and error without a more specific handler (the session's own SendIQ calls
// are answered before the mux sees them), messages carrying <confirm/>
// (types normal, chat and error), messages with a <body/> (types normal and
// chat, for the plaintext fallback) and messages of type error. A component
// that handles such messages itself calls HandleStanza from its handlers
// instead (mellium's mux refuses two registrations for one pattern).
//
// A server registers nothing: its router calls HandleStanza. (mellium's mux
// gives IQ handlers the parsed IQ, not its start element, so a duplicate
// attribute on an IQ's start element cannot be seen here; the XMPP server,
// which serialised the stanza, cannot send one.)
func (v *Verifier) HandleComponent() mux.Option {
	h := componentHandler{v}
	confirm := xml.Name{Space: NS, Local: "confirm"}
	body := xml.Name{Local: "body"}
	return func(m *mux.ServeMux) {
		mux.IQ(stanza.ResultIQ, xml.Name{}, h)(m)
		mux.IQ(stanza.ErrorIQ, xml.Name{}, h)(m)
		for _, typ := range []stanza.MessageType{stanza.NormalMessage, stanza.ChatMessage, stanza.ErrorMessage} {
			mux.Message(typ, confirm, h)(m)
		}
		mux.Message(stanza.NormalMessage, body, h)(m)
		mux.Message(stanza.ChatMessage, body, h)(m)
		mux.Message(stanza.ErrorMessage, xml.Name{Local: "error"}, h)(m)
	}
}

// componentHandler feeds what a component's mux hands it to handleStanza.
type componentHandler struct{ v *Verifier }

var (
	_ mux.IQHandler      = componentHandler{}
	_ mux.MessageHandler = componentHandler{}
)

// HandleIQ rebuilds the IQ (start element, payload) for handleStanza. It
// never returns an error for stanzas that are not answers, so that a stray
// IQ never closes the stream.
func (h componentHandler) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, payload *xml.StartElement) error {
	start := iq.StartElement()
	var r xml.TokenReader = t
	if payload != nil && payload.Name.Local != "" {
		r = xmlstream.MultiReader(xmlstream.Token(payload.Copy()), t)
	}
	_, _, _ = h.v.handleStanza(start, r)
	return nil
}

// HandleMessage reads the message from t (the mux gives the whole message)
// and hands it to handleStanza.
func (h componentHandler) HandleMessage(_ stanza.Message, t xmlstream.TokenReadEncoder) error {
	tok, err := t.Token()
	if err != nil {
		return nil
	}
	if start, ok := tok.(xml.StartElement); ok {
		_, _, _ = h.v.handleStanza(start.Copy(), t)
	}
	return nil
}
