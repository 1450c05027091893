package saslclient

import (
	"crypto"
	"slices"
	"sync"
)

// CacheKey identifies a SaltedPassword: the hash, the salt (raw bytes in a
// string) and the iteration count the server sent.
type CacheKey struct {
	Hash       crypto.Hash
	Salt       string
	Iterations int
}

// Cache keeps SaltedPassword values (RFC 5802 §3) between logins, so that a
// client that logs in again with the same salt and iteration count skips
// PBKDF2, which dominates the client's cost of a SCRAM login.
//
// A SaltedPassword is password-equivalent for this server: anyone who reads
// it can log in as the user (on this and any other server that uses the same
// salt, iteration count and password). Keep a Cache only where the password
// itself could be kept; its entries live in memory until evicted.
//
// The key does not contain the password or user name: use one Cache per
// account (password). After a failed login that used a cached value the
// entry is deleted, so a changed password costs one failed attempt at most.
//
// Implementations must be safe for concurrent use and must not keep or
// return slices that the caller may modify (copy them).
type Cache interface {
	Get(CacheKey) ([]byte, bool)
	Put(CacheKey, []byte)
	Delete(CacheKey)
}

// DefaultCacheEntries is the capacity of a MemoryCache created with zero.
const DefaultCacheEntries = 8

// MemoryCache is a Cache in process memory holding a bounded number of
// entries; the oldest entry is evicted first. Create it with NewMemoryCache.
type MemoryCache struct {
	mu    sync.Mutex
	max   int
	m     map[CacheKey][]byte
	order []CacheKey // insertion order, oldest first
}

var _ Cache = (*MemoryCache)(nil)

// NewMemoryCache returns an empty MemoryCache holding up to maxEntries
// values (zero or less: DefaultCacheEntries).
func NewMemoryCache(maxEntries int) *MemoryCache {
	if maxEntries <= 0 {
		maxEntries = DefaultCacheEntries
	}
	return &MemoryCache{max: maxEntries, m: make(map[CacheKey][]byte)}
}

// Get implements Cache.
func (c *MemoryCache) Get(k CacheKey) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return slices.Clone(v), ok
}

// Put implements Cache.
func (c *MemoryCache) Put(k CacheKey, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		for len(c.order) >= c.max {
			old := c.order[0]
			c.order = c.order[1:]
			clear(c.m[old])
			delete(c.m, old)
		}
		c.order = append(c.order, k)
	}
	c.m[k] = slices.Clone(v)
}

// Delete implements Cache.
func (c *MemoryCache) Delete(k CacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[k]; ok {
		clear(v)
		delete(c.m, k)
		c.order = slices.DeleteFunc(c.order, func(o CacheKey) bool { return o == k })
	}
}

// Len reports the number of entries.
func (c *MemoryCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
