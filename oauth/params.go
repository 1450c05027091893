package oauth

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"mellium.im/xmlstream"
)

// Limits applied while parsing an <oauth/> element. They are far above what
// OAuth 1.0 credentials need and bound the work done on hostile input.
const (
	// MaxValueBytes is the longest accepted value of one oauth_* parameter.
	MaxValueBytes = 1024
	// maxElementTokens bounds the tokens read inside one <oauth/> element.
	maxElementTokens = 128
	// maxStrayBytes bounds the whitespace accepted between parameters.
	maxStrayBytes = 4096
)

// Version is the only accepted oauth_version.
const Version = "1.0"

// Signature methods.
const (
	HMACSHA1  = "HMAC-SHA1"
	Plaintext = "PLAINTEXT"
)

// Parameter element names, in the byte order RFC 5849 §3.4.1.3.2 sorts them.
const (
	paramConsumerKey     = "oauth_consumer_key"
	paramNonce           = "oauth_nonce"
	paramSignature       = "oauth_signature"
	paramSignatureMethod = "oauth_signature_method"
	paramTimestamp       = "oauth_timestamp"
	paramToken           = "oauth_token"
	paramVersion         = "oauth_version"
)

// Params holds the parameters of an <oauth xmlns='urn:xmpp:oauth:0'/>
// element. An empty field is an absent (or empty) parameter.
type Params struct {
	ConsumerKey     string
	Nonce           string
	Signature       string // base64, not percent-encoded (XEP-0235 §3)
	SignatureMethod string
	Timestamp       string
	Token           string
	Version         string // "" or "1.0"
}

// field returns the address of the field for the parameter named local.
func (p *Params) field(local string) (*string, uint) {
	switch local {
	case paramConsumerKey:
		return &p.ConsumerKey, 1 << 0
	case paramNonce:
		return &p.Nonce, 1 << 1
	case paramSignature:
		return &p.Signature, 1 << 2
	case paramSignatureMethod:
		return &p.SignatureMethod, 1 << 3
	case paramTimestamp:
		return &p.Timestamp, 1 << 4
	case paramToken:
		return &p.Token, 1 << 5
	case paramVersion:
		return &p.Version, 1 << 6
	}
	return nil, 0
}

// isOAuth reports whether name is the <oauth/> element.
func isOAuth(name xml.Name) bool {
	return name.Local == "oauth" && name.Space == NS
}

// ParseElement parses the <oauth/> element that starts with start, reading
// its content from r up to and including its end element.
//
// It returns ErrDuplicatedParameter for a repeated parameter and
// ErrUnsupportedParameter for an unknown child element, a value longer than
// MaxValueBytes, an element nested inside a parameter, text other than
// whitespace between parameters, or an oauth_version other than "1.0".
// Children in the urn:xmpp:oauth:0 namespace or in no namespace are accepted.
// Missing parameters are not an error here; Verify reports them. Errors of r
// are returned as they are; a stream that ends early gives
// io.ErrUnexpectedEOF. On error the rest of the element is not consumed.
func ParseElement(r xml.TokenReader, start xml.StartElement) (Params, error) {
	var p Params
	if !isOAuth(start.Name) {
		return p, fmt.Errorf("oauth: expected <oauth xmlns=%q/>, got {%s}%s", NS, start.Name.Space, start.Name.Local)
	}
	var (
		seen   uint
		stray  int
		tokens int
	)
	for {
		tok, err := nextToken(r, &tokens)
		if err != nil {
			return p, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if p.Version != "" && p.Version != Version || seen&(1<<6) != 0 && p.Version == "" {
				return p, paramError{ErrUnsupportedParameter, paramVersion}
			}
			return p, nil
		case xml.CharData:
			stray += len(t)
			if stray > maxStrayBytes || !isSpace(t) {
				return p, paramError{ErrUnsupportedParameter, "text"}
			}
		case xml.StartElement:
			if t.Name.Space != NS && t.Name.Space != "" {
				return p, paramError{ErrUnsupportedParameter, "element in another namespace"}
			}
			dst, bit := p.field(t.Name.Local)
			if dst == nil {
				return p, paramError{ErrUnsupportedParameter, "unknown element"}
			}
			if seen&bit != 0 {
				return p, paramError{ErrDuplicatedParameter, t.Name.Local}
			}
			seen |= bit
			v, err := readValue(r, &tokens, t.Name.Local)
			if err != nil {
				return p, err
			}
			*dst = v
		default:
			return p, paramError{ErrUnsupportedParameter, "non-element token"}
		}
	}
}

// nextToken reads one token, turning a premature EOF into io.ErrUnexpectedEOF
// and enforcing the token budget.
func nextToken(r xml.TokenReader, n *int) (xml.Token, error) {
	*n++
	if *n > maxElementTokens {
		return nil, paramError{ErrUnsupportedParameter, "too many tokens"}
	}
	tok, err := r.Token()
	if tok != nil {
		return tok, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// readValue reads the text content of a parameter element up to its end.
// Character data is copied at once: a decoder may reuse its buffer on the
// next call to Token.
func readValue(r xml.TokenReader, n *int, name string) (string, error) {
	var (
		val   string
		multi []byte
		parts int
		size  int
	)
	for {
		tok, err := nextToken(r, n)
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if parts > 1 {
				return string(multi), nil
			}
			return val, nil
		case xml.CharData:
			size += len(t)
			if size > MaxValueBytes {
				return "", paramError{ErrUnsupportedParameter, name + " too long"}
			}
			parts++
			if parts == 1 {
				val = string(t)
				continue
			}
			if parts == 2 {
				multi = append(multi, val...)
			}
			multi = append(multi, t...)
		default:
			return "", paramError{ErrUnsupportedParameter, name + " content"}
		}
	}
}

func isSpace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// UnmarshalXML implements xml.Unmarshaler with the rules of ParseElement.
func (p *Params) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	v, err := ParseElement(d, start)
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// TokenReader returns the <oauth/> element, its parameters in the order
// RFC 5849 sorts them; empty parameters are left out.
func (p Params) TokenReader() xml.TokenReader {
	start := xml.StartElement{Name: xml.Name{Space: NS, Local: "oauth"}}
	toks := make([]xml.Token, 0, 2+3*7)
	toks = append(toks, start)
	for _, kv := range [...][2]string{
		{paramConsumerKey, p.ConsumerKey},
		{paramNonce, p.Nonce},
		{paramSignature, p.Signature},
		{paramSignatureMethod, p.SignatureMethod},
		{paramTimestamp, p.Timestamp},
		{paramToken, p.Token},
		{paramVersion, p.Version},
	} {
		if kv[1] == "" {
			continue
		}
		s := xml.StartElement{Name: xml.Name{Local: kv[0]}}
		toks = append(toks, s, xml.CharData(kv[1]), s.End())
	}
	toks = append(toks, start.End())
	return &sliceReader{toks: toks}
}

// WriteXML implements xmlstream.WriterTo.
func (p Params) WriteXML(w xmlstream.TokenWriter) (int, error) {
	return xmlstream.Copy(w, p.TokenReader())
}

// MarshalXML implements xml.Marshaler.
func (p Params) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	if _, err := p.WriteXML(e); err != nil {
		return err
	}
	return e.Flush()
}

// sliceReader replays a slice of tokens.
type sliceReader struct {
	toks []xml.Token
	i    int
}

func (r *sliceReader) Token() (xml.Token, error) {
	if r.i >= len(r.toks) {
		return nil, io.EOF
	}
	t := r.toks[r.i]
	r.i++
	return t, nil
}
