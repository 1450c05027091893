package throttle

import (
	"cmp"
	"errors"
	"time"

	"github.com/xmppauth/xmppauth/config"
)

// Defaults used for zero Config fields.
const (
	// DefaultMaxFailures is the number of failed logins from one address
	// that bans it (ejabberd's c2s_max_auth_failures).
	DefaultMaxFailures = 20
	// DefaultLifetime is how long a counter lives after its last failure
	// (ejabberd's c2s_auth_ban_lifetime).
	DefaultLifetime = time.Hour
	// DefaultFreeAttempts is the number of failures on one account before
	// its attempts are delayed.
	DefaultFreeAttempts = 5
	// DefaultBaseDelay is the delay after the free attempts are used up.
	DefaultBaseDelay = 250 * time.Millisecond
	// DefaultMaxDelay caps the account delay.
	DefaultMaxDelay = 8 * time.Second
	// DefaultMaxEntries bounds the keys the default MemoryStore holds.
	DefaultMaxEntries = 100_000

	// minLifetime keeps counters meaningful and within the resolution of a
	// Redis EXPIRE.
	minLifetime = time.Second
)

// Duration is the module's JSON duration ("1h"), config.Duration.
type Duration = config.Duration

// Config configures a [Limiter]. The zero value is safe and useful: both
// limits on, with the defaults noted on each field.
type Config struct {
	// MaxFailures is the number of failed logins from one address (IPv4 /32,
	// IPv6 /64) within a lifetime that bans it (default DefaultMaxFailures).
	MaxFailures int `json:"max_failures,omitempty"`
	// Lifetime is how long a counter lives after its last recorded failure
	// (default DefaultLifetime; at least 1s).
	Lifetime Duration `json:"lifetime,omitempty"`
	// FreeAttempts is the number of failures on one account before its
	// attempts are delayed (default DefaultFreeAttempts).
	FreeAttempts int `json:"free_attempts,omitempty"`
	// BaseDelay is the delay of the first delayed attempt; each further
	// failure doubles it (default DefaultBaseDelay).
	BaseDelay Duration `json:"base_delay,omitempty"`
	// MaxDelay caps the account delay (default DefaultMaxDelay).
	MaxDelay Duration `json:"max_delay,omitempty"`
	// MaxEntries bounds the number of keys in the default in-memory store
	// (default DefaultMaxEntries); ignored when Store is set.
	MaxEntries int `json:"max_entries,omitempty"`
	// DisableAddressBan turns off the per-address ban.
	DisableAddressBan bool `json:"disable_address_ban,omitempty"`
	// DisableAccountDelay turns off the per-account delay.
	DisableAccountDelay bool `json:"disable_account_delay,omitempty"`

	// Store holds the counters; nil uses NewMemoryStore(MaxEntries, Clock).
	// Share one store between all servers that serve the same accounts.
	Store Store `json:"-"`
	// Clock is the time source of the default store; nil uses the system
	// clock.
	Clock config.Clock `json:"-"`
}

// Validate reports configuration errors, each naming its JSON key (see
// config.FieldError). Disabled limits are checked too.
func (c Config) Validate() error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, config.Errorf(key, format, args...))
	}
	if c.MaxFailures < 0 {
		bad("max_failures", "%d is negative", c.MaxFailures)
	}
	if c.Lifetime < 0 {
		bad("lifetime", "%v is negative", time.Duration(c.Lifetime))
	} else if c.Lifetime > 0 && time.Duration(c.Lifetime) < minLifetime {
		bad("lifetime", "%v is shorter than %v", time.Duration(c.Lifetime), minLifetime)
	}
	if c.FreeAttempts < 0 {
		bad("free_attempts", "%d is negative", c.FreeAttempts)
	}
	if c.BaseDelay < 0 {
		bad("base_delay", "%v is negative", time.Duration(c.BaseDelay))
	}
	if c.MaxDelay < 0 {
		bad("max_delay", "%v is negative", time.Duration(c.MaxDelay))
	}
	if c.BaseDelay >= 0 && c.MaxDelay >= 0 {
		if base, maxd := c.baseDelay(), c.maxDelay(); base > maxd {
			bad("base_delay", "%v exceeds max_delay (%v)", base, maxd)
		}
	}
	if c.MaxEntries < 0 {
		bad("max_entries", "%d is negative", c.MaxEntries)
	}
	return errors.Join(errs...)
}

func (c Config) baseDelay() time.Duration { return cmp.Or(c.BaseDelay.D(), DefaultBaseDelay) }

func (c Config) maxDelay() time.Duration { return cmp.Or(c.MaxDelay.D(), DefaultMaxDelay) }
