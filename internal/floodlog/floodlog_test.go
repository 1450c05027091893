package floodlog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/internal/floodlog"
)

// A flood writes Burst lines, then nothing until the bucket refills; the
// next line that gets through is preceded by one summary of the rest.
func TestFlood(t *testing.T) {
	var buf bytes.Buffer
	clock := config.NewManualClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	f := floodlog.New(slog.New(slog.NewTextHandler(&buf, nil)), "tls", clock)
	for range 1000 {
		f.Info("tls handshake failed", "ip", "192.0.2.1")
	}
	if n := strings.Count(buf.String(), "tls handshake failed"); n != floodlog.Burst {
		t.Fatalf("%d lines during the flood, want %d", n, floodlog.Burst)
	}
	clock.Advance(time.Second)
	f.Info("tls handshake failed", "ip", "192.0.2.1")
	out := buf.String()
	if !strings.Contains(out, `msg="tls: suppressed similar log lines (rate limit)" lines=980`) {
		t.Fatalf("no summary of the 980 suppressed lines:\n%s", out)
	}
	if n := strings.Count(out, "tls handshake failed"); n != floodlog.Burst+1 {
		t.Fatalf("%d lines, want %d", n, floodlog.Burst+1)
	}
}

// With the system clock the summary comes by itself a second later.
func TestSummaryScheduled(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	done := make(chan struct{})
	h := slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		buf.Write(p)
		if bytes.Contains(p, []byte("suppressed")) {
			close(done)
		}
		return len(p), nil
	}), nil)
	f := floodlog.New(slog.New(h), "x", nil)
	for range floodlog.Burst + 5 {
		f.Info("line")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no summary")
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "lines=5") {
		t.Errorf("summary: %s", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
