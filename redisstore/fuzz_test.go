package redisstore

import (
	"fmt"
	"testing"

	"github.com/xmppauth/xmppauth/httpauth"
)

// encodeMessage is what resolveScript publishes, written in Go.
func encodeMessage(ref string, gen int64, a httpauth.Answer) string {
	return fmt.Sprintf("%d %s%d %s", len(ref), ref, gen, encodeAnswer(a))
}

// FuzzDecodeMessage: a message of an answer channel never makes the
// decoder panic, and what the script encodes decodes to itself, whatever
// bytes the reference and the condition hold.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		"24 0123456789abcdef012345670 1:",
		"24 0123456789abcdef012345671 3:feature-not-implemented",
		"3 a b0 2:with spaces: and colons",
		"", " ", "0 0 1:", "-1 x0 1:", "99 short", "2 ab 1:", "2 abx 1:", "2 ab0 0:", "2 ab0 300:", "2 ab0 x:y",
	} {
		f.Add(s, "0123456789abcdef01234567", int64(1), uint8(1), "undefined-condition")
	}
	f.Fuzz(func(t *testing.T, payload, ref string, gen int64, result uint8, cond string) {
		if r, _, a, err := decodeMessage(payload); err == nil {
			if len(r) > len(payload) || a.Result == 0 {
				t.Fatalf("decodeMessage(%q) = %q, %+v", payload, r, a)
			}
		}
		if result == 0 || gen < 0 {
			return
		}
		want := httpauth.Answer{Result: httpauth.AnswerResult(result), Condition: cond}
		r, g, a, err := decodeMessage(encodeMessage(ref, gen, want))
		if err != nil || r != ref || g != gen || a != want {
			t.Fatalf("round trip of (%q, %d, %+v) = (%q, %d, %+v, %v)", ref, gen, want, r, g, a, err)
		}
	})
}
