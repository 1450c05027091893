package guard

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// splitInputs are inputs of every kind: accepted, refused, limits.
func splitInputs() []string {
	return []string{
		open + "<message to='localhost' from='x' from='bob@localhost' type='normal'><body>ID OK</body></message>",
		open + "\n <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>\r\n\t",
		open + `<iq id='a>b/"c' type="set&apos;x" x='&lt;&#60;&#x3c;'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`,
		open + "<message><body><![CDATA[<a> ]] ]>]]]]></body></message>",
		open + "<m xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' b:x='2' xml:lang='en' lang='de'><a:n xmlns:a='urn:c' a:x='3'/></m>",
		open + "<a xmlns:p='urn:p' xmlns:q='urn&#58;p' p:x='1' q:x='2'>",
		open + "<a xmlns='urn:a' xmlns='urn:b'>",
		open + "<a x = '1'\ty\n=\r\"2\" xmlns = 'urn:x' />",
		open + "<a><!-- c --></a>",
		open + "<a x='" + strings.Repeat("v", 300) + "' xmlns='" + strings.Repeat("u", 1025) + "'/>",
		open + "<a" + attrs(17) + "/>",
		open + "<a" + decls(9) + "/>",
		open + nest(9),
		"<stream:stream xmlns='jabber&#58;client' xmlns:stream='http://etherx.jabber.org/streams' to='local&#x68;ost' version='1&#46;0'>\r\n<a x='&#13;\r\n'/>",
		"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' to='evil.example' version='1.0'>",
		decl + "\n" + header + "\n<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n\x16\x03\x01<!--",
		string(chatStream(3)),
	}
}

// TestSplitEverywhere splits each input into two reads at every position:
// the guard must pass on the same bytes and fail the same way.
func TestSplitEverywhere(t *testing.T) {
	run := func(chunks ...string) ([]byte, error) {
		g := NewConn(&chunkConn{chunks: chunks}, testConfig(), true)
		return readAll(g)
	}
	for _, in := range splitInputs() {
		want, wantErr := run(in)
		for k := 1; k < len(in); k++ {
			got, err := run(in[:k], in[k:])
			if !bytes.Equal(got, want) || errString(err) != errString(wantErr) {
				t.Fatalf("split at %d of %.60q...:\n got %q, %v\nwant %q, %v", k, in, got, err, want, wantErr)
			}
		}
	}
}

func TestConnTypes(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	type stater interface{ ConnectionState() tls.ConnectionState }
	g := NewConn(c1, testConfig(), true)
	if _, ok := any(g).(stater); ok {
		t.Error("the plaintext guard has ConnectionState")
	}
	if g.NetConn() != c1 {
		t.Error("NetConn does not return the guarded conn")
	}
	tc := tls.Server(c1, &tls.Config{})
	tg := NewTLSConn(tc, testConfig())
	var nc net.Conn = tg
	if _, ok := nc.(stater); !ok {
		t.Error("the TLS guard hides ConnectionState")
	}
	if u, ok := nc.(interface{ NetConn() net.Conn }); !ok || u.NetConn() != tc {
		t.Error("the TLS guard does not unwrap to the *tls.Conn")
	}
}

// TestConcurrentMethods calls the methods other goroutines may call while
// a Read runs (go test -race).
func TestConcurrentMethods(t *testing.T) {
	r, w := io.Pipe()
	g := NewConn(readerConn{r: r}, testConfig(), false)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = readAll(g)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.SetAuthenticated()
		_ = g.Domain()
		_ = g.Err()
	}()
	_, _ = io.WriteString(w, open+"<message/><a x='1' x='1'/>")
	w.Close()
	wg.Wait()
	if g.Domain() != "localhost" || g.Err() == nil {
		t.Errorf("Domain %q, Err %v", g.Domain(), g.Err())
	}
}
