package saslclient

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xmppauth/xmppauth/cbind"
)

// parseMechanisms reads the children of <mechanisms/> (the start element
// already consumed) and returns the names as received, without surrounding
// whitespace. More than MaxMechanisms names, an over-long name or one that
// is not printable ASCII is an error: the login cannot be protected by
// XEP-0474 if part of the list is dropped.
func parseMechanisms(d *xml.Decoder) ([]string, error) {
	// RFC 6120 lets other elements appear (hostname hints of XEP-0233, for
	// example); they are not mechanisms.
	return readNames(d, "mechanisms", []string{}, xml.Name{Space: nsSASL, Local: "mechanism"}, xml.Name{Local: "mechanism"})
}

// readNames reads the children of the current element (named what) and
// appends to names the text of those named one of child, as
// appendMechanism does; other children are skipped.
func readNames(d *xml.Decoder, what string, names []string, child ...xml.Name) ([]string, error) {
	err := children(d, what, func(t xml.StartElement) (bool, error) {
		if !slices.Contains(child, t.Name) {
			return false, nil
		}
		var err error
		names, err = appendMechanism(d, names)
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// appendMechanism reads the text of one <mechanism/> (or SASL2 <task/>)
// into names: at most MaxMechanisms names, each a valid mechanism name.
func appendMechanism(d *xml.Decoder, names []string) ([]string, error) {
	if len(names) >= MaxMechanisms {
		return nil, fmt.Errorf("%w: more than %d mechanisms", ErrMalformed, MaxMechanisms)
	}
	name, err := readText(d, MaxMechanismLen+64)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if !validMechanismName(name) {
		return nil, fmt.Errorf("%w: invalid mechanism name", ErrMalformed)
	}
	return append(names, name), nil
}

// validMechanismName accepts RFC 4422 names and pseudomechanisms: printable
// ASCII without spaces, at most MaxMechanismLen bytes.
func validMechanismName(s string) bool {
	if s == "" || len(s) > MaxMechanismLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// readText reads the character data of the current element up to its end,
// refusing more than limit bytes or child elements.
func readText(d *xml.Decoder, limit int) (string, error) {
	var b []byte
	for {
		tok, err := d.Token()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(b)+len(t) > limit {
				return "", fmt.Errorf("%w: element text longer than %d bytes", ErrMalformed, limit)
			}
			b = append(b, t...)
		case xml.StartElement:
			return "", fmt.Errorf("%w: unexpected child element <%s>", ErrMalformed, t.Name.Local)
		case xml.EndElement:
			return string(b), nil
		}
	}
}

// children calls f for each child element of the element whose start
// element d has just returned, until that element's end; character data
// between the children is ignored. A child that f did not read to its end
// (read == false) is skipped. Decoder errors are ErrMalformed errors
// naming what; f's errors are returned as they are.
func children(d *xml.Decoder, what string, f func(start xml.StartElement) (read bool, err error)) error {
	return eachChild(d, what, false, f)
}

// childElements is children for an element that may hold only elements
// and whitespace: other character data is an ErrMalformed error, "text in
// <what/>".
func childElements(d *xml.Decoder, what string, f func(start xml.StartElement) (read bool, err error)) error {
	return eachChild(d, what, true, f)
}

// eachChild is children, refusing text with noText.
func eachChild(d *xml.Decoder, what string, noText bool, f func(xml.StartElement) (bool, error)) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.CharData:
			if noText && strings.TrimSpace(string(t)) != "" {
				return fmt.Errorf("%w: text in <%s/>", ErrMalformed, what)
			}
		case xml.StartElement:
			read, err := f(t)
			if err != nil {
				return err
			}
			if !read {
				if err := skip(d, what); err != nil {
					return err
				}
			}
		}
	}
}

