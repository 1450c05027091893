package throttle

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzAddrKey derives keys from arbitrary address strings: the key is always a
// valid store key, deterministic, and every spelling of one IP address (bare,
// with a port, IPv4-mapped, as a *net.TCPAddr) lands in the same bucket.
func FuzzAddrKey(f *testing.F) {
	for _, s := range []string{
		"192.0.2.7", "192.0.2.7:5222", "[2001:db8::1]:5222", "2001:db8::1",
		"::ffff:192.0.2.7", "[::ffff:192.0.2.7]:1", "[fe80::1%eth0]:5222",
		"fe80::1%", "pipe", "@", "/run/x.sock", "", "[::]:0", "1.2.3.4:99999",
		"0.0.0.0", "\x00\xff", "::ffff:0:0", "[::ffff:1.2.3.4%z]:1",
	} {
		f.Add("tcp", s)
	}
	f.Add("unix", "/run/prosody.sock")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, network, s string) {
		k := AddrKey(stringAddr{network, s})
		if !validKey(k) {
			t.Fatalf("AddrKey(%q, %q) = %q is not a valid key", network, s, k)
		}
		if k != AddrKey(stringAddr{network, s}) {
			t.Fatal("AddrKey is not deterministic")
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			ap, err2 := netip.ParseAddrPort(s)
			if err2 != nil {
				if !strings.HasPrefix(k, otherPrefix) || k != otherKey(network, s) {
					t.Fatalf("unparseable %q keyed %q, want %q", s, k, otherKey(network, s))
				}
				return
			}
			ip = ap.Addr()
		}
		if strings.HasPrefix(k, otherPrefix) {
			t.Fatalf("IP address %q keyed as other: %q", s, k)
		}
		ip = ip.WithZone("")
		tcpKey := AddrKey(&net.TCPAddr{IP: ip.AsSlice(), Port: 1})
		if tcpKey != k {
			t.Fatalf("%q keyed %q but as a TCPAddr %q", s, k, tcpKey)
		}
		if ip.Is4() {
			mapped := netip.AddrFrom16(ip.As16())
			if m := AddrKey(stringAddr{network, mapped.String()}); m != k {
				t.Fatalf("IPv4 %q keyed %q, its mapped form %q", s, k, m)
			}
			if !strings.HasSuffix(k, "/32") {
				t.Fatalf("IPv4 %q keyed %q", s, k)
			}
		} else if ip.Unmap().Is6() && !strings.HasSuffix(k, "/64") {
			t.Fatalf("IPv6 %q keyed %q", s, k)
		}
		// The key names a prefix that contains the address.
		p, err := netip.ParsePrefix(strings.TrimPrefix(k, addrPrefix))
		if err != nil || !p.Contains(ip.Unmap()) {
			t.Fatalf("key %q does not name a prefix containing %v: %v", k, ip, err)
		}
	})
}

// FuzzAccountKey: any account name gives a valid, fixed-length key.
func FuzzAccountKey(f *testing.F) {
	f.Add("juliet@example.com")
	f.Add("")
	f.Add("\x00\r\n ")
	f.Fuzz(func(t *testing.T, name string) {
		k := AccountKey(name)
		if !validKey(k) || len(k) != len(acctPrefix)+hashChars || !strings.HasPrefix(k, acctPrefix) {
			t.Fatalf("AccountKey(%q) = %q", name, k)
		}
	})
}
