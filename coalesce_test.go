package xmppauth_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// During negotiation the server writes once per turn of the conversation:
// what mellium writes separately (the stream header, the features, each
// SASL element, and the TLS records of each) goes out in one socket write
// before the server reads the client's answer.
func TestNegotiationWritesCoalesced(t *testing.T) {
	p, err := xmppauth.New(baseConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flow string
		max  int64
	}{
		// header+features, proceed, TLS flight, ticket+header+features,
		// challenge, success, header+features, bind result, and the close
		// (closing tag, close_notify).
		{"rfc6120", 10},
		// TLS flight, ticket+header+features, challenge,
		// success+features, and the close.
		{"sasl2", 6},
		// TLS flight, ticket+header+features, success+features, and the
		// close.
		{"fast", 5},
	} {
		t.Run(tc.flow, func(t *testing.T) {
			var writes atomic.Int64
			var wg sync.WaitGroup
			addr := xmpptest.Listen(t, func(raw net.Conn) {
				defer wg.Done()
				raw = countingConn{raw, &writes}
				if tc.flow == "rfc6120" {
					negotiateCPU(p.Accept(raw), nil)
				} else {
					c, err := p.AcceptTLS(raw)
					negotiateCPU(c, err)
				}
			})
			c := &cpuClient{addr: addr, keys: map[string][]byte{}}
			if tc.flow == "fast" {
				wg.Add(1)
				if err := c.login("fast"); err != nil { // gets the token
					t.Fatal(err)
				}
				wg.Wait()
				writes.Store(0)
			}
			wg.Add(1)
			if err := c.login(tc.flow); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			if n := writes.Load(); n > tc.max {
				t.Errorf("%d socket writes for one login, want at most %d", n, tc.max)
			} else {
				t.Logf("%d socket writes", n)
			}
		})
	}
}
