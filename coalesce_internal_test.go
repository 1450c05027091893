package xmppauth

import (
	"net"
	"testing"
	"time"
)

// Once the session runs (coalescing off), a read does not wait for a write
// that a slow client does not take: a client that is itself blocked
// writing to the server would otherwise wait with it until a deadline.
func TestCoalescerReadDoesNotWaitForWrite(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	c := &coalescer{Conn: server}
	go c.Write(make([]byte, 1<<10)) // nobody reads client: it blocks
	time.Sleep(10 * time.Millisecond)
	go client.Write([]byte("x"))
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 8)
		n, _ := c.Read(buf)
		got <- string(buf[:n])
	}()
	select {
	case s := <-got:
		if s != "x" {
			t.Fatalf("read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read waits for the blocked write")
	}
}
