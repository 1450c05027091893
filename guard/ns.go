package guard

// Namespace prefix bindings in scope, for resolving prefixes.
//
// Prefixes and URIs are kept as 64-bit keyed hashes (hash/maphash), never
// as text, so that the memory a peer can make a guard hold is 24 bytes per
// binding in scope (at most Limits.MaxDepth × Limits.MaxNamespaces). Equal
// strings always have equal hashes, so no duplicate attribute is missed; a
// collision of two different strings (which would make a guard refuse a
// valid stream, or resolve a prefix to the wrong hash) needs a collision of
// a keyed hash with a per-process random key, which a peer cannot aim for.
// Decisions that depend on which namespace a name is in (stream header,
// STARTTLS, the reserved xml and xmlns namespaces) use exact comparisons,
// kept as bits (isStreams, isTLS, ...).

type binding struct {
	prefix, uri uint64
	known       uint8 // what the URI is (isStreams, ...)
	prev        int32 // the binding of the same prefix it shadows, or -1
}

// nsScope is a stack of bindings with an open-addressing index (linear
// probing, backward-shift deletion) from prefix to its innermost binding,
// so that a lookup costs O(1) however many bindings are in scope.
type nsScope struct {
	stack []binding
	slots []int32 // index into stack, or -1; len is a power of two
	used  int
}

func (s *nsScope) lookup(prefix uint64) int32 {
	if s.used == 0 {
		return -1
	}
	mask := uint64(len(s.slots) - 1)
	for i := prefix & mask; ; i = (i + 1) & mask {
		j := s.slots[i]
		if j < 0 {
			return -1
		}
		if s.stack[j].prefix == prefix {
			return j
		}
	}
}

// slot returns the slot index holding prefix, or -1.
func (s *nsScope) slot(prefix uint64) int {
	mask := uint64(len(s.slots) - 1)
	for i := prefix & mask; ; i = (i + 1) & mask {
		j := s.slots[i]
		if j < 0 {
			return -1
		}
		if s.stack[j].prefix == prefix {
			return int(i)
		}
	}
}

func (s *nsScope) push(b binding) {
	idx := int32(len(s.stack))
	if s.used > 0 {
		if i := s.slot(b.prefix); i >= 0 {
			b.prev = s.slots[i]
			s.stack = append(s.stack, b)
			s.slots[i] = idx
			return
		}
	}
	b.prev = -1
	s.stack = append(s.stack, b)
	if (s.used+1)*2 > len(s.slots) {
		s.grow()
	}
	s.insert(b.prefix, idx)
	s.used++
}

func (s *nsScope) insert(prefix uint64, idx int32) {
	mask := uint64(len(s.slots) - 1)
	i := prefix & mask
	for s.slots[i] >= 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = idx
}

func (s *nsScope) grow() {
	n := 2 * len(s.slots)
	if n < 16 {
		n = 16
	}
	old := s.slots
	s.slots = make([]int32, n)
	for i := range s.slots {
		s.slots[i] = -1
	}
	for _, j := range old {
		if j >= 0 {
			s.insert(s.stack[j].prefix, j)
		}
	}
}

// popTo drops the bindings above n.
func (s *nsScope) popTo(n int) {
	for len(s.stack) > n {
		top := len(s.stack) - 1
		b := s.stack[top]
		i := s.slot(b.prefix)
		if b.prev >= 0 {
			s.slots[i] = b.prev
		} else {
			s.remove(i)
		}
		s.stack = s.stack[:top]
	}
}

// remove empties slot i, shifting back the entries after it that would no
// longer be found.
func (s *nsScope) remove(i int) {
	mask := len(s.slots) - 1
	s.slots[i] = -1
	s.used--
	for j := (i + 1) & mask; s.slots[j] >= 0; j = (j + 1) & mask {
		home := int(s.stack[s.slots[j]].prefix & uint64(mask))
		// The entry at j may move to the hole at i unless its home lies
		// cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			s.slots[i], s.slots[j] = s.slots[j], -1
			i = j
		}
	}
}
