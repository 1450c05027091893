package guard

// oldFilter is the demo's whitespace filter (cmd/xmppauthd/whitespace.go at
// 6b1f7c2, the wsFilter type and its methods, unchanged but for this
// comment), kept as the reference the guard's whitespace dropping is
// compared with (TestOldFilterCases, FuzzGuard).

// wsFilter is the scanner state of wsFilterConn.
type wsFilter struct {
	stopAfterStartTLS bool
	passthrough       bool // stopped: pass every byte
	skipToData        bool // after <starttls/>: drop whitespace, then stop

	state   wsState
	depth   int
	quote   byte   // inside a tag: the open quote, or 0
	prev    byte   // inside a tag: the previous byte
	name    []byte // the current tag's name (capped)
	inName  bool
	topName []byte // name of the open element at depth 2 (a child of the root)
}

type wsState uint8

const (
	wsText     wsState = iota
	wsTagOpen          // just read '<'
	wsStartTag         // <name ...
	wsEndTag           // </name ...
	wsPI               // <? ... ?>
	wsOther            // <! ... >
)

const maxTagName = 64

func isXMLSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// filter drops the ignorable whitespace from p in place and returns the
// new length.
func (f *wsFilter) filter(p []byte) int {
	out := 0
	for i := 0; i < len(p); i++ {
		b := p[i]
		if f.passthrough {
			out += copy(p[out:], p[i:])
			return out
		}
		if f.skipToData {
			if isXMLSpace(b) {
				continue
			}
			f.passthrough = true
			out += copy(p[out:], p[i:])
			return out
		}
		keep := true
		switch f.state {
		case wsText:
			switch {
			case b == '<':
				f.state = wsTagOpen
			case isXMLSpace(b) && f.depth <= 1:
				keep = false
			}
		case wsTagOpen:
			f.name, f.inName, f.quote, f.prev = f.name[:0], true, 0, 0
			switch b {
			case '/':
				f.state = wsEndTag
			case '?':
				f.state = wsPI
			case '!':
				f.state = wsOther
			default:
				f.state = wsStartTag
				f.addName(b)
			}
		case wsStartTag:
			f.startTag(b)
		case wsEndTag:
			if b == '>' {
				f.state = wsText
				f.depth--
				if f.depth == 1 {
					f.closedTop()
				}
				if f.depth < 0 {
					f.depth = 0
				}
			}
		case wsPI:
			if b == '>' && f.prev == '?' {
				f.state = wsText
			}
			f.prev = b
		case wsOther:
			if b == '>' {
				f.state = wsText
			}
		}
		if keep {
			p[out] = b
			out++
		}
	}
	return out
}

func (f *wsFilter) addName(b byte) {
	if len(f.name) < maxTagName {
		f.name = append(f.name, b)
	}
}

// startTag scans one byte of a start tag.
func (f *wsFilter) startTag(b byte) {
	if f.quote != 0 {
		if b == f.quote {
			f.quote = 0
		}
		f.prev = b
		return
	}
	switch {
	case b == '"' || b == '\'':
		f.quote = b
		f.inName = false
	case b == '>':
		f.state = wsText
		if f.prev == '/' {
			// Self-closing: depth unchanged.
			if f.depth == 1 {
				f.topName = append(f.topName[:0], f.name...)
				f.closedTop()
			}
			break
		}
		if isStreamRoot(f.name) {
			// A stream header (the first, or a restart after TLS or
			// SASL) is the root of a new document.
			f.depth = 1
			break
		}
		f.depth++
		if f.depth == 2 {
			f.topName = append(f.topName[:0], f.name...)
		}
	case isXMLSpace(b) || b == '/':
		f.inName = false
	default:
		if f.inName {
			f.addName(b)
		}
	}
	f.prev = b
}

// closedTop runs when a child of the stream root has ended.
func (f *wsFilter) closedTop() {
	if f.stopAfterStartTLS && localName(f.topName) == "starttls" {
		f.skipToData = true
	}
}

// isStreamRoot reports whether a tag name is a stream header
// ("stream:stream" or an unprefixed "stream").
func isStreamRoot(name []byte) bool {
	return localName(name) == "stream"
}

func localName(name []byte) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == ':' {
			return string(name[i+1:])
		}
	}
	return string(name)
}

// oldFilterRun runs in through the old filter in one piece.
func oldFilterRun(in []byte, beforeTLS bool) ([]byte, bool) {
	f := wsFilter{stopAfterStartTLS: beforeTLS}
	p := append([]byte(nil), in...)
	return p[:f.filter(p)], f.passthrough
}
