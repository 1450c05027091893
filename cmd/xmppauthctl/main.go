// Command xmppauthctl manages the accounts of an sqlstore database (SQLite
// or PostgreSQL) from a shell: the same store a host serves logins from.
//
//	xmppauthctl -db sqlite:/var/lib/xmppauth/accounts.db user add juliet@example.net
//	xmppauthctl -db postgres://xmppauth@db.internal/xmppauth user list example.net
//	XMPPAUTH_DB=sqlite:accounts.db xmppauthctl user passwd -iterations 20000 juliet@example.net
//
// Commands: user add|passwd|disable|enable|delete JID, user list [DOMAIN].
// add and passwd store SCRAM credentials (salt, iterations, StoredKey,
// ServerKey) for every hash of -hashes at -iterations, never the password.
// The password is prompted for twice, without echo, when standard input is
// a terminal, and otherwise read from the first line of standard input; it
// is never taken from the command line (which other users can see in the
// process list). Keep a PostgreSQL password out of the command line too:
// put the data source in $XMPPAUTH_DB, or the password in PGPASSWORD or
// ~/.pgpass.
//
// Exit status: 0 done; 1 failed (database, password); 2 usage; 3 the account
// does not exist (passwd, disable, enable, delete) or already exists (add).
package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/sqlstore"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitAccount = 3
)

// maxPassword is the longest password accepted: RFC 4616 caps each PLAIN
// field at 255 bytes, so a longer one could never log in with PLAIN.
const maxPassword = 255

// openTimeout bounds opening (and migrating) the database.
const openTimeout = 30 * time.Second

const usage = `usage: xmppauthctl [-db SOURCE] user COMMAND [flags] ARG

SOURCE is sqlite:PATH, postgres:DSN or postgres://… (default $XMPPAUTH_DB).

Commands:
  user add JID        create an account (password from the terminal or stdin)
  user passwd JID     replace the account's password
  user disable JID    refuse the account's logins (<account-disabled/>)
  user enable JID     allow them again
  user delete JID     delete the account and its credentials
  user list [DOMAIN]  list the accounts (of DOMAIN)

Flags of add and passwd:
  -iterations N       PBKDF2 iterations, at least 4096 (default 10000); give
                      the server the same count (features.Config.Iterations)
  -hashes LIST        SCRAM hashes (default SHA-1,SHA-256,SHA-512)

The password is prompted for twice without echo on a terminal, or read from
the first line of standard input; never from the command line.
Exit status: 0 done, 1 failed, 2 usage, 3 no such account / already exists.
`

// terminal reads a password without echoing it.
type terminal interface {
	ReadPassword(prompt string) ([]byte, error)
}

// env is what run needs from the process, so that tests can run it in
// process with a fake standard input and terminal.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// tty is the terminal standard input is, nil when it is none.
	tty    terminal
	getenv func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		e.tty = ttyReader{fd: fd, prompt: os.Stderr}
	}
	code := run(ctx, os.Args[1:], e)
	stop()
	os.Exit(code)
}

// ttyReader reads from the terminal on fd with echo off.
type ttyReader struct {
	fd     int
	prompt io.Writer
}

func (t ttyReader) ReadPassword(prompt string) ([]byte, error) {
	fmt.Fprint(t.prompt, prompt)
	defer fmt.Fprintln(t.prompt)
	return term.ReadPassword(t.fd)
}

// commandError carries an exit status.
type commandError struct {
	code int
	err  error
}

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return commandError{exitUsage, fmt.Errorf(format, args...)}
}

// run is the command with its arguments (without the program name); it
// returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	err := runErr(ctx, args, e)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(e.stderr, "xmppauthctl:", err)
	var ce commandError
	switch {
	case errors.As(err, &ce):
		if ce.code == exitUsage {
			fmt.Fprint(e.stderr, "\n"+usage)
		}
		return ce.code
	case errors.Is(err, sqlstore.ErrNoAccount), errors.Is(err, sqlstore.ErrAccountExists):
		return exitAccount
	}
	return exitFailed
}

