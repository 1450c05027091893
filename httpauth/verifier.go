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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
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

// Clock is the time source of a Verifier.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures a [Verifier]. Only Sender is required; every other zero
// value is safe and takes the default noted on the field.
type Config struct {
	// Sender delivers confirmation requests. Required.
	Sender Sender `json:"-"`
	// From is the address confirmation requests are sent from, e.g. the
	// component's domain. Empty leaves the attribute out (the server fills
	// it in on c2s streams).
	From jid.JID `json:"-"` // JSON: see Config.UnmarshalJSON
	// Authorizer, when set, is asked before the user is contacted.
	Authorizer Authorizer `json:"-"`
	// Store keeps transactions; nil means NewMemStore(MemStoreConfig{}).
	Store Store `json:"-"`
	// Timeout is how long the user has to answer; default 2 minutes.
	Timeout time.Duration `json:"-"` // JSON: see Config.UnmarshalJSON
	// TimeoutStatus is the HTTP status sent when the user does not answer
	// in time; default 403.
	TimeoutStatus int `json:"timeout_status,omitempty"`
	// ReuseWindow is how long a HEAD or OPTIONS confirmation may be reused;
	// default 5 minutes.
	ReuseWindow time.Duration `json:"-"` // JSON: see Config.UnmarshalJSON
	// DisableReuse turns off reuse of HEAD and OPTIONS confirmations.
	DisableReuse bool `json:"disable_reuse,omitempty"`
	// DisableBasic and DisableDigest turn off a scheme: it is neither
	// offered in challenges nor accepted.
	DisableBasic  bool `json:"disable_basic,omitempty"`
	DisableDigest bool `json:"disable_digest,omitempty"`
	// NonceLifetime is how long a Digest nonce is valid; default 5 minutes.
	NonceLifetime time.Duration `json:"-"` // JSON: see Config.UnmarshalJSON
	// NonceKey authenticates Digest nonces; front ends sharing a Store must
	// share it. Nil means 32 random bytes. At least 16 bytes when set.
	NonceKey []byte `json:"-"`
	// EntityKey identifies "the same entity" for reuse of HEAD and OPTIONS
	// confirmations; default: the client's IP address from RemoteAddr.
	EntityKey func(r *http.Request) string `json:"-"`
	// BaseURL, when set, is the scheme and authority (and optional path
	// prefix) of the URL shown to the user, followed by the request target;
	// e.g. "https://files.example.net". Set it in production: without it the
	// URL is built from r.TLS and the client-supplied Host header.
	BaseURL string `json:"base_url,omitempty"`
	// RequestURL, when set, returns the full URL of a request as shown to
	// the user; it overrides BaseURL.
	RequestURL func(r *http.Request) string `json:"-"`
	// Clock and Rand default to the system clock and crypto/rand.
	Clock Clock     `json:"-"`
	Rand  io.Reader `json:"-"`
	// Logger receives ignored answers and failures; nil discards them.
	// Transaction identifiers are never logged.
	Logger *slog.Logger `json:"-"`
}

// Validate reports configuration errors, naming the field.
func (c Config) Validate() error {
	switch {
	case c.Sender == nil:
		return errors.New("httpauth: Config.Sender is required")
	case c.Timeout < 0:
		return errors.New("httpauth: Config.Timeout is negative")
	case c.ReuseWindow < 0:
		return errors.New("httpauth: Config.ReuseWindow is negative")
	case c.NonceLifetime < 0:
		return errors.New("httpauth: Config.NonceLifetime is negative")
	case c.NonceKey != nil && len(c.NonceKey) < 16:
		return errors.New("httpauth: Config.NonceKey is shorter than 16 bytes")
	case c.TimeoutStatus != 0 && (c.TimeoutStatus < 400 || c.TimeoutStatus > 599):
		return errors.New("httpauth: Config.TimeoutStatus is not a 4xx or 5xx status")
	case c.DisableBasic && c.DisableDigest:
		return errors.New("httpauth: Config.DisableBasic and DisableDigest are both set")
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return errors.New("httpauth: Config.BaseURL is not an absolute http(s) URL without query")
		}
	}
	return nil
}

