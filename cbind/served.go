//lint:file-ignore SA1019 a host may still fill the deprecated tls.Config.NameToCertificate; Served honours it.

package cbind

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
)

// maxUnwrap bounds how many NetConn layers Served looks through.
const maxUnwrap = 16

// Conn wraps a net.Conn so that a tls.Config made by ServerConfig can record
// which certificate it served on it. Wrap the accepted connection before
// handing it to mellium: xmpp.ReceiveSession keeps the net.Conn as it is and
// STARTTLS calls tls.Server on it, so tls.ClientHelloInfo.Conn is this *Conn.
//
// A Conn is safe for concurrent use; it must not be copied.
type Conn struct {
	net.Conn

	mu     sync.Mutex
	cert   *tls.Certificate
	leaf   *x509.Certificate // parsed cert, cached
	parsed bool
}

// NewConn wraps c.
func NewConn(c net.Conn) *Conn { return &Conn{Conn: c} }

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

func (c *Conn) record(cert *tls.Certificate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != cert {
		c.cert, c.leaf, c.parsed = cert, nil, false
	}
}

// served returns the parsed leaf of the recorded certificate, parsing it at
// most once per recorded certificate.
func (c *Conn) served() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil {
		return nil
	}
	if !c.parsed {
		c.leaf, c.parsed = leafOf(c.cert), true
	}
	return c.leaf
}

// leafOf returns cert.Leaf, or parses the first certificate of the chain.
func leafOf(cert *tls.Certificate) *x509.Certificate {
	if cert == nil {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	if len(cert.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// findConn looks for a *Conn in c and the connections it wraps.
func findConn(c net.Conn) *Conn {
	for i := 0; c != nil && i < maxUnwrap; i++ {
		if cc, ok := c.(*Conn); ok {
			return cc
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = u.NetConn()
	}
	return nil
}

// ServerConfig returns a clone of cfg whose certificate selection records
// the chosen certificate in the *Conn being served (found in
// tls.ClientHelloInfo.Conn, also through wrappers with a NetConn method).
// Connections not wrapped by NewConn are served as by cfg, without a record.
//
// The selection is crypto/tls's own: cfg.GetCertificate is asked first when
// cfg.Certificates is empty or the client sent SNI, and its certificate wins
// when non-nil; otherwise the only certificate, the NameToCertificate match,
// the first certificate hello.SupportsCertificate accepts, or else the first.
// To make crypto/tls always go through that selection, the clone has
// GetCertificate set and Certificates and NameToCertificate moved into it
// (both are nil in the clone); the certificates get their Leaf parsed once
// here (on copies; cfg is not modified).
//
// If cfg.GetConfigForClient is set it is wrapped: a non-nil Config it
// returns is cloned and given the same treatment before crypto/tls uses it,
// which costs one Clone per handshake. Session ticket keys behave as with
// the unwrapped callback.
//
// A nil cfg is treated as an empty Config.
func ServerConfig(cfg *tls.Config) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	out := cfg.Clone()
	recordSelection(out)
	if getConfig := cfg.GetConfigForClient; getConfig != nil {
		out.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := getConfig(hello)
			if err != nil || c == nil {
				return c, err
			}
			c = c.Clone()
			recordSelection(c)
			return c, nil
		}
	}
	return out
}

// recordSelection replaces the certificate selection of c (a private clone)
// by one that records its choice.
func recordSelection(c *tls.Config) {
	getCert := c.GetCertificate
	certs := make([]tls.Certificate, len(c.Certificates))
	copy(certs, c.Certificates)
	for i := range certs {
		if certs[i].Leaf == nil {
			certs[i].Leaf = leafOf(&certs[i])
		}
	}
	byName := make(map[string]*tls.Certificate, len(c.NameToCertificate))
	for name, cert := range c.NameToCertificate {
		// NameToCertificate usually points into Certificates; keep
		// pointing into our copy so the recorded pointer has a Leaf.
		byName[name] = cert
		for i := range c.Certificates {
			if cert == &c.Certificates[i] {
				byName[name] = &certs[i]
			}
		}
	}
	if len(byName) == 0 {
		byName = nil
	}
	c.Certificates, c.NameToCertificate = nil, nil
	c.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := chooseCertificate(hello, getCert, certs, byName)
		if err != nil || cert == nil {
			return cert, err
		}
		if conn := findConn(hello.Conn); conn != nil {
			conn.record(cert)
		}
		return cert, nil
	}
}

// chooseCertificate mirrors (*tls.Config).getCertificate of Go 1.26.
func chooseCertificate(hello *tls.ClientHelloInfo, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error),
	certs []tls.Certificate, byName map[string]*tls.Certificate) (*tls.Certificate, error) {
	if getCert != nil && (len(certs) == 0 || hello.ServerName != "") {
		cert, err := getCert(hello)
		if cert != nil || err != nil {
			return cert, err
		}
	}
	switch len(certs) {
	case 0:
		return nil, nil // crypto/tls reports "no certificates configured"
	case 1:
		return &certs[0], nil
	}
	if byName != nil {
		name := strings.ToLower(hello.ServerName)
		if cert, ok := byName[name]; ok {
			return cert, nil
		}
		if name != "" {
			labels := strings.Split(name, ".")
			labels[0] = "*"
			if cert, ok := byName[strings.Join(labels, ".")]; ok {
				return cert, nil
			}
		}
	}
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	return &certs[0], nil
}

// Served returns the end-entity certificate served on conn, for
// tls-server-end-point on the server side. conn may be the *tls.Conn, the
// *Conn, or anything wrapping them with a NetConn() net.Conn method; the
// record is made by a configuration from ServerConfig.
//
// If nothing was recorded and fallback has exactly one certificate and no
// GetConfigForClient, that certificate is returned: the common
// single-certificate server. Pass the configuration you gave ServerConfig
// (not its result), and pass nil if its GetCertificate may serve another
// certificate. Served returns nil when the certificate is unknown.
//
// The leaf is tls.Certificate.Leaf when set, else parsed from the DER (once
// per connection for recorded certificates, on every call for fallback).
// On TLS 1.3 resumption no certificate is selected, so only the fallback can
// answer.
func Served(conn net.Conn, fallback *tls.Config) *x509.Certificate {
	if c := findConn(conn); c != nil {
		if leaf := c.served(); leaf != nil {
			return leaf
		}
	}
	if fallback == nil || fallback.GetConfigForClient != nil || len(fallback.Certificates) != 1 {
		return nil
	}
	return leafOf(&fallback.Certificates[0])
}
