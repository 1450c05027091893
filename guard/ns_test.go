package guard

import (
	"math/rand/v2"
	"testing"
)

// TestNSScope checks the prefix index against a plain model (a stack
// searched from the top) over random pushes and pops, with prefixes whose
// hashes share their low bits so that probing, wrapping and backward-shift
// deletion all happen.
func TestNSScope(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	prefixes := []uint64{0, 16, 32, 48, 1, 17, 15, 31, 63, 1 << 40, 1<<40 + 16, 5}
	for round := range 200 {
		var s nsScope
		var model []binding
		var frames []int
		for step := range 300 {
			switch r := rng.IntN(10); {
			case r < 6 || len(frames) == 0:
				frames = append(frames, len(model))
				for range rng.IntN(4) {
					b := binding{prefix: prefixes[rng.IntN(len(prefixes))], uri: rng.Uint64()}
					s.push(b)
					model = append(model, b)
				}
			default:
				n := frames[len(frames)-1]
				frames = frames[:len(frames)-1]
				s.popTo(n)
				model = model[:n]
			}
			for _, p := range prefixes {
				want := int32(-1)
				for i := len(model) - 1; i >= 0; i-- {
					if model[i].prefix == p {
						want = int32(i)
						break
					}
				}
				got := s.lookup(p)
				if got != want || (got >= 0 && s.stack[got].uri != model[want].uri) {
					t.Fatalf("round %d step %d: lookup(%d) = %d, want %d", round, step, p, got, want)
				}
			}
		}
		s.popTo(0)
		if s.used != 0 {
			t.Fatalf("round %d: %d slots used after popping everything", round, s.used)
		}
	}
}
