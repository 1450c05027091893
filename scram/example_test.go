package scram_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"log"

	"mellium.im/sasl"

	"github.com/xmppauth/xmppauth/scram"
)

// Derive the credential a server stores for a user: RFC 5802's example user
// with password "pencil".
func ExampleNewCredential() {
	salt, _ := base64.StdEncoding.DecodeString("QSXCR+Q6sek8bf92")
	cred, err := scram.NewCredential(crypto.SHA1, "pencil", salt, scram.MinIterations)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("StoredKey:", base64.StdEncoding.EncodeToString(cred.StoredKey))
	fmt.Println("ServerKey:", base64.StdEncoding.EncodeToString(cred.ServerKey))
	fmt.Println("pencil verifies:", scram.VerifyPassword(crypto.SHA1, cred, "pencil"))
	// Output:
	// StoredKey: 6dlGYMOdZcOPutkcNY8U2g7vK9Y=
	// ServerKey: D+CSWLOshSulAsxiupA+qs2/fTE=
	// pencil verifies: true
}

// Run a SCRAM-SHA-256 exchange against the mellium.im/sasl client. In a real
// server the messages travel base64-encoded in <auth/>, <challenge/>,
// <response/> and <success/> elements, and a failure becomes
// <failure><condition/></failure> with scram.Condition(err).
func Example() {
	store := scram.NewMemoryStore()
	if err := store.SetPassword("juliet", "r0m30myr0m30", scram.MinIterations, crypto.SHA256); err != nil {
		log.Fatal(err)
	}
	srv, err := scram.NewServer(scram.SHA256, scram.Config{
		Store:  store,
		Secret: []byte("a long random secret shared by the cluster"),
	})
	if err != nil {
		log.Fatal(err)
	}

	client := sasl.NewClient(sasl.ScramSha256, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte("juliet"), []byte("r0m30myr0m30"), nil
	}))
	_, msg, err := client.Step(nil) // client-first
	if err != nil {
		log.Fatal(err)
	}

	ex := srv.Start(scram.ChannelBinding{}, nil)
	for {
		out, done, err := ex.Step(context.Background(), msg)
		if err != nil {
			fmt.Println("failure:", scram.Condition(err), string(out))
			return
		}
		if _, msg, err = client.Step(out); err != nil { // the client checks v= too
			log.Fatal(err)
		}
		if done {
			break
		}
	}
	fmt.Println("authenticated:", ex.Username())
	// Output: authenticated: juliet
}

// An unknown user fails exactly like a wrong password.
func ExampleServerError() {
	srv, err := scram.NewServer(scram.SHA1, scram.Config{Store: scram.NewMemoryStore()})
	if err != nil {
		log.Fatal(err)
	}
	client := sasl.NewClient(sasl.ScramSha1, sasl.Credentials(func() ([]byte, []byte, []byte) {
		return []byte("romeo"), []byte("guess"), nil
	}))
	_, clientFirst, _ := client.Step(nil)
	ex := srv.Start(scram.ChannelBinding{}, nil)
	serverFirst, _, _ := ex.Step(context.Background(), clientFirst)
	_, clientFinal, _ := client.Step(serverFirst)
	out, _, err := ex.Step(context.Background(), clientFinal)
	fmt.Println(string(out))
	fmt.Println(scram.ServerError(err), scram.Condition(err))
	// Output:
	// e=invalid-proof
	// invalid-proof not-authorized
}
