package scram_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// testCert returns a self-signed ECDSA P-256 (ecdsa-with-SHA256) certificate
// for 127.0.0.1.
func testCert(t testing.TB) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "scram test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// tlsPair returns both ends of a loopback TLS connection of the given
// version, handshakes complete.
func tlsPair(t testing.TB, version uint16) (client, server *tls.Conn, leaf *x509.Certificate) {
	t.Helper()
	cert, leaf := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		c   *tls.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- result{nil, err}
			return
		}
		sc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
		accepted <- result{sc, sc.Handshake()}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	cc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, MinVersion: version, MaxVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	r := <-accepted
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { cc.Close(); r.c.Close() })
	return cc, r.c, leaf
}

// Frames on the test connection: 1 status byte, 4 length bytes, payload.
const (
	frameData    = 'd' // client message or server challenge
	frameSuccess = 's' // server-final after success
	frameFailure = 'f' // server failure, payload the e= message if any
)

func writeFrame(w io.Writer, status byte, b []byte) error {
	hdr := [5]byte{status}
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(b)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > scram.MaxMessageLen+1 {
		return 0, nil, errors.New("frame too large")
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return hdr[0], b, err
}

// serveSCRAM runs one server exchange over conn, with binding data taken
// from the server's own connection state.
func serveSCRAM(conn *tls.Conn, srv *scram.Server, advertised bool, leaf *x509.Certificate) (*scram.Exchange, error) {
	cs := conn.ConnectionState()
	ex := srv.Start(scram.ChannelBinding{
		Advertised: advertised,
		Data:       func(t cbind.Type) ([]byte, error) { return cbind.Data(t, &cs, leaf) },
	}, nil)
	for {
		_, in, err := readFrame(conn)
		if err != nil {
			return ex, err
		}
		out, done, stepErr := ex.Step(context.Background(), in)
		switch {
		case stepErr != nil:
			if err := writeFrame(conn, frameFailure, out); err != nil {
				return ex, err
			}
			return ex, stepErr
		case done:
			return ex, writeFrame(conn, frameSuccess, out)
		default:
			if err := writeFrame(conn, frameData, out); err != nil {
				return ex, err
			}
		}
	}
}

// runMellium drives a mellium.im/sasl client negotiator over conn.
func runMellium(conn *tls.Conn, neg *sasl.Negotiator) error {
	_, resp, err := neg.Step(nil)
	if err != nil {
		return err
	}
	for {
		if err := writeFrame(conn, frameData, resp); err != nil {
			return err
		}
		status, challenge, err := readFrame(conn)
		if err != nil {
			return err
		}
		if status == frameFailure {
			return fmt.Errorf("server failure %q", challenge)
		}
		var more bool
		more, resp, err = neg.Step(challenge)
		if err != nil {
			return err
		}
		if status == frameSuccess {
			if more {
				return errors.New("client wants more after success")
			}
			return nil
		}
	}
}

// TestMelliumClient runs the real mellium.im/sasl v0.3.2 client against the
// server over loopback TLS 1.2 and 1.3, for every mechanism it implements.
// The client uses tls-unique on TLS 1.2 and tls-exporter on TLS 1.3.
func TestMelliumClient(t *testing.T) {
	type tc struct {
		name       string
		client     sasl.Mechanism
		remote     []string // mechanisms the client sees advertised
		server     scram.Mechanism
		advertised bool
		password   string
		authzid    string
		wantErr    error
		wantCB     map[uint16]cbind.Type
	}
	tests := []tc{
		{name: "SCRAM-SHA-1", client: sasl.ScramSha1, remote: []string{"SCRAM-SHA-1"}, server: scram.SHA1},
		{name: "SCRAM-SHA-256", client: sasl.ScramSha256, remote: []string{"SCRAM-SHA-256"}, server: scram.SHA256},
		{name: "SCRAM-SHA-256 with PLUS advertised", client: sasl.ScramSha256, remote: []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"},
			server: scram.SHA256, advertised: true},
		{name: "SCRAM-SHA-1-PLUS", client: sasl.ScramSha1Plus, remote: []string{"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"},
			server: scram.SHA1Plus, advertised: true,
			wantCB: map[uint16]cbind.Type{tls.VersionTLS12: cbind.TLSUnique, tls.VersionTLS13: cbind.TLSExporter}},
		{name: "SCRAM-SHA-256-PLUS", client: sasl.ScramSha256Plus, remote: []string{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"},
			server: scram.SHA256Plus, advertised: true,
			wantCB: map[uint16]cbind.Type{tls.VersionTLS12: cbind.TLSUnique, tls.VersionTLS13: cbind.TLSExporter}},
		{name: "SCRAM-SHA-256-PLUS with authzid", client: sasl.ScramSha256Plus, remote: []string{"SCRAM-SHA-256-PLUS"},
			server: scram.SHA256Plus, advertised: true, authzid: "admin@example.net",
			wantCB: map[uint16]cbind.Type{tls.VersionTLS12: cbind.TLSUnique, tls.VersionTLS13: cbind.TLSExporter}},
		{name: "wrong password", client: sasl.ScramSha256, remote: []string{"SCRAM-SHA-256"}, server: scram.SHA256,
			password: "pencil2", wantErr: scram.ErrInvalidProof},
		{name: "wrong password PLUS", client: sasl.ScramSha1Plus, remote: []string{"SCRAM-SHA-1-PLUS"}, server: scram.SHA1Plus,
			advertised: true, password: "pencil2", wantErr: scram.ErrInvalidProof},
		// The client did not see -PLUS (stripped by an attacker) and sends
		// "y"; the attacker also renamed the mechanism to the non-PLUS one.
		{name: "downgrade to y", client: sasl.ScramSha256Plus, remote: []string{"SCRAM-SHA-256"}, server: scram.SHA256,
			advertised: true, wantErr: scram.ErrServerDoesSupportCB},
	}
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%s", tls.VersionName(version), tc.name), func(t *testing.T) {
				cc, sc, leaf := tlsPair(t, version)
				srv := newServer(t, tc.server, scram.Config{})
				type result struct {
					ex  *scram.Exchange
					err error
				}
				done := make(chan result, 1)
				go func() {
					ex, err := serveSCRAM(sc, srv, tc.advertised, leaf)
					done <- result{ex, err}
				}()
				password := tc.password
				if password == "" {
					password = "pencil"
				}
				neg := sasl.NewClient(tc.client,
					sasl.Credentials(func() ([]byte, []byte, []byte) {
						return []byte("user"), []byte(password), []byte(tc.authzid)
					}),
					sasl.TLSState(cc.ConnectionState()),
					sasl.RemoteMechanisms(tc.remote...),
				)
				clientErr := runMellium(cc, neg)
				cc.Close() // unblocks the server if the client gave up early
				r := <-done
				if tc.wantErr != nil {
					if !errors.Is(r.err, tc.wantErr) {
						t.Fatalf("server err = %v, want %v", r.err, tc.wantErr)
					}
					if clientErr == nil {
						t.Fatal("client succeeded")
					}
					return
				}
				if r.err != nil || clientErr != nil {
					t.Fatalf("server err = %v, client err = %v", r.err, clientErr)
				}
				if r.ex.Username() != "user" || r.ex.Authzid() != tc.authzid {
					t.Errorf("identity %q/%q", r.ex.Username(), r.ex.Authzid())
				}
				if got := r.ex.ChannelBinding(); got != tc.wantCB[version] {
					t.Errorf("channel binding %q, want %q", got, tc.wantCB[version])
				}
			})
		}
	}
}

