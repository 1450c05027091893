package cbind

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{"tls-unique", TLSUnique, false},
		{"tls-server-end-point", TLSServerEndPoint, false},
		{"tls-exporter", TLSExporter, false},
		{"", "", true},
		{"TLS-UNIQUE", "", true},
		{"Tls-Exporter", "", true},
		{" tls-exporter", "", true},
		{"tls-exporter ", "", true},
		{"tls-exporter\x00", "", true},
		{"tls-unique-for-telnet", "", true},
		{"tls-server-end-point\n", "", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := ParseType(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrUnknownType)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, got.String())
		})
	}
}

func TestEndPointHash(t *testing.T) {
	tests := []struct {
		alg  x509.SignatureAlgorithm
		want crypto.Hash // 0: unavailable
	}{
		{x509.MD5WithRSA, crypto.SHA256},
		{x509.SHA1WithRSA, crypto.SHA256},
		{x509.ECDSAWithSHA1, crypto.SHA256},
		{x509.DSAWithSHA1, crypto.SHA256},
		{x509.SHA256WithRSA, crypto.SHA256},
		{x509.SHA256WithRSAPSS, crypto.SHA256},
		{x509.ECDSAWithSHA256, crypto.SHA256},
		{x509.DSAWithSHA256, crypto.SHA256},
		{x509.SHA384WithRSA, crypto.SHA384},
		{x509.SHA384WithRSAPSS, crypto.SHA384},
		{x509.ECDSAWithSHA384, crypto.SHA384},
		{x509.SHA512WithRSA, crypto.SHA512},
		{x509.SHA512WithRSAPSS, crypto.SHA512},
		{x509.ECDSAWithSHA512, crypto.SHA512},
		{x509.PureEd25519, 0},
		{x509.MD2WithRSA, 0},
		{x509.UnknownSignatureAlgorithm, 0}, // also what Go reports for Ed448
	}
	for _, tc := range tests {
		t.Run(tc.alg.String(), func(t *testing.T) {
			got, err := EndPointHash(&x509.Certificate{SignatureAlgorithm: tc.alg})
			if tc.want == 0 {
				require.ErrorIs(t, err, ErrUnavailable)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	_, err := EndPointHash(nil)
	require.ErrorIs(t, err, ErrUnavailable)
}

// TestLiveConnections runs real loopback handshakes for every TLS version
// and certificate kind and checks both ends agree.
func TestLiveConnections(t *testing.T) {
	kinds := []certKind{rsaSHA256, ecdsaP384, rsaSHA1, ed25519C}
	versions := []uint16{tls.VersionTLS12, tls.VersionTLS13}
	for _, v := range versions {
		for _, kind := range kinds {
			t.Run(tls.VersionName(v)+"/"+string(kind), func(t *testing.T) {
				cert := testCert(t, kind)
				srv, cli := handshake(t, &tls.Config{Certificates: []tls.Certificate{cert}}, clientConfig(v, "localhost"))
				require.Equal(t, v, srv.state.Version)
				require.NotNil(t, srv.served, "Served must know the certificate")
				require.Equal(t, cert.Certificate[0], srv.served.Raw)
				require.Equal(t, cli.leaf.Raw, srv.served.Raw)
				require.Equal(t, map[certKind]x509.SignatureAlgorithm{
					rsaSHA256: x509.SHA256WithRSA, rsaSHA1: x509.SHA1WithRSA,
					ecdsaP384: x509.ECDSAWithSHA384, ed25519C: x509.PureEd25519,
				}[kind], srv.served.SignatureAlgorithm)

				wantHash := wantEndPointHash[kind]
				want := []Type{TLSExporter}
				if wantHash != 0 {
					want = append(want, TLSServerEndPoint)
				}
				if v < tls.VersionTLS13 {
					want = append(want, TLSUnique)
				}
				assert.Equal(t, want, Available(&srv.state, srv.leaf), "server Available")
				assert.Equal(t, want, Available(&cli.state, cli.leaf), "client Available")

				for _, typ := range []Type{TLSExporter, TLSServerEndPoint, TLSUnique} {
					sd, serr := Data(typ, &srv.state, srv.leaf)
					cd, cerr := Data(typ, &cli.state, cli.leaf)
					if !contains(want, typ) {
						assert.ErrorIs(t, serr, ErrUnavailable, "server %s", typ)
						assert.ErrorIs(t, cerr, ErrUnavailable, "client %s", typ)
						continue
					}
					require.NoError(t, serr, "server %s", typ)
					require.NoError(t, cerr, "client %s", typ)
					assert.Equal(t, cd, sd, "%s differs between the two ends", typ)
					assert.NotEmpty(t, sd)
				}

				exp, err := Data(TLSExporter, &srv.state, nil)
				require.NoError(t, err)
				assert.Len(t, exp, ExporterLength)
				direct, err := srv.state.ExportKeyingMaterial("EXPORTER-Channel-Binding", []byte{}, 32)
				require.NoError(t, err)
				assert.Equal(t, direct, exp)

				if wantHash != 0 {
					h := wantHash.New()
					h.Write(cert.Certificate[0])
					sep, err := Data(TLSServerEndPoint, &cli.state, cli.leaf)
					require.NoError(t, err)
					assert.Equal(t, h.Sum(nil), sep)
					assert.Len(t, sep, wantHash.Size())
				}

				if v < tls.VersionTLS13 {
					u, err := Data(TLSUnique, &srv.state, nil)
					require.NoError(t, err)
					assert.Equal(t, srv.state.TLSUnique, u)
					u[0] ^= 0xff // the caller owns the returned slice
					assert.NotEqual(t, srv.state.TLSUnique, u)
				} else {
					assert.Empty(t, srv.state.TLSUnique)
				}

				def, ok := Default(&srv.state)
				assert.True(t, ok)
				if v >= tls.VersionTLS13 {
					assert.Equal(t, TLSExporter, def)
				} else {
					assert.Equal(t, TLSUnique, def)
				}
			})
		}
	}
}

// TestRenegotiationDisablesExporter: a client that allows renegotiation gets
// no keying material exporter from crypto/tls (RFC 9266 forbids it), which
// is the same failure path as TLS 1.2 without Extended Master Secret.
func TestRenegotiationDisablesExporter(t *testing.T) {
	cert := testCert(t, rsaSHA256)
	cfg := clientConfig(tls.VersionTLS12, "localhost")
	cfg.Renegotiation = tls.RenegotiateOnceAsClient
	srv, cli := handshake(t, &tls.Config{Certificates: []tls.Certificate{cert}}, cfg)

	_, err := Data(TLSExporter, &cli.state, cli.leaf)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Equal(t, []Type{TLSServerEndPoint, TLSUnique}, Available(&cli.state, cli.leaf))
	// The server side does not renegotiate and keeps its exporter.
	assert.Equal(t, []Type{TLSExporter, TLSServerEndPoint, TLSUnique}, Available(&srv.state, srv.leaf))
}

// TestUnsafeEKM: with GODEBUG=tlsunsafeekm=1 Go exports keying material on
// TLS 1.2 even without EMS, so tls-exporter must not be offered below 1.3.
func TestUnsafeEKM(t *testing.T) {
	cert := testCert(t, ecdsaP384)
	t.Setenv("GODEBUG", "tlsunsafeekm=1")
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			srv, _ := handshake(t, &tls.Config{Certificates: []tls.Certificate{cert}}, clientConfig(v, "localhost"))
			_, err := Data(TLSExporter, &srv.state, nil)
			types := Available(&srv.state, srv.leaf)
			if v < tls.VersionTLS13 {
				require.ErrorIs(t, err, ErrUnavailable)
				assert.NotContains(t, types, TLSExporter)
			} else {
				require.NoError(t, err)
				assert.Contains(t, types, TLSExporter)
			}
		})
	}
}

func TestGodebugValue(t *testing.T) {
	tests := []struct {
		list, value string
		ok          bool
	}{
		{"", "", false},
		{"tlsunsafeekm=1", "1", true},
		{"tlsunsafeekm=0", "0", true},
		{"x509sha1=1,tlsunsafeekm=1", "1", true},
		{"tlsunsafeekm=1,tlsunsafeekm=0", "0", true},
		{"tlsunsafeekm", "", false},
		{"xtlsunsafeekm=1", "", false},
		{",,tlsunsafeekm=1,", "1", true},
	}
	for _, tc := range tests {
		v, ok := godebugValue(tc.list, "tlsunsafeekm")
		assert.Equal(t, tc.ok, ok, tc.list)
		assert.Equal(t, tc.value, v, tc.list)
	}
}

func TestDataBadInput(t *testing.T) {
	leaf := &x509.Certificate{SignatureAlgorithm: x509.SHA256WithRSA, Raw: []byte{1, 2, 3}}
	tests := []struct {
		name string
		typ  Type
		cs   *tls.ConnectionState
		leaf *x509.Certificate
		err  error
	}{
		{"nil state", TLSExporter, nil, nil, ErrUnavailable},
		{"nil state end-point", TLSServerEndPoint, nil, leaf, ErrUnavailable},
		{"incomplete handshake", TLSUnique, &tls.ConnectionState{Version: tls.VersionTLS12, TLSUnique: []byte{1}}, nil, ErrUnavailable},
		{"unknown type", "tls-unique-for-telnet", &tls.ConnectionState{HandshakeComplete: true}, nil, ErrUnknownType},
		{"empty type", "", nil, nil, ErrUnknownType},
		// A ConnectionState not made by crypto/tls has no exporter; it must
		// not panic.
		{"hand-made state exporter", TLSExporter, &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, nil, ErrUnavailable},
		{"tls-unique on 1.3", TLSUnique, &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13, TLSUnique: []byte{1}}, nil, ErrUnavailable},
		{"tls-unique empty", TLSUnique, &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12}, nil, ErrUnavailable},
		{"end-point no leaf", TLSServerEndPoint, &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, nil, ErrUnavailable},
		{"end-point no DER", TLSServerEndPoint, &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, &x509.Certificate{SignatureAlgorithm: x509.SHA256WithRSA}, ErrUnavailable},
		{"end-point ed25519", TLSServerEndPoint, &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}, &x509.Certificate{SignatureAlgorithm: x509.PureEd25519, Raw: []byte{1}}, ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Data(tc.typ, tc.cs, tc.leaf)
			require.ErrorIs(t, err, tc.err)
			assert.Nil(t, b)
		})
	}

	cs := &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12, TLSUnique: []byte{9, 9}}
	assert.Equal(t, []Type{TLSServerEndPoint, TLSUnique}, Available(cs, leaf), "hand-made state: no exporter, no panic")
	assert.Nil(t, Available(nil, leaf))
	assert.Nil(t, Available(&tls.ConnectionState{}, leaf))
	typ, ok := Default(nil)
	assert.False(t, ok)
	assert.Equal(t, Type(""), typ)
	typ, ok = Default(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13})
	assert.False(t, ok)
	assert.Equal(t, TLSExporter, typ)
	typ, ok = Default(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12})
	assert.False(t, ok)
	assert.Equal(t, TLSUnique, typ)

	sep, err := Data(TLSServerEndPoint, cs, leaf)
	require.NoError(t, err)
	want := crypto.SHA256.New()
	want.Write(leaf.Raw)
	assert.True(t, bytes.Equal(want.Sum(nil), sep))
	assert.True(t, errors.Is(err, nil))
}