// Verifier verifies HTTP requests via XMPP. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	store  Store
	nonces *nonces
	log    *slog.Logger

	defaultURL bool // cfg.RequestURL is requestURL

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

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		cfg.Store = NewMemStore(MemStoreConfig{})
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.TimeoutStatus == 0 {
		cfg.TimeoutStatus = http.StatusForbidden
	}
	if cfg.ReuseWindow == 0 {
		cfg.ReuseWindow = 5 * time.Minute
	}
	if cfg.NonceLifetime == 0 {
		cfg.NonceLifetime = 5 * time.Minute
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.EntityKey == nil {
		cfg.EntityKey = remoteIP
	}
	defaultURL := cfg.RequestURL == nil && cfg.BaseURL == ""
	switch {
	case defaultURL:
		cfg.RequestURL = requestURL
	case cfg.RequestURL == nil:
		base := strings.TrimRight(cfg.BaseURL, "/")
		cfg.RequestURL = func(r *http.Request) string { return base + requestTarget(r) }
	}
	if cfg.NonceKey == nil {
		cfg.NonceKey = make([]byte, 32)
		if _, err := io.ReadFull(cfg.Rand, cfg.NonceKey); err != nil {
			return nil, fmt.Errorf("httpauth: generating nonce key: %w", err)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{
		cfg:        cfg,
		store:      cfg.Store,
		nonces:     newNonces(cfg.NonceKey, cfg.NonceLifetime),
		log:        log,
		defaultURL: defaultURL,
	}, nil
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

type ctxKey struct{}

// FromContext returns the JID verified for the request whose context this is.
func FromContext(ctx context.Context) (jid.JID, bool) {
	j, ok := ctx.Value(ctxKey{}).(*jid.JID)
	if !ok {
		return jid.JID{}, false
	}
	return *j, true
}

// Handler returns middleware that serves next only for verified requests
// and answers all others itself (see WriteError).
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, err := v.check(r)
		if err != nil {
			v.WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, j)))
	})
}

// Check verifies r: it parses the credentials, asks the Authorizer, reuses a
// HEAD or OPTIONS confirmation when allowed, and otherwise asks the user and
// waits for the answer, the timeout or the end of r's context. It returns the
// verified JID or one of the package's errors, which WriteError turns into
// the HTTP response.
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
	return context.WithValue(ctx, ctxKey{}, &j)
}

// check is Check returning a pointer that may be shared (never modified), so
// that the fast path does not allocate.
func (v *Verifier) check(r *http.Request) (*jid.JID, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, ErrNoCredentials
	}
	safe := !hasBody(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions)
	if safe && !v.cfg.DisableReuse {
		if j := v.reused(h, r); j != nil {
			return j, nil
		}
	}
	c, err := parseAuthorization(h)
	if err != nil {
		return nil, err
	}
	now := v.cfg.Clock.Now()
	switch c.scheme {
	case schemeBasic:
		if v.cfg.DisableBasic {
			return nil, ErrNoCredentials
		}
	case schemeDigest:
		if v.cfg.DisableDigest {
			return nil, ErrNoCredentials
		}
		if err := v.checkDigest(c, r, now); err != nil {
			return nil, err
		}
	}
	if len(r.Method) > MaxMethodLen || !isToken(r.Method) {
		return nil, fmt.Errorf("%w: bad method", ErrBadCredentials)
	}
	if v.cfg.Authorizer != nil {
		if err := v.cfg.Authorizer.Authorize(r.Context(), c.jid, r); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrForbidden, err)
		}
	}
	u := v.cfg.RequestURL(r)
	if len(u) > MaxURLLen {
		return nil, fmt.Errorf("%w: URL too long", ErrBadCredentials)
	}
	bare := c.jid.Bare().String()
	entity := v.cfg.EntityKey(r)
	if safe && !v.cfg.DisableReuse {
		if g, ok := v.store.Grant(bare, c.id); ok && g.URL == u && g.Entity == entity {
			return &c.jid, nil
		}
	}

	ref, err := v.newRef()
	if err != nil {
		return nil, err
	}
	tx := Transaction{
		Ref:        ref,
		To:         c.jid.String(),
		Bare:       bare,
		Confirm:    Confirm{ID: c.id, Method: r.Method, URL: u},
		ViaMessage: c.jid.Resourcepart() == "",
	}
	if err := tx.Confirm.Validate(); err != nil {
		// E.g. a Host header that does not make an absolute URL.
		return nil, err
	}
	decision, err := v.store.Begin(tx)
	if err != nil {
		return nil, err
	}
	defer v.store.End(ref)

	ctx, cancel := context.WithTimeout(r.Context(), v.cfg.Timeout)
	defer cancel()
	if err := v.cfg.Sender.Send(ctx, v.request(tx, c.jid)); err != nil {
		v.log.Warn("httpauth: sending confirmation request failed", "ref", ref, "err", err)
		return nil, fmt.Errorf("%w: %w", ErrDelivery, err)
	}
	select {
	case ok := <-decision:
		if !ok {
			return nil, ErrDenied
		}
	case <-v.cfg.Clock.After(v.cfg.Timeout):
		return nil, ErrTimeout
	case <-r.Context().Done():
		return nil, ErrCanceled
	}
	if safe && (r.Method == http.MethodHead || r.Method == http.MethodOptions) && !v.cfg.DisableReuse {
		exp := v.cfg.Clock.Now().Add(v.cfg.ReuseWindow)
		v.store.AddGrant(Grant{Bare: bare, ID: c.id, Entity: entity, URL: u, Expires: exp})
		if c.scheme == schemeBasic && v.reuseN.Load() < maxReuseCache {
			e := &reuseEntry{j: c.jid, entity: entity, url: u, expires: exp}
			if _, loaded := v.reuse.Swap(h, e); !loaded {
				v.reuseN.Add(1)
			}
			if _, real := v.cfg.Clock.(realClock); real {
				time.AfterFunc(v.cfg.ReuseWindow, func() {
					e.expired.Store(true)
					if v.reuse.CompareAndDelete(h, e) {
						v.reuseN.Add(-1)
					}
				})
			}
		}
	}
	return &c.jid, nil
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
	if _, real := v.cfg.Clock.(realClock); real {
		if e.expired.Load() {
			return nil
		}
	} else if !v.cfg.Clock.Now().Before(e.expires) {
		if v.reuse.CompareAndDelete(h, val) {
			v.reuseN.Add(-1)
		}
		return nil
	}
	if e.entity != v.cfg.EntityKey(r) || !v.sameURL(e.url, r) {
		return nil
	}
	if v.cfg.Authorizer != nil && v.cfg.Authorizer.Authorize(r.Context(), e.j, r) != nil {
		return nil // the slow path reports ErrForbidden
	}
	return &e.j
}

