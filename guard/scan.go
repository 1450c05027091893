package guard

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"sync/atomic"
	"unicode/utf8"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Namespaces the guard knows.
const (
	nsTLS   = "urn:ietf:params:xml:ns:xmpp-tls"
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

var (
	seed       = maphash.MakeSeed()
	hashEmpty  = maphash.String(seed, "")
	hashXMLNS  = maphash.String(seed, "xmlns") // encoding/xml's Space of xmlns:p
	hashXMLURL = maphash.String(seed, nsXML)
)

// bits of what a namespace declaration's value is, compared exactly.
const (
	isStreams uint8 = 1 << iota
	isTLS
	isContent
	isXML
	isXMLNS
)

// scanner states.
const (
	sText       uint8 = iota // character data; between top-level elements only whitespace
	sLT                      // after '<'
	sStartName               // element name of a start tag
	sTagSpace                // in a start tag after whitespace
	sAfterValue              // in a start tag after an attribute value
	sAttrName                // attribute name
	sAttrEq                  // after an attribute name, before '='
	sAttrQuote               // after '=', before the opening quote
	sAttrValue               // attribute value
	sEmpty                   // after '/' in a start tag
	sEndName                 // element name of an end tag
	sEndSpace                // after the name of an end tag
	sPITarget                // target of a processing instruction
	sPI                      // body of the XML declaration, until "?>"
	sBang                    // after "<!", matching "[CDATA["
	sCDATA                   // CDATA section, until "]]>"
	sEntity                  // after '&'
	sEntName                 // named entity reference
	sCharRef                 // after "&#"
	sCharDigits              // digits of a character reference
	sSkipWS                  // after <starttls/>: drop whitespace, then pass through
)

// attribute kinds (plain attributes are spans).
const (
	attrPrefixed    uint8 = iota // p:name
	attrXML                      // xml:name
	attrDefaultDecl              // xmlns
	attrPrefixDecl               // xmlns:p
)

// what a value is recorded for.
const (
	recNone uint8 = iota
	recDecl
	recTo
	recFrom
	recVersion
)

// which limit the byte budget stands for.
const (
	limitNone uint8 = iota
	limitPreAuth
	limitStanza
	limitHeader
)

// name prefix kinds.
const (
	prefixNone uint8 = iota
	prefixXML
	prefixOther
)

type attr struct {
	kind       uint8
	known      uint8  // declarations: what the value is
	prefix     uint64 // attrPrefixed: hash of the prefix; attrPrefixDecl: of the declared prefix
	space      uint64 // hash of the namespace as encoding/xml names it; set at '>'
	uri        uint64 // attrPrefixDecl: hash of the value
	loff, llen int32  // the local name in scanner.locals
}

// span is a plain attribute's name in scanner.locals. Plain attributes
// (no prefix, not xmlns) are in no namespace, which no other attribute can
// be in (the empty namespace name cannot be bound to a prefix), so they
// are only compared with each other.
type span struct{ off, n int32 }

// attrBit is an attribute's bit in scanner.attrBits: equal local names
// have equal bits.
func attrBit(local []byte) uint64 {
	return 1 << ((uint(len(local))*131 + uint(local[0])) & 63)
}

// isName reports the bytes encoding/xml reads as part of a name (it checks
// the characters of non-ASCII names itself).
var isName = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '_' || c == ':' || c == '.' || c == '-' || c >= utf8.RuneSelf
	}
	return t
}()

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

const cdataOpen = "[CDATA["

// scanner is the state of a guard between reads. Its memory is bounded by
// the limits: the current name, one attribute value (a namespace URI or a
// stream header attribute), the current element's attributes, and the
// bindings and frames of the open elements.
type scanner struct {
	set      *settings
	auth     *atomic.Bool
	startTLS bool // hand over to TLS after <starttls/>

	state       uint8
	depth       int  // open elements; the stream root is 1
	ended       bool // the stream root was closed
	session     bool // session limits apply
	passthrough bool
	lim         *Limits // the limits of the current phase

	// byte budget: bytes that may be read before a limit is crossed.
	budget, budget0 int
	total           int // pre-auth: the bytes left at the last rebudget
	limit           uint8

	// current tag
	tl          *Limits // limits of the current tag
	name        []byte
	attrs       []attr // the attributes but plain ones
	plain       []span // the plain attributes
	locals      []byte // the local names of attrs and plain
	attrBits    uint64 // the attrBit of every attribute
	maybeDup    bool   // two attributes have the same attrBit
	decls       int
	prefixDecls int  // attributes of kind attrPrefixDecl
	prefixed    int  // attributes of kind attrPrefixed
	header      bool // the tag is a stream header
	prefixKind  uint8
	prefix      uint64
	localStream bool
	localTLS    bool
	hasDefault  bool
	defKnown    uint8
	hasTo       bool
	hasFrom     bool
	hasVersion  bool
	to, from    string
	version     string

	// attribute value
	quote  byte
	rec    uint8
	val    []byte
	valRaw int
	prevCR bool

	// entity reference
	entAttr   bool
	ent       [8]byte
	entLen    int
	entHex    bool
	entVal    int
	entDigits int

	pendingDecl bool // an XML declaration was read: a stream header must follow
	piQ         bool // the previous PI byte was '?'
	bang        int  // bytes of "[CDATA[" matched
	brackets    int  // ']' bytes just before, in a CDATA section
	topTLS      bool // the open top-level element is <starttls/>

	ns     nsScope
	frames []int32 // binding count at each open element's start

	domain   string // canonical served domain, from the first header
	onDomain func(string)
}

