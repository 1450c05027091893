package httpauth_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"

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
	go s.Serve(mux.New(component.NSAccept, v.Handle()))

	http.Handle("/private/", v.Handler(http.FileServer(http.Dir("/srv/private"))))
	log.Fatal(http.ListenAndServe(":8080", nil))
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
