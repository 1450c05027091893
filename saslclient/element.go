package saslclient

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// Element is an element the server sent that this package does not
// interpret, kept as XML for the caller (xml.Unmarshal reads it).
type Element struct {
	// Name is the element's namespace and local name.
	Name xml.Name
	// XML is the whole element, re-encoded: every element carries its
	// namespace as an xmlns attribute, prefixes are not kept.
	XML []byte
}

// captureElement reads the rest of the element that start opened and
// re-encodes it, refusing more than limit bytes of output.
func captureElement(d *xml.Decoder, start xml.StartElement, limit int) (Element, error) {
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	depth := 0
	tok := xml.Token(start)
	for {
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			tok = stripNamespaceAttrs(t)
		case xml.EndElement:
			depth--
		case xml.CharData:
		default:
			// Comments, processing instructions and directives are not
			// content; mellium's reader refuses most of them anyway.
			tok = nil
		}
		if tok != nil {
			if err := e.EncodeToken(tok); err != nil {
				return Element{}, fmt.Errorf("%w: <%s/>: %v", ErrMalformed, start.Name.Local, err)
			}
		}
		if err := e.Flush(); err != nil {
			return Element{}, err
		}
		if buf.Len() > limit {
			return Element{}, fmt.Errorf("%w: <%s/> longer than %d bytes", ErrMalformed, start.Name.Local, limit)
		}
		if depth == 0 {
			return Element{Name: start.Name, XML: bytes.Clone(buf.Bytes())}, nil
		}
		var err error
		if tok, err = d.Token(); err != nil {
			return Element{}, fmt.Errorf("%w: <%s/>: %v", ErrMalformed, start.Name.Local, err)
		}
	}
}

// stripNamespaceAttrs drops namespace declarations: the decoder has
// resolved them into the names, and the encoder declares each name's
// namespace itself (keeping them would declare xmlns twice).
func stripNamespaceAttrs(t xml.StartElement) xml.StartElement {
	attrs := make([]xml.Attr, 0, len(t.Attr))
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
			continue
		}
		attrs = append(attrs, a)
	}
	t.Attr = attrs
	return t
}
