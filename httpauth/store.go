package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

// Answer is how the XMPP side ended a pending transaction.
type Answer struct {
	// Result says what happened.
	Result AnswerResult
	// Condition is the stanza error condition of an error answer, such as
	// "not-authorized" or "feature-not-implemented"; empty otherwise.
	Condition string
}

// AnswerResult is what an Answer says.
type AnswerResult uint8

// The results of an Answer.
const (
	// AnswerConfirmed: the user confirmed the request.
	AnswerConfirmed AnswerResult = iota + 1
	// AnswerDenied: the user refused it (an error not-authorized, forbidden or
	// not-allowed, or an error without a condition).
	AnswerDenied
	// AnswerCouldNotAnswer: the client answered with any other error, such as
	// feature-not-implemented or service-unavailable (clients without
	// XEP-0070), or the server bounced the request.
	AnswerCouldNotAnswer
	// AnswerSessionEnded: the session the request was sent to ended first (see
	// Verifier.SessionEnded).
	AnswerSessionEnded
)

// Transaction is one request waiting for the user's answer.
type Transaction struct {
	// Ref is the random reference of the confirmation request: the IQ id or
	// the message thread. Unique per transaction; the Verifier makes it of
	// 24 lowercase hexadecimal digits.
	Ref string
	// To is the JID the confirmation request was sent to: a full JID (IQ) or
	// a bare JID (message).
	To string
	// Bare is To's bare JID; transaction identifiers are unique per bare JID.
	Bare string
	// Confirm carries the transaction identifier, method and URL.
	Confirm Confirm
	// ViaMessage is true when the request was sent as a message.
	ViaMessage bool
	// Expires is when the Verifier stops waiting for the answer (it calls
	// End then at the latest). A networked store may forget the
	// transaction a little after it, so that one left behind by a node
	// that crashed does not count against the limits for ever; MemStore
	// ignores it.
	Expires time.Time
}

// Grant is a reusable confirmation obtained with HEAD or OPTIONS.
type Grant struct {
	Bare    string    // bare JID the confirmation came from
	ID      string    // transaction identifier
	Entity  string    // who may reuse it (see Config.EntityKey)
	URL     string    // the confirmed URL
	Expires time.Time // end of the reuse window
}

// Store keeps pending transactions, used transaction identifiers, reusable
// grants and Digest nonce counts, and carries each answer from the node
// whose [Verifier.HandleStanza] accepted it to the node whose HTTP request
// waits for it. [NewMemStore] is the in-memory default for one process; a
// networked implementation (such as the redisstore module) lets several
// front ends serve one domain. Implementations must be safe for concurrent
// use.
//
// Every method takes a context and returns an error. An error other than
// the sentinel errors documented on a method (ErrReplay, ErrTooManyPending,
// ErrOverloaded, ErrNotPending) is a failure of the store: the Verifier
// fails closed on it (the HTTP request gets 503, Reason StoreUnavailable;
// an answer stanza is dropped and logged). A networked store returns
// promptly when its backend is unreachable and when ctx ends, and recovers
// by itself when the backend is back.
//
// How an answer travels: the Verifier calls Begin, sends the request, and
// calls Wait on the same Store value; HandleStanza (on any node sharing the
// store) finds the transaction with Lookup, LookupID or PendingFor and
// calls Resolve, which wakes that Wait. A store must deliver an answer
// given to Resolve before Wait was called (Wait then returns at once).
type Store interface {
	// Begin records a pending, undecided transaction. It returns ErrReplay
	// when the transaction identifier is pending or was used for the same
	// bare JID (or the Ref is taken), ErrTooManyPending or ErrOverloaded
	// when a limit is reached.
	Begin(ctx context.Context, tx Transaction) error
	// Wait returns the answer that decided the transaction: the one given to
	// Resolve, on any node, since Begin or the last Reopen. It blocks until
	// there is one or ctx ends (then it returns ctx's error). It returns
	// ErrNotPending when the transaction is unknown. Only the Store value
	// that began the transaction waits for it, one Wait at a time.
	Wait(ctx context.Context, ref string) (Answer, error)
	// Lookup returns the undecided pending transaction with the given Ref;
	// ok is false when there is none.
	Lookup(ctx context.Context, ref string) (tx Transaction, ok bool, err error)
	// LookupID returns the undecided pending transaction of a bare JID and
	// transaction identifier; ok is false when there is none.
	LookupID(ctx context.Context, bare, id string) (tx Transaction, ok bool, err error)
	// PendingFor returns the undecided pending transactions of a bare JID;
	// nil (without allocating) when there are none.
	PendingFor(ctx context.Context, bare string) ([]Transaction, error)
	// Resolve decides a pending transaction with an answer and wakes its
	// Wait. It returns ErrNotPending when the transaction is unknown or
	// already decided.
	Resolve(ctx context.Context, ref string, a Answer) error
	// Reopen makes a decided transaction undecided again, replaced by tx
	// (same Ref, Bare and Confirm; e.g. now sent as a message), so that
	// the next Resolve decides it again and the next Wait returns that
	// answer. It returns ErrNotPending when the transaction is unknown or
	// tx does not match it.
	Reopen(ctx context.Context, tx Transaction) error
	// End removes a transaction (decided or not) and remembers its
	// identifier as used. It is safe to call for an unknown transaction.
	End(ctx context.Context, tx Transaction) error
	// AddGrant stores a reusable confirmation.
	AddGrant(ctx context.Context, g Grant) error
	// Grant returns the unexpired grant for a bare JID and identifier; ok
	// is false when there is none.
	Grant(ctx context.Context, bare, id string) (g Grant, ok bool, err error)
	// UseNonce records nonce count nc for a Digest nonce that stays valid
	// until expires; it returns ErrReplay unless nc is larger than every
	// count seen for that nonce.
	UseNonce(ctx context.Context, nonce string, nc uint32, expires time.Time) error
	// Pending returns the number of pending transactions in the store (on
	// every node sharing it).
	Pending(ctx context.Context) (int, error)
}

