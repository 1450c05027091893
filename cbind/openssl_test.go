package cbind

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noEMSConf makes OpenSSL leave out the Extended Master Secret extension.
// Go's client always offers EMS, so a TLS 1.2 connection without EMS needs a
// foreign peer.
const noEMSConf = `openssl_conf = oc
[oc]
ssl_conf = sc
[sc]
system_default = sd
[sd]
Options = -ExtendedMasterSecret
`

var keyMaterialRE = regexp.MustCompile(`Keying material: ([0-9A-Fa-f]+)`)

// TestOpenSSLPeer connects the openssl command-line client to a Go server
// using ServerConfig: TLS 1.2 without EMS must not offer tls-exporter, TLS
// 1.2 with EMS and TLS 1.3 must; on TLS 1.3 OpenSSL's exporter output must
// equal Data(tls-exporter). (On TLS 1.2 `s_client -keymatexport` exports
// without a context, unlike RFC 9266, so the bytes are not compared there.)
func TestOpenSSLPeer(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed; the TLS 1.2 no-EMS case needs a non-Go client")
	}
	conf := filepath.Join(t.TempDir(), "noems.cnf")
	require.NoError(t, os.WriteFile(conf, []byte(noEMSConf), 0o600))
	cert := testCert(t, rsaSHA256)

	tests := []struct {
		name    string
		version string
		noEMS   bool
		emsLine string
		want    []Type
	}{
		{"TLS 1.2 without EMS", "-tls1_2", true, "Extended master secret: no", []Type{TLSServerEndPoint, TLSUnique}},
		{"TLS 1.2 with EMS", "-tls1_2", false, "Extended master secret: yes", []Type{TLSExporter, TLSServerEndPoint, TLSUnique}},
		{"TLS 1.3", "-tls1_3", false, "", []Type{TLSExporter, TLSServerEndPoint}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			cfg := ServerConfig(&tls.Config{Certificates: []tls.Certificate{cert}})
			type res struct {
				state tls.ConnectionState
				conn  *tls.Conn
				err   error
			}
			done := make(chan res, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- res{err: err}
					return
				}
				tc := tls.Server(NewConn(c), cfg)
				err = tc.Handshake()
				done <- res{state: tc.ConnectionState(), conn: tc, err: err}
				// Drain until the client hangs up.
				_, _ = tc.Read(make([]byte, 1))
				tc.Close()
			}()

			cmd := exec.Command(openssl, "s_client", "-connect", ln.Addr().String(), tc.version,
				"-keymatexport", ExporterLabel, "-keymatexportlen", "32")
			cmd.Env = os.Environ()
			if tc.noEMS {
				cmd.Env = append(cmd.Env, "OPENSSL_CONF="+conf)
			}
			cmd.Stdin = strings.NewReader("") // EOF: s_client quits after the handshake
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			runErr := cmd.Run()
			r := <-done
			require.NoError(t, r.err, "server handshake; openssl said:\n%s", out.String())
			require.NoError(t, runErr, out.String())
			if tc.emsLine != "" {
				require.Contains(t, out.String(), tc.emsLine, "test premise: EMS negotiation as intended")
			}

			leaf := Served(r.conn, nil)
			require.NotNil(t, leaf)
			assert.Equal(t, tc.want, Available(&r.state, leaf))
			exp, err := Data(TLSExporter, &r.state, leaf)
			if !contains(tc.want, TLSExporter) {
				require.ErrorIs(t, err, ErrUnavailable)
				def, ok := Default(&r.state)
				assert.Equal(t, TLSUnique, def)
				assert.True(t, ok)
				return
			}
			require.NoError(t, err)
			if tc.version == "-tls1_3" {
				m := keyMaterialRE.FindStringSubmatch(out.String())
				require.NotNil(t, m, "no keying material in openssl output:\n%s", out.String())
				assert.Equal(t, strings.ToLower(m[1]), hex.EncodeToString(exp), "OpenSSL and Go disagree on tls-exporter")
			}
		})
	}
}
