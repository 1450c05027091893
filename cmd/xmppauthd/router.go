package main

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/httpauth"
)

// Routing errors. The session handler turns them into stanza errors (see
// bounceCondition); Router.Send returns them to its caller.
var (
	// ErrUnavailable: no session can take the stanza (an IQ to a full JID
	// that is not online, or to a user's bare JID; a message to a user with
	// no session).
	ErrUnavailable = errors.New("xmppauthd: recipient unavailable")
	// ErrRemoteDomain: the stanza is addressed to another domain; the demo
	// does not federate.
	ErrRemoteDomain = errors.New("xmppauthd: remote domains are not served")
	// ErrToServer: the stanza is addressed to the server itself, which only
	// a session's own handler answers.
	ErrToServer = errors.New("xmppauthd: stanza addressed to the server")
	// ErrReplaced: a session bound the same full JID before this one was
	// attached, or it was unregistered.
	ErrReplaced = errors.New("xmppauthd: route replaced")
	// ErrBadAddress: the to or from attribute is not a valid JID.
	ErrBadAddress = errors.New("xmppauthd: malformed address")
	// ErrNotStanza: the element is not an iq, message or presence of
	// jabber:client.
	ErrNotStanza = errors.New("xmppauthd: not a stanza")
	// ErrStanzaTooLarge: the stanza exceeds the router's size cap.
	ErrStanzaTooLarge = errors.New("xmppauthd: stanza too large")
)

// sender delivers one stanza to a connected client (sessionSender, or a
// recorder in tests). It is httpauth.Sender.
type sender = httpauth.Sender

// The router is how XEP-0070 confirmation requests reach the users.
var _ httpauth.Sender = (*Router)(nil)

// maxQueued caps the stanzas queued for a session that is bound but not
// yet ready (see Router.Reserve).
const maxQueued = 64

// route is one bound session.
type route struct {
	jid jid.JID
	seq uint64 // registration order: higher is more recent
	// Guarded by Router.mu:
	to        sender       // nil until Attach
	queue     []*stanzaBuf // stanzas that arrived before Attach
	available bool         // sent available presence, not unavailable since
	priority  int
	presence  *stanzaBuf // last broadcast presence, for new resources
}

// Router delivers stanzas between the sessions of one domain. It is safe for
// concurrent use; it never holds its lock while delivering.
type Router struct {
	domain    jid.JID
	maxStanza int

	mu       sync.Mutex
	accounts map[string][]*route // bare JID → sessions
	seq      uint64
}

// NewRouter returns an empty router for domain. maxStanza caps the stanzas
// Send reads (approximate bytes).
func NewRouter(domain jid.JID, maxStanza int) *Router {
	return &Router{domain: domain.Domain(), maxStanza: maxStanza, accounts: make(map[string][]*route)}
}

// Reserve registers full at resource-binding time, before its session is
// ready: stanzas for it are queued (up to maxQueued) until Attach, so that
// nothing sent to a client right after it bound is lost. An existing
// session with the same full JID is replaced and its sender returned (nil
// if it had none yet), so that the caller can close it (RFC 6120 §7.7.2.2:
// the server may terminate the old session).
func (r *Router) Reserve(full jid.JID) (rt *route, replaced sender) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rt = &route{jid: full, seq: r.seq}
	key := full.Bare().String()
	routes := r.accounts[key]
	for i, old := range routes {
		if old.jid.Equal(full) {
			replaced = old.to
			routes = slices.Delete(routes, i, i+1)
			break
		}
	}
	r.accounts[key] = append(routes, rt)
	return rt, replaced
}

