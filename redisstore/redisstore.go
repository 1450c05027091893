package redisstore

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
)

// DefaultPrefix starts every key and channel name unless Options.Prefix
// says otherwise.
const DefaultPrefix = "xmppauth:"

// Options configures the stores. Zero values take the defaults noted on
// each field; Key is required.
type Options struct {
	// Prefix starts every key and Pub/Sub channel name (default
	// DefaultPrefix). Nodes that share state use the same prefix; different
	// deployments on one Redis use different ones. On Redis Cluster it
	// must contain a hash tag, such as "{xmppauth}:", so that every key is
	// in one slot (the scripts touch several keys at once).
	Prefix string
	// Key keys the digests by which JIDs, transaction identifiers and
	// nonces appear in key names and sets (HMAC-SHA-256), so that what is
	// in Redis cannot be tested against a list of likely values without
	// it. At least 16 bytes, and the same on every node: a node with
	// another key would not recognise the others' used identifiers.
	Key []byte

	// The limits of the XEP-0070 store, as in httpauth.MemStoreConfig
	// (defaults httpauth.DefaultMaxPending and the rest), but for every
	// node together.
	MaxPending       int
	MaxPendingPerJID int
	MaxUsed          int
	UsedTTL          time.Duration
	MaxNonces        int
	// PendingGrace is how long after its Transaction.Expires a pending
	// transaction stays in Redis when nobody ends it (its node crashed);
	// default one minute. It stops counting against the limits at
	// Expires.
	PendingGrace time.Duration

	// Clock is the time source of every expiry the stores check (nil: the
	// system clock); the nodes' clocks must agree to within a small part
	// of the lifetimes involved (NTP). Redis's own key expiry, which frees
	// the memory, runs on Redis's clock with a margin.
	Clock config.Clock
	// Logger receives the state changes of the answer subscription (lost,
	// restored); nil means slog.Default().
	Logger *slog.Logger
}

// Stores are the three stores on one Redis: for XEP-0070 (httpauth), for
// XEP-0235 nonces (oauth) and for the login limiter's counters (throttle).
// Close stops the answer subscription when the node shuts down.
type Stores struct {
	HTTPAuth *HTTPAuth
	Nonces   *Nonces
	Counters *Counters
}

