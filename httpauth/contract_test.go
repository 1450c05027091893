package httpauth_test

import (
	"testing"

	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/httpauth/storetest"
)

// TestMemStoreContract holds MemStore to the Store contract the Verifier
// relies on, as every other store is.
func TestMemStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, l storetest.Limits, clock *storetest.Clock) httpauth.Store {
		return httpauth.NewMemStore(httpauth.MemStoreConfig{
			MaxPending: l.MaxPending, MaxPendingPerJID: l.MaxPendingPerJID,
			MaxUsed: l.MaxUsed, UsedTTL: config.Duration(l.UsedTTL), MaxNonces: l.MaxNonces,
			Clock: clock,
		})
	})
}
