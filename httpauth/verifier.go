package httpauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/internal/floodlog"
)

// Sender delivers a stanza to the XMPP network. *xmpp.Session (a client,
// server or component session) implements it; a server host implements it
// with its router.
type Sender interface {
	Send(ctx context.Context, r xml.TokenReader) error
}

// Authorizer decides whether a JID may access the requested resource at all.
// It runs before the user is contacted; a non-nil error gives HTTP 403.
type Authorizer interface {
	Authorize(ctx context.Context, j jid.JID, r *http.Request) error
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(ctx context.Context, j jid.JID, r *http.Request) error

// Authorize implements Authorizer.
func (f AuthorizerFunc) Authorize(ctx context.Context, j jid.JID, r *http.Request) error {
	return f(ctx, j, r)
}

// Config configures a [Verifier]. Every zero value is safe and takes the
// default noted on the field; Sender is required by New. Fields tagged
// json:"-" are the host's run-time dependencies; the others can come from a
// configuration file.
type Config struct {
	// Sender delivers confirmation requests. Required by New.
	Sender Sender `json:"-"`
	// From is the address confirmation requests are sent from, e.g. the
	// component's domain (JSON "from"). Empty leaves the attribute out (the
	// server fills it in on c2s streams).
	From jid.JID `json:"-"`
	// Authorizer, when set, is asked before the user is contacted.
	Authorizer Authorizer `json:"-"`
	// Store keeps transactions; nil means NewMemStore(MemStoreConfig{}).
	// Front ends sharing a networked Store serve one domain together: an
	// answer any of them receives reaches the request waiting on another.
	Store Store `json:"-"`
	// StoreTimeout bounds each call to a Store other than the built-in
	// MemStore (which never blocks), except the wait for the user's
	// answer, which Timeout bounds; default 5 seconds. HandleStanza and
	// SessionEnded, which a router calls inline, wait at most this long
	// when the store is slow; a store that is down should fail faster (see
	// its own timeouts).
	StoreTimeout config.Duration `json:"store_timeout,omitempty"`
	// Timeout is how long the user has to answer; default 2 minutes. The
	// HTTP server's ReadTimeout and WriteTimeout must be longer (see
	// Verifier.ServerDefaults).
	Timeout config.Duration `json:"timeout,omitempty"`
	// TimeoutStatus is the HTTP status sent when the user does not answer
	// in time; default 403.
	TimeoutStatus int `json:"timeout_status,omitempty"`
	// ReuseWindow is how long a HEAD or OPTIONS confirmation may be reused;
	// default 5 minutes.
	ReuseWindow config.Duration `json:"reuse_window,omitempty"`
	// DisableReuse turns off reuse of HEAD and OPTIONS confirmations.
	DisableReuse bool `json:"disable_reuse,omitempty"`
	// DisableBasic and DisableDigest turn off a scheme: it is neither
	// offered in challenges nor accepted.
	DisableBasic  bool `json:"disable_basic,omitempty"`
	DisableDigest bool `json:"disable_digest,omitempty"`
	// NonceLifetime is how long a Digest nonce is valid; default 5 minutes.
	NonceLifetime config.Duration `json:"nonce_lifetime,omitempty"`
	// NonceKey authenticates Digest nonces; front ends sharing a Store must
	// share it. Nil means 32 random bytes. At least 16 bytes when set.
	NonceKey []byte `json:"-"`
	// EntityKey identifies "the same entity" for reuse of HEAD and OPTIONS
	// confirmations and is the client address ClientRate counts; default:
	// the client's IP address from RemoteAddr. Behind a reverse proxy, set
	// it to read the proxy's header.
	EntityKey func(r *http.Request) string `json:"-"`
	// BaseURL, when set, is the scheme and authority (and optional path
	// prefix) of the URL shown to the user, followed by the request target;
	// e.g. "https://files.example.net". The Host header is then ignored.
	BaseURL string `json:"base_url,omitempty"`
	// Hosts, when BaseURL and RequestURL are not set, are the values of the
	// Host header (host or host:port, compared case-insensitively) this
	// service answers to; the URL shown to the user is built from r.TLS and
	// the Host header. A request for any other host gets 400 before anybody
	// is asked: the Host header is the client's choice, and the user must
	// not be shown a URL an attacker picked. When none of BaseURL, Hosts
	// and RequestURL is set, every request gets 400 and the log says what
	// to configure.
	Hosts []string `json:"hosts,omitempty"`
	// RequestURL, when set, returns the full URL of a request as shown to
	// the user; it overrides BaseURL and Hosts.
	RequestURL func(r *http.Request) string `json:"-"`
	// JIDRate limits the confirmation prompts sent to one bare JID; default
	// DefaultJIDRate (5 a minute, 5 at once). It bounds how often a
	// stranger can make a user's phone ring.
	JIDRate RateLimit `json:"jid_rate,omitzero"`
	// ClientRate limits the prompts one client address (EntityKey; an IPv6
	// address by its /64) can cause, whatever JIDs it names; default
	// DefaultClientRate (30 a minute, 10 at once). Over either limit the
	// request gets 429 with Retry-After before anybody is contacted.
	ClientRate RateLimit `json:"client_rate,omitzero"`
	// Clock is the time source; nil means the system clock. A clock that
	// also has a method After(time.Duration) <-chan time.Time (as tests
	// use) times the wait for the user's answer too.
	Clock config.Clock `json:"-"`
	// Rand defaults to crypto/rand.
	Rand io.Reader `json:"-"`
	// ErrorHandler writes the response for a refused request (see
	// Outcome); nil means DefaultErrorHandler. The headers the protocol
	// needs are set before it runs: WWW-Authenticate challenges with 401,
	// Retry-After with 429. It should write o.Status.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, o Outcome) `json:"-"`
	// Observe, when set, is told of every request the Verifier decides, for
	// metrics (see Event). It runs on the request's goroutine.
	Observe func(Event) `json:"-"`
	// Logger receives one line per security-relevant outcome; nil means
	// slog.Default(). Transaction identifiers, passwords and Digest
	// responses are never logged.
	Logger *slog.Logger `json:"-"`
}

// Validate checks the settings, naming the JSON key of the first invalid
// one ("timeout: -1s is negative"). It does not check the run-time
// dependencies (Sender), which New requires.
func (c Config) Validate() error {
	switch {
	case c.Timeout < 0:
		return config.Errorf("timeout", "%s is negative", c.Timeout)
	case c.StoreTimeout < 0:
		return config.Errorf("store_timeout", "%s is negative", c.StoreTimeout)
	case c.ReuseWindow < 0:
		return config.Errorf("reuse_window", "%s is negative", c.ReuseWindow)
	case c.NonceLifetime < 0:
		return config.Errorf("nonce_lifetime", "%s is negative", c.NonceLifetime)
	case c.NonceKey != nil && len(c.NonceKey) < 16:
		return config.Errorf("NonceKey", "%d bytes is shorter than 16", len(c.NonceKey))
	case c.TimeoutStatus != 0 && (c.TimeoutStatus < 400 || c.TimeoutStatus > 599):
		return config.Errorf("timeout_status", "%d is not a 4xx or 5xx status", c.TimeoutStatus)
	case c.DisableBasic && c.DisableDigest:
		return config.Errorf("disable_digest", "disable_basic and disable_digest are both set")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return config.Errorf("base_url", "%q is not an absolute http(s) URL without query", c.BaseURL)
		}
	}
	for i, h := range c.Hosts {
		if u, err := url.Parse("//" + h); h == "" || err != nil || u.Host != h || u.User != nil {
			return config.In("hosts", config.Errorf(fmt.Sprintf("[%d]", i), "%q is not a host or host:port", h))
		}
	}
	if err := c.JIDRate.validate(); err != nil {
		return config.In("jid_rate", err)
	}
	if err := c.ClientRate.validate(); err != nil {
		return config.In("client_rate", err)
	}
	return nil
}

