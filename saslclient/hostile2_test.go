package saslclient_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/stream"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/saslclient"
)

// TestHostileSASL2Server: scripted servers that lie, tamper, stall or send
// garbage over SASL2. Each gets a clear error, never a hang or a login.
func TestHostileSASL2Server(t *testing.T) {
	plain := defaultOffer
	plain.bind, plain.fast = false, nil
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	// successWith completes SCRAM correctly and then sends extra instead
	// of a correct success.
	successWith := func(o sasl2Offer, send func(c *fakeConn, final []byte)) func(*fakeConn) {
		return func(c *fakeConn) {
			if _, final := c.scramSASL2(o); final != nil {
				send(c, final)
			}
			c.nextNode()
		}
	}
	tests := []struct {
		name   string
		offer  sasl2Offer
		raw    string // features instead of offer's
		cfg    saslclient.Config
		script func(*fakeConn)
		check  func(error) bool
		abort  bool // the client must send <abort/>
		silent bool // the client must send nothing
	}{{
		name:  "wrong h=",
		offer: plain,
		script: func(c *fakeConn) {
			auth := c.nextNode()
			ex := c.scramAs(auth.attr("mechanism"), ssdp([]string{"SCRAM-SHA-256"}, nil))
			out, _, _ := ex.Step(t0ctx, auth.child("", "initial-response").decoded())
			c.send2("challenge", out)
			c.nextNode()
		},
		check: is(saslclient.ErrDowngrade),
		abort: true,
	}, {
		name:   "-PLUS stripped, XEP-0440 kept",
		offer:  sasl2Offer{mechs: []string{"SCRAM-SHA-256"}, types: plain.types},
		script: func(c *fakeConn) { c.nextNode() },
		check:  is(saslclient.ErrDowngrade),
		silent: true,
	}, {
		name:  "-PLUS and XEP-0440 stripped: the hash over the real list differs",
		offer: sasl2Offer{mechs: []string{"SCRAM-SHA-256"}},
		script: func(c *fakeConn) {
			auth := c.nextNode()
			ir := string(auth.child("", "initial-response").decoded())
			if !strings.HasPrefix(ir, "y,,") {
				c.t.Errorf("client-first %q, want the y flag", ir)
				return
			}
			// The MITM rewrites y to n (the server refuses y when it offers
			// -PLUS); the server hashes what it really advertised.
			ex := c.scramAs(auth.attr("mechanism"), ssdp(plain.mechs, plain.types))
			out, _, err := ex.Step(t0ctx, []byte("n"+ir[1:]))
			if err != nil {
				c.t.Error(err)
				return
			}
			c.send2("challenge", out)
			c.nextNode()
		},
		check: is(saslclient.ErrDowngrade),
		abort: true,
	}, {
		name:   "-PLUS without XEP-0440 (rule 4)",
		offer:  sasl2Offer{mechs: plain.mechs},
		script: func(c *fakeConn) { c.nextNode() },
		check:  is(saslclient.ErrDowngrade),
		silent: true,
	}, {
		name:  "bad server signature in additional-data",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2([]byte("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "alice@localhost", "", "")
		}),
		check: is(saslclient.ErrServerSignature),
	}, {
		name:  "success without additional-data",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2(nil, "alice@localhost", "", "")
		}),
		check: is(saslclient.ErrServerSignature),
	}, {
		name:  "success before the client proved anything",
		offer: plain,
		script: func(c *fakeConn) {
			c.nextNode()
			c.success2(nil, "alice@localhost", "", "")
			c.nextNode()
		},
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "additional-data not base64",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.raw("<success xmlns='urn:xmpp:sasl:2'><additional-data>!!!</additional-data><authorization-identifier>alice@localhost</authorization-identifier></success>")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "repeated additional-data",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2(final, "alice@localhost", "<additional-data>"+b64(final)+"</additional-data>", "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "no authorization identifier",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2(final, "", "", "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "authorization identifier not a JID",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2(final, "@@/", "", "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "bound with a bare JID",
		offer: defaultOffer,
		script: successWith(defaultOffer, func(c *fakeConn, final []byte) {
			c.success2(final, "alice@localhost", "<bound xmlns='urn:xmpp:bind:0'/>", "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "token without expiry",
		offer: defaultOffer,
		cfg:   tokenCfg(&saslclient.MemoryTokenStore{}),
		script: successWith(defaultOffer, func(c *fakeConn, final []byte) {
			c.success2(final, boundJID, "<bound xmlns='urn:xmpp:bind:0'/><token xmlns='urn:xmpp:fast:0' token='x'/>", "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "element in <success/> over MaxElementLen",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2(final, "alice@localhost", "<x xmlns='urn:example'>"+strings.Repeat("a", saslclient.MaxElementLen)+"</x>", "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "more than MaxElements elements in <success/>",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.success2(final, "alice@localhost", strings.Repeat("<x xmlns='urn:example'/>", saslclient.MaxElements+1), "")
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "challenge not base64",
		offer: plain,
		script: func(c *fakeConn) {
			c.nextNode()
			c.raw("<challenge xmlns='urn:xmpp:sasl:2'>%%%%</challenge>")
			c.nextNode()
		},
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "unknown SASL2 element",
		offer: plain,
		script: func(c *fakeConn) {
			c.nextNode()
			c.raw("<weird xmlns='urn:xmpp:sasl:2'/>")
			c.nextNode()
		},
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "RFC 6120 element during SASL2",
		offer: plain,
		script: func(c *fakeConn) {
			c.nextNode()
			c.send("challenge", []byte("r=x,s=QSXCR+Q6sek8bf92,i=4096"))
			c.nextNode()
		},
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "continue with tasks this client does not implement",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.raw("<continue xmlns='urn:xmpp:sasl:2'><additional-data>%s</additional-data><tasks><task>HOTP-EXAMPLE</task><task>TOTP-EXAMPLE</task></tasks><text>This account requires 2FA</text></continue>", b64(final))
		}),
		check: func(err error) bool {
			var ce *saslclient.ContinueError
			return errors.Is(err, saslclient.ErrTasks) && errors.As(err, &ce) &&
				slices.Equal(ce.Tasks, []string{"HOTP-EXAMPLE", "TOTP-EXAMPLE"}) && ce.Text == "This account requires 2FA"
		},
		abort: true,
	}, {
		name:  "continue with a wrong server signature",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.raw("<continue xmlns='urn:xmpp:sasl:2'><additional-data>%s</additional-data><tasks><task>X</task></tasks></continue>", b64([]byte("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")))
		}),
		check: is(saslclient.ErrServerSignature),
		abort: true,
	}, {
		name:  "continue without tasks",
		offer: plain,
		script: successWith(plain, func(c *fakeConn, final []byte) {
			c.raw("<continue xmlns='urn:xmpp:sasl:2'><additional-data>%s</additional-data></continue>", b64(final))
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:  "failure with text and an application-specific condition",
		offer: plain,
		script: func(c *fakeConn) {
			c.nextNode()
			c.raw("<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><optional-application-specific xmlns='urn:something:else'/><text>This is a terrible example.</text></failure>")
			c.nextNode()
		},
		check: func(err error) bool {
			var f *saslclient.Failure
			return errors.As(err, &f) && f.Condition == "aborted" && f.Text == "This is a terrible example." &&
				len(f.AppSpecific) == 1 && f.AppSpecific[0].Space == "urn:something:else"
		},
	}, {
		name:  "stream error instead of a challenge",
		offer: plain,
		script: func(c *fakeConn) {
			c.nextNode()
			io.WriteString(c.conn, `<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`)
		},
		check: func(err error) bool {
			var se stream.Error
			return errors.As(err, &se) && se.Err == "policy-violation"
		},
	}, {
		name:   "server stalls after authenticate",
		offer:  plain,
		cfg:    saslclient.Config{StepTimeout: config.Duration(50 * time.Millisecond)},
		script: func(c *fakeConn) { c.nextNode(); c.nextNode() },
		check:  isTimeout,
	}, {
		name:  "server stalls before the features that follow Bind 2",
		offer: defaultOffer,
		cfg:   saslclient.Config{StepTimeout: config.Duration(50 * time.Millisecond)},
		script: successWith(defaultOffer, func(c *fakeConn, final []byte) {
			c.raw("<success xmlns='urn:xmpp:sasl:2'><additional-data>%s</additional-data><authorization-identifier>%s</authorization-identifier><bound xmlns='urn:xmpp:bind:0'/></success>", b64(final), boundJID)
		}),
		check: isTimeout,
	}, {
		name:  "something else instead of the features after Bind 2",
		offer: defaultOffer,
		script: successWith(defaultOffer, func(c *fakeConn, final []byte) {
			c.raw("<success xmlns='urn:xmpp:sasl:2'><additional-data>%s</additional-data><authorization-identifier>%s</authorization-identifier><bound xmlns='urn:xmpp:bind:0'/></success><message xmlns='jabber:client'/>", b64(final), boundJID)
		}),
		check: is(saslclient.ErrMalformed),
	}, {
		name:   "more than MaxMechanisms mechanisms",
		raw:    "<authentication xmlns='urn:xmpp:sasl:2'>" + strings.Repeat("<mechanism>X</mechanism>", saslclient.MaxMechanisms+1) + "</authentication>",
		script: func(c *fakeConn) { c.nextNode() },
		check:  is(saslclient.ErrMalformed),
		silent: true,
	}, {
		name:   "FAST list with an invalid mechanism name",
		raw:    "<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256</mechanism><inline><fast xmlns='urn:xmpp:fast:0'><mechanism>HT SHA</mechanism></fast></inline></authentication>",
		script: func(c *fakeConn) { c.nextNode() },
		check:  is(saslclient.ErrMalformed),
		silent: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			features := tc.raw
			if features == "" {
				features = tc.offer.features()
			}
			fs := newFakeServer(t, features, tc.script)
			c, _, err := login(t, fs.addr, tc.cfg, loginOpts{version: tls.VersionTLS13})
			if !tc.check(err) {
				t.Fatalf("error = %v", err)
			}
			fs.wait() // the client closed the connection: the script ends
			if _, ok := c.Result(); ok {
				t.Error("client reports success")
			}
			var sent []string
			for _, n := range fs.sent() {
				sent = append(sent, n.XMLName.Local)
			}
			if tc.abort && !slices.Contains(sent, "abort") {
				t.Errorf("client did not send <abort/>: sent %q", sent)
			}
			if tc.silent && len(sent) > 0 {
				t.Errorf("client sent %q", sent)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
