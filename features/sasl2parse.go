package features

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strconv"
	"unicode/utf8"
)

// Limits on what a SASL2 element may carry. They are far above what
// clients send; the stream guard bounds the element as a whole.
const (
	maxShortField   = 256 // user-agent id, software, device; mechanism and task names
	maxTagLen       = 64  // Bind2 <tag/>
	maxChildren     = 32  // children of <authenticate/> or <bind/>
	maxInline       = 16  // Bind2 inline feature requests
	maxInlineTokens = 256 // tokens of one inline feature request
	maxUpgrades     = 4   // XEP-0480 <upgrade/> requests
	maxFeatureVar   = 1024
)

// sasl2Request is what an <authenticate/> carries besides the mechanism and
// the initial response.
type sasl2Request struct {
	userAgent    UserAgent
	bind         *bind2Request // nil: no Bind2 request
	requestToken string        // XEP-0484 <request-token mechanism=…/>, "" for none
	fast         *fastRequest  // XEP-0484 <fast/>, nil when absent
	upgrades     []string      // XEP-0480 <upgrade/> task names
}

// bind2Request is a Bind2 <bind/>.
type bind2Request struct {
	tag      string
	elements []Element
}

// fastRequest is a XEP-0484 <fast/>.
type fastRequest struct {
	count      uint64 // 0: no count attribute
	invalidate bool
}

// Element is an XML element a client sent, kept as a copy of its tokens:
// an inline feature request of Bind2 such as
// <enable xmlns='urn:xmpp:carbons:2'/>.
type Element struct {
	// Start is the element's start tag.
	Start  xml.StartElement
	tokens []xml.Token // inner tokens and the end tag
}

// TokenReader returns the whole element.
func (e Element) TokenReader() xml.TokenReader {
	toks := append([]xml.Token{e.Start.Copy()}, e.tokens...)
	return &tokenSlice{toks: toks}
}

type tokenSlice struct{ toks []xml.Token }

func (s *tokenSlice) Token() (xml.Token, error) {
	if len(s.toks) == 0 {
		return nil, io.EOF
	}
	t := s.toks[0]
	s.toks = s.toks[1:]
	return xml.CopyToken(t), nil
}

// readElement2 reads the next XEP-0388 element (the caller set the
// deadline). I/O errors and anything that is not in the SASL2 namespace are
// returned as err; an element with a bad payload or field comes back with
// el.err set.
func (c *Login) readElement2(d *xml.Decoder) (saslElement, error) {
	start, err := nextStart(d)
	if err != nil {
		return saslElement{}, err
	}
	if start.Name.Space != NSSASL2 {
		return saslElement{}, errUnexpectedElement
	}
	return parseElement2(d, start, c.srv.cfg.MaxPayloadSize)
}

// parseElement2 parses the SASL2 element that start began, up to its end
// tag, keeping payloads of at most maxPayload bytes.
func parseElement2(d *xml.Decoder, start xml.StartElement, maxPayload int) (saslElement, error) {
	el := saslElement{name: start.Name.Local}
	p := &parser2{d: d, maxPayload: maxPayload, el: &el}
	switch start.Name.Local {
	case "authenticate":
		el.kind = elBegin
		el.mechanism = p.attr(start, "mechanism", maxShortField)
		el.req = &sasl2Request{}
		return el, p.authenticate()
	case "response":
		el.kind = elResponse
		el.payload = []byte{}
		return el, p.payloadOf()
	case "abort":
		el.kind = elAbort
		return el, d.Skip()
	case "next":
		el.kind = elNext
		el.mechanism = p.attr(start, "task", maxShortField)
		return el, d.Skip()
	case "task-data":
		el.kind = elTaskData
		return el, p.taskData()
	}
	return el, d.Skip()
}

// parser2 reads the inside of one SASL2 element.
type parser2 struct {
	d          *xml.Decoder
	maxPayload int
	el         *saslElement
}

