package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SchemaVersion is the schema version this package creates and uses.
const SchemaVersion = 1

// migration brings a database from version-1 to version, in one
// transaction together with the schema_version row that records it.
type migration struct {
	version  int
	sqlite   []string
	postgres []string
}

func (m migration) statements(d Dialect) []string {
	if d == Postgres {
		return m.postgres
	}
	return m.sqlite
}

// migrations are applied in order to a database whose version is lower.
// Never edit a released migration: append a new one and bump SchemaVersion.
var migrations = []migration{
	{
		version: 1,
		sqlite: []string{
			`CREATE TABLE accounts (
	jid        TEXT    NOT NULL PRIMARY KEY,
	domain     TEXT    NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
	created_at TEXT    NOT NULL,
	updated_at TEXT    NOT NULL
) STRICT`,
			`CREATE INDEX accounts_domain ON accounts (domain)`,
			`CREATE TABLE credentials (
	account    TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	hash       TEXT    NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256', 'SHA-512')),
	salt       BLOB    NOT NULL CHECK (length(salt) > 0),
	iterations INTEGER NOT NULL CHECK (iterations > 0),
	stored_key BLOB    NOT NULL,
	server_key BLOB    NOT NULL,
	PRIMARY KEY (account, hash)
) STRICT`,
		},
		postgres: []string{
			`CREATE TABLE accounts (
	jid        TEXT        NOT NULL PRIMARY KEY,
	domain     TEXT        NOT NULL,
	disabled   BOOLEAN     NOT NULL DEFAULT FALSE,
	created_at TIMESTAMPTZ NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL
)`,
			`CREATE INDEX accounts_domain ON accounts (domain)`,
			`CREATE TABLE credentials (
	account    TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
	hash       TEXT    NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256', 'SHA-512')),
	salt       BYTEA   NOT NULL CHECK (length(salt) > 0),
	iterations INTEGER NOT NULL CHECK (iterations > 0),
	stored_key BYTEA   NOT NULL,
	server_key BYTEA   NOT NULL,
	PRIMARY KEY (account, hash)
)`,
		},
	},
}

// schemaVersionDDL creates the table that records each applied migration;
// the schema's version is its largest version.
var schemaVersionDDL = map[Dialect]string{
	SQLite:   `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL) STRICT`,
	Postgres: `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
}

// migrationLock is the key of the PostgreSQL advisory lock that serialises
// the migrations of servers starting at once ("xmppauth" in ASCII).
const migrationLock = 0x786d707061757468

// migrate brings db to the last of ms, all in one transaction on one
// connection: a failing migration leaves the database as it was. Servers
// starting together wait for each other (SQLite: BEGIN IMMEDIATE takes the
// write lock; PostgreSQL: an advisory lock), so each migration runs once.
func migrate(ctx context.Context, db *sql.DB, d Dialect, ms []migration) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: connecting: %w", err)
	}
	defer conn.Close()
	begin := []string{"BEGIN IMMEDIATE"}
	if d == Postgres {
		begin = []string{"BEGIN", fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock)}
	}
	for _, q := range begin {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			if q != begin[0] {
				conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			}
			return fmt.Errorf("sqlstore: starting the schema migration: %w", err)
		}
	}
	committed := false
	defer func() {
		if !committed {
			// Also after a context that ended: a transaction left open
			// would keep the lock.
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, schemaVersionDDL[d]); err != nil {
		return fmt.Errorf("sqlstore: creating schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("sqlstore: reading schema_version: %w", err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	if current > latest {
		return fmt.Errorf("%w: version %d, this store knows up to %d", ErrSchemaTooNew, current, latest)
	}
	stamp := timeArg(d, time.Now())
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		for _, q := range m.statements(d) {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("sqlstore: migration to version %d: %w", m.version, err)
			}
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)`, m.version, stamp); err != nil {
			return fmt.Errorf("sqlstore: recording version %d: %w", m.version, err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("sqlstore: committing the schema migration: %w", err)
	}
	committed = true
	return nil
}
