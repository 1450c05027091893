package httpauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"
)

// Realm is the realm XEP-0070 requires in challenges and credentials.
const Realm = "xmpp"

const maxAuthParams = 16

type scheme uint8

const (
	schemeBasic scheme = iota + 1
	schemeDigest
)

// digestAlg is a Digest algorithm this package accepts.
type digestAlg struct {
	name   string
	hexLen int
}

var digestAlgs = []digestAlg{{"SHA-256", 64}, {"MD5", 32}}

// credentials are the parsed contents of an Authorization header.
type credentials struct {
	scheme scheme
	jid    jid.JID
	id     string // transaction identifier

	// Digest only.
	realm, nonce, uri, qop, response, opaque string
	alg                                      digestAlg
	nc                                       uint32
}

// parseAuthorization parses an Authorization header value for the "xmpp"
// realm profile of XEP-0070. It never contacts anything and bounds all work
// by MaxHeaderLen.
func parseAuthorization(h string) (credentials, error) {
	if len(h) > MaxHeaderLen {
		return credentials{}, fmt.Errorf("%w: header too long", ErrBadCredentials)
	}
	name, rest, _ := strings.Cut(strings.TrimLeft(h, " \t"), " ")
	switch {
	case strings.EqualFold(name, "Basic"):
		return parseBasic(strings.Trim(rest, " \t"))
	case strings.EqualFold(name, "Digest"):
		return parseDigest(rest)
	case name == "":
		return credentials{}, ErrNoCredentials
	}
	return credentials{}, fmt.Errorf("%w: unsupported scheme", ErrBadCredentials)
}

func parseBasic(b64 string) (credentials, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return credentials{}, fmt.Errorf("%w: bad base64", ErrBadCredentials)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return credentials{}, fmt.Errorf("%w: no colon in basic credentials", ErrBadCredentials)
	}
	j, err := parseUserJID(user)
	if err != nil {
		return credentials{}, err
	}
	id, err := parseTransactionID(pass)
	if err != nil {
		return credentials{}, err
	}
	return credentials{scheme: schemeBasic, jid: j, id: id}, nil
}

// percentDecode undoes RFC 3986 §2.1 percent-encoding and requires the result
// to be printable UTF-8 no longer than max bytes.
func percentDecode(s string, max int) (string, error) {
	if len(s) > 3*max {
		return "", fmt.Errorf("%w: value too long", ErrBadCredentials)
	}
	if strings.IndexByte(s, '%') >= 0 {
		var err error
		s, err = url.PathUnescape(s)
		if err != nil {
			return "", fmt.Errorf("%w: bad percent-encoding", ErrBadCredentials)
		}
	}
	if len(s) == 0 || len(s) > max || !validText(s) {
		return "", fmt.Errorf("%w: empty, too long or not printable UTF-8", ErrBadCredentials)
	}
	return s, nil
}

// parseUserJID and parseTransactionID copy what they return, so that
// nothing kept for later (pending transactions, grants) keeps the whole
// header it was cut from alive.
func parseUserJID(s string) (jid.JID, error) {
	s, err := percentDecode(s, MaxJIDLen)
	if err != nil {
		return jid.JID{}, err
	}
	j, err := jid.Parse(strings.Clone(s))
	if err != nil || j.Localpart() == "" {
		return jid.JID{}, fmt.Errorf("%w: not a user JID", ErrBadCredentials)
	}
	return j, nil
}

func parseTransactionID(s string) (string, error) {
	s, err := percentDecode(s, MaxTransactionIDLen)
	return strings.Clone(s), err
}

// parseAuthParams parses a comma-separated RFC 9110 auth-param list.
// Parameter names are lowercased; duplicates are an error.
func parseAuthParams(s string) (map[string]string, error) {
	params := make(map[string]string, 10)
	i := 0
	skipOWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',') {
			i++
		}
		if i >= len(s) {
			return params, nil
		}
		start := i
		for i < len(s) && isTchar(s[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("%w: bad parameter name", ErrBadCredentials)
		}
		name := strings.ToLower(s[start:i])
		skipOWS()
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%w: missing '='", ErrBadCredentials)
		}
		i++
		skipOWS()
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' {
					if i >= len(s) {
						break
					}
					c = s[i]
					i++
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted string", ErrBadCredentials)
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && isTchar(s[i]) {
				i++
			}
			if i == start {
				return nil, fmt.Errorf("%w: empty parameter value", ErrBadCredentials)
			}
			val = s[start:i]
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("%w: duplicate parameter", ErrBadCredentials)
		}
		if len(params) >= maxAuthParams {
			return nil, fmt.Errorf("%w: too many parameters", ErrBadCredentials)
		}
		params[name] = val
		skipOWS()
		if i < len(s) && s[i] != ',' {
			return nil, fmt.Errorf("%w: expected ','", ErrBadCredentials)
		}
	}
}

