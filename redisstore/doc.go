// Package redisstore keeps the ephemeral state of xmppauth in Redis, so
// that several servers can serve one domain: the XEP-0070 transactions of
// package httpauth (HTTP Authentication via XMPP), the XEP-0235 nonces of
// package oauth (OAuth Over XMPP) and the failed-login counters of package
// throttle. It implements no protocol itself; it implements httpauth.Store,
// oauth.NonceStore and throttle.Store with go-redis.
//
//	rdb := redis.NewClient(redisstore.ClientOptions("10.0.0.5:6379"))
//	st, err := redisstore.New(rdb, redisstore.Options{Key: sharedKey})
//	...
//	defer st.Close()
//	cfg.HTTPAuth.Store = st.HTTPAuth // with the same NonceKey on every node
//	cfg.OAuth.Nonces = st.Nonces
//	throttleCfg.Store = st.Counters
//
// # What is shared, and how
//
// Without it, a replay on node B of what node A accepted succeeds, and a
// confirmation answered through node B never reaches the HTTP request
// waiting on node A. With it:
//
//   - an XEP-0235 nonce is checked and recorded with one SET NX PX: the
//     first node to record it wins, every other node sees a replay;
//   - an XEP-0070 transaction is begun, looked up, decided, reopened and
//     ended by Lua scripts, each one atomic step: the replay check of the
//     transaction identifier, the per-JID and global caps and the record
//     cannot interleave between nodes;
//   - a Digest nonce count is accepted only when larger than every count
//     any node saw for that nonce (one script);
//   - the answer: the HTTP request waits on the node that received it
//     (Store.Wait); the answer stanza may reach any node, whose Resolve
//     stores the answer in the transaction and publishes it on the answer
//     channel of the waiting node (Redis Pub/Sub). Wait registers before it
//     reads the transaction, so an answer given before Wait subscribed is
//     found there; one published while the node's subscription was down
//     is found when it is restored. A generation counter in the
//     transaction keeps an answer to the IQ form from being taken for the
//     answer to the message form sent after it;
//   - the login limiter's counters are INCR with PEXPIRE (one script), GET
//     and DEL, so failures on any node count on all.
//
// # Keys
//
// Every name starts with Options.Prefix (P, default "xmppauth:"). JIDs,
// transaction identifiers and nonces appear only as keyed digests: the
// first 16 bytes of HMAC-SHA-256 under Options.Key (hex in key names, raw
// in set members).
//
//	P oauth:<digest(consumer key, token, nonce)>  string "1"  PX: end of the timestamp window
//	P throttle:<key>                              string count  PX: throttle lifetime, renewed by each failure
//	P tx:<ref>                                    hash: to, bare, id, method, url, msg, node, gen, exp, ans
//	                                              PX: Transaction.Expires + PendingGrace
//	P txid:<digest(bare JID, id)>                 string ref   PX: as the transaction
//	P txjid:<digest(bare JID)>                    zset ref → expiry (ms)  PX: the longest of its transactions
//	P pending                                     zset ref → expiry (ms): the global cap and Pending
//	P used                                        zset digest(bare JID, id) → expiry (ms): used identifiers,
//	                                              at most MaxUsed (the soonest to expire go first), UsedTTL
//	P grant:<digest(bare JID, id)>                hash: bare, id, entity, url, exp  PX: end of the reuse window
//	P nonces                                      zset digest(Digest nonce) → expiry (ms), at most MaxNonces
//	P nc                                          hash digest(Digest nonce) → last nonce count
//	P answers:<node>                              Pub/Sub channel of one node's waiting requests
//
// Expiry checks use the stores' clock (Options.Clock), expiry times in the
// sorted sets and hashes; Redis's own key expiry (PX) follows with a margin
// and frees the memory. The sorted sets are pruned a bounded number of
// members at a time by the scripts that write them. Memory is bounded by
// the caps (MaxPending transactions of at most a few KiB each, MaxUsed and
// MaxNonces members of about 100 bytes), except for three kinds of keys
// that expire instead: grants (each needs a user's confirmation, and lasts
// the reuse window), XEP-0235 nonces (only requests with a valid signature
// reach the store; the timestamp window) and login counters (one per
// address and per account name tried; the throttle lifetime). Set
// maxmemory with the noeviction policy, sized for a flood of login
// attempts: an evicting policy could forget a used nonce or a counter.
// With noeviction a full Redis refuses writes: XEP-0235 then fails closed
// (oauth.ErrNonceStoreFull), XEP-0070 requests get 503, but the login
// limiter's reads still work while its increments fail, so failed logins
// stop counting; alert on used_memory.
//
// # Outages
//
// Every call is bounded by its context, and by the client's timeouts:
// build the client with [ClientOptions] (or set the same fields: dial and
// read within a second, one dial attempt, one retry, ContextTimeoutEnabled
// so that a context deadline bounds network reads too). While Redis is
// down every call fails fast with the client's error (a refused
// connection fails at once; go-redis then refuses new dials without
// trying, and probes the server once a second), the callers fail closed
// (httpauth: 503 and a log line; oauth: internal-server-error; throttle:
// the login is refused with temporary-auth-failure), and when Redis is
// back the same client works again within about a second: nothing needs
// rebuilding. The answer subscription is a long-lived connection of its
// own: when it is lost, every request waiting on the node fails at once
// (rather than at its timeout), a line is logged, and it is re-established
// with a backoff up to a second. A Redis that hangs is detected by the
// client's read timeout, and on the subscription by a ping after five
// seconds of silence.
//
// Restarting Redis without persistence forgets the used identifiers and
// nonces: replays of what was accepted before the restart are then
// possible within the nonces' windows. Use an append-only file
// (appendonly yes) where that matters.
//
// # Left out
//
//   - Redis Cluster sharding of this data: on Cluster, set Prefix to a
//     hash tag (such as "{xmppauth}:") so that every key is in one slot,
//     as the multi-key scripts require; the data is small. Sharded Pub/Sub
//     (SSUBSCRIBE) is not used.
//   - Redis Streams for the answers: Pub/Sub loses nothing here, since the
//     answer is stored in the transaction and read again after a
//     reconnection.
//   - A cap on grants, and on the per-key data of oauth and throttle (see
//     above).
//   - Sharing the in-process parts: each node keeps its own prompt rate
//     limits (httpauth JIDRate, ClientRate) and its own cache of reusable
//     Basic credentials, which only ever serves grants that are in Redis
//     too.
package redisstore // import "github.com/xmppauth/xmppauth/redisstore"
