package guard

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// chatStream is a post-authentication stream: a restart header, then n
// chat messages of about 300 bytes with namespaced children.
func chatStream(n int) []byte {
	var b bytes.Buffer
	b.WriteString(open)
	for i := range n {
		fmt.Fprintf(&b, "<message xmlns='jabber:client' to='juliet@localhost/balcony' from='romeo@localhost/orchard' type='chat' id='m%06d' xml:lang='en'>"+
			"<body>Wherefore art thou, Romeo? &lt;3 message %d</body>"+
			"<active xmlns='http://jabber.org/protocol/chatstates'/>"+
			"<request xmlns='urn:xmpp:receipts'/>"+
			"<origin-id xmlns='urn:xmpp:sid:0' id='o%06d'/></message>\n", i, i, i)
	}
	b.WriteString("</stream:stream>")
	return b.Bytes()
}

// readThrough reads r to the end through a 4 KiB buffer.
func readThrough(r io.Reader, buf []byte) error {
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func decodeAll(r io.Reader) error {
	d := xml.NewDecoder(r)
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func newSessionGuard(r io.Reader) *Conn {
	g := NewConn(readerConn{r: r}, testConfig(), false)
	g.SetAuthenticated()
	return g
}

// BenchmarkGuard reads 1,000 chat messages: without the guard, through it,
// with encoding/xml, and with encoding/xml reading through the guard.
func BenchmarkGuard(b *testing.B) {
	in := chatStream(1000)
	b.Logf("%d bytes, %d per message", len(in), (len(in)-len(open))/1000)
	buf := make([]byte, 4096)
	cases := []struct {
		name string
		run  func(r io.Reader) error
	}{
		{"raw", func(r io.Reader) error { return readThrough(r, buf) }},
		{"guard", func(r io.Reader) error { return readThrough(newSessionGuard(r), buf) }},
		{"xml.Decoder", decodeAll},
		{"guard+xml.Decoder", func(r io.Reader) error { return decodeAll(newSessionGuard(r)) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := c.run(bytes.NewReader(in)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGuardCost measures the guard and encoding/xml on the same bytes
// in the same iterations and reports the guard's time as a percentage of
// the decoder's. The garbage collector is off during the timed passes (and
// runs, untimed, every 50 iterations), so that collecting the decoder's
// garbage is charged to neither: the decoder's real cost is higher, and
// the ratio errs against the guard.
func BenchmarkGuardCost(b *testing.B) {
	in := chatStream(1000)
	buf := make([]byte, 4096)
	var guard, decoder time.Duration
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	b.SetBytes(int64(len(in)))
	n := 0
	for b.Loop() {
		if n++; n%50 == 0 {
			runtime.GC()
		}
		t0 := time.Now()
		if err := readThrough(newSessionGuard(bytes.NewReader(in)), buf); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := decodeAll(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
		guard += t1.Sub(t0)
		decoder += time.Since(t1)
	}
	b.ReportMetric(100*float64(guard)/float64(decoder), "%guard/decoder")
	b.ReportMetric(float64(guard.Nanoseconds())/float64(b.N), "guard-ns/op")
	b.ReportMetric(float64(decoder.Nanoseconds())/float64(b.N), "decoder-ns/op")
}

// cycleReader returns data over and over, one Read at a time, without
// allocating.
type cycleReader struct {
	data []byte
	off  int
}

func (r *cycleReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// TestNoAllocsPerRead checks that a guard in a running stream allocates
// nothing per Read: the stanzas repeat forever after one header.
func TestNoAllocsPerRead(t *testing.T) {
	all := chatStream(50)
	stanzas := all[len(open) : len(all)-len("</stream:stream>")]
	ns := "<m xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' b:x='2'><a:c xmlns='urn:c'><d a:y='&#x41;'/></a:c></m>\n"
	cdata := "<message><body><![CDATA[<a> ]] ]]></body></message>\n"
	data := append(append(append([]byte(nil), stanzas...), ns...), cdata...)
	for _, authed := range []bool{true, false} {
		r := io.MultiReader(bytes.NewReader([]byte(open)), &cycleReader{data: data})
		g := NewConn(readerConn{r: r}, testConfig(), false)
		if authed {
			g.SetAuthenticated()
		}
		buf := make([]byte, 1000) // not a multiple of the stanzas' length
		// Warm up: the buffers reach their size.
		warm, runs := 100, 1000
		if !authed {
			warm, runs = 20, 20 // stay under the pre-auth byte limit
		}
		for range warm {
			if _, err := g.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		allocs := testing.AllocsPerRun(runs, func() {
			if _, e := g.Read(buf); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if allocs != 0 {
			t.Errorf("authenticated %v: %v allocations per Read", authed, allocs)
		}
	}
}