// Verifier verifies HTTP requests via XMPP. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	store  Store
	nonces *nonces
	log    *slog.Logger
	flood  *floodlog.Logger
	// clockAfter is the After method of a clock that has one (tests'); nil
	// when the wait for the answer is timed by a context deadline.
	clockAfter func(time.Duration) <-chan time.Time

	defaultURL    bool // cfg.RequestURL builds the URL from the Host header
	defaultEntity bool // cfg.EntityKey is remoteIP
	hosts         []string
	realClock     bool
	memStore      bool // the store is a *MemStore, whose calls need no deadline

	// waiting counts the HTTP requests of this Verifier between Begin and
	// End (Pending).
	waiting atomic.Int64

	jidLimit, clientLimit *keyedLimiter // nil when disabled

	// reuse maps the exact Basic Authorization header of a HEAD or OPTIONS
	// confirmation to its parsed form so that reusing it skips parsing; the
	// store's grant stays the authority. Bounded by maxReuseCache.
	reuse  sync.Map // string → *reuseEntry
	reuseN atomic.Int64
}

const maxReuseCache = 10000

type reuseEntry struct {
	j           jid.JID
	entity, url string
	expires     time.Time
	// expired is set by a timer when the Verifier runs on the real clock,
	// so that the fast path need not read the clock (time.Now is a large
	// part of its cost).
	expired atomic.Bool
}

