package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/httpauth"
)

// MinSecretLen is the shortest cluster secret Join accepts.
const MinSecretLen = 16

// Cluster is what one node of a cluster shares with the others through
// Redis: the stores and the relay that Join set up. Close it at shutdown,
// after the node's connections have ended.
type Cluster struct {
	Stores *Stores
	Relay  *Relay
	secret []byte
	client redis.UniversalClient
}

// Join makes cfg the configuration of one node of a cluster whose nodes
// share client's Redis and secret (at least MinSecretLen bytes, the same on
// every node, kept across restarts):
//
//   - the XEP-0070 transactions (cfg.HTTPAuth.Store), XEP-0235 nonces
//     (cfg.OAuth.Nonces) and the login limiter's counters
//     (cfg.SASL.Throttle.Store) go to Redis;
//   - the keys every node must share are derived from secret: the stores'
//     digest key, cfg.SASL.Secret (the fake salts of unknown users) and
//     cfg.HTTPAuth.NonceKey (Digest nonces);
//   - cfg.HTTPAuth.Sender, the node's own router, stays the first way to a
//     user; what it cannot deliver (the user's session is on another node)
//     goes to the Relay, which hands it to every node's router.
//
// Set cfg.HTTPAuth.Sender before Join. The client stays the caller's: Close
// closes it.
func Join(cfg *xmppauth.Config, client redis.UniversalClient, secret []byte, log *slog.Logger) (*Cluster, error) {
	if len(secret) < MinSecretLen {
		return nil, errors.New("redisstore: the cluster secret must be at least 16 bytes, the same on every node")
	}
	c := &Cluster{secret: append([]byte(nil), secret...), client: client}
	stores, err := New(client, Options{Key: c.Key("redisstore"), Logger: log})
	if err != nil {
		return nil, err
	}
	c.Stores = stores
	cfg.HTTPAuth.Store, cfg.OAuth.Nonces, cfg.SASL.Throttle.Store = stores.HTTPAuth, stores.Nonces, stores.Counters
	cfg.SASL.Secret, cfg.HTTPAuth.NonceKey = c.Key("sasl fake salts"), c.Key("httpauth digest nonces")
	if local := cfg.HTTPAuth.Sender; local != nil {
		c.Relay = NewRelay(client, "", local.Send, log)
		cfg.HTTPAuth.Sender = relayingSender{local: local, relay: c.Relay}
	}
	return c, nil
}

// Key derives the key for purpose from the cluster secret, for what else
// the host's nodes must share (HMAC-SHA-256).
func (c *Cluster) Key(purpose string) []byte {
	mac := hmac.New(sha256.New, c.secret)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// Close stops the relay and the answer subscription, and closes the client.
func (c *Cluster) Close() error {
	var errs []error
	if c.Relay != nil {
		errs = append(errs, c.Relay.Close())
	}
	return errors.Join(append(errs, c.Stores.Close(), c.client.Close())...)
}

// relayingSender tries the node's own router first, then the other nodes.
type relayingSender struct {
	local httpauth.Sender
	relay *Relay
}

func (s relayingSender) Send(ctx context.Context, r xml.TokenReader) error {
	st, err := bufferToken(r)
	if err != nil {
		return err
	}
	if err := s.local.Send(ctx, st.Reader()); err == nil {
		return nil
	}
	return s.relay.Send(ctx, st.Reader())
}

// bufferToken reads the stanza r starts with, so that it can be sent twice.
func bufferToken(r xml.TokenReader) (*xmppauth.Stanza, error) {
	var st *xmppauth.Stanza
	err := xmppauth.RouterSender(func(_ context.Context, s *xmppauth.Stanza) error {
		st = s
		return nil
	}).Send(context.Background(), r)
	return st, err
}
