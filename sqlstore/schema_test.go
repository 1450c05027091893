package sqlstore

import (
	"crypto"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"
)

// versions lists the recorded schema versions.
func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// tableExists probes for a table with a query both dialects accept.
func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	_, err := db.ExecContext(t.Context(), `SELECT 1 FROM `+name+` WHERE 1 = 0`)
	return err == nil
}

// The migration mechanism, with fake later versions: an empty database (v0)
// is brought to v1; v1 to a fake v2 that adds a column, keeping the data; a
// fake v3 that fails halfway leaves v2 as it was; a database newer than the
// store knows is refused.
func TestMigrations(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		s := b.open(t, Options{})
		db := s.DB()
		if got := versions(t, db); !slices.Equal(got, []int{1}) {
			t.Fatalf("fresh database at versions %v", got)
		}
		for _, table := range []string{"accounts", "credentials", "schema_version"} {
			if !tableExists(t, db, table) {
				t.Errorf("no table %s", table)
			}
		}
		if err := s.AddAccount(ctx, mustJID(t, "alice@example.com"), "alice-secret", testIterations, crypto.SHA256); err != nil {
			t.Fatal(err)
		}

		// Opening again changes nothing.
		if _, err := New(ctx, db, b.dialect, Options{}); err != nil {
			t.Fatal(err)
		}
		if got := versions(t, db); !slices.Equal(got, []int{1}) {
			t.Fatalf("after a second open: versions %v", got)
		}

		v2 := migration{
			version:  2,
			sqlite:   []string{`ALTER TABLE accounts ADD COLUMN note TEXT NOT NULL DEFAULT ''`},
			postgres: []string{`ALTER TABLE accounts ADD COLUMN note TEXT NOT NULL DEFAULT ''`},
		}
		withV2 := append(slices.Clone(migrations), v2)
		for range 2 { // the second run must not apply v2 again
			if err := migrate(ctx, db, b.dialect, withV2); err != nil {
				t.Fatal(err)
			}
		}
		if got := versions(t, db); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("after v2: versions %v", got)
		}
		var note string
		if err := db.QueryRowContext(ctx, `SELECT note FROM accounts WHERE jid = $1`, "alice@example.com").Scan(&note); err != nil {
			t.Fatalf("v2's column with v1's row: %v", err)
		}
		checkPassword(t, s, "alice@example.com", "alice-secret", crypto.SHA256)

		broken := migration{
			version:  3,
			sqlite:   []string{`CREATE TABLE half_done (x INTEGER)`, `ALTER TABLE no_such_table ADD COLUMN y INTEGER`},
			postgres: []string{`CREATE TABLE half_done (x INTEGER)`, `ALTER TABLE no_such_table ADD COLUMN y INTEGER`},
		}
		if err := migrate(ctx, db, b.dialect, append(slices.Clone(withV2), broken)); err == nil {
			t.Fatal("a failing migration reported success")
		}
		if got := versions(t, db); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("after the failed v3: versions %v", got)
		}
		if tableExists(t, db, "half_done") {
			t.Error("the failed migration's first statement was kept")
		}

		// This store knows version 1 only.
		if _, err := New(ctx, db, b.dialect, Options{}); !errors.Is(err, ErrSchemaTooNew) {
			t.Fatalf("opening a v2 database with a v1 store: %v", err)
		}
		// The store that refused left it alone.
		if got := versions(t, db); !slices.Equal(got, []int{1, 2}) {
			t.Fatalf("after the refusal: versions %v", got)
		}
	})
}

// Servers starting at once on a fresh database migrate it once.
func TestConcurrentMigration(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(t.Context(), b.dialect, b.dsn, Options{})
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		s := b.open(t, Options{})
		if got := versions(t, s.DB()); !slices.Equal(got, []int{1}) {
			t.Fatalf("versions %v", got)
		}
	})
}
