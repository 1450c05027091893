package redisstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth/oauth"
)

// Nonces is an oauth.NonceStore on Redis: one key per nonce, written with
// SET NX and an expiry at the end of the nonce's timestamp window, so that
// the check and the record are one atomic command shared by every node.
// The key is a keyed digest of the consumer key, token and nonce (never the
// token itself).
type Nonces struct {
	c      redis.UniversalClient
	prefix string
	d      *digester
}

var _ oauth.NonceStore = (*Nonces)(nil)

// UseNonce implements oauth.NonceStore: ErrNonceReplayed when the nonce
// was recorded and has not expired, ErrNonceStoreFull when Redis refuses
// writes for want of memory (maxmemory with a noeviction policy), and any
// other Redis error as it is (the Verifier then fails closed).
func (s *Nonces) UseNonce(ctx context.Context, n oauth.Nonce) error {
	key := hexKey(s.prefix, s.d.sum(domainOAuth, n.ConsumerKey, n.Token, n.Value))
	ok, err := s.c.SetNX(ctx, key, "1", ttlFrom(n.Now, n.Expires)).Result()
	switch {
	case err != nil && strings.HasPrefix(err.Error(), "OOM "):
		return fmt.Errorf("%w: %w", oauth.ErrNonceStoreFull, err)
	case err != nil:
		return ctxErr(ctx, "recording an XEP-0235 nonce", err)
	case !ok:
		return oauth.ErrNonceReplayed
	}
	return nil
}
