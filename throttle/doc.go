// Package throttle limits password guessing across streams: a login limiter
// in the manner of ejabberd's mod_fail2ban, for the SASL layer of an XMPP
// server.
//
// No RFC or XEP specifies it. RFC 6120 §6.4.5 bounds the retries within one
// stream only, so a client that opens a new stream for every guess is not
// slowed at all; this package keeps counters that outlive streams. Refusals
// are meant to be answered with the SASL condition <temporary-auth-failure/>
// (RFC 6120 §6.5.11); that conversion is the caller's.
//
// # Two counters per attempt
//
// Per remote address ([AddrKey]): IPv4 addresses by /32, IPv6 addresses by
// /64 (one customer's network, which an attacker can rotate through freely),
// and an IPv4-mapped IPv6 address as its IPv4 address. After
// [Config].MaxFailures failed logins (default 20, as in ejabberd) the address
// is banned: [Limiter.Check] returns [ErrBanned] before any password is
// checked, until the counter expires. Loopback addresses are counted like any
// other. An address that is not an IP address (a Unix socket, net.Pipe, a
// string that does not parse) is one bucket per Network() and String() pair,
// so every client that reaches the server through a local proxy shares one
// bucket and one attacker behind it bans them all: a host behind a proxy must
// pass the client's own address (for example from the PROXY protocol) as the
// net.Addr.
//
// Per account ([AccountKey]): the normalised name the client tried, whether or
// not such an account exists; the limiter is never told. The account counter
// never refuses, so an attacker elsewhere cannot lock the owner out: it only
// delays. The first [Config].FreeAttempts failures (default 5) cost nothing;
// after that every attempt on the account waits [Config].BaseDelay (250ms),
// doubling with each further failure up to [Config].MaxDelay (8s): 250ms,
// 500ms, 1s, 2s, 4s, 8s, 8s, .... The delay applies to every attempt while the
// counter lives, right password or wrong, so a correct guess cannot be told
// apart early by timing, and a right password still succeeds after its delay.
// A successful login resets the account's counter, not the address's: an
// attacker who owns one account must not be able to launder guesses at others
// by logging in to it between them.
//
// # Decay
//
// A counter is a count with an expiry that every failure pushes out to
// [Config].Lifetime (default 1h, ejabberd's c2s_auth_ban_lifetime) from now;
// when no failure has been recorded for a whole lifetime it is gone. This is
// what ejabberd does, it is one atomic INCR plus PEXPIRE in Redis, and it is
// stricter than a window: guesses spaced just under a lifetime apart still
// add up, and a ban lasts a lifetime from the last failure. A fixed window
// would let 2×MaxFailures through around a window boundary, and a sliding
// window needs a list of timestamps per key.
//
// # Storage
//
// Counters live in a [Store]. The default [MemoryStore] is per process and
// bounded ([Config].MaxEntries, default 100,000 keys): when full it evicts the
// counter that expires soonest, so a flood of random names from many
// addresses costs bounded memory, at the price of shortening the oldest bans
// and delays. The cap is a memory bound, not a security boundary; a cluster
// shares a networked Store (a Redis implementation: INCR+PEXPIRE in a MULTI or
// a two-line Lua script, GET, DEL). Keys are ASCII without spaces: account
// names are hashed, so their length and bytes never reach the store.
//
// A store error is returned, never swallowed: [Limiter.Check] fails closed
// and the caller refuses the login with <temporary-auth-failure/> and a log
// line, because a limiter that fails open lets an attacker switch it off by
// overloading the store. [Limiter.Failed] and [Limiter.Succeeded] errors only
// need logging: while the store is down, Check refuses every attempt anyway.
//
// # What the operator sees
//
// The limiter logs nothing itself. [Limiter.Failed] reports true exactly once
// per ban, when a failure crosses the threshold; the caller logs one INFO
// line "banned" with the address and its key. The SASL layer logs every
// failed login with the remote address, so a fail2ban filter matching that
// line can also ban the address at the firewall. A Redis key can be deleted
// to lift a ban early (DEL addr:192.0.2.7/32).
//
// # Left out
//
//   - Parallel guesses: the account delay is per attempt, so N connections
//     guessing one account at once each wait and the rate is N per delay; the
//     address ban bounds how many such connections one network can afford.
//   - Wider IPv6 aggregation (/56, /48) and configurable prefix lengths.
//   - Allow lists, exemptions for loopback, and an unban call.
//   - Persistence: the memory store forgets everything on restart.
package throttle
