package httpauth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"mellium.im/xmpp/jid"
)

// configJSON is Config's JSON form: the JID as a string and durations as Go
// duration strings ("2m").
type configJSON struct {
	*configAlias
	From          string `json:"from,omitempty"`
	Timeout       string `json:"timeout,omitempty"`
	ReuseWindow   string `json:"reuse_window,omitempty"`
	NonceLifetime string `json:"nonce_lifetime,omitempty"`
}

type configAlias Config

// MarshalJSON encodes From as a JID string and the durations as duration
// strings.
func (c Config) MarshalJSON() ([]byte, error) {
	j := configJSON{configAlias: (*configAlias)(&c), From: c.From.String()}
	for _, d := range []struct {
		dst *string
		v   time.Duration
	}{{&j.Timeout, c.Timeout}, {&j.ReuseWindow, c.ReuseWindow}, {&j.NonceLifetime, c.NonceLifetime}} {
		if d.v != 0 {
			*d.dst = d.v.String()
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes "from" as a JID and "timeout", "reuse_window" and
// "nonce_lifetime" as duration strings such as "2m".
func (c *Config) UnmarshalJSON(b []byte) error {
	j := configJSON{configAlias: (*configAlias)(c)}
	// Strict, like the file it comes from: a misspelt key must not
	// silently drop a restriction.
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("httpauth: %w", err)
	}
	if j.From != "" {
		from, err := jid.Parse(j.From)
		if err != nil {
			return fmt.Errorf("httpauth: from: %w", err)
		}
		c.From = from
	}
	for _, d := range []struct {
		name string
		src  string
		dst  *time.Duration
	}{{"timeout", j.Timeout, &c.Timeout}, {"reuse_window", j.ReuseWindow, &c.ReuseWindow}, {"nonce_lifetime", j.NonceLifetime, &c.NonceLifetime}} {
		if d.src == "" {
			continue
		}
		v, err := time.ParseDuration(d.src)
		if err != nil {
			return fmt.Errorf("httpauth: %s: %w", d.name, err)
		}
		*d.dst = v
	}
	return nil
}
