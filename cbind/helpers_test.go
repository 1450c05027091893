package cbind

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// certKind names a test certificate: its key and signature algorithm.
type certKind string

const (
	rsaSHA256 certKind = "rsa-sha256"
	rsaSHA1   certKind = "rsa-sha1"
	ecdsaP384 certKind = "ecdsa-p384-sha384"
	ed25519C  certKind = "ed25519"
)

// wantEndPointHash is the RFC 5929 §4.1 hash of each kind (0: unavailable).
var wantEndPointHash = map[certKind]crypto.Hash{
	rsaSHA256: crypto.SHA256,
	rsaSHA1:   crypto.SHA256, // SHA-1 is upgraded to SHA-256
	ecdsaP384: crypto.SHA384,
	ed25519C:  0,
}

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var testCerts sync.Map // certKind+names → tls.Certificate

// testCert returns a self-signed certificate of the given kind for names.
// Leaf is left nil so the parsing paths are exercised.
func testCert(t testing.TB, kind certKind, names ...string) tls.Certificate {
	t.Helper()
	key := string(kind) + "|" + joinNames(names)
	if c, ok := testCerts.Load(key); ok {
		return c.(tls.Certificate)
	}
	var (
		priv crypto.Signer
		alg  x509.SignatureAlgorithm
	)
	switch kind {
	case rsaSHA256:
		priv, alg = rsaKey(), x509.SHA256WithRSA
	case rsaSHA1:
		priv, alg = rsaKey(), x509.SHA1WithRSA
	case ecdsaP384:
		k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, alg = k, x509.ECDSAWithSHA384
	case ed25519C:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, alg = k, x509.PureEd25519
	default:
		t.Fatalf("unknown cert kind %q", kind)
	}
	if len(names) == 0 {
		names = []string{"localhost"}
	}
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: names[0]},
		DNSNames:           names,
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm: alg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatalf("create %s certificate: %v", kind, err)
	}
	c := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	testCerts.Store(key, c)
	return c
}

func joinNames(names []string) string {
	s := ""
	for _, n := range names {
		s += n + ","
	}
	return s
}

// result of one side of a handshake.
type side struct {
	state  tls.ConnectionState
	leaf   *x509.Certificate // served (server) or PeerCertificates[0] (client)
	conn   *tls.Conn
	served *x509.Certificate // server only: what Served reported
}

// handshake runs a real loopback TLS handshake. The server wraps the
// accepted connection with NewConn and its config with ServerConfig.
func handshake(t testing.TB, srvCfg, cliCfg *tls.Config) (srv, cli side) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wrapped := ServerConfig(srvCfg)
	type res struct {
		s   side
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- res{err: err}
			return
		}
		tc := tls.Server(NewConn(c), wrapped)
		if err := tc.Handshake(); err != nil {
			c.Close()
			done <- res{err: err}
			return
		}
		st := tc.ConnectionState()
		done <- res{s: side{state: st, conn: tc, served: Served(tc, nil)}}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(c, cliCfg)
	cliErr := tc.Handshake()
	r := <-done
	if cliErr != nil || r.err != nil {
		c.Close()
		t.Fatalf("handshake: client %v, server %v", cliErr, r.err)
	}
	t.Cleanup(func() { tc.Close(); r.s.conn.Close() })
	cli = side{state: tc.ConnectionState(), conn: tc}
	cli.leaf = cli.state.PeerCertificates[0]
	srv = r.s
	srv.leaf = srv.served
	return srv, cli
}

func clientConfig(version uint16, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:         version,
		MaxVersion:         version,
		ServerName:         serverName,
		InsecureSkipVerify: true, // self-signed test certificates; the tests compare certificates themselves
	}
}
