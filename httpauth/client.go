package httpauth

import (
	"context"
	"encoding/xml"
	"errors"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// Request is a confirmation request received by an XMPP client.
type Request struct {
	Confirm
	// From is the service asking for confirmation.
	From jid.JID
	// Message is true when the request came as a message, false for an IQ.
	Message bool
	// Thread is the message thread, if any.
	Thread string
}

// DecideFunc asks the application (usually the user) whether a request is
// theirs. Per XEP-0070 §8.1 it must show the transaction identifier to the
// user or check it against the requests the application made itself.
// Returning false or an error denies the request.
type DecideFunc func(ctx context.Context, req Request) (bool, error)

// MaxConcurrentDecisions bounds how many message requests a client handler
// asks about at once; more get a resource-constraint error.
const MaxConcurrentDecisions = 16

// DecideTimeout bounds each call of a DecideFunc; when it passes the request
// is denied.
const DecideTimeout = 2 * time.Minute

// Handle returns a mux option for an XMPP client that answers confirmation
// requests (IQ get and messages of type normal or chat carrying
// <confirm/>). For messages, decide runs in its own goroutine and the answer
// is sent with s (the client's session). For IQs, decide runs inside the
// handler, because mellium sends an error for an IQ get whose handler returns
// without answering: the session reads no other stanza meanwhile, so decide
// must not call SendIQ on the same session (that would deadlock) and should
// return promptly. A malformed request gets bad-request, an IQ set gets
// feature-not-implemented, an error or false from decide not-authorized.
// The option also advertises [Feature] through the mux (XEP-0030).
func Handle(s Sender, decide DecideFunc) mux.Option {
	h := &clientHandler{s: s, decide: decide, sem: make(chan struct{}, MaxConcurrentDecisions)}
	confirm := xml.Name{Space: NS, Local: "confirm"}
	return func(m *mux.ServeMux) {
		mux.IQ(stanza.GetIQ, confirm, h)(m)
		mux.IQ(stanza.SetIQ, confirm, h)(m)
		mux.Message(stanza.NormalMessage, confirm, h)(m)
		mux.Message(stanza.ChatMessage, confirm, h)(m)
		mux.Feature(featureIter{})(m)
	}
}

// Feature is the service discovery feature a client using Handle advertises.
var Feature = info.Feature{Var: NS}

type featureIter struct{}

func (featureIter) ForFeatures(node string, f func(info.Feature) error) error {
	if node != "" {
		return nil
	}
	return f(Feature)
}

type clientHandler struct {
	s      Sender
	decide DecideFunc
	sem    chan struct{}
}

func (h *clientHandler) HandleIQ(iq stanza.IQ, t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	reply := func(e stanza.Error) error {
		_, err := xmlstream.Copy(t, iq.Error(e))
		return err
	}
	if iq.Type != stanza.GetIQ {
		return reply(stanza.Error{Type: stanza.Cancel, Condition: stanza.FeatureNotImplemented})
	}
	c, err := ParseConfirm(*start)
	if err != nil {
		return reply(stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest})
	}
	// mellium answers an IQ get with service-unavailable unless the handler
	// writes the response before returning, so IQ requests are decided
	// synchronously (bounded by DecideTimeout).
	ctx, cancel := context.WithTimeout(context.Background(), DecideTimeout)
	defer cancel()
	ok, err := h.decide(ctx, Request{Confirm: c, From: iq.From})
	if !ok || err != nil {
		return reply(stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized})
	}
	_, err = xmlstream.Copy(t, iq.Result(nil))
	return err
}

func (h *clientHandler) HandleMessage(msg stanza.Message, t xmlstream.TokenReadEncoder) error {
	tok, err := t.Token()
	if err != nil {
		return nil
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil
	}
	a, err := readAnswer(start, t)
	if err == nil && a.confirm != nil {
		err = a.confirmErr
	}
	replyTo := stanza.Message{ID: msg.ID, To: msg.From, Type: stanza.ErrorMessage}
	if err != nil || a.confirm == nil {
		if errors.Is(err, ErrMalformed) && msg.From.Domainpart() != "" {
			_, err = xmlstream.Copy(t, replyTo.Wrap(stanza.Error{Type: stanza.Modify, Condition: stanza.BadRequest}.TokenReader()))
			return err
		}
		return nil
	}
	c := *a.confirm
	thread := func() xml.TokenReader {
		if a.thread == "" {
			return nil
		}
		return xmlstream.Wrap(xmlstream.Token(xml.CharData(a.thread)), xml.StartElement{Name: xml.Name{Local: "thread"}})
	}
	select {
	case h.sem <- struct{}{}:
	default:
		_, err = xmlstream.Copy(t, replyTo.Wrap(xmlstream.MultiReader(thread(), c.TokenReader(),
			stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint}.TokenReader())))
		return err
	}
	go func() {
		defer func() { <-h.sem }()
		ctx, cancel := context.WithTimeout(context.Background(), DecideTimeout)
		defer cancel()
		ok, err := h.decide(ctx, Request{Confirm: c, From: msg.From, Message: true, Thread: a.thread})
		var r xml.TokenReader
		if ok && err == nil {
			r = stanza.Message{To: msg.From, Type: stanza.NormalMessage}.Wrap(xmlstream.MultiReader(thread(), c.TokenReader()))
		} else {
			r = replyTo.Wrap(xmlstream.MultiReader(thread(), c.TokenReader(),
				stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized}.TokenReader()))
		}
		_ = h.s.Send(ctx, r)
	}()
	return nil
}
