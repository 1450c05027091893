package oauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"github.com/xmppauth/xmppauth/config"
	"io"
	"strconv"
)

// Credentials are what a Consumer holds to sign requests.
type Credentials struct {
	ConsumerKey    string
	ConsumerSecret string
	Token          string
	TokenSecret    string
	// RSAKey is the consumer's private key, used instead of ConsumerSecret
	// and TokenSecret by the RSA-SHA1 method.
	RSAKey *rsa.PrivateKey
}

// Signer signs outgoing stanzas for a client or a component. The zero value
// of every field but Credentials is usable.
type Signer struct {
	Credentials Credentials
	// Method is HMACSHA1 (the default when empty), RSASHA1 or Plaintext.
	Method string
	// From is the address signed when the stanza has no from: for a
	// client-to-server stream, the client's bound full JID, which the server
	// will stamp on the stanza. A component or server puts an explicit from
	// on the stanza and leaves this empty.
	From string
	// Clock tells the time; nil is the system clock.
	Clock config.Clock
	// Rand is the source of nonces; nil uses crypto/rand.
	Rand io.Reader
}

// nonceBytes is the entropy of a nonce (encoded as twice as many hex digits).
const nonceBytes = 16

// Sign returns the <oauth/> element for the stanza s, with a fresh nonce, the
// current timestamp and oauth_version 1.0. When s.From is empty, the Signer's
// From is signed instead (see Signer.From). Put the element in the stanza as a
// child of the stanza or of its payload: p.TokenReader().
func (sg *Signer) Sign(s Stanza) (Params, error) {
	if s.From == "" {
		s.From = sg.From
	}
	method := sg.Method
	if method == "" {
		method = HMACSHA1
	}
	switch method {
	case HMACSHA1, Plaintext:
	case RSASHA1:
		if sg.Credentials.RSAKey == nil {
			return Params{}, errors.New("oauth: RSA-SHA1 needs Credentials.RSAKey")
		}
	default:
		return Params{}, ErrUnsupportedSignatureMethod
	}
	rnd := sg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	var nonce [nonceBytes]byte
	if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
		return Params{}, err
	}
	now := config.ClockOr(sg.Clock).Now
	p := Params{
		ConsumerKey:     sg.Credentials.ConsumerKey,
		Nonce:           hex.EncodeToString(nonce[:]),
		SignatureMethod: method,
		Timestamp:       strconv.FormatInt(now().Unix(), 10),
		Token:           sg.Credentials.Token,
		Version:         Version,
	}
	var (
		sig string
		err error
	)
	if method == RSASHA1 {
		sig, err = signRSASHA1(sg.Credentials.RSAKey, AppendBaseString(nil, s, &p))
	} else {
		sig, err = Signature(s, p, sg.Credentials.ConsumerSecret, sg.Credentials.TokenSecret)
	}
	if err != nil {
		return Params{}, err
	}
	p.Signature = sig
	return p, nil
}

// Signature computes the HMAC-SHA1 or PLAINTEXT oauth_signature value of p
// (according to p.SignatureMethod) for the stanza s with the given secrets
// (p.Signature is ignored). It is the building block of Sign,
// exported for tests and for hosts that choose their own nonces.
func Signature(s Stanza, p Params, consumerSecret, tokenSecret string) (string, error) {
	key := appendKey(nil, consumerSecret, tokenSecret)
	return signatureFor(p.SignatureMethod, key, AppendBaseString(nil, s, &p))
}
