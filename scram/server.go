package scram

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"

	"github.com/xmppauth/xmppauth/cbind"
)

// Size limits applied to client messages. They are far above what real
// clients send and bound the work and memory one exchange can cause.
const (
	// MaxMessageLen is the largest client message (after base64 decoding)
	// Step accepts.
	MaxMessageLen = 4096
	// maxNameLen bounds the escaped user name and authzid.
	maxNameLen = 3072
	// maxNonceLen bounds the client nonce.
	maxNonceLen = 512
	// maxCBNameLen bounds the channel-binding type name after "p=".
	maxCBNameLen = 64
	// serverNonceLen is the number of random bytes in the server's part of
	// the nonce (RFC 5802 asks for a fresh random value; 18 bytes encode to
	// 24 base64 characters without padding).
	serverNonceLen = 18
	// fakeSecretLen is the size of the per-process secret used when
	// Config.Secret is nil.
	fakeSecretLen = 32
	// minSecretLen is the smallest Config.Secret accepted.
	minSecretLen = 16
)

// Config configures a Server. The zero value is usable: exchanges then look
// up credentials in the Store given to StartWith.
type Config struct {
	// Store looks up credentials for Start. Nil: every exchange must be
	// started with StartWith.
	Store Store `json:"-"`
	// Secret keys the deterministic fake salt and keys handed out for users
	// the Store does not know, so that the reply to an unknown user looks
	// like that of a real one and stays the same from one attempt to the
	// next. Use the same secret (at least 16 bytes) on every server of a
	// cluster and keep it across restarts. Nil means a random secret per
	// process: fake salts then change on restart, which tells a patient
	// observer that the user does not exist.
	Secret []byte `json:"-"`
	// Rand is the source of the server nonces. Nil means crypto/rand.
	Rand io.Reader `json:"-"`
	// FakeIterations is the iteration count given to unknown users. Set it to
	// the count your real credentials use, otherwise an unknown user is
	// recognisable by the i= attribute. 0 means MinIterations.
	FakeIterations int `json:"fake_iterations,omitempty"`
	// FakeSaltLen is the length of the fake salts given to unknown users, at
	// most MaxFakeSaltLen. Set it to the salt length of your real
	// credentials. 0 means DefaultSaltLen, what NewCredential generates.
	FakeSaltLen int `json:"fake_salt_len,omitempty"`
}

// MaxFakeSaltLen is the largest Config.FakeSaltLen.
const MaxFakeSaltLen = 32

// ChannelBinding describes the connection one exchange runs on.
type ChannelBinding struct {
	// Advertised reports that the server offered a -PLUS mechanism on this
	// connection. A client that then sends the GS2 flag "y" ("I support
	// channel binding but you do not seem to") was the victim of a
	// downgrade, and the exchange fails with ErrServerDoesSupportCB.
	Advertised bool
	// Require, when non-empty, is the only channel-binding type the client
	// may use: the client selected the pseudomechanism
	// "SCRAM-SHA-256-PLUS:<type>". A different p= type fails with
	// ErrUnsupportedCBType.
	Require cbind.Type
	// Data returns the channel-binding data of a type for this connection,
	// now. It returns an error (for example one wrapping
	// cbind.ErrUnavailable) for a type the connection cannot provide or the
	// host disabled; the client's p=<type> then fails with
	// ErrUnsupportedCBType. Nil means no type is available. Data is called
	// with any syntactically valid type name the client sends.
	Data func(cbind.Type) ([]byte, error)
}

// Server runs SCRAM exchanges for one mechanism. It is safe for concurrent
// use; each exchange has its own Exchange.
type Server struct {
	mech     Mechanism
	store    Store
	rand     io.Reader
	fakeIter int
	fakeSalt int
	fakeMACs sync.Pool // hmac.New(sha256.New, secret): keyed once, Reset per use
	fakeTag  []byte    // mechanism hash name and a 0 byte, the fake MAC's prefix
	hashes   *hashPool

	// nonce, when set by tests, replaces the random server nonce.
	nonce func() []byte
}