// MemStoreConfig sets the limits of a [MemStore]. Zero values take the
// defaults noted on each field.
type MemStoreConfig struct {
	MaxPending       int             `json:"max_pending,omitempty"`         // default DefaultMaxPending
	MaxPendingPerJID int             `json:"max_pending_per_jid,omitempty"` // default DefaultMaxPendingPerJID
	MaxUsed          int             `json:"max_used,omitempty"`            // remembered used ids, default DefaultMaxUsed
	UsedTTL          config.Duration `json:"used_ttl,omitempty"`            // default DefaultUsedTTL
	MaxGrants        int             `json:"max_grants,omitempty"`          // default DefaultMaxGrants
	MaxNonces        int             `json:"max_nonces,omitempty"`          // default DefaultMaxNonces
	// UsedKey keys the digests by which used transaction identifiers are
	// remembered (see MemStore); nil means 32 random bytes, which is right
	// for one process.
	UsedKey []byte `json:"-"`
	// Clock is the time source; nil means the system clock.
	Clock config.Clock `json:"-"`
}

type idKey struct{ bare, id string }

// usedKey is how a used transaction identifier is remembered: the first 16
// bytes of HMAC-SHA-256(UsedKey, bare JID ‖ 0 ‖ id). It is of fixed size
// whatever the client sent, and without the key it cannot be tested
// against a list of likely identifiers.
type usedKey [16]byte

type memEntry struct {
	tx      Transaction
	ch      chan Answer
	decided bool
}

type expiring[K comparable] struct {
	key K
	exp int64 // Unix nanoseconds
}

// MemStore is the in-memory [Store] for one process. Used identifiers,
// grants and nonce counts are kept in first-in first-out order and
// forgotten when they expire or, beyond their cap, oldest first. Its
// methods never block (except Wait, until the answer or ctx's end) and
// never fail except with the sentinel errors Store documents, so the
// Verifier gives them no deadline. A used identifier takes about 70 bytes
// however long the JID and identifier were (see usedKey): 200000 of them,
// the default cap, about 14 MB.
type MemStore struct {
	cfg   MemStoreConfig
	clock config.Clock

	mu      sync.Mutex
	pending map[string]*memEntry
	byID    map[idKey]*memEntry
	perJID  map[string][]*memEntry

	mac   hash.Hash         // HMAC-SHA-256 under UsedKey; guarded by mu
	used  map[usedKey]int64 // → expiry, Unix nanoseconds
	usedQ []expiring[usedKey]

	grants  map[idKey]Grant
	grantsQ []expiring[idKey]

	nonces  map[string]uint32
	noncesQ []expiring[string]
}

var _ Store = (*MemStore)(nil)

// The default limits of a Store: MemStoreConfig's, and those of the
// shared stores (redisstore) for all nodes together.
const (
	DefaultMaxPending       = 100000
	DefaultMaxPendingPerJID = 5
	DefaultMaxUsed          = 200000
	DefaultUsedTTL          = 24 * time.Hour
	DefaultMaxGrants        = 100000
	DefaultMaxNonces        = 200000
)

