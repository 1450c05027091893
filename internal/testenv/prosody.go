// Package testenv starts real peers for tests as child processes with a
// temporary directory on loopback: a Prosody server (StartProsody), a
// PostgreSQL server (StartPostgres, LaunchPostgres) and a redis-server
// (StartRedis), with stop and restart for outage tests.
//
// Tests skip (with a message saying which binary is missing) only when the
// program is not installed; .ci/run installs it so that CI never skips.
package testenv

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ProsodyOptions configures a test Prosody.
type ProsodyOptions struct {
	// VHost is the virtual host; default "localhost".
	VHost string
	// Users maps localparts on VHost to passwords; they are registered with
	// prosodyctl before the server starts.
	Users map[string]string
	// Components maps XEP-0114 component domains to their secrets.
	Components map[string]string
	// StartTimeout bounds the wait for the listeners; default 30s.
	StartTimeout time.Duration
}

// Prosody is a running test Prosody.
type Prosody struct {
	// VHost is the virtual host users live on.
	VHost string
	// C2SAddr and ComponentAddr are loopback host:port addresses.
	C2SAddr       string
	ComponentAddr string
	// Dir holds the configuration, data and prosody.log.
	Dir string
	// Config is the path of the configuration file.
	Config string
}

// Prosody starts Prosody for the duration of the test and stops it in
// t.Cleanup. It skips the test when the prosody or prosodyctl binaries are not
// installed and fails it when Prosody does not start.
//
// The c2s listener allows PLAIN authentication without TLS (loopback only):
// clients must treat the stream as secure themselves (e.g. by starting the
// mellium session with the xmpp.Secure state bit).
func StartProsody(t testing.TB, opts ProsodyOptions) *Prosody {
	t.Helper()
	bin, err := exec.LookPath("prosody")
	if err != nil {
		t.Skip("testenv: prosody is not installed (Debian package prosody); skipping")
	}
	ctl, err := exec.LookPath("prosodyctl")
	if err != nil {
		t.Skip("testenv: prosodyctl is not installed (Debian package prosody); skipping")
	}
	if opts.VHost == "" {
		opts.VHost = "localhost"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	dir := t.TempDir()
	p := &Prosody{VHost: opts.VHost, Dir: dir, Config: filepath.Join(dir, "prosody.cfg.lua")}
	c2sPort, compPort := freePort(t), freePort(t)
	p.C2SAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c2sPort))
	p.ComponentAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(compPort))
	if err := os.WriteFile(p.Config, []byte(prosodyConfig(dir, opts, c2sPort, compPort)), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	for _, user := range sortedKeys(opts.Users) {
		out, err := exec.CommandContext(ctx, ctl, "--config", p.Config, "register", user, opts.VHost, opts.Users[user]).CombinedOutput()
		if err != nil {
			cancel()
			t.Fatalf("testenv: prosodyctl register %s: %v\n%s", user, err, out)
		}
	}

	cmd := exec.CommandContext(ctx, bin, "--config", p.Config, "-F")
	cmd.Dir = dir
	// Stop gracefully; kill only if Prosody hangs on shutdown.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("testenv: starting prosody: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	// Prosody logs "Activated service '<name>'" to the console once a
	// listener is open; wait for both instead of polling the ports.
	ready := make(chan error, 1)
	var logMu sync.Mutex
	var logBuf strings.Builder
	go func() {
		need := map[string]bool{"c2s": true, "component": true}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			if logBuf.Len() < 1<<16 {
				logBuf.WriteString(line + "\n")
			}
			logMu.Unlock()
			for svc := range need {
				if strings.Contains(line, "Activated service '"+svc+"'") {
					delete(need, svc)
				}
			}
			if len(need) == 0 {
				ready <- nil
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("prosody exited before listening")
	}()
	timer := time.NewTimer(opts.StartTimeout)
	defer timer.Stop()
	select {
	case err := <-ready:
		if err != nil {
			<-exited
			logMu.Lock()
			defer logMu.Unlock()
			t.Fatalf("testenv: %v (%v); output:\n%s", err, waitErr, logBuf.String())
		}
	case <-timer.C:
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("testenv: prosody did not start within %s; output:\n%s", opts.StartTimeout, logBuf.String())
	}
	return p
}

// Log returns the debug log Prosody wrote so far (for failure messages).
func (p *Prosody) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "prosody.log"))
	return string(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// luaString quotes s as a Lua string literal; control bytes become \ddd
// escapes, which every Lua version understands.
func luaString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func prosodyConfig(dir string, opts ProsodyOptions, c2sPort, compPort int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `-- Written by internal/testenv for one test run.
run_as_root = true
daemonize = false
use_ipv6 = false
pidfile = %s
data_path = %s
plugin_paths = { %s }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { %d }
component_ports = { %d }
component_interfaces = { "127.0.0.1" }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "presence"; "message"; "iq"; "posix" }
modules_disabled = { "s2s"; "http"; "tls"; "offline"; "register" }
-- Loopback test server without certificates: plaintext PLAIN is allowed.
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false
authentication = "internal_plain"
storage = "internal"
log = {
	{ levels = { min = "info" }, to = "console" };
	{ levels = { min = "debug" }, to = "file", filename = %s };
}
VirtualHost %s
`, luaString(filepath.Join(dir, "prosody.pid")), luaString(dir), luaString(dir), c2sPort, compPort,
		luaString(filepath.Join(dir, "prosody.log")), luaString(opts.VHost))
	for _, domain := range sortedKeys(opts.Components) {
		fmt.Fprintf(&b, "Component %s\n\tcomponent_secret = %s\n", luaString(domain), luaString(opts.Components[domain]))
	}
	return b.String()
}
