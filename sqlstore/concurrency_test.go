package sqlstore

import (
	"crypto"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/xmppauth/xmppauth/scram"
)

// Logins read credentials while PLAIN upgrades write them: every read sees
// one whole credential that was written (never a mix of two), every write
// either upgrades or says it is none, and the strongest one wins.
func TestConcurrentCredentials(t *testing.T) {
	forEachDialect(t, func(t *testing.T, b backend) {
		s := b.open(t, Options{})
		ctx := t.Context()
		const account = "carol@example.com"
		if err := s.AddAccount(ctx, mustJID(t, account), "carol-secret", testIterations, crypto.SHA1); err != nil {
			t.Fatal(err)
		}
		sha1, err := s.Credential(ctx, account, crypto.SHA1)
		if err != nil {
			t.Fatal(err)
		}
		// Candidates: testIterations+1 … testIterations+n, for SHA-256.
		const n = 8
		written := make(map[int]scram.Credential, n)
		for i := 1; i <= n; i++ {
			c, err := scram.NewCredential(crypto.SHA256, "carol-secret", nil, testIterations+i)
			if err != nil {
				t.Fatal(err)
			}
			written[c.Iterations] = c
		}

		const workers, rounds = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers*rounds)
		for w := range workers {
			wg.Add(2)
			go func() { // a writer, trying the candidates in its own order
				defer wg.Done()
				for r := range rounds {
					c := written[testIterations+1+(w+r)%n]
					if err := s.SetCredential(ctx, account, crypto.SHA256, c); err != nil && !errors.Is(err, ErrNotUpgrade) {
						errs <- fmt.Errorf("SetCredential: %w", err)
					}
				}
			}()
			go func() { // a login
				defer wg.Done()
				for range rounds {
					if c, err := s.Credential(ctx, account, crypto.SHA1); err != nil || !credentialEqual(c, sha1) {
						errs <- fmt.Errorf("SHA-1 credential changed or failed: %v", err)
					}
					c, err := s.Credential(ctx, account, crypto.SHA256)
					switch {
					case errors.Is(err, scram.ErrUnknownUser): // before the first upgrade
					case err != nil:
						errs <- fmt.Errorf("Credential: %w", err)
					case !credentialEqual(c, written[c.Iterations]):
						errs <- fmt.Errorf("read a credential that was never written: %d iterations", c.Iterations)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		c, err := s.Credential(ctx, account, crypto.SHA256)
		if err != nil || !credentialEqual(c, written[testIterations+n]) {
			t.Errorf("final SHA-256 credential has %d iterations (%v), want the strongest, %d", c.Iterations, err, testIterations+n)
		}
	})
}
