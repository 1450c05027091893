package throttle

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none: valid
	}{
		{"zero", Config{}, nil},
		{"explicit", Config{MaxFailures: 5, Lifetime: Duration(10 * time.Minute), FreeAttempts: 1, BaseDelay: Duration(time.Second), MaxDelay: Duration(time.Second), MaxEntries: 10}, nil},
		{"disabled still checked", Config{DisableAddressBan: true, DisableAccountDelay: true, MaxFailures: -1}, []string{"max_failures: -1 is negative"}},
		{"negatives", Config{MaxFailures: -3, Lifetime: Duration(-time.Second), FreeAttempts: -1, BaseDelay: Duration(-1), MaxDelay: Duration(-time.Minute), MaxEntries: -5}, []string{
			"max_failures: -3 is negative", "lifetime: -1s is negative", "free_attempts: -1 is negative",
			"base_delay: -1ns is negative", "max_delay: -1m0s is negative", "max_entries: -5 is negative",
		}},
		{"short lifetime", Config{Lifetime: Duration(500 * time.Millisecond)}, []string{"lifetime: 500ms is shorter than 1s"}},
		{"base over default max", Config{BaseDelay: Duration(10 * time.Second)}, []string{"base_delay: 10s exceeds max_delay (8s)"}},
		{"base over max", Config{BaseDelay: Duration(2 * time.Second), MaxDelay: Duration(time.Second)}, []string{"base_delay: 2s exceeds max_delay (1s)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				if _, err := New(tt.cfg); err != nil {
					t.Fatalf("New = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate = nil")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tt.want) {
				t.Errorf("%d errors, want %d: %v", got, len(tt.want), err)
			}
			if _, err := New(tt.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	in := `{"max_failures":10,"lifetime":"30m","free_attempts":3,"base_delay":"100ms","max_delay":"4s","max_entries":5000,"disable_address_ban":true}`
	var c Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	want := Config{MaxFailures: 10, Lifetime: Duration(30 * time.Minute), FreeAttempts: 3, BaseDelay: Duration(100 * time.Millisecond), MaxDelay: Duration(4 * time.Second), MaxEntries: 5000, DisableAddressBan: true}
	if c != want {
		t.Fatalf("got %+v, want %+v", c, want)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `{"max_failures":10,"lifetime":"30m0s","free_attempts":3,"base_delay":"100ms","max_delay":"4s","max_entries":5000,"disable_address_ban":true}` {
		t.Fatalf("Marshal = %s", got)
	}
	if out, _ := json.Marshal(Config{}); string(out) != `{}` {
		t.Fatalf("zero config marshals as %s", out)
	}

	for _, bad := range []string{`{"lifetime":"1 hour"}`, `{"lifetime":true}`, `{"base_delay":"-"}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil || !strings.Contains(err.Error(), "want a duration") {
			t.Errorf("Unmarshal(%s) = %v", bad, err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`1000000000`), &d); err != nil || d != Duration(time.Second) {
		t.Errorf("a number reads as nanoseconds: %v, %v", d, err)
	}
}
