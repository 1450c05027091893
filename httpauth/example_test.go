package httpauth_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"html"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/httpauth"
)

// printSender stands in for the host's router: it prints what would be sent.
type printSender struct{}

func (printSender) Send(ctx context.Context, r xml.TokenReader) error {
	tok, err := r.Token()
	if err != nil {
		return err
	}
	fmt.Println("would send a", tok.(xml.StartElement).Name.Local)
	return nil
}

// A request without credentials gets the XEP-0070 challenges.
func ExampleVerifier_Handler() {
	v, err := httpauth.New(httpauth.Config{Sender: printSender{}, BaseURL: "https://files.shakespeare.lit"})
	if err != nil {
		log.Fatal(err)
	}
	page := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, _ := httpauth.FromContext(r.Context())
		fmt.Fprintf(w, "Hello, %s\n", j)
	}))

	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest("GET", "https://files.shakespeare.lit/missive.html", nil))
	fmt.Println(rec.Code)
	fmt.Println(rec.Header().Values("WWW-Authenticate")[0])
	fmt.Println(len(rec.Header().Values("WWW-Authenticate")), "challenges")
	// Output:
	// 401
	// Basic realm="xmpp", charset="UTF-8"
	// 3 challenges
}

// A handler that takes the verified JID as an argument; refused requests are
// answered as by Handler.
func ExampleVerifier_HandlerWithJID() {
	v, err := httpauth.New(httpauth.Config{Sender: printSender{}, BaseURL: "https://files.shakespeare.lit"})
	if err != nil {
		log.Fatal(err)
	}
	page := v.HandlerWithJID(func(w http.ResponseWriter, r *http.Request, j jid.JID) {
		fmt.Fprintf(w, "Hello, %s\n", j)
	})

	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest("GET", "https://files.shakespeare.lit/missive.html", nil))
	fmt.Println(rec.Code)
	// Output:
	// 401
}

func ExampleBasicAuthorization() {
	fmt.Println(httpauth.BasicAuthorization(jid.MustParse("juliet@capulet.com"), "a7374jnjlalasdf82"))
	fmt.Println(httpauth.BasicAuthorization(jid.MustParse("jüliet@capulet.com"), "a7374"))
	// Output:
	// Basic anVsaWV0QGNhcHVsZXQuY29tOmE3Mzc0am5qbGFsYXNkZjgy
	// Basic aiVDMyVCQ2xpZXRAY2FwdWxldC5jb206YTczNzQ=
}

func ExampleInstructions() {
	fmt.Println(httpauth.Instructions(httpauth.Confirm{ID: "a7374jnjlalasdf82", Method: "GET", URL: "https://files.shakespeare.lit:9345/missive.html"}))
	// Output:
	// Someone (maybe you) has requested GET https://files.shakespeare.lit:9345/missive.html
	//
	// The transaction identifier is: a7374jnjlalasdf82
	//
	// If you wish to confirm the request, reply with "a7374jnjlalasdf82 OK". If not, reply with "a7374jnjlalasdf82 No".
}

// Run the XMPP side as an XEP-0114 component of any XMPP server and guard an
// HTTP handler with it.
func Example_component() {
	ctx := context.Background()
	conn, err := net.Dial("tcp", "127.0.0.1:5347")
	if err != nil {
		log.Fatal(err)
	}
	domain := jid.MustParse("auth.example.net")
	s, err := component.NewSession(ctx, domain, []byte("component secret"), conn)
	if err != nil {
		log.Fatal(err)
	}
	v, err := httpauth.New(httpauth.Config{Sender: s, From: domain, BaseURL: "https://files.example.net"})
	if err != nil {
		log.Fatal(err)
	}
	// Answers (IQ results and errors, messages) reach v through the mux.
	go s.Serve(mux.New(component.NSAccept, v.HandleComponent()))

	http.Handle("/private/", v.Handler(http.FileServer(http.Dir("/srv/private"))))
	log.Fatal(http.ListenAndServe(":8080", nil))
}

// A server's router hands every stanza a user's session sends to
// HandleStanza first, with the from it stamped; what is not an answer comes
// back for the host's own handlers, so nothing is registered twice.
func ExampleVerifier_HandleStanza() {
	v, err := httpauth.New(httpauth.Config{Sender: printSender{}, BaseURL: "https://files.example.net"})
	if err != nil {
		log.Fatal(err)
	}
	hostMux := mux.New(stanza.NSClient /* the host's own handlers */)
	route := func(session jid.JID, t xmlstream.TokenReadEncoder, start xml.StartElement) error {
		start = stampFrom(start, session)
		rest, handled := v.HandleStanza(start, t)
		if handled {
			return nil
		}
		return hostMux.HandleXMPP(struct {
			xml.TokenReader
			xmlstream.Encoder
		}{rest, t}, &start)
	}
	_ = route
	// When a session ends, what waited for it ends too:
	v.SessionEnded(jid.MustParse("juliet@example.net/balcony"))
}

// stampFrom sets the from attribute to the session's address.
func stampFrom(start xml.StartElement, from jid.JID) xml.StartElement {
	start = start.Copy()
	attrs := start.Attr[:0]
	for _, a := range start.Attr {
		if a.Name.Local != "from" {
			attrs = append(attrs, a)
		}
	}
	start.Attr = append(attrs, xml.Attr{Name: xml.Name{Local: "from"}, Value: from.String()})
	return start
}

// A host's page learns why a request was refused.
func ExampleConfig_errorHandler() {
	v, err := httpauth.New(httpauth.Config{
		Sender:  printSender{},
		BaseURL: "https://files.example.net",
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, o httpauth.Outcome) {
			w.WriteHeader(o.Status) // the challenges are already set
			fmt.Fprintf(w, "<p>%s</p>", html.EscapeString(o.Message()))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	v.Handler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "https://files.example.net/doc", nil))
	fmt.Println(rec.Code, strings.HasPrefix(rec.Body.String(), "<p>This page needs confirmation over XMPP"))
	// Output:
	// 401 true
}

// A mellium client answers confirmation requests after asking its user.
func ExampleHandle() {
	var session *xmpp.Session // a logged-in client session
	ask := func(ctx context.Context, r httpauth.Request) (bool, error) {
		// Show r.ID, r.Method and r.URL to the user and return the answer.
		return false, nil
	}
	go session.Serve(mux.New(stanza.NSClient, httpauth.Handle(session, ask)))
}
