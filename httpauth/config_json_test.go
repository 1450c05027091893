package httpauth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestConfigJSON(t *testing.T) {
	in := `{"from":"auth.example.net","timeout":"1m30s","reuse_window":"10m","nonce_lifetime":"2m",` +
		`"timeout_status":504,"disable_basic":true,"base_url":"https://files.example.net"}`
	var c Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.From.String() != "auth.example.net" || c.Timeout.D() != 90*time.Second || c.ReuseWindow.D() != 10*time.Minute ||
		c.NonceLifetime.D() != 2*time.Minute || c.TimeoutStatus != 504 || !c.DisableBasic || c.BaseURL != "https://files.example.net" {
		t.Fatalf("decoded %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var again Config
	if err := json.Unmarshal(out, &again); err != nil || again.Timeout != c.Timeout || !again.From.Equal(c.From) {
		t.Fatalf("round trip %s: %+v %v", out, again, err)
	}
	for _, bad := range []string{`{"timeout":"soon"}`, `{"from":"@@"}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s accepted", bad)
		} else if strings.Contains(bad, "soon") && !strings.Contains(err.Error(), "timeout") {
			t.Errorf("error %v does not name the field", err)
		}
	}
}