// TestRealBindingData runs the test client over loopback TLS with each type
// cbind can give, the data taken from each side's own connection state
// (tls-server-end-point from the peer certificate on the client side).
func TestRealBindingData(t *testing.T) {
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, typ := range []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint, cbind.TLSUnique} {
			t.Run(fmt.Sprintf("%s/%s", tls.VersionName(version), typ), func(t *testing.T) {
				cc, sc, leaf := tlsPair(t, version)
				ccs, scs := cc.ConnectionState(), sc.ConnectionState()
				clientData, err := cbind.Data(typ, &ccs, ccs.PeerCertificates[0])
				if version == tls.VersionTLS13 && typ == cbind.TLSUnique {
					if !errors.Is(err, cbind.ErrUnavailable) {
						t.Fatalf("tls-unique on TLS 1.3: %v", err)
					}
					// The server refuses it too.
					ex := newServer(t, scram.SHA256Plus, scram.Config{}).Start(scram.ChannelBinding{
						Advertised: true,
						Data:       func(t cbind.Type) ([]byte, error) { return cbind.Data(t, &scs, leaf) },
					}, nil)
					_, _, err := ex.Step(context.Background(), []byte("p=tls-unique,,n=user,r=abc"))
					if !errors.Is(err, scram.ErrUnsupportedCBType) || !errors.Is(err, cbind.ErrUnavailable) {
						t.Fatalf("server: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				ex := newServer(t, scram.SHA512Plus, scram.Config{}).Start(scram.ChannelBinding{
					Advertised: true,
					Data:       func(t cbind.Type) ([]byte, error) { return cbind.Data(t, &scs, leaf) },
				}, nil)
				c := testClient{mech: scram.SHA512Plus, password: "pencil", gs2: "p=" + string(typ) + ",,",
					cbData: clientData, bare: "n=user,r=abc"}
				sf, _, err := ex.Step(context.Background(), []byte(c.first()))
				if err != nil {
					t.Fatal(err)
				}
				cf, want := c.final(t, string(sf))
				out, done, err := ex.Step(context.Background(), []byte(cf))
				if err != nil || !done || string(out) != want {
					t.Fatalf("out=%q done=%v err=%v", out, done, err)
				}
				if ex.ChannelBinding() != typ {
					t.Errorf("ChannelBinding() = %q", ex.ChannelBinding())
				}
			})
		}
	}
}
