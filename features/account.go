package features

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// ConnMetadata describes the connection a callback is asked about, like
// x/crypto/ssh's ConnMetadata: the host's Authorize, AccountStatus,
// MapCertificate and BindResource callbacks, and the login limiter, see who
// is connecting from where without reaching into a context.
type ConnMetadata interface {
	// RemoteAddr is the client's address (for TCP, its IP and port).
	RemoteAddr() net.Addr
	// LocalAddr is the server's address the client connected to.
	LocalAddr() net.Addr
	// Domain is the served domain the client's stream header named, in
	// canonical form.
	Domain() jid.JID
	// TLS returns the connection's TLS state, and false before TLS.
	TLS() (tls.ConnectionState, bool)
}

// Limiter throttles password guessing. *throttle.Limiter is the default; a
// host may supply its own. Addresses are the client's RemoteAddr;
// accounts are bare JIDs as the Store is keyed, or the name the client sent
// when it is no valid localpart, whether or not the account exists.
type Limiter interface {
	// Check is called before an attempt's credentials are looked up. It
	// returns an error wrapping ErrBanned (answered <temporary-auth-failure/>)
	// for an address that may not try now, another error when it cannot
	// tell (the attempt then fails closed), or how long the attempt must
	// wait first. account is empty for the address-only check made when the
	// client starts an attempt.
	Check(ctx context.Context, addr net.Addr, account string) (delay time.Duration, err error)
	// Failed records a wrong password or unknown user; banned reports that
	// this failure banned the address.
	Failed(ctx context.Context, addr net.Addr, account string) (banned bool, err error)
	// Succeeded records a successful login.
	Succeeded(ctx context.Context, addr net.Addr, account string) error
}

// ErrBanned is what a Limiter's Check wraps for an address that has failed
// too often (throttle.ErrBanned): the attempt is refused with
// <temporary-auth-failure/> before any credential is checked.
var ErrBanned = throttle.ErrBanned

// connMeta is the ConnMetadata of a session.
type connMeta struct {
	session *xmpp.Session
	domain  jid.JID
}

func (m connMeta) RemoteAddr() net.Addr { return m.session.Conn().RemoteAddr() }
func (m connMeta) LocalAddr() net.Addr  { return m.session.Conn().LocalAddr() }
func (m connMeta) Domain() jid.JID      { return m.domain }

func (m connMeta) TLS() (tls.ConnectionState, bool) {
	if m.session.State()&xmpp.Secure == 0 {
		return tls.ConnectionState{}, false
	}
	return m.session.ConnectionState(), true
}

// CanonicalDomain returns d in the canonical form of RFC 7622, as mellium's
// jid package prepares it (lowercase, IDNA U-labels, no trailing dot), the
// form in which served domains are compared. It refuses anything that is not
// a bare domain.
func CanonicalDomain(d string) (string, error) {
	j, err := jid.Parse(d)
	switch {
	case err != nil:
		return "", err
	case j.Localpart() != "" || j.Resourcepart() != "":
		return "", errors.New("a localpart or resourcepart is not allowed")
	}
	return j.Domainpart(), nil
}

// streamDomain returns the served domain session was opened to, or false
// when the client named a domain this server does not serve. mellium takes
// the stream header's to attribute as the session's local address without
// checking it; this is the check.
func (s *Server) streamDomain(session *xmpp.Session) (jid.JID, bool) {
	d := session.LocalAddr().Domain()
	if _, ok := s.domains[d.Domainpart()]; !ok || d.Domainpart() == "" {
		return jid.JID{}, false
	}
	return d, true
}

// attempt is what one SASL attempt learned about whom it is for, for the
// limiter and the log.
type attempt struct {
	begun     time.Time // when <auth/> arrived
	mechanism string    // the offered mechanism selected, for metrics
	requested string    // the name the client sent when it was not offered, for the log
	started   bool
	name      string // the username as the client sent it (capped)
	account   string // the bare JID looked up; "" when name is no valid localpart
	limitKey  string // what the limiter counts: account, else the name as sent
	checked   bool   // the limiter's per-account check ran
}

// maxLoggedName caps the username kept for the log.
const maxLoggedName = 128

func capName(s string) string {
	if len(s) > maxLoggedName {
		return s[:maxLoggedName]
	}
	return s
}

// accountStore is the host's Store seen by one attempt on one stream: it
// looks usernames up as bare JIDs of the stream's domain, and makes the
// limiter's per-account check (and waits its delay) before the first
// lookup, for known and unknown accounts alike.
type accountStore struct {
	srv  *Server
	meta connMeta // its domain is the stream's
	a    *attempt
}

func (s accountStore) Credential(ctx context.Context, username string, h crypto.Hash) (scram.Credential, error) {
	account, err := s.begin(ctx, username)
	if err != nil {
		return scram.Credential{}, err
	}
	if account == "" {
		return scram.Credential{}, scram.ErrUnknownUser
	}
	return s.srv.cfg.Store.Credential(ctx, account, h)
}

// begin records the attempted username and runs the limiter once. It
// returns the bare JID to look up, "" when username is no valid localpart
// (then an unknown user, treated exactly like one).
func (s accountStore) begin(ctx context.Context, username string) (string, error) {
	a := s.a
	if !a.started {
		a.started = true
		a.name = capName(username)
		a.limitKey = username
		if local, err := normalizeLocalpart(username); err == nil {
			a.account = local + "@" + s.meta.domain.Domainpart()
			a.limitKey = a.account
		}
	}
	if !a.checked && s.srv.limiter != nil {
		a.checked = true
		delay, err := s.srv.limiter.Check(ctx, s.meta.RemoteAddr(), a.limitKey)
		if err != nil {
			return "", err
		}
		if err := throttle.Wait(ctx, delay); err != nil {
			return "", err
		}
	}
	return a.account, nil
}
