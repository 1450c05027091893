package scram

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/text/secure/precis"
)

// MinIterations is the smallest PBKDF2 iteration count NewCredential accepts
// (RFC 5802 §5.1 and RFC 7677 §4 ask for at least 4096).
const MinIterations = 4096

// maxIterations bounds the iteration count NewCredential and VerifyPassword
// accept, so that a corrupt store cannot make the server spin.
const maxIterations = 10_000_000

// DefaultSaltLen is the length of the salt NewCredential generates, and of
// the fake salts given to unknown users.
const DefaultSaltLen = 16

// Credential is what the server stores per user and hash (RFC 5802 §3):
// enough to verify a client proof and to sign the server-final message, but
// not enough to authenticate as the user (StoredKey is a hash of ClientKey).
// It never holds the password or the SaltedPassword. Treat the slices as
// read-only once stored.
type Credential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

var (
	clientKeyLabel = []byte("Client Key")
	serverKeyLabel = []byte("Server Key")
)

func hashSupported(h crypto.Hash) bool {
	return h == crypto.SHA1 || h == crypto.SHA256 || h == crypto.SHA512
}

// preparePassword applies the PRECIS OpaqueString profile (RFC 8265 §4.2).
// RFC 5802 and RFC 7677 name SASLprep (RFC 4013), which RFC 8265 replaces for
// passwords. For ASCII passwords the two are identical (no change at all);
// they differ for some non-ASCII input: OpaqueString maps non-ASCII spaces to
// U+0020 and applies NFC where SASLprep applied NFKC and deleted some
// characters. A client that applies SASLprep to such a password derives a
// different key. OpaqueString rejects the empty password.
func preparePassword(password string) (string, error) {
	return precis.OpaqueString.String(password)
}

