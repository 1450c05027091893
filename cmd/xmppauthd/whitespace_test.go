package main

import (
	"bytes"
	"testing"
)

func TestWSFilter(t *testing.T) {
	const header = "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	const headerOut = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	tests := []struct {
		name      string
		beforeTLS bool
		in, want  string
		stopped   bool // passthrough reached
	}{
		{"go-xmpp STARTTLS", true,
			header + "\n<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n\x16\x03\x01 \n",
			headerOut + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01 \n", true},
		{"STARTTLS with an end tag", true,
			header + " <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\n</starttls> \r\n\x16 ",
			headerOut + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\n</starttls>\x16 ", true},
		{"whitespace inside elements kept", false,
			header + "\n<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>\n",
			headerOut + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>", false},
		{"quotes may hold > and /", false,
			header + "\n<iq id='a>b/' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource> r </resource></bind></iq>\n",
			headerOut + "<iq id='a>b/' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource> r </resource></bind></iq>", false},
		{"stream restart resets the depth", false,
			header + "\n<auth mechanism='PLAIN'>x</auth>\n" + header + "\n<iq type='set'> <bind/> </iq>\n",
			headerOut + "<auth mechanism='PLAIN'>x</auth>" + headerOut + "<iq type='set'> <bind/> </iq>", false},
		{"starttls only stops the filter before TLS", false,
			header + "\n<starttls/>\n<x> </x>\n",
			headerOut + "<starttls/><x> </x>", false},
		{"nested starttls is not the feature", true,
			header + "\n<x><starttls/> </x>\n",
			headerOut + "<x><starttls/> </x>", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Whole, and split at every byte: the scanner keeps state across
			// reads.
			for _, chunk := range []int{len(tc.in), 1, 3} {
				f := wsFilter{stopAfterStartTLS: tc.beforeTLS}
				var out []byte
				for i := 0; i < len(tc.in); i += chunk {
					p := []byte(tc.in[i:min(i+chunk, len(tc.in))])
					out = append(out, p[:f.filter(p)]...)
				}
				if string(out) != tc.want {
					t.Errorf("chunks of %d:\n got %q\nwant %q", chunk, out, tc.want)
				}
				if f.passthrough != tc.stopped {
					t.Errorf("chunks of %d: passthrough = %v, want %v", chunk, f.passthrough, tc.stopped)
				}
			}
		})
	}
}

// stripSpace removes XML whitespace bytes (byte-wise: the input need not
// be UTF-8).
func stripSpace(b []byte) []byte {
	var out []byte
	for _, c := range b {
		if !isXMLSpace(c) {
			out = append(out, c)
		}
	}
	return out
}

// FuzzWSFilter checks that the filter only ever drops whitespace, and that
// how the input is split into reads does not matter.
func FuzzWSFilter(f *testing.F) {
	f.Add("<?xml version='1.0'?>\n<stream:stream to='localhost'>\n<starttls/>\n\x16\x03", true, uint8(1))
	f.Add("<stream:stream>\n<auth mechanism='PLAIN'> x </auth>\n<stream:stream>\n<iq> <bind/> </iq>", false, uint8(2))
	f.Add("<a x=\"'>\"/> <b></b>\n</stream:stream>", false, uint8(5))
	f.Fuzz(func(t *testing.T, in string, beforeTLS bool, chunk uint8) {
		n := int(chunk%16) + 1
		whole := wsFilter{stopAfterStartTLS: beforeTLS}
		p := []byte(in)
		want := p[:whole.filter(p)]
		split := wsFilter{stopAfterStartTLS: beforeTLS}
		var got []byte
		for i := 0; i < len(in); i += n {
			q := []byte(in[i:min(i+n, len(in))])
			got = append(got, q[:split.filter(q)]...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("split into %d-byte reads: %q, whole: %q", n, got, want)
		}
		if !bytes.Equal(stripSpace(want), stripSpace([]byte(in))) {
			t.Fatalf("dropped more than whitespace: %q → %q", in, want)
		}
	})
}
