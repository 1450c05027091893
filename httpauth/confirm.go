package httpauth

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"mellium.im/xmlstream"
)

// Length limits applied to untrusted input.
const (
	// MaxTransactionIDLen is the longest accepted transaction identifier,
	// in bytes after percent-decoding.
	MaxTransactionIDLen = 128
	// MaxJIDLen is the longest accepted JID in bytes (RFC 7622 allows 3071).
	MaxJIDLen = 3071
	// MaxMethodLen is the longest accepted HTTP method.
	MaxMethodLen = 32
	// MaxURLLen is the longest accepted URL.
	MaxURLLen = 4096
	// MaxHeaderLen is the longest accepted Authorization header value.
	MaxHeaderLen = 8192
	// MaxBodyLen is the longest message body read for a plaintext answer.
	MaxBodyLen = 4096
)

// Confirm is the <confirm xmlns='http://jabber.org/protocol/http-auth'/>
// element: the request the user is asked to confirm.
type Confirm struct {
	XMLName xml.Name `xml:"http://jabber.org/protocol/http-auth confirm"`
	// ID is the transaction identifier the HTTP client supplied.
	ID string `xml:"id,attr"`
	// Method is the HTTP method of the request.
	Method string `xml:"method,attr"`
	// URL is the full URL that was requested.
	URL string `xml:"url,attr"`
}

// Validate reports whether c is a well-formed confirm element: all three
// attributes present, within the length limits, a method made of HTTP token
// characters and an absolute http or https URL.
func (c Confirm) Validate() error {
	switch {
	case c.ID == "" || len(c.ID) > MaxTransactionIDLen || !validText(c.ID):
		return fmt.Errorf("%w: bad id", ErrMalformed)
	case c.Method == "" || len(c.Method) > MaxMethodLen || !isToken(c.Method):
		return fmt.Errorf("%w: bad method", ErrMalformed)
	case c.URL == "" || len(c.URL) > MaxURLLen || !validText(c.URL):
		return fmt.Errorf("%w: bad url", ErrMalformed)
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: url is not an absolute http(s) URL", ErrMalformed)
	}
	return nil
}

// ParseConfirm reads a <confirm/> element from its start element. Only the
// attributes are used (the element is empty); the result is validated.
func ParseConfirm(start xml.StartElement) (Confirm, error) {
	c, _, err := confirmAttrs(start)
	if err != nil {
		return Confirm{}, err
	}
	if err := c.Validate(); err != nil {
		return Confirm{}, err
	}
	return c, nil
}

// confirmAttrs reads the attributes of a <confirm/> element without
// validating them, and says which of id, method and url it has.
func confirmAttrs(start xml.StartElement) (Confirm, [3]bool, error) {
	var has [3]bool
	if start.Name.Space != NS || start.Name.Local != "confirm" {
		return Confirm{}, has, fmt.Errorf("%w: not a confirm element", ErrMalformed)
	}
	if duplicateAttr(start.Attr) {
		return Confirm{}, has, fmt.Errorf("%w: duplicate attribute", ErrMalformed)
	}
	c := Confirm{XMLName: xml.Name{Space: NS, Local: "confirm"}}
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "id":
			c.ID, has[0] = a.Value, true
		case "method":
			c.Method, has[1] = a.Value, true
		case "url":
			c.URL, has[2] = a.Value, true
		}
	}
	return c, has, nil
}

// UnmarshalXML implements xml.Unmarshaler; it validates the element.
func (c *Confirm) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	v, err := ParseConfirm(start)
	if err != nil {
		return err
	}
	*c = v
	return d.Skip()
}

// TokenReader returns a stream of XML tokens for c.
func (c Confirm) TokenReader() xml.TokenReader {
	return xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: NS, Local: "confirm"},
		Attr: []xml.Attr{
			{Name: xml.Name{Local: "id"}, Value: c.ID},
			{Name: xml.Name{Local: "method"}, Value: c.Method},
			{Name: xml.Name{Local: "url"}, Value: c.URL},
		},
	})
}

// WriteXML implements xmlstream.WriterTo.
func (c Confirm) WriteXML(w xmlstream.TokenWriter) (int, error) {
	return xmlstream.Copy(w, c.TokenReader())
}

// MarshalXML implements xml.Marshaler.
func (c Confirm) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	_, err := c.WriteXML(e)
	if err != nil {
		return err
	}
	return e.Flush()
}

// isToken reports whether s consists of RFC 9110 tchar only.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// validText reports whether s is valid UTF-8 without control characters.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
