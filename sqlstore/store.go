package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/internal/floodlog"
)

// Dialect is the SQL dialect of a database: which DDL the store creates and
// how it binds timestamps. Every query is written once, with $n
// placeholders, in SQL both dialects accept.
type Dialect string

// The supported dialects. Open uses the driver modernc.org/sqlite (pure Go,
// no cgo) for SQLite and github.com/jackc/pgx/v5/stdlib for PostgreSQL.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

func (d Dialect) valid() bool { return d == SQLite || d == Postgres }

// driverName is the database/sql driver Open uses for the dialect.
func (d Dialect) driverName() string {
	if d == Postgres {
		return "pgx"
	}
	return "sqlite"
}

// Defaults used for the zero values of Options, and by AddAccount and
// SetPassword for a zero iteration count.
const (
	// DefaultQueryTimeout bounds each query (a whole transaction for the
	// management methods) whose context has no earlier deadline.
	DefaultQueryTimeout = 5 * time.Second
	// DefaultMaxOpenConns caps the connections to the database.
	DefaultMaxOpenConns = 10
	// DefaultIterations is the PBKDF2 iteration count of new credentials
	// (Prosody's default; RFC 7677 asks for at least 4096). Give the server
	// the same count (features.Config.Iterations): unknown users are shown
	// the configured count, and PLAIN logins upgrade credentials below it.
	DefaultIterations = 10_000
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// QueryTimeout bounds each query whose context has no earlier deadline,
	// so that an unreachable database fails a login instead of holding it
	// until the login's own deadline. Zero: DefaultQueryTimeout.
	QueryTimeout time.Duration
	// MaxOpenConns caps the store's connections (Open only; New leaves the
	// caller's pool alone). Zero: DefaultMaxOpenConns.
	MaxOpenConns int
	// Logger receives one WARN line per failed query (rate-limited: an
	// outage during a login flood does not fill the disk). Nil:
	// slog.Default().
	Logger *slog.Logger
	// Clock stamps accounts' created and updated times. Nil: the system
	// clock.
	Clock config.Clock
}

// Errors of the store, for errors.Is.
var (
	// ErrNoAccount: the account does not exist.
	ErrNoAccount = errors.New("sqlstore: no such account")
	// ErrAccountExists: AddAccount of an account that exists.
	ErrAccountExists = errors.New("sqlstore: account already exists")
	// ErrInvalidJID: the account is not a bare JID with a localpart, in
	// the canonical form of RFC 7622 (what jid.Parse(s).String() gives).
	ErrInvalidJID = errors.New("sqlstore: account must be a canonical bare JID (local@domain)")
	// ErrNotUpgrade: SetCredential of a credential with no more iterations
	// than the one stored; see Store.SetCredential.
	ErrNotUpgrade = errors.New("sqlstore: the stored credential has at least as many iterations")
	// ErrSchemaTooNew: the database was migrated by a newer version of this
	// package; this one refuses to touch it.
	ErrSchemaTooNew = errors.New("sqlstore: database schema is newer than this version supports")
)

// Store keeps accounts and their SCRAM credentials in a SQL database. It is
// safe for concurrent use; one Store (one connection pool) serves every
// login of a process. See the package documentation for the schema.
type Store struct {
	db      *sql.DB
	dialect Dialect
	owned   bool // Open opened db, so Close closes it
	timeout time.Duration
	log     *floodlog.Logger
	clock   config.Clock

	credential *sql.Stmt // the login path's queries, prepared once
	status     *sql.Stmt
}

