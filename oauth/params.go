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
	RSASHA1   = "RSA-SHA1"
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

// paramIndex returns the index of the parameter named local in Params field
// order, or -1.
func paramIndex(local string) int {
	switch local {
	case paramConsumerKey:
		return 0
	case paramNonce:
		return 1
	case paramSignature:
		return 2
	case paramSignatureMethod:
		return 3
	case paramTimestamp:
		return 4
	case paramToken:
		return 5
	case paramVersion:
		return 6
	}
	return -1
}

// fields returns the addresses of p's fields in paramIndex order.
func (p *Params) fields() [7]*string {
	return [7]*string{&p.ConsumerKey, &p.Nonce, &p.Signature, &p.SignatureMethod, &p.Timestamp, &p.Token, &p.Version}
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
		// All values are collected in one buffer and turned into one string
		// at the end: one allocation instead of one per parameter.
		arr  [256]byte
		buf  = arr[:0]
		span [7][2]int
	)
	for {
		tok, err := nextToken(r, &tokens)
		if err != nil {
			return p, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			all := string(buf)
			for i, f := range p.fields() {
				*f = all[span[i][0]:span[i][1]]
			}
			if p.Version != "" && p.Version != Version || seen&(1<<6) != 0 && p.Version == "" {
				return Params{}, paramError{ErrUnsupportedParameter, paramVersion}
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
			i := paramIndex(t.Name.Local)
			if i < 0 {
				return p, paramError{ErrUnsupportedParameter, "unknown element"}
			}
			if seen&(1<<i) != 0 {
				return p, paramError{ErrDuplicatedParameter, t.Name.Local}
			}
			seen |= 1 << i
			from := len(buf)
			buf, err = readValue(r, &tokens, t.Name.Local, buf)
			if err != nil {
				return p, err
			}
			span[i] = [2]int{from, len(buf)}
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

// readValue appends the text content of a parameter element to buf, reading
// up to the element's end. Character data is copied at once: a decoder may
// reuse its buffer on the next call to Token.
func readValue(r xml.TokenReader, n *int, name string, buf []byte) ([]byte, error) {
	size := 0
	for {
		tok, err := nextToken(r, n)
		if err != nil {
			return buf, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return buf, nil
		case xml.CharData:
			size += len(t)
			if size > MaxValueBytes {
				return buf, paramError{ErrUnsupportedParameter, name + " too long"}
			}
			buf = append(buf, t...)
		default:
			return buf, paramError{ErrUnsupportedParameter, name + " content"}
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
