package features

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"sync/atomic"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/xmppcert"
)

// mechanism is the server side of one SASL exchange.
type mechanism interface {
	// step consumes a client message and returns the next server message;
	// done reports success (out is then the additional data with success).
	step(ctx context.Context, in []byte) (out []byte, done bool, err error)
	// result reports, after success, the authenticated bare JID, the
	// requested authzid ("" for none) and the channel-binding type used.
	result() (identity jid.JID, authzid string, cb cbind.Type)
}

// scramMechanism adapts a scram.Exchange.
type scramMechanism struct {
	ex       *scram.Exchange
	a        *attempt
	identity jid.JID
}

func (m *scramMechanism) step(ctx context.Context, in []byte) ([]byte, bool, error) {
	out, done, err := m.ex.Step(ctx, in)
	if err != nil && m.a.name == "" {
		// Failed before the store was asked (channel binding, say): the
		// name is still what the log should show.
		m.a.name = capName(m.ex.AttemptedUsername())
	}
	if err != nil || !done {
		return out, done, err
	}
	// The account the store was asked for, never a name the client chose
	// afterwards.
	if m.identity, err = jid.Parse(m.a.account); err != nil || m.a.account == "" {
		return nil, false, fmt.Errorf("%w: no account", scram.ErrInvalidProof)
	}
	return out, true, nil
}

func (m *scramMechanism) result() (jid.JID, string, cbind.Type) {
	return m.identity, m.ex.Authzid(), m.ex.ChannelBinding()
}

// plainMechanism is RFC 4616 PLAIN, verified against the stored SCRAM
// credentials so that no plaintext password store is needed.
type plainMechanism struct {
	store    accountStore
	profile  *plainProfile
	identity jid.JID
	authzid  string
	// upgrade brings the stored credentials up to the configuration; run
	// by authorized, once the host's checks let the login through.
	upgrade func(context.Context)
}

// maxPlainField is RFC 4616's limit on each of the three fields.
const maxPlainField = 255

// errBadPassword is PLAIN's wrong password or unknown user: <not-authorized/>
// without a text that could tell the two apart.
var errBadPassword = errors.New("features: PLAIN: authentication failed")

func (m *plainMechanism) step(ctx context.Context, in []byte) ([]byte, bool, error) {
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 {
		return nil, false, errMalformed
	}
	for _, p := range parts {
		if len(p) > maxPlainField || !utf8.Valid(p) {
			return nil, false, errMalformed
		}
	}
	authzid, authcid, password := string(parts[0]), string(parts[1]), string(parts[2])
	if authcid == "" || password == "" {
		return nil, false, errMalformed
	}
	account, err := m.store.begin(ctx, authcid)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", scram.ErrStore, err)
	}
	ok, stored, err := m.verify(ctx, account, password)
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, errBadPassword
	}
	if m.identity, err = jid.Parse(account); err != nil {
		return nil, false, errBadPassword
	}
	m.authzid = authzid
	m.upgrade = func(ctx context.Context) { m.store.srv.upgrade(ctx, account, password, stored) }
	return nil, true, nil
}

// authorized runs the credential upgrade of a login that passed the
// authorization and account checks: a disabled account's credentials are
// not rewritten.
func (m *plainMechanism) authorized(ctx context.Context) {
	if m.upgrade != nil {
		m.upgrade(ctx)
		m.upgrade = nil
	}
}

// plainHashes are the stored credentials PLAIN may verify against,
// strongest first, whichever SCRAM mechanisms are enabled.
var plainHashes = [...]crypto.Hash{crypto.SHA512, crypto.SHA256, crypto.SHA1}

// verify checks password against the credential of the strongest hash the
// store has for account ("" for a name that is no localpart). Every hash is
// looked up whether or not an earlier one was found, and an unknown account
// spends the PBKDF2 work of a real one, so that neither the store's nor the
// server's work tells whether the account exists.
//
// stored reports the iteration count of each credential found (0: none), by
// hash, for the upgrade after a successful login.
func (m *plainMechanism) verify(ctx context.Context, account, password string) (ok bool, stored storedIterations, err error) {
	var (
		found bool
		hash  crypto.Hash
		cred  scram.Credential
	)
	for i, h := range plainHashes {
		if account == "" {
			break
		}
		c, err := m.store.srv.cfg.Store.Credential(ctx, account, h)
		switch {
		case errors.Is(err, scram.ErrUnknownUser):
			continue
		case err != nil:
			return false, stored, fmt.Errorf("%w: %w", scram.ErrStore, err)
		}
		stored[i] = c.Iterations
		if !found {
			found, hash, cred = true, h, c
		}
	}
	if !found {
		m.profile.spend(password)
		return false, stored, nil
	}
	m.profile.observe(hash, cred)
	return scram.VerifyPassword(hash, cred, password), stored, nil
}

