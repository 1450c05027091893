package guard

import (
	"errors"
	"strings"
	"testing"

	"mellium.im/xmpp/stream"
)

// TestOldFilterCases runs the old filter's test cases (cmd/xmppauthd
// whitespace_test.go at 6b1f7c2) through the guard, and checks that both give the
// same bytes.
func TestOldFilterCases(t *testing.T) {
	const hdr = "<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	const hdrOut = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	tests := []struct {
		name      string
		beforeTLS bool
		in, want  string
		stopped   bool // handed over to TLS
	}{
		{"go-xmpp STARTTLS", true,
			hdr + "\n<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n\x16\x03\x01 \n",
			hdrOut + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01 \n", true},
		{"STARTTLS with an end tag", true,
			hdr + " <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\n</starttls> \r\n\x16 ",
			hdrOut + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>\n</starttls>\x16 ", true},
		{"whitespace inside elements kept", false,
			hdr + "\n<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>\n",
			hdrOut + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>", false},
		{"quotes may hold > and /", false,
			hdr + "\n<iq id='a>b/' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource> r </resource></bind></iq>\n",
			hdrOut + "<iq id='a>b/' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource> r </resource></bind></iq>", false},
		{"stream restart resets the depth", false,
			hdr + "\n<auth mechanism='PLAIN'>x</auth>\n" + hdr + "\n<iq type='set'> <bind/> </iq>\n",
			hdrOut + "<auth mechanism='PLAIN'>x</auth>" + hdrOut + "<iq type='set'> <bind/> </iq>", false},
		{"starttls only stops the filter before TLS", false,
			hdr + "\n<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n<x> </x>\n",
			hdrOut + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><x> </x>", false},
		{"nested starttls is not the feature", true,
			hdr + "\n<x><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/> </x>\n",
			hdrOut + "<x><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/> </x>", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, sp := range splits {
				g := NewConn(readerConn{r: sp.r(strings.NewReader(tc.in))}, testConfig(), tc.beforeTLS)
				out, err := readAll(g)
				if err != nil {
					t.Fatalf("%s: %v", sp.name, err)
				}
				if string(out) != tc.want {
					t.Errorf("%s:\n got %q\nwant %q", sp.name, out, tc.want)
				}
				if g.s.passthrough != tc.stopped {
					t.Errorf("%s: handed over = %v, want %v", sp.name, g.s.passthrough, tc.stopped)
				}
			}
			old, stopped := oldFilterRun([]byte(tc.in), tc.beforeTLS)
			if string(old) != tc.want || stopped != tc.stopped {
				t.Errorf("old filter: %q, %v", old, stopped)
			}
		})
	}
}

func TestStartTLSHandoff(t *testing.T) {
	const tls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	// After the handoff nothing is checked: these bytes would be refused.
	const records = "\x16\x03\x01<!-- &x; <a x='1' x='1'>"
	tests := []struct {
		name    string
		in      string
		authed  bool
		handoff bool
		cond    stream.Error // when no handoff
	}{
		{"self-closing", open + "\n" + tls + "\n\r\t " + records, false, true, stream.Error{}},
		{"prefixed", open + "<t:starttls xmlns:t='urn:ietf:params:xml:ns:xmpp-tls'></t:starttls>" + records, false, true, stream.Error{}},
		{"wrong namespace", open + "<starttls/>" + records, false, false, stream.BadFormat},
		{"after authentication", open + tls + records, true, false, stream.BadFormat},
		{"nested", open + "<a>" + tls + "</a>" + records, false, false, stream.BadFormat},
		{"not yet ended", open + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>" + records, false, false, stream.RestrictedXML},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := guardRead(t, testConfig(), tc.in, func(g *Conn) {
				if tc.authed {
					g.SetAuthenticated()
				}
			})
			if !tc.handoff {
				if !errors.Is(err, tc.cond) {
					t.Fatalf("error %v, want %v", err, tc.cond)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := stripTop(tc.in[:len(tc.in)-len(records)]) + records; string(out) != want {
				t.Errorf("got  %q\nwant %q", out, want)
			}
		})
	}
}
