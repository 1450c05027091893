package redisstore_test

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/redisstore"
)

// A stanza sent through the relay on one node reaches the router of every
// node; with nobody listening Send says so.
func TestRelay(t *testing.T) {
	sv := startServer(t)
	prefix := freshPrefix()
	got := make(chan string, 4)
	deliver := func(node string) func(context.Context, xml.TokenReader) error {
		return func(_ context.Context, r xml.TokenReader) error {
			var v struct {
				To string `xml:"to,attr"`
			}
			if err := xml.NewTokenDecoder(r).Decode(&v); err != nil {
				return err
			}
			got <- node + " " + v.To
			return nil
		}
	}
	quiet := slog.New(slog.DiscardHandler)
	a := redisstore.NewRelay(sv.client(t), prefix, deliver("A"), quiet)
	defer a.Close()
	b := redisstore.NewRelay(sv.client(t), prefix, deliver("B"), quiet)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The subscriptions are asynchronous: publish until both nodes listen
	// (bounded by ctx).
	for {
		err := a.Send(ctx, xml.NewDecoder(strings.NewReader(`<iq xmlns='jabber:client' to='bob@localhost/b' type='get' id='c1'><confirm xmlns='http://jabber.org/protocol/http-auth' id='x' method='GET' url='http://a/'/></iq>`)))
		if err == nil {
			break
		}
		if !errors.Is(err, redisstore.ErrNoNode) || ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case s := <-got:
			seen[s] = true
		case <-ctx.Done():
			t.Fatalf("delivered to %v only", seen)
		}
	}
	if !seen["A bob@localhost/b"] || !seen["B bob@localhost/b"] {
		t.Errorf("delivered %v", seen)
	}
	a.Close()
	b.Close()
	lonely := redisstore.NewRelay(sv.client(t), freshPrefix(), deliver("C"), quiet)
	lonely.Close()
	if err := lonely.Send(ctx, xml.NewDecoder(strings.NewReader(`<message xmlns='jabber:client' to='x@y'/>`))); !errors.Is(err, redisstore.ErrNoNode) {
		t.Errorf("Send with nobody listening: %v", err)
	}
}
