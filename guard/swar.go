package guard

import (
	"encoding/binary"
	"math/bits"
)

// Finding the first of a few bytes eight at a time (SWAR): the runs of
// character data and attribute values between the bytes the scanner must
// look at are usually shorter than bytes.IndexByte's setup cost.

const (
	lo7 = 0x0101010101010101
	hi7 = 0x8080808080808080
)

// zeroBytes has the high bit of the lowest zero byte of v set (and maybe
// of higher ones: only the lowest is exact).
func zeroBytes(v uint64) uint64 { return (v - lo7) &^ v & hi7 }

// indexAny2 returns the index of the first a or b in p, or -1.
func indexAny2(p []byte, a, b byte) int {
	ma, mb := lo7*uint64(a), lo7*uint64(b)
	i := 0
	for ; i+8 <= len(p); i += 8 {
		v := binary.LittleEndian.Uint64(p[i:])
		if z := zeroBytes(v^ma) | zeroBytes(v^mb); z != 0 {
			return i + bits.TrailingZeros64(z)/8
		}
	}
	for ; i < len(p); i++ {
		if p[i] == a || p[i] == b {
			return i
		}
	}
	return -1
}

// indexAny3 returns the index of the first a, b or c in p, or -1.
func indexAny3(p []byte, a, b, c byte) int {
	ma, mb, mc := lo7*uint64(a), lo7*uint64(b), lo7*uint64(c)
	i := 0
	for ; i+8 <= len(p); i += 8 {
		v := binary.LittleEndian.Uint64(p[i:])
		if z := zeroBytes(v^ma) | zeroBytes(v^mb) | zeroBytes(v^mc); z != 0 {
			return i + bits.TrailingZeros64(z)/8
		}
	}
	for ; i < len(p); i++ {
		if p[i] == a || p[i] == b || p[i] == c {
			return i
		}
	}
	return -1
}
