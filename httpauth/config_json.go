package httpauth

import (
	"bytes"
	"encoding/json"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/config"
)

// configJSON is Config's JSON form. The fields whose decoding can fail in
// a way encoding/json would not attribute to a key are read as raw JSON
// and decoded one by one, so that the error names the key.
type configJSON struct {
	*configAlias
	From          string          `json:"from,omitempty"`
	Timeout       json.RawMessage `json:"timeout,omitempty"`
	StoreTimeout  json.RawMessage `json:"store_timeout,omitempty"`
	ReuseWindow   json.RawMessage `json:"reuse_window,omitempty"`
	NonceLifetime json.RawMessage `json:"nonce_lifetime,omitempty"`
	JIDRate       json.RawMessage `json:"jid_rate,omitempty"`
	ClientRate    json.RawMessage `json:"client_rate,omitempty"`
}

type configAlias Config

// MarshalJSON encodes From as a JID string and the durations as duration
// strings ("2m0s").
func (c Config) MarshalJSON() ([]byte, error) {
	j := configJSON{configAlias: (*configAlias)(&c), From: c.From.String()}
	for _, f := range []struct {
		dst *json.RawMessage
		v   any
		set bool
	}{
		{&j.Timeout, c.Timeout, c.Timeout != 0},
		{&j.StoreTimeout, c.StoreTimeout, c.StoreTimeout != 0},
		{&j.ReuseWindow, c.ReuseWindow, c.ReuseWindow != 0},
		{&j.NonceLifetime, c.NonceLifetime, c.NonceLifetime != 0},
		{&j.JIDRate, c.JIDRate, c.JIDRate != RateLimit{}},
		{&j.ClientRate, c.ClientRate, c.ClientRate != RateLimit{}},
	} {
		if !f.set {
			continue
		}
		b, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		*f.dst = b
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes "from" as a JID and the durations as duration
// strings such as "2m". Unknown keys are refused, like the file they come
// from: a misspelt key must not silently drop a restriction. Errors name
// the key (see config.FieldError).
func (c *Config) UnmarshalJSON(b []byte) error {
	j := configJSON{configAlias: (*configAlias)(c)}
	if err := strictDecode(b, &j); err != nil {
		return err
	}
	if j.From != "" {
		from, err := jid.Parse(j.From)
		if err != nil {
			return config.Errorf("from", "%q is not a JID: %v", j.From, err)
		}
		c.From = from
	}
	for _, f := range []struct {
		key string
		raw json.RawMessage
		dst any
	}{
		{"timeout", j.Timeout, &c.Timeout},
		{"store_timeout", j.StoreTimeout, &c.StoreTimeout},
		{"reuse_window", j.ReuseWindow, &c.ReuseWindow},
		{"nonce_lifetime", j.NonceLifetime, &c.NonceLifetime},
		{"jid_rate", j.JIDRate, &c.JIDRate},
		{"client_rate", j.ClientRate, &c.ClientRate},
	} {
		if f.raw == nil {
			continue
		}
		if err := json.Unmarshal(f.raw, f.dst); err != nil {
			return config.In(f.key, err)
		}
	}
	return nil
}

type rateLimitAlias RateLimit

type rateLimitJSON struct {
	*rateLimitAlias
	Per json.RawMessage `json:"per,omitempty"`
}

// UnmarshalJSON decodes "per" as a duration string and refuses unknown
// keys; errors name the key.
func (l *RateLimit) UnmarshalJSON(b []byte) error {
	j := rateLimitJSON{rateLimitAlias: (*rateLimitAlias)(l)}
	if err := strictDecode(b, &j); err != nil {
		return err
	}
	if j.Per != nil {
		if err := json.Unmarshal(j.Per, &l.Per); err != nil {
			return config.In("per", err)
		}
	}
	return nil
}

func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