// storedIterations is the iteration count of an account's credential per
// hash of plainHashes, 0 where it has none.
type storedIterations [len(plainHashes)]int

// plainProfile is the work PLAIN spends on an unknown user: a PBKDF2 check
// with the hash, iteration count and salt length of the last real
// credential PLAIN verified (before any, the strongest hash at the
// configured Iterations and SaltLen), so that an unknown user costs what a
// real one does.
type plainProfile struct {
	dummy atomic.Pointer[plainDummy]
}

type plainDummy struct {
	hash crypto.Hash
	cred scram.Credential
}

func (p *plainProfile) init(cfg Config) {
	p.dummy.Store(newPlainDummy(plainHashes[0], cfg.Iterations, cfg.SaltLen))
}

func newPlainDummy(h crypto.Hash, iterations, saltLen int) *plainDummy {
	return &plainDummy{hash: h, cred: scram.Credential{
		Salt:       make([]byte, saltLen),
		Iterations: iterations,
		StoredKey:  make([]byte, h.Size()),
		ServerKey:  make([]byte, h.Size()),
	}}
}

// observe follows the shape of a real credential.
func (p *plainProfile) observe(h crypto.Hash, c scram.Credential) {
	d := p.dummy.Load()
	if d.hash == h && d.cred.Iterations == c.Iterations && len(d.cred.Salt) == len(c.Salt) {
		return
	}
	p.dummy.Store(newPlainDummy(h, c.Iterations, len(c.Salt)))
}

func (p *plainProfile) spend(password string) {
	d := p.dummy.Load()
	scram.VerifyPassword(d.hash, d.cred, password)
}

func (m *plainMechanism) result() (jid.JID, string, cbind.Type) {
	return m.identity, m.authzid, ""
}

// externalMechanism is RFC 4422 Appendix A EXTERNAL over a verified TLS
// client certificate.
type externalMechanism struct {
	candidates []jid.JID // identities the certificate proves
	identity   jid.JID
	authzid    string
}

func (c *Login) newExternal(ctx context.Context, meta connMeta, o *offer) (mechanism, error) {
	leaf := o.clientCert
	if leaf == nil {
		return nil, errInvalidMechanism
	}
	domain := meta.Domain()
	var ids []jid.JID
	if f := c.srv.cfg.MapCertificate; f != nil {
		mapped, err := f(ctx, meta, leaf)
		if err != nil {
			if errors.Is(err, ErrNotAuthorized) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", scram.ErrStore, err)
		}
		for _, j := range mapped {
			// A certificate never proves an identity of another domain.
			if j.Domain().Equal(domain) && j.Localpart() != "" {
				ids = append(ids, j.Bare())
			}
		}
	} else {
		for _, addr := range xmppcert.Addrs(leaf) {
			j, err := jid.Parse(addr)
			if err != nil || !j.Domain().Equal(domain) || j.Localpart() == "" {
				continue
			}
			ids = append(ids, j.Bare())
		}
	}
	if len(ids) == 0 {
		return nil, ErrNotAuthorized
	}
	return &externalMechanism{candidates: ids}, nil
}

func (m *externalMechanism) step(ctx context.Context, in []byte) ([]byte, bool, error) {
	if len(in) > 3071 || !utf8.Valid(in) {
		return nil, false, errMalformed
	}
	authzid := string(in)
	if authzid == "" {
		// RFC 6120 §6.3.8: derive the identity; it must be unambiguous.
		if len(m.candidates) != 1 {
			return nil, false, fmt.Errorf("%w: certificate names several identities", ErrNotAuthorized)
		}
		m.identity = m.candidates[0]
		return nil, true, nil
	}
	az, err := jid.Parse(authzid)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errInvalidAuthzid, err)
	}
	for _, c := range m.candidates {
		if c.Equal(az) {
			// Choosing one of the certificate's own identities.
			m.identity = c
			return nil, true, nil
		}
	}
	if len(m.candidates) != 1 {
		return nil, false, errInvalidAuthzid
	}
	// Acting as someone else: the host's Authorize decides.
	m.identity, m.authzid = m.candidates[0], authzid
	return nil, true, nil
}

func (m *externalMechanism) result() (jid.JID, string, cbind.Type) {
	return m.identity, m.authzid, ""
}
