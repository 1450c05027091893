package throttle

import (
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/netip"
)

const (
	addrPrefix  = "addr:"
	otherPrefix = "addr:other:"
	acctPrefix  = "acct:"
	// hashChars is the length of a hashed key part: 132 bits of SHA-256.
	hashChars = 22
	// ipv6Bits groups IPv6 addresses by the /64 one customer network gets.
	ipv6Bits = 64
)

// AddrKey returns the store key of the counter for a remote address:
//
//   - an IPv4 address, or an IPv4-mapped IPv6 address: "addr:" and the /32,
//     e.g. "addr:192.0.2.7/32";
//   - an IPv6 address: "addr:" and its /64, e.g. "addr:2001:db8:1:2::/64"
//     (a zone is dropped);
//   - anything else (a Unix socket, net.Pipe, nil, a String() that is not an
//     IP address or IP:port): "addr:other:" and a hash of Network() and
//     String(), one bucket per pair.
//
// IP addresses are read from *net.TCPAddr, *net.UDPAddr and *net.IPAddr, or
// else parsed from String() as an address or address:port.
func AddrKey(addr net.Addr) string {
	ip, ok := addrIP(addr)
	if !ok {
		var network, s string
		if addr != nil {
			network, s = addr.Network(), addr.String()
		}
		// Network names are short, so a NUL cannot appear in one and the pair
		// cannot be confused with another pair.
		return hashKey(otherPrefix, network+"\x00"+s)
	}
	bits := 32
	if ip.Is6() {
		bits = ipv6Bits
	}
	p := netip.PrefixFrom(ip, bits).Masked()
	var buf [64]byte
	return string(p.AppendTo(append(buf[:0], addrPrefix...)))
}

// addrIP returns the unmapped IP address of addr without its zone.
func addrIP(addr net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	ok := false
	switch a := addr.(type) {
	case nil:
		return ip, false
	case *net.TCPAddr:
		if a != nil {
			ip, ok = netip.AddrFromSlice(a.IP)
		}
	case *net.UDPAddr:
		if a != nil {
			ip, ok = netip.AddrFromSlice(a.IP)
		}
	case *net.IPAddr:
		if a != nil {
			ip, ok = netip.AddrFromSlice(a.IP)
		}
	default:
		s := addr.String()
		if ap, err := netip.ParseAddrPort(s); err == nil {
			ip, ok = ap.Addr(), true
		} else if ip, err = netip.ParseAddr(s); err == nil {
			ok = true
		}
	}
	if !ok || !ip.IsValid() {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// AccountKey returns the store key of the counter for an account name:
// "acct:" and the first 22 characters of the unpadded base64url SHA-256 of
// the name. The hash bounds the key's length and keeps it ASCII; it does not
// hide the name from someone who can guess it.
func AccountKey(account string) string {
	return hashKey(acctPrefix, account)
}

func hashKey(prefix, s string) string {
	sum := sha256.Sum256([]byte(s))
	var buf [48]byte
	n := copy(buf[:], prefix)
	// 17 bytes encode to 23 characters, of which the first 22 are kept.
	base64.RawURLEncoding.Encode(buf[n:], sum[:17])
	return string(buf[:n+hashChars])
}
