package disco_test

import (
	"context"
	"slices"
	"testing"
	"time"

	mdisco "mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"github.com/xmppauth/xmppauth/disco"
	"github.com/xmppauth/xmppauth/httpauth"
	"github.com/xmppauth/xmppauth/internal/xmpptest"
)

func TestNamespacesMatchPackages(t *testing.T) {
	if disco.NSHTTPAuth != httpauth.NS {
		t.Errorf("NSHTTPAuth = %q, httpauth.NS = %q", disco.NSHTTPAuth, httpauth.NS)
	}
}

// TestDiscoInfoQuery asks a server, from a real mellium client session, for
// its disco#info and checks which of our features it lists.
func TestDiscoInfoQuery(t *testing.T) {
	tests := []struct {
		name     string
		features disco.Features
		want     []string
	}{
		{"none", disco.Features{}, nil},
		{"http-auth", disco.Features{HTTPAuth: true}, []string{disco.NSHTTPAuth}},
		{"oauth", disco.Features{OAuth: true}, []string{disco.NSOAuth}},
		{"both", disco.Features{HTTPAuth: true, OAuth: true}, []string{disco.NSHTTPAuth, disco.NSOAuth}},
	}
	ours := []string{disco.NSHTTPAuth, disco.NSOAuth}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serverMux := mux.New(stanza.NSClient, mdisco.Handle(), mux.Feature(tc.features))
			client, _ := xmpptest.Pipe(t, jid.MustParse("juliet@example.net/balcony"), nil, serverMux)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := mdisco.GetInfo(ctx, "", jid.MustParse("example.net"), client)
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, f := range got.Features {
				if slices.Contains(ours, f.Var) {
					listed = append(listed, f.Var)
				}
			}
			slices.Sort(listed)
			if !slices.Equal(listed, tc.want) {
				t.Errorf("advertised %q, want %q", listed, tc.want)
			}
		})
	}
}

func TestOtherNodesEmpty(t *testing.T) {
	n := 0
	_ = disco.Features{HTTPAuth: true, OAuth: true}.ForFeatures("some-node", func(info.Feature) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d features on a non-empty node", n)
	}
}
