package cbind_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
)

// A server lists one pseudomechanism per -PLUS mechanism and available
// binding type, and parses the name the client picked.
func ExamplePseudomechanism() {
	available := []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint}
	for _, mech := range []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"} {
		fmt.Println(mech)
		for _, t := range available {
			fmt.Println(cbind.Pseudomechanism(mech, t))
		}
	}

	mech, t, err := cbind.ParsePseudomechanism("SCRAM-SHA-256-PLUS:tls-exporter")
	fmt.Println(mech, t, err)
	_, _, err = cbind.ParsePseudomechanism("SCRAM-SHA-256-PLUS:tls-unique-for-telnet")
	fmt.Println(err)
	// Output:
	// SCRAM-SHA-256-PLUS
	// SCRAM-SHA-256-PLUS:tls-exporter
	// SCRAM-SHA-256-PLUS:tls-server-end-point
	// SCRAM-SHA-1-PLUS
	// SCRAM-SHA-1-PLUS:tls-exporter
	// SCRAM-SHA-1-PLUS:tls-server-end-point
	// SCRAM-SHA-256-PLUS tls-exporter <nil>
	// cbind: invalid channel-binding pseudomechanism: cbind: unknown channel-binding type: "tls-unique-for-telnet"
}

// A server wraps the accepted connection and its TLS configuration so that
// it knows which certificate it served, then lists the binding types it can
// offer after the handshake (here on TLS 1.3 with an ECDSA certificate).
func ExampleAvailable() {
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
	serverConfig := cbind.ServerConfig(cfg) // once, at startup

	serverSide, clientSide := net.Pipe()
	go func() {
		client := tls.Client(clientSide, &tls.Config{InsecureSkipVerify: true}) // example only
		_ = client.Handshake()
		_, _ = client.Read(make([]byte, 1)) // until the server hangs up
	}()

	// With mellium, NewConn(conn) is what you hand to xmpp.ReceiveSession
	// and serverConfig what you give xmpp.StartTLS.
	server := tls.Server(cbind.NewConn(serverSide), serverConfig)
	if err := server.Handshake(); err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()

	state := server.ConnectionState()
	leaf := cbind.Served(server, cfg)
	fmt.Println(cbind.Available(&state, leaf))
	fmt.Println(cbind.Default(&state))
	data, _ := cbind.Data(cbind.TLSServerEndPoint, &state, leaf)
	fmt.Println(len(data), "bytes of tls-server-end-point")
	// Output:
	// [tls-exporter tls-server-end-point]
	// tls-exporter true
	// 32 bytes of tls-server-end-point
}

// The XEP-0440 stream feature, as marshaled next to the SASL mechanisms.
func ExampleCapability() {
	out, _ := xml.Marshal(cbind.Capability{Types: []cbind.Type{cbind.TLSServerEndPoint, cbind.TLSExporter}})
	fmt.Println(string(out))

	var c cbind.Capability
	_ = xml.Unmarshal([]byte(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>
  <channel-binding type='tls-unique'/><channel-binding type='future-type'/>
</sasl-channel-binding>`), &c)
	fmt.Println(c.Types)
	// Output:
	// <sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0"><channel-binding type="tls-server-end-point"></channel-binding><channel-binding type="tls-exporter"></channel-binding></sasl-channel-binding>
	// [tls-unique]
}

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{"example.net"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
