package xmppauth_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

// BenchmarkLoginCPU measures the server's CPU time per login, divided by
// its CPU time per bare Go TLS 1.3 handshake with the same client settings,
// for the three ways a client logs in:
//
//   - rfc6120: STARTTLS, RFC 6120 SASL SCRAM-SHA-256-PLUS, stream restart,
//     RFC 6120 resource binding (what mellium's client does);
//   - sasl2: direct TLS (XEP-0368), SASL2 SCRAM-SHA-256-PLUS with Bind2;
//   - fast: direct TLS, SASL2 HT-SHA-256-EXPR (a FAST reconnect) with Bind2.
//
// The client runs in a child process (this test binary, re-executed with
// XMPPAUTH_CPU_CLIENT set), so that the server process's CPU time
// (getrusage RUSAGE_SELF, user and system) is the server's work alone: the
// handshakes, the guard, mellium, this module, the one INFO log line per
// login (to a text handler), and the garbage collection of what it
// allocated (a GC closes each window). Each run measures the baseline and
// every flow with b.N logins each; the benchmark reports the min, median
// and max of the ratios over 5 runs, and the absolute time per baseline
// handshake. Run it with a fixed count, e.g.
//
//	go test -run XXX -bench LoginCPU -benchtime 400x
//
// Targets: rfc6120 ≤ 1.6, sasl2 ≤ 1.35, fast ≤ 1.3.
func BenchmarkLoginCPU(b *testing.B) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		b.Skip("getrusage needed")
	}
	n := b.N
	if n < 20 {
		n = 20 // the first call with b.N = 1 only sizes the benchmark
	}
	cfg := baseConfig(b)
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) // one INFO line per login, formatted
	p, err := xmppauth.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	servers := map[string]string{
		"tls":     xmpptest.Listen(b, func(raw net.Conn) { bareTLS(raw, cfg.TLSConfig) }),
		"rfc6120": xmpptest.Listen(b, func(raw net.Conn) { negotiateCPU(p.Accept(raw), nil) }),
		"sasl2":   xmpptest.Listen(b, func(raw net.Conn) { c, err := p.AcceptTLS(raw); negotiateCPU(c, err) }),
		"fast":    xmpptest.Listen(b, func(raw net.Conn) { c, err := p.AcceptTLS(raw); negotiateCPU(c, err) }),
	}
	client := startCPUClient(b, servers)
	flows := []string{"rfc6120", "sasl2", "fast"}
	// Runs of interleaved chunks: a baseline chunk before each flow's, so
	// that both see the same machine (other processes, frequency, caches).
	const runs, chunk = 5, 50
	ratios := map[string][]float64{}
	var base []float64
	b.ResetTimer()
	for range runs {
		var tlsCPU time.Duration
		flowCPU := map[string]time.Duration{}
		for done := 0; done < n; done += chunk {
			k := min(chunk, n-done)
			for _, f := range flows {
				tlsCPU += client.measure(b, "tls", k)
				flowCPU[f] += client.measure(b, f, k)
			}
		}
		base = append(base, tlsCPU.Seconds()/float64(n*len(flows)))
		for _, f := range flows {
			ratios[f] = append(ratios[f], float64(flowCPU[f])*float64(len(flows))/float64(tlsCPU))
		}
	}
	b.StopTimer()
	client.stop(b)
	for _, f := range flows {
		r := ratios[f]
		slices.Sort(r)
		b.ReportMetric(r[0], f+"-min-x")
		b.ReportMetric(r[len(r)/2], f+"-med-x")
		b.ReportMetric(r[len(r)-1], f+"-max-x")
	}
	slices.Sort(base)
	b.ReportMetric(base[len(base)/2]*1e6, "tls-µs/handshake")
	for _, f := range append([]string{"tls"}, flows...) {
		b.ReportMetric(float64(client.allocs[f])/float64(client.logins[f]), f+"-allocs/login")
		b.ReportMetric(float64(client.bytes[f])/float64(client.logins[f]), f+"-B/login")
	}
}

func bareTLS(raw net.Conn, cfg *tls.Config) {
	defer raw.Close()
	tc := tls.Server(raw, cfg)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if tc.Handshake() == nil {
		_ = tc.CloseWrite()
		_, _ = io.Copy(io.Discard, tc)
	}
}

func negotiateCPU(c *xmppauth.Conn, err error) {
	if err != nil {
		return
	}
	if s, err := c.Negotiate(context.Background()); err == nil {
		_ = c.Close(s, nil)
	}
}

// cpuClientProc is the child process that logs in.
type cpuClientProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader

	allocs, bytes map[string]uint64 // server allocations by flow
	logins        map[string]int
}

