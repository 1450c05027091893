package httpauth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
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

// TestConfigJSONKeys reads every key, and names the key in errors.
func TestConfigJSONKeys(t *testing.T) {
	in := `{"from":"auth.example.net","base_url":"https://files.example.net","hosts":["files.example.net","files.example.net:8443"],` +
		`"timeout":"90s","store_timeout":"2s","timeout_status":504,"reuse_window":"1m","nonce_lifetime":"2m","disable_reuse":true,` +
		`"disable_basic":true,"disable_digest":false,` +
		`"jid_rate":{"prompts":3,"per":"1m","burst":2,"max_keys":50},"client_rate":{"disable":true}}`
	var c Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	want := RateLimit{Prompts: 3, Per: config.Duration(time.Minute), Burst: 2, MaxKeys: 50}
	if len(c.Hosts) != 2 || c.JIDRate != want || !c.ClientRate.Disable || !c.DisableReuse || c.TimeoutStatus != 504 || c.StoreTimeout.D() != 2*time.Second {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var again Config
	if err := json.Unmarshal(out, &again); err != nil || again.JIDRate != c.JIDRate || again.ClientRate != c.ClientRate || len(again.Hosts) != 2 {
		t.Fatalf("round trip %s: %+v %v", out, again, err)
	}
	for bad, key := range map[string]string{
		`{"timeout":"soon"}`:                 "timeout: ",
		`{"store_timeout":"soon"}`:           "store_timeout: ",
		`{"from":"@@"}`:                      "from: ",
		`{"jid_rate":{"per":"often"}}`:       "jid_rate.per: ",
		`{"client_rate":{"prompts":"many"}}`: "client_rate: ",
		`{"client_rate":{"burts":3}}`:        "burts",
		`{"hostz":["a"]}`:                    "hostz",
	} {
		err := json.Unmarshal([]byte(bad), &c)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want an error naming %q", bad, err, key)
		}
	}
}
