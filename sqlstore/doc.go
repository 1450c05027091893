// Package sqlstore keeps XMPP accounts and their SCRAM credentials in a SQL
// database, for package features: a scram.Store (SCRAM and PLAIN look
// credentials up in it), a features.CredentialUpdater (PLAIN logins upgrade
// credentials), the features.Config.AccountStatus and MapCertificate
// (EXTERNAL) callbacks, and account management (AddAccount, SetPassword,
// Disable, Enable, Delete, Account, List; the command xmppauthctl in this
// repository's cmd module does the same from a shell).
//
// It stores what RFC 5802 §3 says a server stores, per account and hash
// (SHA-1, SHA-256 and SHA-512: the SCRAM mechanisms of RFC 5802 and
// RFC 7677): the salt, the iteration count, StoredKey and ServerKey. Never a
// password, nor the SaltedPassword (which is password-equivalent). PLAIN is
// verified against the same credentials, which is also the moment a
// credential can be upgraded (features.Config.Iterations).
//
// Two dialects, each tested against the real database: SQLite through
// modernc.org/sqlite (pure Go, no cgo; one file, one server) and
// PostgreSQL through github.com/jackc/pgx/v5/stdlib (a cluster of servers
// sharing one database):
//
//	store, err := sqlstore.Open(ctx, sqlstore.SQLite, "/var/lib/xmppauth/accounts.db", sqlstore.Options{})
//	// or sqlstore.Open(ctx, sqlstore.Postgres, "postgres://xmppauth@db.internal/xmppauth", sqlstore.Options{})
//	auth, err := features.New(features.Config{
//		Domains:        []string{"example.net"},
//		Store:          store,
//		AccountStatus:  store.AccountStatus,
//		MapCertificate: store.MapCertificate,
//		Iterations:     sqlstore.DefaultIterations, // the count the accounts were given
//	})
//
// # Accounts
//
// Accounts are keyed by their bare JID in canonical form (RFC 7622:
// "juliet@example.com"), exactly as package features looks them up: build
// them with features.Account(username, domain) or jid.Parse. Credential and
// SetCredential refuse any other form (ErrInvalidJID; for Credential that
// is an unknown user). A disabled account keeps its credentials and still
// returns them, so that it cannot be told from an enabled one before the
// password has been proved; AccountStatus then refuses it with
// <account-disabled/>.
//
// # Schema
//
// The store creates its tables when they are missing and migrates older
// versions when it opens a database (Open, New). Each migration runs in one
// transaction with the schema_version row that records it, so a failed
// migration leaves the database as it was; servers starting at once wait
// for each other (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock). A
// database migrated by a newer version is refused (ErrSchemaTooNew). The
// schema is version 1 (SchemaVersion); on PostgreSQL:
//
//	CREATE TABLE schema_version (
//		version    INTEGER     NOT NULL PRIMARY KEY,
//		applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
//	);
//	CREATE TABLE accounts (
//		jid        TEXT        NOT NULL PRIMARY KEY,    -- canonical bare JID
//		domain     TEXT        NOT NULL,                -- its domainpart, for List
//		disabled   BOOLEAN     NOT NULL DEFAULT FALSE,
//		created_at TIMESTAMPTZ NOT NULL,
//		updated_at TIMESTAMPTZ NOT NULL
//	);
//	CREATE INDEX accounts_domain ON accounts (domain);
//	CREATE TABLE credentials (
//		account    TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
//		hash       TEXT    NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256', 'SHA-512')),
//		salt       BYTEA   NOT NULL CHECK (length(salt) > 0),
//		iterations INTEGER NOT NULL CHECK (iterations > 0),
//		stored_key BYTEA   NOT NULL,
//		server_key BYTEA   NOT NULL,
//		PRIMARY KEY (account, hash)
//	);
//
// SQLite has the same tables as STRICT tables with INTEGER (0 or 1) for
// disabled, TEXT in ISO 8601 UTC ("2026-12-01T12:00:00.000000Z") for the
// timestamps and BLOB for the byte columns. Every query is parameterised;
// the login path's two (a credential; an account's disabled flag) are
// prepared once.
//
// # Concurrency and outages
//
// A Store is safe for concurrent use. SetCredential only ever raises a
// credential (a missing hash, or more iterations), in one statement, so
// concurrent PLAIN logins cannot lose an upgrade or write back a weaker
// credential. SQLite runs in WAL mode, so logins keep reading while an
// administrator writes; writers wait for each other up to their deadline.
//
// Every query is bounded by its context and by Options.QueryTimeout. A
// database that is down or unreachable makes Credential, AccountStatus and
// MapCertificate return an error (logged, rate-limited, as WARN
// "sqlstore: query failed"), so the login fails closed with
// <temporary-auth-failure/> by its deadline; database/sql replaces dead
// connections, so logins work again as soon as the database is back.
//
// Left out: other databases (MySQL and others would need their DDL and a
// dialect); caching (a SCRAM login makes two queries, PLAIN four);
// credential expiry (features.ErrCredentialsExpired is never returned);
// ending the sessions of an account that is disabled or deleted (the
// host's job); paging in List; SCRAM-SHA3-512 and SCRAM-SHA-224/384, which
// package scram does not implement. One race is narrowed, not closed: a
// PLAIN login that verified the old password while SetPassword was
// replacing it may still write a credential of the old password for a hash
// that SetPassword did not set, or set with fewer iterations than the
// server is configured with; giving SetPassword every enabled hash at (at
// least) the server's iteration count, as xmppauthctl does by default,
// closes it.
package sqlstore
