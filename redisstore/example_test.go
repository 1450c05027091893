package redisstore_test

import (
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/redisstore"
	"github.com/xmppauth/xmppauth/throttle"
)

// Every node of a deployment builds the same stores on one Redis, with
// the same Key, and hands them to the packages that need shared state.
func Example() {
	key := []byte("the same 32 secret bytes on every") // from the nodes' shared configuration
	rdb := redis.NewClient(redisstore.ClientOptions("127.0.0.1:6379"))
	defer rdb.Close()
	st, err := redisstore.New(rdb, redisstore.Options{Key: key})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	var router httpauth.Sender // the host's router
	web, err := httpauth.New(httpauth.Config{
		Sender:   router,
		Store:    st.HTTPAuth,
		NonceKey: []byte("the same Digest nonce key, too.."),
		BaseURL:  "https://files.example.net",
	})
	_, _ = web, err
	xep0235, err := oauth.New(oauth.Config{Nonces: st.Nonces})
	_, _ = xep0235, err
	logins, err := throttle.New(throttle.Config{Store: st.Counters})
	_, _ = logins, err
}
