package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/sqlstore"
)

// A host opens the store once and hands it to package features; accounts
// are managed on the same store (or with xmppauthctl).
func Example() {
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := sqlstore.Open(ctx, sqlstore.SQLite, filepath.Join(dir, "accounts.db"), sqlstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// The account a login as "Juliet" on example.net looks up.
	juliet, err := features.Account("Juliet", "example.net")
	if err != nil {
		log.Fatal(err)
	}
	if err := store.AddAccount(ctx, juliet, "correct horse battery staple", sqlstore.DefaultIterations); err != nil {
		log.Fatal(err)
	}

	_, err = features.New(features.Config{
		Domains:        []string{"example.net"},
		Store:          store,
		AccountStatus:  store.AccountStatus,
		MapCertificate: store.MapCertificate,
		Iterations:     sqlstore.DefaultIterations,
	})
	if err != nil {
		log.Fatal(err)
	}

	accounts, err := store.List(ctx, "example.net")
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range accounts {
		fmt.Println(a.JID, a.Hashes, a.Iterations, a.Disabled)
	}
	// Output:
	// juliet@example.net [SHA-1 SHA-256 SHA-512] 10000 false
}
