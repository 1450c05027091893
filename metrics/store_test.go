package metrics_test

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

const helpStoreOps = "# HELP xmppauth_store_operations_total Store calls by store name, operation and result (\"ok\", \"error\", \"canceled\", or an answer such as \"unknown_user\").\n# TYPE xmppauth_store_operations_total counter\n"

var errDown = errors.New("database down")

// credentialsOnly is a scram.Store and nothing more: its wrapper must not
// claim to be a features.CredentialUpdater.
type credentialsOnly struct{ s *scram.MemoryStore }

func (c credentialsOnly) Credential(ctx context.Context, username string, h crypto.Hash) (scram.Credential, error) {
	return c.s.Credential(ctx, username, h)
}

// failing fails every call with err.
type failing struct{ err error }

func (f failing) Credential(context.Context, string, crypto.Hash) (scram.Credential, error) {
	return scram.Credential{}, f.err
}
func (f failing) SetCredential(context.Context, string, crypto.Hash, scram.Credential) error {
	return f.err
}
func (f failing) Incr(context.Context, string, time.Duration) (int64, error) { return 0, f.err }
func (f failing) Get(context.Context, string) (int64, error)                 { return 0, f.err }
func (f failing) Delete(context.Context, string) error                       { return f.err }
func (f failing) UseNonce(context.Context, oauth.Nonce) error                { return f.err }

// The wrapper of a store is a features.CredentialUpdater exactly when the
// store is, and its SetCredential reaches the store.
func TestScramKeepsCredentialUpdater(t *testing.T) {
	m, _ := newMetrics(t)
	mem := scram.NewMemoryStore()
	for _, tc := range []struct {
		name    string
		store   scram.Store
		updater bool
	}{
		{"MemoryStore", mem, true},
		{"credentials only", credentialsOnly{mem}, false},
		{"failing", failing{errDown}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := m.Scram("credentials", tc.store)
			if _, ok := w.(features.CredentialUpdater); ok != tc.updater {
				t.Errorf("wrapper is a CredentialUpdater: %v, want %v", ok, tc.updater)
			}
		})
	}
	c, err := scram.NewCredential(crypto.SHA256, "pencil", []byte("salt-salt-salt"), scram.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Scram("credentials", mem).(features.CredentialUpdater)
	if err := w.SetCredential(context.Background(), "user@example.net", crypto.SHA256, c); err != nil {
		t.Fatal(err)
	}
	if got, err := mem.Credential(context.Background(), "user@example.net", crypto.SHA256); err != nil || got.StoredKey == nil {
		t.Errorf("SetCredential did not reach the store: %v, %v", got, err)
	}
	if m.Scram("x", nil) != nil || m.Throttle("x", nil) != nil || m.Nonces("x", nil) != nil {
		t.Error("a nil store is wrapped")
	}
}

