package redisstore_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/redisstore"
)

// senderFunc is an httpauth.Sender made of a function.
type senderFunc func(context.Context, xml.TokenReader) error

func (f senderFunc) Send(ctx context.Context, r xml.TokenReader) error { return f(ctx, r) }

// Two nodes that Join with one secret share the keys and stores; what one
// node's router cannot deliver reaches the other node's router.
func TestJoin(t *testing.T) {
	sv := startServer(t)
	quiet := slog.New(slog.DiscardHandler)
	secret := []byte("a cluster secret, 16+ bytes")
	if _, err := redisstore.Join(&xmppauth.Config{}, sv.client(t), []byte("short"), quiet); err == nil {
		t.Fatal("a short secret was accepted")
	}
	delivered := make(chan string, 4)
	node := func(name string, has bool) (*xmppauth.Config, *redisstore.Cluster) {
		cfg := &xmppauth.Config{}
		cfg.HTTPAuth.Sender = senderFunc(func(_ context.Context, r xml.TokenReader) error {
			if !has {
				return errors.New("not here")
			}
			var b bytes.Buffer
			e := xml.NewEncoder(&b)
			if _, err := xmlstream.Copy(e, r); err != nil {
				return err
			}
			e.Flush()
			delivered <- name + " " + b.String()
			return nil
		})
		c, err := redisstore.Join(cfg, sv.client(t), secret, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return cfg, c
	}
	a, ca := node("A", false)
	b, _ := node("B", true)
	if !bytes.Equal(a.SASL.Secret, b.SASL.Secret) || !bytes.Equal(a.HTTPAuth.NonceKey, b.HTTPAuth.NonceKey) || len(a.SASL.Secret) < 16 {
		t.Error("the nodes derived different shared keys")
	}
	if bytes.Equal(a.SASL.Secret, a.HTTPAuth.NonceKey) || bytes.Equal(ca.Key("x"), ca.Key("y")) {
		t.Error("one key for two purposes")
	}
	if _, ok := a.HTTPAuth.Store.(*redisstore.HTTPAuth); !ok || a.OAuth.Nonces == nil || a.SASL.Throttle.Store == nil {
		t.Error("stores not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const req = `<iq xmlns='jabber:client' to='bob@localhost/b' from='localhost' type='get' id='c1'/>`
	for { // until B's relay subscription is up (bounded by ctx)
		err := a.HTTPAuth.Sender.Send(ctx, xml.NewDecoder(strings.NewReader(req)))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case got := <-delivered:
		if !strings.HasPrefix(got, "B ") || !strings.Contains(got, `to="bob@localhost/b"`) {
			t.Errorf("delivered %s", got)
		}
	case <-ctx.Done():
		t.Fatal("the request never reached node B")
	}
	var _ httpauth.Sender = a.HTTPAuth.Sender
}
