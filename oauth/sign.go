package oauth

import (
	"encoding/xml"

	"cmp"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- HMAC-SHA1 is the method XEP-0235 and RFC 5849 define.
	"crypto/subtle"
	"encoding/base64"
	"mellium.im/xmpp/jid"
	"slices"
)

const upperHex = "0123456789ABCDEF"

// unreservedSet marks the characters RFC 5849 §3.6 leaves as they are.
var unreservedSet = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~'
	}
	return t
}()

// unreserved reports whether c is left as it is by RFC 5849 §3.6.
func unreserved(c byte) bool { return unreservedSet[c] }

// appendPct appends s percent-encoded as RFC 5849 §3.6 specifies: every octet
// of the UTF-8 string except the unreserved characters becomes %XX with
// upper-case hex digits.
func appendPct(dst []byte, s string) []byte { return appendEscaped(dst, s, "%") }

// appendPct2 appends pct(pct(s)) without building pct(s): the output of pct
// is made of unreserved characters and "%XX", so encoding it again only turns
// each "%" into "%25".
func appendPct2(dst []byte, s string) []byte { return appendEscaped(dst, s, "%25") }

// appendEscaped appends s with every octet that is not unreserved written
// as esc and two upper-case hex digits. Runs of unreserved characters, the
// bulk of keys, nonces and addresses, are copied in one append each.
func appendEscaped(dst []byte, s, esc string) []byte {
	for {
		n := unreservedRun(s)
		dst = append(dst, s[:n]...)
		if n == len(s) {
			return dst
		}
		c := s[n]
		dst = append(append(dst, esc...), upperHex[c>>4], upperHex[c&15])
		s = s[n+1:]
	}
}

// unreservedRun returns the length of the longest prefix of s made of
// unreserved characters.
func unreservedRun(s string) int {
	for i := 0; i < len(s); i++ {
		if !unreservedSet[s[i]] {
			return i
		}
	}
	return len(s)
}

// PercentEncode encodes s as RFC 5849 §3.6 specifies.
func PercentEncode(s string) string {
	return string(appendPct(nil, s))
}

// param is one name/value pair of the normalized request parameters.
type param struct{ name, value string }

// sortParams sorts params as RFC 5849 §3.4.1.3.2 requires: by encoded name,
// then by encoded value, in ascending byte order.
func sortParams(params []param) {
	slices.SortFunc(params, func(a, b param) int {
		if c := cmp.Compare(PercentEncode(a.name), PercentEncode(b.name)); c != 0 {
			return c
		}
		return cmp.Compare(PercentEncode(a.value), PercentEncode(b.value))
	})
}

// appendBaseString appends the RFC 5849 §3.4.1.1 signature base string:
// pct(method) "&" pct(uri) "&" pct(normalized parameters). params must
// already be sorted (see sortParams).
func appendBaseString(dst []byte, method, uri string, params []param) []byte {
	dst = appendPct(dst, method)
	dst = append(dst, '&')
	dst = appendPct(dst, uri)
	dst = append(dst, '&')
	return appendNormalized(dst, params)
}

// appendNormalized appends pct(normalized parameters), where normalized
// parameters is pct(name) "=" pct(value) joined by "&".
func appendNormalized(dst []byte, params []param) []byte {
	for i, p := range params {
		if i > 0 {
			dst = append(dst, "%26"...)
		}
		dst = appendPct2(dst, p.name)
		dst = append(dst, "%3D"...)
		dst = appendPct2(dst, p.value)
	}
	return dst
}

// Stanza is what a signature covers besides the OAuth parameters: the stanza's
// name (iq, message or presence) and its from and to addresses in canonical
// string form ("" when absent).
type Stanza struct {
	Name string
	From string
	To   string
}

// StanzaOf returns the Stanza for a stanza's start element: its local name and
// its from and to attributes in canonical form (parsed with mellium's jid
// package). It fails on a malformed address.
func StanzaOf(start xml.StartElement) (Stanza, error) {
	s := Stanza{Name: start.Name.Local}
	for _, a := range start.Attr {
		if a.Name.Space != "" || a.Name.Local != "from" && a.Name.Local != "to" {
			continue
		}
		j, err := jid.Parse(a.Value)
		if err != nil {
			return Stanza{}, err
		}
		if a.Name.Local == "from" {
			s.From = jidString(j)
		} else {
			s.To = jidString(j)
		}
	}
	return s, nil
}