// New returns a Verifier for cfg. It checks the settings (Validate) and
// that Sender is set.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Sender == nil {
		return nil, errors.New("httpauth: Config.Sender is required")
	}
	if cfg.Store == nil {
		cfg.Store = NewMemStore(MemStoreConfig{Clock: cfg.Clock})
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = config.Duration(DefaultTimeout)
	}
	if cfg.StoreTimeout == 0 {
		cfg.StoreTimeout = config.Duration(5 * time.Second)
	}
	if cfg.TimeoutStatus == 0 {
		cfg.TimeoutStatus = http.StatusForbidden
	}
	if cfg.ReuseWindow == 0 {
		cfg.ReuseWindow = config.Duration(5 * time.Minute)
	}
	if cfg.NonceLifetime == 0 {
		cfg.NonceLifetime = config.Duration(5 * time.Minute)
	}
	cfg.Clock = config.ClockOr(cfg.Clock)
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	defaultEntity := cfg.EntityKey == nil
	if defaultEntity {
		cfg.EntityKey = remoteIP
	}
	if cfg.ErrorHandler == nil {
		cfg.ErrorHandler = DefaultErrorHandler
	}
	cfg.JIDRate = cfg.JIDRate.withDefaults(DefaultJIDRate)
	cfg.ClientRate = cfg.ClientRate.withDefaults(DefaultClientRate)
	log := config.LoggerOr(cfg.Logger)
	v := &Verifier{
		store:       cfg.Store,
		log:         log,
		flood:       floodlog.New(log, "httpauth", cfg.Clock),
		jidLimit:    newKeyedLimiter(cfg.JIDRate),
		clientLimit: newKeyedLimiter(cfg.ClientRate),
	}
	v.defaultEntity = defaultEntity
	_, v.realClock = cfg.Clock.(config.SystemClock)
	_, v.memStore = cfg.Store.(*MemStore)
	switch {
	case cfg.RequestURL != nil:
	case cfg.BaseURL != "":
		base := strings.TrimRight(cfg.BaseURL, "/")
		cfg.RequestURL = func(r *http.Request) string { return base + requestTarget(r) }
	default:
		v.defaultURL = true
		cfg.RequestURL = requestURL
		for _, h := range cfg.Hosts {
			v.hosts = append(v.hosts, strings.ToLower(h))
		}
		if len(v.hosts) == 0 {
			log.Warn("httpauth: none of base_url, hosts and RequestURL is configured: every request will be refused with 400")
		}
	}
	if a, ok := cfg.Clock.(interface {
		After(time.Duration) <-chan time.Time
	}); ok {
		v.clockAfter = a.After
	}
	if cfg.NonceKey == nil {
		cfg.NonceKey = make([]byte, 32)
		if _, err := io.ReadFull(cfg.Rand, cfg.NonceKey); err != nil {
			return nil, fmt.Errorf("httpauth: generating nonce key: %w", err)
		}
	}
	v.nonces = newNonces(cfg.NonceKey, cfg.NonceLifetime.D())
	v.cfg = cfg
	return v, nil
}

// Store returns the Verifier's store.
func (v *Verifier) Store() Store { return v.store }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// remoteIPIs reports whether remoteIP would return ip for the address addr
// in the common case it can tell without splitting addr: addr is ip ":"
// port and neither part holds ':', '[' or ']' (an IPv4 address), which
// net.SplitHostPort splits at the colon. False means "not known".
func remoteIPIs(addr, ip string) bool {
	if len(addr) <= len(ip) || addr[len(ip)] != ':' || addr[:len(ip)] != ip {
		return false
	}
	for _, part := range [...]string{ip, addr[len(ip)+1:]} {
		for i := range len(part) {
			if c := part[i]; c == ':' || c == '[' || c == ']' {
				return false
			}
		}
	}
	return true
}

// sameEntity reports whether r comes from entity (Config.EntityKey).
func (v *Verifier) sameEntity(entity string, r *http.Request) bool {
	if v.defaultEntity && remoteIPIs(r.RemoteAddr, entity) {
		return true
	}
	return v.cfg.EntityKey(r) == entity
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + requestTarget(r)
}

func requestTarget(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI[0] == '/' || r.RequestURI == "*" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// knownHost reports whether the Host header names a configured host, when
// the URL is built from it.
func (v *Verifier) knownHost(r *http.Request) bool {
	if !v.defaultURL {
		return true
	}
	for _, h := range v.hosts {
		if len(h) == len(r.Host) && strings.EqualFold(h, r.Host) {
			return true
		}
	}
	return false
}

type ctxKey struct{}

// jidContext is what context.WithValue(parent, ctxKey{}, j) would be, in
// one allocation of half the size and without WithValue's reflection on the
// key. Everything else (deadline, cancellation, cause, other values) is the
// parent's: the context package finds a parent's cancellation through
// Value, which jidContext passes on.
type jidContext struct {
	context.Context
	j *jid.JID // shared, never modified
}

func (c *jidContext) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return c.j
	}
	return c.Context.Value(key)
}

func (c *jidContext) String() string {
	return fmt.Sprintf("%v.WithValue(httpauth JID, %s)", c.Context, c.j)
}

// FromContext returns the JID verified for the request whose context this is.
func FromContext(ctx context.Context) (jid.JID, bool) {
	j, ok := ctx.Value(ctxKey{}).(*jid.JID)
	if !ok {
		return jid.JID{}, false
	}
	return *j, true
}

// Handler returns middleware that serves next only for verified requests
// and answers all others itself (see WriteError). next finds the verified
// JID with FromContext(r.Context()). Putting it there costs a copy of the
// request (http.Request.WithContext) and a context value; on the fast path
// of a reused HEAD or OPTIONS confirmation that is about as much as Check
// itself. A handler that does not need the JID in the context can take it
// as an argument instead (HandlerWithJID).
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, err := v.check(r)
		if err != nil {
			v.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(&jidContext{r.Context(), j}))
	})
}

// HandlerWithJID is Handler for a next that receives the verified JID as an
// argument: r is the request as it came, and its context does not carry the
// JID (FromContext reports false), so nothing is copied or allocated per
// request on the fast path. Refused requests are answered as by Handler.
func (v *Verifier) HandlerWithJID(next func(w http.ResponseWriter, r *http.Request, j jid.JID)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, err := v.check(r)
		if err != nil {
			v.WriteError(w, r, err)
			return
		}
		next(w, r, *j)
	})
}

