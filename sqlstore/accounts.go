package sqlstore

import (
	"context"
	"crypto"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/scram"
)

// Account is an account as List and Account report it: never a credential.
type Account struct {
	// JID is the account's bare JID.
	JID jid.JID
	// Disabled accounts cannot log in (<account-disabled/>).
	Disabled bool
	// Hashes are the hashes it has credentials for, in the order SHA-1,
	// SHA-256, SHA-512.
	Hashes []crypto.Hash
	// Iterations is the smallest iteration count of its credentials (0 when
	// it has none): what a PLAIN login upgrades when the server is
	// configured with more.
	Iterations int
	// Created and Updated are when the account was added and last changed
	// (password, credential upgrade, disabled or enabled), in UTC.
	Created time.Time
	Updated time.Time
}

const (
	qAddAccount = `INSERT INTO accounts (jid, domain, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (jid) DO NOTHING`
	qAddCredential     = `INSERT INTO credentials (account, hash, salt, iterations, stored_key, server_key) VALUES ($1, $2, $3, $4, $5, $6)`
	qDeleteCredentials = `DELETE FROM credentials WHERE account = $1`
	qSetDisabled       = `UPDATE accounts SET disabled = $2, updated_at = $3 WHERE jid = $1`
	qDeleteAccount     = `DELETE FROM accounts WHERE jid = $1`
	qListColumns       = `SELECT a.jid, a.disabled, a.created_at, a.updated_at, c.hash, c.iterations
FROM accounts a LEFT JOIN credentials c ON c.account = a.jid `
	qListAll    = qListColumns + `ORDER BY a.jid, c.hash`
	qListDomain = qListColumns + `WHERE a.domain = $1 ORDER BY a.jid, c.hash`
	qGetAccount = qListColumns + `WHERE a.jid = $1 ORDER BY c.hash`
)

// checkAccount returns the key of a management method's account.
func checkAccount(account jid.JID) (string, error) {
	if account.Localpart() == "" || account.Resourcepart() != "" || account.Domainpart() == "" {
		return "", ErrInvalidJID
	}
	return account.String(), nil
}

// derive computes the credentials of password for hashes (AllHashes when
// none), each with its own random salt.
func derive(password string, iterations int, hashes []crypto.Hash) (map[crypto.Hash]scram.Credential, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	if len(hashes) == 0 {
		hashes = AllHashes
	}
	creds := make(map[crypto.Hash]scram.Credential, len(hashes))
	for _, h := range hashes {
		if _, ok := hashNames[h]; !ok {
			return nil, fmt.Errorf("sqlstore: unsupported hash %v", h)
		}
		c, err := scram.NewCredential(h, password, nil, iterations)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
		creds[h] = c
	}
	return creds, nil
}

func (s *Store) insertCredentials(ctx context.Context, tx *sql.Tx, account string, creds map[crypto.Hash]scram.Credential) error {
	for _, h := range AllHashes {
		c, ok := creds[h]
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, qAddCredential, account, hashNames[h], c.Salt, c.Iterations, c.StoredKey, c.ServerKey); err != nil {
			return err
		}
	}
	return nil
}

// AddAccount creates an enabled account with credentials of password for
// each of hashes (AllHashes when none) at iterations (DefaultIterations when
// 0; at least scram.MinIterations). The password itself is not stored. It
// returns ErrAccountExists when the account exists, ErrInvalidJID unless
// account is a bare JID with a localpart. Build the JID with
// features.Account(username, domain) to get the account a login with that
// username looks up.
func (s *Store) AddAccount(ctx context.Context, account jid.JID, password string, iterations int, hashes ...crypto.Hash) error {
	return s.writePassword(ctx, "add account", ErrAccountExists, account, password, iterations, hashes,
		func(ctx context.Context, tx *sql.Tx, key string) error {
			res, err := tx.ExecContext(ctx, qAddAccount, key, account.Domainpart(), false, s.now())
			if err == nil {
				if err = mustAffect(res); errors.Is(err, ErrNoAccount) {
					err = ErrAccountExists // the insert did nothing
				}
			}
			return err
		})
}

// SetPassword replaces all the credentials of an existing account with
// those of password for hashes (AllHashes when none) at iterations
// (DefaultIterations when 0): credentials for other hashes are deleted, so
// that the old password opens nothing. ErrNoAccount when it does not exist.
func (s *Store) SetPassword(ctx context.Context, account jid.JID, password string, iterations int, hashes ...crypto.Hash) error {
	return s.writePassword(ctx, "set password", ErrNoAccount, account, password, iterations, hashes,
		func(ctx context.Context, tx *sql.Tx, key string) error {
			if err := s.touch(ctx, tx, key); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, qDeleteCredentials, key)
			return err
		})
}

