package oauth

import (
	"context"
	"crypto/rsa"
	"encoding/xml"
	"errors"
	"github.com/xmppauth/xmppauth/config"
	"sync"
	"time"
)

// Grant says who was authorised by a verified <oauth/> element.
type Grant struct {
	// ConsumerKey is the verified consumer.
	ConsumerKey string
	// Token is the verified access token.
	Token string
	// Scopes is what the TokenStore says the token grants.
	Scopes []string
	// Expires is when the token expires (zero: never).
	Expires time.Time
}

// Verifier checks <oauth/> elements. It is safe for concurrent use; create it
// with New. One Verifier (and its stores) is shared by all streams; use
// ForStream to tell it whether a given stream is encrypted.
type Verifier struct {
	consumers      ConsumerStore
	tokens         TokenStore
	nonces         NonceStore
	clock          config.Clock
	observeFn      func(Event)
	window         time.Duration
	allowPlaintext bool
	maxStanza      int
	require        func(stanza xml.StartElement, payload xml.Name) bool
	rsaKeys        RSAKeyStore
	storeTimeout   time.Duration
	encrypted      bool
}

// ForStream returns a Verifier that shares v's configuration and stores and
// knows whether the stream it is used on is encrypted (TLS). PLAINTEXT
// signatures are accepted only when Config.AllowPlaintext is set and the
// stream is encrypted.
func (v *Verifier) ForStream(encrypted bool) *Verifier {
	c := *v
	c.encrypted = encrypted
	return &c
}

// Verify checks the parameters p of an <oauth/> element found in the stanza s
// (whose From must be the sender's address as the host stamped it; StanzaOf
// builds s from a start element) and returns the Grant on success. The checks run in this order, the first
// failure being returned: required parameters (ErrMissingParameter,
// ErrTokenRequired), oauth_version (ErrUnsupportedParameter), the signature
// method (ErrUnsupportedSignatureMethod), the timestamp's syntax
// (ErrTimestampRefused), the consumer key (ErrInvalidConsumerKey), the token
// (ErrInvalidToken, ErrTokenExpired), the timestamp window
// (ErrTimestampRefused), the signature (ErrInvalidSignature) and last the
// nonce (ErrNonceReplayed, ErrNonceStoreFull), so that only requests with a
// valid signature are remembered.
func (v *Verifier) Verify(ctx context.Context, s Stanza, p Params) (Grant, error) {
	for _, req := range [...]struct{ name, value string }{
		{paramConsumerKey, p.ConsumerKey},
		{paramNonce, p.Nonce},
		{paramSignature, p.Signature},
		{paramSignatureMethod, p.SignatureMethod},
		{paramTimestamp, p.Timestamp},
	} {
		if req.value == "" {
			return Grant{}, paramError{ErrMissingParameter, req.name}
		}
	}
	if p.Token == "" {
		return Grant{}, ErrTokenRequired
	}
	if p.Version != "" && p.Version != Version {
		return Grant{}, paramError{ErrUnsupportedParameter, paramVersion}
	}
	switch p.SignatureMethod {
	case HMACSHA1:
	case Plaintext:
		if !v.allowPlaintext || !v.encrypted {
			return Grant{}, ErrUnsupportedSignatureMethod
		}
	case RSASHA1:
		if v.rsaKeys == nil {
			return Grant{}, ErrUnsupportedSignatureMethod
		}
	default:
		return Grant{}, ErrUnsupportedSignatureMethod
	}
	ts, ok := parseTimestamp(p.Timestamp)
	if !ok {
		return Grant{}, ErrTimestampRefused
	}

	var (
		consumerSecret string
		publicKey      *rsa.PublicKey
		err            error
	)
	if p.SignatureMethod == RSASHA1 {
		publicKey, err = v.rsaKeys.ConsumerPublicKey(ctx, p.ConsumerKey)
		if err == nil && publicKey == nil {
			err = ErrUnknownConsumer
		}
	} else {
		consumerSecret, err = v.consumers.ConsumerSecret(ctx, p.ConsumerKey)
	}
	if err != nil {
		if errors.Is(err, ErrUnknownConsumer) {
			return Grant{}, ErrInvalidConsumerKey
		}
		return Grant{}, storeError{err}
	}
	tok, err := v.tokens.LookupToken(ctx, p.Token)
	if err != nil {
		if errors.Is(err, ErrUnknownToken) {
			return Grant{}, ErrInvalidToken
		}
		return Grant{}, storeError{err}
	}
	if tok.ConsumerKey != p.ConsumerKey {
		return Grant{}, ErrInvalidToken
	}
	now := v.clock.Now()
	if !tok.Expires.IsZero() && !now.Before(tok.Expires) {
		return Grant{}, ErrTokenExpired
	}
	stamp := time.Unix(ts, 0)
	if d := now.Sub(stamp); d > v.window || d < -v.window {
		return Grant{}, ErrTimestampRefused
	}

	sc := scratchPool.Get().(*scratch)
	sc.base = AppendBaseString(sc.base[:0], s, &p)
	var valid bool
	if publicKey != nil {
		valid = checkRSASHA1(publicKey, p.Signature, sc.base)
	} else {
		sc.key = appendKey(sc.key[:0], consumerSecret, tok.Secret)
		valid = checkSignature(p.SignatureMethod, p.Signature, sc.key, sc.base)
	}
	clear(sc.key) // the key is secret-derived; do not leave it in the pool
	sc.key = sc.key[:0]
	if cap(sc.key) <= maxPooled && cap(sc.base) <= maxPooled {
		scratchPool.Put(sc)
	}
	if !valid {
		return Grant{}, ErrInvalidSignature
	}

	err = v.nonces.UseNonce(ctx, Nonce{
		ConsumerKey: p.ConsumerKey,
		Token:       p.Token,
		Value:       p.Nonce,
		Now:         now,
		Expires:     stamp.Add(v.window),
	})
	if err != nil {
		if errors.Is(err, ErrNonceReplayed) || errors.Is(err, ErrNonceStoreFull) {
			return Grant{}, err
		}
		return Grant{}, storeError{err}
	}
	return Grant{
		ConsumerKey: p.ConsumerKey,
		Token:       p.Token,
		Scopes:      tok.Scopes,
		Expires:     tok.Expires,
	}, nil
}

// scratch holds the buffers of one verification; pooled because the HMAC
// interface makes them escape.
type scratch struct{ key, base []byte }

// maxPooled keeps buffers grown by unusually long values out of the pool.
const maxPooled = 4096

var scratchPool = sync.Pool{New: func() any {
	return &scratch{key: make([]byte, 0, 128), base: make([]byte, 0, 512)}
}}

// maxTimestampDigits keeps timestamps within what time.Unix handles.
const maxTimestampDigits = 12

// parseTimestamp parses a positive decimal number of seconds since the epoch
// (RFC 5849 §3.3): digits only, no sign, no spaces.
func parseTimestamp(s string) (int64, bool) {
	if len(s) == 0 || len(s) > maxTimestampDigits {
		return 0, false
	}
	// At most 12 digits: the value cannot overflow.
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
