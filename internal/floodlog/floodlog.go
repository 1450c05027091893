// Package floodlog writes the log lines that an unauthenticated peer can
// cause (refused requests, failed TLS handshakes, ignored answers) with a
// rate limit, so that a flood cannot fill the disk: lines beyond the limit
// are counted and reported in one summary line when logging resumes, and at
// the latest a second after the first line was left out.
package floodlog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/xmppauth/xmppauth/config"
)

// Defaults: at most LinesPerSecond lines a second on average, Burst at once.
const (
	LinesPerSecond = 10
	Burst          = 20
)

// Logger rate-limits one kind of log line. It is safe for concurrent use.
type Logger struct {
	log   *slog.Logger
	name  string // names the suppressed lines in the summary
	clock config.Clock
	// afterFunc schedules the summary of suppressed lines; nil when the
	// clock is not the system clock (the summary then waits for the next
	// line that is let through).
	afterFunc func(time.Duration, func())

	mu         sync.Mutex
	lim        *rate.Limiter
	suppressed int
	scheduled  bool
}

// New returns a Logger writing to log; name says in the summary line which
// lines were suppressed (e.g. "httpauth", "tls"). A nil clock is the system
// clock.
func New(log *slog.Logger, name string, clock config.Clock) *Logger {
	clock = config.ClockOr(clock)
	f := &Logger{log: config.LoggerOr(log), name: name, clock: clock, lim: rate.NewLimiter(LinesPerSecond, Burst)}
	if _, ok := clock.(config.SystemClock); ok {
		f.afterFunc = func(d time.Duration, fn func()) { time.AfterFunc(d, fn) }
	}
	return f
}

// Info writes one INFO line unless the rate limit is exceeded.
func (f *Logger) Info(msg string, args ...any) {
	f.Log(slog.LevelInfo, msg, args...)
}

// Log writes one line at level unless the rate limit is exceeded.
func (f *Logger) Log(level slog.Level, msg string, args ...any) {
	if f.allow(level) {
		f.log.Log(context.Background(), level, msg, args...)
	}
}

// LogAttrs is Log with attributes.
func (f *Logger) LogAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	if f.allow(level) {
		f.log.LogAttrs(context.Background(), level, msg, attrs...)
	}
}

// allow reports whether a line at level may be written now, writing the
// summary of the lines suppressed before it.
func (f *Logger) allow(level slog.Level) bool {
	if !f.log.Enabled(context.Background(), level) {
		return false
	}
	f.mu.Lock()
	if !f.lim.AllowN(f.clock.Now(), 1) {
		f.suppressed++
		schedule := !f.scheduled && f.afterFunc != nil
		f.scheduled = f.scheduled || schedule
		f.mu.Unlock()
		if schedule {
			f.afterFunc(time.Second, f.flush)
		}
		return false
	}
	n := f.suppressed
	f.suppressed = 0
	f.mu.Unlock()
	if n > 0 {
		f.summary(n)
	}
	return true
}

// flush writes the summary of the lines suppressed so far.
func (f *Logger) flush() {
	f.mu.Lock()
	n := f.suppressed
	f.suppressed = 0
	f.scheduled = false
	f.mu.Unlock()
	if n > 0 {
		f.summary(n)
	}
}

func (f *Logger) summary(n int) {
	f.log.Warn(f.name+": suppressed similar log lines (rate limit)", "lines", n)
}