// writePassword derives the credentials of password and, in one
// transaction bounded by the query timeout, runs prepare for the account
// and inserts them. The sentinel
// error (the account exists, or does not) is returned as is; other errors
// are store failures of op.
func (s *Store) writePassword(ctx context.Context, op string, sentinel error, account jid.JID, password string,
	iterations int, hashes []crypto.Hash, prepare func(ctx context.Context, tx *sql.Tx, key string) error) error {
	key, err := checkAccount(account)
	if err != nil {
		return err
	}
	creds, err := derive(password, iterations, hashes)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := prepare(ctx, tx, key); err != nil {
			return err
		}
		return s.insertCredentials(ctx, tx, key, creds)
	})
	switch {
	case errors.Is(err, sentinel):
		return sentinel
	case err != nil:
		return s.failed(op, err)
	}
	return nil
}

// touch stamps the account's updated time, ErrNoAccount when it does not
// exist.
func (s *Store) touch(ctx context.Context, tx *sql.Tx, key string) error {
	res, err := tx.ExecContext(ctx, qTouch, key, s.now())
	if err != nil {
		return err
	}
	return mustAffect(res)
}

// mustAffect turns "no row changed" into ErrNoAccount.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return err
	case n == 0:
		return ErrNoAccount
	}
	return nil
}

// Disable stops the account from logging in (AccountStatus then answers
// <account-disabled/>); its credentials are kept. Sessions already open are
// the host's business. ErrNoAccount when it does not exist.
func (s *Store) Disable(ctx context.Context, account jid.JID) error {
	return s.setDisabled(ctx, account, true)
}

// Enable lets a disabled account log in again. ErrNoAccount when it does not
// exist.
func (s *Store) Enable(ctx context.Context, account jid.JID) error {
	return s.setDisabled(ctx, account, false)
}

func (s *Store) setDisabled(ctx context.Context, account jid.JID, disabled bool) error {
	key, err := checkAccount(account)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, qSetDisabled, key, disabled, s.now())
	if err == nil {
		err = mustAffect(res)
	}
	switch {
	case errors.Is(err, ErrNoAccount):
		return err
	case err != nil:
		return s.failed("set disabled", err)
	}
	return nil
}

// Delete removes the account and its credentials. ErrNoAccount when it does
// not exist.
func (s *Store) Delete(ctx context.Context, account jid.JID) error {
	key, err := checkAccount(account)
	if err != nil {
		return err
	}
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		// The foreign key cascades too; deleting explicitly keeps a
		// database opened without foreign keys (SQLite's default) clean.
		if _, err := tx.ExecContext(ctx, qDeleteCredentials, key); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, qDeleteAccount, key)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
	switch {
	case errors.Is(err, ErrNoAccount):
		return err
	case err != nil:
		return s.failed("delete", err)
	}
	return nil
}

// Account returns one account; ErrNoAccount when it does not exist.
func (s *Store) Account(ctx context.Context, account jid.JID) (Account, error) {
	key, err := checkAccount(account)
	if err != nil {
		return Account{}, err
	}
	accounts, err := s.list(ctx, qGetAccount, key)
	if err != nil {
		return Account{}, err
	}
	if len(accounts) == 0 {
		return Account{}, ErrNoAccount
	}
	return accounts[0], nil
}

// List returns the accounts of domain ("" for every domain), ordered by
// JID.
func (s *Store) List(ctx context.Context, domain string) ([]Account, error) {
	if domain == "" {
		return s.list(ctx, qListAll)
	}
	d, err := features.CanonicalDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %q is not a domain: %w", domain, err)
	}
	return s.list(ctx, qListDomain, d)
}

func (s *Store) list(ctx context.Context, query string, args ...any) ([]Account, error) {
	ctx, cancel := s.queryContext(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.failed("list", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var (
			key              string
			disabled         bool
			created, updated dbTime
			hash             sql.NullString
			iterations       sql.NullInt64
		)
		if err := rows.Scan(&key, &disabled, &created, &updated, &hash, &iterations); err != nil {
			return nil, s.failed("list", err)
		}
		if len(out) == 0 || out[len(out)-1].JID.String() != key {
			j, err := jid.Parse(key)
			if err != nil {
				return nil, s.failed("list", fmt.Errorf("stored account %q: %w", key, err))
			}
			out = append(out, Account{JID: j, Disabled: disabled, Created: created.t, Updated: updated.t})
		}
		if !hash.Valid {
			continue
		}
		a := &out[len(out)-1]
		if h, ok := parseHash(hash.String); ok {
			a.Hashes = append(a.Hashes, h)
		}
		if n := int(iterations.Int64); a.Iterations == 0 || n < a.Iterations {
			a.Iterations = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.failed("list", err)
	}
	for i := range out {
		slices.Sort(out[i].Hashes)
	}
	return out, nil
}
