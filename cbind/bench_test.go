package cbind

import (
	"crypto/tls"
	"encoding/xml"
	"testing"
)

func benchConn(b *testing.B, v uint16) side {
	srv, _ := handshake(b, &tls.Config{Certificates: []tls.Certificate{testCert(b, ecdsaP384)}}, clientConfig(v, "localhost"))
	return srv
}

func BenchmarkData(b *testing.B) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv := benchConn(b, v)
		for _, typ := range []Type{TLSExporter, TLSServerEndPoint} {
			b.Run(tls.VersionName(v)+"/"+string(typ), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Data(typ, &srv.state, srv.leaf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkAvailable(b *testing.B) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		srv := benchConn(b, v)
		b.Run(tls.VersionName(v), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(Available(&srv.state, srv.leaf)) == 0 {
					b.Fatal("none available")
				}
			}
		})
	}
}

func BenchmarkServed(b *testing.B) {
	srv := benchConn(b, tls.VersionTLS13)
	b.ReportAllocs()
	for b.Loop() {
		if Served(srv.conn, nil) == nil {
			b.Fatal("unknown")
		}
	}
}

func BenchmarkParsePseudomechanism(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParsePseudomechanism("SCRAM-SHA-256-PLUS:tls-server-end-point"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCapabilityUnmarshal(b *testing.B) {
	in := []byte(xep0440Example)
	b.ReportAllocs()
	for b.Loop() {
		var c Capability
		if err := xml.Unmarshal(in, &c); err != nil {
			b.Fatal(err)
		}
	}
}
