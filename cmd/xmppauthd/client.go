package main

import (
	"context"
	"encoding/xml"
	"errors"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/ping"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/oauth"
)

// client serves one negotiated session.
type client struct {
	srv     *server
	conn    *xmppauth.Conn
	session *xmpp.Session
	jid     jid.JID // the bound full JID: the only from this client gets
	route   *route
	// serverMux answers stanzas to the server; accountMux answers IQs to
	// the client's own bare JID.
	serverMux, accountMux *mux.ServeMux
}

// nsRoster is RFC 6121's roster namespace; nsWhoami the demo's XEP-0235
// protected query.
const (
	nsRoster = "jabber:iq:roster"
	nsWhoami = "urn:xmppauthd:whoami"
)

func newClient(s *server, c *xmppauth.Conn, session *xmpp.Session, full jid.JID) *client {
	cl := &client{srv: s, conn: c, session: session, jid: full}
	cl.route = &route{jid: full, out: cl.sender(), close: func() { c.NetConn().Close() }, kick: func(e stream.Error) {
		s.wg.Add(1) // while this session's own goroutine still counts
		go func() {
			defer s.wg.Done()
			_ = c.Close(session, e)
		}()
	}}
	roster := mux.IQFunc(stanza.GetIQ, xml.Name{Space: nsRoster, Local: "query"}, cl.handleRoster)
	cl.serverMux = mux.New(stanza.NSClient, append(s.plugin.MuxOptions(),
		disco.Handle(), ping.Handle(), roster, mux.Ident(serverIdentity{}),
		mux.IQ(stanza.GetIQ, xml.Name{Space: nsWhoami, Local: "query"}, s.plugin.OAuthIQ(session, mux.IQHandlerFunc(handleWhoami))),
	)...)
	cl.accountMux = mux.New(stanza.NSClient, roster)
	return cl
}

// serverIdentity is the server's XEP-0030 identity (category server, type
// im).
type serverIdentity struct{}

func (serverIdentity) ForIdentities(node string, f func(info.Identity) error) error {
	if node != "" {
		return nil
	}
	return f(info.Identity{Category: "server", Type: "im", Name: "xmppauthd"})
}

func (cl *client) sender() xmppauth.SessionSender {
	return xmppauth.SessionSender{Session: cl.session, Timeout: cl.srv.opts.WriteTimeout}
}

// handleRoster lists every other user of the domain, subscribed both ways
// (RFC 6121 §2.1.3): the demo's users are each other's contacts.
func (cl *client) handleRoster(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	accounts, err := cl.srv.store.List(context.Background(), cl.jid.Domainpart())
	if err != nil {
		_, err = xmlstream.Copy(t, iq.Error(stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}))
		return err
	}
	var items []xml.TokenReader
	for _, a := range accounts {
		if !a.JID.Equal(cl.jid.Bare()) && !a.Disabled {
			items = append(items, xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "item"}, Attr: []xml.Attr{
				{Name: xml.Name{Local: "jid"}, Value: a.JID.String()}, {Name: xml.Name{Local: "subscription"}, Value: "both"},
			}}))
		}
	}
	query := xmlstream.Wrap(xmlstream.MultiReader(items...), xml.StartElement{Name: xml.Name{Space: nsRoster, Local: "query"}})
	_, err = xmlstream.Copy(t, iq.Result(query))
	return err
}

// handleWhoami answers the XEP-0235 demo query with the grant the signed
// request carried (the plugin's middleware verified it), or
// <not-authorized/> without one.
func handleWhoami(iq stanza.IQ, t xmlstream.TokenReadEncoder, _ *xml.StartElement) error {
	g, ok := oauth.GrantFrom(t)
	if !ok {
		_, err := xmlstream.Copy(t, iq.Error(stanza.Error{Type: stanza.Auth, Condition: stanza.NotAuthorized}))
		return err
	}
	answer := xmlstream.Wrap(xmlstream.Token(xml.CharData("consumer "+g.ConsumerKey+", token "+g.Token)),
		xml.StartElement{Name: xml.Name{Space: nsWhoami, Local: "query"}})
	_, err := xmlstream.Copy(t, iq.Result(answer))
	return err
}

