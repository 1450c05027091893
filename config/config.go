// Package config holds what every configuration section of this module
// shares: a duration that reads and writes JSON as "30s", a clock, the
// default logger, and validation errors that name the JSON path of the
// setting an operator wrote ("sasl.max_attempts: 50 is not in 0..5").
//
// It implements no protocol. Left out: reading files (see
// xmppauth.LoadConfig) and environment variables.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string such as "30s" or "2m". An integer is read as nanoseconds, for
// files written by other tools.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns the duration string, e.g. "30s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string ("30s") or an integer of
// nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("want a duration such as \"30s\", got %s", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"30s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// Clock tells the time. Every package of this module that reads the time
// takes a Clock, so that tests can move time by hand.
type Clock interface {
	Now() time.Time
}

// SystemClock is the Clock of the real time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ClockFunc is a Clock made of a function, for tests.
type ClockFunc func() time.Time

// Now returns f().
func (f ClockFunc) Now() time.Time { return f() }

// ManualClock is a Clock that moves only when told to, for tests of code
// that expires things. It is safe for concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a ManualClock showing t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{now: t} }

// Now implements Clock.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *ManualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// ClockOr returns c, or SystemClock when c is nil.
func ClockOr(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}

// LoggerOr returns l, or slog.Default() when l is nil: the one logger
// default of this module.
func LoggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// FieldError is an invalid setting, named by its JSON path.
type FieldError struct {
	// Path is the dotted JSON path, e.g. "sasl.max_attempts".
	Path string
	// Err says what is wrong with the value.
	Err error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a FieldError for the setting at path.
func Errorf(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}

// In puts err inside the section or list element named by path: a
// FieldError's path gets path as its prefix ("max_attempts" in "sasl"
// becomes "sasl.max_attempts", and "[2]" becomes "sasl.mechanisms[2]" when
// the section path is "sasl.mechanisms"); any other error becomes a
// FieldError at path. In returns nil for a nil err.
func In(path string, err error) error {
	if err == nil {
		return nil
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		sep := "."
		if strings.HasPrefix(fe.Path, "[") || path == "" {
			sep = ""
		}
		return &FieldError{Path: path + sep + fe.Path, Err: fe.Err}
	}
	return &FieldError{Path: path, Err: err}
}
