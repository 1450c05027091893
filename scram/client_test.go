package scram_test

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/subtle"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/xmppauth/xmppauth/scram"
)

// testClient is a minimal SCRAM client for tests and benchmarks: it computes
// client-final for a given server-first.
type testClient struct {
	mech     scram.Mechanism
	password string
	gs2      string // e.g. "n,,"
	cbData   []byte
	bare     string // client-first-message-bare
	ext      string // extensions to put between r= and p=, without leading ","
}

func (c testClient) first() string { return c.gs2 + c.bare }

// final returns client-final for serverFirst and the server-final the client
// expects.
func (c testClient) final(t testing.TB, serverFirst string) (clientFinal, serverFinal string) {
	t.Helper()
	var nonce, salt string
	iter := 0
	for _, a := range strings.Split(serverFirst, ",") {
		switch {
		case strings.HasPrefix(a, "r="):
			nonce = a[2:]
		case strings.HasPrefix(a, "s="):
			salt = a[2:]
		case strings.HasPrefix(a, "i="):
			iter, _ = strconv.Atoi(a[2:])
		}
	}
	h := c.mech.Hash()
	rawSalt, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(h.New, c.password, rawSalt, iter, h.Size())
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, s string) []byte {
		m := hmac.New(h.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sum := h.New()
	sum.Write(clientKey)
	storedKey := sum.Sum(nil)
	withoutProof := "c=" + base64.StdEncoding.EncodeToString(append([]byte(c.gs2), c.cbData...)) + ",r=" + nonce
	if c.ext != "" {
		withoutProof += "," + c.ext
	}
	auth := c.bare + "," + serverFirst + "," + withoutProof
	proof := make([]byte, h.Size())
	subtle.XORBytes(proof, clientKey, mac(storedKey, auth))
	serverSig := mac(mac(salted, "Server Key"), auth)
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof),
		"v=" + base64.StdEncoding.EncodeToString(serverSig)
}
