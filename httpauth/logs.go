package httpauth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/xmppauth/xmppauth/config"
)

// Limits on the log lines a flood can cause: refused requests and ignored
// answers are logged at most logLinesPerSecond per second on average
// (logBurst at once); the lines left out are counted and reported in one
// "suppressed" line when logging resumes, and at the latest a second after
// the first line was left out.
const (
	logLinesPerSecond = 10
	logBurst          = 20
)

// floodLog writes the log lines an unauthenticated peer can cause, with a
// rate limit. Lines that are always bounded by other limits (confirmation
// requests sent, requests granted) go to the logger directly.
type floodLog struct {
	log   *slog.Logger
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

func newFloodLog(log *slog.Logger, clock config.Clock) *floodLog {
	f := &floodLog{log: log, clock: clock, lim: rate.NewLimiter(logLinesPerSecond, logBurst)}
	if _, ok := clock.(config.SystemClock); ok {
		f.afterFunc = func(d time.Duration, fn func()) { time.AfterFunc(d, fn) }
	}
	return f
}

// logAttrs writes one line at level unless the rate limit is exceeded.
func (f *floodLog) logAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	ctx := context.Background()
	if !f.log.Enabled(ctx, level) {
		return
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
		return
	}
	n := f.suppressed
	f.suppressed = 0
	f.mu.Unlock()
	if n > 0 {
		f.summary(n)
	}
	f.log.LogAttrs(ctx, level, msg, attrs...)
}

// flush writes the summary of the lines suppressed so far.
func (f *floodLog) flush() {
	f.mu.Lock()
	n := f.suppressed
	f.suppressed = 0
	f.scheduled = false
	f.mu.Unlock()
	if n > 0 {
		f.summary(n)
	}
}

func (f *floodLog) summary(n int) {
	f.log.LogAttrs(context.Background(), slog.LevelWarn, "httpauth: suppressed similar log lines (rate limit)", slog.Int("lines", n))
}