// Check verifies r: it parses the credentials, asks the Authorizer, reuses a
// HEAD or OPTIONS confirmation when allowed, and otherwise asks the user and
// waits for the answer, the timeout or the end of r's context. It returns the
// verified JID, or an *Outcome saying why not (wrapping one of the package's
// errors), which WriteError turns into the HTTP response. Every refusal is
// logged once (at Info; a request without credentials, the first step of
// the protocol, at Debug).
func (v *Verifier) Check(r *http.Request) (jid.JID, error) {
	j, err := v.check(r)
	if err != nil {
		return jid.JID{}, err
	}
	return *j, nil
}

// NewContext returns a copy of ctx carrying the verified JID j, as the
// middleware passes it to the next handler; FromContext reads it.
func NewContext(ctx context.Context, j jid.JID) context.Context {
	return &jidContext{ctx, &j}
}

// check is Check returning a pointer that may be shared (never modified), so
// that the fast path does not allocate.
func (v *Verifier) check(r *http.Request) (*jid.JID, error) {
	var h string
	// "Authorization" is in canonical form: a direct lookup is what Get
	// does, without canonicalising the key again on the fast path.
	if vals := r.Header["Authorization"]; len(vals) > 0 {
		h = vals[0]
	}
	safe := !hasBody(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions)
	if h != "" && safe && !v.cfg.DisableReuse {
		if j := v.reused(h, r); j != nil {
			if v.cfg.Observe != nil {
				v.cfg.Observe(Event{Reused: true})
			}
			return j, nil
		}
	}
	var start time.Time
	if v.cfg.Observe != nil {
		start = v.cfg.Clock.Now()
	}
	j, o := v.verify(r, h, safe)
	if v.cfg.Observe != nil {
		e := Event{Duration: v.cfg.Clock.Now().Sub(start)}
		if o != nil {
			e.Reason = o.Reason
		}
		v.cfg.Observe(e)
	}
	if o != nil {
		v.logRefusal(r, o)
		return nil, o
	}
	return j, nil
}

// Event is one request the Verifier decided, as metrics see it: no JID,
// URL or address (those are in the log line).
type Event struct {
	// Reason is why the request was refused; 0 when it was granted.
	Reason Reason
	// Reused reports a HEAD or OPTIONS confirmation used again, without
	// asking the user.
	Reused bool
	// Duration is the time the Verifier took, the user's answer included.
	Duration time.Duration
}

// Pending returns the number of HTTP requests of this Verifier waiting for
// the user's answer (a gauge for metrics). It asks no store: with a shared
// Store each node counts its own requests, and the sum over the nodes is
// the cluster's (Store.Pending counts them all at once, and may fail).
func (v *Verifier) Pending() int { return int(v.waiting.Load()) }

// errExpired is the cause of the context that ends when the user has not
// answered in time.
var errExpired = errors.New("httpauth: confirmation timeout")

// storeCtx bounds one store call by StoreTimeout; calls to the MemStore,
// which never block, get parent as it is.
func (v *Verifier) storeCtx(parent context.Context) (context.Context, context.CancelFunc) {
	if v.memStore {
		return parent, func() {}
	}
	return context.WithTimeout(parent, v.cfg.StoreTimeout.D())
}

// storeErr returns err when it is one of the sentinel errors of the Store
// contract, ErrCanceled when the HTTP request's context ended, and
// otherwise err wrapped in ErrStore: the store failed.
func storeErr(r *http.Request, err error) error {
	for _, sentinel := range [...]error{ErrReplay, ErrTooManyPending, ErrOverloaded, ErrNotPending} {
		if errors.Is(err, sentinel) {
			return err
		}
	}
	if r.Context().Err() != nil {
		return ErrCanceled
	}
	return fmt.Errorf("%w: %w", ErrStore, err)
}

// end ends a transaction in the store once its request is decided, even
// when the request's context has ended, and logs (rate-limited) when the
// store fails, unless the request was refused for a store failure already
// (its refusal is the one line): the transaction then stays until the
// store forgets it (Transaction.Expires), and its identifier is still
// refused.
func (v *Verifier) end(ctx context.Context, tx Transaction, o *Outcome) {
	v.waiting.Add(-1)
	ctx, cancel := v.storeCtx(context.WithoutCancel(ctx))
	defer cancel()
	if err := v.store.End(ctx, tx); err != nil && o.Reason != StoreUnavailable {
		v.storeFailed("ending a transaction", err)
	}
}

// storeFailed logs (at Warn, rate-limited) a store failure outside an HTTP
// request's refusal line.
func (v *Verifier) storeFailed(op string, err error) {
	v.flood.LogAttrs(slog.LevelWarn, "httpauth: store failed", slog.String("op", op), slog.String("err", err.Error()))
}

