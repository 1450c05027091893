package guard

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// rwConn reads from r and records writes.
type rwConn struct {
	net.Conn
	r io.Reader
	w bytes.Buffer
}

func (c *rwConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *rwConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func TestWrite(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		writes func(g *Conn)
		want   func(resp string) string // what the peer gets, given the Response
	}{
		{"no violation: writes pass", open, func(g *Conn) {
			_, _ = readAll(g)
			_, _ = g.Write([]byte("<a/>"))
			_, _ = g.Write([]byte(closeTag))
			_ = g.WriteError()
		}, func(string) string { return "<a/>" + closeTag }},
		{"closing tag after a violation: the Response, once", open + "<a x='1' x='2'/>", func(g *Conn) {
			_, _ = readAll(g)
			_, _ = g.Write([]byte("<presence/>"))
			_, _ = g.Write([]byte(closeTag))
			_, _ = g.Write([]byte(closeTag))
			_ = g.WriteError()
		}, func(resp string) string { return "<presence/>" + resp }},
		{"WriteError, then the closing tag adds nothing", "<stream:stream to='x'/>", func(g *Conn) {
			_, _ = readAll(g)
			_ = g.WriteError()
			_ = g.WriteError()
			_, _ = g.Write([]byte(closeTag))
		}, func(resp string) string { return resp }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &rwConn{r: strings.NewReader(tc.in)}
			g := NewConn(c, testConfig(), false)
			tc.writes(g)
			resp := ""
			if e, _ := g.Err().(*Error); e != nil {
				resp = string(e.Response())
			}
			got := c.w.String()
			if e, _ := g.Err().(*Error); e != nil && e.Header {
				// The random id differs from one Response to the next.
				got = id.ReplaceAllString(got, "id='ID'")
				resp = id.ReplaceAllString(resp, "id='ID'")
			}
			if want := tc.want(resp); got != want {
				t.Errorf("peer got %q\nwant     %q", got, want)
			}
		})
	}
}
