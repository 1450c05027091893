package cbind

import (
	"encoding/xml"
	"errors"
	"fmt"

	"mellium.im/xmlstream"
)

// NS is the XEP-0440 namespace.
const NS = "urn:xmpp:sasl-cb:0"

const (
	// MaxCapabilityChildren caps the child elements of a
	// <sasl-channel-binding/> element accepted by UnmarshalXML. The IANA
	// registry holds fewer than ten types.
	MaxCapabilityChildren = 16
)

// ErrInvalidCapability is wrapped by the errors of Capability.UnmarshalXML
// for malformed or oversized input.
var ErrInvalidCapability = errors.New("cbind: invalid sasl-channel-binding element")

var (
	capabilityName = xml.Name{Space: NS, Local: "sasl-channel-binding"}
	bindingName    = xml.Name{Local: "channel-binding"}
)

// Capability is the XEP-0440 SASL Channel-Binding Type Capability stream
// feature:
//
//	<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>
//	  <channel-binding type='tls-server-end-point'/>
//	  <channel-binding type='tls-exporter'/>
//	</sasl-channel-binding>
//
// A server lists the types available on the connection (see Available);
// XEP-0440 requires at least one.
type Capability struct {
	Types []Type
}

var (
	_ xmlstream.Marshaler = Capability{}
	_ xmlstream.WriterTo  = Capability{}
	_ xml.Marshaler       = Capability{}
	_ xml.Unmarshaler     = (*Capability)(nil)
)

// TokenReader returns a stream of XML tokens for the element. Types that
// ParseType does not accept are left out.
func (c Capability) TokenReader() xml.TokenReader {
	var inner []xml.TokenReader
	for _, t := range c.Types {
		if _, err := ParseType(string(t)); err != nil {
			continue
		}
		inner = append(inner, xmlstream.Wrap(nil, xml.StartElement{
			Name: bindingName,
			Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: string(t)}},
		}))
	}
	return xmlstream.Wrap(xmlstream.MultiReader(inner...), xml.StartElement{Name: capabilityName})
}

// WriteXML writes the element to w.
func (c Capability) WriteXML(w xmlstream.TokenWriter) (int, error) {
	return xmlstream.Copy(w, c.TokenReader())
}

// MarshalXML implements xml.Marshaler; start is ignored.
func (c Capability) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	if _, err := c.WriteXML(e); err != nil {
		return err
	}
	return e.Flush()
}

// UnmarshalXML implements xml.Unmarshaler. start must be
// <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>. Known types are kept in
// document order without duplicates; unknown or over-long type names and
// foreign child elements are skipped (XEP-0440 lets a server list any IANA
// type). More than MaxCapabilityChildren child elements is an error.
func (c *Capability) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	if start.Name != capabilityName {
		return fmt.Errorf("%w: unexpected element <%s xmlns=%q>", ErrInvalidCapability,
			quoteShort(start.Name.Local), start.Name.Space)
	}
	var types []Type
	children := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidCapability, err)
		}
		switch tok := tok.(type) {
		case xml.EndElement:
			c.Types = types
			return nil
		case xml.StartElement:
			children++
			if children > MaxCapabilityChildren {
				return fmt.Errorf("%w: more than %d child elements", ErrInvalidCapability, MaxCapabilityChildren)
			}
			// Space is "" when the tokens come from a token stream that
			// (like TokenReader) leaves children to inherit the namespace.
			if tok.Name.Local == bindingName.Local && (tok.Name.Space == NS || tok.Name.Space == "") {
				if t, ok := bindingType(tok.Attr); ok && !contains(types, t) {
					types = append(types, t)
				}
			}
			if err := d.Skip(); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidCapability, err)
			}
		}
	}
}

func bindingType(attrs []xml.Attr) (Type, bool) {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == "type" {
			t, err := ParseType(a.Value)
			return t, err == nil
		}
	}
	return "", false
}

func contains(types []Type, t Type) bool {
	for _, have := range types {
		if have == t {
			return true
		}
	}
	return false
}