// bad records the first field error of the element.
func (p *parser2) bad(err error) {
	if p.el.err == nil {
		p.el.err = err
	}
}

// attr returns the unqualified attribute name of start, marking the element
// malformed when it is longer than max or not UTF-8.
func (p *parser2) attr(start xml.StartElement, name string, max int) string {
	for _, a := range start.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			if len(a.Value) > max || !utf8.ValidString(a.Value) {
				p.bad(errMalformed)
				return ""
			}
			return a.Value
		}
	}
	return ""
}

// children calls f for each child element until the end of the current
// element; f must consume the child entirely. Text between children is
// ignored; more than maxChildren children make the element malformed (the
// rest are skipped).
func (p *parser2) children(f func(start xml.StartElement) error) error {
	n := 0
	for {
		tok, err := p.d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n++
			if n > maxChildren {
				p.bad(errMalformed)
				if err := p.d.Skip(); err != nil {
					return err
				}
				continue
			}
			if err := f(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// text reads the character data of the current element up to its end tag:
// at most max bytes (longer: tooLong); a child element sets child.
func (p *parser2) text(max int) (text []byte, tooLong, child bool, err error) {
	for depth := 1; depth > 0; {
		tok, err := p.d.Token()
		if err != nil {
			return nil, false, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			child = true
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth != 1 {
				continue
			}
			if len(text)+len(t) > max {
				tooLong = true
				continue
			}
			text = append(text, t...)
		}
	}
	return text, tooLong, child, nil
}

// shortText reads a short text field; over max bytes, not UTF-8 or with
// child elements the element is malformed.
func (p *parser2) shortText(max int) (string, error) {
	text, tooLong, child, err := p.text(max)
	if err != nil {
		return "", err
	}
	if tooLong || child || !utf8.Valid(text) {
		p.bad(errMalformed)
		return "", nil
	}
	return string(text), nil
}

// payloadOf reads base64 data of the current element into el.payload.
// XEP-0388 "SASL Data Encoding": an empty element is empty data. Leading
// and trailing whitespace is trimmed, as the XEP's own examples indent
// their data; inside, base64 must be strict.
func (p *parser2) payloadOf() error {
	maxEncoded := base64.StdEncoding.EncodedLen(p.maxPayload)
	text, tooLong, child, err := p.text(maxEncoded + 256) // room for the whitespace around
	if err != nil {
		return err
	}
	text = bytes.TrimSpace(text)
	switch {
	case child:
		p.bad(errMalformed)
		return nil
	case tooLong || len(text) > maxEncoded:
		p.bad(errPayloadTooLarge)
		return nil
	case len(text) == 0:
		p.el.payload = []byte{}
		return nil
	}
	payload, err := decodeBase64(text)
	if err != nil {
		p.bad(err)
		return nil
	}
	p.el.payload = payload
	return nil
}

func (p *parser2) authenticate() error {
	req := p.el.req
	sawResponse, sawUA, sawBind, sawFAST := false, false, false, false
	return p.children(func(start xml.StartElement) error {
		switch start.Name {
		case xml.Name{Space: NSSASL2, Local: "initial-response"}:
			if sawResponse {
				p.bad(errMalformed)
				return p.d.Skip()
			}
			sawResponse = true
			return p.payloadOf()
		case xml.Name{Space: NSSASL2, Local: "user-agent"}:
			if sawUA {
				p.bad(errMalformed)
				return p.d.Skip()
			}
			sawUA = true
			req.userAgent.ID = p.attr(start, "id", maxShortField)
			return p.children(func(start xml.StartElement) error {
				var err error
				switch start.Name {
				case xml.Name{Space: NSSASL2, Local: "software"}:
					req.userAgent.Software, err = p.shortText(maxShortField)
				case xml.Name{Space: NSSASL2, Local: "device"}:
					req.userAgent.Device, err = p.shortText(maxShortField)
				default:
					err = p.d.Skip()
				}
				return err
			})
		case xml.Name{Space: NSBind2, Local: "bind"}:
			if sawBind {
				p.bad(errMalformed)
				return p.d.Skip()
			}
			sawBind = true
			req.bind = &bind2Request{}
			return p.bind(req.bind)
		case xml.Name{Space: NSFAST, Local: "request-token"}:
			req.requestToken = p.attr(start, "mechanism", maxShortField)
			return p.d.Skip()
		case xml.Name{Space: NSFAST, Local: "fast"}:
			if sawFAST {
				p.bad(errMalformed)
				return p.d.Skip()
			}
			sawFAST = true
			req.fast = &fastRequest{}
			if s := p.attr(start, "count", 20); s != "" {
				n, err := strconv.ParseUint(s, 10, 64)
				if err != nil || n == 0 {
					// XEP-0484: "a positive integer".
					p.bad(errMalformed)
				}
				req.fast.count = n
			}
			switch p.attr(start, "invalidate", 8) {
			case "1", "true":
				req.fast.invalidate = true
			case "", "0", "false":
			default:
				p.bad(errMalformed)
			}
			return p.d.Skip()
		case xml.Name{Space: NSUpgrade, Local: "upgrade"}:
			name, err := p.shortText(maxShortField)
			if err != nil {
				return err
			}
			if len(req.upgrades) >= maxUpgrades {
				p.bad(errMalformed)
				return nil
			}
			req.upgrades = append(req.upgrades, name)
			return nil
		}
		// Extensions this server does not know (XEP-0198 <resume/>, say)
		// are ignored, as XEP-0388 expects of unknown inline requests.
		return p.d.Skip()
	})
}

func (p *parser2) bind(b *bind2Request) error {
	sawTag := false
	return p.children(func(start xml.StartElement) error {
		if start.Name == (xml.Name{Space: NSBind2, Local: "tag"}) {
			if sawTag {
				p.bad(errMalformed)
				return p.d.Skip()
			}
			sawTag = true
			var err error
			b.tag, err = p.shortText(maxTagLen)
			return err
		}
		if start.Name.Space == NSBind2 || len(b.elements) >= maxInline {
			// Unknown Bind2 children are ignored; too many inline
			// requests make the request malformed.
			if start.Name.Space != NSBind2 {
				p.bad(errMalformed)
			}
			return p.d.Skip()
		}
		e, err := p.element(start)
		if err != nil {
			return err
		}
		b.elements = append(b.elements, e)
		return nil
	})
}

// element copies the element start began, refusing more than
// maxInlineTokens tokens.
func (p *parser2) element(start xml.StartElement) (Element, error) {
	e := Element{Start: withoutNSDecls(start)}
	for depth := 1; depth > 0; {
		tok, err := p.d.Token()
		if err != nil {
			return Element{}, err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
		if len(e.tokens) >= maxInlineTokens {
			p.bad(errMalformed)
			continue
		}
		if s, ok := tok.(xml.StartElement); ok {
			tok = withoutNSDecls(s)
		}
		e.tokens = append(e.tokens, xml.CopyToken(tok))
	}
	return e, nil
}

// withoutNSDecls copies start without its namespace declarations, which
// encoding/xml keeps as attributes although Name.Space already says them
// (encoding the element again would declare them twice).
func withoutNSDecls(start xml.StartElement) xml.StartElement {
	s := start.Copy()
	s.Attr = s.Attr[:0]
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		s.Attr = append(s.Attr, a)
	}
	return s
}

// taskData reads a <task-data/>: the XEP-0480 SCRAM upgrade <hash/> goes
// into el.payload, anything else is ignored.
func (p *parser2) taskData() error {
	sawHash := false
	return p.children(func(start xml.StartElement) error {
		if start.Name == (xml.Name{Space: NSSCRAMUpgrade, Local: "hash"}) && !sawHash {
			sawHash = true
			return p.payloadOf()
		}
		return p.d.Skip()
	})
}
