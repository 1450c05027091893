package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// goSendxmpp is Debian's go-sendxmpp, a command-line client on go-xmpp.
const goSendxmpp = "/usr/bin/go-sendxmpp"

// TestGoSendxmpp sends a message with go-sendxmpp (Debian bookworm's
// 0.5.6, built on go-xmpp) to a mellium client.
//
// What it does: it writes a newline after its stream header and after each
// element, which mellium's negotiator cannot read (the plugin's stream
// guard drops it; without the guard STARTTLS fails), and it authenticates with PLAIN: this version
// of go-xmpp has no SCRAM, so it does not use channel binding. It closes the
// TCP connection without a closing stream tag.
func TestGoSendxmpp(t *testing.T) {
	if _, err := os.Stat(goSendxmpp); err != nil {
		t.Skipf("skipping: %s not found (install go-sendxmpp)", goSendxmpp)
	}
	ts := startServer(t, nil)
	bob := ts.mustLogin(t, "bob", "bob-secret")

	for _, to := range []string{bob.jid.String(), bob.jid.Bare().String()} {
		t.Run(to, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// -n: no certificate verification (self-signed); HOME keeps it
			// away from any real configuration file.
			cmd := exec.CommandContext(ctx, goSendxmpp, "-n", "--timeout", "20",
				"-u", "alice@localhost", "-p", "alice-secret", "-j", ts.addrs.XMPP, to)
			cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
			cmd.Stdin = strings.NewReader("hello from go-sendxmpp\n")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("go-sendxmpp: %v\n%s", err, &out)
			}
			got := bob.next(t)
			for got.XMLName.Local == "presence" { // alice's, broadcast to her contacts
				got = bob.next(t)
			}
			if got.XMLName.Local != "message" || !strings.HasPrefix(got.From, "alice@localhost/") ||
				strings.TrimSpace(got.Body) != "hello from go-sendxmpp" {
				t.Errorf("bob got %+v", got)
			}
			if !strings.Contains(ts.log.String(), `msg="sasl login" jid=alice@localhost mechanism=PLAIN`) {
				t.Errorf("server log lacks the PLAIN login:\n%s", ts.log)
			}
		})
	}
}
