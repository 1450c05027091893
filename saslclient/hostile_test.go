package saslclient_test

import (
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/saslclient"
	"github.com/xmppauth/xmppauth/scram"
)

// fakeServer is a scripted XMPP server: STARTTLS, then the given features,
// then script runs the SASL exchange by hand.
type fakeServer struct {
	addr  string
	seen  chan string // local names of the SASL elements the client sent
	nodes chan *node  // the elements nextNode read
	done  chan struct{}
}

// wait returns when the script has returned.
func (fs *fakeServer) wait() { <-fs.done }

// sent returns the elements nextNode read so far.
func (fs *fakeServer) sent() []*node {
	var out []*node
	for {
		select {
		case n := <-fs.nodes:
			out = append(out, n)
		default:
			return out
		}
	}
}

// fakeConn is the server's view of one client after TLS.
type fakeConn struct {
	t     testing.TB
	conn  net.Conn
	d     *xml.Decoder
	seen  chan string
	nodes chan *node
}

// next reads the next element from the client and returns its local name
// and decoded payload.
func (c *fakeConn) next() (string, []byte) {
	for {
		tok, err := c.d.Token()
		if err != nil {
			return "", nil
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		var el struct {
			Text string `xml:",chardata"`
		}
		if err := c.d.DecodeElement(&el, &start); err != nil {
			return "", nil
		}
		c.seen <- start.Name.Local
		payload, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(el.Text))
		return start.Name.Local, payload
	}
}

func (c *fakeConn) send(name string, payload []byte) {
	text := ""
	if payload != nil {
		text = base64.StdEncoding.EncodeToString(payload)
	}
	fmt.Fprintf(c.conn, "<%s xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</%s>", name, text, name)
}

func (c *fakeConn) restart(features string) {
	if err := readUntil(c.d, "stream", false); err != nil {
		return
	}
	fmt.Fprintf(c.conn, "%s id='fake' from='localhost'><stream:features>%s</stream:features>", streamHeader, features)
}

