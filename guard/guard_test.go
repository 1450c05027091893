package guard

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"

	"mellium.im/xmpp/stream"
)

const (
	decl   = "<?xml version='1.0'?>"
	header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	open   = decl + header
)

func testConfig() *Config {
	return &Config{Serves: func(d string) bool { return d == "localhost" || d == "bücher.example" }}
}

// readerConn is a net.Conn that reads from r (other methods are not used).
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// readAll reads g to the end and returns what it passed on and its error
// (nil at EOF).
func readAll(g io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 512)
	for {
		n, err := g.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

// splits are the ways a test input reaches the guard.
var splits = []struct {
	name string
	r    func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data+err", iotest.DataErrReader},
}

// guardRead runs in through a fresh guard with every split and checks that
// they agree; it returns the output and error of the whole read.
func guardRead(t *testing.T, cfg *Config, in string, prepare func(*Conn)) ([]byte, error) {
	t.Helper()
	var out0 []byte
	var err0 error
	for i, sp := range splits {
		g := NewConn(readerConn{r: sp.r(strings.NewReader(in))}, cfg, true)
		if prepare != nil {
			prepare(g)
		}
		out, err := readAll(g)
		if i == 0 {
			out0, err0 = out, err
			continue
		}
		if !bytes.Equal(out, out0) || errString(err) != errString(err0) {
			t.Errorf("%s reads: %q, %v; whole: %q, %v", sp.name, out, err, out0, err0)
		}
	}
	return out0, err0
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAccept(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"header", open, open},
		{"header without declaration", header, header},
		{"go-xmpp opening", "<?xml version='1.0'?>\n<stream:stream to='localhost' xmlns='jabber:client'\n xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\n",
			"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client'\n xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"},
		{"whitespace between elements dropped, inside kept", open + "\n <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>\r\n\t",
			open + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'> AGFsaWNl\nAHNlY3JldA== </auth>"},
		{"attribute values hold > / and the other quote", open + `<iq id='a>b/"c' type="set&apos;x" x='&lt;&#60;&#x3c;'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, ""},
		{"CDATA with <a> and ]]", open + "<message><body><![CDATA[<a> ]] ]>]]]]></body></message>", ""},
		{"xml:lang and lang", open + "<message xml:lang='en' lang='de'/>", ""},
		{"a:x and b:x in different namespaces", open + "<message xmlns:a='urn:a' xmlns:b='urn:b' a:x='1' b:x='2'/>", ""},
		{"prefix declared after its use", open + "<message a:x='1' xmlns:a='urn:a'/>", ""},
		{"prefix declared on an ancestor", open + "<message xmlns:a='urn:a'><x a:y='1'><a:z/></x></message>", ""},
		{"CR in a URI is not LF LF", open + "<m xmlns:a='urn:\r\n' xmlns:b='urn:\n\n' a:x='1' b:x='2'/>", ""},
		{"character reference CR is kept", open + "<m xmlns:a='urn:&#13;' xmlns:b='urn:\n' a:x='1' b:x='2'/>", ""},
		{"prefix redeclared inside", open + "<m xmlns:a='urn:a'><n xmlns:a='urn:b' a:x='1'/><o a:x='2'/></m>", ""},
		{"xmlns:xml with its own namespace", open + "<m xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>", ""},
		{"default namespace undeclared", open + "<m><x xmlns=''/></m>", ""},
		{"restart", open + "<auth mechanism='PLAIN'>x</auth>" + decl + header + "\n<iq type='set'> <bind/> </iq>\n",
			open + "<auth mechanism='PLAIN'>x</auth>" + decl + header + "<iq type='set'> <bind/> </iq>"},
		{"stream end", open + "<presence/>\n</stream:stream>\n", open + "<presence/></stream:stream>"},
		{"canonical to", decl + "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='XN--BCHER-KVA.example.' version='1.0'>", ""},
		{"from", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' from='alice@localhost' version='1.0'>", ""},
		{"stream prefix other than stream", "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", ""},
		{"entities in header values", "<stream:stream xmlns='jabber&#58;client' xmlns:stream='http://etherx.jabber.org/streams' to='local&#x68;ost' version='1&#46;0'>", ""},
		{"version with leading zero", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='01.00'>", ""},
		{"whitespace in tags", "<stream:stream\n\txmlns = 'jabber:client' xmlns:stream=\"http://etherx.jabber.org/streams\"\rto='localhost' version='1.0' >" + "<a\n/><b ></b >", ""},
		{"character references", open + "<m a='&#x10FFFF;&#9;'>&#x1F600;&amp;&quot;</m>", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := guardRead(t, testConfig(), tc.in, nil)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if string(out) != want {
				t.Errorf("got  %q\nwant %q", out, want)
			}
		})
	}
}

func TestRefuse(t *testing.T) {
	tests := []struct {
		name, in string
		cond     stream.Error
		header   bool
		passed   string // what is passed on before the error; "" means everything before the last byte
	}{
		// Duplicate attributes.
		{"attacker's duplicate from", open + "<message to='localhost' from='x' from='bob@localhost' type='normal'><body>ID OK</body></message>", stream.NotWellFormed, false,
			open + "<message to='localhost' from='x' from='bob@localhost' type='normal'"},
		{"duplicate plain", open + "<a x='1' y='2' x='3'/>", stream.NotWellFormed, false, open + "<a x='1' y='2' x='3'/"},
		{"duplicate prefixed, same prefix", open + "<a xmlns:p='urn:p' p:x='1' p:x='2'>", stream.NotWellFormed, false, ""},
		{"duplicate prefixed, same URI", open + "<a xmlns:p='urn:p' xmlns:q='urn:p' p:x='1' q:x='2'>", stream.NotWellFormed, false, ""},
		{"duplicate prefixed, URI by entity", open + "<a xmlns:p='urn:p' xmlns:q='urn&#58;p' p:x='1' q:x='2'>", stream.NotWellFormed, false, ""},
		{"duplicate with a prefix from an ancestor", open + "<a xmlns:p='urn:p'><b xmlns:q='urn:p' p:x='1' q:x='2'/></a>", stream.NotWellFormed, false,
			open + "<a xmlns:p='urn:p'><b xmlns:q='urn:p' p:x='1' q:x='2'/"},
		{"duplicate prefixed, URI with CR LF", open + "<a xmlns:p='urn:\r\np' xmlns:q='urn:\np' p:x='1' q:x='2'>", stream.NotWellFormed, false, ""},
		{"duplicate prefixed, URI with CR", open + "<a xmlns:p='urn:\rp' xmlns:q='urn:\np' p:x='1' q:x='2'>", stream.NotWellFormed, false, ""},
		{"duplicate prefixed, URI split by CR LF", open + "<a xmlns:p='urn:\r\n\r\np' xmlns:q='urn:\n\np' p:x='1' q:x='2'>", stream.NotWellFormed, false, ""},
		{"xmlns twice", open + "<a xmlns='urn:a' xmlns='urn:b'>", stream.NotWellFormed, false, ""},
		{"xmlns:p twice", open + "<a xmlns:p='urn:a' xmlns:p='urn:a'>", stream.NotWellFormed, false, ""},
		{"xml:lang twice", open + "<a xml:lang='en' xml:lang='de'>", stream.NotWellFormed, false, ""},
		{"to twice in the header", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' to='evil.example' version='1.0'>", stream.NotWellFormed, true, ""},
		{"xmlns:stream twice in the header", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:stream='urn:x' to='localhost' version='1.0'>", stream.NotWellFormed, true, ""},
		// Namespaces.
		{"undeclared attribute prefix", open + "<a p:x='1'/>", stream.NotWellFormed, false, ""},
		{"undeclared element prefix", open + "<p:a/>", stream.NotWellFormed, false, ""},
		{"prefix out of scope", open + "<a xmlns:p='urn:p'/><p:b/>", stream.NotWellFormed, false, ""},
		{"two colons", open + "<a:b:c/>", stream.NotWellFormed, false, open + "<a:b:c"},
		{"empty prefix", open + "<a :x='1'/>", stream.NotWellFormed, false, open + "<a :x"},
		{"xmlns prefix on an element", open + "<xmlns:a/>", stream.NotWellFormed, false, open + "<xmlns:a"},
		{"xmlns:xmlns", open + "<a xmlns:xmlns='urn:x'/>", stream.NotWellFormed, false, open + "<a xmlns:xmlns"},
		{"xml bound elsewhere", open + "<a xmlns:xml='urn:x'/>", stream.NotWellFormed, false, open + "<a xmlns:xml='urn:x"},
		{"xml namespace to another prefix", open + "<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>", stream.NotWellFormed, false, ""},
		{"prefix to empty", open + "<a xmlns:p=''/>", stream.NotWellFormed, false, open + "<a xmlns:p='"},
		// Syntax.
		{"no space between attributes", open + "<a x='1'y='2'/>", stream.NotWellFormed, false, open + "<a x='1'"},
		{"unquoted", open + "<a x=1/>", stream.NotWellFormed, false, open + "<a x="},
		{"< in a value", open + "<a x='<'/>", stream.NotWellFormed, false, open + "<a x='"},
		{"bare &", open + "<a>a & b</a>", stream.NotWellFormed, false, open + "<a>a &"},
		{"bad char ref", open + "<a>&#xD800;</a>", stream.NotWellFormed, false, open + "<a>&#xD800"},
		{"huge char ref", open + "<a>&#99999999999999999999;</a>", stream.NotWellFormed, false, open + "<a>&#99999999999999999999"},
		{"text before the header", "GET / HTTP/1.1\r\n", stream.NotWellFormed, true, ""},
		{"text after the end", open + "</stream:stream>x", stream.NotWellFormed, false, ""},
		// Restricted XML.
		{"comment", open + "<!-- hi -->", stream.RestrictedXML, false, open + "<!"},
		{"comment inside", open + "<a><!-- hi --></a>", stream.RestrictedXML, false, open + "<a><!"},
		{"DOCTYPE", "<!DOCTYPE x [<!ENTITY a 'b'>]>", stream.RestrictedXML, true, "<!"},
		{"PI", open + "<a><?php x?></a>", stream.RestrictedXML, false, open + "<a><?php"},
		{"XML declaration inside", open + "<a><?xml version='1.0'?></a>", stream.RestrictedXML, false, open + "<a><?xml"},
		{"XML declaration before a stanza", open + decl + "<message/>", stream.RestrictedXML, true, open + decl + "<message"},
		{"two XML declarations", decl + decl + header, stream.RestrictedXML, true, decl + "<?xml"},
		{"entity", open + "<a>&foo;</a>", stream.RestrictedXML, false, open + "<a>&foo"},
		{"entity in a value", open + "<a x='&nbsp;'/>", stream.RestrictedXML, false, open + "<a x='&nbsp"},
		{"long entity", open + "<a>&abcdefghijk;</a>", stream.RestrictedXML, false, open + "<a>&abcdefgh"},
		// Stream root content.
		{"text in the root", open + "hello", stream.BadFormat, false, open},
		{"entity in the root", open + "&#32;", stream.BadFormat, false, open},
		{"CDATA in the root", open + "<![CDATA[ ]]>", stream.BadFormat, false, open + "<!"},
		// Stream headers.
		{"wrong stream namespace", "<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong.example/' to='localhost' version='1.0'>", stream.InvalidNamespace, true, ""},
		{"not stream", "<html xmlns='jabber:client'>", stream.InvalidNamespace, true, ""},
		{"undeclared stream prefix", "<foobar:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", stream.BadNamespacePrefix, true, ""},
		{"jabber:server on c2s", "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", stream.InvalidNamespace, true, ""},
		{"no content namespace", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", stream.InvalidNamespace, true, ""},
		{"no version", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>", stream.UnsupportedVersion, true, ""},
		{"version 2.0", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='2.0'>", stream.UnsupportedVersion, true, ""},
		{"version 1.1", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.1'>", stream.UnsupportedVersion, true, ""},
		{"no to", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", stream.HostUnknown, true, ""},
		{"to not served", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='trusted-bank.example' version='1.0'>", stream.HostUnknown, true, ""},
		{"to with a localpart", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='alice@localhost' version='1.0'>", stream.HostUnknown, true, ""},
		{"to invalid", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='a b' version='1.0'>", stream.HostUnknown, true, ""},
		{"restart to another domain", open + "<auth/>" + "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='bücher.example' version='1.0'>", stream.HostUnknown, true, ""},
		{"restart with a bad namespace", open + "<auth/>" + "<x:stream xmlns='jabber:client' xmlns:x='urn:x' to='localhost' version='1.0'>", stream.InvalidNamespace, true, ""},
		{"from invalid", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' from='@@' version='1.0'>", stream.InvalidFrom, true, ""},
		{"empty header", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'/>", stream.BadFormat, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := guardRead(t, testConfig(), tc.in, nil)
			var gerr *Error
			if !errors.As(err, &gerr) {
				t.Fatalf("error %v, want a *Error; passed %q", err, out)
			}
			if !errors.Is(err, tc.cond) || gerr.Condition.Err != tc.cond.Err {
				t.Errorf("condition %v, want %v", gerr, tc.cond.Err)
			}
			if gerr.Header != tc.header {
				t.Errorf("Header = %v, want %v", gerr.Header, tc.header)
			}
			passed := tc.passed
			if passed == "" {
				passed = stripTop(tc.in[:len(tc.in)-1])
			}
			if string(out) != passed {
				t.Errorf("passed %q\nwant   %q", out, passed)
			}
		})
	}
}

// stripTop drops whitespace outside tags from a test input whose only such
// whitespace is between top-level elements.
func stripTop(s string) string {
	g := NewConn(readerConn{r: strings.NewReader(s)}, testConfig(), false)
	out, _ := readAll(g)
	return string(out)
}