// sameURL reports whether u is the URL of r, without allocating for the
// default RequestURL.
func (v *Verifier) sameURL(u string, r *http.Request) bool {
	if v.cfg.RequestURL != nil && !v.defaultURL {
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
	return ok && rest == requestTarget(r)
}

func hasBody(r *http.Request) bool {
	return r.ContentLength != 0 || len(r.TransferEncoding) > 0 ||
		r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
}

func (v *Verifier) checkDigest(c credentials, r *http.Request, now time.Time) error {
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
	return v.store.UseNonce(c.nonce, c.nc, exp)
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

func (v *Verifier) newRef() (string, error) {
	var b [12]byte
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

// WriteError writes the HTTP response for an error returned by Check:
// 401 with fresh Basic and Digest challenges for missing or invalid
// credentials (stale=true for an expired nonce), 400 when the request does
// not make a valid confirm element (e.g. its URL), 403 when denied or not
// authorized, the configured status on timeout, 429 and 503 when limits are
// reached, 503 when the request's context ended first.
func (v *Verifier) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, ErrCanceled):
		// Usually nobody is listening any more; if somebody is (the
		// context ended for another reason), they must not get a 200.
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrMalformed):
		status = http.StatusBadRequest
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrDenied):
		status = http.StatusForbidden
	case errors.Is(err, ErrTimeout):
		status = v.cfg.TimeoutStatus
	case errors.Is(err, ErrTooManyPending):
		status = http.StatusTooManyRequests
	case errors.Is(err, ErrOverloaded), errors.Is(err, ErrDelivery):
		status = http.StatusServiceUnavailable
	case errors.Is(err, ErrNoCredentials), errors.Is(err, ErrBadCredentials),
		errors.Is(err, ErrStaleNonce), errors.Is(err, ErrReplay):
		if cerr := v.challenge(w.Header(), errors.Is(err, ErrStaleNonce)); cerr != nil {
			v.log.Error("httpauth: issuing nonce failed", "err", cerr)
			status = http.StatusInternalServerError
		}
	default:
		status = http.StatusInternalServerError
	}
	if !errors.Is(err, ErrNoCredentials) {
		v.log.Info("httpauth: request refused", "status", status, "err", err)
	}
	http.Error(w, http.StatusText(status), status)
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
