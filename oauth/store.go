package oauth

import (
	"context"
	"crypto/rsa"
	"hash/maphash"
	"sync"
	"time"
)

// ConsumerStore maps consumer keys to consumer secrets.
type ConsumerStore interface {
	// ConsumerSecret returns the secret of the consumer key, or an error
	// matching ErrUnknownConsumer when the key is not known. Any other error
	// is treated as a failure of the store.
	ConsumerSecret(ctx context.Context, consumerKey string) (string, error)
}

// RSAKeyStore maps consumer keys to the consumers' RSA public keys, for the
// RSA-SHA1 signature method.
type RSAKeyStore interface {
	// ConsumerPublicKey returns the consumer's public key, or an error
	// matching ErrUnknownConsumer when the key is not known (or the consumer
	// has no RSA key). Any other error is treated as a failure of the store.
	ConsumerPublicKey(ctx context.Context, consumerKey string) (*rsa.PublicKey, error)
}

// MemoryRSAKeys is an in-memory RSAKeyStore: consumer key → public key. It
// must not be modified while in use.
type MemoryRSAKeys map[string]*rsa.PublicKey

// ConsumerPublicKey implements RSAKeyStore.
func (m MemoryRSAKeys) ConsumerPublicKey(_ context.Context, key string) (*rsa.PublicKey, error) {
	k, ok := m[key]
	if !ok {
		return nil, ErrUnknownConsumer
	}
	return k, nil
}

// TokenInfo is what a TokenStore knows about an access token.
type TokenInfo struct {
	// Secret is the token secret.
	Secret string
	// ConsumerKey is the consumer the token was issued to.
	ConsumerKey string
	// Expires is when the token stops being valid; zero means never.
	Expires time.Time
	// Scopes is what the token grants, in the host's own vocabulary; it is
	// handed to the wrapped handler in the Grant (not copied: neither the
	// store nor the handler may modify it afterwards).
	Scopes []string
}

// TokenStore maps access tokens to what the Service Provider knows of them.
type TokenStore interface {
	// LookupToken returns the token's information, or an error matching
	// ErrUnknownToken when the token is not known (or was revoked). Any other
	// error is treated as a failure of the store.
	LookupToken(ctx context.Context, token string) (TokenInfo, error)
}

// Nonce identifies one use of a nonce.
type Nonce struct {
	ConsumerKey string
	Token       string
	Value       string
	// Now is the verifier's current time.
	Now time.Time
	// Expires is the time after which the nonce's timestamp is outside the
	// window, so the nonce no longer needs to be remembered.
	Expires time.Time
}

// NonceStore remembers nonces to detect replays.
type NonceStore interface {
	// UseNonce records n. It returns an error matching ErrNonceReplayed when
	// the same consumer key, token and nonce value were recorded before and
	// have not expired, and ErrNonceStoreFull when it cannot record n. The
	// check and the record must be atomic.
	UseNonce(ctx context.Context, n Nonce) error
}

// MemoryConsumers is an in-memory ConsumerStore: consumer key → secret. It
// must not be modified while in use; build a new one to change it.
type MemoryConsumers map[string]string

// ConsumerSecret implements ConsumerStore.
func (m MemoryConsumers) ConsumerSecret(_ context.Context, key string) (string, error) {
	s, ok := m[key]
	if !ok {
		return "", ErrUnknownConsumer
	}
	return s, nil
}

// MemoryTokens is an in-memory TokenStore, safe for concurrent use. The zero
// value is an empty store.
type MemoryTokens struct {
	mu     sync.RWMutex
	tokens map[string]TokenInfo
}

// NewMemoryTokens returns an empty MemoryTokens.
func NewMemoryTokens() *MemoryTokens {
	return &MemoryTokens{tokens: make(map[string]TokenInfo)}
}

// Put adds or replaces a token.
func (m *MemoryTokens) Put(token string, info TokenInfo) {
	m.mu.Lock()
	if m.tokens == nil {
		m.tokens = make(map[string]TokenInfo)
	}
	m.tokens[token] = info
	m.mu.Unlock()
}

