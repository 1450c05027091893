package httpauth

import (
	"sync"
	"time"
)

// Transaction is one request waiting for the user's answer.
type Transaction struct {
	// Ref is the random reference of the confirmation request: the IQ id or
	// the message thread. Unique per transaction.
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
// grants and Digest nonce counts. Implementations must be safe for concurrent
// use. A shared implementation lets several HTTP front ends serve one
// XMPP side; [NewMemStore] is the in-memory default.
type Store interface {
	// Begin records a pending transaction. It returns ErrReplay when the
	// transaction identifier is pending or was used for the same bare JID,
	// ErrTooManyPending or ErrOverloaded when a limit is reached. The
	// channel receives the user's decision once (true = confirmed).
	Begin(tx Transaction) (<-chan bool, error)
	// Lookup returns the pending transaction with the given Ref.
	Lookup(ref string) (Transaction, bool)
	// LookupID returns the pending transaction of a bare JID and transaction
	// identifier.
	LookupID(bare, id string) (Transaction, bool)
	// Resolve delivers the decision for a pending transaction. It returns
	// ErrNotPending when the transaction is unknown or already decided.
	Resolve(ref string, confirmed bool) error
	// End removes a transaction (decided or not) and remembers its identifier
	// as used. It is safe to call for an unknown ref.
	End(ref string)
	// AddGrant stores a reusable confirmation.
	AddGrant(g Grant)
	// Grant returns the unexpired grant for a bare JID and identifier.
	Grant(bare, id string) (Grant, bool)
	// UseNonce records nonce count nc for a Digest nonce that stays valid
	// until expires; it returns ErrReplay unless nc is larger than every
	// count seen for that nonce.
	UseNonce(nonce string, nc uint32, expires time.Time) error
	// Pending returns the number of pending transactions.
	Pending() int
}

// MemStoreConfig sets the limits of a [MemStore]. Zero values take the
// defaults noted on each field.
type MemStoreConfig struct {
	MaxPending       int           `json:"max_pending,omitempty"`         // default 100000
	MaxPendingPerJID int           `json:"max_pending_per_jid,omitempty"` // default 5
	MaxUsed          int           `json:"max_used,omitempty"`            // remembered used ids, default 200000
	UsedTTL          time.Duration `json:"used_ttl,omitempty"`            // default 24h
	MaxGrants        int           `json:"max_grants,omitempty"`          // default 100000
	MaxNonces        int           `json:"max_nonces,omitempty"`          // default 200000
	// Now is the clock; nil means time.Now.
	Now func() time.Time `json:"-"`
}

type idKey struct{ bare, id string }

type memEntry struct {
	tx      Transaction
	ch      chan bool
	decided bool
}

type expiring[K comparable] struct {
	key K
	exp time.Time
}

// MemStore is the in-memory [Store]. Used identifiers, grants and nonce
// counts are kept in first-in first-out order and forgotten when they expire
// or, beyond their cap, oldest first.
type MemStore struct {
	cfg MemStoreConfig

	mu      sync.Mutex
	pending map[string]*memEntry
	byID    map[idKey]*memEntry
	perJID  map[string]int

	used  map[idKey]time.Time
	usedQ []expiring[idKey]

	grants  map[idKey]Grant
	grantsQ []expiring[idKey]

	nonces  map[string]uint32
	noncesQ []expiring[string]
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty in-memory store.
func NewMemStore(cfg MemStoreConfig) *MemStore {
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 100000
	}
	if cfg.MaxPendingPerJID <= 0 {
		cfg.MaxPendingPerJID = 5
	}
	if cfg.MaxUsed <= 0 {
		cfg.MaxUsed = 200000
	}
	if cfg.UsedTTL <= 0 {
		cfg.UsedTTL = 24 * time.Hour
	}
	if cfg.MaxGrants <= 0 {
		cfg.MaxGrants = 100000
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = 200000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemStore{
		cfg:     cfg,
		pending: make(map[string]*memEntry),
		byID:    make(map[idKey]*memEntry),
		perJID:  make(map[string]int),
		used:    make(map[idKey]time.Time),
		grants:  make(map[idKey]Grant),
		nonces:  make(map[string]uint32),
	}
}

// Begin implements Store.
func (s *MemStore) Begin(tx Transaction) (<-chan bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	s.pruneLocked(now)
	k := idKey{tx.Bare, tx.Confirm.ID}
	if _, ok := s.byID[k]; ok {
		return nil, ErrReplay
	}
	if _, ok := s.used[k]; ok {
		return nil, ErrReplay
	}
	if _, ok := s.pending[tx.Ref]; ok {
		return nil, ErrReplay
	}
	if len(s.pending) >= s.cfg.MaxPending {
		return nil, ErrOverloaded
	}
	if s.perJID[tx.Bare] >= s.cfg.MaxPendingPerJID {
		return nil, ErrTooManyPending
	}
	e := &memEntry{tx: tx, ch: make(chan bool, 1)}
	s.pending[tx.Ref] = e
	s.byID[k] = e
	s.perJID[tx.Bare]++
	return e.ch, nil
}

// Lookup implements Store.
func (s *MemStore) Lookup(ref string) (Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[ref]
	if !ok || e.decided {
		return Transaction{}, false
	}
	return e.tx, true
}

// LookupID implements Store.
func (s *MemStore) LookupID(bare, id string) (Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[idKey{bare, id}]
	if !ok || e.decided {
		return Transaction{}, false
	}
	return e.tx, true
}

// Resolve implements Store.
func (s *MemStore) Resolve(ref string, confirmed bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[ref]
	if !ok || e.decided {
		return ErrNotPending
	}
	e.decided = true
	e.ch <- confirmed
	return nil
}

// End implements Store.
func (s *MemStore) End(ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.pending[ref]
	if !ok {
		return
	}
	delete(s.pending, ref)
	k := idKey{e.tx.Bare, e.tx.Confirm.ID}
	delete(s.byID, k)
	if n := s.perJID[e.tx.Bare]; n <= 1 {
		delete(s.perJID, e.tx.Bare)
	} else {
		s.perJID[e.tx.Bare] = n - 1
	}
	now := s.cfg.Now()
	s.pruneLocked(now)
	exp := now.Add(s.cfg.UsedTTL)
	if _, ok := s.used[k]; !ok {
		s.usedQ = append(s.usedQ, expiring[idKey]{k, exp})
	}
	s.used[k] = exp
	for len(s.used) > s.cfg.MaxUsed && len(s.usedQ) > 0 {
		s.usedQ = popOldest(s.usedQ, s.used)
	}
}

// AddGrant implements Store.
func (s *MemStore) AddGrant(g Grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.cfg.Now())
	k := idKey{g.Bare, g.ID}
	if _, ok := s.grants[k]; !ok {
		s.grantsQ = append(s.grantsQ, expiring[idKey]{k, g.Expires})
	}
	s.grants[k] = g
	for len(s.grants) > s.cfg.MaxGrants && len(s.grantsQ) > 0 {
		s.grantsQ = popOldest(s.grantsQ, s.grants)
	}
}

// Grant implements Store.
func (s *MemStore) Grant(bare, id string) (Grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[idKey{bare, id}]
	if !ok || !s.cfg.Now().Before(g.Expires) {
		return Grant{}, false
	}
	return g, true
}

// UseNonce implements Store.
func (s *MemStore) UseNonce(nonce string, nc uint32, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruneLocked(s.cfg.Now())
	last, ok := s.nonces[nonce]
	if ok && nc <= last {
		return ErrReplay
	}
	if !ok {
		s.noncesQ = append(s.noncesQ, expiring[string]{nonce, expires})
	}
	s.nonces[nonce] = nc
	for len(s.nonces) > s.cfg.MaxNonces && len(s.noncesQ) > 0 {
		s.noncesQ = popOldest(s.noncesQ, s.nonces)
	}
	return nil
}

// Pending implements Store.
func (s *MemStore) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// pruneLocked forgets expired used identifiers, grants and nonces. Queues
// are in insertion order, which is expiry order for used identifiers and
// close to it for the others; an entry behind a longer-lived one waits.
func (s *MemStore) pruneLocked(now time.Time) {
	for len(s.usedQ) > 0 && !now.Before(s.usedQ[0].exp) {
		s.usedQ = popOldest(s.usedQ, s.used)
	}
	for len(s.grantsQ) > 0 && !now.Before(s.grantsQ[0].exp) {
		s.grantsQ = popOldest(s.grantsQ, s.grants)
	}
	for len(s.noncesQ) > 0 && !now.Before(s.noncesQ[0].exp) {
		s.noncesQ = popOldest(s.noncesQ, s.nonces)
	}
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
