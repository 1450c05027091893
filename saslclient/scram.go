package saslclient

import (
	"crypto"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// clientNonceLen is the number of random bytes of the client nonce.
const clientNonceLen = 18

// scramClient is the client side of one SCRAM exchange (RFC 5802 §3, §5):
// client-first, client-final, and the check of server-final.
type scramClient struct {
	mech     scram.Mechanism
	password string // PRECIS-prepared
	cache    Cache
	minIter  int
	maxIter  int

	gs2    []byte // GS2 header, e.g. "p=tls-exporter,,"
	cbData []byte // channel-binding data (only with "p=")
	nonce  []byte // client nonce
	bare   []byte // client-first-message-bare

	// set by final
	serverSig []byte
	cacheKey  CacheKey
	cached    bool
	h         []byte // XEP-0474 hash received, nil if none
}

// newScramClient prepares an exchange. flag is "n", "y" or "p=<type>".
func newScramClient(mech scram.Mechanism, username, authzid, password, flag string, cbData []byte, rnd io.Reader) (*scramClient, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	raw := make([]byte, clientNonceLen)
	if _, err := io.ReadFull(rnd, raw); err != nil {
		return nil, fmt.Errorf("saslclient: reading the client nonce: %w", err)
	}
	return newScramClientNonce(mech, username, authzid, password, flag, cbData, base64.RawStdEncoding.EncodeToString(raw))
}

func newScramClientNonce(mech scram.Mechanism, username, authzid, password, flag string, cbData []byte, nonce string) (*scramClient, error) {
	if username == "" {
		return nil, fmt.Errorf("saslclient: empty user name")
	}
	c := &scramClient{mech: mech, password: password, cbData: cbData, nonce: []byte(nonce)}
	c.gs2 = append(c.gs2, flag...)
	c.gs2 = append(c.gs2, ',')
	if authzid != "" {
		c.gs2 = append(c.gs2, "a="...)
		c.gs2 = append(c.gs2, escapeSaslname(authzid)...)
	}
	c.gs2 = append(c.gs2, ',')
	c.bare = append(c.bare, "n="...)
	c.bare = append(c.bare, escapeSaslname(username)...)
	c.bare = append(c.bare, ",r="...)
	c.bare = append(c.bare, nonce...)
	return c, nil
}

// escapeSaslname applies RFC 5802's saslname escaping: "=" is "=3D" and ","
// is "=2C".
func escapeSaslname(s string) string {
	if !strings.ContainsAny(s, "=,") {
		return s
	}
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// first returns client-first-message.
func (c *scramClient) first() []byte {
	return slices.Concat(c.gs2, c.bare)
}

// final consumes server-first and returns client-final. verify is called
// with the parsed message before any proof is computed, so that a
// downgrade is caught before the client proves anything.
func (c *scramClient) final(serverFirstMsg []byte, verify func(serverFirst) error) ([]byte, error) {
	sf, err := parseServerFirst(serverFirstMsg, c.nonce)
	if err != nil {
		return nil, err
	}
	if sf.iterations < c.minIter || sf.iterations > c.maxIter {
		return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrIterationCount, sf.iterations, c.minIter, c.maxIter)
	}
	c.h = sf.h
	if verify != nil {
		if err := verify(sf); err != nil {
			return nil, err
		}
	}

	salted, err := c.saltedPassword(sf.salt, sf.iterations)
	if err != nil {
		return nil, err
	}

	// client-final-message-without-proof = channel-binding "," nonce ["," extensions]
	withoutProof := make([]byte, 0, 128)
	withoutProof = append(withoutProof, "c="...)
	withoutProof = base64.StdEncoding.AppendEncode(withoutProof, slices.Concat(c.gs2, c.cbData))
	withoutProof = append(withoutProof, ",r="...)
	withoutProof = append(withoutProof, sf.nonce...)

	authMessage := slices.Concat(c.bare, []byte{','}, serverFirstMsg, []byte{','}, withoutProof)
	proof, serverSig := keys(c.mech.Hash(), salted, authMessage)
	c.serverSig = serverSig

	out := append(withoutProof, ",p="...)
	return base64.StdEncoding.AppendEncode(out, proof), nil
}

// saltedPassword runs PBKDF2, or takes the result from the cache.
func (c *scramClient) saltedPassword(salt []byte, iterations int) ([]byte, error) {
	c.cacheKey = CacheKey{Hash: c.mech.Hash(), Salt: string(salt), Iterations: iterations}
	if c.cache != nil {
		if sp, ok := c.cache.Get(c.cacheKey); ok && len(sp) == c.mech.Hash().Size() {
			c.cached = true
			return sp, nil
		}
	}
	sp, err := pbkdf2.Key(c.mech.Hash().New, c.password, salt, iterations, c.mech.Hash().Size())
	if err != nil {
		return nil, fmt.Errorf("saslclient: PBKDF2: %w", err)
	}
	if c.cache != nil {
		c.cache.Put(c.cacheKey, sp)
	}
	return sp, nil
}

// forget removes the cached SaltedPassword used by this exchange, after a
// failure that a stale entry could explain.
func (c *scramClient) forget() {
	if c.cache != nil && c.cached {
		c.cache.Delete(c.cacheKey)
	}
}

// keys computes the RFC 5802 §3 ClientProof and ServerSignature.
func keys(h crypto.Hash, salted, authMessage []byte) (proof, serverSig []byte) {
	mac := hmac.New(h.New, salted)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	mac.Reset()
	mac.Write([]byte("Server Key"))
	serverKey := mac.Sum(nil)

	storedKey := sum(h.New(), clientKey)
	mac = hmac.New(h.New, storedKey)
	mac.Write(authMessage)
	clientSig := mac.Sum(nil)
	proof = make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, clientSig)

	mac = hmac.New(h.New, serverKey)
	mac.Write(authMessage)
	return proof, mac.Sum(nil)
}

func sum(h hash.Hash, b []byte) []byte {
	h.Write(b)
	return h.Sum(nil)
}

// verifyFinal checks server-final in constant time.
func (c *scramClient) verifyFinal(msg []byte) error {
	if c.serverSig == nil {
		return fmt.Errorf("%w: server-final before client-final", ErrMalformed)
	}
	v, err := parseServerFinal(msg)
	if err != nil {
		return err
	}
	if !hmac.Equal(v, c.serverSig) {
		return ErrServerSignature
	}
	return nil
}

// downgradeHash is XEP-0474's hash of the input with the mechanism's hash.
func downgradeHash(h crypto.Hash, input []byte) []byte {
	return sum(h.New(), input)
}

// cbTypeFlag is the GS2 flag that selects t.
func cbTypeFlag(t cbind.Type) string { return "p=" + string(t) }
