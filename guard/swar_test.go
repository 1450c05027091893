package guard

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestIndexAny(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("<&'\"ab\x00\x80\xff\x7f\x01")
	for range 20000 {
		p := make([]byte, rng.IntN(40))
		for i := range p {
			p[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := indexAny2(p, '<', '&'), bytes.IndexAny(p, "<&"); got != want {
			t.Fatalf("indexAny2(%q) = %d, want %d", p, got, want)
		}
		if got, want := indexAny3(p, '\'', '<', '&'), bytes.IndexAny(p, "'<&"); got != want {
			t.Fatalf("indexAny3(%q) = %d, want %d", p, got, want)
		}
	}
}