// serve reads stanzas until the stream ends (nil) or fails (the error for
// Conn.Close). It does not use Session.Serve, which answers every IQ its
// handler left unanswered on the same stream (wrong for an IQ routed to
// another session) and closes the stream itself.
func (cl *client) serve() error {
	for {
		st, err := cl.conn.ReadStanza(cl.session)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, xmppauth.ErrBadTo):
			cl.bounce(st, stanza.Error{Type: stanza.Modify, Condition: stanza.JIDMalformed})
		case err != nil:
			return err
		default:
			if err := cl.handle(st); err != nil {
				return err
			}
		}
	}
}

// handle dispatches a stanza (its from is the client's bound JID).
func (cl *client) handle(st *xmppauth.Stanza) error {
	toServer := st.To.Equal(jid.JID{}) || st.To.Equal(cl.jid.Domain())
	switch {
	case st.Kind == "presence" && st.To.Equal(jid.JID{}):
		cl.presence(st)
		return nil
	case toServer:
		if cl.srv.plugin.HandleStanza(st) { // an XEP-0070 answer
			return nil
		}
		if st.Kind != "message" || !st.To.Equal(jid.JID{}) {
			return xmppauth.Serve(cl.session, cl.serverMux, st, cl.srv.opts.WriteTimeout)
		}
		st.SetTo(cl.jid.Bare()) // RFC 6120 §10.3.1
	case st.Kind == "iq" && st.To.Equal(cl.jid.Bare()):
		return xmppauth.Serve(cl.session, cl.accountMux, st, cl.srv.opts.WriteTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cl.srv.opts.WriteTimeout)
	defer cancel()
	err := cl.srv.router.Route(ctx, st)
	switch {
	case errors.Is(err, ErrNotReading):
		cl.bounce(st, stanza.Error{Type: stanza.Wait, Condition: stanza.RecipientUnavailable})
	case errors.Is(err, ErrRemoteDomain):
		cl.bounce(st, stanza.Error{Type: stanza.Cancel, Condition: stanza.RemoteServerNotFound})
	case errors.Is(err, ErrUnavailable):
		cl.bounce(st, stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	case err != nil:
		cl.srv.log.Debug("delivery failed", "from", cl.jid, "to", st.To, "err", err)
	}
	return nil
}

// bounce answers a stanza that could not be delivered (if it is one that
// gets an answer).
func (cl *client) bounce(st *xmppauth.Stanza, se stanza.Error) {
	if r := st.Bounce(se); r != nil {
		_ = cl.sender().Send(context.Background(), r)
	}
}

// presence handles presence without a to (RFC 6121 §4.2, §4.4): it records
// availability and broadcasts it to the domain's other sessions; an initial
// presence also gets theirs.
func (cl *client) presence(st *xmppauth.Stanza) {
	var p *xmppauth.Stanza
	switch st.Type {
	case "":
		p = st.Clone()
	case "unavailable":
	default:
		return // probes and subscriptions: the demo's contacts are fixed
	}
	others, theirs := cl.srv.router.SetPresence(cl.route, p)
	ctx, cancel := context.WithTimeout(context.Background(), cl.srv.opts.WriteTimeout)
	defer cancel()
	for _, o := range others {
		q := st.Clone()
		q.SetTo(o.jid)
		_ = cl.srv.router.deliver(ctx, o, q)
	}
	for _, their := range theirs {
		q := their.Clone()
		q.SetTo(cl.jid)
		_ = cl.sender().Send(ctx, q.Reader())
	}
}

// broadcastUnavailable tells the domain's other sessions this one is gone.
func (cl *client) broadcastUnavailable() {
	st, _ := xmppauth.NewStanza(xml.StartElement{Name: xml.Name{Local: "presence"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "unavailable"}}}, xmlstream.MultiReader())
	st.SetFrom(cl.jid)
	cl.presence(st)
}
