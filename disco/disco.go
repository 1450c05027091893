// Package disco advertises, through XEP-0030 Service Discovery, the features
// of this module that a host has enabled: XEP-0070
// (http://jabber.org/protocol/http-auth) and XEP-0235 (urn:xmpp:oauth:0).
//
// Features plugs into mellium's disco handler as an info.FeatureIter, so the
// host's existing disco#info answer includes them:
//
//	m := mux.New(stanza.NSClient, disco.Handle(), mux.Feature(disco.Features{HTTPAuth: true}))
//
// A disabled feature is never advertised. Only the entity's own info (the
// empty node) carries them. The stream-level features of this module
// (SASL mechanisms, XEP-0440, XEP-0474) are advertised in stream features,
// not in service discovery, and are not listed here; neither are disco#items
// nor identities, which stay the host's.
package disco

import (
	"mellium.im/xmpp/disco/info"
)

// The namespaces this package can advertise.
const (
	// NSHTTPAuth is XEP-0070's namespace.
	NSHTTPAuth = "http://jabber.org/protocol/http-auth"
	// NSOAuth is XEP-0235's namespace.
	NSOAuth = "urn:xmpp:oauth:0"
)

// Features is the set of enabled features to advertise. The zero value
// advertises nothing.
type Features struct {
	// HTTPAuth advertises XEP-0070 (the entity can confirm HTTP requests).
	HTTPAuth bool
	// OAuth advertises XEP-0235 (the entity accepts OAuth-signed stanzas).
	OAuth bool
}

var _ info.FeatureIter = Features{}

// ForFeatures implements info.FeatureIter: it calls f for each enabled
// feature when node is empty.
func (fs Features) ForFeatures(node string, f func(info.Feature) error) error {
	if node != "" {
		return nil
	}
	for _, v := range fs.vars() {
		if err := f(info.Feature{Var: v}); err != nil {
			return err
		}
	}
	return nil
}

// vars lists the advertised feature namespaces, in a stable order.
func (fs Features) vars() []string {
	var vars []string
	if fs.HTTPAuth {
		vars = append(vars, NSHTTPAuth)
	}
	if fs.OAuth {
		vars = append(vars, NSOAuth)
	}
	return vars
}
