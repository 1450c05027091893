package testenv

import (
	"net"
	"testing"
)

func TestStartProsody(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{
		Users:      map[string]string{"juliet": "pw1", "romeo": "pw2"},
		Components: map[string]string{"auth.localhost": "s3cret"},
	})
	for _, addr := range []string{p.C2SAddr, p.ComponentAddr} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		c.Close()
	}
}