// startCPUClient starts the client process for the servers (flow → addr)
// and waits until it has warmed up every flow.
func startCPUClient(b *testing.B, servers map[string]string) *cpuClientProc {
	var spec []string
	for f, addr := range servers {
		spec = append(spec, f+"="+addr)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUClient$", "-test.count=1")
	cmd.Env = append(os.Environ(), "XMPPAUTH_CPU_CLIENT="+strings.Join(spec, ","))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &cpuClientProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		b.Fatalf("client: %q %v", line, err)
	}
	return c
}

// measure has the client log in n times with flow and returns the CPU time
// this process spent meanwhile.
func (c *cpuClientProc) measure(b *testing.B, flow string, n int) time.Duration {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := cpuTime()
	fmt.Fprintf(c.stdin, "%s %d\n", flow, n)
	if line, err := c.out.ReadString('\n'); err != nil || line != "done\n" {
		_ = c.cmd.Process.Kill()
		b.Fatalf("client for %s: %q %v", flow, line, err)
	}
	runtime.GC()
	cpu := cpuTime() - start
	runtime.ReadMemStats(&after)
	if c.allocs == nil {
		c.allocs, c.bytes, c.logins = map[string]uint64{}, map[string]uint64{}, map[string]int{}
	}
	c.allocs[flow] += after.Mallocs - before.Mallocs
	c.bytes[flow] += after.TotalAlloc - before.TotalAlloc
	c.logins[flow] += n
	return cpu
}

