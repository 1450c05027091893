// Command xmppauthd is a small XMPP server (RFC 6120/6121 client-to-server)
// that demonstrates this module: the xmppauth Plugin provides STARTTLS, SASL
// with channel binding, resource binding and XEP-0070, and real clients can
// log in to it.
//
// With no flags it serves the domain localhost on 127.0.0.1:5222 with
// STARTTLS and a self-signed certificate generated at start, creates one
// user with a random password (printed on stdout) and serves HTTP on
// 127.0.0.1:8080:
//
//	go run ./cmd/xmppauthd
//	go run ./cmd/xmppauthd -user alice:secret -user bob:other
//
// Flags:
//
//	-domain localhost       the XMPP domain served
//	-addr 127.0.0.1:5222    the client-to-server listener
//	-http 127.0.0.1:8080    the HTTP listener ("" to disable); every page is
//	                        guarded by XEP-0070: give a JID as user name and
//	                        any transaction id as password (Basic or
//	                        Digest), confirm from an XMPP client logged in
//	                        as that JID, and the page is served
//	-cert, -key             PEM certificate chain and key to use instead of
//	                        a generated self-signed certificate
//	-user name:password     a user (repeatable)
//	-config file.json       an xmppauth.Config in JSON (see
//	                        xmppauth.LoadConfig); without it the demo uses
//	                        the zero Config with XEP-0070 enabled
//	-v                      debug logging
//
// It logs with log/slog to stderr: one line per login with the mechanism
// and channel-binding type, one per session start and end; never a
// password.
//
// What it serves: STARTTLS, SASL with the xmppauth features (SCRAM with
// every channel-binding type, and PLAIN over TLS), resource
// binding, routing of messages, presence and IQs between the sessions it
// holds (stanzas are stamped with the sender's bound JID, whatever the
// client wrote), disco#info, XEP-0199 ping, an empty roster, presence
// broadcast to the other sessions of the same account, and XEP-0070
// confirmation of HTTP requests. It does not persist anything, federate,
// keep rosters or subscriptions, store offline messages, or offer stream
// management, SASL2, direct TLS, or EXTERNAL (it takes no client CA).
//
// Clients tried (see the tests): mellium.im/xmpp logs in with
// SCRAM-SHA-256-PLUS over tls-exporter (TLS 1.3) or tls-unique (TLS 1.2).
// go-sendxmpp 0.5.6 (Debian, go-xmpp) logs in with PLAIN. slixmpp 1.8
// (Debian) always binds -PLUS mechanisms with tls-unique, which does not
// exist on TLS 1.3 (RFC 9266) and which Python's ssl module nevertheless
// returns there; the server refuses it, so slixmpp logs in over TLS 1.2
// (SCRAM-SHA-512-PLUS with tls-unique) but not over TLS 1.3, unless a
// config file leaves the -PLUS mechanisms out.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// user is one account given on the command line.
type user struct {
	name, password string
}

// userList is the repeatable -user flag.
type userList []user

func (l *userList) String() string {
	names := make([]string, len(*l))
	for i, u := range *l {
		names[i] = u.name
	}
	return strings.Join(names, ",")
}

func (l *userList) Set(v string) error {
	name, password, ok := strings.Cut(v, ":")
	if !ok || name == "" || password == "" {
		return errors.New("want name:password")
	}
	*l = append(*l, user{name: name, password: password})
	return nil
}

// Addrs are the addresses run actually listens on, and the certificate it
// serves (for clients, such as tests, that want to trust it).
type Addrs struct {
	XMPP string
	HTTP string // empty when HTTP is disabled
	Cert *x509.Certificate
}

// options configures run.
type options struct {
	Domain     string
	Addr       string
	HTTPAddr   string
	CertFile   string
	KeyFile    string
	ConfigFile string
	Users      userList

	// NegotiateTimeout bounds stream negotiation (STARTTLS, SASL, binding).
	NegotiateTimeout time.Duration
	// WriteTimeout bounds each write to a client.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds the graceful part of shutdown.
	ShutdownTimeout time.Duration

	// Logger receives the server's log; nil: text to stderr.
	Logger *slog.Logger
	// Listening, when set, is called once the listeners are open.
	Listening func(Addrs)
}

func defaultOptions() options {
	return options{
		Domain:           "localhost",
		Addr:             "127.0.0.1:5222",
		HTTPAddr:         "127.0.0.1:8080",
		NegotiateTimeout: 30 * time.Second,
		WriteTimeout:     10 * time.Second,
		ShutdownTimeout:  5 * time.Second,
	}
}

func main() {
	opts := defaultOptions()
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.StringVar(&opts.Domain, "domain", opts.Domain, "the XMPP `domain` served")
	fs.StringVar(&opts.Addr, "addr", opts.Addr, "client-to-server listen `address`")
	fs.StringVar(&opts.HTTPAddr, "http", opts.HTTPAddr, "HTTP listen `address` (empty: no HTTP)")
	fs.StringVar(&opts.CertFile, "cert", "", "PEM certificate chain `file` (default: self-signed, generated at start)")
	fs.StringVar(&opts.KeyFile, "key", "", "PEM private key `file` for -cert")
	fs.StringVar(&opts.ConfigFile, "config", "", "xmppauth.Config JSON `file`")
	fs.Var(&opts.Users, "user", "a user as `name:password` (repeatable; default: one random user)")
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout); err != nil {
		opts.Logger.Error("xmppauthd stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then shuts down and returns once every
// connection and goroutine it started has ended. Generated passwords are
// printed on stdout.
func run(ctx context.Context, opts options, stdout io.Writer) error {
	srv, err := newServer(opts, stdout)
	if err != nil {
		return err
	}
	return srv.run(ctx)
}
