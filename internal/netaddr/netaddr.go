// Package netaddr formats remote addresses for log lines.
package netaddr

import "net"

// IP is the address part of a remote address, for logs (fail2ban matches
// it); the whole address when it has no port, "" for nil.
func IP(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	s := addr.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}
