package guard

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"mellium.im/xmpp/stream"
)

// attrs returns n attributes " a0='x' a1='x' ...".
func attrs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " a%d='x'", i)
	}
	return b.String()
}

// decls returns n namespace declarations.
func decls(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " xmlns:p%d='urn:%d'", i, i)
	}
	return b.String()
}

func nest(n int) string { return strings.Repeat("<a>", n) }

// headerOf returns a valid stream header of exactly size bytes.
func headerOf(size int) string {
	h := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0' id=''>"
	return h[:len(h)-2] + strings.Repeat("x", size-len(h)) + "'>"
}

func TestLimits(t *testing.T) {
	const auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
	preTotal := func(total int) string {
		return open + auth + strings.Repeat("A", total-len(open)-len(auth)-len("</auth>")) + "</auth>"
	}
	stanza := func(size int) string {
		const start, end = "<message><body>", "</body></message>"
		return start + strings.Repeat("B", size-len(start)-len(end)) + end
	}
	long := func(n int) string { return "n" + strings.Repeat("x", n-1) }
	tests := []struct {
		name   string
		authed bool   // SetAuthenticated before reading
		ok     string // just under (at) the limit: accepted
		over   string // just over: refused
		text   string // the error's text
	}{
		{"pre-auth bytes", false, preTotal(64 << 10), preTotal(64<<10 + 1), "more than 65536 bytes before authentication"},
		{"pre-auth depth", false, open + nest(7), open + nest(8), "elements nested deeper than 8"},
		{"pre-auth attributes", false, open + "<a" + attrs(16) + "/>", open + "<a" + attrs(17) + "/>", "more than 16 attributes on an element"},
		{"pre-auth namespaces", false, open + "<a" + decls(8) + "/>", open + "<a" + decls(9) + "/>", "more than 8 namespace declarations on an element"},
		{"pre-auth element name", false, open + "<" + long(256) + "/>", open + "<" + long(257) + "/>", "name longer than 256 bytes"},
		{"pre-auth attribute name", false, open + "<a " + long(256) + "='1'/>", open + "<a " + long(257) + "='1'/>", "name longer than 256 bytes"},
		{"pre-auth end tag name", false, open + "<" + long(256) + "></" + long(256) + ">", open + "<a></" + long(257) + ">", "name longer than 256 bytes"},
		{"pre-auth namespace name", false, open + "<a xmlns='" + long(1024) + "'/>", open + "<a xmlns='" + long(1025) + "'/>", "namespace name longer than 1024 bytes"},
		{"namespace name with an entity", false, open + "<a xmlns='" + long(1019) + "&amp;'/>", open + "<a xmlns='" + long(1020) + "&amp;'/>", "namespace name longer than 1024 bytes"},
		{"stanza bytes", true, open + stanza(256<<10), open + stanza(256<<10+1), "stanza larger than 262144 bytes"},
		{"stanza bytes, second stanza", true, open + stanza(256<<10) + stanza(256<<10), open + stanza(256<<10) + stanza(256<<10+1), "stanza larger than 262144 bytes"},
		{"session depth", true, open + nest(127), open + nest(128), "elements nested deeper than 128"},
		{"session attributes", true, open + "<a" + attrs(64) + "/>", open + "<a" + attrs(65) + "/>", "more than 64 attributes on an element"},
		{"session namespaces", true, open + "<a" + decls(32) + "/>", open + "<a" + decls(33) + "/>", "more than 32 namespace declarations on an element"},
		{"header bytes", false, headerOf(4096), headerOf(4097), "stream header larger than 4096 bytes"},
		{"header bytes with the declaration", false, decl + headerOf(4096-len(decl)), decl + headerOf(4097-len(decl)), "stream header larger than 4096 bytes"},
		{"restart header bytes", true, open + "<a/>" + headerOf(4096), open + "<a/>" + headerOf(4097), "stream header larger than 4096 bytes"},
		{"header attributes", false, header[:len(header)-1] + attrs(12) + ">", header[:len(header)-1] + attrs(13) + ">", "more than 16 attributes on an element"},
		{"header namespaces", false, header[:len(header)-1] + decls(6) + ">", header[:len(header)-1] + decls(7) + ">", "more than 8 namespace declarations on an element"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prepare := func(g *Conn) {
				if tc.authed {
					g.SetAuthenticated()
				}
			}
			if out, err := guardRead(t, testConfig(), tc.ok, prepare); err != nil || string(out) != tc.ok {
				t.Errorf("at the limit: %v (passed %d of %d bytes)", err, len(out), len(tc.ok))
			}
			out, err := guardRead(t, testConfig(), tc.over, prepare)
			var gerr *Error
			if !errors.As(err, &gerr) || !errors.Is(err, stream.PolicyViolation) {
				t.Fatalf("over the limit: %v, want a policy violation", err)
			}
			if got := gerr.Condition.Text[0].Value; got != tc.text || gerr.Condition.Text[0].Lang != "en" {
				t.Errorf("text %q, want %q", got, tc.text)
			}
			if !strings.HasPrefix(tc.over, string(out)) {
				t.Errorf("passed bytes that are not a prefix of the input")
			}
		})
	}
}

// TestNested80000 is the attack: <auth> then 80,000 nested elements.
func TestNested80000(t *testing.T) {
	in := open + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + nest(80000)
	out, err := guardRead(t, testConfig(), in, nil)
	if !errors.Is(err, stream.PolicyViolation) {
		t.Fatalf("error %v", err)
	}
	if want := open + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + nest(6) + "<"; string(out) != want {
		t.Errorf("passed %q, want %q", out, want)
	}
}

