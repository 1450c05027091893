package throttle

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

// Store holds expiring counters. Keys are ASCII without spaces or control
// characters, at most 64 bytes. Implementations must be safe for concurrent
// use; a networked one returns ctx's error when ctx ends first.
//
// A Redis implementation maps Incr to INCR and PEXPIRE in one MULTI (or a
// Lua script), Get to GET (nil is 0) and Delete to DEL.
type Store interface {
	// Incr adds one to the counter at key, creating it at zero if it is
	// absent or expired, sets its expiry to ttl from now, and returns the
	// new count. The increment and the expiry are one atomic step. ttl is
	// at least one second.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Get returns the counter at key, or 0 if it is absent or expired.
	Get(ctx context.Context, key string) (int64, error)
	// Delete removes the counter at key; deleting an absent key is not an
	// error.
	Delete(ctx context.Context, key string) error
}

// Clock is a time source: config.Clock.
type Clock = config.Clock

var errTTL = errors.New("throttle: counter ttl must be positive")

// MemoryStore is a [Store] in process memory that holds at most a fixed number
// of counters. When it is full, a new counter evicts the one that expires
// soonest (an expired one first), which, since every counter of a Limiter has
// the same lifetime, is the one whose last failure is the oldest.
type MemoryStore struct {
	clock Clock
	max   int

	mu      sync.Mutex
	entries map[string]*memEntry
	byExp   expHeap
}

type memEntry struct {
	key   string
	count int64
	exp   time.Time
	index int // in MemoryStore.byExp
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore that holds at most maxEntries
// counters (DefaultMaxEntries if maxEntries ≤ 0) and reads the time from
// clock (the system clock if nil).
func NewMemoryStore(maxEntries int, clock Clock) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &MemoryStore{clock: config.ClockOr(clock), max: maxEntries, entries: make(map[string]*memEntry)}
}

// Incr implements [Store].
func (m *MemoryStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if ttl <= 0 {
		return 0, errTTL
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		if e.exp.After(now) {
			e.count++
		} else {
			e.count = 1
		}
		e.exp = now.Add(ttl)
		heap.Fix(&m.byExp, e.index)
		return e.count, nil
	}
	// Expired counters go first, whether or not the store is full, so that
	// memory follows the live counters.
	for len(m.byExp) > 0 && (!m.byExp[0].exp.After(now) || len(m.byExp) >= m.max) {
		delete(m.entries, heap.Pop(&m.byExp).(*memEntry).key)
	}
	e := &memEntry{key: key, count: 1, exp: now.Add(ttl)}
	m.entries[key] = e
	heap.Push(&m.byExp, e)
	return 1, nil
}

// Get implements [Store].
func (m *MemoryStore) Get(ctx context.Context, key string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok {
		return 0, nil
	}
	if !e.exp.After(now) {
		m.remove(e)
		return 0, nil
	}
	return e.count, nil
}

// Delete implements [Store].
func (m *MemoryStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[key]; ok {
		m.remove(e)
	}
	return nil
}

// Len returns the number of counters held, including expired ones not yet
// dropped; it never exceeds the store's capacity.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func (m *MemoryStore) remove(e *memEntry) {
	heap.Remove(&m.byExp, e.index)
	delete(m.entries, e.key)
}

// expHeap orders entries by expiry, soonest first.
type expHeap []*memEntry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *expHeap) Push(x any) {
	e := x.(*memEntry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
