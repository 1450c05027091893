package httpauth

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/xmppauth/xmppauth/config"
)

// RateLimit is a token bucket for confirmation prompts: on average Prompts
// per Per, at most Burst at once, counted separately for each key (a bare
// JID or a client address) of which at most MaxKeys are remembered. Zero
// fields take the defaults of the Config field that holds the RateLimit.
type RateLimit struct {
	// Prompts is how many prompts are allowed per Per on average.
	Prompts int `json:"prompts,omitempty"`
	// Per is the period Prompts refers to; default one minute.
	Per config.Duration `json:"per,omitempty"`
	// Burst is how many prompts may be sent at once; default Prompts.
	Burst int `json:"burst,omitempty"`
	// MaxKeys bounds the number of keys remembered (about 250 bytes
	// each); beyond it the least recently used key is forgotten, which
	// gives that key a full bucket again. Default 10000.
	MaxKeys int `json:"max_keys,omitempty"`
	// Disable turns this limit off.
	Disable bool `json:"disable,omitempty"`
}

// Default rate limits; see Config.JIDRate and Config.ClientRate.
var (
	DefaultJIDRate    = RateLimit{Prompts: 5, Per: config.Duration(time.Minute), Burst: 5, MaxKeys: 10000}
	DefaultClientRate = RateLimit{Prompts: 30, Per: config.Duration(time.Minute), Burst: 10, MaxKeys: 10000}
)

// validate checks the settings; it names the JSON keys.
func (l RateLimit) validate() error {
	switch {
	case l.Prompts < 0:
		return config.Errorf("prompts", "%d is negative", l.Prompts)
	case l.Per < 0:
		return config.Errorf("per", "%s is negative", l.Per)
	case l.Burst < 0:
		return config.Errorf("burst", "%d is negative", l.Burst)
	case l.MaxKeys < 0:
		return config.Errorf("max_keys", "%d is negative", l.MaxKeys)
	}
	return nil
}

// withDefaults fills the zero fields from def.
func (l RateLimit) withDefaults(def RateLimit) RateLimit {
	if l.Prompts == 0 {
		l.Prompts = def.Prompts
		if l.Burst == 0 {
			l.Burst = def.Burst
		}
	}
	if l.Per == 0 {
		l.Per = def.Per
	}
	if l.Burst == 0 {
		l.Burst = l.Prompts
	}
	if l.MaxKeys == 0 {
		l.MaxKeys = def.MaxKeys
	}
	return l
}

// keyedLimiter holds one token bucket per key, at most max of them, and
// forgets the least recently used key first.
type keyedLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu   sync.Mutex
	keys map[string]*list.Element // of *limiterEntry
	lru  list.List                // front: most recently used
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

// newKeyedLimiter returns nil for a disabled limit.
func newKeyedLimiter(l RateLimit) *keyedLimiter {
	if l.Disable {
		return nil
	}
	return &keyedLimiter{
		limit: rate.Limit(float64(l.Prompts) / l.Per.D().Seconds()),
		burst: l.Burst,
		max:   l.MaxKeys,
		keys:  make(map[string]*list.Element),
	}
}

// reserve takes a token for key at now. It returns nil and how long to wait
// when the bucket is empty (nothing is taken then), or the reservation,
// which the caller cancels when it does not send the prompt after all.
func (k *keyedLimiter) reserve(key string, now time.Time) (*rate.Reservation, time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var lim *rate.Limiter
	if el, ok := k.keys[key]; ok {
		k.lru.MoveToFront(el)
		lim = el.Value.(*limiterEntry).lim
	} else {
		for len(k.keys) >= k.max {
			oldest := k.lru.Back()
			delete(k.keys, oldest.Value.(*limiterEntry).key)
			k.lru.Remove(oldest)
		}
		lim = rate.NewLimiter(k.limit, k.burst)
		k.keys[key] = k.lru.PushFront(&limiterEntry{key: key, lim: lim})
	}
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return nil, time.Duration(math.MaxInt64)
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return nil, d
	}
	return res, 0
}

// len returns the number of keys remembered.
func (k *keyedLimiter) len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// clientKey is the rate-limiting key of a client address: an IPv6 address
// counts by its /64 (one subscriber usually has a whole /64), an
// IPv4-mapped address as the IPv4 address, anything else (a host's own
// EntityKey) as it is.
func clientKey(entity string) string {
	a, err := netip.ParseAddr(entity)
	if err != nil {
		return entity
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return entity
	}
	return p.String()
}

// retryAfterSeconds is the Retry-After value for a wait of d: whole
// seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