// New returns the stores on client (a *redis.Client, *redis.ClusterClient,
// *redis.Ring or failover client; see ClientOptions for the timeouts that
// make an outage fail fast). It contacts Redis lazily: a node starts while
// Redis is down and works once it is back. It starts the goroutine that
// receives the answers meant for this node's HTTP requests; Close stops
// it. The client stays the caller's to close, after Close.
func New(client redis.UniversalClient, opts Options) (*Stores, error) {
	if client == nil {
		return nil, errors.New("redisstore: nil client")
	}
	if len(opts.Key) < 16 {
		return nil, fmt.Errorf("redisstore: Options.Key: %d bytes is shorter than 16", len(opts.Key))
	}
	for _, lim := range []struct {
		name string
		v    int64
	}{
		{"MaxPending", int64(opts.MaxPending)}, {"MaxPendingPerJID", int64(opts.MaxPendingPerJID)},
		{"MaxUsed", int64(opts.MaxUsed)}, {"UsedTTL", int64(opts.UsedTTL)}, {"MaxNonces", int64(opts.MaxNonces)},
		{"PendingGrace", int64(opts.PendingGrace)},
	} {
		if lim.v < 0 {
			return nil, fmt.Errorf("redisstore: Options.%s is negative", lim.name)
		}
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	opts.MaxPending = cmp.Or(opts.MaxPending, httpauth.DefaultMaxPending)
	opts.MaxPendingPerJID = cmp.Or(opts.MaxPendingPerJID, httpauth.DefaultMaxPendingPerJID)
	opts.MaxUsed = cmp.Or(opts.MaxUsed, httpauth.DefaultMaxUsed)
	opts.UsedTTL = cmp.Or(opts.UsedTTL, httpauth.DefaultUsedTTL)
	opts.MaxNonces = cmp.Or(opts.MaxNonces, httpauth.DefaultMaxNonces)
	opts.PendingGrace = cmp.Or(opts.PendingGrace, time.Minute)
	opts.Clock = config.ClockOr(opts.Clock)
	opts.Logger = config.LoggerOr(opts.Logger)
	d := newDigester(opts.Key)
	h, err := newHTTPAuth(client, opts, d)
	if err != nil {
		return nil, err
	}
	return &Stores{
		HTTPAuth: h,
		Nonces:   &Nonces{c: client, prefix: opts.Prefix + "oauth:", d: d},
		Counters: &Counters{c: client, prefix: opts.Prefix + "throttle:"},
	}, nil
}

// Close stops the answer subscription: requests still waiting for an
// answer on this node fail, and so does every later Wait (the other
// methods keep working). It does not close the client.
func (s *Stores) Close() error { return s.HTTPAuth.close() }

// ClientOptions returns options for a client of the Redis server at addr
// (host:port) with timeouts that make an outage cost little: each command
// fails within about a second when Redis is down or hangs, instead of
// go-redis's defaults (5 s to dial, 5 dial attempts, 3 retries, 5 s reads),
// and a context's deadline bounds the network reads and writes too
// (ContextTimeoutEnabled). One retry hides a connection that a restarted
// server closed. Set the password, TLS and pool size on the result as
// needed.
func ClientOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		DialTimeout:           time.Second,
		DialerRetries:         1,
		ReadTimeout:           time.Second,
		WriteTimeout:          time.Second,
		PoolTimeout:           time.Second,
		MaxRetries:            1,
		MinRetryBackoff:       10 * time.Millisecond,
		MaxRetryBackoff:       100 * time.Millisecond,
		ContextTimeoutEnabled: true,
	}
}

// digester computes the keyed digests (16 bytes of HMAC-SHA-256 over a
// domain byte and length-prefixed parts) that stand for JIDs, transaction
// identifiers and nonces in Redis.
type digester struct{ pool sync.Pool }

func newDigester(key []byte) *digester {
	key = append([]byte(nil), key...)
	return &digester{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
}

// Domains of the digests.
const (
	domainID     = 'i' // bare JID and transaction identifier
	domainJID    = 'j' // bare JID
	domainDigest = 'd' // Digest nonce
	domainOAuth  = 'o' // consumer key, token and XEP-0235 nonce
)

func (d *digester) sum(domain byte, parts ...string) [16]byte {
	m := d.pool.Get().(hash.Hash)
	m.Reset()
	var buf [sha256.Size]byte
	buf[0] = domain
	m.Write(buf[:1])
	for _, p := range parts {
		n := len(p)
		buf[0], buf[1], buf[2], buf[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		m.Write(buf[:4])
		m.Write([]byte(p))
	}
	var out [16]byte
	copy(out[:], m.Sum(buf[:0]))
	d.pool.Put(m)
	return out
}

// hexKey returns prefix followed by the hex form of a digest.
func hexKey(prefix string, sum [16]byte) string {
	var b strings.Builder
	b.Grow(len(prefix) + 32)
	b.WriteString(prefix)
	var h [32]byte
	hex.Encode(h[:], sum[:])
	b.Write(h[:])
	return b.String()
}

// wrap gives a Redis error the operation it failed in.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// ms is t in Unix milliseconds, the unit of scores in Redis.
func ms(t time.Time) int64 { return t.UnixMilli() }

// ttlFrom returns exp - now, at least a millisecond (Redis refuses a zero
// expiry).
func ttlFrom(now, exp time.Time) time.Duration {
	return max(exp.Sub(now), time.Millisecond)
}

// ctxErr prefers the context's error when it ended, so that callers see
// context.Canceled or DeadlineExceeded rather than a network error.
func ctxErr(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && err != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("redisstore: %s: %w (%v)", op, cerr, err)
	}
	return wrap(op, err)
}

// newNode returns a random node identifier.
func newNode() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
