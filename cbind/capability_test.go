package cbind

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmlstream"
)

// xep0440Example is XEP-0440 §2 verbatim (VECTORS.md §11).
const xep0440Example = `
  <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>
    <channel-binding type='tls-server-end-point'/>
    <channel-binding type='tls-exporter'/>
  </sasl-channel-binding>`

const xep0440Marshaled = `<sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0">` +
	`<channel-binding type="tls-server-end-point"></channel-binding>` +
	`<channel-binding type="tls-exporter"></channel-binding>` +
	`</sasl-channel-binding>`

func TestCapabilityVector(t *testing.T) {
	var c Capability
	require.NoError(t, xml.Unmarshal([]byte(xep0440Example), &c))
	assert.Equal(t, []Type{TLSServerEndPoint, TLSExporter}, c.Types)

	out, err := xml.Marshal(c)
	require.NoError(t, err)
	assert.Equal(t, xep0440Marshaled, string(out))

	var again Capability
	require.NoError(t, xml.Unmarshal(out, &again))
	assert.Equal(t, c, again)
}

func TestCapabilityMarshalForms(t *testing.T) {
	c := Capability{Types: []Type{TLSServerEndPoint, TLSExporter}}

	// xmlstream.WriterTo into an encoder.
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	_, err := c.WriteXML(e)
	require.NoError(t, err)
	require.NoError(t, e.Flush())
	assert.Equal(t, xep0440Marshaled, buf.String())

	// xmlstream.Marshaler, copied as mellium does.
	buf.Reset()
	e = xml.NewEncoder(&buf)
	_, err = xmlstream.Copy(e, c.TokenReader())
	require.NoError(t, err)
	require.NoError(t, e.Flush())
	assert.Equal(t, xep0440Marshaled, buf.String())

	// Decoding from a token stream (what a mellium feature Parse gets).
	d := xml.NewTokenDecoder(c.TokenReader())
	tok, err := d.Token()
	require.NoError(t, err)
	start := tok.(xml.StartElement)
	var got Capability
	require.NoError(t, got.UnmarshalXML(d, start))
	assert.Equal(t, c, got)
}

func TestCapabilityMarshalSkipsInvalid(t *testing.T) {
	out, err := xml.Marshal(Capability{Types: []Type{"", "bogus", TLSExporter, "TLS-UNIQUE"}})
	require.NoError(t, err)
	assert.Equal(t, `<sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0">`+
		`<channel-binding type="tls-exporter"></channel-binding></sasl-channel-binding>`, string(out))

	out, err = xml.Marshal(Capability{})
	require.NoError(t, err)
	assert.Equal(t, `<sasl-channel-binding xmlns="urn:xmpp:sasl-cb:0"></sasl-channel-binding>`, string(out))
}

func TestCapabilityUnmarshal(t *testing.T) {
	const open = `<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>`
	const end = `</sasl-channel-binding>`
	tests := []struct {
		name    string
		in      string
		want    []Type
		wantErr bool
	}{
		{"empty", open + end, nil, false},
		{"self-closing", `<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'/>`, nil, false},
		{"all three", open + `<channel-binding type='tls-unique'/><channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/>` + end,
			[]Type{TLSUnique, TLSExporter, TLSServerEndPoint}, false},
		{"unknown types skipped", open + `<channel-binding type='tls-unique-for-telnet'/><channel-binding type='TLS-EXPORTER'/><channel-binding type='tls-exporter'/>` + end,
			[]Type{TLSExporter}, false},
		{"no type attribute", open + `<channel-binding/><channel-binding name='tls-exporter'/>` + end, nil, false},
		{"namespaced type attribute", open + `<channel-binding xmlns:x='urn:x' x:type='tls-exporter'/>` + end, nil, false},
		{"duplicates", open + `<channel-binding type='tls-exporter'/><channel-binding type='tls-exporter'/>` + end, []Type{TLSExporter}, false},
		{"foreign child", open + `<channel-binding xmlns='urn:other' type='tls-unique'/><x><channel-binding type='tls-unique'/></x><channel-binding type='tls-exporter'/>` + end,
			[]Type{TLSExporter}, false},
		{"text ignored", open + `hello<channel-binding type='tls-exporter'>x</channel-binding>` + end, []Type{TLSExporter}, false},
		{"overlong type", open + `<channel-binding type='` + strings.Repeat("a", 5000) + `'/>` + end, nil, false},
		{"max children", open + strings.Repeat(`<channel-binding type='tls-exporter'/>`, MaxCapabilityChildren) + end, []Type{TLSExporter}, false},
		{"too many children", open + strings.Repeat(`<channel-binding type='tls-exporter'/>`, MaxCapabilityChildren+1) + end, nil, true},
		{"wrong namespace", `<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:1'></sasl-channel-binding>`, nil, true},
		{"wrong element", `<mechanisms xmlns='urn:xmpp:sasl-cb:0'></mechanisms>`, nil, true},
		{"truncated", open + `<channel-binding type='tls-exporter'/>`, nil, true},
		{"truncated child", open + `<channel-binding type='tls-exporter'>`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Capability{Types: []Type{"stale"}}
			err := xml.Unmarshal([]byte(tc.in), &c)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Types)
		})
	}
}

func TestCapabilityUnmarshalErrorsAreSentinel(t *testing.T) {
	d := xml.NewDecoder(strings.NewReader(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding`))
	tok, err := d.Token()
	require.NoError(t, err)
	var c Capability
	err = c.UnmarshalXML(d, tok.(xml.StartElement))
	require.ErrorIs(t, err, ErrInvalidCapability)

	err = c.UnmarshalXML(d, xml.StartElement{Name: xml.Name{Space: NS, Local: "other"}})
	require.ErrorIs(t, err, ErrInvalidCapability)
}
