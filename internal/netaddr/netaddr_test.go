package netaddr

import (
	"net"
	"testing"
)

func TestIP(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 5222}, "192.0.2.7"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5222}, "2001:db8::1"},
		{&net.UnixAddr{Name: "/run/xmpp.sock", Net: "unix"}, "/run/xmpp.sock"},
		{nil, ""},
	} {
		if got := IP(tc.addr); got != tc.want {
			t.Errorf("IP(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