var processSecret = sync.OnceValue(func() []byte {
	b := make([]byte, fakeSecretLen)
	if _, err := rand.Read(b); err != nil {
		panic("scram: crypto/rand failed: " + err.Error())
	}
	return b
})

// NewServer returns a Server for mechanism m. It fails when m is not one of
// this package's mechanisms, cfg.Secret is set but shorter than 16 bytes,
// cfg.FakeIterations is negative or above the limit NewCredential enforces,
// or cfg.FakeSaltLen is outside [0, MaxFakeSaltLen].
func NewServer(m Mechanism, cfg Config) (*Server, error) {
	if !m.valid() {
		return nil, errors.New("scram: unknown mechanism")
	}
	secret := cfg.Secret
	if secret == nil {
		secret = processSecret()
	} else if len(secret) < minSecretLen {
		return nil, fmt.Errorf("scram: Config.Secret is shorter than %d bytes", minSecretLen)
	}
	secret = append([]byte(nil), secret...)
	switch {
	case cfg.FakeIterations == 0:
		cfg.FakeIterations = MinIterations
	case cfg.FakeIterations < 0 || cfg.FakeIterations > maxIterations:
		return nil, fmt.Errorf("scram: Config.FakeIterations %d outside [0, %d]", cfg.FakeIterations, maxIterations)
	}
	switch {
	case cfg.FakeSaltLen == 0:
		cfg.FakeSaltLen = DefaultSaltLen
	case cfg.FakeSaltLen < 0 || cfg.FakeSaltLen > MaxFakeSaltLen:
		return nil, fmt.Errorf("scram: Config.FakeSaltLen %d outside [0, %d]", cfg.FakeSaltLen, MaxFakeSaltLen)
	}
	r := cfg.Rand
	if r == nil {
		r = rand.Reader
	}
	s := &Server{
		mech:     m,
		store:    cfg.Store,
		rand:     r,
		fakeIter: cfg.FakeIterations,
		fakeSalt: cfg.FakeSaltLen,
		hashes:   newHashPool(m.hash),
		fakeTag:  append([]byte(m.hash.String()), 0),
	}
	s.fakeMACs.New = func() any { return hmac.New(sha256.New, secret) }
	return s, nil
}

// Mechanism returns the mechanism of s.
func (s *Server) Mechanism() Mechanism { return s.mech }

// Start begins one exchange on a connection described by cb, looking up
// credentials in Config.Store (see StartWith).
func (s *Server) Start(cb ChannelBinding, downgradeProtection []byte) *Exchange {
	return s.StartWith(s.store, cb, downgradeProtection)
}

// StartWith begins one exchange on a connection described by cb, looking up
// the user's credential in store: a host that serves several domains passes
// the store view of the domain the client connected to. A nil store fails
// the exchange with ErrStore.
//
// downgradeProtection, if non-nil, is the XEP-0474 input string (the sorted
// advertised mechanisms joined by 0x1E, then, if XEP-0440 was used, 0x1F and
// the sorted channel-binding types joined by 0x1E). The server then appends
// ",h=" + base64(H(input)) to server-first, where H is the mechanism's hash.
func (s *Server) StartWith(store Store, cb ChannelBinding, downgradeProtection []byte) *Exchange {
	e := &Exchange{s: s, store: store, cb: cb}
	if downgradeProtection != nil {
		h := s.hashes.get()
		h.Write(downgradeProtection)
		var sum [64]byte
		e.hAttr = base64.StdEncoding.AppendEncode(nil, h.Sum(sum[:0]))
		s.hashes.put(h)
	}
	return e
}

// exchange states
const (
	stateStart = iota
	stateFirstSent
	stateSucceeded
	stateFailed
)

// Exchange is one SCRAM authentication exchange, made by Server.Start. It is
// not safe for concurrent use and cannot be reused: start a new one per
// attempt. A zero Exchange is over before it began.
type Exchange struct {
	s     *Server
	store Store
	cb    ChannelBinding
	hAttr []byte // base64 XEP-0474 hash, or nil
	state uint8

	// Set by the client-first step.
	auth      []byte // client-first-bare "," server-first ","
	nonce     []byte // combined nonce, aliases auth
	expectedC []byte // "c=" base64(gs2-header || cbind-data)
	cred      Credential
	unknown   bool
	username  string
	authzid   string
	cbType    cbind.Type
	attempted string // the decoded n= name, kept after a failure

	// fake holds the fake credential's bytes (see Server.fakeCredential).
	fake fakeBuf
}