// verify is the slow path of check.
func (v *Verifier) verify(r *http.Request, h string, safe bool) (*jid.JID, *Outcome) {
	o := &Outcome{Method: r.Method}
	fail := func(err error) (*jid.JID, *Outcome) {
		o.Err = err
		o.Reason = reasonOf(err)
		o.Status = v.status(o.Reason)
		return nil, o
	}
	if !v.knownHost(r) {
		return fail(ErrUnknownHost)
	}
	if h == "" {
		return fail(ErrNoCredentials)
	}
	c, err := parseAuthorization(h)
	if err != nil {
		return fail(err)
	}
	o.JID, o.Digest = c.jid, c.scheme == schemeDigest
	now := v.cfg.Clock.Now()
	// ctx bounds the whole exchange, the store's calls and the wait for
	// the answer included, by Timeout (on a clock with After, that clock
	// times the wait instead, see waitCtx).
	timeout := v.cfg.Timeout.D()
	ctx, cancel := context.WithTimeoutCause(r.Context(), timeout, errExpired)
	defer cancel()
	switch c.scheme {
	case schemeBasic:
		if v.cfg.DisableBasic {
			return fail(ErrNoCredentials)
		}
	case schemeDigest:
		if v.cfg.DisableDigest {
			return fail(ErrNoCredentials)
		}
		if err := v.checkDigest(ctx, c, r, now); err != nil {
			return fail(err)
		}
	}
	if len(r.Method) > MaxMethodLen || !isToken(r.Method) {
		return fail(fmt.Errorf("%w: bad method", ErrBadCredentials))
	}
	u := v.cfg.RequestURL(r)
	if len(u) > MaxURLLen {
		return fail(fmt.Errorf("%w: URL too long", ErrMalformed))
	}
	o.URL = u
	if v.cfg.Authorizer != nil {
		if err := v.cfg.Authorizer.Authorize(r.Context(), c.jid, r); err != nil {
			return fail(fmt.Errorf("%w: %w", ErrForbidden, err))
		}
	}
	bare := c.jid.Bare().String()
	entity := v.cfg.EntityKey(r)
	if safe && !v.cfg.DisableReuse {
		sctx, scancel := v.storeCtx(ctx)
		g, ok, err := v.store.Grant(sctx, bare, c.id)
		scancel()
		if err != nil {
			return fail(storeErr(r, err))
		}
		if ok && g.URL == u && g.Entity == entity {
			v.log.Debug("httpauth: confirmation reused", "jid", c.jid.String(), "method", r.Method, "url", u, "remote", r.RemoteAddr)
			return &c.jid, nil
		}
	}

	ref, err := v.newRef()
	if err != nil {
		return fail(err)
	}
	tx := Transaction{
		Ref:        ref,
		To:         c.jid.String(),
		Bare:       bare,
		Confirm:    Confirm{ID: c.id, Method: r.Method, URL: u},
		ViaMessage: c.jid.Resourcepart() == "",
		Expires:    now.Add(timeout),
	}
	if err := tx.Confirm.Validate(); err != nil {
		// E.g. a RequestURL that does not make an absolute URL.
		return fail(err)
	}
	release, wait := v.takePrompt(bare, entity, now)
	if release == nil {
		o.RetryAfter = wait
		return fail(ErrRateLimited)
	}
	sctx, scancel := v.storeCtx(ctx)
	err = v.store.Begin(sctx, tx)
	scancel()
	if err != nil {
		release()
		return fail(storeErr(r, err))
	}
	v.waiting.Add(1)
	defer func() { v.end(ctx, tx, o) }()

	if err := v.cfg.Sender.Send(ctx, v.request(tx, c.jid)); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrDelivery, err))
	}
	v.logSent(r, tx, "")
	wctx, stop := v.waitCtx(ctx, timeout)
	defer stop()
	for ans := (Answer{}); ans.Result != AnswerConfirmed; {
		ans, err = v.store.Wait(wctx, ref)
		if err != nil {
			switch {
			case errors.Is(context.Cause(wctx), errExpired):
				return fail(ErrTimeout)
			case r.Context().Err() != nil:
				return fail(ErrCanceled)
			}
			// ErrNotPending too: the store lost the transaction.
			return fail(fmt.Errorf("%w: waiting for the answer: %w", ErrStore, err))
		}
		o.Condition = ans.Condition
		switch ans.Result {
		case AnswerConfirmed:
		case AnswerDenied:
			return fail(ErrDenied)
		case AnswerSessionEnded:
			return fail(ErrSessionEnded)
		default:
			// XEP-0070 §4.2: a full JID may get the message form too. A
			// client without XEP-0070 (Profanity, mcabber) says so with
			// one of these; ask once more, in words.
			if tx.ViaMessage || (ans.Condition != string(stanza.FeatureNotImplemented) && ans.Condition != string(stanza.ServiceUnavailable)) {
				return fail(fmt.Errorf("%w: %s", ErrCouldNotAnswer, ans.Condition))
			}
			tx.ViaMessage = true
			sctx, scancel := v.storeCtx(ctx)
			err := v.store.Reopen(sctx, tx)
			scancel()
			if errors.Is(err, ErrNotPending) {
				return fail(fmt.Errorf("%w: %s", ErrCouldNotAnswer, ans.Condition))
			} else if err != nil {
				return fail(storeErr(r, err))
			}
			if err := v.cfg.Sender.Send(ctx, v.request(tx, c.jid)); err != nil {
				return fail(fmt.Errorf("%w: %s (and the message form could not be sent: %w)", ErrCouldNotAnswer, ans.Condition, err))
			}
			v.logSent(r, tx, ans.Condition)
		}
	}
	v.log.Info("httpauth: request granted", "jid", tx.To, "method", r.Method, "url", u, "remote", r.RemoteAddr)
	if safe && (r.Method == http.MethodHead || r.Method == http.MethodOptions) && !v.cfg.DisableReuse {
		v.addGrant(ctx, h, c, bare, entity, u)
	}
	return &c.jid, nil
}