func newFakeServer(t testing.TB, features string, script func(*fakeConn)) *fakeServer {
	p := getPKI()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{addr: ln.Addr().String(), seen: make(chan string, 64), nodes: make(chan *node, 64), done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(fs.done)
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		tc, err := relayAcceptTLS(raw, p.serverTLS(p.server))
		if err != nil {
			return
		}
		c := &fakeConn{t: t, conn: tc, d: xml.NewDecoder(tc), seen: fs.seen, nodes: fs.nodes}
		c.restart(features)
		script(c)
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return fs
}

const scram256Features = `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism></mechanisms>`

// scramServer runs the server side of SCRAM-SHA-256 for alice with package
// scram, so that a script can tamper with correct messages.
func scramServer(t testing.TB) *scram.Exchange {
	// The bare SCRAM server looks names up as the client sends them.
	store := scram.NewMemoryStore()
	if err := store.SetPassword("alice", alicePassword, scram.MinIterations, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	s, err := scram.NewServer(scram.SHA256, scram.Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return s.Start(scram.ChannelBinding{}, nil)
}

func TestHostileServer(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		features string
		script   func(*fakeConn)
		cfg      saslclient.Config
		check    func(error) bool
		abort    bool // the client must send <abort/>
		ok       bool
	}{{
		name: "iteration count below the minimum",
		script: func(c *fakeConn) {
			_, first := c.next()
			nonce := strings.SplitN(string(first), "r=", 2)[1]
			c.send("challenge", []byte("r="+nonce+"srv,s=QSXCR+Q6sek8bf92,i=1000"))
			c.next()
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrIterationCount) },
		abort: true,
	}, {
		name: "iteration count above the configured maximum",
		cfg:  saslclient.Config{MaxIterations: 100000},
		script: func(c *fakeConn) {
			_, first := c.next()
			nonce := strings.SplitN(string(first), "r=", 2)[1]
			c.send("challenge", []byte("r="+nonce+"srv,s=QSXCR+Q6sek8bf92,i=999999999"))
			c.next()
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrIterationCount) },
		abort: true,
	}, {
		name: "nonce not extending the client's",
		script: func(c *fakeConn) {
			c.next()
			c.send("challenge", []byte("r=somethingelse,s=QSXCR+Q6sek8bf92,i=4096"))
			c.next()
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrNonceMismatch) },
		abort: true,
	}, {
		name: "garbage server-first",
		script: func(c *fakeConn) {
			c.next()
			c.send("challenge", []byte("\x00\xff"))
			c.next()
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrMalformed) },
		abort: true,
	}, {
		name: "wrong server signature",
		script: func(c *fakeConn) {
			ex := scramServer(t)
			_, in := c.next()
			out, _, _ := ex.Step(ctx, in)
			c.send("challenge", out)
			c.next()
			c.send("success", []byte("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrServerSignature) },
	}, {
		name: "success without server-final",
		script: func(c *fakeConn) {
			ex := scramServer(t)
			_, in := c.next()
			out, _, _ := ex.Step(ctx, in)
			c.send("challenge", out)
			c.next()
			c.send("success", nil)
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrServerSignature) },
	}, {
		name: "success before the client proved anything",
		script: func(c *fakeConn) {
			c.next()
			c.send("success", nil)
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrMalformed) },
	}, {
		name: "server error in server-final",
		script: func(c *fakeConn) {
			ex := scramServer(t)
			_, in := c.next()
			out, _, _ := ex.Step(ctx, in)
			c.send("challenge", out)
			c.next()
			c.send("challenge", []byte("e=invalid-proof"))
			c.next()
		},
		check: func(err error) bool {
			var se *saslclient.ServerError
			return errors.As(err, &se) && se.Value == "invalid-proof"
		},
		abort: true,
	}, {
		name: "server-final in a challenge, then success",
		script: func(c *fakeConn) {
			ex := scramServer(t)
			_, in := c.next()
			out, _, _ := ex.Step(ctx, in)
			c.send("challenge", out)
			_, in = c.next()
			out, _, err := ex.Step(ctx, in)
			if err != nil {
				return
			}
			c.send("challenge", out)
			if name, _ := c.next(); name == "response" {
				c.send("success", nil)
				c.restart("")
			}
		},
		ok: true,
	}, {
		name: "stream error instead of a challenge",
		script: func(c *fakeConn) {
			c.next()
			io.WriteString(c.conn, `<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`)
		},
		check: func(err error) bool { return err != nil && strings.Contains(err.Error(), "not-authorized") },
	}, {
		name: "server stalls after client-first",
		cfg:  saslclient.Config{StepTimeout: config.Duration(50 * time.Millisecond)},
		script: func(c *fakeConn) {
			c.next()
			c.next() // returns when the client gives up and closes
		},
		check: func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		},
	}, {
		name:     "oversized server-first",
		features: scram256Features,
		script: func(c *fakeConn) {
			c.next()
			c.send("challenge", []byte(strings.Repeat("A", saslclient.MaxServerMessageLen+10)))
			c.next()
		},
		check: func(err error) bool { return errors.Is(err, saslclient.ErrMalformed) },
	}, {
		name:     "-PLUS offered without any mechanism this client knows",
		features: `<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>X-FOO-PLUS</mechanism></mechanisms>`,
		script:   func(c *fakeConn) { c.next() },
		check:    func(err error) bool { return errors.Is(err, saslclient.ErrNoMechanism) },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			features := tc.features
			if features == "" {
				features = scram256Features
			}
			fs := newFakeServer(t, features, tc.script)
			_, _, err := login(t, fs.addr, tc.cfg, loginOpts{version: tls.VersionTLS13})
			if tc.ok {
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				return
			}
			if !tc.check(err) {
				t.Fatalf("error = %v", err)
			}
			var sawAbort bool
			for done := false; !done; {
				select {
				case name := <-fs.seen:
					sawAbort = sawAbort || name == "abort"
				default:
					done = true
				}
			}
			if tc.abort && !sawAbort {
				// The abort may still be in flight: wait for it (bounded).
				select {
				case name := <-fs.seen:
					sawAbort = name == "abort"
				case <-time.After(5 * time.Second):
				}
				if !sawAbort {
					t.Error("client did not send <abort/>")
				}
			}
		})
	}
}
