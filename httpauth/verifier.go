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
	From jid.JID `json:"from,omitempty"`
	// Authorizer, when set, is asked before the user is contacted.
	Authorizer Authorizer `json:"-"`
	// Store keeps transactions; nil means NewMemStore(MemStoreConfig{}).
	Store Store `json:"-"`
	// Timeout is how long the user has to answer; default 2 minutes.
	Timeout time.Duration `json:"timeout,omitempty"`
	// TimeoutStatus is the HTTP status sent when the user does not answer
	// in time; default 403.
	TimeoutStatus int `json:"timeout_status,omitempty"`
	// ReuseWindow is how long a HEAD or OPTIONS confirmation may be reused;
	// default 5 minutes.
	ReuseWindow time.Duration `json:"reuse_window,omitempty"`
	// DisableReuse turns off reuse of HEAD and OPTIONS confirmations.
	DisableReuse bool `json:"disable_reuse,omitempty"`
	// DisableBasic and DisableDigest turn off a scheme: it is neither
	// offered in challenges nor accepted.
	DisableBasic  bool `json:"disable_basic,omitempty"`
	DisableDigest bool `json:"disable_digest,omitempty"`
	// NonceLifetime is how long a Digest nonce is valid; default 5 minutes.
	NonceLifetime time.Duration `json:"nonce_lifetime,omitempty"`
	// NonceKey authenticates Digest nonces; front ends sharing a Store must
	// share it. Nil means 32 random bytes. At least 16 bytes when set.
	NonceKey []byte `json:"-"`
	// EntityKey identifies "the same entity" for reuse of HEAD and OPTIONS
	// confirmations; default: the client's IP address from RemoteAddr.
	EntityKey func(r *http.Request) string `json:"-"`
	// RequestURL returns the full URL of a request as shown to the user;
	// default: scheme from r.TLS, host from r.Host, then r.RequestURI.
	// Set it behind a reverse proxy.
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
	return nil
}

// Verifier verifies HTTP requests via XMPP. It is safe for concurrent use.
type Verifier struct {
	cfg    Config
	store  Store
	nonces *nonces
	log    *slog.Logger
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
	if cfg.RequestURL == nil {
		cfg.RequestURL = requestURL
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
		cfg:    cfg,
		store:  cfg.Store,
		nonces: newNonces(cfg.NonceKey, cfg.NonceLifetime),
		log:    log,
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
	j, ok := ctx.Value(ctxKey{}).(jid.JID)
	return j, ok
}

// Handler returns middleware that serves next only for verified requests
// and answers all others itself (see WriteError).
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j, err := v.Check(r)
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
	h := r.Header.Get("Authorization")
	if h == "" {
		return jid.JID{}, ErrNoCredentials
	}
	c, err := parseAuthorization(h)
	if err != nil {
		return jid.JID{}, err
	}
	now := v.cfg.Clock.Now()
	switch c.scheme {
	case schemeBasic:
		if v.cfg.DisableBasic {
			return jid.JID{}, ErrNoCredentials
		}
	case schemeDigest:
		if v.cfg.DisableDigest {
			return jid.JID{}, ErrNoCredentials
		}
		if err := v.checkDigest(c, r, now); err != nil {
			return jid.JID{}, err
		}
	}
	if len(r.Method) > MaxMethodLen || !isToken(r.Method) {
		return jid.JID{}, fmt.Errorf("%w: bad method", ErrBadCredentials)
	}
	if v.cfg.Authorizer != nil {
		if err := v.cfg.Authorizer.Authorize(r.Context(), c.jid, r); err != nil {
			return jid.JID{}, fmt.Errorf("%w: %w", ErrForbidden, err)
		}
	}
	u := v.cfg.RequestURL(r)
	if len(u) > MaxURLLen {
		return jid.JID{}, fmt.Errorf("%w: URL too long", ErrBadCredentials)
	}
	bare := c.jid.Bare().String()
	safe := !hasBody(r) && (r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions)
	entity := v.cfg.EntityKey(r)
	if safe && !v.cfg.DisableReuse {
		if g, ok := v.store.Grant(bare, c.id); ok && g.URL == u && g.Entity == entity {
			return c.jid, nil
		}
	}

	ref, err := v.newRef()
	if err != nil {
		return jid.JID{}, err
	}
	tx := Transaction{
		Ref:        ref,
		To:         c.jid.String(),
		Bare:       bare,
		Confirm:    Confirm{ID: c.id, Method: r.Method, URL: u},
		ViaMessage: c.jid.Resourcepart() == "",
	}
	decision, err := v.store.Begin(tx)
	if err != nil {
		return jid.JID{}, err
	}
	defer v.store.End(ref)

	ctx, cancel := context.WithTimeout(r.Context(), v.cfg.Timeout)
	defer cancel()
	if err := v.cfg.Sender.Send(ctx, v.request(tx, c.jid)); err != nil {
		v.log.Warn("httpauth: sending confirmation request failed", "ref", ref, "err", err)
		return jid.JID{}, fmt.Errorf("%w: %w", ErrDelivery, err)
	}
	select {
	case ok := <-decision:
		if !ok {
			return jid.JID{}, ErrDenied
		}
	case <-v.cfg.Clock.After(v.cfg.Timeout):
		return jid.JID{}, ErrTimeout
	case <-r.Context().Done():
		return jid.JID{}, ErrCanceled
	}
	if safe && (r.Method == http.MethodHead || r.Method == http.MethodOptions) && !v.cfg.DisableReuse {
		v.store.AddGrant(Grant{Bare: bare, ID: c.id, Entity: entity, URL: u, Expires: v.cfg.Clock.Now().Add(v.cfg.ReuseWindow)})
	}
	return c.jid, nil
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
// credentials (stale=true for an expired nonce), 403 when denied or not
// authorized, the configured status on timeout, 429 and 503 when limits are
// reached. Nothing is written when the client went away.
func (v *Verifier) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusUnauthorized
	switch {
	case errors.Is(err, ErrCanceled):
		return
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
