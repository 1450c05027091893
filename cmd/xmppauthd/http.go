package main

import (
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/xmppauth/xmppauth/httpauth"
)

// httpServer serves the demo's pages with the library's recommended
// timeouts (idle keep-alive connections are closed; writes outlast a
// confirmation). Every page but the static assets is guarded by XEP-0070:
// the browser names a JID (Basic or Digest: user = the JID, password = a
// transaction id) and the page is served once that user confirms the
// request from an XMPP client.
func (s *server) httpServer() *http.Server {
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		who, _ := httpauth.FromContext(r.Context())
		page(w, http.StatusOK, "Confirmed",
			fmt.Sprintf("<p>Hello <b>%s</b>: you confirmed this request from your XMPP client (XEP-0070).</p>", html.EscapeString(who.String())))
	})
	root := http.NewServeMux()
	// Static assets are not guarded: a browser fetches them with every page,
	// and each would ask the user again.
	root.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	root.Handle("/", s.plugin.HTTPMiddleware(pages))
	srv := &http.Server{Handler: root, ErrorLog: nil}
	if v := s.plugin.HTTPAuth(); v != nil {
		v.ServerDefaults(srv)
	} else {
		srv.Handler = disabled(root)
	}
	return srv
}

// disabled explains the 503 the plugin answers while XEP-0070 is off.
func disabled(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			next.ServeHTTP(w, r)
			return
		}
		errorPage(w, r, httpauth.Outcome{Reason: httpauth.Disabled, Status: http.StatusServiceUnavailable})
	})
}

// errorPage is the demo's Config.ErrorHandler: the protocol's status and
// headers (set by the library) with a page that tells a person what to do.
func errorPage(w http.ResponseWriter, r *http.Request, o httpauth.Outcome) {
	var b strings.Builder
	fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(o.Message()))
	switch o.Reason {
	case httpauth.NoCredentials, httpauth.BadCredentials, httpauth.UsedTransaction:
		b.WriteString("<ol><li>Your browser asks for a user name and a password.</li>" +
			"<li>User name: your XMPP address, e.g. <code>alice@localhost</code>. With a full JID " +
			"(<code>alice@localhost/phone</code>) that one client is asked with an IQ (Gajim, Psi+, poezio); with a bare " +
			"JID every client gets a chat message to answer (Profanity, Conversations).</li>" +
			"<li>Password: any transaction id of your choice, e.g. <code>tea-4711</code>; your XMPP client shows it so " +
			"that you recognise the request. With Digest the id it shows is your browser's cnonce instead.</li>" +
			"<li>Confirm in your XMPP client: the page then loads.</li></ol>")
	case httpauth.Denied, httpauth.TimedOut, httpauth.CouldNotAnswer, httpauth.SessionEnded:
		if o.JID.String() != "" {
			fmt.Fprintf(&b, "<p>Asked: <code>%s</code>, for <code>%s %s</code>.</p>",
				html.EscapeString(o.JID.String()), html.EscapeString(o.Method), html.EscapeString(o.URL))
		}
	}
	page(w, o.Status, http.StatusText(o.Status), b.String())
}

func page(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>xmppauthd: %s</title><h1>%s</h1>%s",
		html.EscapeString(title), html.EscapeString(title), body)
}