func (s *scanner) init(set *settings, auth *atomic.Bool, startTLS bool) {
	s.set, s.auth, s.startTLS = set, auth, startTLS
	s.lim = &set.pre
	s.total = set.pre.MaxBytes
	s.budget, s.budget0, s.limit = set.pre.MaxBytes, set.pre.MaxBytes, limitPreAuth
}

// rebudget starts a new unit of at most unit bytes (math.MaxInt: none);
// before authentication the total also applies.
func (s *scanner) rebudget(unit int, kind uint8) {
	if unit < 0 {
		unit = 0
	}
	if !s.session {
		s.total -= s.budget0 - s.budget
		if s.total <= unit {
			unit, kind = s.total, limitPreAuth
		}
	}
	s.budget, s.budget0, s.limit = unit, unit, kind
}

// sinceRebudget is the bytes read since the last rebudget.
func (s *scanner) sinceRebudget() int { return s.budget0 - s.budget }

// fail builds the error for a violation at the current position.
func (s *scanner) fail(cond stream.Error, format string, args ...any) *Error {
	e := newError(cond, fmt.Sprintf(format, args...))
	e.Header = s.depth == 0 && !s.ended || s.header || s.pendingDecl
	e.Domain = s.domain
	e.ns = s.set.ns
	return e
}

func (s *scanner) nwf(format string, args ...any) *Error {
	return s.fail(stream.NotWellFormed, format, args...)
}

func (s *scanner) policy(format string, args ...any) *Error {
	return s.fail(stream.PolicyViolation, format, args...)
}

func (s *scanner) overLimit() *Error {
	switch s.limit {
	case limitStanza:
		return s.policy("stanza larger than %d bytes", s.set.session.MaxBytes)
	case limitHeader:
		return s.policy("stream header larger than %d bytes", s.set.head.MaxBytes)
	default:
		return s.policy("more than %d bytes before authentication", s.set.pre.MaxBytes)
	}
}

// compact moves the kept bytes p[from:to] down to p[out:] and returns the
// new length of what is kept.
func compact(p []byte, out, from, to int) int {
	if from < to {
		if out != from {
			copy(p[out:], p[from:to])
		}
		out += to - from
	}
	return out
}

// limitAt is the position in a buffer of n bytes of the first byte over a
// budget counted from base (n+1 when the buffer cannot reach it).
func limitAt(base, budget, n int) int {
	if budget > n-base {
		return n + 1
	}
	return base + budget
}