// scratch is per-step working memory, pooled so that neither the heap nor
// the Exchange has to carry it.
type scratch struct {
	sig, clientKey, sum, proof [64]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Step consumes one client message (already base64-decoded by the SASL
// profile) and returns the next server message.
//
// The first call takes client-first and returns server-first. The second
// takes client-final and returns server-final ("v=...") with done set. On
// failure err is non-nil and matches one of the package's errors with
// errors.Is; out is then the RFC 5802 server-final message "e=<value>" when
// the failure happens at client-final (where RFC 5802 lets the server send
// one), and nil at client-first, where the SASL profile's plain failure is
// the only answer. After success or failure every further call returns
// ErrExchangeOver: a client-final message cannot be replayed.
//
// ctx is passed to the Store. The caller should bound the base64 text before
// decoding it; messages above MaxMessageLen bytes are refused here.
func (e *Exchange) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	if e.s == nil {
		return nil, false, ErrExchangeOver // not made by Server.Start
	}
	switch e.state {
	case stateStart:
		out, err = e.clientFirst(ctx, in)
		if err != nil {
			e.fail()
			return nil, false, err
		}
		e.state = stateFirstSent
		return out, false, nil
	case stateFirstSent:
		out, err = e.clientFinal(in)
		if err != nil {
			e.fail()
			return serverErrorMessage(err), false, err
		}
		e.state = stateSucceeded
		e.clearSecrets()
		return out, true, nil
	default:
		return nil, false, ErrExchangeOver
	}
}

func serverErrorMessage(err error) []byte {
	v := ServerError(err)
	b := make([]byte, 0, 2+len(v))
	b = append(b, "e="...)
	return append(b, v...)
}

func (e *Exchange) fail() {
	e.state = stateFailed
	e.username, e.authzid, e.cbType = "", "", ""
	e.clearSecrets()
}

func (e *Exchange) clearSecrets() {
	e.cred = Credential{}
	e.auth, e.nonce, e.expectedC = nil, nil, nil
	clear(e.fake[:])
}

// Username returns the authentication identity (the decoded n= saslname)
// after a successful exchange, and "" otherwise. It is the name exactly as
// the Store was asked for it.
func (e *Exchange) Username() string {
	if e.state != stateSucceeded {
		return ""
	}
	return e.username
}

// AttemptedUsername returns the decoded n= name of the client-first
// message once it was parsed, whether or not the exchange then succeeded:
// the name to log with a failure. It is "" when client-first was too
// malformed to name anyone.
func (e *Exchange) AttemptedUsername() string { return e.attempted }

// Authzid returns the authorization identity the client asked for in the GS2
// header (decoded) after a successful exchange; "" if it sent none or the
// exchange has not succeeded. The caller decides whether Username may act as
// Authzid (RFC 6120 §6.3.8) and answers invalid-authzid otherwise.
func (e *Exchange) Authzid() string {
	if e.state != stateSucceeded {
		return ""
	}
	return e.authzid
}

// ChannelBinding returns the channel-binding type a successful exchange was
// bound to, or "" if none was used or the exchange has not succeeded.
func (e *Exchange) ChannelBinding() cbind.Type {
	if e.state != stateSucceeded {
		return ""
	}
	return e.cbType
}

// Done reports whether the exchange completed successfully.
func (e *Exchange) Done() bool { return e.state == stateSucceeded }

func malformed(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }

// clientFirst handles client-first-message (RFC 5802 §7).
func (e *Exchange) clientFirst(ctx context.Context, in []byte) ([]byte, error) {
	if len(in) > MaxMessageLen {
		return nil, malformed("client-first too long")
	}
	var (
		flag   byte
		cbName []byte
		rest   = in
	)
	// gs2-cbind-flag
	switch {
	case bytes.HasPrefix(rest, []byte("n,")), bytes.HasPrefix(rest, []byte("y,")):
		flag = rest[0]
		rest = rest[2:]
	case bytes.HasPrefix(rest, []byte("p=")):
		flag = 'p'
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			return nil, malformed("truncated gs2 header")
		}
		cbName = rest[2:i]
		if !validCBName(cbName) {
			return nil, malformed("invalid channel-binding name")
		}
		rest = rest[i+1:]
	default:
		return nil, malformed("invalid gs2-cbind-flag")
	}
	// [authzid] ","
	var authzid string
	if bytes.HasPrefix(rest, []byte("a=")) {
		i := bytes.IndexByte(rest, ',')
		if i < 0 {
			return nil, malformed("truncated gs2 header")
		}
		a, err := decodeSaslname(rest[2:i])
		if err != nil {
			return nil, fmt.Errorf("%w (authzid)", err)
		}
		authzid = string(a)
		rest = rest[i+1:]
	} else if len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
	} else {
		return nil, malformed("invalid gs2 header")
	}
	gs2Header := in[:len(in)-len(rest)]
	bare := rest

	// [reserved-mext ","] username "," nonce ["," extensions]
	attr, rest, _ := bytes.Cut(rest, []byte{','})
	if bytes.HasPrefix(attr, []byte("m=")) {
		return nil, ErrExtensionsNotSupported
	}
	if !bytes.HasPrefix(attr, []byte("n=")) {
		return nil, malformed("missing n= attribute")
	}
	name, err := decodeSaslname(attr[2:])
	if err != nil {
		return nil, err
	}
	e.attempted = string(name)
	attr, rest, hasExt := bytes.Cut(rest, []byte{','})
	if !bytes.HasPrefix(attr, []byte("r=")) {
		return nil, malformed("missing r= attribute")
	}
	clientNonce := attr[2:]
	if len(clientNonce) == 0 || len(clientNonce) > maxNonceLen || !printable(clientNonce) {
		return nil, malformed("invalid client nonce")
	}
	if hasExt {
		// Extensions are ignored (RFC 5802 §7), but must be well formed.
		if err := checkExtensions(rest); err != nil {
			return nil, err
		}
	}

	// Channel binding (RFC 5802 §6).
	var cbData []byte
	switch flag {
	case 'n':
		if e.s.mech.plus {
			return nil, fmt.Errorf("%w: -PLUS mechanism without channel binding", ErrChannelBindingsDontMatch)
		}
	case 'y':
		if e.s.mech.plus {
			return nil, fmt.Errorf("%w: -PLUS mechanism without channel binding", ErrChannelBindingsDontMatch)
		}
		if e.cb.Advertised {
			return nil, ErrServerDoesSupportCB
		}
	case 'p':
		if !e.s.mech.plus {
			return nil, ErrChannelBindingNotSupported
		}
		t := cbTypeOf(cbName)
		if e.cb.Require != "" && t != e.cb.Require {
			return nil, fmt.Errorf("%w: the client selected %s", ErrUnsupportedCBType, e.cb.Require)
		}
		if e.cb.Data == nil {
			return nil, ErrUnsupportedCBType
		}
		cbData, err = e.cb.Data(t)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnsupportedCBType, err)
		}
		if len(cbData) == 0 {
			return nil, fmt.Errorf("%w: empty binding data", ErrUnsupportedCBType)
		}
		e.cbType = t
	}

	// Credential lookup. The fake credential is always derived so that a known
	// and an unknown user cost the server the same work.
	fake := e.s.fakeCredential(name, &e.fake)
	username := e.attempted
	if e.store == nil {
		return nil, fmt.Errorf("%w: no credential store", ErrStore)
	}
	cred, err := e.store.Credential(ctx, username, e.s.mech.hash)
	switch {
	case err == nil:
		if !usable(cred, e.s.mech.hash) {
			return nil, fmt.Errorf("%w: unusable credential", ErrStore)
		}
	case errors.Is(err, ErrUnknownUser):
		cred = fake
		e.unknown = true
	default:
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}

	// Server nonce.
	var sn [serverNonceLen]byte
	var serverNonce []byte
	if e.s.nonce != nil {
		serverNonce = e.s.nonce()
	} else {
		if _, err := io.ReadFull(e.s.rand, sn[:]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoResources, err)
		}
	}

	// expectedC = "c=" base64(gs2-header || cbind-data)
	enc := base64.StdEncoding
	cbLen := enc.EncodedLen(len(gs2Header) + len(cbData))
	saltLen := enc.EncodedLen(len(cred.Salt))
	nonceLen := len(clientNonce) + base64.RawStdEncoding.EncodedLen(serverNonceLen) + len(serverNonce)
	// One buffer for expectedC and the AuthMessage with room for the rest of
	// client-final-without-proof, so client-final normally adds nothing.
	buf := make([]byte, 0, 2+cbLen+
		len(bare)+1+ // client-first-bare ","
		2+nonceLen+3+saltLen+3+10+3+len(e.hAttr)+1+ // server-first ","
		2+cbLen+3+nonceLen+64) // client-final-without-proof and some extensions
	buf = append(buf, "c="...)
	buf = appendConcatBase64(buf, gs2Header, cbData)
	e.expectedC = buf[:len(buf):len(buf)]
	auth := buf[len(buf):]
	auth = append(auth, bare...)
	auth = append(auth, ',')
	start := len(auth)
	auth = append(auth, "r="...)
	nonceStart := len(auth)
	auth = append(auth, clientNonce...)
	if serverNonce != nil {
		auth = append(auth, serverNonce...)
	} else {
		auth = base64.RawStdEncoding.AppendEncode(auth, sn[:])
	}
	e.nonce = auth[nonceStart:len(auth):len(auth)]
	auth = append(auth, ",s="...)
	auth = enc.AppendEncode(auth, cred.Salt)
	auth = append(auth, ",i="...)
	auth = strconv.AppendInt(auth, int64(cred.Iterations), 10)
	if e.hAttr != nil {
		auth = append(auth, ",h="...)
		auth = append(auth, e.hAttr...)
	}
	out := bytes.Clone(auth[start:])
	e.auth = append(auth, ',')

	e.cred = cred
	e.username = username
	e.authzid = authzid
	return out, nil
}

