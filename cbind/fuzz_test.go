package cbind

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParsePseudomechanism(f *testing.F) {
	for _, s := range []string{
		"SCRAM-SHA-256-PLUS:tls-exporter",
		"SCRAM-SHA-1-PLUS:tls-unique",
		"SCRAM-SHA-512-PLUS:tls-server-end-point",
		"SCRAM-SHA-1:tls-unique",
		"scram-sha-256-plus:tls-exporter",
		"SCRAM-SHA-256-PLUS::tls-exporter",
		"SCRAM-SHA-256-PLUS:",
		":tls-exporter",
		"SCRAM-PLUS:tls-unique",
		"SCRAM-SHA-256-PLUS:tls-exportér",
		strings.Repeat("A", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		mech, typ, err := ParsePseudomechanism(name)
		if err != nil {
			if !errors.Is(err, ErrInvalidPseudomechanism) {
				t.Fatalf("error %v does not wrap ErrInvalidPseudomechanism", err)
			}
			if mech != "" || typ != "" {
				t.Fatalf("error with results %q %q", mech, typ)
			}
			return
		}
		if len(name) > MaxPseudomechanismLen || !utf8.ValidString(name) {
			t.Fatalf("accepted %q", name)
		}
		if Pseudomechanism(mech, typ) != name {
			t.Fatalf("round trip of %q gave %q", name, Pseudomechanism(mech, typ))
		}
		if _, err := ParseType(string(typ)); err != nil {
			t.Fatalf("accepted unknown type %q", typ)
		}
		if !strings.HasPrefix(mech, "SCRAM-") || !strings.HasSuffix(mech, "-PLUS") || len(mech) > 20 ||
			strings.ToUpper(mech) != mech || strings.ContainsAny(mech, " :\t") {
			t.Fatalf("accepted mechanism %q", mech)
		}
	})
}

func FuzzCapabilityUnmarshal(f *testing.F) {
	for _, s := range []string{
		xep0440Example,
		xep0440Marshaled,
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'/>`,
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-unique'/><x><y/></x></sasl-channel-binding>`,
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='bogus'/>`,
		`<sasl-channel-binding xmlns='urn:other'/>`,
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>` + strings.Repeat(`<channel-binding type='tls-exporter'/>`, 20) + `</sasl-channel-binding>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Capability
		if err := xml.Unmarshal(data, &c); err != nil {
			return
		}
		if len(c.Types) > 3 {
			t.Fatalf("too many types: %v", c.Types)
		}
		seen := map[Type]bool{}
		for _, typ := range c.Types {
			if _, err := ParseType(string(typ)); err != nil || seen[typ] {
				t.Fatalf("bad or duplicate type %q in %v", typ, c.Types)
			}
			seen[typ] = true
		}
		out, err := xml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var again Capability
		if err := xml.Unmarshal(out, &again); err != nil {
			t.Fatalf("re-unmarshal %s: %v", out, err)
		}
		if len(again.Types) != len(c.Types) {
			t.Fatalf("round trip changed %v to %v", c.Types, again.Types)
		}
		for i := range c.Types {
			if c.Types[i] != again.Types[i] {
				t.Fatalf("round trip changed %v to %v", c.Types, again.Types)
			}
		}
	})
}