// waitCtx returns the context that bounds the wait for the answer: ctx
// itself, whose deadline is Timeout, or, on a clock with After (tests'),
// one that ends with cause errExpired when that clock says d has passed.
func (v *Verifier) waitCtx(ctx context.Context, d time.Duration) (context.Context, func()) {
	if v.clockAfter == nil {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancelCause(ctx)
	expired := v.clockAfter(d)
	go func() {
		select {
		case <-expired:
			cancel(errExpired)
		case <-wctx.Done():
		}
	}()
	return wctx, func() { cancel(nil) }
}

// takePrompt takes a token from the client address's and the JID's
// buckets. It returns a function that gives both back, or nil and how long
// to wait when either is empty (then neither is taken).
func (v *Verifier) takePrompt(bare, entity string, now time.Time) (release func(), wait time.Duration) {
	var resClient, resJID *rate.Reservation
	if v.clientLimit != nil {
		if resClient, wait = v.clientLimit.reserve(clientKey(entity), now); resClient == nil {
			return nil, wait
		}
	}
	if v.jidLimit != nil {
		if resJID, wait = v.jidLimit.reserve(bare, now); resJID == nil {
			if resClient != nil {
				resClient.CancelAt(now)
			}
			return nil, wait
		}
	}
	return func() {
		for _, res := range []*rate.Reservation{resClient, resJID} {
			if res != nil {
				res.CancelAt(now)
			}
		}
	}, 0
}

// addGrant remembers a HEAD or OPTIONS confirmation for reuse. When the
// store fails, the confirmed request is still served; the grant is then
// reusable only on this node (Basic) or not at all (Digest).
func (v *Verifier) addGrant(ctx context.Context, h string, c credentials, bare, entity, u string) {
	window := v.cfg.ReuseWindow.D()
	exp := v.cfg.Clock.Now().Add(window)
	sctx, cancel := v.storeCtx(context.WithoutCancel(ctx))
	if err := v.store.AddGrant(sctx, Grant{Bare: bare, ID: c.id, Entity: entity, URL: u, Expires: exp}); err != nil {
		v.storeFailed("adding a grant", err)
	}
	cancel()
	if c.scheme != schemeBasic || v.reuseN.Load() >= maxReuseCache {
		return
	}
	e := &reuseEntry{j: c.jid, entity: entity, url: u, expires: exp}
	if _, loaded := v.reuse.Swap(h, e); !loaded {
		v.reuseN.Add(1)
	}
	if v.realClock {
		time.AfterFunc(window, func() {
			e.expired.Store(true)
			if v.reuse.CompareAndDelete(h, e) {
				v.reuseN.Add(-1)
			}
		})
	}
}

// logSent writes the line of a confirmation request sent; fallback is the
// error condition that made an IQ request be sent again as a message.
func (v *Verifier) logSent(r *http.Request, tx Transaction, fallback string) {
	attrs := []slog.Attr{
		slog.String("jid", tx.To), slog.String("method", tx.Confirm.Method), slog.String("url", tx.Confirm.URL),
		slog.String("remote", r.RemoteAddr), slog.String("form", "iq"),
	}
	if tx.ViaMessage {
		attrs[4] = slog.String("form", "message")
	}
	if fallback != "" {
		attrs = append(attrs, slog.String("after_iq_error", fallback))
	}
	v.log.LogAttrs(context.Background(), slog.LevelInfo, "httpauth: confirmation request sent", attrs...)
}

// logRefusal writes the one log line of a refused request.
func (v *Verifier) logRefusal(r *http.Request, o *Outcome) {
	level := slog.LevelInfo
	switch o.Reason {
	case NoCredentials:
		level = slog.LevelDebug
	case StoreUnavailable:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("reason", o.logReason()),
		slog.Int("status", o.Status),
		slog.String("remote", r.RemoteAddr),
		slog.String("method", o.Method),
	}
	if o.JID.Domainpart() != "" {
		attrs = append(attrs, slog.String("jid", o.JID.String()))
	}
	if o.URL != "" {
		attrs = append(attrs, slog.String("url", o.URL))
	}
	switch o.Reason {
	case UnknownHost:
		attrs = append(attrs, slog.String("host", r.Host))
		if len(v.hosts) == 0 {
			attrs = append(attrs, slog.String("fix", "set base_url (or hosts) in the http_auth configuration"))
		}
	case RateLimited:
		attrs = append(attrs, slog.Duration("retry_after", o.RetryAfter))
	case Denied:
		if o.Condition != "" {
			attrs = append(attrs, slog.String("condition", o.Condition))
		}
	case Forbidden, Offline, BadCredentials, BadRequest, Internal, StoreUnavailable:
		// The detail: which check failed, or the Authorizer's or the
		// Sender's error. None of them contains the credentials.
		attrs = append(attrs, slog.String("err", o.Err.Error()))
	}
	v.flood.LogAttrs(level, "httpauth: request refused", attrs...)
}

// reasonOf returns the Reason for one of the package's errors.
func reasonOf(err error) Reason {
	for _, r := range []struct {
		err    error
		reason Reason
	}{
		{ErrNoCredentials, NoCredentials},
		{ErrUnknownHost, UnknownHost},
		{ErrStaleNonce, BadCredentials},
		{ErrReplay, UsedTransaction},
		{ErrBadCredentials, BadCredentials},
		{ErrMalformed, BadRequest},
		{ErrForbidden, Forbidden},
		{ErrRateLimited, RateLimited},
		{ErrTooManyPending, TooManyPending},
		{ErrOverloaded, Overloaded},
		{ErrDelivery, Offline},
		{ErrDenied, Denied},
		{ErrTimeout, TimedOut},
		{ErrCouldNotAnswer, CouldNotAnswer},
		{ErrSessionEnded, SessionEnded},
		{ErrCanceled, Canceled},
		{ErrStore, StoreUnavailable},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return Internal
}

// reused is the fast path for a Basic header that obtained a HEAD or OPTIONS
// confirmation: it skips parsing and the store, but checks the expiry, the
// entity, the URL and the Authorizer like the slow path. Grants are never
// revoked before they expire, so the copy in the cache is as good as the
// store's.
func (v *Verifier) reused(h string, r *http.Request) *jid.JID {
	val, ok := v.reuse.Load(h)
	if !ok {
		return nil
	}
	e := val.(*reuseEntry)
	if v.realClock {
		if e.expired.Load() {
			return nil
		}
	} else if !v.cfg.Clock.Now().Before(e.expires) {
		if v.reuse.CompareAndDelete(h, val) {
			v.reuseN.Add(-1)
		}
		return nil
	}
	if !v.sameEntity(e.entity, r) || !v.sameURL(e.url, r) {
		return nil
	}
	if v.cfg.Authorizer != nil && v.cfg.Authorizer.Authorize(r.Context(), e.j, r) != nil {
		return nil // the slow path reports ErrForbidden
	}
	return &e.j
}

// sameURL reports whether u is the URL of r, without allocating for the
// default RequestURL. The cached URL was built from a configured host, so
// a request whose Host header matches it is for a configured host too.
func (v *Verifier) sameURL(u string, r *http.Request) bool {
	if !v.defaultURL {
		return v.cfg.RequestURL(r) == u
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	rest, ok := strings.CutPrefix(u, scheme)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, r.Host)
	return ok && isTarget(rest, r)
}

// isTarget reports whether s is requestTarget(r), without allocating for
// the usual request targets.
func isTarget(s string, r *http.Request) bool {
	if r.RequestURI != "" && r.RequestURI[0] == '/' || r.RequestURI == "*" {
		return s == r.RequestURI
	}
	u := r.URL
	if u.Opaque != "" || u.Scheme == "" {
		return s == u.RequestURI()
	}
	// What URL.RequestURI returns for an absolute URL: the escaped path
	// ("/" when empty), then "?" and the query when there is one.
	var p string
	if u.RawPath == "" && plainPath(u.Path) {
		p = u.Path // what EscapedPath returns for it, without scanning twice
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		p = "/"
	}
	rest, ok := strings.CutPrefix(s, p)
	if !ok {
		return false
	}
	if u.ForceQuery || u.RawQuery != "" {
		return len(rest) == 1+len(u.RawQuery) && rest[0] == '?' && rest[1:] == u.RawQuery
	}
	return rest == ""
}

// plainPath reports whether p consists of unreserved characters (RFC 3986
// §2.3) and slashes only, which URL.EscapedPath leaves as they are.
func plainPath(p string) bool {
	for i := range len(p) {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			return false
		}
	}
	return true
}

func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0 ||
		r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
}

