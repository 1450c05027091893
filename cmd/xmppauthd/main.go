// Command xmppauthd is a small XMPP server (RFC 6120/6121 client-to-server)
// that shows how a host built on mellium.im/xmpp uses this module: the
// xmppauth Plugin guards every stream and provides STARTTLS, direct TLS
// (XEP-0368), SASL with channel binding, resource binding, XEP-0070 and
// XEP-0235; this program accepts connections, routes stanzas between its
// users and serves a web page guarded by XEP-0070.
//
//	go run ./cmd/xmppauthd [-user alice:secret ...]   (-h lists the flags)
//
// Its state directory keeps the certificate it generates, as PEM for
// clients to trust. Everything it prints is a log line on stderr. Every user
// of a domain is every other's contact; it does not store offline messages,
// federate or offer stream management. See README.md.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options configures run (the flags, and what tests set).
type options struct {
	Domains                           listFlag
	Addr, TLSAddr, HTTPAddr, StateDir string
	CertFile, KeyFile, ClientCA       string
	ConfigFile, DB, Redis             string
	// Secret is the cluster's shared secret (XMPPAUTHD_SECRET), from which
	// every key the nodes must share is derived.
	Secret      []byte
	Users       userList
	MaxSessions int
	// WriteTimeout bounds each write to a client: one that does not read
	// is disconnected. NegotiateTimeout, when set, replaces the config's.
	WriteTimeout, NegotiateTimeout, ShutdownTimeout time.Duration
	Logger                                          *slog.Logger // nil: text to stderr
	Listening                                       func(Addrs)  // called once listening
}

// Addrs are the addresses the server listens on, and its certificate.
type Addrs struct {
	XMPP, TLS, HTTP string // TLS and HTTP are empty when disabled
	Cert            *x509.Certificate
}

func defaultOptions() options {
	return options{
		Addr:            "127.0.0.1:5222",
		TLSAddr:         "127.0.0.1:5223",
		HTTPAddr:        "127.0.0.1:8080",
		StateDir:        "xmppauthd-state",
		MaxSessions:     10,
		WriteTimeout:    10 * time.Second,
		ShutdownTimeout: 5 * time.Second,
	}
}

// user is one account of -user; userList, of several.
type (
	user     struct{ name, password string }
	userList []user
	listFlag []string
)

// parseUser reads -user's name:password.
func parseUser(v string) (user, error) {
	name, password, ok := strings.Cut(v, ":")
	if !ok || name == "" || password == "" {
		return user{}, errors.New("want name:password")
	}
	return user{name, password}, nil
}

func main() {
	opts := defaultOptions()
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.Func("domain", "a served `domain` (repeatable; default localhost)", func(v string) error {
		opts.Domains = append(opts.Domains, v)
		return nil
	})
	fs.StringVar(&opts.Addr, "addr", opts.Addr, "STARTTLS listen `address`")
	fs.StringVar(&opts.TLSAddr, "tls-addr", opts.TLSAddr, "direct-TLS (XEP-0368) listen `address` (empty: none)")
	fs.StringVar(&opts.HTTPAddr, "http", opts.HTTPAddr, "HTTP listen `address` (empty: none)")
	fs.StringVar(&opts.StateDir, "state", opts.StateDir, "state `directory` (generated certificate)")
	fs.StringVar(&opts.CertFile, "cert", "", "PEM certificate chain `file` (default: generated in the state directory)")
	fs.StringVar(&opts.KeyFile, "key", "", "PEM private key `file` for -cert")
	fs.StringVar(&opts.ClientCA, "client-ca", "", "PEM `file` of CAs for client certificates (SASL EXTERNAL)")
	fs.StringVar(&opts.ConfigFile, "config", "", "xmppauth.Config JSON `file`")
	fs.StringVar(&opts.DB, "db", "", "account `database`: sqlite:PATH or postgres://… (default: SQLite in the state directory)")
	fs.StringVar(&opts.Redis, "redis", "", "Redis `address` for a cluster's shared state (needs XMPPAUTHD_SECRET)")
	fs.Func("user", "a user as `name:password` (repeatable; default: one random user)", func(v string) error {
		u, err := parseUser(v)
		opts.Users = append(opts.Users, u)
		return err
	})
	fs.IntVar(&opts.MaxSessions, "max-sessions", opts.MaxSessions, "sessions per account")
	verbose := fs.Bool("v", false, "debug logging")
	_ = fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %q\n", fs.Args())
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts.Secret = []byte(os.Getenv("XMPPAUTHD_SECRET"))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		opts.Logger.Error("xmppauthd stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down and returns once every
// connection and goroutine it started has ended.
func run(ctx context.Context, opts options) error {
	srv, err := newServer(opts)
	if err != nil {
		return err
	}
	return srv.run(ctx)
}
