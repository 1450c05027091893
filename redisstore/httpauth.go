package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth/httpauth"
)

// HTTPAuth is an httpauth.Store on Redis shared by every node of a
// deployment: a request may wait on one node while its answer reaches
// another. See the package documentation for the keys it uses.
type HTTPAuth struct {
	c    redis.UniversalClient
	o    Options
	d    *digester
	node string

	// Names of keys and channels.
	answers    string // prefix of the nodes' answer channels
	channel    string // this node's answer channel
	pendingKey string
	usedKey    string
	noncesKey  string
	countsKey  string

	mu      sync.Mutex
	waiters map[string]*waiter
	ps      *redis.PubSub
	state   subState
	closed  bool

	stop context.CancelFunc
	done chan struct{}
	log  *slog.Logger
}

var _ httpauth.Store = (*HTTPAuth)(nil)

// defaultPendingLife is how long a transaction without a future
// Transaction.Expires counts as pending.
const defaultPendingLife = 10 * time.Minute

// Errors of Wait.
var (
	errClosed       = errors.New("redisstore: store closed")
	errOtherNode    = errors.New("redisstore: the transaction was begun on another node")
	errWaiting      = errors.New("redisstore: another Wait is waiting for this transaction")
	errSubscription = errors.New("redisstore: answer subscription lost")
)

func newHTTPAuth(c redis.UniversalClient, o Options, d *digester) (*HTTPAuth, error) {
	node, err := newNode()
	if err != nil {
		return nil, fmt.Errorf("redisstore: node identifier: %w", err)
	}
	p := o.Prefix
	s := &HTTPAuth{
		c: c, o: o, d: d, node: node,
		answers:    p + "answers:",
		channel:    p + "answers:" + node,
		pendingKey: p + "pending",
		usedKey:    p + "used",
		noncesKey:  p + "nonces",
		countsKey:  p + "nc",
		waiters:    make(map[string]*waiter),
		done:       make(chan struct{}),
		log:        o.Logger,
	}
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.ps = c.Subscribe(ctx, s.channel)
	go s.run(ctx)
	return s, nil
}

func (s *HTTPAuth) txKey(ref string) string { return s.o.Prefix + "tx:" + ref }
func (s *HTTPAuth) idKey(sum [16]byte) string {
	return hexKey(s.o.Prefix+"txid:", sum)
}
func (s *HTTPAuth) jidKey(bare string) string {
	return hexKey(s.o.Prefix+"txjid:", s.d.sum(domainJID, bare))
}
func (s *HTTPAuth) grantKey(sum [16]byte) string {
	return hexKey(s.o.Prefix+"grant:", sum)
}

// luaLib holds the functions the scripts share. Scores are expiry times
// in Unix milliseconds; a member is live while its score is above now.
const luaLib = `
local function prune(k, now)
  local old = redis.call('ZRANGEBYSCORE', k, '-inf', now, 'LIMIT', 0, 128)
  if #old > 0 then redis.call('ZREM', k, unpack(old)) end
  return old
end
local function live(k, m, now)
  local s = redis.call('ZSCORE', k, m)
  return s and tonumber(s) > now
end
local function capadd(k, m, exp, max, side)
  if not redis.call('ZSCORE', k, m) then
    local n = redis.call('ZCARD', k) - max + 1
    if n > 0 then
      local ev = redis.call('ZPOPMIN', k, n)
      if side then
        for i = 1, #ev, 2 do redis.call('HDEL', side, ev[i]) end
      end
    end
  end
  redis.call('ZADD', k, exp, m)
end
`

// beginScript checks for a replay and the limits and records a pending
// transaction, its indexes and its used identifier, in one step.
//
// KEYS: tx, txid, txjid, pending, used. ARGV: now, exp, ttl, max pending,
// max per JID, used member, used expiry, max used, ref, to, bare, id,
// method, url, msg, node.
var beginScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[1])
prune(KEYS[4], now)
prune(KEYS[3], now)
prune(KEYS[5], now)
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 or live(KEYS[5], ARGV[6], now) then
  return 'replay'
