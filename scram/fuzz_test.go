package scram_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/xmppauth/xmppauth/scram"
)

// FuzzClientFirst feeds arbitrary client-first messages to a non-PLUS and a
// -PLUS server. The corpus is in testdata/fuzz/FuzzClientFirst.
func FuzzClientFirst(f *testing.F) {
	for _, v := range vectors {
		f.Add([]byte(v.clientFirst))
	}
	f.Add([]byte("n,a=x=2Cy=3Dz,n=a=2Cb=3Dc,r=abc,x=1"))
	f.Add([]byte("n,,m=foo,n=user,r=abc"))
	f.Add([]byte("p=tls-unique,,n=us=er,r=abc"))
	servers := []*scram.Server{newServer(f, scram.SHA256, scram.Config{}), newServer(f, scram.SHA256Plus, scram.Config{})}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, srv := range servers {
			for _, advertised := range []bool{false, true} {
				ex := srv.Start(allTypes(advertised), []byte("SCRAM-SHA-256"))
				out, done, err := ex.Step(context.Background(), in)
				if done {
					t.Fatal("done after client-first")
				}
				if err != nil {
					if out != nil {
						t.Fatalf("out %q with error %v", out, err)
					}
					if scram.ServerError(err) == "" || scram.Condition(err) == "" {
						t.Fatalf("unmapped error %v", err)
					}
					continue
				}
				// r= must extend the client nonce; the message must be
				// valid for a client to parse.
				i := bytes.Index(in, []byte(",r="))
				if i < 0 {
					t.Fatalf("accepted %q without a nonce", in)
				}
				nonce, _, _ := bytes.Cut(in[i+3:], []byte{','})
				if !bytes.HasPrefix(out, append([]byte("r="), nonce...)) {
					t.Fatalf("server-first %q does not extend nonce %q", out, nonce)
				}
				if len(in) > scram.MaxMessageLen {
					t.Fatalf("accepted %d bytes", len(in))
				}
			}
		}
	})
}

// FuzzClientFinal feeds arbitrary client-final messages after a fixed
// client-first (RFC 5802 §5 and XEP-0474 §6.3). Only the published
// client-final may succeed. The corpus is in testdata/fuzz/FuzzClientFinal.
func FuzzClientFinal(f *testing.F) {
	for _, v := range []vector{rfc5802, xep0474} {
		f.Add([]byte(v.clientFinal))
	}
	f.Add([]byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,m=x,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
	f.Add([]byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
	f.Add([]byte("c=bi!s,r=x,p=="))
	servers := []*scram.Server{vectorServer(f, rfc5802), vectorServer(f, xep0474)}
	specs := []vector{rfc5802, xep0474}
	f.Fuzz(func(t *testing.T, in []byte) {
		for i, srv := range servers {
			v := specs[i]
			ex := srv.Start(fixedBinding(v.advertised, v.cbType, v.cbData), v.downgrade)
			if _, _, err := ex.Step(context.Background(), []byte(v.clientFirst)); err != nil {
				t.Fatal(err)
			}
			out, done, err := ex.Step(context.Background(), in)
			if err == nil {
				if !done || string(in) != v.clientFinal || string(out) != v.serverFinal {
					t.Fatalf("accepted %q: out=%q done=%v", in, out, done)
				}
				continue
			}
			if done || !bytes.HasPrefix(out, []byte("e=")) || string(out[2:]) != scram.ServerError(err) {
				t.Fatalf("failure %v with out=%q done=%v", err, out, done)
			}
			if _, _, err := ex.Step(context.Background(), in); err != scram.ErrExchangeOver {
				t.Fatalf("second Step: %v", err)
			}
		}
	})
}