// NewMemStore returns an empty in-memory store.
func NewMemStore(cfg MemStoreConfig) *MemStore {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxPendingPerJID <= 0 {
		cfg.MaxPendingPerJID = DefaultMaxPendingPerJID
	}
	if cfg.MaxUsed <= 0 {
		cfg.MaxUsed = DefaultMaxUsed
	}
	if cfg.UsedTTL <= 0 {
		cfg.UsedTTL = config.Duration(DefaultUsedTTL)
	}
	if cfg.MaxGrants <= 0 {
		cfg.MaxGrants = DefaultMaxGrants
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	key := cfg.UsedKey
	if key == nil {
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand)
	}
	return &MemStore{
		cfg:     cfg,
		clock:   config.ClockOr(cfg.Clock),
		pending: make(map[string]*memEntry),
		byID:    make(map[idKey]*memEntry),
		perJID:  make(map[string][]*memEntry),
		mac:     hmac.New(sha256.New, key),
		used:    make(map[usedKey]int64),
		grants:  make(map[idKey]Grant),
		nonces:  make(map[string]uint32),
	}
}

// Begin implements Store.
func (s *MemStore) Begin(_ context.Context, tx Transaction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.pruneLocked(now)
	k := idKey{tx.Bare, tx.Confirm.ID}
	if _, ok := s.byID[k]; ok {
		return ErrReplay
	}
	if _, ok := s.used[s.usedKeyLocked(k)]; ok {
		return ErrReplay
	}
	if _, ok := s.pending[tx.Ref]; ok {
		return ErrReplay
	}
	if len(s.pending) >= s.cfg.MaxPending {
		return ErrOverloaded
	}
	if len(s.perJID[tx.Bare]) >= s.cfg.MaxPendingPerJID {
		return ErrTooManyPending
	}
	tx = cloneTransaction(tx)
	k = idKey{tx.Bare, tx.Confirm.ID}
	e := &memEntry{tx: tx, ch: make(chan Answer, 1)}
	s.pending[tx.Ref] = e
	s.byID[k] = e
	s.perJID[tx.Bare] = append(s.perJID[tx.Bare], e)
	return nil
}

// Wait implements Store. It fails only with ErrNotPending and ctx's error.
func (s *MemStore) Wait(ctx context.Context, ref string) (Answer, error) {
	s.mu.Lock()
	e, ok := s.pending[ref]
	s.mu.Unlock()
	if !ok {
		return Answer{}, ErrNotPending
	}
	select {
	case a := <-e.ch:
		return a, nil
	case <-ctx.Done():
		return Answer{}, ctx.Err()
	}
}

// Lookup implements Store. It never fails.
func (s *MemStore) Lookup(_ context.Context, ref string) (Transaction, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[ref]
	if !ok || e.decided {
		return Transaction{}, false, nil
	}
	return e.tx, true, nil
}

// LookupID implements Store. It never fails.
func (s *MemStore) LookupID(_ context.Context, bare, id string) (Transaction, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[idKey{bare, id}]
	if !ok || e.decided {
		return Transaction{}, false, nil
	}
	return e.tx, true, nil
}

// PendingFor implements Store. It never fails.
func (s *MemStore) PendingFor(_ context.Context, bare string) ([]Transaction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var txs []Transaction
	for _, e := range s.perJID[bare] {
		if !e.decided {
			txs = append(txs, e.tx)
		}
	}
	return txs, nil
}

// Resolve implements Store.
func (s *MemStore) Resolve(_ context.Context, ref string, a Answer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[ref]
	if !ok || e.decided {
		return ErrNotPending
	}
	e.decided = true
	a.Condition = strings.Clone(a.Condition)
	select {
	case e.ch <- a:
	default: // Cannot happen: Reopen empties the channel.
	}
	return nil
}

// Reopen implements Store.
func (s *MemStore) Reopen(_ context.Context, tx Transaction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[tx.Ref]
	if !ok || tx.Bare != e.tx.Bare || tx.Confirm != e.tx.Confirm {
		return ErrNotPending
	}
	e.tx = cloneTransaction(tx)
	e.decided = false
	select {
	case <-e.ch: // an answer nobody waited for
	default:
	}
	return nil
}