// scan checks p, drops the whitespace between top-level elements from it in
// place and returns the length of what is left. On a violation it returns
// the length of what is left before the violation point, and the error.
//
// The bytes p[from:i] are kept but not yet moved down to p[out:]: moving
// happens once per dropped run. s.budget counts from position base; lim is
// the position of the first byte over it. The state lives in st while
// scanning.
func (s *scanner) scan(p []byte) (int, *Error) {
	n := len(p)
	i, out, from, base := 0, 0, 0, 0
	lim := limitAt(base, s.budget, n)
	st := s.state
	var err *Error
loop:
	for i < n {
		if i >= lim && st != sSkipWS {
			err = s.overLimit()
			break
		}
		end := min(n, lim)
		b := p[i]
		switch st {
		case sText:
			if s.depth >= 2 {
				// Character data: pass runs up to '<' or '&' at once.
				j := end
				if k := indexAny2(p[i:end], '<', '&'); k >= 0 {
					j = i + k
				}
				if i = j; i >= end {
					continue
				}
				if p[i] != '<' {
					s.entAttr, st = false, sEntity
					i++
					continue
				}
			} else {
				// Between top-level elements: drop whitespace.
				if isSpace(b) {
					j := i + 1
					for j < end && isSpace(p[j]) {
						j++
					}
					out = compact(p, out, from, i)
					i, from = j, j
					continue
				}
				switch {
				case s.ended:
					err = s.nwf("data after the end of the stream")
					break loop
				case b != '<' && s.depth == 0:
					err = s.nwf("data before the stream header")
					break loop
				case b != '<':
					err = s.fail(stream.BadFormat, "character data in the stream root")
					break loop
				}
				if !s.pendingDecl {
					if !s.session && s.auth.Load() {
						s.session, s.lim = true, &s.set.session
					}
					s.budget -= i - base
					base = i
					switch {
					case s.depth == 0:
						s.rebudget(s.set.head.MaxBytes, limitHeader)
					case s.session:
						s.rebudget(s.set.session.MaxBytes, limitStanza)
					default:
						s.rebudget(math.MaxInt, limitNone)
					}
					if lim = limitAt(base, s.budget, n); i >= lim {
						err = s.overLimit()
						break loop
					}
				}
			}
			// b is '<'.
			i++
			st = sLT
			if end = min(n, lim); i >= end {
				continue
			}
			b = p[i]
			fallthrough

		case sLT:
			switch {
			case b == '/':
				if s.depth == 0 {
					err = s.nwf("end tag before the stream header")
					break loop
				}
				if s.pendingDecl {
					err = s.fail(stream.RestrictedXML, "XML declaration not before a stream header")
					break loop
				}
				i++
				s.name = s.name[:0]
				st = sEndName
			case b == '?':
				i++
				s.name = s.name[:0]
				st = sPITarget
			case b == '!':
				i++
				s.bang = 0
				st = sBang
				continue
			case isName[b]:
				if s.depth >= 1 && s.depth+1 > s.lim.MaxDepth {
					err = s.policy("elements nested deeper than %d", s.lim.MaxDepth)
					break loop
				}
				s.startTag()
				st = sStartName
			default:
				err = s.nwf("expected a name after '<'")
				break loop
			}
			if i >= end {
				continue
			}
			b = p[i]
			fallthrough
		case sStartName, sAttrName, sEndName, sPITarget:
			j := i
			for j < end && isName[p[j]] {
				j++
			}
			// The name: in p when it lies there whole, else gathered in
			// s.name across reads.
			name := s.name
			if j > i {
				max := s.lim.MaxNameLen
				if s.depth == 0 {
					max = s.set.head.MaxNameLen
				}
				if st == sAttrName {
					max = s.tl.MaxNameLen
				}
				if len(s.name)+j-i > max {
					i += max - len(s.name)
					err = s.policy("name longer than %d bytes", max)
					break loop
				}
				if j == end {
					s.name = append(s.name, p[i:j]...)
					i = j
					continue
				}
				if len(s.name) == 0 {
					name = p[i:j]
				} else {
					s.name = append(s.name, p[i:j]...)
					name = s.name
				}
				i = j
				b = p[i]
			}
			// b ends the name.
			switch st {
			case sStartName:
				s.budget -= i - base
				base = i
				err = s.endElementName(name)
				lim = limitAt(base, s.budget, n)
				if err != nil {
					break loop
				}
				switch {
				case isSpace(b):
					i++
					st = sTagSpace
				case b == '/':
					i++
					st = sEmpty
				case b == '>':
					if err = s.endStartTag(false); err != nil {
						break loop
					}
					i++
					s.budget -= i - base
					base = i
					st = s.afterStartTag(false)
					lim = limitAt(base, s.budget, n)
				default:
					err = s.nwf("unexpected %q in a start tag", b)
					break loop
				}
			case sAttrName:
				if err = s.endAttrName(name); err != nil {
					break loop
				}
				switch {
				case b == '=':
					i++
					st = sAttrQuote
				case isSpace(b):
					i++
					st = sAttrEq
				default:
					err = s.nwf("expected '=' after an attribute name")
					break loop
				}
			case sEndName:
				if len(name) == 0 {
					err = s.nwf("expected a name after '</'")
					break loop
				}
				switch {
				case b == '>':
					i++
					s.budget -= i - base
					base = i
					st = s.endEndTag()
					lim = limitAt(base, s.budget, n)
				case isSpace(b):
					i++
					st = sEndSpace
				default:
					err = s.nwf("unexpected %q in an end tag", b)
					break loop
				}
			case sPITarget:
				s.budget -= i - base
				base = i
				err = s.endPITarget(name, b)
				lim = limitAt(base, s.budget, n)
				if err != nil {
					break loop
				}
				i++
				s.piQ = b == '?'
				st = sPI
			}
			if st != sTagSpace {
				continue
			}
			if end = min(n, lim); i >= end {
				continue
			}
			fallthrough

		case sTagSpace, sAfterValue:
			i, st, err = s.tagAttrs(p, i, end, st)
			if err != nil {
				break loop
			}
			if i >= end || st == sAttrName {
				continue
			}
			b = p[i]
			switch {
			case b == '>':
				if err = s.endStartTag(false); err != nil {
					break loop
				}
				i++
				s.budget -= i - base
				base = i
				st = s.afterStartTag(false)
				lim = limitAt(base, s.budget, n)
			case b == '/':
				i++
				st = sEmpty
			case isName[b]:
				err = s.nwf("no whitespace between attributes")
				break loop
			default:
				err = s.nwf("unexpected %q in a start tag", b)
				break loop
			}

		case sAttrEq, sAttrQuote:
			for isSpace(b) {
				if i++; i >= end {
					continue loop
				}
				b = p[i]
			}
			switch {
			case st == sAttrEq && b == '=':
				i++
				st = sAttrQuote
			case st == sAttrEq:
				err = s.nwf("expected '=' after an attribute name")
				break loop
			case b == '\'' || b == '"':
				i++
				s.quote = b
				s.val, s.valRaw, s.prevCR = s.val[:0], 0, false
				st = sAttrValue
			default:
				err = s.nwf("attribute value not quoted")
				break loop
			}

		case sAttrValue:
			j := end
			if k := indexAny3(p[i:end], s.quote, '<', '&'); k >= 0 {
				j = i + k
			}
			if j > i {
				if s.rec == recDecl && s.valRaw+j-i > s.tl.MaxNamespaceLen {
					i += s.tl.MaxNamespaceLen - s.valRaw
					err = s.policy("namespace name longer than %d bytes", s.tl.MaxNamespaceLen)
					break loop
				}
				s.valRaw += j - i
				if s.rec != recNone {
					s.record(p[i:j])
				}
				if i = j; i >= end {
					continue
				}
				b = p[i]
			}
			switch b {
			case '<':
				err = s.nwf("'<' in an attribute value")
				break loop
			case '&':
				s.entAttr = true
				if err = s.rawValueByte(); err != nil {
					break loop
				}
				i++
				st = sEntity
			default: // the closing quote
				if err = s.endValue(); err != nil {
					break loop
				}
				i++
				st = sAfterValue
			}

		case sEmpty:
			if b != '>' {
				err = s.nwf("expected '>' after '/' in a start tag")
				break loop
			}
			if err = s.endStartTag(true); err != nil {
				break loop
			}
			i++
			s.budget -= i - base
			base = i
			st = s.afterStartTag(true)
			lim = limitAt(base, s.budget, n)

		case sEndSpace:
			switch {
			case isSpace(b):
				i++
			case b == '>':
				i++
				s.budget -= i - base
				base = i
				st = s.endEndTag()
				lim = limitAt(base, s.budget, n)
			default:
				err = s.nwf("unexpected %q in an end tag", b)
				break loop
			}

		case sPI:
			// The body of an XML declaration, up to "?>".
			rest := p[i:end]
			j := bytes.IndexByte(rest, '>')
			if j < 0 {
				s.piQ = rest[len(rest)-1] == '?'
				i += len(rest)
				continue
			}
			closed := j > 0 && rest[j-1] == '?' || j == 0 && s.piQ
			i += j + 1
			if closed {
				s.pendingDecl = true
				st = sText
			} else {
				s.piQ = false
			}

		case sBang:
			if s.depth <= 1 {
				if b == '[' {
					err = s.fail(stream.BadFormat, "CDATA section in the stream root")
				} else {
					err = s.bangError(b)
				}
				break loop
			}
			if b != cdataOpen[s.bang] {
				if s.bang == 0 {
					err = s.bangError(b)
				} else {
					err = s.nwf("malformed CDATA section")
				}
				break loop
			}
			i++
			if s.bang++; s.bang == len(cdataOpen) {
				s.brackets = 0
				st = sCDATA
			}

		case sCDATA:
			rest := p[i:end]
			j := bytes.IndexByte(rest, '>')
			if j < 0 {
				s.brackets = trailingBrackets(rest, s.brackets)
				i += len(rest)
				continue
			}
			closed := trailingBrackets(rest[:j], s.brackets) >= 2
			i += j + 1
			s.brackets = 0
			if closed {
				st = sText
			}

		case sEntity:
			switch {
			case b == '#':
				if err = s.rawValueByte(); err != nil {
					break loop
				}
				i++
				s.entVal, s.entDigits, s.entHex = 0, 0, false
				st = sCharRef
			case isName[b]:
				s.entLen = 0
				st = sEntName
			default:
				err = s.nwf("'&' not starting an entity reference")
				break loop
			}

		case sEntName:
			if isName[b] {
				if s.entLen == len(s.ent) {
					err = s.fail(stream.RestrictedXML, "entity reference other than the predefined ones")
					break loop
				}
				if err = s.rawValueByte(); err != nil {
					break loop
				}
				s.ent[s.entLen] = b
				s.entLen++
				i++
				continue
			}
			if b != ';' {
				err = s.nwf("entity reference without ';'")
				break loop
			}
			var c byte
			switch string(s.ent[:s.entLen]) {
			case "lt":
				c = '<'
			case "gt":
				c = '>'
			case "amp":
				c = '&'
			case "apos":
				c = '\''
			case "quot":
				c = '"'
			default:
				err = s.fail(stream.RestrictedXML, "entity reference other than the predefined ones")
				break loop
			}
			if err = s.rawValueByte(); err != nil {
				break loop
			}
			i++
			st = s.decoded(rune(c))

		case sCharRef:
			if b == 'x' {
				if err = s.rawValueByte(); err != nil {
					break loop
				}
				i++
				s.entHex = true
			}
			st = sCharDigits

		case sCharDigits:
			if d := digit(b, s.entHex); d >= 0 {
				if err = s.rawValueByte(); err != nil {
					break loop
				}
				i++
				radix := 10
				if s.entHex {
					radix = 16
				}
				if s.entVal <= utf8.MaxRune {
					s.entVal = s.entVal*radix + d
				}
				s.entDigits++
				continue
			}
			if b != ';' || s.entDigits == 0 {
				err = s.nwf("malformed character reference")
				break loop
			}
			if s.entVal > utf8.MaxRune || !isInCharacterRange(rune(s.entVal)) {
				err = s.nwf("character reference to an invalid character")
				break loop
			}
			if err = s.rawValueByte(); err != nil {
				break loop
			}
			i++
			st = s.decoded(rune(s.entVal))

		case sSkipWS:
			if isSpace(b) {
				out = compact(p, out, from, i)
				i++
				from = i
				continue
			}
			s.passthrough = true
			i = n
		}
	}
	s.state = st
	if st != sSkipWS {
		s.budget -= i - base
	}
	return compact(p, out, from, i), err
}

