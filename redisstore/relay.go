package redisstore

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/redis/go-redis/v9"
	"mellium.im/xmlstream"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
)

// MaxRelayed bounds a stanza the relay carries.
const MaxRelayed = 256 << 10

// ErrNoNode is what Relay.Send returns when no node listens on the relay
// channel.
var ErrNoNode = errors.New("redisstore: no node listens on the relay channel")

// Relay carries stanzas between the nodes of a cluster over Redis Pub/Sub,
// for what one node cannot deliver itself: the XEP-0070 confirmation
// request for a user whose session is on another node. It is no router: a
// stanza published reaches every node (this one included), and each hands
// it to its own router, which delivers it to a local session or drops it.
// A relayed stanza that no node can deliver is lost without an error (the
// HTTP request it belongs to then ends at its timeout), and one published
// while a node's subscription is down does not reach that node.
type Relay struct {
	client  redis.UniversalClient
	channel string
	ps      *redis.PubSub
	wg      sync.WaitGroup
}

// NewRelay subscribes to the relay channel of prefix (Options.Prefix; ""
// is DefaultPrefix) and hands every stanza published there to deliver, one
// at a time, on a goroutine of its own; deliver's errors are logged at
// debug level (routing is best effort). Close stops it.
func NewRelay(client redis.UniversalClient, prefix string, deliver func(context.Context, xml.TokenReader) error, log *slog.Logger) *Relay {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	log = config.LoggerOr(log)
	r := &Relay{client: client, channel: prefix + "relay"}
	r.ps = client.Subscribe(context.Background(), r.channel)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for msg := range r.ps.Channel() {
			if len(msg.Payload) > MaxRelayed {
				continue
			}
			if err := deliver(context.Background(), xml.NewDecoder(bytes.NewReader([]byte(msg.Payload)))); err != nil {
				log.Debug("redisstore: relayed stanza not delivered here", "err", err)
			}
		}
	}()
	return r
}

// Send publishes the stanza r starts with for the other nodes' routers (it
// implements httpauth.Sender). It fails when Redis does, or no node
// listens.
func (r *Relay) Send(ctx context.Context, tr xml.TokenReader) error {
	var buf bytes.Buffer
	e := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(e, tr); err != nil {
		return err
	}
	if err := e.Flush(); err != nil {
		return err
	}
	if buf.Len() > MaxRelayed {
		return fmt.Errorf("redisstore: relayed stanza of %d bytes is over %d", buf.Len(), MaxRelayed)
	}
	n, err := r.client.Publish(ctx, r.channel, buf.String()).Result()
	switch {
	case err != nil:
		return wrap("relay", err)
	case n == 0:
		return ErrNoNode
	}
	return nil
}

// Close ends the subscription and waits for the delivering goroutine.
func (r *Relay) Close() error {
	err := r.ps.Close()
	r.wg.Wait()
	return err
}

var _ httpauth.Sender = (*Relay)(nil)
