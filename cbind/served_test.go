package cbind

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServedSNI: a server with two certificates picks one by SNI; Served must
// report the one the client saw, however the server chooses it.
func TestServedSNI(t *testing.T) {
	a := testCert(t, rsaSHA256, "a.example")
	b := testCert(t, ecdsaP384, "b.example")
	byName := map[string]*tls.Certificate{"a.example": &a, "b.example": &b}

	configs := map[string]func() *tls.Config{
		"Certificates": func() *tls.Config {
			return &tls.Config{Certificates: []tls.Certificate{a, b}}
		},
		"NameToCertificate": func() *tls.Config {
			c := &tls.Config{Certificates: []tls.Certificate{a, b}}
			//lint:ignore SA1019 still honoured by crypto/tls, so ServerConfig must honour it
			c.BuildNameToCertificate() //nolint:staticcheck
			return c
		},
		"GetCertificate": func() *tls.Config {
			return &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				return byName[h.ServerName], nil
			}}
		},
		"GetCertificate nil falls back to Certificates": func() *tls.Config {
			return &tls.Config{
				Certificates: []tls.Certificate{a, b},
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
					return nil, nil
				},
			}
		},
		"GetConfigForClient": func() *tls.Config {
			return &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				return &tls.Config{Certificates: []tls.Certificate{*byName[h.ServerName]}}, nil
			}}
		},
		"GetConfigForClient returning nil": func() *tls.Config {
			return &tls.Config{
				Certificates: []tls.Certificate{a, b},
				GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
					return nil, nil
				},
			}
		},
	}
	for name, mk := range configs {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			for _, sni := range []string{"a.example", "b.example"} {
				t.Run(name+"/"+tls.VersionName(v)+"/"+sni, func(t *testing.T) {
					want := byName[sni].Certificate[0]
					cfg := mk()
					srv, cli := handshake(t, cfg, clientConfig(v, sni))
					require.NotNil(t, srv.served)
					assert.Equal(t, want, cli.leaf.Raw, "crypto/tls chose by SNI")
					assert.Equal(t, want, srv.served.Raw, "Served reports the served certificate")
					// Both ends compute the same tls-server-end-point.
					sd, err := Data(TLSServerEndPoint, &srv.state, srv.served)
					require.NoError(t, err)
					cd, err := Data(TLSServerEndPoint, &cli.state, cli.leaf)
					require.NoError(t, err)
					assert.Equal(t, cd, sd)
				})
			}
		}
	}
}

// TestServedNoSNI: without SNI and with two certificates crypto/tls takes
// the first one the client supports. A TLS 1.2 client offering only ECDSA
// cipher suites must get the second (ECDSA) certificate and Served must
// agree; a client supporting both gets the first.
func TestServedNoSNI(t *testing.T) {
	a := testCert(t, rsaSHA256, "a.example")
	b := testCert(t, ecdsaP384, "b.example")
	ecdsaOnly := clientConfig(tls.VersionTLS12, "")
	ecdsaOnly.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	tests := []struct {
		name string
		cli  *tls.Config
		want []byte
	}{
		{"ECDSA-only client", ecdsaOnly, b.Certificate[0]},
		{"any client", clientConfig(tls.VersionTLS13, ""), a.Certificate[0]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := handshake(t, &tls.Config{Certificates: []tls.Certificate{a, b}}, tc.cli)
			assert.Equal(t, tc.want, c.leaf.Raw)
			require.NotNil(t, srv.served)
			assert.Equal(t, tc.want, srv.served.Raw)
		})
	}
}

func TestServedGetCertificateError(t *testing.T) {
	boom := errors.New("boom")
	cfg := ServerConfig(&tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return nil, boom
	}})
	conn := NewConn(nil)
	_, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: "x", Conn: conn})
	require.ErrorIs(t, err, boom)
	assert.Nil(t, Served(conn, nil))

	empty := ServerConfig(nil)
	cert, err := empty.GetCertificate(&tls.ClientHelloInfo{Conn: conn})
	assert.NoError(t, err)
	assert.Nil(t, cert)
}

func TestServerConfigDoesNotModifyInput(t *testing.T) {
	a := testCert(t, rsaSHA256, "a.example")
	in := &tls.Config{Certificates: []tls.Certificate{a}}
	out := ServerConfig(in)
	assert.Nil(t, in.GetCertificate)
	require.Len(t, in.Certificates, 1)
	assert.Nil(t, in.Certificates[0].Leaf, "caller's certificate untouched")
	assert.Empty(t, out.Certificates)
	assert.NotNil(t, out.GetCertificate)
}