// Revoke removes a token.
func (m *MemoryTokens) Revoke(token string) {
	m.mu.Lock()
	delete(m.tokens, token)
	m.mu.Unlock()
}

// LookupToken implements TokenStore.
func (m *MemoryTokens) LookupToken(_ context.Context, token string) (TokenInfo, error) {
	m.mu.RLock()
	info, ok := m.tokens[token]
	m.mu.RUnlock()
	if !ok {
		return TokenInfo{}, ErrUnknownToken
	}
	return info, nil
}

// DefaultMaxNonces is the capacity of a MemoryNonces created with max <= 0.
const DefaultMaxNonces = 100000

// MemoryNonces is a bounded in-memory NonceStore, safe for concurrent use.
//
// Each entry is a 64-bit keyed hash (hash/maphash with a random seed) of the
// consumer key, token and nonce, plus its expiry: about 40 bytes whatever the
// length of the values, so memory is bounded by the capacity. Expired entries
// are dropped on each call. When the store is full of unexpired entries it
// rejects new nonces with ErrNonceStoreFull instead of forgetting a nonce
// that is still inside the window, which would let it be replayed. Two
// different nonces colliding in the hash make the second one look replayed
// (probability about n/2^64 per request for n stored entries), never the
// other way round.
type MemoryNonces struct {
	mu   sync.Mutex
	seed maphash.Seed
	max  int
	seen map[uint64]int64 // hash → expiry (Unix nanoseconds)
	exp  expiryHeap
}

// NewMemoryNonces returns a store that holds at most max unexpired nonces
// (DefaultMaxNonces if max <= 0).
func NewMemoryNonces(max int) *MemoryNonces {
	if max <= 0 {
		max = DefaultMaxNonces
	}
	return &MemoryNonces{
		seed: maphash.MakeSeed(),
		max:  max,
		seen: make(map[uint64]int64),
	}
}

// Len returns the number of nonces held, expired or not.
func (m *MemoryNonces) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

func (m *MemoryNonces) hash(n *Nonce) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	// Length prefixes keep ("ab","c") and ("a","bc") apart.
	for _, s := range [...]string{n.ConsumerKey, n.Token, n.Value} {
		var l [4]byte
		l[0], l[1], l[2], l[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		_, _ = h.Write(l[:])
		_, _ = h.WriteString(s)
	}
	return h.Sum64()
}

// UseNonce implements NonceStore.
func (m *MemoryNonces) UseNonce(_ context.Context, n Nonce) error {
	key := m.hash(&n)
	now := n.Now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.exp) > 0 && m.exp[0].expires < now {
		e := m.exp.pop()
		if m.seen[e.key] == e.expires {
			delete(m.seen, e.key)
		}
	}
	if exp, ok := m.seen[key]; ok && exp >= now {
		return ErrNonceReplayed
	}
	if len(m.seen) >= m.max {
		return ErrNonceStoreFull
	}
	e := expiry{key: key, expires: n.Expires.UnixNano()}
	m.seen[key] = e.expires
	m.exp.push(e)
	return nil
}

type expiry struct {
	key     uint64
	expires int64
}

// expiryHeap is a binary min-heap of expiries. It is written out rather than
// using container/heap, whose interface boxes every pushed value.
type expiryHeap []expiry

func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		parent := (i - 1) / 2
		if s[parent].expires <= s[i].expires {
			break
		}
		s[parent], s[i] = s[i], s[parent]
		i = parent
	}
}

func (h *expiryHeap) pop() expiry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, min := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].expires < s[min].expires {
			min = l
		}
		if r < len(s) && s[r].expires < s[min].expires {
			min = r
		}
		if min == i {
			break
		}
		s[i], s[min] = s[min], s[i]
		i = min
	}
	*h = s
	return top
}

var (
	_ ConsumerStore = MemoryConsumers(nil)
	_ TokenStore    = (*MemoryTokens)(nil)
	_ NonceStore    = (*MemoryNonces)(nil)
	_ RSAKeyStore   = MemoryRSAKeys(nil)
)
