package sqlstore

import (
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/xmppcert"
)

// Interface guards: what features.Config takes.
var (
	_ scram.Store                = (*Store)(nil)
	_ features.CredentialUpdater = (*Store)(nil)
	_                            = features.Config{AccountStatus: (*Store)(nil).AccountStatus, MapCertificate: (*Store)(nil).MapCertificate}
)

// The queries of the login path.
const (
	qCredential = `SELECT salt, iterations, stored_key, server_key FROM credentials WHERE account = $1 AND hash = $2`
	qStatus     = `SELECT disabled FROM accounts WHERE jid = $1`
	// qUpgrade stores a credential of an existing account unless the one
	// stored has at least as many iterations.
	qUpgrade = `INSERT INTO credentials (account, hash, salt, iterations, stored_key, server_key)
SELECT jid, $2, $3, $4, $5, $6 FROM accounts WHERE jid = $1
ON CONFLICT (account, hash) DO UPDATE SET
	salt = excluded.salt, iterations = excluded.iterations,
	stored_key = excluded.stored_key, server_key = excluded.server_key
WHERE credentials.iterations < excluded.iterations`
	qTouch = `UPDATE accounts SET updated_at = $2 WHERE jid = $1`
)

// hashNames are the names the credentials table stores, as crypto.Hash
// writes them.
var hashNames = map[crypto.Hash]string{
	crypto.SHA1:   "SHA-1",
	crypto.SHA256: "SHA-256",
	crypto.SHA512: "SHA-512",
}

// AllHashes are the hashes of the SCRAM mechanisms, the default of
// AddAccount and SetPassword.
var AllHashes = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA512}

func parseHash(name string) (crypto.Hash, bool) {
	for h, n := range hashNames {
		if n == name {
			return h, true
		}
	}
	return 0, false
}

// canonical checks that account is a canonical bare JID with a localpart.
func canonical(account string) (jid.JID, error) {
	j, err := jid.Parse(account)
	if err != nil || j.Localpart() == "" || j.Resourcepart() != "" || j.String() != account {
		return jid.JID{}, ErrInvalidJID
	}
	return j, nil
}

// Credential implements scram.Store: the credential of account (a canonical
// bare JID, the form features looks accounts up by) for hash h. It returns
// an error wrapping scram.ErrUnknownUser when there is no such account or no
// credential for h, or when account is not a canonical bare JID. A disabled
// account's credential is returned like any other: the server verifies it
// and then AccountStatus refuses the login, so that a disabled account cannot
// be told apart from an enabled one before the password is proved. Any other
// error (the database is unreachable, a credential is corrupt) makes the
// login fail with <temporary-auth-failure/>.
func (s *Store) Credential(ctx context.Context, account string, h crypto.Hash) (scram.Credential, error) {
	name, ok := hashNames[h]
	if !ok {
		return scram.Credential{}, fmt.Errorf("%w: no credentials for hash %v", scram.ErrUnknownUser, h)
	}
	if _, err := canonical(account); err != nil {
		return scram.Credential{}, fmt.Errorf("%w: %w", scram.ErrUnknownUser, err)
	}
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	var c scram.Credential
	err := s.credential.QueryRowContext(ctx, account, name).Scan(&c.Salt, &c.Iterations, &c.StoredKey, &c.ServerKey)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return scram.Credential{}, scram.ErrUnknownUser
	case err != nil:
		return scram.Credential{}, s.failed("credential", err)
	}
	if len(c.Salt) == 0 || c.Iterations < 1 || len(c.StoredKey) != h.Size() || len(c.ServerKey) != h.Size() {
		return scram.Credential{}, s.failed("credential", fmt.Errorf("corrupt %s credential of %s", name, account))
	}
	return c, nil
}