// End implements Store. It never fails.
func (s *MemStore) End(_ context.Context, tx Transaction) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[tx.Ref]
	if !ok {
		return nil
	}
	delete(s.pending, tx.Ref)
	k := idKey{e.tx.Bare, e.tx.Confirm.ID}
	delete(s.byID, k)
	if rest := slices.DeleteFunc(s.perJID[e.tx.Bare], func(o *memEntry) bool { return o == e }); len(rest) == 0 {
		delete(s.perJID, e.tx.Bare)
	} else {
		s.perJID[e.tx.Bare] = rest
	}
	now := s.clock.Now()
	s.pruneLocked(now)
	exp := now.Add(s.cfg.UsedTTL.D()).UnixNano()
	uk := s.usedKeyLocked(k)
	if _, ok := s.used[uk]; !ok {
		s.usedQ = append(s.usedQ, expiring[usedKey]{uk, exp})
	}
	s.used[uk] = exp
	for len(s.used) > s.cfg.MaxUsed && len(s.usedQ) > 0 {
		s.usedQ = popOldest(s.usedQ, s.used)
	}
	return nil
}

// AddGrant implements Store. It never fails.
func (s *MemStore) AddGrant(_ context.Context, g Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.clock.Now())
	g.Bare, g.ID, g.Entity, g.URL = strings.Clone(g.Bare), strings.Clone(g.ID), strings.Clone(g.Entity), strings.Clone(g.URL)
	k := idKey{g.Bare, g.ID}
	if _, ok := s.grants[k]; !ok {
		s.grantsQ = append(s.grantsQ, expiring[idKey]{k, g.Expires.UnixNano()})
	}
	s.grants[k] = g
	for len(s.grants) > s.cfg.MaxGrants && len(s.grantsQ) > 0 {
		s.grantsQ = popOldest(s.grantsQ, s.grants)
	}
	return nil
}

// Grant implements Store. It never fails.
func (s *MemStore) Grant(_ context.Context, bare, id string) (Grant, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[idKey{bare, id}]
	if !ok || !s.clock.Now().Before(g.Expires) {
		return Grant{}, false, nil
	}
	return g, true, nil
}

// UseNonce implements Store.
func (s *MemStore) UseNonce(_ context.Context, nonce string, nc uint32, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.clock.Now())
	last, ok := s.nonces[nonce]
	if ok && nc <= last {
		return ErrReplay
	}
	if !ok {
		nonce = strings.Clone(nonce)
		s.noncesQ = append(s.noncesQ, expiring[string]{nonce, expires.UnixNano()})
	}
	s.nonces[nonce] = nc
	for len(s.nonces) > s.cfg.MaxNonces && len(s.noncesQ) > 0 {
		s.noncesQ = popOldest(s.noncesQ, s.nonces)
	}
	return nil
}

// Pending implements Store. It never fails.
func (s *MemStore) Pending(context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending), nil
}

// pruneLocked forgets expired used identifiers, grants and nonces. Queues
// are in insertion order, which is expiry order for used identifiers and
// close to it for the others; an entry behind a longer-lived one waits.
func (s *MemStore) pruneLocked(t time.Time) {
	now := t.UnixNano()
	for len(s.usedQ) > 0 && now >= s.usedQ[0].exp {
		s.usedQ = popOldest(s.usedQ, s.used)
	}
	for len(s.grantsQ) > 0 && now >= s.grantsQ[0].exp {
		s.grantsQ = popOldest(s.grantsQ, s.grants)
	}
	for len(s.noncesQ) > 0 && now >= s.noncesQ[0].exp {
		s.noncesQ = popOldest(s.noncesQ, s.nonces)
	}
}

// usedKeyLocked returns the digest by which a used identifier is
// remembered.
func (s *MemStore) usedKeyLocked(k idKey) usedKey {
	s.mac.Reset()
	s.mac.Write([]byte(k.bare))
	s.mac.Write([]byte{0})
	s.mac.Write([]byte(k.id))
	var sum [sha256.Size]byte
	var uk usedKey
	copy(uk[:], s.mac.Sum(sum[:0]))
	return uk
}

// cloneTransaction copies the strings of tx, so that a pending transaction
// does not keep alive the decoded Authorization header (up to 8 KiB) its
// identifier and JID were cut from.
func cloneTransaction(tx Transaction) Transaction {
	tx.Ref, tx.To, tx.Bare = strings.Clone(tx.Ref), strings.Clone(tx.To), strings.Clone(tx.Bare)
	tx.Confirm.ID, tx.Confirm.Method, tx.Confirm.URL = strings.Clone(tx.Confirm.ID), strings.Clone(tx.Confirm.Method), strings.Clone(tx.Confirm.URL)
	return tx
}

func popOldest[K comparable, V any](q []expiring[K], m map[K]V) []expiring[K] {
	if len(q) == 0 {
		return q
	}
	delete(m, q[0].key)
	q[0] = expiring[K]{}
	q = q[1:]
	if cap(q) > 64 && len(q) < cap(q)/4 {
		q = append([]expiring[K](nil), q...)
	}
	return q
}
