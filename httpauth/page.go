package httpauth

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// HTMLErrorHandler is a Config.ErrorHandler for pages people read in a
// browser: the outcome's Message, and, when the browser must ask for
// credentials, what to type and which XMPP client will be asked. The
// protocol's headers (WWW-Authenticate, Retry-After) are set before it runs.
func HTMLErrorHandler(w http.ResponseWriter, r *http.Request, o Outcome) {
	var b strings.Builder
	fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(o.Message()))
	switch o.Reason {
	case NoCredentials, BadCredentials, UsedTransaction:
		b.WriteString("<ol><li>Your browser asks for a user name and a password.</li>" +
			"<li>User name: your XMPP address (JID), e.g. <code>juliet@example.net</code>. With a full JID " +
			"(<code>juliet@example.net/phone</code>) that one client is asked with an IQ (Gajim, Psi+, poezio); " +
			"with a bare JID every client of the account gets a chat message to answer (Profanity, Conversations).</li>" +
			"<li>Password: a transaction id of your choice, e.g. <code>tea-4711</code>; your XMPP client shows it " +
			"so that you recognise the request. With Digest it shows your browser's cnonce instead.</li>" +
			"<li>Confirm in your XMPP client: the page then loads.</li></ol>")
	case Denied, TimedOut, CouldNotAnswer, SessionEnded:
		if o.JID.String() != "" {
			fmt.Fprintf(&b, "<p>Asked: <code>%s</code>, for <code>%s %s</code>.</p>",
				html.EscapeString(o.JID.String()), html.EscapeString(o.Method), html.EscapeString(o.URL))
		}
	}
	title := html.EscapeString(http.StatusText(o.Status))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(o.Status)
	fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>%s</title><h1>%s</h1>%s", title, title, b.String())
}

// DefaultTimeout is how long the user has to answer when Config.Timeout is
// zero.
const DefaultTimeout = 2 * time.Minute

// ServerDefaults is Verifier.ServerDefaults for the default confirmation
// timeout, for a host that serves its pages while XEP-0070 is off.
func ServerDefaults(s *http.Server) {
	serverDefaults(s, DefaultTimeout)
}
