package guard

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"mellium.im/xmpp/stream"
)

// FuzzGuard feeds arbitrary bytes to a guard, whole and in chunks of 1 to
// 16 bytes. Properties:
//   - it never panics, and the split does not change the outcome;
//   - what it passes on is the input with only whitespace removed (up to
//     the violation, if any);
//   - when it accepts the whole input (no handoff to TLS), the whitespace
//     it removed is exactly the character data that encoding/xml reports
//     between top-level elements, and encoding/xml reports no start element
//     with two attributes of the same (Space, Local) name.
//
// The seed corpus (testdata/fuzz/FuzzGuard) holds real stream openings
// (mellium, go-xmpp), SASL, stanzas and the attacks.
func FuzzGuard(f *testing.F) {
	f.Add(open+"<message to='a@localhost'><body>hi</body></message>", uint8(3), false, false)
	f.Fuzz(func(t *testing.T, in string, chunk uint8, authed, startTLS bool) {
		run := func(r io.Reader) ([]byte, error, *Conn) {
			g := NewConn(readerConn{r: r}, testConfig(), startTLS)
			if authed {
				g.SetAuthenticated()
			}
			out, err := readAll(g)
			return out, err, g
		}
		out, err, g := run(strings.NewReader(in))
		n := int(chunk%16) + 1
		out2, err2, _ := run(&chunkReader{s: in, n: n})
		if !bytes.Equal(out, out2) || errString(err) != errString(err2) {
			t.Fatalf("%d-byte reads: %q, %v; whole: %q, %v", n, out2, err2, out, err)
		}
		var gerr *Error
		if err != nil && !errors.As(err, &gerr) {
			t.Fatalf("error %v is not a *Error", err)
		}
		if !onlySpaceRemoved([]byte(in), out) {
			t.Fatalf("removed more than whitespace:\n in %q\nout %q", in, out)
		}
		if err != nil || g.s.passthrough {
			return
		}
		want, dup, ok := decodeCheck([]byte(in))
		if !ok {
			return // encoding/xml refuses it: the decoder's business
		}
		if dup != "" {
			t.Fatalf("accepted a duplicate attribute %s: %q", dup, in)
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("whitespace dropped differs from encoding/xml's top-level character data:\n in  %q\n got %q\nwant %q", in, out, want)
		}
	})
}

// chunkReader returns s n bytes at a time.
type chunkReader struct {
	s string
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.s)
	r.s = r.s[k:]
	return k, nil
}

// onlySpaceRemoved reports whether out is a prefix of in with some XML
// whitespace bytes removed.
func onlySpaceRemoved(in, out []byte) bool {
	j := 0
	for i := 0; i < len(in) && j < len(out); i++ {
		switch {
		case in[i] == out[j]:
			j++
		case !isSpace(in[i]):
			return false
		}
	}
	return j == len(out)
}

// decodeCheck decodes in with encoding/xml as mellium does (a stream header
// where a child of the root would be starts a new document) and returns in
// without the character data between top-level elements, the first
// duplicate attribute found, and whether encoding/xml read it all.
func decodeCheck(in []byte) (want []byte, dup string, ok bool) {
	d := xml.NewDecoder(iotest.OneByteReader(bytes.NewReader(in)))
	depth := 0
	last := int64(0)
	for {
		begin := d.InputOffset()
		tok, err := d.Token()
		end := d.InputOffset()
		if err == io.EOF {
			return append(want, in[last:]...), dup, true
		}
		if err != nil {
			// An unfinished stream is fine: the rest is the decoder's.
			var se *xml.SyntaxError
			if errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF") {
				return append(want, in[last:]...), dup, true
			}
			return nil, "", false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			for i := range t.Attr {
				for j := range i {
					if t.Attr[i].Name == t.Attr[j].Name && dup == "" {
						dup = t.Attr[i].Name.Space + " " + t.Attr[i].Name.Local
					}
				}
			}
			if t.Name.Local == "stream" && t.Name.Space == stream.NS && depth <= 1 {
				depth = 1
			} else {
				depth++
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth <= 1 {
				// Drop it: keep what came before it.
				want = append(want, in[last:begin]...)
				last = end
			}
		}
	}
}
