package xmpptest

import (
	"net"
	"sync"
	"testing"
)

// Serve accepts connections on a loopback port and runs handle for each in
// its own goroutine until stop is called; stop waits for every handler to
// return, so handlers must end when their connection does.
func Serve(handle func(net.Conn)) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(conn)
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		wg.Wait()
	}, nil
}

// Listen is Serve for the length of a test.
func Listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	addr, stop, err := Serve(handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}
