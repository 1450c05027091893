package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrNotInstalled is returned by LaunchPostgres when the PostgreSQL server
// binaries (initdb and postgres) cannot be found.
var ErrNotInstalled = errors.New("testenv: PostgreSQL is not installed (Debian package postgresql)")

// PostgresOptions configures a test PostgreSQL.
type PostgresOptions struct {
	// StartTimeout bounds initdb and each start of the server; default 60s.
	StartTimeout time.Duration
}

// Postgres is a throwaway PostgreSQL server: a fresh cluster made by initdb
// in a temporary directory, listening only on 127.0.0.1 on a free port, with
// no Unix socket, fsync off, and trust authentication for the superuser
// "postgres" (which is why it must never listen beyond loopback).
//
// Run as root (as CI is), PostgreSQL refuses to start ("root" execution of
// the PostgreSQL server is not permitted): initdb and postgres then run as
// the system user "postgres", which Debian's postgresql package creates, or
// "nobody" when there is none, with the cluster directory owned by that user.
// Run as any other user, they run as that user.
type Postgres struct {
	// Addr is the loopback host:port the server listens on.
	Addr string
	// Dir holds the cluster (Dir/data); it is removed by Close.
	Dir string

	bin     string // directory of initdb, postgres, createdb
	port    int
	timeout time.Duration
	cred    *syscall.Credential // nil: run as ourselves

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	log     strings.Builder // server output, capped
}

// maxPostgresLog caps the server output kept for failure messages.
const maxPostgresLog = 1 << 16

// StartPostgres starts PostgreSQL for the duration of the test and removes it
// in t.Cleanup. It skips the test when the binaries are not installed and
// fails it when the server does not start.
func StartPostgres(t testing.TB, opts PostgresOptions) *Postgres {
	t.Helper()
	p, err := LaunchPostgres(opts)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err.Error() + "; skipping")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// LaunchPostgres is StartPostgres for a TestMain (one server shared by a
// package's tests): the caller must Close it. The error wraps ErrNotInstalled
// when the binaries are absent.
func LaunchPostgres(opts PostgresOptions) (*Postgres, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	p := &Postgres{bin: bin, timeout: opts.StartTimeout}
	if os.Geteuid() == 0 {
		if p.cred, err = unprivilegedUser(); err != nil {
			return nil, err
		}
	}
	// Not t.TempDir: its parent is private to root, and the server may run
	// as another user.
	if p.Dir, err = os.MkdirTemp("", "testenv-postgres-"); err != nil {
		return nil, err
	}
	if p.cred != nil {
		if err := os.Chown(p.Dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			os.RemoveAll(p.Dir)
			return nil, fmt.Errorf("testenv: %w", err)
		}
	}
	if err := p.initdb(); err != nil {
		os.RemoveAll(p.Dir)
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(p.Dir)
		return nil, err
	}
	p.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port))
	if err := p.Start(); err != nil {
		os.RemoveAll(p.Dir)
		return nil, err
	}
	return p, nil
}

// postgresBinDir finds the directory holding initdb and postgres: the one
// on PATH, else Debian's /usr/lib/postgresql/<version>/bin (which is not on
// PATH), the newest version first.
func postgresBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("postgres"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(r))
		}
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(debian, func(a, b string) int {
		va, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(a)), 64)
		vb, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(b)), 64)
		switch {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, d := range append(dirs, debian...) {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNotInstalled
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// unprivilegedUser is whom the server runs as when the tests run as root.
func unprivilegedUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New(`testenv: running as root, and neither a "postgres" nor a "nobody" user exists to run PostgreSQL as`)
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: p.cred,
		// Do not outlive a test binary that crashes (SIGQUIT: immediate
		// shutdown, which also ends the backends).
		Pdeathsig: syscall.SIGQUIT,
	}
	return cmd
}

func (p *Postgres) dataDir() string { return filepath.Join(p.Dir, "data") }

func (p *Postgres) initdb() error {
	cmd := p.command("initdb", "--pgdata", p.dataDir(), "--username", "postgres",
		"--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("testenv: initdb did not finish within %s:\n%s", p.timeout, out)
	}
	if err != nil {
		return fmt.Errorf("testenv: initdb: %v\n%s", err, out)
	}
	return nil
}

// Start starts the server (again, after Stop: same port, same data) and
// waits until it accepts connections.
func (p *Postgres) Start() error {
	cmd := p.command("postgres", "-D", p.dataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(p.port),
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	ready := make(chan struct{})
	cmd.Stderr = &postgresOutput{p: p, ready: ready}
	exited := make(chan struct{})
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return errors.New("testenv: postgres is already running")
	}
	p.log.Reset()
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("testenv: starting postgres: %w", err)
	}
	p.cmd, p.exited, p.waitErr = cmd, exited, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()

	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-exited:
		p.mu.Lock()
		defer p.mu.Unlock()
		p.cmd = nil
		return fmt.Errorf("testenv: postgres exited before accepting connections (%v):\n%s", p.waitErr, p.log.String())
	case <-timer.C:
		log := p.Log()
		p.Stop()
		return fmt.Errorf("testenv: postgres did not start within %s:\n%s", p.timeout, log)
	}
}

// postgresOutput collects the server's output for Log and closes ready at
// the line the server logs once it accepts connections.
type postgresOutput struct {
	p       *Postgres
	ready   chan struct{}
	partial []byte
}

func (o *postgresOutput) Write(b []byte) (int, error) {
	o.p.mu.Lock()
	defer o.p.mu.Unlock()
	if o.p.log.Len() < maxPostgresLog {
		o.p.log.Write(b)
	}
	o.partial = append(o.partial, b...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := o.partial[:i]
		o.partial = o.partial[i+1:]
		if o.ready != nil && bytes.Contains(line, []byte("database system is ready to accept connections")) {
			close(o.ready)
			o.ready = nil
		}
	}
	if len(o.partial) > maxPostgresLog {
		o.partial = o.partial[:0]
	}
	return len(b), nil
}

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// waits for it to exit; the data stays for Start. Stopping a stopped server
// does nothing.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGINT)
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("testenv: postgres did not stop within %s; killed", p.timeout)
	}
	return nil
}

// Close stops the server and removes its directory.
func (p *Postgres) Close() error {
	err := p.Stop()
	if rerr := os.RemoveAll(p.Dir); err == nil {
		err = rerr
	}
	return err
}

// DSN returns a connection URL for database (as the superuser postgres,
// without TLS), e.g. "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".
func (p *Postgres) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: p.Addr, Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates an empty database named name (with createdb, so
// that no SQL driver is needed here) and returns its DSN.
func (p *Postgres) CreateDatabase(name string) (string, error) {
	host, port, _ := net.SplitHostPort(p.Addr)
	cmd := exec.Command(filepath.Join(p.bin, "createdb"), "--host", host, "--port", port, "--username", "postgres", "--no-password", name)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testenv: createdb %s: %v\n%s", name, err, out)
	}
	return p.DSN(name), nil
}

// Log returns what the server logged so far (warnings and errors), for
// failure messages.
func (p *Postgres) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}