// NewCredential derives the Credential of password for the hash h (crypto.SHA1,
// crypto.SHA256 or crypto.SHA512). The password is first prepared with PRECIS
// OpaqueString (see the package documentation about SASLprep). A nil salt
// means DefaultSaltLen random bytes from crypto/rand; iterations below
// MinIterations are an error.
func NewCredential(h crypto.Hash, password string, salt []byte, iterations int) (Credential, error) {
	if !hashSupported(h) {
		return Credential{}, fmt.Errorf("scram: unsupported hash %v", h)
	}
	if iterations < MinIterations || iterations > maxIterations {
		return Credential{}, fmt.Errorf("scram: iteration count %d outside [%d, %d]", iterations, MinIterations, maxIterations)
	}
	if salt == nil {
		salt = make([]byte, DefaultSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return Credential{}, fmt.Errorf("scram: generating salt: %w", err)
		}
	} else if len(salt) == 0 {
		return Credential{}, errors.New("scram: empty salt")
	} else {
		salt = append([]byte(nil), salt...)
	}
	prepared, err := preparePassword(password)
	if err != nil {
		return Credential{}, fmt.Errorf("scram: password rejected by PRECIS OpaqueString: %w", err)
	}
	stored, server, err := deriveKeys(h, prepared, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return Credential{Salt: salt, Iterations: iterations, StoredKey: stored, ServerKey: server}, nil
}

// deriveKeys computes StoredKey and ServerKey from a prepared password.
func deriveKeys(h crypto.Hash, password string, salt []byte, iterations int) (storedKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(h.New, password, salt, iterations, h.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("scram: pbkdf2: %w", err)
	}
	storedKey, serverKey = keysOf(h, salted)
	clear(salted)
	return storedKey, serverKey, nil
}

// keysOf computes StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
// ServerKey = HMAC(SaltedPassword, "Server Key") (RFC 5802 §3).
func keysOf(h crypto.Hash, salted []byte) (storedKey, serverKey []byte) {
	mac := hmac.New(h.New, salted)
	mac.Write(clientKeyLabel)
	clientKey := mac.Sum(nil)
	mac.Reset()
	mac.Write(serverKeyLabel)
	serverKey = mac.Sum(nil)
	sum := h.New()
	sum.Write(clientKey)
	storedKey = sum.Sum(nil)
	clear(clientKey)
	return storedKey, serverKey
}

// CredentialFromSaltedPassword is the Credential of a SaltedPassword
// (RFC 5802 §3) that a client computed with salt and iterations, as a
// XEP-0480 SCRAM upgrade task receives it in <hash/>. The salt is copied.
func CredentialFromSaltedPassword(h crypto.Hash, saltedPassword, salt []byte, iterations int) Credential {
	stored, server := keysOf(h, saltedPassword)
	return Credential{Salt: append([]byte(nil), salt...), Iterations: iterations, StoredKey: stored, ServerKey: server}
}

// VerifyPassword reports whether password (for example from SASL PLAIN)
// matches the stored Credential c for hash h. The password is prepared with
// PRECIS OpaqueString like NewCredential does, and the keys are compared in
// constant time. It costs one PBKDF2 derivation with c.Iterations.
func VerifyPassword(h crypto.Hash, c Credential, password string) bool {
	if !hashSupported(h) || c.Iterations < 1 || c.Iterations > maxIterations ||
		len(c.Salt) == 0 || len(c.StoredKey) != h.Size() || len(c.ServerKey) != h.Size() {
		return false
	}
	prepared, err := preparePassword(password)
	if err != nil {
		return false
	}
	stored, server, err := deriveKeys(h, prepared, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	ok := subtle.ConstantTimeCompare(stored, c.StoredKey) & subtle.ConstantTimeCompare(server, c.ServerKey)
	return ok == 1
}

// ErrUnknownUser is returned (possibly wrapped) by a Store that has no
// credential for the user and hash. The server turns it into a fake
// credential, so the client learns nothing from it.
var ErrUnknownUser = errors.New("scram: unknown user")

// Store looks up the Credential of a user for one hash. The username is the
// authentication identity exactly as the client sent it after saslname
// decoding (=2C → ",", =3D → "="), valid UTF-8 but not normalised: apply
// PRECIS UsernameCaseMapped (RFC 8265) or whatever the host's account
// database uses, here. A Store returns an error wrapping ErrUnknownUser when
// there is no such user or no credential for that hash; any other error
// aborts the exchange with ErrStore. The returned slices must not be modified
// afterwards by the Store.
type Store interface {
	Credential(ctx context.Context, username string, h crypto.Hash) (Credential, error)
}

// MemoryStore is a Store held in memory, safe for concurrent use. The zero
// value is an empty store ready to use.
type MemoryStore struct {
	mu    sync.RWMutex
	users map[memoryKey]Credential
}

type memoryKey struct {
	username string
	hash     crypto.Hash
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{users: make(map[memoryKey]Credential)}
}

// init makes the map of a zero MemoryStore; s.mu must be held.
func (s *MemoryStore) init() {
	if s.users == nil {
		s.users = make(map[memoryKey]Credential)
	}
}

// Credential implements Store. Names are compared byte for byte.
func (s *MemoryStore) Credential(ctx context.Context, username string, h crypto.Hash) (Credential, error) {
	if err := ctx.Err(); err != nil {
		return Credential{}, err
	}
	s.mu.RLock()
	c, ok := s.users[memoryKey{username, h}]
	s.mu.RUnlock()
	if !ok {
		return Credential{}, ErrUnknownUser
	}
	return c, nil
}

// Set stores the credential of username for hash h, replacing any previous
// one. The slices of c are copied.
func (s *MemoryStore) Set(username string, h crypto.Hash, c Credential) {
	c.Salt = append([]byte(nil), c.Salt...)
	c.StoredKey = append([]byte(nil), c.StoredKey...)
	c.ServerKey = append([]byte(nil), c.ServerKey...)
	s.mu.Lock()
	s.init()
	s.users[memoryKey{username, h}] = c
	s.mu.Unlock()
}

// SetCredential is Set with a context and an error, the form a networked
// store has (features.CredentialUpdater).
func (s *MemoryStore) SetCredential(ctx context.Context, username string, h crypto.Hash, c Credential) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !hashSupported(h) {
		return fmt.Errorf("scram: unsupported hash %v", h)
	}
	s.Set(username, h, c)
	return nil
}

// SetPassword derives and stores credentials of username for each hash in
// hashes (all three supported hashes when none is given), each with its own
// random salt. Nothing is stored if any derivation fails.
func (s *MemoryStore) SetPassword(username, password string, iterations int, hashes ...crypto.Hash) error {
	if len(hashes) == 0 {
		hashes = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512}
	}
	creds := make([]Credential, len(hashes))
	for i, h := range hashes {
		c, err := NewCredential(h, password, nil, iterations)
		if err != nil {
			return err
		}
		creds[i] = c
	}
	s.mu.Lock()
	s.init()
	for i, h := range hashes {
		s.users[memoryKey{username, h}] = creds[i]
	}
	s.mu.Unlock()
	return nil
}

// Delete removes every credential of username.
func (s *MemoryStore) Delete(username string) {
	s.mu.Lock()
	for k := range s.users {
		if k.username == username {
			delete(s.users, k)
		}
	}
	s.mu.Unlock()
}

// hashPool keeps hash.Hash values per crypto.Hash for the server's hot path.
type hashPool struct{ p sync.Pool }

func newHashPool(h crypto.Hash) *hashPool {
	return &hashPool{p: sync.Pool{New: func() any { return h.New() }}}
}

func (p *hashPool) get() hash.Hash  { return p.p.Get().(hash.Hash) }
func (p *hashPool) put(h hash.Hash) { h.Reset(); p.p.Put(h) }