func (v *Verifier) checkDigest(ctx context.Context, c credentials, r *http.Request, now time.Time) error {
	exp, err := v.nonces.check(c.nonce, now)
	if err != nil {
		return err
	}
	if c.opaque != v.nonces.opaque {
		return fmt.Errorf("%w: opaque mismatch", ErrBadCredentials)
	}
	if !sameTarget(c.uri, r) {
		return fmt.Errorf("%w: uri does not match the request", ErrBadCredentials)
	}
	ctx, cancel := v.storeCtx(ctx)
	defer cancel()
	if err := v.store.UseNonce(ctx, c.nonce, c.nc, exp); err != nil {
		return storeErr(r, err)
	}
	return nil
}

// sameTarget reports whether a Digest uri names the request's target, in
// origin form or absolute form.
func sameTarget(uri string, r *http.Request) bool {
	target := requestTarget(r)
	if uri == target {
		return true
	}
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() {
		return false
	}
	return strings.EqualFold(u.Host, r.Host) && u.RequestURI() == target
}

// refLen is the length of a Transaction.Ref: 12 random bytes in hex.
const refLen = 24

// isRef reports whether s has the form of a Ref the Verifier makes, so
// that stanzas whose id or thread cannot be one cost no store lookup.
func isRef(s string) bool {
	if len(s) != refLen {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (v *Verifier) newRef() (string, error) {
	var b [refLen / 2]byte
	if _, err := io.ReadFull(v.cfg.Rand, b[:]); err != nil {
		return "", fmt.Errorf("httpauth: random: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// request builds the confirmation request: an IQ get to a full JID, a
// message with a thread and a plaintext explanation to a bare JID.
func (v *Verifier) request(tx Transaction, to jid.JID) xml.TokenReader {
	if !tx.ViaMessage {
		return stanza.IQ{ID: tx.Ref, To: to, From: v.cfg.From, Type: stanza.GetIQ}.Wrap(tx.Confirm.TokenReader())
	}
	return stanza.Message{ID: tx.Ref, To: to, From: v.cfg.From, Type: stanza.NormalMessage}.Wrap(xmlstream.MultiReader(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(tx.Ref)), xml.StartElement{Name: xml.Name{Local: "thread"}}),
		xmlstream.Wrap(xmlstream.Token(xml.CharData(Instructions(tx.Confirm))), xml.StartElement{Name: xml.Name{Local: "body"}}),
		tx.Confirm.TokenReader(),
	))
}

// Instructions is the human-readable body sent with a confirmation request
// by message, for clients that do not understand XEP-0070.
func Instructions(c Confirm) string {
	return "Someone (maybe you) has requested " + c.Method + " " + c.URL +
		"\n\nThe transaction identifier is: " + c.ID +
		"\n\nIf you wish to confirm the request, reply with \"" + c.ID + " OK\". If not, reply with \"" + c.ID + " No\"."
}

// status is the HTTP status of a Reason under this configuration.
func (v *Verifier) status(r Reason) int {
	if r == TimedOut {
		return v.cfg.TimeoutStatus
	}
	return r.status()
}

// WriteError writes the HTTP response for an error returned by Check,
// through Config.ErrorHandler: 401 with fresh Basic and Digest challenges
// for missing or invalid credentials or a used transaction id (stale=true
// for an expired nonce); 400 when the request does not make a valid confirm
// element or names a host that is not configured; 403 when denied by the
// user or refused by the Authorizer; Config.TimeoutStatus (default 403) when
// nobody answered; 429 when rate-limited (with Retry-After) or too many
// requests wait for the JID; 502 when the XMPP client could not answer
// (e.g. it lacks XEP-0070); 503 when the request could not be delivered
// (the user is offline), the user's session ended, the service is
// overloaded, the store failed or the HTTP request's context ended first. It does not log:
// Check has logged the refusal.
func (v *Verifier) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var op *Outcome
	if !errors.As(err, &op) {
		reason := reasonOf(err)
		op = &Outcome{Reason: reason, Status: v.status(reason), Method: r.Method, Err: err}
	}
	o := *op
	if o.Status == http.StatusUnauthorized {
		if cerr := v.challenge(w.Header(), errors.Is(err, ErrStaleNonce)); cerr != nil {
			v.log.Error("httpauth: issuing nonce failed", "err", cerr)
			o.Reason, o.Status = Internal, http.StatusInternalServerError
		}
	}
	if o.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(o.RetryAfter), 10))
	}
	v.cfg.ErrorHandler(w, r, o)
}

