package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth/httpauth"
)

// waiter is a Wait in progress on this node.
type waiter struct{ ch chan delivery }

// delivery is an answer for a transaction's generation, or the failure
// that ends the wait.
type delivery struct {
	gen int64
	ans httpauth.Answer
	err error
}

// deliver hands d to the waiter without blocking; when the buffer is
// full, the oldest delivery (one for an older generation) makes room.
func (w *waiter) deliver(d delivery) {
	for {
		select {
		case w.ch <- d:
			return
		default:
			select {
			case <-w.ch:
			default:
			}
		}
	}
}

// subState is the state of the answer subscription.
type subState uint8

const (
	subStarting subState = iota // not yet confirmed
	subUp                       // subscribed
	subDown                     // lost; retrying
)

// Timing of the subscription loop.
const (
	// pingInterval: after this long without traffic the loop pings, and a
	// ping unanswered for another interval counts as a lost connection
	// (one that died without a reset, e.g. a network partition).
	pingInterval = 5 * time.Second
	// Retries after a failure back off from minBackoff to maxBackoff, so
	// that the subscription is back within about a second of Redis.
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
	// recheckTimeout bounds the reading of the waiting transactions after
	// the subscription is restored.
	recheckTimeout = 5 * time.Second
)

// run receives this node's answers until ctx ends.
func (s *HTTPAuth) run(ctx context.Context) {
	defer close(s.done)
	backoff := minBackoff
	pinged := false
	for {
		s.mu.Lock()
		ps := s.ps
		s.mu.Unlock()
		msg, err := ps.ReceiveTimeout(ctx, pingInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				if err = ps.Ping(ctx); err == nil {
					pinged = true
					continue
				}
			}
			pinged = false
			s.lost(ctx, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == s.channel {
				backoff = minBackoff
				s.restored(ctx)
			}
		case *redis.Message:
			if m.Channel == s.channel {
				s.dispatch(m.Payload)
			}
		}
	}
}

// dispatch hands a published answer to the Wait for its transaction.
func (s *HTTPAuth) dispatch(payload string) {
	ref, gen, a, err := decodeMessage(payload)
	if err != nil {
		s.log.Warn("redisstore: ignoring a malformed answer message", "err", err)
		return
	}
	s.mu.Lock()
	w := s.waiters[ref]
	s.mu.Unlock()
	if w != nil {
		w.deliver(delivery{gen: gen, ans: a})
	}
}

// lost records that the subscription failed: every Wait on this node
// fails, since an answer could be published while nobody listens, and a
// new PubSub is made (go-redis reconnects a broken one itself, but not one
// whose connection hangs).
func (s *HTTPAuth) lost(ctx context.Context, err error) {
	fresh := s.c.Subscribe(ctx, s.channel) // may dial: not under s.mu
	s.mu.Lock()
	was := s.state
	s.state = subDown
	waiters := s.snapshotLocked()
	old := s.ps // the PubSub to close: the broken one, or fresh after Close
	if s.closed {
		old = fresh
	} else {
		s.ps = fresh
	}
	s.mu.Unlock()
	_ = old.Close()
	fail := fmt.Errorf("%w: %w", errSubscription, err)
	for _, w := range waiters {
		w.deliver(delivery{err: fail})
	}
	if was != subDown {
		s.log.Warn("redisstore: answer subscription lost; XEP-0070 requests waiting on this node fail until Redis is back",
			"channel", s.channel, "waiting", len(waiters), "err", err)
	}
}

// restored records a confirmed subscription and gives each Wait the
// answer that may have been published while nobody listened.
func (s *HTTPAuth) restored(ctx context.Context) {
	s.mu.Lock()
	was := s.state
	s.state = subUp
	refs := make([]string, 0, len(s.waiters))
	for ref := range s.waiters {
		refs = append(refs, ref)
	}
	s.mu.Unlock()
	if was == subDown {
		s.log.Info("redisstore: answer subscription restored", "channel", s.channel)
	}
	if len(refs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	defer cancel()
	cmds := make([]*redis.SliceCmd, len(refs))
	if _, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, ref := range refs {
			cmds[i] = p.HMGet(ctx, s.txKey(ref), "ans", "gen")
		}
		return nil
	}); err != nil {
		s.log.Warn("redisstore: reading the waiting transactions after the subscription was restored", "err", err)
		return
	}
	for i, ref := range refs {
		v := cmds[i].Val()
		ans, ok := v[0].(string)
		if !ok {
			continue
		}
		genStr, _ := v[1].(string)
		gen, _ := strconv.ParseInt(genStr, 10, 64)
		a, err := decodeAnswer(ans)
		d := delivery{gen: gen, ans: a, err: err}
		s.mu.Lock()
		w := s.waiters[ref]
		s.mu.Unlock()
		if w != nil {
			w.deliver(d)
		}
	}
}

func (s *HTTPAuth) snapshotLocked() []*waiter {
	ws := make([]*waiter, 0, len(s.waiters))
	for _, w := range s.waiters {
		ws = append(ws, w)
	}
	return ws
}

// close stops the subscription loop and fails the waits in progress.
func (s *HTTPAuth) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	waiters := s.snapshotLocked()
	ps := s.ps
	s.mu.Unlock()
	s.stop()
	_ = ps.Close() // ends a read in progress
	<-s.done
	for _, w := range waiters {
		w.deliver(delivery{err: errClosed})
	}
	return nil
}
