package features_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/features"
)

func TestConfigJSON(t *testing.T) {
	in := `{"mechanisms":["SCRAM-SHA-256-PLUS","SCRAM-SHA-256"],"channel_binding_types":["tls-exporter"],` +
		`"disable_pseudomechanisms":true,"disable_xep0474":true,"max_attempts":2,"step_timeout":"1m30s"}`
	var c features.Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.StepTimeout != 90*time.Second || c.MaxAttempts != 2 || !c.DisablePseudomechanisms ||
		!c.DisableDowngradeProtection || len(c.Mechanisms) != 2 || c.ChannelBindingTypes[0] != cbind.TLSExporter {
		t.Fatalf("decoded %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var again features.Config
	if err := json.Unmarshal(out, &again); err != nil || again.StepTimeout != c.StepTimeout || again.MaxAttempts != 2 {
		t.Fatalf("round trip %s → %+v, %v", out, again, err)
	}
	if err := json.Unmarshal([]byte(`{"step_timeout":"soon"}`), &c); err == nil {
		t.Fatal("accepted a bad duration")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg   features.Config
		field string // "" = valid
	}{
		{features.Config{Store: testStore(t)}, ""},
		{features.Config{Mechanisms: []string{"EXTERNAL"}}, ""},
		{features.Config{}, "Store"},
		{features.Config{Store: testStore(t), Mechanisms: []string{"CRAM-MD5"}}, "Mechanisms"},
		{features.Config{Store: testStore(t), ChannelBindingTypes: []cbind.Type{"tls-unique-for-telnet"}}, "ChannelBindingTypes"},
		{features.Config{Store: testStore(t), MaxAttempts: 9}, "MaxAttempts"},
		{features.Config{Store: testStore(t), StepTimeout: -time.Second}, "StepTimeout"},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("error %v does not name %s", err, tc.field)
		}
	}
}
