package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/sqlstore"
	"github.com/xmppauth/xmppauth/xmppcert"
)

// certValidity is how long a generated certificate is valid.
const certValidity = 365 * 24 * time.Hour

// loadCertificate reads -cert and -key, or the certificate kept in the state
// directory, generated there (once) for the domains. It reports the file
// clients should trust.
func loadCertificate(opts options, domains []string, now time.Time) (cert tls.Certificate, file string, err error) {
	switch {
	case opts.CertFile == "" && opts.KeyFile == "":
		file = filepath.Join(opts.StateDir, "cert.pem")
		cert, err = xmppcert.LoadOrCreate(file, filepath.Join(opts.StateDir, "key.pem"), domains, certValidity, now)
		return cert, file, err
	case opts.CertFile == "" || opts.KeyFile == "":
		return cert, "", errors.New("-cert and -key must be given together")
	}
	if cert, err = tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile); err != nil {
		return cert, "", fmt.Errorf("loading -cert/-key: %w", err)
	}
	if !xmppcert.Covers(cert.Leaf, domains, now) {
		return cert, "", fmt.Errorf("-cert does not name every domain (%s) or has expired", strings.Join(domains, ", "))
	}
	return cert, opts.CertFile, nil
}

// clientCAs reads the PEM CAs that verify client certificates (EXTERNAL).
func clientCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// openStore opens the account database (-db; by default SQLite in the
// state directory, so that users survive restarts) and writes the -user
// accounts to it, at iterations, for every domain. With no -user and no
// account at all it creates one with a random password, returned for the
// log.
func (s *server) openStore(iterations int) (*user, error) {
	ctx, opts := context.Background(), s.opts
	source := opts.DB
	if source == "" {
		if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
			return nil, err
		}
		source = "sqlite:" + filepath.Join(opts.StateDir, "accounts.db")
	}
	dialect, dsn, err := sqlstore.ParseSource(source)
	if err == nil {
		s.store, err = sqlstore.Open(ctx, dialect, dsn, sqlstore.Options{Logger: opts.Logger})
	}
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	store := s.store
	users, generated := opts.Users, (*user)(nil)
	if existing, err := store.List(ctx, ""); err == nil && len(existing) == 0 && len(users) == 0 {
		generated = &user{name: "demo", password: rand.Text()}
		users = userList{*generated}
	}
	for _, u := range users {
		for _, d := range s.domains {
			account, err := features.Account(u.name, d)
			if err == nil { // one derivation of the credentials: add, or set
				if _, err = store.Account(ctx, account); errors.Is(err, sqlstore.ErrNoAccount) {
					err = store.AddAccount(ctx, account, u.password, iterations)
				} else if err == nil {
					err = store.SetPassword(ctx, account, u.password, iterations)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("-user %q: %w", u.name, err)
			}
		}
	}
	return generated, nil
}

// demoOAuth fills in a consumer and an access token for the XEP-0235 demo,
// with secrets the nodes of a cluster share (random without one), and
// returns key, secret, token and token secret.
func demoOAuth(cfg *oauth.Config, cluster *redisstore.Cluster) [4]string {
	key, secret, token, tokenSecret := "xmppauthd-demo", rand.Text(), "demo-token", rand.Text()
	if cluster != nil {
		secret = base64.RawURLEncoding.EncodeToString(cluster.Key("demo oauth consumer"))
		tokenSecret = base64.RawURLEncoding.EncodeToString(cluster.Key("demo oauth token"))
	}
	cfg.Consumers = oauth.MemoryConsumers{key: secret}
	tokens := oauth.NewMemoryTokens()
	tokens.Put(token, oauth.TokenInfo{Secret: tokenSecret, ConsumerKey: key})
	cfg.Tokens = tokens
	return [4]string{key, secret, token, tokenSecret}
}
