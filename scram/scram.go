// Package scram implements the server side of the Salted Challenge Response
// Authentication Mechanism (SCRAM, RFC 5802) for the hashes SHA-1 (RFC 5802),
// SHA-256 (RFC 7677) and SHA-512, each with its -PLUS channel-binding variant,
// plus the optional "h" attribute of XEP-0474: SASL SCRAM Downgrade Protection.
//
// The package is transport-neutral: a Server (one per mechanism, shared by all
// connections) starts an Exchange per authentication attempt; the Exchange
// consumes client messages that the caller has already base64-decoded from
// the SASL profile (RFC 6120 §6, XEP-0388) and returns the server messages to
// send. The caller describes the connection with a ChannelBinding (whether it
// advertised -PLUS, the type a pseudomechanism fixed, and the binding data,
// usually from package cbind) and maps the sentinel errors to its protocol
// with ServerError (the RFC 5802 "e=" value) and Condition (the RFC 6120 §6.5
// failure condition).
//
// The Store is given per exchange (StartWith) or once (Config.Store): a host
// that serves several domains hands each exchange the view of its account
// database for the domain the client connected to.
//
// Credentials are stored as RFC 5802 salt, iteration count, StoredKey and
// ServerKey per hash: never the password or SaltedPassword. Unknown users
// receive a fake salt derived from a server secret, of the configured length
// (Config.FakeSaltLen), and the configured iteration count
// (Config.FakeIterations) — set both to what the real credentials use — and
// fail at the proof exactly like a wrong password; the server derives the fake credential for every attempt, known
// user or not, so its own work does not depend on whether the user exists
// (the Store's lookup time is the Store's business).
//
// Left out: the client side; the GSS-API form of SCRAM (RFC 5802 §8) and its
// non-standard "F" GS2 flag; security layers (SCRAM has none); mandatory
// extensions ("m=", always rejected as RFC 5802 requires); the "unknown-user"
// error value (never sent, to prevent enumeration); SASLprep or PRECIS
// normalisation of user names (the name is handed to the Store exactly as
// the client sent it, after saslname decoding: normalise in the Store); the
// extraction of channel-binding data from TLS (package cbind); and the
// computation of the XEP-0474 input string, which the caller supplies
// because only it knows what it advertised.
package scram

import (
	"crypto"
	_ "crypto/sha1" // register crypto.SHA1 for Mechanism.Hash().New
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Mechanism is one SCRAM SASL mechanism: a hash and whether it is the
// channel-binding (-PLUS) variant. The zero Mechanism is invalid.
type Mechanism struct {
	name string
	hash crypto.Hash
	plus bool
}

// The SCRAM mechanisms this package implements.
var (
	SHA1       = Mechanism{name: "SCRAM-SHA-1", hash: crypto.SHA1}
	SHA1Plus   = Mechanism{name: "SCRAM-SHA-1-PLUS", hash: crypto.SHA1, plus: true}
	SHA256     = Mechanism{name: "SCRAM-SHA-256", hash: crypto.SHA256}
	SHA256Plus = Mechanism{name: "SCRAM-SHA-256-PLUS", hash: crypto.SHA256, plus: true}
	SHA512     = Mechanism{name: "SCRAM-SHA-512", hash: crypto.SHA512}
	SHA512Plus = Mechanism{name: "SCRAM-SHA-512-PLUS", hash: crypto.SHA512, plus: true}
)

// Name returns the SASL mechanism name, for example "SCRAM-SHA-256-PLUS".
func (m Mechanism) Name() string { return m.name }

// Plus reports whether m is a -PLUS (channel-binding) mechanism.
func (m Mechanism) Plus() bool { return m.plus }

// Hash returns the hash function of m: crypto.SHA1, crypto.SHA256 or
// crypto.SHA512 (0 for the zero Mechanism).
func (m Mechanism) Hash() crypto.Hash { return m.hash }

// String returns the mechanism name.
func (m Mechanism) String() string { return m.name }

func (m Mechanism) valid() bool {
	for _, k := range mechanisms {
		if k == m {
			return true
		}
	}
	return false
}

// mechanisms is ordered by hash strength, the -PLUS variant first.
var mechanisms = [...]Mechanism{SHA512Plus, SHA512, SHA256Plus, SHA256, SHA1Plus, SHA1}

// Mechanisms returns every mechanism of the package, strongest hash first and
// within one hash the -PLUS variant first: SCRAM-SHA-512-PLUS, SCRAM-SHA-512,
// SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1.
func Mechanisms() []Mechanism {
	m := mechanisms
	return m[:]
}

// MechanismByName returns the mechanism with the exact (case-sensitive) SASL
// name. Channel-binding pseudomechanism names such as
// "SCRAM-SHA-256-PLUS:tls-exporter" are not accepted; parse them with package
// cbind first.
func MechanismByName(name string) (Mechanism, bool) {
	for _, m := range mechanisms {
		if m.name == name {
			return m, true
		}
	}
	return Mechanism{}, false
}
