package metrics

import (
	"context"
	"crypto"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// Operation names: the values of the op label.
const (
	opCredential    = "credential"
	opSetCredential = "set_credential"
	opIncr          = "incr"
	opGet           = "get"
	opDelete        = "delete"
	opUseNonce      = "use_nonce"
)

// answer is a store's error that is an answer, not a failure (an unknown
// user, a replayed nonce): counted under its own result.
type answer struct {
	result string
	err    error
}

// op holds the series of one operation of one store, resolved when the store
// is wrapped so that a call costs no label lookup. Creating them also
// exports each result at 0, so that an alert on errors has a series from the
// start.
type op struct {
	duration          prometheus.Observer
	ok, err, canceled prometheus.Counter
	answers           []answerCounter
}

type answerCounter struct {
	err error
	c   prometheus.Counter
}

func (m *Metrics) op(store, name string, answers ...answer) *op {
	count := func(result string) prometheus.Counter {
		return m.storeOps.WithLabelValues(store, name, result)
	}
	o := &op{
		duration: m.storeDuration.WithLabelValues(store, name),
		ok:       count("ok"),
		err:      count("error"),
		canceled: count("canceled"),
	}
	for _, a := range answers {
		o.answers = append(o.answers, answerCounter{a.err, count(a.result)})
	}
	return o
}

// done records a call that started at start and returned err.
func (o *op) done(start time.Time, err error) {
	o.duration.Observe(time.Since(start).Seconds())
	if err == nil {
		o.ok.Inc()
		return
	}
	for _, a := range o.answers {
		if errors.Is(err, a.err) {
			a.c.Inc()
			return
		}
	}
	// The caller gave up (usually the client went away): not the store's
	// failure. A deadline that passed is one: the store was too slow.
	if errors.Is(err, context.Canceled) {
		o.canceled.Inc()
		return
	}
	o.err.Inc()
}

// Scram wraps a credential store (features.Config.Store) to count its calls
// and time them as store name: ops "credential" (results "ok",
// "unknown_user", "error", "canceled") and, when s implements
// features.CredentialUpdater, "set_credential" (results "ok", "error",
// "canceled"); the returned store then implements it too. An unknown user
// (scram.ErrUnknownUser) is an answer, not an error. name is a fixed string
// the host chooses, such as "credentials", never a value from a request; it
// must be valid UTF-8 (client_golang panics otherwise). Wrapping two stores
// under one name adds up their series. A nil s gives nil.
func (m *Metrics) Scram(name string, s scram.Store) scram.Store {
	if s == nil {
		return nil
	}
	w := scramStore{next: s, credential: m.op(name, opCredential, answer{"unknown_user", scram.ErrUnknownUser})}
	if u, ok := s.(features.CredentialUpdater); ok {
		return &scramUpdater{scramStore: w, updater: u, setCredential: m.op(name, opSetCredential)}
	}
	return &w
}

type scramStore struct {
	next       scram.Store
	credential *op
}

var _ scram.Store = (*scramStore)(nil)

// Credential implements scram.Store.
func (s *scramStore) Credential(ctx context.Context, username string, h crypto.Hash) (scram.Credential, error) {
	start := time.Now()
	c, err := s.next.Credential(ctx, username, h)
	s.credential.done(start, err)
	return c, err
}

// scramUpdater is scramStore for a store that is also a
// features.CredentialUpdater: a second type, so that a store that is not
// does not seem to be one.
type scramUpdater struct {
	scramStore
	updater       features.CredentialUpdater
	setCredential *op
}

var _ features.CredentialUpdater = (*scramUpdater)(nil)

// SetCredential implements features.CredentialUpdater.
func (s *scramUpdater) SetCredential(ctx context.Context, account string, h crypto.Hash, c scram.Credential) error {
	start := time.Now()
	err := s.updater.SetCredential(ctx, account, h, c)
	s.setCredential.done(start, err)
	return err
}

// Throttle wraps a login limiter's counter store (throttle.Config.Store) to
// count its calls and time them as store name (see Scram): ops "incr",
// "get" and "delete", results "ok", "error" and "canceled". A nil s gives
// nil.
func (m *Metrics) Throttle(name string, s throttle.Store) throttle.Store {
	if s == nil {
		return nil
	}
	return &throttleStore{next: s, incr: m.op(name, opIncr), get: m.op(name, opGet), delete: m.op(name, opDelete)}
}

type throttleStore struct {
	next              throttle.Store
	incr, get, delete *op
}

var _ throttle.Store = (*throttleStore)(nil)

// Incr implements throttle.Store.
func (s *throttleStore) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	start := time.Now()
	n, err := s.next.Incr(ctx, key, ttl)
	s.incr.done(start, err)
	return n, err
}

// Get implements throttle.Store.
func (s *throttleStore) Get(ctx context.Context, key string) (int64, error) {
	start := time.Now()
	n, err := s.next.Get(ctx, key)
	s.get.done(start, err)
	return n, err
}

// Delete implements throttle.Store.
func (s *throttleStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.next.Delete(ctx, key)
	s.delete.done(start, err)
	return err
}

// Nonces wraps an XEP-0235 nonce store (oauth.Config.Nonces) to count its
// calls and time them as store name (see Scram): op "use_nonce", results "ok",
// "replayed" (oauth.ErrNonceReplayed: an answer, not an error), "full"
// (oauth.ErrNonceStoreFull), "error" and "canceled". A nil s gives nil.
func (m *Metrics) Nonces(name string, s oauth.NonceStore) oauth.NonceStore {
	if s == nil {
		return nil
	}
	return &nonceStore{next: s, use: m.op(name, opUseNonce,
		answer{"replayed", oauth.ErrNonceReplayed}, answer{"full", oauth.ErrNonceStoreFull})}
}

type nonceStore struct {
	next oauth.NonceStore
	use  *op
}

var _ oauth.NonceStore = (*nonceStore)(nil)

// UseNonce implements oauth.NonceStore.
func (s *nonceStore) UseNonce(ctx context.Context, n oauth.Nonce) error {
	start := time.Now()
	err := s.next.UseNonce(ctx, n)
	s.use.done(start, err)
	return err
}
