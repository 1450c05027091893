package saslclient

import (
	"crypto"
	"crypto/hmac"
	_ "crypto/sha256" // HT-SHA-256-*
	_ "crypto/sha3"   // HT-SHA3-*
	_ "crypto/sha512" // HT-SHA-384-*, HT-SHA-512-*
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
)

// maxTokenLen caps a token secret received from the server.
const maxTokenLen = 1024

// Token is a XEP-0484 FAST token, bound to the HT mechanism it was issued
// for. The secret is password-equivalent for its lifetime: keep a Token
// where a password could be kept. String and GoString leave it out.
type Token struct {
	// Mechanism is the HT mechanism, for example "HT-SHA-256-EXPR".
	Mechanism string `json:"mechanism"`
	// Secret is the token the server issued.
	Secret string `json:"secret"`
	// Expiry is when the server stops accepting it.
	Expiry time.Time `json:"expiry"`
	// Count is the XEP-0484 count sent with the last attempt (0: not used
	// yet); each attempt sends one more.
	Count uint64 `json:"count"`
}

// String describes t without its secret.
func (t Token) String() string {
	return fmt.Sprintf("FAST token for %s, expires %s, count %d", t.Mechanism, t.Expiry.UTC().Format(time.RFC3339), t.Count)
}

// GoString describes t without its secret.
func (t Token) GoString() string {
	return fmt.Sprintf("saslclient.Token{Mechanism: %q, Secret: <redacted>, Expiry: %q, Count: %d}", t.Mechanism, t.Expiry.UTC().Format(time.RFC3339), t.Count)
}

// TokenStore keeps the FAST token of each account between connections. The
// account is the bare JID the client logs in as (Config.Username at the
// origin's domain, or the origin's bare JID).
//
// The client stores a token when the server issues one, stores it again with
// a higher Count before each attempt (so a count is never sent twice, even
// when the process dies in between), and deletes it when the server refuses
// it, when it expired and when it was logged out. An error from the store
// fails the login.
//
// Implementations must be safe for concurrent use.
type TokenStore interface {
	// LoadToken returns the account's token; false when there is none.
	LoadToken(account string) (Token, bool, error)
	// StoreToken replaces the account's token.
	StoreToken(account string, t Token) error
	// DeleteToken removes the account's token, if any.
	DeleteToken(account string) error
}

// MemoryTokenStore is a TokenStore in process memory. The zero value is
// empty and ready to use.
type MemoryTokenStore struct {
	mu sync.Mutex
	m  map[string]Token
}

var _ TokenStore = (*MemoryTokenStore)(nil)

// LoadToken implements TokenStore.
func (s *MemoryTokenStore) LoadToken(account string) (Token, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[account]
	return t, ok, nil
}

// StoreToken implements TokenStore.
func (s *MemoryTokenStore) StoreToken(account string, t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]Token)
	}
	s.m[account] = t
	return nil
}

// DeleteToken implements TokenStore.
func (s *MemoryTokenStore) DeleteToken(account string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, account)
	return nil
}

// htHashes are the HT hashes this client implements, preferred first, by
// their IANA "Hash Name String" as the mechanism names spell them.
var htHashes = []struct {
	name string
	hash crypto.Hash
}{
	{"SHA-512", crypto.SHA512},
	{"SHA3-512", crypto.SHA3_512},
	{"SHA-384", crypto.SHA384},
	{"SHA3-384", crypto.SHA3_384},
	{"SHA-256", crypto.SHA256},
	{"SHA3-256", crypto.SHA3_256},
}

// htBindings maps the HT cb-type suffix to a binding type ("" for NONE).
var htBindings = map[string]cbind.Type{
	"EXPR": cbind.TLSExporter,
	"ENDP": cbind.TLSServerEndPoint,
	"UNIQ": cbind.TLSUnique,
	"NONE": "",
}

// htMechanism is a parsed HT-<hash>-<cb-type> name.
type htMechanism struct {
	name   string
	hash   crypto.Hash
	cbType cbind.Type // "" for NONE
	rank   int        // index in htHashes
}

// parseHT parses an HT mechanism name of a hash and binding this client
// implements.
func parseHT(name string) (htMechanism, bool) {
	rest, ok := strings.CutPrefix(name, "HT-")
	if !ok {
		return htMechanism{}, false
	}
	i := strings.LastIndexByte(rest, '-')
	if i < 0 {
		return htMechanism{}, false
	}
	cb, ok := htBindings[rest[i+1:]]
	if !ok {
		return htMechanism{}, false
	}
	for rank, h := range htHashes {
		if h.name == rest[:i] {
			return htMechanism{name: name, hash: h.hash, cbType: cb, rank: rank}, true
		}
	}
	return htMechanism{}, false
}

// chooseHT picks the HT mechanism to ask a token for among those offered:
// the connection's default binding type first, then the other types it can
// give in order of strength, then (if allowed) no binding; within a type the
// strongest hash.
func chooseHT(cfg *Config, offered []string, conn connection) (htMechanism, bool) {
	var order []cbind.Type
	if conn.hasDefault {
		order = append(order, conn.defaultCB)
	}
	for _, t := range conn.available {
		if t != conn.defaultCB || !conn.hasDefault {
			order = append(order, t)
		}
	}
	if cfg.FAST.AllowNoBinding {
		order = append(order, "")
	}
	for _, t := range order {
		best, found := htMechanism{}, false
		for _, name := range offered {
			m, ok := parseHT(name)
			if ok && m.cbType == t && (!found || m.rank < best.rank) {
				best, found = m, true
			}
		}
		if found {
			return best, true
		}
	}
	return htMechanism{}, false
}

// htProof computes HMAC(token, label || cb-data) of
// draft-schmaus-kitten-sasl-ht §3: label "Initiator" for the client's
// message, "Responder" for the server's.
func htProof(h crypto.Hash, token, label string, cbData []byte) []byte {
	mac := hmac.New(h.New, []byte(token))
	mac.Write([]byte(label))
	mac.Write(cbData)
	return mac.Sum(nil)
}
