package throttle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Errors returned by a Limiter.
var (
	// ErrBanned refuses an attempt from a banned address; answer it with
	// <temporary-auth-failure/> without checking the password.
	ErrBanned = errors.New("throttle: too many failed logins from this address")
	// ErrStore wraps every error from the Store, so that errors.Is finds both
	// ErrStore and the store's own error. Refuse the attempt with
	// <temporary-auth-failure/> and log the error.
	ErrStore = errors.New("throttle: counter store failed")
)

// Limiter counts failed logins per remote address and per account. It is safe
// for concurrent use.
//
// For each attempt the caller (the SASL layer) calls [Limiter.Check] once it
// knows the account name, waits for the delay it returns, checks the
// credentials, and then calls [Limiter.Failed] or [Limiter.Succeeded]. An
// attempt that Check refused was never checked, so it is neither a failure
// nor a success.
//
// The account name is the one the client tried, normalised as the server
// compares names (for example the PRECIS-mapped localpart and the domain), so
// that spellings of one account share a counter. An empty name skips the
// account counter; the address counter still applies.
type Limiter struct {
	store       Store
	addrOn      bool
	acctOn      bool
	maxFailures int64
	lifetime    time.Duration
	free        int64
	baseDelay   time.Duration
	maxDelay    time.Duration
}

// New returns a Limiter for c, which must be valid.
func New(c Config) (*Limiter, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	l := &Limiter{
		store:       c.Store,
		addrOn:      !c.DisableAddressBan,
		acctOn:      !c.DisableAccountDelay,
		maxFailures: int64(cmp.Or(c.MaxFailures, DefaultMaxFailures)),
		lifetime:    time.Duration(cmp.Or(c.Lifetime, Duration(DefaultLifetime))),
		free:        int64(cmp.Or(c.FreeAttempts, DefaultFreeAttempts)),
		baseDelay:   c.baseDelay(),
		maxDelay:    c.maxDelay(),
	}
	if l.store == nil {
		l.store = NewMemoryStore(c.MaxEntries, c.Clock)
	}
	return l, nil
}

// Check reports whether an attempt to log in to account from addr may go
// ahead, and after what delay. It returns [ErrBanned] if addr is banned, and
// an error wrapping [ErrStore] if the store failed; in both cases refuse the
// attempt without checking its credentials. Otherwise the caller waits for
// delay (see [Wait]) and then checks the credentials; the delay depends only
// on the account's failures, never on whether the account exists or the
// password is right.
func (l *Limiter) Check(ctx context.Context, addr net.Addr, account string) (delay time.Duration, err error) {
	if l.addrOn {
		n, err := l.store.Get(ctx, AddrKey(addr))
		if err != nil {
			return 0, fmt.Errorf("%w: address counter: %w", ErrStore, err)
		}
		if n >= l.maxFailures {
			return 0, ErrBanned
		}
	}
	if l.acctOn && account != "" {
		n, err := l.store.Get(ctx, AccountKey(account))
		if err != nil {
			return 0, fmt.Errorf("%w: account counter: %w", ErrStore, err)
		}
		return l.delay(n), nil
	}
	return 0, nil
}

// Failed records a failed login to account from addr: credentials that were
// checked and found wrong, for an account that may or may not exist. banned
// reports whether this failure banned addr; it is true once per ban, for
// the caller to log. The error wraps [ErrStore]; both counters are attempted
// even if one fails.
func (l *Limiter) Failed(ctx context.Context, addr net.Addr, account string) (banned bool, err error) {
	var errs []error
	if l.addrOn {
		n, err := l.store.Incr(ctx, AddrKey(addr), l.lifetime)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: address counter: %w", ErrStore, err))
		}
		// Incr counts one at a time, so exactly one failure reaches the
		// threshold even when several race.
		banned = err == nil && n == l.maxFailures
	}
	if l.acctOn && account != "" {
		if _, err := l.store.Incr(ctx, AccountKey(account), l.lifetime); err != nil {
			errs = append(errs, fmt.Errorf("%w: account counter: %w", ErrStore, err))
		}
	}
	return banned, errors.Join(errs...)
}

// Succeeded records a successful login to account from addr: it resets the
// account's counter, so the owner's next logins are not delayed. It leaves
// the address counter alone, so that logging in to an account one owns does
// not buy more guesses at others; addr is not used today. The error wraps
// [ErrStore]; it need only be logged.
func (l *Limiter) Succeeded(ctx context.Context, addr net.Addr, account string) error {
	if !l.acctOn || account == "" {
		return nil
	}
	if err := l.store.Delete(ctx, AccountKey(account)); err != nil {
		return fmt.Errorf("%w: account counter: %w", ErrStore, err)
	}
	return nil
}

// delay returns the delay before an attempt on an account with the given
// number of recorded failures.
func (l *Limiter) delay(failures int64) time.Duration {
	if failures < l.free {
		return 0
	}
	d := l.baseDelay
	for n := failures - l.free; n > 0; n-- {
		if d > l.maxDelay/2 {
			return l.maxDelay
		}
		d *= 2
	}
	return min(d, l.maxDelay)
}

// Wait waits for d or until ctx is done, whichever is first, and returns
// ctx's error in the second case. A d of zero or less returns nil at once.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
