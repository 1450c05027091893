package httpauth

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

// remoteIPIs never claims an address remoteIP would split otherwise.
func FuzzRemoteIPIs(f *testing.F) {
	for _, s := range [][2]string{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1:", "192.0.2.1"},
		{":80", ""},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"2001:db8::1:443", "2001:db8::1"},
		{"a]:1", "a]"},
		{"192.0.2.1:80:81", "192.0.2.1"},
		{"192.0.2.10:80", "192.0.2.1"},
		{"pipe", "pipe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, addr, ip string) {
		got := remoteIP(&http.Request{RemoteAddr: addr})
		if remoteIPIs(addr, ip) && got != ip {
			t.Fatalf("remoteIPIs(%q, %q) true, remoteIP is %q", addr, ip, got)
		}
		if strings.Count(addr, ":") == 1 && !strings.ContainsAny(addr, "[]") && got == ip && !remoteIPIs(addr, ip) {
			t.Fatalf("remoteIPIs(%q, %q) false for a host:port address", addr, ip)
		}
	})
}

// isTarget agrees with requestTarget for whatever request line net/http
// accepts.
func FuzzIsTarget(f *testing.F) {
	for _, s := range []string{
		"https://files.shakespeare.lit/missive.html",
		"https://files.shakespeare.lit/a%20b?x=1&y=%2F",
		"https://files.shakespeare.lit/a:b@c;d=e/f(g)!$*'+,",
		"https://files.shakespeare.lit/%7Euser/%2f",
		"http://h",
		"/origin/form?q",
		"*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n")))
		if err != nil {
			return
		}
		want := requestTarget(r)
		if !isTarget(want, r) {
			t.Fatalf("%q: isTarget(%q) false", target, want)
		}
		if isTarget(want+"x", r) || want != "" && isTarget(want[:len(want)-1], r) {
			t.Fatalf("%q: isTarget true for another target than %q", target, want)
		}
	})
}
