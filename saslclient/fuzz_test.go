package saslclient

import (
	"bytes"
	"encoding/xml"
	"errors"
	"testing"
)

func FuzzParseServerFirst(f *testing.F) {
	f.Add([]byte("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"), []byte("fyko+d2lbbFgONRv9qkxdawL"))
	f.Add([]byte("r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08="), []byte("abc"))
	f.Add([]byte("m=x,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"), []byte("abc"))
	f.Fuzz(func(t *testing.T, msg, nonce []byte) {
		sf, err := parseServerFirst(msg, nonce)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNonceMismatch) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		switch {
		case !bytes.HasPrefix(sf.nonce, nonce) || len(sf.nonce) <= len(nonce):
			t.Fatalf("nonce %q accepted for client nonce %q", sf.nonce, nonce)
		case len(sf.salt) == 0 || len(sf.salt) > maxSaltLen:
			t.Fatalf("salt of %d bytes accepted", len(sf.salt))
		case sf.iterations <= 0:
			t.Fatalf("iteration count %d accepted", sf.iterations)
		case len(msg) > MaxServerMessageLen:
			t.Fatalf("message of %d bytes accepted", len(msg))
		}
	})
}

func FuzzParseServerFinal(f *testing.F) {
	f.Add([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))
	f.Add([]byte("e=invalid-proof"))
	f.Add([]byte("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=1"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := parseServerFinal(msg)
		var se *ServerError
		switch {
		case errors.As(err, &se):
			if se.Value == "" || !bytes.HasPrefix(msg, []byte("e=")) {
				t.Fatalf("server error %q from %q", se.Value, msg)
			}
		case err != nil:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error type: %v", err)
			}
		case len(v) == 0 || !bytes.HasPrefix(msg, []byte("v=")):
			t.Fatalf("verifier %x from %q", v, msg)
		}
	})
}

// FuzzParseFeatures feeds the two feature parsers arbitrary XML.
func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte(`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism><mechanism>SCRAM-SHA-1-PLUS:tls-exporter</mechanism></mechanisms>`))
	f.Add([]byte(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-server-end-point'/><channel-binding type='tls-exporter'/></sasl-channel-binding>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, parse := range []func(*xml.Decoder) ([]string, error){parseMechanisms, parseChannelBindingTypes} {
			d := xml.NewDecoder(bytes.NewReader(doc))
			if _, err := d.Token(); err != nil {
				return
			}
			names, err := parse(d)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("unexpected error type: %v", err)
				}
				continue
			}
			if len(names) > MaxMechanisms {
				t.Fatalf("%d names kept", len(names))
			}
			for _, n := range names {
				if !validMechanismName(n) {
					t.Fatalf("invalid name %q kept", n)
				}
			}
		}
	})
}
