package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/httpauth"
)

// Routing errors; client.bounce turns them into stanza errors.
var (
	ErrUnavailable     = errors.New("xmppauthd: recipient unavailable")
	ErrNotReading      = errors.New("xmppauthd: recipient does not read; disconnected")
	ErrRemoteDomain    = errors.New("xmppauthd: remote domains are not served")
	ErrToServer        = errors.New("xmppauthd: stanza addressed to the server")
	ErrTooManySessions = errors.New("xmppauthd: too many sessions for this account")
)

// route is one bound session.
type route struct {
	jid   jid.JID
	out   httpauth.Sender
	close func()             // disconnects the session at once
	kick  func(stream.Error) // ends the session with a stream error
	seq   uint64             // registration order
	// Guarded by Router.mu:
	available bool
	priority  int
	presence  *xmppauth.Stanza // last broadcast presence
}

// Router delivers stanzas between the sessions of the served domains. It
// never holds its lock while delivering.
type Router struct {
	domains     map[string]bool
	maxSessions int

	mu       sync.Mutex
	accounts map[string][]*route // bare JID → sessions
	seq      uint64
}

// NewRouter returns an empty router for domains (canonical) that allows
// maxSessions sessions per account.
func NewRouter(domains []string, maxSessions int) *Router {
	r := &Router{domains: make(map[string]bool), maxSessions: maxSessions, accounts: make(map[string][]*route)}
	for _, d := range domains {
		r.domains[d] = true
	}
	return r
}

// Register adds rt. A session already bound to the same full JID is
// returned to be closed (RFC 6120 §7.7.2.2); an account at its session cap
// gets ErrTooManySessions.
func (r *Router) Register(rt *route) (replaced *route, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := rt.jid.Bare().String()
	routes := r.accounts[key]
	if i := slices.IndexFunc(routes, func(o *route) bool { return o.jid.Equal(rt.jid) }); i >= 0 {
		replaced = routes[i]
		routes = slices.Delete(routes, i, i+1)
	}
	if len(routes) >= r.maxSessions {
		return nil, ErrTooManySessions
	}
	r.seq++
	rt.seq = r.seq
	r.accounts[key] = append(routes, rt)
	return replaced, nil
}

// Unregister removes rt if still registered and reports whether it was
// available.
func (r *Router) Unregister(rt *route) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := rt.jid.Bare().String()
	i := slices.Index(r.accounts[key], rt)
	if i < 0 {
		return false
	}
	if routes := slices.Delete(r.accounts[key], i, i+1); len(routes) > 0 {
		r.accounts[key] = routes
	} else {
		delete(r.accounts, key)
	}
	return rt.available
}

// deliver sends st to rt. A session that cannot take it in time is
// disconnected: its reader then ends and unregisters it.
func (r *Router) deliver(ctx context.Context, rt *route, st *xmppauth.Stanza) error {
	if err := rt.out.Send(ctx, st.Reader()); err != nil {
		rt.close()
		return fmt.Errorf("%w: %s: %v", ErrNotReading, rt.jid, err)
	}
	return nil
}

// Route delivers st by its to attribute, RFC 6121 §8.5 reduced:
//
//   - full JID online: that session; offline: messages (normal, chat) as if
//     to the bare JID, IQ get/set ErrUnavailable, the rest dropped;
//   - bare JID, message: every available session with non-negative
//     priority, or else the newest session (clients that never send
//     presence still get their messages); none: ErrUnavailable;
//   - bare JID, presence: every session; IQ get/set: ErrUnavailable;
//   - a served domain itself: ErrToServer; another domain: ErrRemoteDomain.
func (r *Router) Route(ctx context.Context, st *xmppauth.Stanza) error {
	switch {
	case !r.domains[st.To.Domainpart()]:
		return ErrRemoteDomain
	case st.To.Localpart() == "":
		return ErrToServer
	}
	targets, err := r.targets(st)
	var errs []error
	for _, rt := range targets {
		errs = append(errs, r.deliver(ctx, rt, st))
	}
	return errors.Join(append(errs, err)...)
}

func (r *Router) targets(st *xmppauth.Stanza) ([]*route, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	routes := r.accounts[st.To.Bare().String()]
	getSet := st.Kind == "iq" && (st.Type == "get" || st.Type == "set")
	if getSet && st.To.Resourcepart() == "" || st.Type == "groupchat" {
		return nil, ErrUnavailable // the server answers for accounts; no MUC here
	}
	if st.To.Resourcepart() != "" {
		if i := slices.IndexFunc(routes, func(rt *route) bool { return rt.jid.Equal(st.To) }); i >= 0 {
			return routes[i : i+1], nil
		}
		if getSet {
			return nil, ErrUnavailable
		}
		if !(st.Kind == "message" && (st.Type == "" || st.Type == "normal" || st.Type == "chat")) {
			return nil, nil
		}
	}
	switch {
	case st.Kind == "presence":
		return slices.Clone(routes), nil
	case st.Kind == "iq" || st.Type == "error":
		return nil, nil
	}
	var out []*route
	var newest *route
	for _, rt := range routes {
		if rt.available && rt.priority >= 0 {
			out = append(out, rt)
		}
		if !(rt.available && rt.priority < 0) && (newest == nil || rt.seq > newest.seq) {
			newest = rt
		}
	}
	switch {
	case len(out) > 0:
		return out, nil
	case newest != nil:
		return []*route{newest}, nil
	case st.Type == "headline":
		return nil, nil
	}
	return nil, ErrUnavailable
}

// SetPresence records rt's broadcast presence (nil: unavailable) and
// returns, in one step, the sessions to broadcast it to (every other session
// of the domain: the demo's users are each other's contacts) and, for an
// initial presence, the presence of every other available session, which
// the new one must get (RFC 6121 §4.2.2).
func (r *Router) SetPresence(rt *route, p *xmppauth.Stanza) (others []*route, theirs []*xmppauth.Stanza) {
	r.mu.Lock()
	defer r.mu.Unlock()
	initial := !rt.available && p != nil
	rt.available, rt.presence, rt.priority = p != nil, p, 0
	if p != nil {
		rt.priority = p.Priority()
	}
	for _, routes := range r.accounts {
		for _, o := range routes {
			if o == rt || o.jid.Domainpart() != rt.jid.Domainpart() {
				continue
			}
			others = append(others, o)
			if initial && o.available {
				theirs = append(theirs, o.presence)
			}
		}
	}
	return others, theirs
}