// The decorators count each call by result (an unknown user or a replayed
// nonce is an answer, not an error), time every call, and return what the
// store returned.
func TestStoreDecorators(t *testing.T) {
	m, reg := newMetrics(t)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	mem := scram.NewMemoryStore()
	if err := mem.SetPassword("alice@example.net", "alice-secret", scram.MinIterations, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	creds := m.Scram("credentials", mem)
	if c, err := creds.Credential(ctx, "alice@example.net", crypto.SHA256); err != nil || c.Iterations != scram.MinIterations {
		t.Errorf("known user: %v, %v", c, err)
	}
	if _, err := creds.Credential(ctx, "mallory@example.net", crypto.SHA256); !errors.Is(err, scram.ErrUnknownUser) {
		t.Errorf("unknown user: %v", err)
	}
	var remote scram.Store
	for _, err := range []error{
		fmt.Errorf("lookup: %w", scram.ErrUnknownUser), // an answer, wrapped
		errDown,
		fmt.Errorf("query: %w", context.Canceled),
		context.DeadlineExceeded, // too slow: an error
	} {
		remote = m.Scram("remote", failing{err})
		if _, got := remote.Credential(ctx, "bob@example.net", crypto.SHA256); got != err {
			t.Errorf("error %v came back as %v", err, got)
		}
	}
	if err := remote.(features.CredentialUpdater).SetCredential(ctx, "bob@example.net", crypto.SHA256, scram.Credential{}); err != context.DeadlineExceeded {
		t.Errorf("SetCredential: %v", err)
	}

	counters := m.Throttle("throttle", throttle.NewMemoryStore(0, nil))
	if n, err := counters.Incr(ctx, "k", time.Minute); n != 1 || err != nil {
		t.Errorf("Incr: %d, %v", n, err)
	}
	if n, err := counters.Get(ctx, "k"); n != 1 || err != nil {
		t.Errorf("Get: %d, %v", n, err)
	}
	if err := counters.Delete(ctx, "k"); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := counters.Get(canceled, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v", err)
	}
	if _, err := m.Throttle("redis", failing{errDown}).Incr(ctx, "k", time.Minute); err != errDown {
		t.Errorf("failing Incr: %v", err)
	}

	nonces := m.Nonces("nonces", oauth.NewMemoryNonces(1))
	now := time.Now()
	n1 := oauth.Nonce{ConsumerKey: "c", Token: "t", Value: "1", Now: now, Expires: now.Add(time.Hour)}
	n2 := n1
	n2.Value = "2"
	for i, tc := range []struct {
		ctx  context.Context
		n    oauth.Nonce
		want error
	}{
		{ctx, n1, nil},
		{ctx, n1, oauth.ErrNonceReplayed},
		{ctx, n2, oauth.ErrNonceStoreFull},
	} {
		if err := nonces.UseNonce(tc.ctx, tc.n); !errors.Is(err, tc.want) {
			t.Errorf("UseNonce #%d: %v, want %v", i, err, tc.want)
		}
	}
	if err := m.Nonces("nonces", failing{errDown}).UseNonce(ctx, n1); err != errDown {
		t.Errorf("failing UseNonce: %v", err)
	}

	compare(t, reg, helpStoreOps+`
xmppauth_store_operations_total{op="credential",result="canceled",store="credentials"} 0
xmppauth_store_operations_total{op="credential",result="error",store="credentials"} 0
xmppauth_store_operations_total{op="credential",result="ok",store="credentials"} 1
xmppauth_store_operations_total{op="credential",result="unknown_user",store="credentials"} 1
xmppauth_store_operations_total{op="set_credential",result="canceled",store="credentials"} 0
xmppauth_store_operations_total{op="set_credential",result="error",store="credentials"} 0
xmppauth_store_operations_total{op="set_credential",result="ok",store="credentials"} 0
xmppauth_store_operations_total{op="credential",result="canceled",store="remote"} 1
xmppauth_store_operations_total{op="credential",result="error",store="remote"} 2
xmppauth_store_operations_total{op="credential",result="ok",store="remote"} 0
xmppauth_store_operations_total{op="credential",result="unknown_user",store="remote"} 1
xmppauth_store_operations_total{op="set_credential",result="canceled",store="remote"} 0
xmppauth_store_operations_total{op="set_credential",result="error",store="remote"} 1
xmppauth_store_operations_total{op="set_credential",result="ok",store="remote"} 0
xmppauth_store_operations_total{op="delete",result="canceled",store="throttle"} 0
xmppauth_store_operations_total{op="delete",result="error",store="throttle"} 0
xmppauth_store_operations_total{op="delete",result="ok",store="throttle"} 1
xmppauth_store_operations_total{op="get",result="canceled",store="throttle"} 1
xmppauth_store_operations_total{op="get",result="error",store="throttle"} 0
xmppauth_store_operations_total{op="get",result="ok",store="throttle"} 1
xmppauth_store_operations_total{op="incr",result="canceled",store="throttle"} 0
xmppauth_store_operations_total{op="incr",result="error",store="throttle"} 0
xmppauth_store_operations_total{op="incr",result="ok",store="throttle"} 1
xmppauth_store_operations_total{op="delete",result="canceled",store="redis"} 0
xmppauth_store_operations_total{op="delete",result="error",store="redis"} 0
xmppauth_store_operations_total{op="delete",result="ok",store="redis"} 0
xmppauth_store_operations_total{op="get",result="canceled",store="redis"} 0
xmppauth_store_operations_total{op="get",result="error",store="redis"} 0
xmppauth_store_operations_total{op="get",result="ok",store="redis"} 0
xmppauth_store_operations_total{op="incr",result="canceled",store="redis"} 0
xmppauth_store_operations_total{op="incr",result="error",store="redis"} 1
xmppauth_store_operations_total{op="incr",result="ok",store="redis"} 0
xmppauth_store_operations_total{op="use_nonce",result="canceled",store="nonces"} 0
xmppauth_store_operations_total{op="use_nonce",result="error",store="nonces"} 1
xmppauth_store_operations_total{op="use_nonce",result="full",store="nonces"} 1
xmppauth_store_operations_total{op="use_nonce",result="ok",store="nonces"} 1
xmppauth_store_operations_total{op="use_nonce",result="replayed",store="nonces"} 1
`, "xmppauth_store_operations_total")

	counts := map[string]uint64{}
	for _, h := range histograms(t, reg, "xmppauth_store_duration_seconds") {
		if len(h.labels) != 2 {
			t.Errorf("duration labels %v, want store and op", h.labels)
		}
		counts[h.labels["store"]+"/"+h.labels["op"]] = h.count
	}
	want := map[string]uint64{
		"credentials/credential": 2, "credentials/set_credential": 0,
		"remote/credential": 4, "remote/set_credential": 1,
		"throttle/incr": 1, "throttle/get": 2, "throttle/delete": 1,
		"redis/incr": 1, "redis/get": 0, "redis/delete": 0,
		"nonces/use_nonce": 4,
	}
	if !equalMaps(counts, want) {
		t.Errorf("duration sample counts %v, want %v", counts, want)
	}
	checkLabels(t, labelValues(t, reg))
}
