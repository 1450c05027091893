package httpauth

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCurl runs the real curl against the middleware: Digest with an
// arbitrary password must reach the confirmation step (curl's cnonce is the
// transaction identifier), Basic works, and a HEAD confirmation is reused by
// the following GET.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed; skipping the real-client test")
	}
	for _, tc := range []struct {
		name    string
		runs    [][]string // curl argument lists, in order
		user    string
		confirm []bool // the user's answer to each confirmation request
		want    []string
	}{
		{"digest", [][]string{{"--digest", "-u", fullJID + ":anything"}}, fullJID, []bool{true}, []string{"200 hello " + fullJID}},
		{"digest denied", [][]string{{"--digest", "-u", fullJID + ":anything"}}, fullJID, []bool{false}, []string{"403 "}},
		{"digest non-ascii bare JID", [][]string{{"--digest", "-u", "jüliet@capulet.com:x"}}, "jüliet@capulet.com", []bool{true}, []string{"200 hello jüliet@capulet.com"}},
		{"basic", [][]string{{"-u", fullJID + ":" + txID}}, fullJID, []bool{true}, []string{"200 hello " + fullJID}},
		{"basic non-ascii", [][]string{{"-u", "jüliet@capulet.com/b:tx-€"}}, "jüliet@capulet.com/b", []bool{true}, []string{"200 hello jüliet@capulet.com/b"}},
		{"head then get", [][]string{{"-I", "-u", fullJID + ":" + txID}, {"-u", fullJID + ":" + txID}}, fullJID, []bool{true}, []string{"200 ", "200 hello " + fullJID}},
		{"get twice", [][]string{{"-u", fullJID + ":" + txID}, {"-u", fullJID + ":" + txID}}, fullJID, []bool{true}, []string{"200 hello " + fullJID, "401 "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, srv := serveEnv(t, nil)
			answered := make(chan sent, len(tc.confirm))
			go func() {
				for _, yes := range tc.confirm {
					s := <-e.sender.ch
					var a string
					switch {
					case s.start.Name.Local == "message" && yes:
						a = plaintext(tc.user+"/res", s.confirm.ID+" OK", false)(s)
					case s.start.Name.Local == "message":
						a = plaintext(tc.user+"/res", s.confirm.ID+" No", false)(s)
					case yes:
						a = iqResult(tc.user)(s)
					default:
						a = iqError(tc.user)(s)
					}
					if err := e.feed(a); err != nil {
						t.Errorf("answer refused: %v", err)
					}
					answered <- s
				}
			}()
			for i, args := range tc.runs {
				args = append([]string{"-sS", "-w", "\n%{http_code}", "-o", "-"}, args...)
				out, err := exec.Command(curl, append(args, srv.URL+"/missive.html")...).CombinedOutput()
				if err != nil {
					t.Fatalf("curl %q: %v\n%s", args, err, out)
				}
				body, status, _ := strings.Cut(string(out), "\n")
				if strings.Contains(body, "HTTP/") { // -I prints headers only
					body = ""
				}
				if i := strings.LastIndexByte(status, '\n'); i >= 0 {
					status = status[i+1:]
				}
				wantStatus, wantBody, _ := strings.Cut(tc.want[i], " ")
				if status != wantStatus || (wantBody != "" && body != wantBody) {
					t.Fatalf("run %d: got %s %q, want %s %q", i, status, body, wantStatus, wantBody)
				}
			}
			for range tc.confirm {
				s := <-answered
				if s.confirm.Method == "" || s.confirm.ID == "" || s.confirm.URL != srv.URL+"/missive.html" {
					t.Errorf("confirm %+v", s.confirm)
				}
			}
			e.noSend()
			if n := storePending(t, e.store); n != 0 {
				t.Errorf("%d pending", n)
			}
		})
	}
}