end
if redis.call('ZCOUNT', KEYS[4], '(' .. ARGV[1], '+inf') >= tonumber(ARGV[4]) then return 'overloaded' end
if redis.call('ZCOUNT', KEYS[3], '(' .. ARGV[1], '+inf') >= tonumber(ARGV[5]) then return 'toomany' end
redis.call('HSET', KEYS[1], 'to', ARGV[10], 'bare', ARGV[11], 'id', ARGV[12], 'method', ARGV[13],
  'url', ARGV[14], 'msg', ARGV[15], 'node', ARGV[16], 'gen', 0, 'exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[9], 'PX', ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[9])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[3], ARGV[3]) end
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[9])
capadd(KEYS[5], ARGV[6], ARGV[7], tonumber(ARGV[8]))
return 'ok'`)

// Begin implements httpauth.Store. The transaction's identifier is
// remembered as used from Begin on (End refreshes it), so that a node that
// crashes while a request waits leaves no identifier to replay.
func (s *HTTPAuth) Begin(ctx context.Context, tx httpauth.Transaction) error {
	now := s.o.Clock.Now()
	exp := tx.Expires
	if !exp.After(now) {
		exp = now.Add(defaultPendingLife)
	}
	ttl := exp.Sub(now) + s.o.PendingGrace
	id := s.d.sum(domainID, tx.Bare, tx.Confirm.ID)
	keys := []string{s.txKey(tx.Ref), s.idKey(id), s.jidKey(tx.Bare), s.pendingKey, s.usedKey}
	res, err := beginScript.Run(ctx, s.c, keys,
		ms(now), ms(exp), ttl.Milliseconds(), s.o.MaxPending, s.o.MaxPendingPerJID,
		string(id[:]), ms(now.Add(s.o.UsedTTL)), s.o.MaxUsed,
		tx.Ref, tx.To, tx.Bare, tx.Confirm.ID, tx.Confirm.Method, tx.Confirm.URL, flag(tx.ViaMessage), s.node,
	).Text()
	if err != nil {
		return ctxErr(ctx, "beginning a transaction", err)
	}
	switch res {
	case "ok":
		return nil
	case "replay":
		return httpauth.ErrReplay
	case "overloaded":
		return httpauth.ErrOverloaded
	case "toomany":
		return httpauth.ErrTooManyPending
	}
	return fmt.Errorf("redisstore: beginning a transaction: unexpected reply %q", res)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// txFields are the fields Lookup reads, in this order.
var txFields = []string{"to", "bare", "id", "method", "url", "msg", "ans", "node", "exp"}

// transaction builds a Transaction from the values of txFields; ok is
// false when the transaction is unknown or decided.
func transaction(ref string, v []any) (tx httpauth.Transaction, ok bool) {
	str := func(i int) (string, bool) {
		s, ok := v[i].(string)
		return s, ok
	}
	if _, known := str(7); !known {
		return tx, false
	}
	if _, decided := str(6); decided {
		return tx, false
	}
	tx.Ref = ref
	tx.To, _ = str(0)
	tx.Bare, _ = str(1)
	tx.Confirm.ID, _ = str(2)
	tx.Confirm.Method, _ = str(3)
	tx.Confirm.URL, _ = str(4)
	msg, _ := str(5)
	tx.ViaMessage = msg == "1"
	if e, ok := str(8); ok {
		if n, err := strconv.ParseInt(e, 10, 64); err == nil {
			tx.Expires = time.UnixMilli(n)
		}
	}
	return tx, true
}

// Lookup implements httpauth.Store.
func (s *HTTPAuth) Lookup(ctx context.Context, ref string) (httpauth.Transaction, bool, error) {
	v, err := s.c.HMGet(ctx, s.txKey(ref), txFields...).Result()
	if err != nil {
		return httpauth.Transaction{}, false, ctxErr(ctx, "looking up a transaction", err)
	}
	tx, ok := transaction(ref, v)
	return tx, ok, nil
}

// LookupID implements httpauth.Store.
func (s *HTTPAuth) LookupID(ctx context.Context, bare, id string) (httpauth.Transaction, bool, error) {
	ref, err := s.c.Get(ctx, s.idKey(s.d.sum(domainID, bare, id))).Result()
	if errors.Is(err, redis.Nil) {
		return httpauth.Transaction{}, false, nil
	}
	if err != nil {
		return httpauth.Transaction{}, false, ctxErr(ctx, "looking up a transaction identifier", err)
	}
	tx, ok, err := s.Lookup(ctx, ref)
	if err != nil || !ok || tx.Bare != bare || tx.Confirm.ID != id {
		return httpauth.Transaction{}, false, err
	}
	return tx, true, nil
}

// PendingFor implements httpauth.Store: one round trip when the JID has
// nothing pending, two otherwise.
func (s *HTTPAuth) PendingFor(ctx context.Context, bare string) ([]httpauth.Transaction, error) {
	now := ms(s.o.Clock.Now())
	refs, err := s.c.ZRangeByScore(ctx, s.jidKey(bare), &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now, 10), Max: "+inf"}).Result()
	if err != nil {
		return nil, ctxErr(ctx, "listing the pending transactions of a JID", err)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	cmds := make([]*redis.SliceCmd, len(refs))
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ref := range refs {
			cmds[i] = p.HMGet(ctx, s.txKey(ref), txFields...)
		}
		return nil
	})
	if err != nil {
		return nil, ctxErr(ctx, "reading the pending transactions of a JID", err)
	}
	var txs []httpauth.Transaction
	for i, ref := range refs {
		if tx, ok := transaction(ref, cmds[i].Val()); ok && tx.Bare == bare {
			txs = append(txs, tx)
		}
	}
	return txs, nil
}

// resolveScript decides an undecided transaction and tells the node that
// waits for it.
//
// KEYS: tx. ARGV: answer, channel prefix, ref.
var resolveScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'node', 'ans', 'gen')
if not v[1] or v[2] then return 0 end
redis.call('HSET', KEYS[1], 'ans', ARGV[1])
redis.call('PUBLISH', ARGV[2] .. v[1], #ARGV[3] .. ' ' .. ARGV[3] .. (v[3] or '0') .. ' ' .. ARGV[1])
return 1`)

