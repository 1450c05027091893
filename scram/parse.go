package scram

import (
	"bytes"
	"unicode/utf8"
)

// validCBName reports whether b is an RFC 5802 cb-name: 1*(ALPHA / DIGIT /
// "." / "-"), here at most maxCBNameLen bytes.
func validCBName(b []byte) bool {
	if len(b) == 0 || len(b) > maxCBNameLen {
		return false
	}
	for _, c := range b {
		if !isAlpha(c) && !('0' <= c && c <= '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// printable reports whether b consists of RFC 5802 printable characters:
// %x21-2B / %x2D-7E.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validValue reports whether b is an RFC 5802 value: 1*value-char, that is
// non-empty UTF-8 without NUL or ",".
func validValue(b []byte) bool {
	return len(b) > 0 && utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 && bytes.IndexByte(b, ',') < 0
}

// checkExtensions checks a comma-separated list of attr-val (RFC 5802 §7).
// Unknown attributes are allowed (and ignored by the caller); the reserved
// mandatory-extension attribute "m" is refused.
func checkExtensions(b []byte) error {
	for {
		attr, next, more := bytes.Cut(b, []byte{','})
		b = next
		if len(attr) < 3 || !isAlpha(attr[0]) || attr[1] != '=' || !validValue(attr[2:]) {
			return malformed("invalid extension attribute")
		}
		if attr[0] == 'm' {
			return ErrExtensionsNotSupported
		}
		if !more {
			break
		}
	}
	return nil
}

// decodeSaslname decodes an RFC 5802 saslname: "=2C" is ",", "=3D" is "=",
// any other "=" is an error, as are the empty string, invalid UTF-8 and NUL
// (ErrInvalidUsernameEncoding); a name above maxNameLen is ErrMalformed.
// The result aliases b when b contains no escapes.
func decodeSaslname(b []byte) ([]byte, error) {
	if len(b) > maxNameLen {
		return nil, malformed("name too long")
	}
	if len(b) == 0 || !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return nil, ErrInvalidUsernameEncoding
	}
	i := bytes.IndexByte(b, '=')
	if i < 0 {
		return b, nil
	}
	out := make([]byte, 0, len(b))
	for i >= 0 {
		out = append(out, b[:i]...)
		b = b[i:]
		switch {
		case bytes.HasPrefix(b, []byte("=2C")):
			out = append(out, ',')
		case bytes.HasPrefix(b, []byte("=3D")):
			out = append(out, '=')
		default:
			return nil, ErrInvalidUsernameEncoding
		}
		b = b[3:]
		i = bytes.IndexByte(b, '=')
	}
	return append(out, b...), nil
}