func (c *cpuClientProc) stop(b *testing.B) {
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		b.Fatalf("client: %v", err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCPUClient is the client side of BenchmarkLoginCPU; it does nothing
// unless the benchmark started it.
func TestCPUClient(t *testing.T) {
	spec := os.Getenv("XMPPAUTH_CPU_CLIENT")
	if spec == "" {
		t.Skip("the client of BenchmarkLoginCPU")
	}
	clients := map[string]*cpuClient{}
	for _, kv := range strings.Split(spec, ",") {
		flow, addr, _ := strings.Cut(kv, "=")
		c := &cpuClient{addr: addr, keys: map[string][]byte{}}
		// Warm up (and, for FAST, get the token) before any window opens.
		for range 3 {
			if err := c.login(flow); err != nil {
				t.Fatalf("%s: %v", flow, err)
			}
		}
		clients[flow] = c
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		flow, count, _ := strings.Cut(in.Text(), " ")
		n, _ := strconv.Atoi(count)
		for range n {
			if err := clients[flow].login(flow); err != nil {
				t.Fatalf("%s: %v", flow, err)
			}
		}
		fmt.Println("done")
	}
}

// cpuClient logs in as alice in raw XML, as cheaply as it can (its work is
// not measured, only its wall time counts).
type cpuClient struct {
	addr  string
	keys  map[string][]byte // SaltedPassword by salt, as clients cache it
	token string            // FAST
	conn  net.Conn
	d     *xml.Decoder
}

const cpuUserAgent = "2b0a5e3c-6a3f-4b8e-9a53-0c7b6f0d9e11"

func (c *cpuClient) login(flow string) error {
	raw, err := net.Dial("tcp", c.addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	tlsCfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"xmpp-client"}}
	switch flow {
	case "tls":
		tc := tls.Client(raw, tlsCfg)
		if err := tc.Handshake(); err != nil {
			return err
		}
		_ = tc.CloseWrite()
		_, _ = io.Copy(io.Discard, tc)
		return nil
	case "rfc6120":
		c.conn = raw
		if err := c.open(); err != nil {
			return err
		}
		io.WriteString(c.conn, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		if _, err := c.next("proceed"); err != nil {
			return err
		}
		tlsCfg.NextProtos = nil
		tc := tls.Client(raw, tlsCfg)
		if err := tc.Handshake(); err != nil {
			return err
		}
		c.conn = tc
		if err := c.open(); err != nil {
			return err
		}
		if err := c.scram(false, ""); err != nil {
			return err
		}
		if err := c.open(); err != nil {
			return err
		}
		io.WriteString(c.conn, `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
		if _, err := c.next("iq"); err != nil {
			return err
		}
	case "sasl2", "fast":
		tc := tls.Client(raw, tlsCfg)
		if err := tc.Handshake(); err != nil {
			return err
		}
		c.conn = tc
		if err := c.open(); err != nil {
			return err
		}
		if flow == "fast" && c.token != "" {
			if err := c.fast(); err != nil {
				return err
			}
		} else if err := c.scram(true, map[bool]string{true: "HT-SHA-256-EXPR"}[flow == "fast"]); err != nil {
			return err
		}
		if _, err := c.next("features"); err != nil {
			return err
		}
	}
	io.WriteString(c.conn, `</stream:stream>`)
	_, _ = io.Copy(io.Discard, c.conn)
	return nil
}

// open sends a stream header and reads the server's header and features.
func (c *cpuClient) open() error {
	io.WriteString(c.conn, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	c.d = xml.NewDecoder(c.conn)
	_, err := c.next("features")
	return err
}

// next reads up to the next element named local and returns its content.
func (c *cpuClient) next(local string) (string, error) {
	for {
		tok, err := c.d.Token()
		if err != nil {
			return "", err
		}
		s, ok := tok.(xml.StartElement)
		if !ok || s.Name.Local == "stream" {
			continue
		}
		var el struct {
			Inner string `xml:",innerxml"`
		}
		if err := c.d.DecodeElement(&el, &s); err != nil {
			return "", err
		}
		if s.Name.Local != local {
			return "", fmt.Errorf("got <%s>%s, want <%s/>", s.Name.Local, el.Inner, local)
		}
		return el.Inner, nil
	}
}

func (c *cpuClient) exporter() []byte {
	cs := c.conn.(*tls.Conn).ConnectionState()
	d, _ := cbind.Data(cbind.TLSExporter, &cs, nil)
	return d
}

// scram logs in with SCRAM-SHA-256-PLUS (tls-exporter), on SASL2 with
// Bind2 (and a FAST token request when requestToken is set).
func (c *cpuClient) scram(sasl2 bool, requestToken string) error {
	cb := c.exporter()
	nonce := rand.Text()
	first := "p=tls-exporter,,n=alice,r=" + nonce
	if sasl2 {
		req := ""
		if requestToken != "" {
			req = `<request-token xmlns='urn:xmpp:fast:0' mechanism='` + requestToken + `'/>`
		}
		io.WriteString(c.conn, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256-PLUS'><initial-response>`+
			base64.StdEncoding.EncodeToString([]byte(first))+`</initial-response><user-agent id='`+cpuUserAgent+`'/>`+
			`<bind xmlns='urn:xmpp:bind:0'><tag>bench</tag></bind>`+req+`</authenticate>`)
	} else {
		io.WriteString(c.conn, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256-PLUS'>`+
			base64.StdEncoding.EncodeToString([]byte(first))+`</auth>`)
	}
	ch, err := c.next("challenge")
	if err != nil {
		return err
	}
	serverFirst, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ch))
	if err != nil {
		return err
	}
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(serverFirst), ",") {
		k, v, _ := strings.Cut(kv, "=")
		attrs[k] = v
	}
	sp, ok := c.keys[attrs["s"]+attrs["i"]]
	if !ok {
		salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
		iter, _ := strconv.Atoi(attrs["i"])
		if sp, err = pbkdf2.Key(sha256.New, "alice-secret", salt, iter, 32); err != nil {
			return err
		}
		c.keys[attrs["s"]+attrs["i"]] = sp
	}
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(append([]byte("p=tls-exporter,,"), cb...)) + ",r=" + attrs["r"]
	auth := "n=alice,r=" + nonce + "," + string(serverFirst) + "," + withoutProof
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	clientKey := mac(sp, "Client Key")
	stored := sha256.Sum256(clientKey)
	sig := mac(stored[:], auth)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	final := withoutProof + ",p=" + base64.StdEncoding.EncodeToString(clientKey)
	ns := "urn:ietf:params:xml:ns:xmpp-sasl"
	if sasl2 {
		ns = "urn:xmpp:sasl:2"
	}
	io.WriteString(c.conn, `<response xmlns='`+ns+`'>`+base64.StdEncoding.EncodeToString([]byte(final))+`</response>`)
	success, err := c.next("success")
	if err != nil {
		return err
	}
	if requestToken != "" {
		var s struct {
			Token struct {
				Token string `xml:"token,attr"`
			} `xml:"urn:xmpp:fast:0 token"`
		}
		_ = xml.Unmarshal([]byte("<s>"+success+"</s>"), &s)
		if c.token = s.Token.Token; c.token == "" {
			return errors.New("no FAST token")
		}
	}
	return nil
}

// fast logs in with the FAST token (HT-SHA-256-EXPR) and Bind2.
func (c *cpuClient) fast() error {
	m := hmac.New(sha256.New, []byte(c.token))
	m.Write([]byte("Initiator"))
	m.Write(c.exporter())
	msg := append([]byte("alice\x00"), m.Sum(nil)...)
	io.WriteString(c.conn, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-EXPR'><initial-response>`+
		base64.StdEncoding.EncodeToString(msg)+`</initial-response><user-agent id='`+cpuUserAgent+`'/>`+
		`<bind xmlns='urn:xmpp:bind:0'><tag>bench</tag></bind><fast xmlns='urn:xmpp:fast:0'/></authenticate>`)
	_, err := c.next("success")
	return err
}
