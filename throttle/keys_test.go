package throttle

import (
	"crypto/sha256"
	"encoding/base64"
	"net"
	"strings"
	"testing"
)

func TestAddrKey(t *testing.T) {
	var nilTCP *net.TCPAddr
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"ipv4", tcp("192.0.2.7"), "addr:192.0.2.7/32"},
		{"ipv4 4-byte slice", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7).To4()}, "addr:192.0.2.7/32"},
		{"ipv4-mapped", tcp("::ffff:192.0.2.7"), "addr:192.0.2.7/32"},
		{"ipv6 /64", tcp("2001:db8:1:2:3:4:5:6"), "addr:2001:db8:1:2::/64"},
		{"ipv6 zone dropped", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}, "addr:fe80::/64"},
		{"loopback v4", tcp("127.0.0.1"), "addr:127.0.0.1/32"},
		{"loopback v6", tcp("::1"), "addr:::/64"},
		{"udp", &net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 1}, "addr:198.51.100.1/32"},
		{"ip", &net.IPAddr{IP: net.ParseIP("198.51.100.1")}, "addr:198.51.100.1/32"},
		{"string ip:port", stringAddr{"tcp", "198.51.100.1:5222"}, "addr:198.51.100.1/32"},
		{"string [ipv6%zone]:port", stringAddr{"tcp", "[fe80::1%eth0]:5222"}, "addr:fe80::/64"},
		{"string bare ipv6", stringAddr{"proxy", "2001:db8::1"}, "addr:2001:db8::/64"},
		{"string mapped", stringAddr{"proxy", "[::ffff:192.0.2.1]:1"}, "addr:192.0.2.1/32"},
		{"pipe", stringAddr{"pipe", "pipe"}, otherKey("pipe", "pipe")},
		{"unix", &net.UnixAddr{Net: "unix", Name: "/run/x.sock"}, otherKey("unix", "/run/x.sock")},
		{"unix abstract", &net.UnixAddr{Net: "unix", Name: "@x"}, otherKey("unix", "@x")},
		{"unparseable", stringAddr{"tcp", "not an address"}, otherKey("tcp", "not an address")},
		{"tcp without IP", &net.TCPAddr{Port: 5222}, otherKey("tcp", ":5222")},
		{"typed nil tcp", nilTCP, otherKey("tcp", "<nil>")},
		{"nil", nil, otherKey("", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AddrKey(tt.addr); got != tt.want {
				t.Fatalf("AddrKey = %q, want %q", got, tt.want)
			}
		})
	}
}

// otherKey spells out the documented form independently of hashKey.
func otherKey(network, s string) string {
	sum := sha256.Sum256([]byte(network + "\x00" + s))
	return "addr:other:" + base64.RawURLEncoding.EncodeToString(sum[:])[:22]
}

func TestAccountKey(t *testing.T) {
	for _, name := range []string{"", "juliet@example.com", "ünïcode@例え.jp", strings.Repeat("x", 5000), "a b\r\n\x00"} {
		sum := sha256.Sum256([]byte(name))
		want := "acct:" + base64.RawURLEncoding.EncodeToString(sum[:])[:22]
		if got := AccountKey(name); got != want {
			t.Errorf("AccountKey(%.20q) = %q, want %q", name, got, want)
		}
	}
	// Vectors computed outside Go, for implementations in other languages.
	for in, want := range map[string]string{
		AccountKey("juliet@example.com"):    "acct:W1-Q3-SLXdZQ0rWhCNq1Yh",
		AddrKey(stringAddr{"pipe", "pipe"}): "addr:other:qlorCRYTclKqOVfuyr3Ppc",
	} {
		if in != want {
			t.Errorf("key %q, want %q", in, want)
		}
	}
}

// Keys must be safe as Redis keys and in log lines: printable ASCII, no
// spaces, bounded.
func validKey(k string) bool {
	if len(k) == 0 || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}