// chunkConn delivers its chunks one per Read, calling before(i) first.
type chunkConn struct {
	readerConn
	chunks []string
	before func(i int)
	i      int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if c.i == len(c.chunks) {
		return 0, io.EOF
	}
	if c.before != nil {
		c.before(c.i)
	}
	n := copy(p, c.chunks[c.i])
	if n < len(c.chunks[c.i]) {
		c.chunks[c.i] = c.chunks[c.i][n:]
	} else {
		c.i++
	}
	return n, nil
}

func TestSetAuthenticated(t *testing.T) {
	big := "<message><body>" + strings.Repeat("B", 100<<10) + "</body></message>"
	tests := []struct {
		name   string
		chunks []string
		at     int // SetAuthenticated before chunk at (-1: never)
		cond   stream.Error
	}{
		{"big stanza after authentication", []string{open + "<auth/>", big}, 1, stream.Error{}},
		{"big stanza before authentication", []string{open + "<auth/>", big}, -1, stream.PolicyViolation},
		{"the element being read keeps the pre-auth limits", []string{open + "<auth>", nest(7) + "</auth>"}, 1, stream.PolicyViolation},
		{"the next element has the session limits", []string{open + "<auth>", nest(6) + strings.Repeat("</a>", 6) + "</auth>" + nest(100)}, 1, stream.Error{}},
		{"restart header after authentication", []string{open + "<auth/>", decl + header + big}, 1, stream.Error{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var g *Conn
			c := &chunkConn{chunks: append([]string(nil), tc.chunks...), before: func(i int) {
				if i == tc.at {
					g.SetAuthenticated()
				}
			}}
			g = NewConn(c, testConfig(), true)
			_, err := readAll(g)
			if tc.cond.Err == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				return
			}
			if !errors.Is(err, tc.cond) {
				t.Fatalf("error %v, want %v", err, tc.cond)
			}
		})
	}
}

func TestDomain(t *testing.T) {
	in := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='XN--BCHER-KVA.Example.' version='1.0'>"
	r, w := io.Pipe()
	g := NewConn(readerConn{r: r}, testConfig(), false)
	if d := g.Domain(); d != "" {
		t.Errorf("Domain before the header = %q", d)
	}
	go func() {
		_, _ = io.WriteString(w, in)
		_, _ = io.WriteString(w, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='bücher.example' version='1.0'>")
	}()
	buf := make([]byte, len(in))
	if _, err := io.ReadFull(g, buf); err != nil {
		t.Fatal(err)
	}
	if d := g.Domain(); d != "bücher.example" {
		t.Errorf("Domain = %q, want bücher.example", d)
	}
	// The same domain again is a valid restart.
	if _, err := g.Read(buf); err != nil {
		t.Fatal(err)
	}
	if g.Err() != nil {
		t.Errorf("Err = %v", g.Err())
	}
	w.Close()
}

// id matches the random id of a Response.
var id = regexp.MustCompile(`id='[A-Z2-7]{26}'`)

func TestResponse(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // with ID for the random id
	}{
		{"host-unknown, no from", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='evil.example' version='1.0'>",
			`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' id='ID'>` +
				`<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>this server does not serve the domain in &#39;to&#39;</text></stream:error></stream:stream>`},
		{"bad version, from the served domain", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='LocalHost' version='0.9'>",
			`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='localhost' id='ID'>` +
				`<stream:error><unsupported-version xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>the stream version is not 1.0</text></stream:error></stream:stream>`},
		{"restart to another domain", open + "<auth/><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='bücher.example' version='1.0'>",
			`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='localhost' id='ID'>` +
				`<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>the stream was restarted for another domain</text></stream:error></stream:stream>`},
		{"after the header", open + "<a x='1' x='2'/>",
			`<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>duplicate attribute</text></stream:error></stream:stream>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := guardRead(t, testConfig(), tc.in, nil)
			var gerr *Error
			if !errors.As(err, &gerr) {
				t.Fatalf("error %v", err)
			}
			got := id.ReplaceAllString(string(gerr.Response()), "id='ID'")
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	// The namespace of the answer is the configured one.
	cfg := testConfig()
	cfg.Namespace = "jabber:server"
	g := NewConn(readerConn{r: strings.NewReader(header)}, cfg, false)
	_, err := readAll(g)
	var gerr *Error
	if !errors.As(err, &gerr) || !strings.HasPrefix(string(gerr.Response()), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' ") {
		t.Errorf("jabber:server guard: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	serves := func(string) bool { return true }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{Serves: serves}, ""},
		{"no Serves", Config{}, "guard: Config.Serves is required"},
		{"negative", Config{Serves: serves, Session: Limits{MaxAttrs: -1}}, "session.max_attrs: -1 is negative"},
		{"depth 1", Config{Serves: serves, PreAuth: Limits{MaxDepth: 1}}, "pre_auth.max_depth: 1 does not allow stanzas (depth 2)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if errString(err) != tc.want {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	// Configured limits replace the defaults.
	cfg := testConfig()
	cfg.PreAuth.MaxDepth = 3
	if _, err := guardRead(t, cfg, open+nest(3), nil); !errors.Is(err, stream.PolicyViolation) {
		t.Errorf("MaxDepth 3: %v", err)
	}
	// The zero Config serves nothing.
	g := NewConn(readerConn{r: strings.NewReader(open)}, nil, false)
	if _, err := readAll(g); !errors.Is(err, stream.HostUnknown) {
		t.Errorf("nil config: %v", err)
	}
}