// skip reads the rest of the element whose start element d has just
// returned. A decoder error is an ErrMalformed error naming what.
func skip(d *xml.Decoder, what string) error {
	if err := d.Skip(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return nil
}

// parseChannelBindingTypes reads the children of <sasl-channel-binding/>
// and returns the type attributes exactly as received (unknown types
// included: XEP-0474 hashes the list as advertised). The result is non-nil.
func parseChannelBindingTypes(d *xml.Decoder) ([]string, error) {
	types := []string{}
	err := children(d, "sasl-channel-binding", func(t xml.StartElement) (bool, error) {
		// The child is read before it is judged.
		if err := skip(d, "sasl-channel-binding"); err != nil {
			return true, err
		}
		if t.Name.Local != "channel-binding" || (t.Name.Space != cbind.NS && t.Name.Space != "") {
			return true, nil
		}
		if len(types) >= MaxChannelBindingTypes {
			return true, fmt.Errorf("%w: more than %d channel-binding types", ErrMalformed, MaxChannelBindingTypes)
		}
		typ, ok := "", false
		for _, a := range t.Attr {
			if a.Name.Space == "" && a.Name.Local == "type" {
				typ, ok = a.Value, true
			}
		}
		if !ok || !validMechanismName(typ) || len(typ) > maxTypeLen {
			return true, fmt.Errorf("%w: invalid channel-binding type", ErrMalformed)
		}
		types = append(types, typ)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return types, nil
}

// serverFirst is a parsed RFC 5802 server-first-message.
type serverFirst struct {
	nonce      []byte // combined nonce
	salt       []byte // decoded
	iterations int
	h          []byte // decoded XEP-0474 hash, nil when absent
}

// parseServerFirst parses msg strictly:
//
//	server-first-message = [reserved-mext ","] nonce "," salt ","
//	                       iteration-count ["," extensions]
//
// The nonce must start with clientNonce and add at least one printable
// character; the salt must be non-empty base64 of at most maxSaltLen bytes;
// the iteration count a positive decimal without leading zeros. A mandatory
// extension ("m=") is refused. Of the extensions only "h" (XEP-0474) is
// read, at most once; others are checked for syntax and ignored.
func parseServerFirst(msg, clientNonce []byte) (serverFirst, error) {
	var sf serverFirst
	if len(msg) > MaxServerMessageLen {
		return sf, fmt.Errorf("%w: server-first longer than %d bytes", ErrMalformed, MaxServerMessageLen)
	}
	if !utf8.Valid(msg) || bytes.IndexByte(msg, 0) >= 0 {
		return sf, fmt.Errorf("%w: server-first is not UTF-8 without NUL", ErrMalformed)
	}
	attrs := bytes.Split(msg, []byte{','})
	if len(attrs) < 3 {
		return sf, fmt.Errorf("%w: server-first has too few attributes", ErrMalformed)
	}
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !isAlpha(a[0]) {
			return sf, fmt.Errorf("%w: server-first attribute syntax", ErrMalformed)
		}
	}
	if attrs[0][0] == 'm' {
		return sf, fmt.Errorf("%w: mandatory extension in server-first", ErrMalformed)
	}
	r, s, i := attrs[0], attrs[1], attrs[2]
	if r[0] != 'r' || s[0] != 's' || i[0] != 'i' {
		return sf, fmt.Errorf("%w: server-first attributes out of order", ErrMalformed)
	}

	sf.nonce = r[2:]
	if !printable(sf.nonce) {
		return sf, fmt.Errorf("%w: nonce not printable", ErrMalformed)
	}
	if len(sf.nonce) <= len(clientNonce) || !bytes.HasPrefix(sf.nonce, clientNonce) {
		return sf, ErrNonceMismatch
	}

	salt := s[2:]
	if len(salt) == 0 || base64.StdEncoding.DecodedLen(len(salt)) > maxSaltLen+2 {
		return sf, fmt.Errorf("%w: salt empty or too long", ErrMalformed)
	}
	var err error
	if sf.salt, err = base64.StdEncoding.Strict().DecodeString(string(salt)); err != nil || len(sf.salt) == 0 || len(sf.salt) > maxSaltLen {
		return sf, fmt.Errorf("%w: salt is not valid base64", ErrMalformed)
	}

	if sf.iterations, err = parseIterations(i[2:]); err != nil {
		return sf, err
	}

	for _, ext := range attrs[3:] {
		if !validValue(ext[2:]) {
			return sf, fmt.Errorf("%w: extension value", ErrMalformed)
		}
		switch ext[0] {
		case 'm':
			return sf, fmt.Errorf("%w: mandatory extension after nonce", ErrMalformed)
		case 'r', 's', 'i':
			return sf, fmt.Errorf("%w: repeated attribute %q", ErrMalformed, ext[0])
		case 'h':
			if sf.h != nil {
				return sf, fmt.Errorf("%w: repeated h attribute", ErrMalformed)
			}
			h, err := base64.StdEncoding.Strict().DecodeString(string(ext[2:]))
			if err != nil || len(h) == 0 || len(h) > 64 {
				return sf, fmt.Errorf("%w: h attribute is not valid base64", ErrMalformed)
			}
			sf.h = h
		}
	}
	return sf, nil
}

// parseIterations parses an RFC 5802 posit-number.
func parseIterations(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 10 || b[0] < '1' || b[0] > '9' {
		return 0, fmt.Errorf("%w: iteration count syntax", ErrMalformed)
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: iteration count syntax", ErrMalformed)
		}
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0, fmt.Errorf("%w: iteration count syntax", ErrMalformed)
	}
	return n, nil
}

// parseServerFinal parses an RFC 5802 server-final-message:
//
//	server-final-message = (server-error / verifier) ["," extensions]
//
// It returns the decoded verifier, or a *ServerError for "e=".
func parseServerFinal(msg []byte) ([]byte, error) {
	if len(msg) > MaxServerMessageLen {
		return nil, fmt.Errorf("%w: server-final longer than %d bytes", ErrMalformed, MaxServerMessageLen)
	}
	if !utf8.Valid(msg) || bytes.IndexByte(msg, 0) >= 0 {
		return nil, fmt.Errorf("%w: server-final is not UTF-8 without NUL", ErrMalformed)
	}
	first, rest, more := bytes.Cut(msg, []byte{','})
	if more {
		for _, ext := range bytes.Split(rest, []byte{','}) {
			if len(ext) < 3 || ext[1] != '=' || !isAlpha(ext[0]) || !validValue(ext[2:]) {
				return nil, fmt.Errorf("%w: server-final extension syntax", ErrMalformed)
			}
		}
	}
	switch {
	case bytes.HasPrefix(first, []byte("e=")):
		value := first[2:]
		if !validValue(value) || len(value) > 64 {
			return nil, fmt.Errorf("%w: server-error value", ErrMalformed)
		}
		return nil, &ServerError{Value: string(value)}
	case bytes.HasPrefix(first, []byte("v=")):
		v, err := base64.StdEncoding.Strict().DecodeString(string(first[2:]))
		if err != nil || len(v) == 0 || len(v) > 64 {
			return nil, fmt.Errorf("%w: verifier is not valid base64", ErrMalformed)
		}
		return v, nil
	}
	return nil, fmt.Errorf("%w: server-final has neither v= nor e=", ErrMalformed)
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// printable reports whether b is non-empty RFC 5802 printable: %x21-2B /
// %x2D-7E.
func printable(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// validValue reports whether b is an RFC 5802 value: 1*value-char.
func validValue(b []byte) bool {
	return len(b) > 0 && utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 && bytes.IndexByte(b, ',') < 0
}