// clientFinal handles client-final-message (RFC 5802 §7).
func (e *Exchange) clientFinal(in []byte) ([]byte, error) {
	if len(in) > MaxMessageLen {
		return nil, malformed("client-final too long")
	}
	// channel-binding "," nonce ["," extensions] "," proof
	last := bytes.LastIndexByte(in, ',')
	if last < 0 {
		return nil, malformed("truncated client-final")
	}
	withoutProof, proofAttr := in[:last], in[last+1:]
	cAttr, rest, ok := bytes.Cut(withoutProof, []byte{','})
	if !ok || !bytes.HasPrefix(cAttr, []byte("c=")) {
		return nil, malformed("missing c= attribute")
	}
	rAttr, ext, hasExt := bytes.Cut(rest, []byte{','})
	if !bytes.HasPrefix(rAttr, []byte("r=")) {
		return nil, malformed("missing r= attribute")
	}
	if hasExt {
		if err := checkExtensions(ext); err != nil {
			return nil, err
		}
	}
	if !bytes.HasPrefix(proofAttr, []byte("p=")) {
		return nil, malformed("missing p= attribute")
	}
	size := e.s.mech.hash.Size()
	sc := scratchPool.Get().(*scratch)
	defer func() {
		clear(sc.clientKey[:])
		scratchPool.Put(sc)
	}()
	proof := &sc.proof
	p64 := proofAttr[2:]
	if len(p64) != base64.StdEncoding.EncodedLen(size) {
		return nil, fmt.Errorf("%w: proof length", ErrInvalidEncoding)
	}
	if n, err := base64.StdEncoding.Strict().Decode(proof[:], p64); err != nil || n != size {
		return nil, fmt.Errorf("%w: proof", ErrInvalidEncoding)
	}

	if subtle.ConstantTimeCompare(cAttr, e.expectedC) != 1 {
		if _, err := base64.StdEncoding.Strict().DecodeString(string(cAttr[2:])); err != nil || len(cAttr) == 2 {
			return nil, fmt.Errorf("%w: c=", ErrInvalidEncoding)
		}
		return nil, ErrChannelBindingsDontMatch
	}
	if subtle.ConstantTimeCompare(rAttr[2:], e.nonce) != 1 {
		return nil, ErrNonceMismatch
	}

	authMessage := append(e.auth, withoutProof...)

	// ClientSignature := HMAC(StoredKey, AuthMessage)
	// ClientKey := ClientProof XOR ClientSignature
	// valid iff H(ClientKey) == StoredKey
	sig, clientKey, stored := &sc.sig, &sc.clientKey, &sc.sum
	mac := hmac.New(e.s.mech.hash.New, e.cred.StoredKey)
	mac.Write(authMessage)
	mac.Sum(sig[:0])
	subtle.XORBytes(clientKey[:size], proof[:size], sig[:size])
	h := e.s.hashes.get()
	h.Write(clientKey[:size])
	h.Sum(stored[:0])
	e.s.hashes.put(h)
	valid := subtle.ConstantTimeCompare(stored[:size], e.cred.StoredKey)
	if valid != 1 || e.unknown {
		return nil, ErrInvalidProof
	}

	// ServerSignature := HMAC(ServerKey, AuthMessage)
	mac = hmac.New(e.s.mech.hash.New, e.cred.ServerKey)
	mac.Write(authMessage)
	mac.Sum(sig[:0])
	out := make([]byte, 0, 2+base64.StdEncoding.EncodedLen(size))
	out = append(out, "v="...)
	out = base64.StdEncoding.AppendEncode(out, sig[:size])
	return out, nil
}

