package saslclient

import (
	"testing"

	"github.com/xmppauth/xmppauth/features"
)

// TestConstantsMatchServer checks the client's private copies against
// their exported home in package features.
func TestConstantsMatchServer(t *testing.T) {
	for _, c := range []struct{ client, server string }{
		{nsSASL, features.NS},
		{nsSASL2, features.NSSASL2},
		{nsBind2, features.NSBind2},
		{nsFAST, features.NSFAST},
		{mechPLAIN, features.PLAIN},
	} {
		if c.client != c.server {
			t.Errorf("client has %q, features has %q", c.client, c.server)
		}
	}
}