func isTchar(c byte) bool {
	return c < 0x80 && isToken(string(rune(c)))
}

func parseDigest(s string) (credentials, error) {
	p, err := parseAuthParams(s)
	if err != nil {
		return credentials{}, err
	}
	c := credentials{scheme: schemeDigest}
	user, hasUser := p["username"]
	if ext, ok := p["username*"]; ok {
		// RFC 8187 ext-value: UTF-8''percent-encoded.
		if hasUser || len(ext) < 7 || !strings.EqualFold(ext[:7], "UTF-8''") {
			return credentials{}, fmt.Errorf("%w: bad username*", ErrBadCredentials)
		}
		user, hasUser = ext[7:], true
	}
	if !hasUser {
		return credentials{}, fmt.Errorf("%w: no username", ErrBadCredentials)
	}
	if strings.EqualFold(p["userhash"], "true") {
		return credentials{}, fmt.Errorf("%w: userhash is not supported", ErrBadCredentials)
	}
	if c.jid, err = parseUserJID(user); err != nil {
		return credentials{}, err
	}
	if c.id, err = parseTransactionID(p["cnonce"]); err != nil {
		return credentials{}, err
	}
	c.realm, c.nonce, c.uri, c.qop = p["realm"], p["nonce"], p["uri"], p["qop"]
	c.response, c.opaque = strings.ToLower(p["response"]), p["opaque"]
	if c.realm != Realm {
		return credentials{}, fmt.Errorf("%w: realm is not %q", ErrBadCredentials, Realm)
	}
	if c.qop != "auth" {
		return credentials{}, fmt.Errorf("%w: qop must be auth", ErrBadCredentials)
	}
	if c.uri == "" || len(c.uri) > MaxURLLen {
		return credentials{}, fmt.Errorf("%w: bad uri", ErrBadCredentials)
	}
	alg := p["algorithm"]
	if alg == "" {
		alg = "MD5"
	}
	for _, a := range digestAlgs {
		if strings.EqualFold(a.name, alg) {
			c.alg = a
		}
	}
	if c.alg.name == "" {
		return credentials{}, fmt.Errorf("%w: unsupported algorithm", ErrBadCredentials)
	}
	if len(c.response) != c.alg.hexLen || !isHex(c.response) {
		return credentials{}, fmt.Errorf("%w: bad response", ErrBadCredentials)
	}
	nc := p["nc"]
	if len(nc) != 8 || !isHex(nc) {
		return credentials{}, fmt.Errorf("%w: bad nc", ErrBadCredentials)
	}
	n, _ := strconv.ParseUint(nc, 16, 32)
	if n == 0 {
		return credentials{}, fmt.Errorf("%w: nc is zero", ErrBadCredentials)
	}
	c.nc = uint32(n)
	if c.nonce == "" {
		return credentials{}, fmt.Errorf("%w: no nonce", ErrBadCredentials)
	}
	return c, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Nonces are base64url(issued unix nanoseconds ‖ 12 random bytes ‖
// first 16 bytes of HMAC-SHA-256(key, "nonce" ‖ both)).
const (
	nonceRawLen = 8 + 12 + 16
	nonceLen    = (nonceRawLen*8 + 5) / 6
)

type nonces struct {
	key      []byte
	lifetime time.Duration
	opaque   string
}

func newNonces(key []byte, lifetime time.Duration) *nonces {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("opaque"))
	return &nonces{key: key, lifetime: lifetime, opaque: hex.EncodeToString(m.Sum(nil)[:16])}
}

func (n *nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("nonce"))
	m.Write(b)
	return m.Sum(nil)[:16]
}

func (n *nonces) issue(now time.Time, rand io.Reader) (string, error) {
	var raw [nonceRawLen]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixNano()))
	if _, err := io.ReadFull(rand, raw[8:20]); err != nil {
		return "", err
	}
	copy(raw[20:], n.mac(raw[:20]))
	return base64.RawURLEncoding.EncodeToString(raw[:]), nil
}

// check verifies a nonce and returns when it expires. An authentic but
// expired nonce gives ErrStaleNonce.
func (n *nonces) check(s string, now time.Time) (time.Time, error) {
	if len(s) != nonceLen {
		return time.Time{}, fmt.Errorf("%w: unknown nonce", ErrBadCredentials)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != nonceRawLen || !hmac.Equal(raw[20:], n.mac(raw[:20])) {
		return time.Time{}, fmt.Errorf("%w: unknown nonce", ErrBadCredentials)
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(raw[:8])))
	exp := issued.Add(n.lifetime)
	if !now.Before(exp) {
		return exp, ErrStaleNonce
	}
	return exp, nil
}

// quote returns s as an RFC 9110 quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