func (s *scanner) bangError(b byte) *Error {
	if b == '-' {
		return s.fail(stream.RestrictedXML, "comment")
	}
	return s.fail(stream.RestrictedXML, "DTD or markup declaration")
}

// trailingBrackets returns the number of ']' (up to 2) that end b, given
// the number that ended what came before it.
func trailingBrackets(b []byte, before int) int {
	k := 0
	for k < len(b) && k < 2 && b[len(b)-1-k] == ']' {
		k++
	}
	if k == len(b) {
		k = min(2, k+before)
	}
	return k
}

func digit(b byte, hex bool) int {
	switch {
	case '0' <= b && b <= '9':
		return int(b - '0')
	case hex && 'a' <= b && b <= 'f':
		return int(b-'a') + 10
	case hex && 'A' <= b && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// tagAttrs scans the attributes of a start tag from p[i], in state st
// (sTagSpace or sAfterValue), up to end. It returns where it stopped and
// the state there: at end; in sAttrName where the fast path does not
// apply (the states resume there, with the same checks at the same
// bytes); or in sTagSpace or sAfterValue at a byte that is not an
// attribute's.
func (s *scanner) tagAttrs(p []byte, i, end int, st uint8) (int, uint8, *Error) {
	b := p[i]
	var err *Error
	for {
		if isSpace(b) {
			i++
			for i < end && isSpace(p[i]) {
				i++
			}
			if st = sTagSpace; i >= end {
				return i, st, nil
			}
			b = p[i]
		}
		if !isName[b] || st != sTagSpace {
			return i, st, nil
		}
		if len(s.attrs)+len(s.plain) >= s.tl.MaxAttrs {
			return i, st, s.policy("more than %d attributes on an element", s.tl.MaxAttrs)
		}
		s.name = s.name[:0]
		st = sAttrName
		// Fast path: a whole name='value' in the buffer, without an
		// entity reference, goes at once; the states below resume
		// anything else, with the same checks at the same bytes.
		nl, vl, colon, ok := simpleAttr(p[i:end])
		if !ok || nl > s.tl.MaxNameLen {
			return i, st, nil
		}
		// A plain attribute, or a default namespace below the
		// top-level elements (whose value does not matter but for
		// its limits): endAttrName and endValue in short.
		name := p[i : i+nl]
		plain := !colon && !s.header && string(name) != "xmlns"
		defaultDecl := !colon && !s.header && !plain && s.depth >= 2 && vl <= s.tl.MaxNamespaceLen
		if plain || defaultDecl {
			if plain {
				s.addPlain(name)
			} else {
				if s.decls >= s.tl.MaxNamespaces {
					i += nl
					return i, st, s.policy("more than %d namespace declarations on an element", s.tl.MaxNamespaces)
				}
				if v := p[i+nl+2 : i+nl+2+vl]; string(v) == nsXML || string(v) == nsXMLNS {
					i += nl + 2 + vl
					return i, st, s.nwf("the xml or xmlns namespace bound to another prefix")
				}
				s.addDefaultDecl()
			}
			s.rec = recNone
			i += nl + 3 + vl
			if st = sAfterValue; i >= end {
				return i, st, nil
			}
			b = p[i]
			continue
		}
		if err = s.endAttrName(p[i : i+nl]); err != nil {
			i += nl
			return i, st, err
		}
		s.quote = p[i+nl+1]
		s.val, s.prevCR = s.val[:0], false
		if s.rec == recDecl && vl > s.tl.MaxNamespaceLen {
			i += nl + 2 + s.tl.MaxNamespaceLen
			return i, st, s.policy("namespace name longer than %d bytes", s.tl.MaxNamespaceLen)
		}
		s.valRaw = vl
		if s.rec != recNone {
			s.record(p[i+nl+2 : i+nl+2+vl])
		}
		if err = s.endValue(); err != nil {
			i += nl + 2 + vl
			return i, st, err
		}
		i += nl + 3 + vl
		if st = sAfterValue; i >= end {
			return i, st, nil
		}
		b = p[i]
	}
}

// simpleAttr matches q against name='value' (either quote) with no '&' or
// '<' in the value, and returns the lengths of name and value and whether
// the name has a colon.
func simpleAttr(q []byte) (nameLen, valLen int, colon, ok bool) {
	j := 0
	for j < len(q) && isName[q[j]] {
		colon = colon || q[j] == ':'
		j++
	}
	if j == 0 || j+2 > len(q) || q[j] != '=' {
		return 0, 0, false, false
	}
	quote := q[j+1]
	if quote != '\'' && quote != '"' {
		return 0, 0, false, false
	}
	v := indexAny3(q[j+2:], quote, '<', '&')
	if v < 0 || q[j+2+v] != quote {
		return 0, 0, false, false
	}
	return j, v, colon, true
}

// isInCharacterRange is encoding/xml's test of XML 1.0's Char production.
func isInCharacterRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// rawValueByte counts one byte of an entity reference in an attribute
// value against the namespace name limit.
func (s *scanner) rawValueByte() *Error {
	if !s.entAttr {
		return nil // in character data
	}
	if s.rec == recDecl && s.valRaw+1 > s.tl.MaxNamespaceLen {
		return s.policy("namespace name longer than %d bytes", s.tl.MaxNamespaceLen)
	}
	s.valRaw++
	return nil
}

// decoded ends an entity reference that stands for r, and returns the
// state to go on in.
func (s *scanner) decoded(r rune) uint8 {
	if s.entAttr {
		if s.rec != recNone {
			s.val = utf8.AppendRune(s.val, r)
			s.prevCR = false
		}
		return sAttrValue
	}
	return sText
}

// record appends run to the recorded value the way encoding/xml reads it
// (unescaped "\r\n" and "\r" become "\n").
func (s *scanner) record(run []byte) {
	if !s.prevCR && bytes.IndexByte(run, '\r') < 0 {
		s.val = append(s.val, run...)
		return
	}
	for _, c := range run {
		switch {
		case c == '\r':
			s.val = append(s.val, '\n')
			s.prevCR = true
			continue
		case c == '\n' && s.prevCR:
		default:
			s.val = append(s.val, c)
		}
		s.prevCR = false
	}
}

// startTag begins a start tag.
func (s *scanner) startTag() {
	s.name = s.name[:0]
	s.attrs, s.plain, s.locals = s.attrs[:0], s.plain[:0], s.locals[:0]
	s.attrBits, s.maybeDup = 0, false
	s.decls, s.prefixDecls, s.prefixed = 0, 0, 0
	s.header = s.depth == 0
	s.tl = s.lim
	if s.header {
		s.tl = &s.set.head
	}
	s.hasDefault, s.defKnown = false, 0
	s.hasTo, s.hasFrom, s.hasVersion = false, false, false
	s.to, s.from, s.version = "", "", ""
}

// splitName splits a qualified name, refusing what is not
// namespace-well-formed.
func (s *scanner) splitName(name []byte) (prefix, local []byte, err *Error) {
	c, colons := -1, 0
	for i, b := range name {
		if b == ':' {
			if colons++; c < 0 {
				c = i
			}
		}
	}
	if c < 0 {
		return nil, name, nil
	}
	prefix, local = name[:c], name[c+1:]
	if len(prefix) == 0 || len(local) == 0 || colons > 1 {
		return nil, nil, s.nwf("name %q is not a qualified name", name)
	}
	return prefix, local, nil
}

func (s *scanner) endElementName(name []byte) *Error {
	prefix, local, err := s.splitName(name)
	if err != nil {
		return err
	}
	switch string(prefix) {
	case "":
		s.prefixKind = prefixNone
	case "xml":
		s.prefixKind = prefixXML
	case "xmlns":
		return s.nwf("element name with the prefix xmlns")
	default:
		s.prefixKind = prefixOther
		s.prefix = maphash.Bytes(seed, prefix)
	}
	s.localStream = string(local) == "stream"
	s.localTLS = string(local) == "starttls"
	if s.depth == 1 && s.localStream {
		// A new stream header where a stanza would be: a restart.
		s.header = true
		s.tl = &s.set.head
		if !s.pendingDecl {
			s.rebudget(s.set.head.MaxBytes-s.sinceRebudget(), limitHeader)
		}
	}
	if s.pendingDecl && !s.header {
		return s.fail(stream.RestrictedXML, "XML declaration not before a stream header")
	}
	return nil
}

func (s *scanner) endAttrName(name []byte) *Error {
	prefix, local, err := s.splitName(name)
	if err != nil {
		return err
	}
	s.rec = recNone
	if len(prefix) == 0 && string(local) != "xmlns" {
		s.addPlain(local)
		if s.header {
			switch string(local) {
			case "to":
				s.rec = recTo
			case "from":
				s.rec = recFrom
			case "version":
				s.rec = recVersion
			}
		}
		return nil
	}
	bit := attrBit(local)
	s.maybeDup = s.maybeDup || s.attrBits&bit != 0
	s.attrBits |= bit
	a := attr{loff: int32(len(s.locals)), llen: int32(len(local))}
	s.locals = append(s.locals, local...)
	switch string(prefix) {
	case "": // xmlns
		a.kind, a.space = attrDefaultDecl, hashEmpty
		s.rec = recDecl
	case "xml":
		a.kind, a.space = attrXML, hashXMLURL
	case "xmlns":
		if string(local) == "xmlns" {
			return s.nwf("the prefix xmlns declared")
		}
		a.kind, a.space = attrPrefixDecl, hashXMLNS
		a.prefix = maphash.Bytes(seed, local)
		s.prefixDecls++
		if string(local) == "xml" {
			a.known = isXML // must be bound to its own namespace
		}
		s.rec = recDecl
	default:
		a.kind, a.prefix = attrPrefixed, maphash.Bytes(seed, prefix)
		s.prefixed++
	}
	if a.kind == attrDefaultDecl || a.kind == attrPrefixDecl {
		if s.decls >= s.tl.MaxNamespaces {
			return s.policy("more than %d namespace declarations on an element", s.tl.MaxNamespaces)
		}
		s.decls++
	}
	s.attrs = append(s.attrs, a)
	return nil
}

// addDefaultDecl adds an xmlns attribute whose value does not matter.
func (s *scanner) addDefaultDecl() {
	local := []byte("xmlns")
	bit := attrBit(local)
	s.maybeDup = s.maybeDup || s.attrBits&bit != 0
	s.attrBits |= bit
	s.attrs = append(s.attrs, attr{kind: attrDefaultDecl, space: hashEmpty,
		loff: int32(len(s.locals)), llen: int32(len(local))})
	s.locals = append(s.locals, local...)
	s.decls++
	s.hasDefault, s.defKnown = true, 0
}

// addPlain adds a plain attribute.
func (s *scanner) addPlain(local []byte) {
	bit := attrBit(local)
	s.maybeDup = s.maybeDup || s.attrBits&bit != 0
	s.attrBits |= bit
	s.plain = append(s.plain, span{int32(len(s.locals)), int32(len(local))})
	s.locals = append(s.locals, local...)
}

// endValue ends an attribute value.
func (s *scanner) endValue() *Error {
	switch s.rec {
	case recDecl:
		a := &s.attrs[len(s.attrs)-1]
		known := s.known(s.val)
		switch {
		case a.kind == attrPrefixDecl && a.known == isXML:
			if known&isXML == 0 {
				return s.nwf("the prefix xml bound to another namespace")
			}
		case a.kind == attrPrefixDecl && len(s.val) == 0:
			return s.nwf("a prefix bound to the empty namespace name")
		case known&(isXML|isXMLNS) != 0:
			return s.nwf("the xml or xmlns namespace bound to another prefix")
		}
		a.known = known
		if a.kind == attrPrefixDecl {
			a.uri = maphash.Bytes(seed, s.val)
		}
		if a.kind == attrDefaultDecl {
			s.hasDefault, s.defKnown = true, known
		}
	case recTo:
		s.hasTo, s.to = true, string(s.val)
	case recFrom:
		s.hasFrom, s.from = true, string(s.val)
	case recVersion:
		s.hasVersion, s.version = true, string(s.val)
	}
	s.rec = recNone
	return nil
}

func (s *scanner) known(v []byte) uint8 {
	var k uint8
	switch string(v) {
	case stream.NS:
		k = isStreams
	case nsTLS:
		k = isTLS
	case nsXML:
		k = isXML
	case nsXMLNS:
		k = isXMLNS
	}
	if string(v) == s.set.ns {
		k |= isContent
	}
	return k
}

// endStartTag checks a complete start tag before its '>' is passed on.
func (s *scanner) endStartTag(empty bool) *Error {
	if s.header {
		s.ns.popTo(0)
		s.frames = s.frames[:0]
	}
	base := len(s.ns.stack)
	for i := 0; s.prefixDecls > 0 && i < len(s.attrs); i++ {
		if a := &s.attrs[i]; a.kind == attrPrefixDecl {
			s.ns.push(binding{prefix: a.prefix, uri: a.uri, known: a.known})
		}
	}
	// The element's namespace, as far as it matters: stream headers and
	// <starttls/>.
	var elemKnown uint8
	switch s.prefixKind {
	case prefixNone:
		if s.hasDefault {
			elemKnown = s.defKnown
		}
	case prefixOther:
		j := s.ns.lookup(s.prefix)
		if j < 0 {
			s.ns.popTo(base)
			if s.header {
				return s.fail(stream.BadNamespacePrefix, "stream header with an undeclared prefix")
			}
			return s.nwf("element with an undeclared prefix")
		}
		elemKnown = s.ns.stack[j].known
	}
	for i := 0; s.prefixed > 0 && i < len(s.attrs); i++ {
		a := &s.attrs[i]
		if a.kind != attrPrefixed {
			continue
		}
		j := s.ns.lookup(a.prefix)
		if j < 0 {
			s.ns.popTo(base)
			return s.nwf("attribute with an undeclared prefix")
		}
		a.space = s.ns.stack[j].uri
	}
	if s.maybeDup && s.hasDuplicate() {
		s.ns.popTo(base)
		return s.nwf("duplicate attribute")
	}
	if s.header {
		if err := s.checkHeader(elemKnown, empty); err != nil {
			s.ns.popTo(base)
			return err
		}
		return nil
	}
	if s.depth == 1 {
		s.topTLS = s.localTLS && elemKnown&isTLS != 0
	}
	return nil
}

// hasDuplicate reports whether two attributes of the tag have the same
// expanded name.
func (s *scanner) hasDuplicate() bool {
	for i := 1; i < len(s.plain); i++ {
		a := s.plain[i]
		for _, b := range s.plain[:i] {
			if a.n == b.n && string(s.locals[a.off:a.off+a.n]) == string(s.locals[b.off:b.off+b.n]) {
				return true
			}
		}
	}
	for i := 1; i < len(s.attrs); i++ {
		a := &s.attrs[i]
		for j := range i {
			if b := &s.attrs[j]; a.space == b.space && a.llen == b.llen &&
				string(s.locals[a.loff:a.loff+a.llen]) == string(s.locals[b.loff:b.loff+b.llen]) {
				return true
			}
		}
	}
	return false
}

// afterStartTag updates the depth once a start tag has been passed on, and
// returns the state to go on in.
func (s *scanner) afterStartTag(empty bool) uint8 {
	if s.header {
		s.header = false
		s.depth = 1
		s.frames = append(s.frames, 0)
		s.pendingDecl = false
		s.rebudget(math.MaxInt, limitNone)
		return sText
	}
	base := len(s.ns.stack) - s.prefixDecls
	if empty {
		s.ns.popTo(base)
		if s.depth == 1 {
			return s.endTopLevel()
		}
		return sText
	}
	s.depth++
	s.frames = append(s.frames, int32(base))
	return sText
}

// endEndTag updates the depth once an end tag has been passed on, and
// returns the state to go on in.
func (s *scanner) endEndTag() uint8 {
	last := len(s.frames) - 1
	s.ns.popTo(int(s.frames[last]))
	s.frames = s.frames[:last]
	s.depth--
	switch s.depth {
	case 0:
		s.ended = true
		s.rebudget(math.MaxInt, limitNone)
	case 1:
		return s.endTopLevel()
	}
	return sText
}

// endTopLevel runs when a child of the stream root has been passed on; it
// returns the state to go on in.
func (s *scanner) endTopLevel() uint8 {
	st := sText
	if s.topTLS && s.startTLS && !s.session && !s.auth.Load() {
		st = sSkipWS
	}
	s.topTLS = false
	s.rebudget(math.MaxInt, limitNone)
	return st
}

func (s *scanner) endPITarget(name []byte, b byte) *Error {
	if len(name) == 0 {
		return s.nwf("processing instruction without a target")
	}
	if string(name) != "xml" {
		return s.fail(stream.RestrictedXML, "processing instruction")
	}
	if s.ended || s.pendingDecl || s.depth > 1 {
		return s.fail(stream.RestrictedXML, "XML declaration not before a stream header")
	}
	if !isSpace(b) && b != '?' {
		return s.nwf("malformed XML declaration")
	}
	if s.depth == 1 {
		s.rebudget(s.set.head.MaxBytes-s.sinceRebudget(), limitHeader)
	}
	return nil
}

// checkHeader validates a stream header (RFC 6120 §4.7, §4.8).
func (s *scanner) checkHeader(elemKnown uint8, empty bool) *Error {
	// The domain the answer comes from, if this header names one we serve.
	canonical, domainOnly := "", false
	if s.hasTo {
		if j, err := jid.Parse(s.to); err == nil && j.Localpart() == "" && j.Resourcepart() == "" {
			canonical, domainOnly = j.Domainpart(), true
		}
	}
	served := domainOnly && s.set.serves != nil && s.set.serves(canonical)
	fail := func(cond stream.Error, text string) *Error {
		e := s.fail(cond, "%s", text)
		if e.Domain == "" && served {
			e.Domain = canonical
		}
		return e
	}
	switch {
	case !s.localStream || elemKnown&isStreams == 0:
		return fail(stream.InvalidNamespace, "the stream header is not <stream> in "+stream.NS)
	case !s.hasDefault || s.defKnown&isContent == 0:
		return fail(stream.InvalidNamespace, "the stream's content namespace is not "+s.set.ns)
	case !s.hasVersion:
		return fail(stream.UnsupportedVersion, "the stream header has no version; 1.0 is required")
	}
	if v, err := stream.ParseVersion(s.version); err != nil || v != stream.DefaultVersion {
		return fail(stream.UnsupportedVersion, "the stream version is not 1.0")
	}
	switch {
	case !s.hasTo:
		return fail(stream.HostUnknown, "the stream header has no 'to'")
	case !domainOnly:
		return fail(stream.HostUnknown, "the stream header's 'to' is not a domain")
	case !served:
		return fail(stream.HostUnknown, "this server does not serve the domain in 'to'")
	case s.domain != "" && canonical != s.domain:
		return fail(stream.HostUnknown, "the stream was restarted for another domain")
	}
	if s.hasFrom {
		if _, err := jid.Parse(s.from); err != nil {
			return fail(stream.InvalidFrom, "the stream header's 'from' is not a JID")
		}
	}
	if empty {
		return fail(stream.BadFormat, "empty stream header")
	}
	if s.domain == "" {
		s.domain = canonical
		if s.onDomain != nil {
			s.onDomain(canonical)
		}
	}
	return nil
}
