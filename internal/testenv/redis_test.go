package testenv

import (
	"bufio"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// resp sends one command in RESP and returns the reply's first line.
func resp(t *testing.T, conn net.Conn, rd *bufio.Reader, args ...string) (string, error) {
	t.Helper()
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "$") && line != "$-1\r\n" {
		line, err = rd.ReadString('\n')
	}
	return strings.TrimRight(line, "\r\n"), err
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, bufio.NewReader(conn)
}

// TestStartRedis starts a server, stops it (connections are refused),
// restarts it on the same address, and freezes it (connections hang
// unanswered until it thaws).
func TestStartRedis(t *testing.T) {
	r := StartRedis(t, RedisOptions{})
	conn, rd := dial(t, r.Addr)
	if got, err := resp(t, conn, rd, "PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING: %q %v\n%s", got, err, r.Log())
	}
	if got, _ := resp(t, conn, rd, "SET", "k", "v"); got != "+OK" {
		t.Fatalf("SET: %q", got)
	}

	r.Stop()
	if _, err := net.Dial("tcp", r.Addr); err == nil {
		t.Fatal("stopped server accepts connections")
	}
	if _, err := resp(t, conn, rd, "PING"); err == nil {
		t.Fatal("connection to the stopped server still answers")
	}
	r.Stop() // stopping twice is harmless

	r.Restart()
	conn, rd = dial(t, r.Addr)
	if got, err := resp(t, conn, rd, "GET", "k"); err != nil || got != "$-1" {
		t.Fatalf("GET after restart without Persist: %q %v", got, err)
	}

	r.Freeze()
	conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := resp(t, conn, rd, "PING"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("frozen server: %v, want no answer", err)
	}
	r.Thaw()
	conn.SetReadDeadline(time.Time{})
	if line, err := rd.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("thawed server: %q %v", line, err)
	}

	r.Freeze()
	r.Stop() // a frozen server stops too
	if _, err := net.Dial("tcp", r.Addr); err == nil {
		t.Fatal("stopped server accepts connections")
	}
}

// TestRedisPersist: with Persist, data survives a restart.
func TestRedisPersist(t *testing.T) {
	r := StartRedis(t, RedisOptions{Persist: true})
	conn, rd := dial(t, r.Addr)
	if got, _ := resp(t, conn, rd, "SET", "k", "kept"); got != "+OK" {
		t.Fatalf("SET: %q", got)
	}
	r.Restart()
	conn, rd = dial(t, r.Addr)
	if got, err := resp(t, conn, rd, "GET", "k"); err != nil || got != "kept" {
		t.Fatalf("GET after restart: %q %v\n%s", got, err, r.Log())
	}
}