// Resolve implements httpauth.Store. The answer is stored in the
// transaction, which is what Wait reads, and published on the answer
// channel of the node that began it, which wakes that Wait.
func (s *HTTPAuth) Resolve(ctx context.Context, ref string, a httpauth.Answer) error {
	n, err := resolveScript.Run(ctx, s.c, []string{s.txKey(ref)}, encodeAnswer(a), s.answers, ref).Int()
	if err != nil {
		return ctxErr(ctx, "resolving a transaction", err)
	}
	if n == 0 {
		return httpauth.ErrNotPending
	}
	return nil
}

// reopenScript makes a decided transaction undecided again, under a new
// generation, so that an answer still in flight for the old one is not
// taken for the next.
//
// KEYS: tx. ARGV: bare, id, method, url, to, msg.
var reopenScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'node', 'bare', 'id', 'method', 'url')
if not v[1] or v[2] ~= ARGV[1] or v[3] ~= ARGV[2] or v[4] ~= ARGV[3] or v[5] ~= ARGV[4] then return 0 end
redis.call('HSET', KEYS[1], 'to', ARGV[5], 'msg', ARGV[6])
redis.call('HDEL', KEYS[1], 'ans')
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return 1`)

// Reopen implements httpauth.Store.
func (s *HTTPAuth) Reopen(ctx context.Context, tx httpauth.Transaction) error {
	n, err := reopenScript.Run(ctx, s.c, []string{s.txKey(tx.Ref)},
		tx.Bare, tx.Confirm.ID, tx.Confirm.Method, tx.Confirm.URL, tx.To, flag(tx.ViaMessage)).Int()
	if err != nil {
		return ctxErr(ctx, "reopening a transaction", err)
	}
	if n == 0 {
		return httpauth.ErrNotPending
	}
	return nil
}

// endScript removes a transaction and its indexes and refreshes its used
// identifier.
//
// KEYS: tx, txid, txjid, pending, used. ARGV: ref, bare, id, used member,
// used expiry, max used.
var endScript = redis.NewScript(luaLib + `
local v = redis.call('HMGET', KEYS[1], 'bare', 'id')
if v[1] and (v[1] ~= ARGV[2] or v[2] ~= ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if redis.call('DEL', KEYS[1]) == 1 then capadd(KEYS[5], ARGV[4], ARGV[5], tonumber(ARGV[6])) end
return 1`)

// End implements httpauth.Store.
func (s *HTTPAuth) End(ctx context.Context, tx httpauth.Transaction) error {
	id := s.d.sum(domainID, tx.Bare, tx.Confirm.ID)
	keys := []string{s.txKey(tx.Ref), s.idKey(id), s.jidKey(tx.Bare), s.pendingKey, s.usedKey}
	err := endScript.Run(ctx, s.c, keys,
		tx.Ref, tx.Bare, tx.Confirm.ID, string(id[:]), ms(s.o.Clock.Now().Add(s.o.UsedTTL)), s.o.MaxUsed).Err()
	return ctxErr(ctx, "ending a transaction", err)
}

// AddGrant implements httpauth.Store. Grants are not capped: each needs a
// confirmation by a user, and expires with the reuse window.
func (s *HTTPAuth) AddGrant(ctx context.Context, g httpauth.Grant) error {
	now := s.o.Clock.Now()
	key := s.grantKey(s.d.sum(domainID, g.Bare, g.ID))
	if !now.Before(g.Expires) {
		return ctxErr(ctx, "adding a grant", s.c.Del(ctx, key).Err())
	}
	_, err := s.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "bare", g.Bare, "id", g.ID, "entity", g.Entity, "url", g.URL, "exp", strconv.FormatInt(g.Expires.UnixNano(), 10))
		p.PExpire(ctx, key, ttlFrom(now, g.Expires))
		return nil
	})
	return ctxErr(ctx, "adding a grant", err)
}

// Grant implements httpauth.Store.
func (s *HTTPAuth) Grant(ctx context.Context, bare, id string) (httpauth.Grant, bool, error) {
	v, err := s.c.HMGet(ctx, s.grantKey(s.d.sum(domainID, bare, id)), "bare", "id", "entity", "url", "exp").Result()
	if err != nil {
		return httpauth.Grant{}, false, ctxErr(ctx, "looking up a grant", err)
	}
	var f [5]string
	for i := range f {
		var ok bool
		if f[i], ok = v[i].(string); !ok {
			return httpauth.Grant{}, false, nil
		}
	}
	exp, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || f[0] != bare || f[1] != id {
		return httpauth.Grant{}, false, nil
	}
	g := httpauth.Grant{Bare: f[0], ID: f[1], Entity: f[2], URL: f[3], Expires: time.Unix(0, exp)}
	if !s.o.Clock.Now().Before(g.Expires) {
		return httpauth.Grant{}, false, nil
	}
	return g, true, nil
}

// nonceScript records a Digest nonce count unless it is not larger than
// every count seen for the nonce.
//
// KEYS: nonces, nc. ARGV: member, count, expiry, now, max nonces.
var nonceScript = redis.NewScript(luaLib + `
local now = tonumber(ARGV[4])
local old = prune(KEYS[1], now)
if #old > 0 then redis.call('HDEL', KEYS[2], unpack(old)) end
if live(KEYS[1], ARGV[1], now) then
  local last = redis.call('HGET', KEYS[2], ARGV[1])
  if last and tonumber(last) >= tonumber(ARGV[2]) then return 0 end
end
capadd(KEYS[1], ARGV[1], ARGV[3], tonumber(ARGV[5]), KEYS[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`)

// UseNonce implements httpauth.Store.
func (s *HTTPAuth) UseNonce(ctx context.Context, nonce string, nc uint32, expires time.Time) error {
	sum := s.d.sum(domainDigest, nonce)
	n, err := nonceScript.Run(ctx, s.c, []string{s.noncesKey, s.countsKey},
		string(sum[:]), nc, ms(expires), ms(s.o.Clock.Now()), s.o.MaxNonces).Int()
	if err != nil {
		return ctxErr(ctx, "recording a Digest nonce count", err)
	}
	if n == 0 {
		return httpauth.ErrReplay
	}
	return nil
}

// Pending implements httpauth.Store: the transactions pending on every
// node.
func (s *HTTPAuth) Pending(ctx context.Context) (int, error) {
	now := ms(s.o.Clock.Now())
	n, err := s.c.ZCount(ctx, s.pendingKey, "("+strconv.FormatInt(now, 10), "+inf").Result()
	if err != nil {
		return 0, ctxErr(ctx, "counting pending transactions", err)
	}
	return int(n), nil
}

// Wait implements httpauth.Store. The waiter is registered before the
// transaction is read, so that an answer is either in the transaction
// already or arrives on this node's channel afterwards; answers published
// while the subscription was down are found again when it is restored.
// When the subscription is lost, every Wait on the node fails at once.
func (s *HTTPAuth) Wait(ctx context.Context, ref string) (httpauth.Answer, error) {
	w := &waiter{ch: make(chan delivery, 4)}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return httpauth.Answer{}, errClosed
	case s.waiters[ref] != nil:
		s.mu.Unlock()
		return httpauth.Answer{}, errWaiting
	}
	s.waiters[ref] = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.waiters[ref] == w {
			delete(s.waiters, ref)
		}
		s.mu.Unlock()
	}()

	v, err := s.c.HMGet(ctx, s.txKey(ref), "node", "ans", "gen").Result()
	if err != nil {
		return httpauth.Answer{}, ctxErr(ctx, "reading a transaction", err)
	}
	node, ok := v[0].(string)
	if !ok {
		return httpauth.Answer{}, httpauth.ErrNotPending
	}
	if node != s.node {
		return httpauth.Answer{}, errOtherNode
	}
	genStr, _ := v[2].(string)
	gen, _ := strconv.ParseInt(genStr, 10, 64)
	if ans, ok := v[1].(string); ok {
		return decodeAnswer(ans)
	}
	for {
		select {
		case d := <-w.ch:
			if d.err != nil {
				return httpauth.Answer{}, d.err
			}
			if d.gen == gen {
				return d.ans, nil
			}
		case <-ctx.Done():
			return httpauth.Answer{}, ctx.Err()
		}
	}
}

// encodeAnswer writes an Answer as "<result>:<condition>".
func encodeAnswer(a httpauth.Answer) string {
	return strconv.Itoa(int(a.Result)) + ":" + a.Condition
}

func decodeAnswer(s string) (httpauth.Answer, error) {
	r, cond, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(r, 10, 8)
	if !ok || err != nil || n == 0 {
		return httpauth.Answer{}, fmt.Errorf("redisstore: malformed answer %q", s)
	}
	return httpauth.Answer{Result: httpauth.AnswerResult(n), Condition: cond}, nil
}

// decodeMessage reads a message of an answer channel:
// "<len(ref)> <ref><gen> <answer>".
func decodeMessage(p string) (ref string, gen int64, a httpauth.Answer, err error) {
	l, rest, ok := strings.Cut(p, " ")
	n, nerr := strconv.Atoi(l)
	if !ok || nerr != nil || n < 0 || n > len(rest) {
		return "", 0, a, fmt.Errorf("redisstore: malformed answer message")
	}
	ref, rest = rest[:n], rest[n:]
	g, ans, ok := strings.Cut(rest, " ")
	if gen, err = strconv.ParseInt(g, 10, 64); !ok || err != nil {
		return "", 0, a, fmt.Errorf("redisstore: malformed answer message")
	}
	a, err = decodeAnswer(ans)
	return ref, gen, a, err
}
