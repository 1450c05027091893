package httpauth

import (
	"net/http/httptest"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// The HTML page says what to type for a 401, who was asked for a refusal,
// and escapes what came from the request.
func TestHTMLErrorHandler(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want []string
	}{
		{Outcome{Reason: NoCredentials, Status: 401}, []string{"<h1>Unauthorized</h1>", "transaction id of your choice", "cnonce"}},
		{Outcome{Reason: Denied, Status: 403, JID: jid.MustParse("juliet@example.net"), Method: "GET", URL: "http://x/<script>"},
			[]string{"denied", "juliet@example.net", "http://x/&lt;script&gt;"}},
		{Outcome{Reason: Disabled, Status: 503}, []string{"<h1>Service Unavailable</h1>", "XEP-0070"}},
	} {
		rec := httptest.NewRecorder()
		HTMLErrorHandler(rec, httptest.NewRequest("GET", "http://x/", nil), tc.o)
		body := rec.Body.String()
		if rec.Code != tc.o.Status || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%v: %d %s", tc.o.Reason, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%v: page lacks %q:\n%s", tc.o.Reason, w, body)
			}
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("unescaped: %s", body)
		}
	}
}
