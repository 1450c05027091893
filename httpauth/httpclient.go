package httpauth

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"mellium.im/xmpp/jid"
)

// BasicAuthorization returns the Authorization header value an HTTP client
// sends for j and transaction identifier id: non-ASCII characters are
// percent-encoded (RFC 3986 §2.1) before Base64 (RFC 4648 §4), as XEP-0070
// §4.3.1 requires.
func BasicAuthorization(j jid.JID, id string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(pctEncodeNonASCII(j.String())+":"+pctEncodeNonASCII(id)))
}

// DigestAuthorization answers a Digest challenge (a WWW-Authenticate value)
// for j with transaction identifier id as the cnonce (XEP-0070 §4.3.2). The
// response is computed with the transaction identifier as password; servers
// following XEP-0070 cannot check it. nc is the nonce count (1 for a fresh
// nonce).
func DigestAuthorization(challenge string, j jid.JID, id, method, uri string, nc uint32) (string, error) {
	name, rest, _ := strings.Cut(strings.TrimSpace(challenge), " ")
	if !strings.EqualFold(name, "Digest") {
		return "", fmt.Errorf("%w: not a Digest challenge", ErrBadCredentials)
	}
	p, err := parseAuthParams(rest)
	if err != nil {
		return "", err
	}
	alg := p["algorithm"]
	if alg == "" {
		alg = "MD5"
	}
	user, cnonce := pctEncodeNonASCII(j.String()), pctEncodeNonASCII(id)
	ncs := fmt.Sprintf("%08x", nc)
	resp, err := digestResponse(alg, user, p["realm"], cnonce, method, uri, p["nonce"], ncs, cnonce, "auth")
	if err != nil {
		return "", err
	}
	s := "Digest username=" + quote(user) + ", realm=" + quote(p["realm"]) + ", nonce=" + quote(p["nonce"]) +
		", uri=" + quote(uri) + ", algorithm=" + alg + ", response=" + quote(resp) +
		", qop=auth, nc=" + ncs + ", cnonce=" + quote(cnonce)
	if o, ok := p["opaque"]; ok {
		s += ", opaque=" + quote(o)
	}
	return s, nil
}

// digestResponse computes the RFC 7616 §3.4.1 response
// H(H(user:realm:password):nonce:nc:cnonce:qop:H(method:uri)).
func digestResponse(alg, user, realm, password, method, uri, nonce, nc, cnonce, qop string) (string, error) {
	var newHash func() hash.Hash
	switch strings.ToUpper(alg) {
	case "MD5":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return "", fmt.Errorf("%w: unsupported algorithm", ErrBadCredentials)
	}
	h := func(s string) string {
		d := newHash()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	return h(h(user+":"+realm+":"+password) + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + h(method+":"+uri)), nil
}

// pctEncodeNonASCII percent-encodes the bytes of s outside US-ASCII, and
// '%' itself so that decoding is unambiguous.
func pctEncodeNonASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