// Open opens the database (creating an SQLite file, mode 0600, when it does
// not exist), creates or migrates the schema, and returns the Store; Close
// closes the database. For SQLite, dsn is a file name (or a "file:" URI) to
// which Open adds the settings the store needs: WAL journal, foreign keys on,
// a busy timeout of Options.QueryTimeout and immediate transactions.
// ":memory:" is a private in-memory database on one connection, for tests.
// For PostgreSQL, dsn is a libpq connection string or URL
// ("postgres://user@host/db"); the password may come from PGPASSWORD or
// ~/.pgpass instead of the DSN.
func Open(ctx context.Context, dialect Dialect, dsn string, opts Options) (*Store, error) {
	if !dialect.valid() {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q (want %q or %q)", dialect, SQLite, Postgres)
	}
	opts = opts.withDefaults()
	memory := false
	if dialect == SQLite {
		var err error
		if dsn, memory, err = sqliteDSN(dsn, opts.QueryTimeout); err != nil {
			return nil, err
		}
	}
	db, err := sql.Open(dialect.driverName(), dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if memory {
		// Every connection to ":memory:" is a database of its own.
		db.SetMaxOpenConns(1)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(opts.MaxOpenConns)
		db.SetMaxIdleConns(opts.MaxOpenConns)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	s, err := newStore(ctx, db, dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New returns a Store on a database the caller opened (with any driver for
// the dialect), creating or migrating the schema. The caller keeps the pool:
// Close does not close db. For SQLite, open it with foreign keys on and a
// busy timeout, in WAL mode (as Open does); the store stays correct without
// them (it deletes credentials itself and starts every transaction with a
// write) but concurrent writers then fail instead of waiting.
func New(ctx context.Context, db *sql.DB, dialect Dialect, opts Options) (*Store, error) {
	if !dialect.valid() {
		return nil, fmt.Errorf("sqlstore: unknown dialect %q (want %q or %q)", dialect, SQLite, Postgres)
	}
	return newStore(ctx, db, dialect, opts.withDefaults())
}

func (o Options) withDefaults() Options {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
	}
	return o
}

func newStore(ctx context.Context, db *sql.DB, dialect Dialect, opts Options) (*Store, error) {
	s := &Store{
		db:      db,
		dialect: dialect,
		timeout: opts.QueryTimeout,
		log:     floodlog.New(opts.Logger, "sqlstore", nil),
		clock:   config.ClockOr(opts.Clock),
	}
	ctx, cancel := context.WithTimeout(ctx, 4*s.timeout)
	defer cancel()
	if err := migrate(ctx, db, dialect, migrations); err != nil {
		return nil, err
	}
	var err error
	if s.credential, err = db.PrepareContext(ctx, qCredential); err != nil {
		return nil, fmt.Errorf("sqlstore: preparing: %w", err)
	}
	if s.status, err = db.PrepareContext(ctx, qStatus); err != nil {
		s.credential.Close()
		return nil, fmt.Errorf("sqlstore: preparing: %w", err)
	}
	return s, nil
}

// sqliteDSN adds the store's settings to an SQLite DSN and creates a
// missing database file with mode 0600 (it holds password verifiers; SQLite
// gives its -wal and -shm files the database's mode).
func sqliteDSN(dsn string, busy time.Duration) (string, bool, error) {
	name, _, _ := strings.Cut(dsn, "?")
	memory := name == ":memory:" || strings.Contains(dsn, "mode=memory")
	if name == "" {
		return "", false, errors.New("sqlstore: empty SQLite file name")
	}
	if !memory && !strings.HasPrefix(name, "file:") {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			f.Close()
		case !errors.Is(err, os.ErrExist):
			return "", false, fmt.Errorf("sqlstore: %w", err)
		}
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	params := []string{
		"_pragma=foreign_keys(1)",
		"_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")",
		"_txlock=immediate",
	}
	if !memory {
		params = append(params, "_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)")
	}
	return dsn + sep + strings.Join(params, "&"), memory, nil
}

// ParseSource splits a data source written "sqlite:PATH",
// "postgres:DSN" (a libpq key=value string) or a PostgreSQL URL
// ("postgres://…", "postgresql://…") into what Open takes.
func ParseSource(source string) (Dialect, string, error) {
	if strings.HasPrefix(source, "postgres://") || strings.HasPrefix(source, "postgresql://") {
		return Postgres, source, nil
	}
	kind, rest, ok := strings.Cut(source, ":")
	switch {
	case !ok || rest == "":
		return "", "", fmt.Errorf("sqlstore: data source %q is not sqlite:PATH or postgres:DSN", redact(source))
	case kind == string(SQLite):
		return SQLite, rest, nil
	case kind == string(Postgres) || kind == "postgresql":
		return Postgres, rest, nil
	}
	return "", "", fmt.Errorf("sqlstore: unknown database kind %q (want sqlite or postgres)", kind)
}

// redact keeps what may be a password out of an error: only the kind is
// shown.
func redact(source string) string {
	if kind, _, ok := strings.Cut(source, ":"); ok {
		return kind + ":…"
	}
	if len(source) > 16 {
		return source[:16] + "…"
	}
	return source
}

// Close releases the prepared statements and, when Open opened the
// database, closes it.
func (s *Store) Close() error {
	s.credential.Close()
	s.status.Close()
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// DB returns the store's database, for health checks and backups.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// queryContext bounds one operation by the store's query timeout.
func (s *Store) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// failed logs a database error (rate-limited) and returns it wrapped with
// the operation's name. A caller that gave up (its context canceled: the
// client went away) is no database problem and is not logged; a deadline
// that passed is.
func (s *Store) failed(op string, err error) error {
	if !errors.Is(err, context.Canceled) {
		s.log.Log(slog.LevelWarn, "sqlstore: query failed", "op", op, "dialect", string(s.dialect), "err", err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// now is the time stamped on accounts, in the dialect's form.
func (s *Store) now() any { return timeArg(s.dialect, s.clock.Now()) }

// timeArg is t in the form the dialect stores: a time.Time for PostgreSQL
// (timestamptz), ISO 8601 text in UTC for SQLite.
func timeArg(d Dialect, t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if d == SQLite {
		return t.Format(sqliteTimeFormat)
	}
	return t
}

// sqliteTimeFormat is how timestamps are stored in SQLite: fixed width, so
// that text order is time order, and understood by SQLite's date functions.
const sqliteTimeFormat = "2006-01-02T15:04:05.000000Z"

// dbTime scans a timestamp in either dialect's form.
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(v any) error {
	switch x := v.(type) {
	case time.Time:
		d.t = x.UTC()
		return nil
	case string:
		return d.parse(x)
	case []byte:
		return d.parse(string(x))
	}
	return fmt.Errorf("sqlstore: timestamp of type %T", v)
}

func (d *dbTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("sqlstore: timestamp: %w", err)
	}
	d.t = t.UTC()
	return nil
}
