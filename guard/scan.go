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

// attribute kinds.
const (
	attrPlain       uint8 = iota // name
	attrPrefixed                 // p:name
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
	kind   uint8
	known  uint8  // declarations: what the value is
	prefix uint64 // attrPrefixed: hash of the prefix
	local  uint64 // hash of the local name (declarations: of the declared prefix)
	space  uint64 // hash of the namespace as encoding/xml names it; set at '>'
	uri    uint64 // declarations: hash of the value
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
	attrs       []attr
	decls       int
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

// scan checks p, drops the whitespace between top-level elements from it in
// place and returns the length of what is left. On a violation it returns
// the length of what is left before the violation point, and the error.
func (s *scanner) scan(p []byte) (int, *Error) {
	out, i, n := 0, 0, len(p)
	// keep passes p[i:i+k] on.
	keep := func(k int) {
		if out != i {
			copy(p[out:], p[i:i+k])
		}
		out += k
		i += k
		s.budget -= k
	}
	for i < n {
		if s.passthrough {
			keep(n - i)
			return out, nil
		}
		if s.budget == 0 && s.state != sSkipWS {
			return out, s.overLimit()
		}
		b := p[i]
		switch s.state {
		case sText:
			if s.depth >= 2 {
				// Character data: pass runs up to '<' or '&' at once.
				rest := p[i:min(n, i+s.budget)]
				run := rest
				if j := bytes.IndexByte(rest, '<'); j >= 0 {
					run = rest[:j]
				}
				if j := bytes.IndexByte(run, '&'); j >= 0 {
					run = run[:j]
				}
				if len(run) > 0 {
					keep(len(run))
					continue
				}
				keep(1)
				if b == '<' {
					s.state = sLT
				} else {
					s.entAttr, s.state = false, sEntity
				}
				continue
			}
			// Between top-level elements: drop whitespace.
			if isSpace(b) {
				i++
				s.budget--
				continue
			}
			switch {
			case s.ended:
				return out, s.nwf("data after the end of the stream")
			case b != '<' && s.depth == 0:
				return out, s.nwf("data before the stream header")
			case b != '<':
				return out, s.fail(stream.BadFormat, "character data in the stream root")
			}
			if !s.pendingDecl {
				if !s.session && s.auth.Load() {
					s.session, s.lim = true, &s.set.session
				}
				switch {
				case s.depth == 0:
					s.rebudget(s.set.head.MaxBytes, limitHeader)
				case s.session:
					s.rebudget(s.set.session.MaxBytes, limitStanza)
				default:
					s.rebudget(math.MaxInt, limitNone)
				}
				if s.budget == 0 {
					return out, s.overLimit()
				}
			}
			keep(1)
			s.state = sLT

		case sLT:
			switch {
			case b == '/':
				if s.depth == 0 {
					return out, s.nwf("end tag before the stream header")
				}
				if s.pendingDecl {
					return out, s.fail(stream.RestrictedXML, "XML declaration not before a stream header")
				}
				keep(1)
				s.name = s.name[:0]
				s.state = sEndName
			case b == '?':
				keep(1)
				s.name = s.name[:0]
				s.state = sPITarget
			case b == '!':
				keep(1)
				s.bang = 0
				s.state = sBang
			case isName[b]:
				if s.depth >= 1 && s.depth+1 > s.lim.MaxDepth {
					return out, s.policy("elements nested deeper than %d", s.lim.MaxDepth)
				}
				s.startTag()
				s.state = sStartName
			default:
				return out, s.nwf("expected a name after '<'")
			}

		case sStartName, sAttrName, sEndName, sPITarget:
			j := i
			for j < n && isName[p[j]] {
				j++
			}
			if j > i {
				max := s.lim.MaxNameLen
				if s.depth == 0 {
					max = s.set.head.MaxNameLen
				}
				if s.state == sAttrName {
					max = s.tl.MaxNameLen
				}
				k := min(j-i, s.budget)
				if len(s.name)+k > max {
					keep(max - len(s.name))
					return out, s.policy("name longer than %d bytes", max)
				}
				s.name = append(s.name, p[i:i+k]...)
				keep(k)
				continue
			}
			// b ends the name.
			var err *Error
			switch s.state {
			case sStartName:
				if err = s.endElementName(); err != nil {
					return out, err
				}
				switch {
				case isSpace(b):
					keep(1)
					s.state = sTagSpace
				case b == '/':
					keep(1)
					s.state = sEmpty
				case b == '>':
					if err = s.endStartTag(false); err != nil {
						return out, err
					}
					keep(1)
					s.afterStartTag(false)
				default:
					return out, s.nwf("unexpected %q in a start tag", b)
				}
			case sAttrName:
				if err = s.endAttrName(); err != nil {
					return out, err
				}
				switch {
				case isSpace(b):
					keep(1)
					s.state = sAttrEq
				case b == '=':
					keep(1)
					s.state = sAttrQuote
				default:
					return out, s.nwf("expected '=' after an attribute name")
				}
			case sEndName:
				if len(s.name) == 0 {
					return out, s.nwf("expected a name after '</'")
				}
				switch {
				case isSpace(b):
					keep(1)
					s.state = sEndSpace
				case b == '>':
					keep(1)
					s.endEndTag()
				default:
					return out, s.nwf("unexpected %q in an end tag", b)
				}
			case sPITarget:
				if err = s.endPITarget(b); err != nil {
					return out, err
				}
				keep(1)
				s.piQ = b == '?'
				s.state = sPI
			}

		case sTagSpace, sAfterValue:
			switch {
			case isSpace(b):
				keep(1)
				s.state = sTagSpace
			case b == '/':
				keep(1)
				s.state = sEmpty
			case b == '>':
				if err := s.endStartTag(false); err != nil {
					return out, err
				}
				keep(1)
				s.afterStartTag(false)
			case isName[b] && s.state == sTagSpace:
				if len(s.attrs) >= s.tl.MaxAttrs {
					return out, s.policy("more than %d attributes on an element", s.tl.MaxAttrs)
				}
				s.name = s.name[:0]
				s.state = sAttrName
			case isName[b]:
				return out, s.nwf("no whitespace between attributes")
			default:
				return out, s.nwf("unexpected %q in a start tag", b)
			}

		case sAttrEq:
			switch {
			case isSpace(b):
				keep(1)
			case b == '=':
				keep(1)
				s.state = sAttrQuote
			default:
				return out, s.nwf("expected '=' after an attribute name")
			}

		case sAttrQuote:
			switch {
			case isSpace(b):
				keep(1)
			case b == '\'' || b == '"':
				keep(1)
				s.quote = b
				s.val, s.valRaw, s.prevCR = s.val[:0], 0, false
				s.state = sAttrValue
			default:
				return out, s.nwf("attribute value not quoted")
			}

		case sAttrValue:
			rest := p[i:min(n, i+s.budget)]
			run := rest
			if j := bytes.IndexByte(rest, s.quote); j >= 0 {
				run = rest[:j]
			}
			if j := bytes.IndexByte(run, '&'); j >= 0 {
				run = run[:j]
			}
			if j := bytes.IndexByte(run, '<'); j >= 0 {
				run = run[:j]
			}
			if len(run) > 0 {
				if s.rec == recDecl && s.valRaw+len(run) > s.tl.MaxNamespaceLen {
					keep(s.tl.MaxNamespaceLen - s.valRaw)
					return out, s.policy("namespace name longer than %d bytes", s.tl.MaxNamespaceLen)
				}
				s.valRaw += len(run)
				if s.rec != recNone {
					s.record(run)
				}
				keep(len(run))
				continue
			}
			switch b {
			case '<':
				return out, s.nwf("'<' in an attribute value")
			case '&':
				if err := s.rawValueByte(); err != nil {
					return out, err
				}
				keep(1)
				s.entAttr, s.state = true, sEntity
			default: // the closing quote
				if err := s.endValue(); err != nil {
					return out, err
				}
				keep(1)
				s.state = sAfterValue
			}

		case sEmpty:
			if b != '>' {
				return out, s.nwf("expected '>' after '/' in a start tag")
			}
			if err := s.endStartTag(true); err != nil {
				return out, err
			}
			keep(1)
			s.afterStartTag(true)

		case sEndSpace:
			switch {
			case isSpace(b):
				keep(1)
			case b == '>':
				keep(1)
				s.endEndTag()
			default:
				return out, s.nwf("unexpected %q in an end tag", b)
			}

		case sPI:
			// The body of an XML declaration, up to "?>".
			rest := p[i:min(n, i+s.budget)]
			j := bytes.IndexByte(rest, '>')
			if j < 0 {
				s.piQ = rest[len(rest)-1] == '?'
				keep(len(rest))
				continue
			}
			end := j > 0 && rest[j-1] == '?' || j == 0 && s.piQ
			keep(j + 1)
			if end {
				s.pendingDecl = true
				s.state = sText
			} else {
				s.piQ = false
			}

		case sBang:
			if s.depth <= 1 {
				if b == '[' {
					return out, s.fail(stream.BadFormat, "CDATA section in the stream root")
				}
				return out, s.bangError(b)
			}
			if b != cdataOpen[s.bang] {
				if s.bang == 0 {
					return out, s.bangError(b)
				}
				return out, s.nwf("malformed CDATA section")
			}
			keep(1)
			if s.bang++; s.bang == len(cdataOpen) {
				s.brackets = 0
				s.state = sCDATA
			}

		case sCDATA:
			rest := p[i:min(n, i+s.budget)]
			j := bytes.IndexByte(rest, '>')
			if j < 0 {
				s.brackets = trailingBrackets(rest, s.brackets)
				keep(len(rest))
				continue
			}
			end := trailingBrackets(rest[:j], s.brackets) >= 2
			keep(j + 1)
			s.brackets = 0
			if end {
				s.state = sText
			}

		case sEntity:
			switch {
			case b == '#':
				if err := s.rawValueByte(); err != nil {
					return out, err
				}
				keep(1)
				s.entVal, s.entDigits, s.entHex = 0, 0, false
				s.state = sCharRef
			case isName[b]:
				s.entLen = 0
				s.state = sEntName
			default:
				return out, s.nwf("'&' not starting an entity reference")
			}

		case sEntName:
			if isName[b] {
				if s.entLen == len(s.ent) {
					return out, s.fail(stream.RestrictedXML, "entity reference other than the predefined ones")
				}
				if err := s.rawValueByte(); err != nil {
					return out, err
				}
				s.ent[s.entLen] = b
				s.entLen++
				keep(1)
				continue
			}
			if b != ';' {
				return out, s.nwf("entity reference without ';'")
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
				return out, s.fail(stream.RestrictedXML, "entity reference other than the predefined ones")
			}
			if err := s.rawValueByte(); err != nil {
				return out, err
			}
			keep(1)
			s.decoded(rune(c))

		case sCharRef:
			if b == 'x' {
				if err := s.rawValueByte(); err != nil {
					return out, err
				}
				keep(1)
				s.entHex = true
			}
			s.state = sCharDigits

		case sCharDigits:
			d := digit(b, s.entHex)
			if d >= 0 {
				if err := s.rawValueByte(); err != nil {
					return out, err
				}
				keep(1)
				base := 10
				if s.entHex {
					base = 16
				}
				if s.entVal <= utf8.MaxRune {
					s.entVal = s.entVal*base + d
				}
				s.entDigits++
				continue
			}
			if b != ';' || s.entDigits == 0 {
				return out, s.nwf("malformed character reference")
			}
			if s.entVal > utf8.MaxRune || !isInCharacterRange(rune(s.entVal)) {
				return out, s.nwf("character reference to an invalid character")
			}
			if err := s.rawValueByte(); err != nil {
				return out, err
			}
			keep(1)
			s.decoded(rune(s.entVal))

		case sSkipWS:
			if isSpace(b) {
				i++
				continue
			}
			s.passthrough = true
		}
	}
	return out, nil
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

// isInCharacterRange is encoding/xml's test of XML 1.0's Char production.
func isInCharacterRange(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// rawValueByte counts one byte of an entity reference in an attribute
// value against the namespace name limit.
func (s *scanner) rawValueByte() *Error {
	if s.state != sAttrValue && !s.entAttr {
		return nil // in character data
	}
	if s.rec == recDecl && s.valRaw+1 > s.tl.MaxNamespaceLen {
		return s.policy("namespace name longer than %d bytes", s.tl.MaxNamespaceLen)
	}
	s.valRaw++
	return nil
}

// decoded ends an entity reference that stands for r.
func (s *scanner) decoded(r rune) {
	if s.entAttr {
		if s.rec != recNone {
			s.val = utf8.AppendRune(s.val, r)
			s.prevCR = false
		}
		s.state = sAttrValue
		return
	}
	s.state = sText
}

// record appends run to the recorded value the way encoding/xml reads it
// (unescaped "\r\n" and "\r" become "\n").
func (s *scanner) record(run []byte) {
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
	s.attrs = s.attrs[:0]
	s.decls = 0
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
func (s *scanner) splitName() (prefix, local []byte, err *Error) {
	c := bytes.IndexByte(s.name, ':')
	if c < 0 {
		return nil, s.name, nil
	}
	prefix, local = s.name[:c], s.name[c+1:]
	if len(prefix) == 0 || len(local) == 0 || bytes.IndexByte(local, ':') >= 0 {
		return nil, nil, s.nwf("name %q is not a qualified name", s.name)
	}
	return prefix, local, nil
}

func (s *scanner) endElementName() *Error {
	prefix, local, err := s.splitName()
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

func (s *scanner) endAttrName() *Error {
	prefix, local, err := s.splitName()
	if err != nil {
		return err
	}
	a := attr{local: maphash.Bytes(seed, local)}
	s.rec = recNone
	switch string(prefix) {
	case "":
		if string(local) == "xmlns" {
			a.kind, a.space = attrDefaultDecl, hashEmpty
			s.rec = recDecl
			break
		}
		a.kind, a.space = attrPlain, hashEmpty
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
	case "xml":
		a.kind, a.space = attrXML, hashXMLURL
	case "xmlns":
		if string(local) == "xmlns" {
			return s.nwf("the prefix xmlns declared")
		}
		a.kind, a.space = attrPrefixDecl, hashXMLNS
		if string(local) == "xml" {
			a.known = isXML // must be bound to its own namespace
		}
		s.rec = recDecl
	default:
		a.kind, a.prefix = attrPrefixed, maphash.Bytes(seed, prefix)
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

// endValue ends an attribute value.
func (s *scanner) endValue() *Error {
	a := &s.attrs[len(s.attrs)-1]
	switch s.rec {
	case recDecl:
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
		a.uri = maphash.Bytes(seed, s.val)
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
	for i := range s.attrs {
		if a := &s.attrs[i]; a.kind == attrPrefixDecl {
			s.ns.push(binding{prefix: a.local, uri: a.uri, known: a.known})
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
	for i := range s.attrs {
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
	for i := 1; i < len(s.attrs); i++ {
		for j := 0; j < i; j++ {
			if s.attrs[i].local == s.attrs[j].local && s.attrs[i].space == s.attrs[j].space {
				s.ns.popTo(base)
				return s.nwf("duplicate attribute")
			}
		}
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

// afterStartTag updates the depth once a start tag has been passed on.
func (s *scanner) afterStartTag(empty bool) {
	s.state = sText
	if s.header {
		s.header = false
		s.depth = 1
		s.frames = append(s.frames, 0)
		s.pendingDecl = false
		s.rebudget(math.MaxInt, limitNone)
		return
	}
	base := len(s.ns.stack)
	for i := range s.attrs {
		if s.attrs[i].kind == attrPrefixDecl {
			base--
		}
	}
	if empty {
		s.ns.popTo(base)
		if s.depth == 1 {
			s.endTopLevel()
		}
		return
	}
	s.depth++
	s.frames = append(s.frames, int32(base))
}

func (s *scanner) endEndTag() {
	s.state = sText
	last := len(s.frames) - 1
	s.ns.popTo(int(s.frames[last]))
	s.frames = s.frames[:last]
	s.depth--
	switch s.depth {
	case 0:
		s.ended = true
		s.rebudget(math.MaxInt, limitNone)
	case 1:
		s.endTopLevel()
	}
}

// endTopLevel runs when a child of the stream root has been passed on.
func (s *scanner) endTopLevel() {
	if s.topTLS && s.startTLS && !s.session && !s.auth.Load() {
		s.state = sSkipWS
	}
	s.topTLS = false
	s.rebudget(math.MaxInt, limitNone)
}

func (s *scanner) endPITarget(b byte) *Error {
	if len(s.name) == 0 {
		return s.nwf("processing instruction without a target")
	}
	if string(s.name) != "xml" {
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