// AppendBaseString appends the signature base string of XEP-0235 §4 for the
// stanza s and the parameters p (oauth_signature is left out; empty
// parameters are absent):
//
//	pct(name) "&" pct(from "&" to) "&" pct(normalized parameters)
func AppendBaseString(dst []byte, s Stanza, p *Params) []byte {
	dst = appendPct(dst, s.Name)
	dst = append(dst, '&')
	dst = appendPct(dst, s.From)
	dst = append(dst, "%26"...)
	dst = appendPct(dst, s.To)
	dst = append(dst, '&')
	// appendNormalized, specialised: the parameter names are fixed, in
	// sorted order and made of unreserved characters (so they are their own
	// encoding), and duplicates are rejected by the parser, so there is
	// nothing to sort or to encode but the values.
	first := true
	for _, kv := range [...]param{
		{paramConsumerKey, p.ConsumerKey},
		{paramNonce, p.Nonce},
		{paramSignatureMethod, p.SignatureMethod},
		{paramTimestamp, p.Timestamp},
		{paramToken, p.Token},
		{paramVersion, p.Version},
	} {
		if kv.value == "" {
			continue
		}
		if !first {
			dst = append(dst, "%26"...)
		}
		first = false
		dst = append(dst, kv.name...)
		dst = append(dst, "%3D"...)
		dst = appendPct2(dst, kv.value)
	}
	return dst
}

// BaseString returns the signature base string (see AppendBaseString).
func BaseString(s Stanza, p *Params) string {
	return string(AppendBaseString(nil, s, p))
}

// appendKey appends the signing key of RFC 5849 §3.4.2:
// pct(consumer secret) "&" pct(token secret).
func appendKey(dst []byte, consumerSecret, tokenSecret string) []byte {
	dst = appendPct(dst, consumerSecret)
	dst = append(dst, '&')
	return appendPct(dst, tokenSecret)
}

// sumHMACSHA1 returns HMAC-SHA1(key, text).
func sumHMACSHA1(key, text []byte) [sha1.Size]byte {
	m := hmac.New(sha1.New, key)
	m.Write(text)
	var out [sha1.Size]byte
	m.Sum(out[:0])
	return out
}

// checkRSASHA1 verifies an RSASSA-PKCS1-v1_5 signature with SHA-1 over base
// (RFC 5849 §3.4.3). Keys shorter than Go's minimum (1024 bits) never verify.
func checkRSASHA1(pub *rsa.PublicKey, sig string, base []byte) bool {
	if base64.StdEncoding.DecodedLen(len(sig)) > 1024 {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != sig {
		// Only the canonical encoding: no line feeds, no stray low bits.
		return false
	}
	h := sha1.Sum(base) // #nosec G401 -- RSA-SHA1 is the method RFC 5849 defines.
	return rsa.VerifyPKCS1v15(pub, crypto.SHA1, h[:], raw) == nil
}

// signRSASHA1 signs base with RSASSA-PKCS1-v1_5 and SHA-1.
func signRSASHA1(key *rsa.PrivateKey, base []byte) (string, error) {
	h := sha1.Sum(base) // #nosec G401 -- RSA-SHA1 is the method RFC 5849 defines.
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA1, h[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// signatureFor computes the signature value for method over base.
func signatureFor(method string, key, base []byte) (string, error) {
	switch method {
	case HMACSHA1:
		sum := sumHMACSHA1(key, base)
		return base64.StdEncoding.EncodeToString(sum[:]), nil
	case Plaintext:
		return string(key), nil
	}
	return "", ErrUnsupportedSignatureMethod
}

// hmacSHA1Base64Len is the length of a base64 HMAC-SHA1 value.
const hmacSHA1Base64Len = (sha1.Size + 2) / 3 * 4

// checkSignature reports whether sig is the signature of base with key.
// Both comparisons run in constant time with respect to the secret values.
// An HMAC-SHA1 signature must be the canonical base64 of the MAC: the text
// is compared, not what it decodes to, because Go's decoder (like most)
// skips line feeds and ignores the unused low bits of the last character,
// which would let one signature be written many ways.
func checkSignature(method, sig string, key, base []byte) bool {
	switch method {
	case HMACSHA1:
		sum := sumHMACSHA1(key, base)
		var want [hmacSHA1Base64Len]byte
		base64.StdEncoding.Encode(want[:], sum[:])
		return subtle.ConstantTimeCompare([]byte(sig), want[:]) == 1
	case Plaintext:
		return subtle.ConstantTimeCompare([]byte(sig), key) == 1
	}
	return false
}