// SetCredential implements features.CredentialUpdater, which the server
// calls after a PLAIN login to bring the account's credentials up to its
// configuration. It stores c for hash h of an existing account (else
// ErrNoAccount) when the account has no credential for h or one with fewer
// iterations than c; otherwise it changes nothing and returns ErrNotUpgrade.
// That rule is what keeps a password change safe from a PLAIN login with
// the old password that was being verified at the same moment: its upgrade
// cannot overwrite the new credentials as long as SetPassword gave every
// enabled hash at least the server's iteration count (xmppauthctl's defaults
// do). c must have a salt, at least scram.MinIterations iterations and keys
// of h's size.
func (s *Store) SetCredential(ctx context.Context, account string, h crypto.Hash, c scram.Credential) error {
	name, ok := hashNames[h]
	if !ok {
		return fmt.Errorf("sqlstore: unsupported hash %v", h)
	}
	if _, err := canonical(account); err != nil {
		return err
	}
	if len(c.Salt) == 0 || c.Iterations < scram.MinIterations || len(c.StoredKey) != h.Size() || len(c.ServerKey) != h.Size() {
		return fmt.Errorf("sqlstore: unusable %s credential (salt %d bytes, %d iterations, keys %d and %d bytes)",
			name, len(c.Salt), c.Iterations, len(c.StoredKey), len(c.ServerKey))
	}
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, qUpgrade, account, name, c.Salt, c.Iterations, c.StoredKey, c.ServerKey)
		if err != nil {
			return err
		}
		if err := mustAffect(res); errors.Is(err, ErrNoAccount) {
			return s.whyUnchanged(ctx, tx, account) // no account, or not an upgrade
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qTouch, account, s.now())
		return err
	})
	if errors.Is(err, ErrNoAccount) || errors.Is(err, ErrNotUpgrade) {
		return err
	}
	if err != nil {
		return s.failed("set credential", err)
	}
	return nil
}

// whyUnchanged tells an absent account from a credential that is no
// upgrade.
func (s *Store) whyUnchanged(ctx context.Context, tx *sql.Tx, account string) error {
	var disabled bool
	err := tx.QueryRowContext(ctx, qStatus, account).Scan(&disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNoAccount
	case err != nil:
		return err
	}
	return ErrNotUpgrade
}

// AccountStatus is a features.Config.AccountStatus callback: it refuses a
// disabled account with features.ErrAccountDisabled (<account-disabled/>)
// and an account that does not exist (any more) with an error wrapping
// features.ErrNotAuthorized and ErrNoAccount (<not-authorized/>). A database
// error is returned as it is, so that the login fails closed with
// <temporary-auth-failure/>.
func (s *Store) AccountStatus(ctx context.Context, _ features.ConnMetadata, identity jid.JID) error {
	disabled, err := s.disabled(ctx, identity.Bare().String())
	switch {
	case errors.Is(err, ErrNoAccount):
		return fmt.Errorf("%w: %w", features.ErrNotAuthorized, err)
	case err != nil:
		return err
	case disabled:
		return features.ErrAccountDisabled
	}
	return nil
}

// disabled reports whether account is disabled; ErrNoAccount when it does
// not exist.
func (s *Store) disabled(ctx context.Context, account string) (bool, error) {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	var disabled bool
	err := s.status.QueryRowContext(ctx, account).Scan(&disabled)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, ErrNoAccount
	case err != nil:
		return false, s.failed("account status", err)
	}
	return disabled, nil
}

// maxCertificateIdentities caps the id-on-xmppAddr values of one
// certificate that are looked up.
const maxCertificateIdentities = 16

// MapCertificate is a features.Config.MapCertificate callback for EXTERNAL:
// the id-on-xmppAddr identities of the certificate (RFC 6120 §13.7.1.4) in
// the stream's domain that are accounts of this store. Enabled accounts
// come first: when any of the certificate's accounts is enabled, only the
// enabled ones are returned (so that a disabled one does not make the choice
// ambiguous); when all are disabled, they are returned so that AccountStatus
// answers <account-disabled/>. No account at all gives none (the server then
// answers <not-authorized/>); a database error fails the login closed.
func (s *Store) MapCertificate(ctx context.Context, conn features.ConnMetadata, cert *x509.Certificate) ([]jid.JID, error) {
	domain := conn.Domain()
	var enabled, disabled []jid.JID
	seen := make(map[string]bool)
	for _, addr := range xmppcert.Addrs(cert) {
		if len(seen) == maxCertificateIdentities {
			break
		}
		j, err := jid.Parse(addr)
		if err != nil || j.Localpart() == "" || j.Resourcepart() != "" || !j.Domain().Equal(domain) || seen[j.String()] {
			continue
		}
		seen[j.String()] = true
		off, err := s.disabled(ctx, j.String())
		switch {
		case errors.Is(err, ErrNoAccount):
		case err != nil:
			return nil, err
		case off:
			disabled = append(disabled, j)
		default:
			enabled = append(enabled, j)
		}
	}
	if len(enabled) > 0 {
		return enabled, nil
	}
	return disabled, nil
}

// inTx runs f in a transaction, committed when f returns nil. Every
// transaction of the store starts with a write, so that SQLite takes the
// write lock (waiting for it) before reading anything.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