// challenge adds the WWW-Authenticate headers: Basic, then Digest with
// SHA-256 and MD5 (RFC 7616 §3.7: preferred algorithm first).
func (v *Verifier) challenge(h http.Header, stale bool) error {
	if !v.cfg.DisableBasic {
		h.Add("WWW-Authenticate", `Basic realm="xmpp", charset="UTF-8"`)
	}
	if v.cfg.DisableDigest {
		return nil
	}
	staleVal := "false"
	if stale {
		staleVal = "true"
	}
	for _, alg := range digestAlgs {
		nonce, err := v.nonces.issue(v.cfg.Clock.Now(), v.cfg.Rand)
		if err != nil {
			return err
		}
		h.Add("WWW-Authenticate", `Digest realm="xmpp", qop="auth", algorithm=`+alg.name+
			`, nonce="`+nonce+`", opaque="`+v.nonces.opaque+`", stale=`+staleVal)
	}
	return nil
}

// ServerDefaults sets on s the timeouts this package needs, leaving the
// fields that are already set alone:
//
//   - ReadHeaderTimeout 10 s, so that a client that never finishes its
//     headers does not hold a connection;
//   - IdleTimeout 60 s, so that idle keep-alive connections are closed
//     (without it net/http uses ReadTimeout, and with neither it keeps
//     them for ever);
//   - ReadTimeout and WriteTimeout of Config.Timeout plus one minute. Both
//     must exceed the time a request waits for the user's confirmation:
//     net/http arms the read deadline once for the whole request, and when
//     it passes while the handler waits, net/http's background read fails
//     and cancels the request's context (the request then gets 503
//     instead of the user's answer); the write deadline, armed when the
//     headers have been read, would cut off the response written after the
//     confirmation. Hosts that accept large uploads behind the middleware
//     set ReadTimeout higher themselves.
func (v *Verifier) ServerDefaults(s *http.Server) { serverDefaults(s, v.cfg.Timeout.D()) }

// serverDefaults sets the zero timeouts of s for confirmations that take
// up to timeout.
func serverDefaults(s *http.Server, timeout time.Duration) {
	hold := timeout + time.Minute
	if s.ReadHeaderTimeout == 0 {
		s.ReadHeaderTimeout = 10 * time.Second
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = hold
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = hold
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 60 * time.Second
	}
}
