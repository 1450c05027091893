package config_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

func TestDurationJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{`"30s"`, 30 * time.Second, false},
		{`"1h2m"`, time.Hour + 2*time.Minute, false},
		{`1000`, 1000, false},
		{`"30"`, 0, true},
		{`true`, 0, true},
		{`"-1s"`, -time.Second, false},
	} {
		var d config.Duration
		err := json.Unmarshal([]byte(tc.in), &d)
		if (err != nil) != tc.err || d.D() != tc.want {
			t.Errorf("%s: got %v, %v; want %v, error %v", tc.in, d.D(), err, tc.want, tc.err)
		}
	}
	b, err := json.Marshal(struct {
		T config.Duration `json:"t"`
	}{config.Duration(90 * time.Second)})
	if err != nil || string(b) != `{"t":"1m30s"}` {
		t.Errorf("marshal: %s, %v", b, err)
	}
}

func TestFieldErrorPath(t *testing.T) {
	base := errors.New("base")
	err := config.In("sasl", config.Errorf("max_attempts", "%d is not in 0..5", 50))
	if got := err.Error(); got != "sasl.max_attempts: 50 is not in 0..5" {
		t.Errorf("got %q", got)
	}
	err = config.In("sasl", config.In("mechanisms", config.Errorf("[2]", "unknown mechanism %q", "X")))
	if got := err.Error(); got != `sasl.mechanisms[2]: unknown mechanism "X"` {
		t.Errorf("got %q", got)
	}
	err = config.In("http_auth.store", base)
	if !errors.Is(err, base) || !strings.HasPrefix(err.Error(), "http_auth.store: ") {
		t.Errorf("got %v", err)
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != "http_auth.store" {
		t.Errorf("As: %v", fe)
	}
	if config.In("x", nil) != nil {
		t.Error("In(nil) is not nil")
	}
}

func TestDefaults(t *testing.T) {
	if config.ClockOr(nil) == nil || config.LoggerOr(nil) == nil {
		t.Fatal("nil defaults")
	}
	before := time.Now()
	if now := config.ClockOr(nil).Now(); now.Before(before) {
		t.Errorf("SystemClock went back: %v < %v", now, before)
	}
}

func TestManualClock(t *testing.T) {
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := config.NewManualClock(start)
	var _ config.Clock = c
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v", c.Now())
	}
	if got := c.Advance(time.Minute); !got.Equal(start.Add(time.Minute)) || !c.Now().Equal(got) {
		t.Fatalf("Advance = %v, Now = %v", got, c.Now())
	}
}
