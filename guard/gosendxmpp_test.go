package guard

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// goSendxmpp is Debian's go-sendxmpp, a command-line client on go-xmpp.
const goSendxmpp = "/usr/bin/go-sendxmpp"

// TestGoSendxmpp sends a message with the real go-sendxmpp through STARTTLS,
// SASL PLAIN and binding to the guarded mellium host: go-xmpp writes a
// newline after its stream header and after each element, which mellium's
// negotiator cannot read without the guard.
func TestGoSendxmpp(t *testing.T) {
	if _, err := os.Stat(goSendxmpp); err != nil {
		t.Skipf("skipping: %s not found (install go-sendxmpp)", goSendxmpp)
	}
	serverTLS, _ := tlsConfigs()
	addr, results := host(t, serverTLS)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// -n: no certificate verification (the test CA); HOME keeps it away
	// from any real configuration file.
	cmd := exec.CommandContext(ctx, goSendxmpp, "-n", "--timeout", "20",
		"-u", "alice@localhost", "-p", "alice-secret", "-j", addr, "bob@localhost")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdin = strings.NewReader("hello from go-sendxmpp\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go-sendxmpp: %v\n%s", err, &out)
	}
	res := <-results
	if res.negErr != nil {
		t.Fatalf("negotiation: %v", res.negErr)
	}
	var gerr *Error
	if errors.As(res.serveErr, &gerr) {
		t.Fatalf("the guard refused go-sendxmpp: %v", gerr)
	}
	t.Logf("stanzas %q; Serve: %v", res.stanzas, res.serveErr)
	found := false
	for _, s := range res.stanzas {
		found = found || strings.HasPrefix(s, "<message") && strings.Contains(s, "hello from go-sendxmpp")
	}
	if !found || !res.secure {
		t.Errorf("server got %q (TLS %v)", res.stanzas, res.secure)
	}
}
