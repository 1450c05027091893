package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth/throttle"
)

// Counters is a throttle.Store on Redis, so that failed logins on one node
// count on every node: a counter is a string key with an expiry; Incr runs
// INCR and PEXPIRE in one script, so the count and its new expiry are one
// atomic step. Expiry runs on Redis's clock.
type Counters struct {
	c      redis.UniversalClient
	prefix string
}

var _ throttle.Store = (*Counters)(nil)

var errTTL = errors.New("redisstore: counter ttl must be positive")

var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n`)

// Incr implements throttle.Store.
func (s *Counters) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, errTTL
	}
	n, err := incrScript.Run(ctx, s.c, []string{s.prefix + key}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, ctxErr(ctx, "incrementing a login counter", err)
	}
	return n, nil
}

// Get implements throttle.Store.
func (s *Counters) Get(ctx context.Context, key string) (int64, error) {
	n, err := s.c.Get(ctx, s.prefix+key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, ctxErr(ctx, "reading a login counter", err)
	}
	return n, nil
}

// Delete implements throttle.Store.
func (s *Counters) Delete(ctx context.Context, key string) error {
	return ctxErr(ctx, "deleting a login counter", s.c.Del(ctx, s.prefix+key).Err())
}