// fakeCredLen is the most bytes a fake credential needs: a salt and two
// SHA-512 keys.
const fakeCredLen = MaxFakeSaltLen + 2*64

// fakeBuf holds a fake credential followed by the MAC it is made from.
type fakeBuf [fakeCredLen + sha256.Size]byte

// fakeCredential derives the credential shown to a user the Store does not
// know: HMAC-SHA-256(secret, mechanism hash name || 0 || username). Its first
// FakeSaltLen bytes are the salt; the keys are filled from the MAC too and
// are never shown. No proof can match it (and the exchange fails
// regardless).
func (s *Server) fakeCredential(username []byte, buf *fakeBuf) Credential {
	mac := s.fakeMACs.Get().(hash.Hash)
	mac.Write(s.fakeTag)
	mac.Write(username)
	sum := buf[fakeCredLen:]
	mac.Sum(sum[:0])
	mac.Reset()
	s.fakeMACs.Put(mac)

	size, n := s.mech.hash.Size(), s.fakeSalt
	b := buf[:n+2*size]
	copy(b, sum[:n])
	keys := b[n:]
	for i := 0; i < len(keys); i += sha256.Size {
		copy(keys[i:], sum)
	}
	return Credential{
		Salt:       b[:n:n],
		Iterations: s.fakeIter,
		StoredKey:  keys[:size:size],
		ServerKey:  keys[size:],
	}
}

func usable(c Credential, h crypto.Hash) bool {
	return len(c.Salt) > 0 && len(c.Salt) <= 1024 && c.Iterations > 0 && c.Iterations <= maxIterations &&
		len(c.StoredKey) == h.Size() && len(c.ServerKey) == h.Size()
}

// appendConcatBase64 appends the standard base64 encoding of a||b.
func appendConcatBase64(dst, a, b []byte) []byte {
	if len(b) == 0 {
		return base64.StdEncoding.AppendEncode(dst, a)
	}
	var small [256]byte
	joined := append(small[:0], a...)
	joined = append(joined, b...)
	return base64.StdEncoding.AppendEncode(dst, joined)
}

// cbTypeOf converts a cb-name, without allocating for the known types.
func cbTypeOf(b []byte) cbind.Type {
	switch string(b) {
	case string(cbind.TLSExporter):
		return cbind.TLSExporter
	case string(cbind.TLSUnique):
		return cbind.TLSUnique
	case string(cbind.TLSServerEndPoint):
		return cbind.TLSServerEndPoint
	}
	return cbind.Type(b)
}
