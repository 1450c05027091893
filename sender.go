package xmppauth

import (
	"context"
	"encoding/xml"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"

	"github.com/xmppauth/xmppauth/httpauth"
)

// DefaultWriteTimeout bounds a SessionSender's write when neither its
// Timeout nor the context sets a deadline.
const DefaultWriteTimeout = 10 * time.Second

// SessionSender delivers stanzas to one session (it is an httpauth.Sender,
// the way a server host's router reaches a user's session). Each write is
// bounded by the context's deadline, or Timeout, set on the connection under
// the session's write lock and cleared before the lock is released.
//
// It does not use Session.Send: that watches ctx from a goroutine which,
// when ctx is cancelled just after Send returned, may still set a past write
// deadline on the connection and break a later write by someone else.
type SessionSender struct {
	Session *xmpp.Session
	// Timeout bounds a write without a context deadline; zero is
	// DefaultWriteTimeout.
	Timeout time.Duration
}

// Send writes the element r starts with (r must end after it). A write that
// fails or times out leaves the stream broken: the host closes the session.
func (s SessionSender) Send(ctx context.Context, r xml.TokenReader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		timeout := s.Timeout
		if timeout == 0 {
			timeout = DefaultWriteTimeout
		}
		deadline = time.Now().Add(timeout)
	}
	w := s.Session.TokenWriter() // takes the session's write lock
	conn := s.Session.Conn()
	_ = conn.SetWriteDeadline(deadline)
	_, err := xmlstream.Copy(w, r)
	if err == nil {
		err = w.Flush()
	}
	_ = conn.SetWriteDeadline(time.Time{})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

var _ httpauth.Sender = SessionSender{}