func runErr(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet("xmppauthctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	source := fs.String("db", "", "")
	iterations := fs.Int("iterations", sqlstore.DefaultIterations, "")
	hashList := fs.String("hashes", "SHA-1,SHA-256,SHA-512", "")
	help := fs.Bool("h", false, "")
	// Flags may come before or after the command words.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return usageError("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *help {
		fmt.Fprint(e.stdout, usage)
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if len(words) < 2 || words[0] != "user" {
		return usageError("expected: user add|passwd|disable|enable|delete JID, or user list [DOMAIN]")
	}
	verb, rest := words[1], words[2:]
	switch verb {
	case "add", "passwd", "disable", "enable", "delete":
		if len(rest) != 1 {
			return usageError("user %s takes one JID", verb)
		}
	case "list":
		if len(rest) > 1 {
			return usageError("user list takes at most one domain")
		}
	default:
		return usageError("unknown command %q", "user "+verb)
	}
	if (set["iterations"] || set["hashes"]) && verb != "add" && verb != "passwd" {
		return usageError("-iterations and -hashes apply to user add and user passwd")
	}
	hashes, err := parseHashes(*hashList)
	if err != nil {
		return usageError("-hashes: %v", err)
	}
	if *iterations < scram.MinIterations {
		return usageError("-iterations: %d is below %d (RFC 7677)", *iterations, scram.MinIterations)
	}
	var account jid.JID
	if verb != "list" {
		if account, err = parseAccount(rest[0]); err != nil {
			return usageError("%v", err)
		}
	}

	if *source == "" && e.getenv != nil {
		*source = e.getenv("XMPPAUTH_DB")
	}
	if *source == "" {
		return usageError("no database: give -db or set XMPPAUTH_DB")
	}
	dialect, dsn, err := sqlstore.ParseSource(*source)
	if err != nil {
		return usageError("-db: %v", err)
	}
	openCtx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	store, err := sqlstore.Open(openCtx, dialect, dsn, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	switch verb {
	case "add", "passwd":
		// Say that the account exists (or does not) before asking for a
		// password.
		_, err := store.Account(ctx, account)
		switch {
		case verb == "add" && err == nil:
			return fmt.Errorf("%s: %w", account, sqlstore.ErrAccountExists)
		case verb == "passwd" && err != nil:
			return fmt.Errorf("%s: %w", account, err)
		case err != nil && !errors.Is(err, sqlstore.ErrNoAccount):
			return err
		}
		password, err := readPassword(e, account)
		if err != nil {
			return err
		}
		if verb == "add" {
			err = store.AddAccount(ctx, account, password, *iterations, hashes...)
		} else {
			err = store.SetPassword(ctx, account, password, *iterations, hashes...)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", account, err)
		}
		done := map[string]string{"add": "added", "passwd": "password set for"}[verb]
		fmt.Fprintf(e.stdout, "%s %s (%s, %d iterations)\n", done, account, hashNames(hashes), *iterations)
	case "disable", "enable", "delete":
		op := map[string]func(context.Context, jid.JID) error{
			"disable": store.Disable, "enable": store.Enable, "delete": store.Delete,
		}[verb]
		if err := op(ctx, account); err != nil {
			return fmt.Errorf("%s: %w", account, err)
		}
		fmt.Fprintf(e.stdout, "%sd %s\n", verb, account)
	case "list":
		domain := ""
		if len(rest) == 1 {
			domain = rest[0]
		}
		accounts, err := store.List(ctx, domain)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "JID\tSTATUS\tHASHES\tITERATIONS\tCREATED")
		for _, a := range accounts {
			status := "enabled"
			if a.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", a.JID, status, hashNames(a.Hashes), a.Iterations, a.Created.Format(time.RFC3339))
		}
		return w.Flush()
	}
	return nil
}

// parseAccount accepts a bare JID with a localpart, in any case: it is
// prepared as logins prepare the name they look up (RFC 7622).
func parseAccount(s string) (jid.JID, error) {
	j, err := jid.Parse(s)
	switch {
	case err != nil:
		return jid.JID{}, fmt.Errorf("%q is not a JID: %v", s, err)
	case j.Localpart() == "" || j.Resourcepart() != "":
		return jid.JID{}, fmt.Errorf("%q is not a bare JID with a localpart (user@domain)", s)
	}
	return j, nil
}

func parseHashes(list string) ([]crypto.Hash, error) {
	var out []crypto.Hash
	for _, name := range strings.Split(list, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		var h crypto.Hash
		switch strings.ReplaceAll(name, "-", "") {
		case "SHA1":
			h = crypto.SHA1
		case "SHA256":
			h = crypto.SHA256
		case "SHA512":
			h = crypto.SHA512
		default:
			return nil, fmt.Errorf("unknown hash %q (want SHA-1, SHA-256 or SHA-512)", name)
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

func hashNames(hs []crypto.Hash) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.String()
	}
	return strings.Join(names, ",")
}

// readPassword asks the terminal twice, or reads the first line of
// standard input.
func readPassword(e env, account jid.JID) (string, error) {
	var password []byte
	if e.tty != nil {
		first, err := e.tty.ReadPassword(fmt.Sprintf("Password for %s: ", account))
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		again, err := e.tty.ReadPassword("Repeat the password: ")
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if subtle.ConstantTimeCompare(first, again) != 1 {
			return "", errors.New("the passwords do not match")
		}
		password = first
	} else {
		line, err := bufio.NewReaderSize(io.LimitReader(e.stdin, 4*maxPassword), 4*maxPassword).ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", errors.New("reading the password from standard input: no newline within the first line's length limit")
		}
		password = line
		if n := len(password); n > 0 && password[n-1] == '\n' {
			password = password[:n-1]
		}
		if n := len(password); n > 0 && password[n-1] == '\r' {
			password = password[:n-1]
		}
	}
	switch {
	case len(password) == 0:
		return "", errors.New("empty password")
	case len(password) > maxPassword:
		return "", fmt.Errorf("the password is longer than %d bytes, the most PLAIN can carry (RFC 4616)", maxPassword)
	}
	return string(password), nil
}