func TestServedFallback(t *testing.T) {
	a := testCert(t, rsaSHA256, "a.example")
	b := testCert(t, ecdsaP384, "b.example")
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()

	tests := []struct {
		name     string
		conn     net.Conn
		fallback *tls.Config
		want     []byte
	}{
		{"nil", nil, nil, nil},
		{"unwrapped conn, no fallback", p1, nil, nil},
		{"unwrapped conn, one certificate", p1, &tls.Config{Certificates: []tls.Certificate{a}}, a.Certificate[0]},
		{"nil conn, one certificate", nil, &tls.Config{Certificates: []tls.Certificate{b}}, b.Certificate[0]},
		{"nothing recorded, one certificate", NewConn(p1), &tls.Config{Certificates: []tls.Certificate{b}}, b.Certificate[0]},
		{"two certificates", p1, &tls.Config{Certificates: []tls.Certificate{a, b}}, nil},
		{"GetConfigForClient", p1, &tls.Config{Certificates: []tls.Certificate{a},
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }}, nil},
		{"bad DER", p1, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{{1, 2}}}}}, nil},
		{"no DER", p1, &tls.Config{Certificates: []tls.Certificate{{}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Served(tc.conn, tc.fallback)
			if tc.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.True(t, bytes.Equal(tc.want, got.Raw))
		})
	}
}

// wrapper is a foreign net.Conn wrapper with a NetConn method.
type wrapper struct{ net.Conn }

func (w wrapper) NetConn() net.Conn { return w.Conn }

func TestServedUnwrap(t *testing.T) {
	a := testCert(t, rsaSHA256, "a.example")
	cfg := ServerConfig(&tls.Config{Certificates: []tls.Certificate{a}})
	conn := NewConn(nil)
	// The hello's Conn may be a wrapper around our Conn.
	_, err := cfg.GetCertificate(&tls.ClientHelloInfo{Conn: wrapper{wrapper{conn}}})
	require.NoError(t, err)
	for _, c := range []net.Conn{conn, wrapper{conn}, wrapper{wrapper{conn}}, tls.Server(conn, cfg)} {
		got := Served(c, nil)
		require.NotNil(t, got)
		assert.Equal(t, a.Certificate[0], got.Raw)
		assert.Same(t, got, Served(c, nil), "parsed once")
	}
	// A cycle of wrappers ends.
	var loop selfWrapper
	assert.Nil(t, Served(loop, nil))
}

type selfWrapper struct{ net.Conn }

func (s selfWrapper) NetConn() net.Conn { return s }

// TestServedResumption pins what crypto/tls does on session resumption: TLS
// 1.2 still selects (and so records) a certificate, TLS 1.3 does not, and
// only the single-certificate fallback can answer there. The client keeps
// the original certificate in both cases.
func TestServedResumption(t *testing.T) {
	cert := testCert(t, ecdsaP384)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
			cfg.SessionTicketKey = [32]byte{1, 2, 3} // shared by the two ServerConfig clones
			cli := clientConfig(v, "localhost")
			cli.ClientSessionCache = tls.NewLRUClientSessionCache(4)

			srv1, cli1 := handshake(t, cfg, cli)
			require.False(t, srv1.state.DidResume)
			// TLS 1.3 tickets arrive after the handshake: let the client read.
			_, err := srv1.conn.Write([]byte("x"))
			require.NoError(t, err)
			_, err = cli1.conn.Read(make([]byte, 1))
			require.NoError(t, err)
			srv2, cli2 := handshake(t, cfg, cli)
			require.True(t, srv2.state.DidResume, "second handshake resumes")
			assert.Equal(t, cert.Certificate[0], cli2.leaf.Raw)

			if v == tls.VersionTLS13 {
				assert.Nil(t, srv2.served, "no certificate selection on TLS 1.3 resumption")
			} else {
				require.NotNil(t, srv2.served)
				assert.Equal(t, cert.Certificate[0], srv2.served.Raw)
			}
			leaf := Served(srv2.conn, cfg)
			require.NotNil(t, leaf)
			sd, err := Data(TLSServerEndPoint, &srv2.state, leaf)
			require.NoError(t, err)
			cd, err := Data(TLSServerEndPoint, &cli2.state, cli2.leaf)
			require.NoError(t, err)
			assert.Equal(t, cd, sd)
			assert.Equal(t, Available(&cli2.state, cli2.leaf), Available(&srv2.state, leaf))
		})
	}
}
