package scram

import (
	"slices"
	"strings"
)

// DowngradeProtectionInput builds the XEP-0474 §6.1 string that is hashed
// into the h= attribute, from the lists as advertised: the mechanism names
// sorted with i;octet and joined with 0x1E, then, when XEP-0440 was
// advertised (types non-nil), 0x1F and the channel-binding types sorted
// and joined with 0x1E. Server and client build it the same way; the
// server passes it to StartWith.
func DowngradeProtectionInput(mechanisms, types []string) []byte {
	names := slices.Clone(mechanisms)
	slices.Sort(names) // Go compares strings bytewise: i;octet
	b := []byte(strings.Join(names, "\x1e"))
	if types != nil {
		ts := slices.Clone(types)
		slices.Sort(ts)
		b = append(b, 0x1f)
		b = append(b, strings.Join(ts, "\x1e")...)
	}
	return b
}
