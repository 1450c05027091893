package testenv

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisOptions configures a test redis-server.
type RedisOptions struct {
	// Persist keeps the data in an append-only file in Dir, so that it
	// survives Stop and Restart (written on every command). Without it the
	// server keeps nothing on disk and restarts empty.
	Persist bool
	// StartTimeout bounds the wait for the server to accept connections;
	// default 10s.
	StartTimeout time.Duration
}

// Redis is a running test redis-server (the Debian package redis-server),
// listening on a free loopback port, with its files in a temporary
// directory. Stop, Restart, Freeze and Thaw make outages for tests of how
// clients fail and recover; the address stays the same.
type Redis struct {
	// Addr is the loopback host:port the server listens on.
	Addr string
	// Dir holds the server's files.
	Dir string

	t            testing.TB
	bin          string
	args         []string
	startTimeout time.Duration

	mu   sync.Mutex
	proc *redisProc      // nil while stopped
	log  strings.Builder // bounded by maxRedisLog
}

type redisProc struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

const maxRedisLog = 1 << 16

// StartRedis starts redis-server for the duration of the test and stops it
// in t.Cleanup. It skips the test when redis-server is not installed and
// fails it when the server does not start.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("testenv: redis-server is not installed (Debian package redis-server); skipping")
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 10 * time.Second
	}
	dir := t.TempDir()
	port := freePort(t)
	r := &Redis{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Dir:  dir, t: t, bin: bin, startTimeout: opts.StartTimeout,
	}
	r.args = []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--daemonize", "no", "--logfile", "", "--save", "", "--protected-mode", "yes",
		"--databases", "1",
	}
	if opts.Persist {
		r.args = append(r.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		r.args = append(r.args, "--appendonly", "no")
	}
	t.Cleanup(r.Stop)
	r.start()
	return r
}

// start runs the server and waits until it accepts connections.
func (r *Redis) start() {
	r.t.Helper()
	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = r.Dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("testenv: starting redis-server: %v", err)
	}
	p := &redisProc{cmd: cmd, exited: make(chan struct{})}
	// redis-server says "Ready to accept connections" once it listens;
	// wait for that line instead of polling the port.
	ready := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			if r.log.Len() < maxRedisLog {
				r.log.WriteString(line + "\n")
			}
			r.mu.Unlock()
			if !signalled && strings.Contains(line, "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: read it to the end first
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	timer := time.NewTimer(r.startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-p.exited:
		r.t.Fatalf("testenv: redis-server exited before accepting connections (%v); output:\n%s", p.waitErr, r.Log())
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-p.exited
		r.t.Fatalf("testenv: redis-server did not start within %s; output:\n%s", r.startTimeout, r.Log())
	}
	r.mu.Lock()
	r.proc = p
	r.mu.Unlock()
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 10s) and waits
// for it to exit; connections to Addr are refused until Restart. Stopping
// a stopped server does nothing.
func (r *Redis) Stop() {
	r.mu.Lock()
	p := r.proc
	r.proc = nil
	r.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // a frozen server must run to exit
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-p.exited:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Restart stops the server if it runs and starts it again on the same
// address and directory.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Stop()
	r.start()
}

// Freeze stops the server process (SIGSTOP) without closing its
// connections: the kernel still accepts new ones, but nothing is answered,
// as with a server that hangs. Thaw resumes it.
func (r *Redis) Freeze() { r.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT); the commands sent meanwhile are
// then answered.
func (r *Redis) Thaw() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		r.t.Fatalf("testenv: redis-server is not running")
	}
	if err := r.proc.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("testenv: signalling redis-server: %v", err)
	}
}

// Log returns what the server wrote so far, over all its runs (for
// failure messages).
func (r *Redis) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}
