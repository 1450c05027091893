package features_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
)

func TestConfigJSON(t *testing.T) {
	in := `{"mechanisms":["SCRAM-SHA-256-PLUS","SCRAM-SHA-256"],"channel_binding_types":["tls-exporter"],` +
		`"disable_pseudomechanisms":true,"disable_xep0474":true,"max_attempts":2,"step_timeout":"1m30s"}`
	var c features.Config
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.StepTimeout.D() != 90*time.Second || c.MaxAttempts != 2 || !c.DisablePseudomechanisms ||
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
	var f features.Config
	if err := json.Unmarshal([]byte(`{"disable_bind2":true,"disable_upgrade_tasks":true,"fast_token_lifetime":"48h","fast_rotate_after":"6h"}`), &f); err != nil {
		t.Fatal(err)
	}
	if !f.DisableBind2 || !f.DisableUpgradeTasks || f.FASTTokenLifetime.D() != 48*time.Hour || f.FASTRotateAfter.D() != 6*time.Hour || f.DisableSASL2 || f.DisableFAST {
		t.Fatalf("decoded %+v", f)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg   features.Config
		field string // "" = valid
	}{
		{features.Config{}, ""},
		{features.Config{Mechanisms: []string{"EXTERNAL"}}, ""},
		{features.Config{Domains: []string{"Example.COM."}}, ""},
		{features.Config{Mechanisms: []string{"SCRAM-SHA-1", "CRAM-MD5"}}, `mechanisms[1]: unknown mechanism "CRAM-MD5"`},
		{features.Config{ChannelBindingTypes: []cbind.Type{"tls-unique-for-telnet"}}, "channel_binding_types[0]: "},
		{features.Config{MaxAttempts: 9}, "max_attempts: 9 is not in 0..5"},
		{features.Config{StepTimeout: config.Duration(-time.Second)}, "step_timeout: -1s is negative"},
		{features.Config{Domains: []string{"a.example", "alice@b.example"}}, "domains[1]: "},
		{features.Config{Iterations: 1000}, "iterations: 1000 is below 4096"},
		{features.Config{SaltLen: 99}, "salt_len: 99 is not in 0..32"},
		{features.Config{Mechanisms: []string{"HT-SHA-256-EXPR", "HT-SHA-256-NONE"}}, ""},
		{features.Config{Mechanisms: []string{"HT-SHA-512-EXPR"}}, `mechanisms[0]: unknown mechanism "HT-SHA-512-EXPR"`},
		{features.Config{FASTTokenLifetime: config.Duration(-time.Hour)}, "fast_token_lifetime: -1h0m0s is negative"},
		{features.Config{FASTTokenLifetime: config.Duration(time.Hour), FASTRotateAfter: config.Duration(2 * time.Hour)}, "fast_rotate_after: 2h0m0s is not below fast_token_lifetime 1h0m0s"},
		{features.Config{Bind2Features: []string{"urn:xmpp:carbons:2", ""}}, "bind2_features[1]: "},
	}
	for _, tc := range tests {
		err := tc.cfg.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field)):
			t.Errorf("error %v does not start with %q", err, tc.field)
		}
	}
}

// New checks the run-time dependencies that Validate leaves out.
func TestNewRequires(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  features.Config
		want string
	}{
		{"no domain", features.Config{Store: testStore(t)}, "domains: at least one served domain is required"},
		{"no store", features.Config{Domains: []string{"localhost"}}, "Store is required"},
		{"invalid", features.Config{Domains: []string{"localhost"}, Store: testStore(t), MaxAttempts: -1}, "max_attempts: -1"},
	} {
		_, err := features.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := features.New(features.Config{Domains: []string{"localhost"}, Mechanisms: []string{"EXTERNAL"}}); err != nil {
		t.Errorf("EXTERNAL alone needs no store: %v", err)
	}
}

func TestServerMechanisms(t *testing.T) {
	srv, err := features.New(features.Config{Domains: []string{"localhost"}, Store: testStore(t),
		Mechanisms: []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}, ChannelBindingTypes: []cbind.Type{cbind.TLSExporter}})
	if err != nil {
		t.Fatal(err)
	}
	mechs, types := srv.Mechanisms()
	if strings.Join(mechs, " ") != "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN" || len(types) != 1 || types[0] != cbind.TLSExporter {
		t.Errorf("Mechanisms() = %v, %v", mechs, types)
	}
	all, _ := features.New(features.Config{Domains: []string{"localhost"}, Store: testStore(t), DisablePLAIN: true})
	mechs, types = all.Mechanisms()
	if len(mechs) != 7 || mechs[0] != "EXTERNAL" || len(types) != 3 {
		t.Errorf("default Mechanisms() = %v, %v", mechs, types)
	}
}