// Attach delivers what was queued for rt to to, in order, and from then on
// routes rt's stanzas straight to it.
func (r *Router) Attach(ctx context.Context, rt *route, to sender) error {
	for {
		r.mu.Lock()
		if !slices.Contains(r.accounts[rt.jid.Bare().String()], rt) {
			r.mu.Unlock()
			return ErrReplaced
		}
		q := rt.queue
		rt.queue = nil
		if len(q) == 0 {
			rt.to = to
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		for _, st := range q {
			if err := to.Send(ctx, st.reader()); err != nil {
				return err
			}
		}
	}
}

// Register is Reserve and Attach for a session that is ready.
func (r *Router) Register(full jid.JID, to sender) (rt *route, replaced sender) {
	rt, replaced = r.Reserve(full)
	_ = r.Attach(context.Background(), rt, to) // nothing queued: no Send
	return rt, replaced
}

// Unregister removes rt if it is still registered (a replaced route is
// not) and reports whether it was available.
func (r *Router) Unregister(rt *route) (wasAvailable bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := rt.jid.Bare().String()
	routes := r.accounts[key]
	i := slices.Index(routes, rt)
	if i < 0 {
		return false
	}
	routes = slices.Delete(routes, i, i+1)
	if len(routes) == 0 {
		delete(r.accounts, key)
	} else {
		r.accounts[key] = routes
	}
	rt.queue = nil
	return rt.available
}

// deliver sends st to rt, or queues it while rt's session is not ready.
func (r *Router) deliver(ctx context.Context, rt *route, st *stanzaBuf) error {
	r.mu.Lock()
	to := rt.to
	if to == nil {
		defer r.mu.Unlock()
		if len(rt.queue) >= maxQueued {
			return ErrUnavailable
		}
		rt.queue = append(rt.queue, st.clone())
		return nil
	}
	r.mu.Unlock()
	return to.Send(ctx, st.reader())
}

// SetPresence records the broadcast presence of rt (nil for unavailable;
// the router keeps its own copy). It returns, in one step so that no
// presence is missed or given twice, the routes of the same account to
// broadcast it to, whether this was rt's initial presence and, if so, the
// last presence of the account's other available sessions (which the new
// session must be sent, RFC 6121 §4.2.2). The returned presences must not
// be modified.
func (r *Router) SetPresence(rt *route, p *stanzaBuf) (others []*route, initial bool, theirs []*stanzaBuf) {
	if p != nil {
		p = p.clone()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	initial = !rt.available && p != nil
	rt.available = p != nil
	rt.presence = p
	rt.priority = 0
	if p != nil {
		rt.priority = p.priority()
	}
	for _, o := range r.accounts[rt.jid.Bare().String()] {
		if o == rt {
			continue
		}
		others = append(others, o)
		if initial && o.available && o.presence != nil {
			theirs = append(theirs, o.presence)
		}
	}
	return others, initial, theirs
}

// Online reports the full JIDs bound for the bare JID of j, oldest first.
func (r *Router) Online(j jid.JID) []jid.JID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []jid.JID
	for _, rt := range r.accounts[j.Bare().String()] {
		out = append(out, rt.jid)
	}
	return out
}

// Send delivers one stanza, read from tokens starting with its start
// element, to the session(s) its to attribute names. A missing from
// attribute is set to the server's domain. It implements httpauth.Sender:
// it is how server-side code (XEP-0070 confirmation requests) reaches a
// client.
func (r *Router) Send(ctx context.Context, tr xml.TokenReader) error {
	tok, err := tr.Token()
	if err != nil {
		return err
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return ErrNotStanza
	}
	if start.Name.Space == "" {
		// Stanzas built in Go (stanza.IQ{}.Wrap and the like) leave the
		// namespace to the stream's default.
		start.Name.Space = stanza.NSClient
	}
	st, err := bufferStanza(start, xmlstream.Inner(tr), r.maxStanza)
	if err != nil {
		return err
	}
	if st.badFrom {
		return fmt.Errorf("%w: from", ErrBadAddress)
	}
	if st.from.Equal(jid.JID{}) {
		st.setFrom(r.domain)
	}
	return r.Route(ctx, st)
}

// Route delivers st by its to attribute, following RFC 6121 §8.5 in a
// reduced form:
//
//   - full JID online: that session;
//   - full JID offline: messages of type normal or chat as if to the bare
//     JID; IQ get/set: ErrUnavailable; anything else is dropped;
//   - bare JID, message (normal, chat, headline): every session that sent
//     available presence with non-negative priority, or, when none did, the
//     most recently bound session that has no negative priority (clients
//     that never send presence still get their messages); none at all:
//     ErrUnavailable (headline: dropped);
//   - bare JID, presence: every session of the account;
//   - bare JID, IQ get/set: ErrUnavailable (the server answers for the
//     account, and this one answers nothing);
//   - the domain itself: ErrToServer; another domain: ErrRemoteDomain.
//
// Stanzas of type error are never answered with an error; when they cannot
// be delivered they are dropped.
func (r *Router) Route(ctx context.Context, st *stanzaBuf) error {
	to := st.to
	if !to.Domain().Equal(r.domain) {
		return ErrRemoteDomain
	}
	if to.Localpart() == "" {
		return ErrToServer
	}
	targets, err := r.targets(st)
	if err != nil {
		return err
	}
	var errs []error
	for _, rt := range targets {
		if err := r.deliver(ctx, rt, st); err != nil {
			errs = append(errs, fmt.Errorf("delivering to %s: %w", rt.jid, err))
		}
	}
	return errors.Join(errs...)
}

// DeliverTo sends st to one route (presence broadcast to an account's
// other sessions).
func (r *Router) DeliverTo(ctx context.Context, rt *route, st *stanzaBuf) error {
	return r.deliver(ctx, rt, st)
}

// targets chooses the sessions for st (see Route).
func (r *Router) targets(st *stanzaBuf) ([]*route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	routes := r.accounts[st.to.Bare().String()]
	if st.to.Resourcepart() != "" {
		for _, rt := range routes {
			if rt.jid.Equal(st.to) {
				return []*route{rt}, nil
			}
		}
		switch {
		case st.kind == "message" && (st.typ == "" || st.typ == "normal" || st.typ == "chat"):
			// Fall through to the bare JID rules.
		case st.kind == "iq" && (st.typ == "get" || st.typ == "set"):
			return nil, ErrUnavailable
		case st.kind == "message" && st.typ == "groupchat":
			return nil, ErrUnavailable
		default:
			return nil, nil
		}
	}
	switch st.kind {
	case "presence":
		return slices.Clone(routes), nil
	case "iq":
		if st.typ == "get" || st.typ == "set" {
			return nil, ErrUnavailable
		}
		return nil, nil
	}
	// Messages.
	switch st.typ {
	case "error":
		return nil, nil
	case "groupchat":
		return nil, ErrUnavailable
	}
	var out []*route
	var newest *route
	for _, rt := range routes {
		if rt.available && rt.priority < 0 {
			continue // RFC 6121 §8.5.2.1.1: never for bare-JID messages
		}
		if rt.available {
			out = append(out, rt)
		}
		if newest == nil || rt.seq > newest.seq {
			newest = rt
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case newest != nil:
		return []*route{newest}, nil
	case st.typ == "headline":
		return nil, nil
	}
	return nil, ErrUnavailable
}

// stanzaBuf is one buffered top-level stanza: its tokens (start element
// first, end element last) and the attributes routing needs.
type stanzaBuf struct {
	tokens   []xml.Token
	kind     string // iq, message or presence
	typ, id  string
	to, from jid.JID
	badFrom  bool // the from attribute is not a JID
}

// bufferStanza reads the rest of the stanza that starts with start from
// inner (which returns io.EOF after the end element), copying the tokens,
// capping the size at max (approximate bytes), and parsing the addresses.
func bufferStanza(start xml.StartElement, inner xml.TokenReader, max int) (*stanzaBuf, error) {
	if start.Name.Space != stanza.NSClient ||
		(start.Name.Local != "iq" && start.Name.Local != "message" && start.Name.Local != "presence") {
		return nil, fmt.Errorf("%w: %s %s", ErrNotStanza, start.Name.Space, start.Name.Local)
	}
	start = cleanStart(start.Copy())
	st := &stanzaBuf{kind: start.Name.Local, tokens: []xml.Token{start}}
	size := tokenSize(start)
	for {
		tok, err := inner.Token()
		if tok != nil {
			tok = xml.CopyToken(tok)
			if s, ok := tok.(xml.StartElement); ok {
				tok = cleanStart(s)
			}
			size += tokenSize(tok)
			if size > max {
				return nil, ErrStanzaTooLarge
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
		if a.Name.Space != "" {
			continue
		}
		var err error
		switch a.Name.Local {
		case "type":
			st.typ = a.Value
		case "id":
			st.id = a.Value
		case "to":
			st.to, err = jid.Parse(a.Value)
		case "from":
			if st.from, err = jid.Parse(a.Value); err != nil {
				// A client's from is replaced anyway; Send refuses it.
				st.badFrom, err = true, nil
			}
		}
		if err != nil {
			return st, fmt.Errorf("%w: %s", ErrBadAddress, a.Name.Local)
		}
	}
	return st, nil
}

// cleanStart drops namespace declarations from a decoded start element: the
// decoder already resolved every name, and encoding/xml writes its own
// declarations (re-encoding xmlns:prefix attributes produces broken XML).
func cleanStart(s xml.StartElement) xml.StartElement {
	s.Attr = slices.DeleteFunc(s.Attr, func(a xml.Attr) bool {
		return a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns")
	})
	return s
}

func tokenSize(tok xml.Token) int {
	switch t := tok.(type) {
	case xml.StartElement:
		n := 2 + len(t.Name.Space) + len(t.Name.Local)
		for _, a := range t.Attr {
			n += 4 + len(a.Name.Space) + len(a.Name.Local) + len(a.Value)
		}
		return n
	case xml.EndElement:
		return 3 + len(t.Name.Local)
	case xml.CharData:
		return len(t)
	case xml.Comment:
		return len(t)
	case xml.ProcInst:
		return len(t.Target) + len(t.Inst)
	case xml.Directive:
		return len(t)
	}
	return 0
}

// start returns the stanza's start element.
func (st *stanzaBuf) start() xml.StartElement { return st.tokens[0].(xml.StartElement) }

// setAttr sets (or adds) an unqualified attribute of the start element.
func (st *stanzaBuf) setAttr(name, value string) {
	s := st.start()
	attrs := slices.Clone(s.Attr)
	for i, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			attrs[i].Value = value
			s.Attr = attrs
			st.tokens[0] = s
			return
		}
	}
	s.Attr = append(attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
	st.tokens[0] = s
}

// setFrom stamps the sender's address.
func (st *stanzaBuf) setFrom(j jid.JID) {
	st.from, st.badFrom = j, false
	st.setAttr("from", j.String())
}

// setTo readdresses the stanza.
func (st *stanzaBuf) setTo(j jid.JID) {
	st.to = j
	st.setAttr("to", j.String())
}

// clone returns a copy that setAttr on either does not affect.
func (st *stanzaBuf) clone() *stanzaBuf {
	c := *st
	c.tokens = slices.Clone(st.tokens)
	return &c
}

// reader returns the stanza's tokens from the start element on. The start
// element's attributes are copied: mellium's encoder edits them in place,
// and a stanza may be delivered to several sessions.
func (st *stanzaBuf) reader() xml.TokenReader {
	i := 0
	return xmlstream.ReaderFunc(func() (xml.Token, error) {
		if i >= len(st.tokens) {
			return nil, io.EOF
		}
		i++
		if i == 1 {
			return st.start().Copy(), nil
		}
		return st.tokens[i-1], nil
	})
}

// inner returns the tokens after the start element, end element included
// (what a mellium handler expects to read).
func (st *stanzaBuf) inner() xml.TokenReader {
	r := st.reader()
	_, _ = r.Token()
	return r
}

// priority returns the <priority/> of a presence, 0 when absent or invalid
// (RFC 6121 §4.7.2.3: an integer from -128 to 127).
func (st *stanzaBuf) priority() int {
	depth := 0
	for i, tok := range st.tokens {
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == "priority" && t.Name.Space == stanza.NSClient && i+1 < len(st.tokens) {
				if cd, ok := st.tokens[i+1].(xml.CharData); ok {
					p, err := strconv.Atoi(strings.TrimSpace(string(cd)))
					if err == nil && p >= -128 && p <= 127 {
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
