package features

import (
	"context"
	"crypto"
	"slices"

	"github.com/xmppauth/xmppauth/scram"
)

// CredentialUpdater is implemented by a Store that can replace an account's
// credential. After a successful PLAIN login (the one moment the server
// holds the password) the server then brings the account's credentials up
// to what it is configured with: one for the hash of every enabled SCRAM
// mechanism, at Config.Iterations. SCRAM logins cannot do this (the server
// never sees the password); XEP-0480 tasks on SASL2 can.
type CredentialUpdater interface {
	SetCredential(ctx context.Context, account string, h crypto.Hash, c scram.Credential) error
}

// upgradeHashes are the hashes credentials should exist for: those of the
// enabled SCRAM mechanisms.
func (s *Server) upgradeHashes() []crypto.Hash {
	var hs []crypto.Hash
	for _, m := range s.scram {
		if h := m.mech.Hash(); !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return hs
}

// upgrade stores new credentials for account where stored lacks one of the
// upgrade hashes or has fewer iterations than configured. It never fails
// the login: a store that refuses is logged.
func (s *Server) upgrade(ctx context.Context, account, password string, stored storedIterations) {
	u, ok := s.cfg.Store.(CredentialUpdater)
	if !ok {
		return
	}
	for _, h := range s.upgradeTo {
		i := hashIndex(h)
		if stored[i] >= s.cfg.Iterations {
			continue
		}
		c, err := scram.NewCredential(h, password, nil, s.cfg.Iterations)
		if err == nil {
			err = u.SetCredential(ctx, account, h, c)
		}
		if err != nil {
			s.log.WarnContext(ctx, "credential upgrade failed", "jid", account, "hash", h.String(), "err", err)
			continue
		}
		s.log.InfoContext(ctx, "credential upgraded", "jid", account, "hash", h.String(),
			"iterations", s.cfg.Iterations, "had", stored[i])
	}
}

func hashIndex(h crypto.Hash) int {
	for i, x := range plainHashes {
		if x == h {
			return i
		}
	}
	return 0
}
