package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "embed"
)

// slixmppScript logs in with slixmpp, sends one chat message and exits 0 on
// success, 1 when authentication failed.
//
//go:embed testdata/slixmpp_send.py
var slixmppScript string

// debianPython is Debian's interpreter, which sees the python3-slixmpp
// package; another python3 may come first on PATH.
const debianPython = "/usr/bin/python3"

// requireSlixmpp returns the path of the script, or skips the test when
// slixmpp is not installed (.ci/run installs python3-slixmpp, so CI does not
// skip).
func requireSlixmpp(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Skipf("skipping: %s not found (install python3-slixmpp)", debianPython)
	}
	if out, err := exec.Command(debianPython, "-c", "import slixmpp").CombinedOutput(); err != nil {
		t.Skipf("skipping: %s cannot import slixmpp (install python3-slixmpp): %v\n%s", debianPython, err, out)
	}
	script := filepath.Join(t.TempDir(), "slixmpp_send.py")
	if err := os.WriteFile(script, []byte(slixmppScript), 0o600); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestSlixmpp logs in with slixmpp (a client that is not ours, from Debian)
// and sends a message to a mellium client.
//
// What slixmpp 1.8 does: it ranks SCRAM-SHA-512-PLUS first and always binds
// with tls-unique, taking the data from Python's ssl module. On TLS 1.2
// that works. On TLS 1.3, where tls-unique is undefined (RFC 9266) and
// Python has no tls-exporter, CPython still returns data for tls-unique
// (python/cpython#95341); the server refuses the binding type, slixmpp
// tries SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS the same way, and the third
// failure ends the stream. Its non-PLUS fallback would send the "y" flag,
// which a server that advertised -PLUS must refuse anyway (RFC 5802 §6).
// With -PLUS disabled in the config, slixmpp logs in over TLS 1.3 with
// SCRAM-SHA-512.
func TestSlixmpp(t *testing.T) {
	script := requireSlixmpp(t)
	noPlus := filepath.Join(t.TempDir(), "no-plus.json")
	if err := os.WriteFile(noPlus, []byte(`{"sasl": {"mechanisms": ["SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		tls12     bool
		config    string
		wantLogin bool
		wantLog   []string
	}{{
		name:      "TLS 1.2",
		tls12:     true,
		wantLogin: true,
		wantLog:   []string{`msg="sasl login" jid=alice@localhost mechanism=SCRAM-SHA-512-PLUS channel_binding=tls-unique`},
	}, {
		name: "TLS 1.3",
		wantLog: []string{
			`msg="sasl failure" user=alice ip=127.0.0.1 mechanism=SCRAM-SHA-512-PLUS condition=not-authorized reason="tls-unique is not defined on TLS 1.3; use tls-exporter or tls-server-end-point"`,
			`msg="sasl failure" user=alice ip=127.0.0.1 mechanism=SCRAM-SHA-256-PLUS condition=not-authorized reason="tls-unique is not defined on TLS 1.3; use tls-exporter or tls-server-end-point"`,
			`msg="sasl failure" user=alice ip=127.0.0.1 mechanism=SCRAM-SHA-1-PLUS condition=not-authorized reason="tls-unique is not defined on TLS 1.3; use tls-exporter or tls-server-end-point"`,
			`msg="sasl attempts exhausted"`,
		},
	}, {
		name:      "TLS 1.3 without -PLUS",
		config:    noPlus,
		wantLogin: true,
		wantLog:   []string{`msg="sasl login" jid=alice@localhost mechanism=SCRAM-SHA-512 channel_binding=""`},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(o *options) { o.ConfigFile = tc.config })
			bob := ts.mustLogin(t, "bob", "bob-secret")

			args := []string{script, "alice@localhost", "alice-secret", ts.addrs.XMPP, bob.jid.String(), "hello from slixmpp"}
			if tc.tls12 {
				args = append(args, "--tls12")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, debianPython, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			defer func() {
				if t.Failed() {
					t.Logf("slixmpp stdout:\n%s\nslixmpp stderr:\n%s", &stdout, &stderr)
				}
			}()
			var exit *exec.ExitError
			switch {
			case ctx.Err() != nil:
				t.Fatalf("slixmpp did not exit in time")
			case tc.wantLogin && err != nil:
				t.Fatalf("slixmpp: %v", err)
			case !tc.wantLogin && !(errors.As(err, &exit) && exit.ExitCode() == 1):
				t.Fatalf("slixmpp: %v, want exit status 1 (authentication failed)", err)
			}
			for _, want := range tc.wantLog {
				if !strings.Contains(ts.log.String(), want) {
					t.Errorf("server log lacks %s", want)
				}
			}
			if !tc.wantLogin {
				return
			}
			bound := regexp.MustCompile(`(?m)^bound (\S+)$`).FindStringSubmatch(stdout.String())
			if bound == nil {
				t.Fatalf("slixmpp did not print its bound JID")
			}
			got := bob.next(t)
			if got.XMLName.Local != "message" || got.From != bound[1] || got.Body != "hello from slixmpp" {
				t.Errorf("bob got %+v, want the message from %s", got, bound[1])
			}
		})
	}
}
