package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/sqlstore"
)

// certValidity is how long a generated certificate is valid.
const certValidity = 365 * 24 * time.Hour

// loadCertificate reads -cert and -key, or the certificate kept in the state
// directory, generating it there (once) for the domains when there is none
// or it no longer covers them. It reports the file clients should trust.
func loadCertificate(opts options, domains []string, now time.Time) (cert tls.Certificate, file string, err error) {
	certFile, keyFile := opts.CertFile, opts.KeyFile
	switch {
	case certFile == "" && keyFile == "":
		certFile = filepath.Join(opts.StateDir, "cert.pem")
		keyFile = filepath.Join(opts.StateDir, "key.pem")
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil || !covers(cert.Leaf, domains, now) {
			cert, err = generateCertificate(certFile, keyFile, domains, now)
		}
		return cert, certFile, err
	case certFile == "" || keyFile == "":
		return cert, "", errors.New("-cert and -key must be given together")
	}
	cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return cert, "", fmt.Errorf("loading -cert/-key: %w", err)
	}
	if !covers(cert.Leaf, domains, now) {
		return cert, "", fmt.Errorf("-cert does not name every domain (%s) or has expired", strings.Join(domains, ", "))
	}
	return cert, certFile, nil
}

func covers(leaf *x509.Certificate, domains []string, now time.Time) bool {
	if leaf == nil || now.After(leaf.NotAfter) {
		return false
	}
	for _, d := range domains {
		if leaf.VerifyHostname(d) != nil {
			return false
		}
	}
	return true
}

// generateCertificate makes a self-signed ECDSA P-256 certificate for
// domains and writes it and its key as PEM.
func generateCertificate(certFile, keyFile string, domains []string, now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: domains[0]},
		DNSNames:     domains,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

// fingerprint is the hash of the certificate in the AA:BB:… form clients
// show (SHA-1 too: some show only that).
func fingerprint(leaf *x509.Certificate, h crypto.Hash) string {
	sum := sha256.Sum256(leaf.Raw)
	if h == crypto.SHA1 {
		s := sha1.Sum(leaf.Raw) // #nosec G401 -- a fingerprint, not a signature
		return strings.ReplaceAll(fmt.Sprintf("% X", s), " ", ":")
	}
	return strings.ReplaceAll(fmt.Sprintf("% X", sum), " ", ":")
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
			if err == nil {
				if err = store.SetPassword(ctx, account, u.password, iterations); errors.Is(err, sqlstore.ErrNoAccount) {
					err = store.AddAccount(ctx, account, u.password, iterations)
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
