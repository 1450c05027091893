package oauth

import (
	"encoding/xml"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

// Defaults used for zero Config fields.
const (
	// DefaultWindow is how far oauth_timestamp may be from the verifier's
	// clock, in either direction.
	DefaultWindow = 5 * time.Minute
	// DefaultMaxStanzaBytes bounds the stanza the middleware buffers to find
	// the <oauth/> element (counted as the bytes of names, attribute values
	// and text).
	DefaultMaxStanzaBytes = 256 << 10
)

// Duration is the module's JSON duration ("5m"), config.Duration.
type Duration = config.Duration

// Config configures a Verifier. The zero value is safe: it accepts only
// HMAC-SHA1 with a ±5 minute window and knows no consumers, so every request
// fails until stores are provided.
type Config struct {
	// Window is how far oauth_timestamp may differ from the clock (default
	// DefaultWindow).
	Window Duration `json:"window,omitempty"`
	// AllowPlaintext permits the PLAINTEXT signature method on streams that
	// the host reports as encrypted (Verifier.ForStream). Off by default.
	AllowPlaintext bool `json:"allow_plaintext,omitempty"`
	// MaxStanzaBytes bounds the stanza that the middleware buffers (default
	// DefaultMaxStanzaBytes).
	MaxStanzaBytes int `json:"max_stanza_bytes,omitempty"`
	// StoreTimeout bounds the store calls the middleware makes for one stanza
	// (zero: no bound). mellium handles a stream's stanzas one at a time, so a
	// hanging remote store would stall the stream.
	StoreTimeout Duration `json:"store_timeout,omitempty"`
	// MaxNonces is the capacity of the default in-memory nonce store (default
	// DefaultMaxNonces); ignored when Nonces is set.
	MaxNonces int `json:"max_nonces,omitempty"`

	// Consumers maps consumer keys to secrets; nil knows no consumer.
	Consumers ConsumerStore `json:"-"`
	// Tokens maps access tokens to their secrets and grants; nil knows no
	// token.
	Tokens TokenStore `json:"-"`
	// RSAKeys holds the consumers' RSA public keys; setting it enables the
	// RSA-SHA1 signature method (RFC 5849 §3.4.3), which is off otherwise.
	RSAKeys RSAKeyStore `json:"-"`
	// Nonces remembers used nonces; nil uses NewMemoryNonces(MaxNonces). Share
	// one store between all verifiers that accept the same credentials.
	Nonces NonceStore `json:"-"`
	// Clock tells the time; nil is the system clock.
	Clock config.Clock `json:"-"`
	// Observe, when set, is told of every stanza the middleware verified or
	// refused, for metrics (see Event).
	Observe func(Event) `json:"-"`
	// Require reports whether a stanza passed to a wrapped handler must carry
	// an <oauth/> element; payload is the child the mux routed on (for an IQ)
	// or the stanza's first child. nil requires it on every stanza that
	// reaches a wrapped handler. A stanza that carries an <oauth/> element is
	// always verified, whatever Require says.
	Require func(stanza xml.StartElement, payload xml.Name) bool `json:"-"`
}

// Validate reports a configuration error, naming the field.
func (c Config) Validate() error {
	switch {
	case c.Window < 0:
		return config.Errorf("window", "%v is negative", c.Window)
	case c.Window.D() > 24*time.Hour:
		return config.Errorf("window", "%v exceeds 24h", c.Window)
	case c.StoreTimeout < 0:
		return config.Errorf("store_timeout", "%v is negative", c.StoreTimeout)
	case c.MaxStanzaBytes < 0:
		return config.Errorf("max_stanza_bytes", "%d is negative", c.MaxStanzaBytes)
	case c.MaxNonces < 0:
		return config.Errorf("max_nonces", "%d is negative", c.MaxNonces)
	}
	return nil
}

// New returns a Verifier for c, which must be valid.
func New(c Config) (*Verifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		consumers:      c.Consumers,
		tokens:         c.Tokens,
		nonces:         c.Nonces,
		clock:          c.Clock,
		observeFn:      c.Observe,
		window:         time.Duration(c.Window),
		allowPlaintext: c.AllowPlaintext,
		maxStanza:      c.MaxStanzaBytes,
		require:        c.Require,
		rsaKeys:        c.RSAKeys,
		storeTimeout:   time.Duration(c.StoreTimeout),
	}
	if v.consumers == nil {
		v.consumers = MemoryConsumers(nil)
	}
	if v.tokens == nil {
		v.tokens = NewMemoryTokens()
	}
	if v.nonces == nil {
		v.nonces = NewMemoryNonces(c.MaxNonces)
	}
	v.clock = config.ClockOr(v.clock)
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if v.maxStanza == 0 {
		v.maxStanza = DefaultMaxStanzaBytes
	}
	return v, nil
}
