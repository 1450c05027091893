package scram_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

var (
	rfc5802 = vectors[0] // SCRAM-SHA-1, RFC 5802 §5
	xep0474 = vectors[len(vectors)-1]
)

// allTypes offers every type with fixed data, like a TLS 1.2 connection with
// Extended Master Secret would.
func allTypes(advertised bool) scram.ChannelBinding {
	return scram.ChannelBinding{
		Advertised: advertised,
		Data: func(t cbind.Type) ([]byte, error) {
			switch t {
			case cbind.TLSUnique, cbind.TLSExporter, cbind.TLSServerEndPoint:
				return []byte("data for " + string(t)), nil
			}
			return nil, errors.New("unknown type")
		},
	}
}

func TestClientFirstErrors(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name string
		mech scram.Mechanism
		cb   scram.ChannelBinding
		in   string
		want error
	}{
		{name: "empty", in: "", want: scram.ErrMalformed},
		{name: "flag only", in: "n", want: scram.ErrMalformed},
		{name: "gs2 truncated", in: "n,", want: scram.ErrMalformed},
		{name: "gs2 only", in: "n,,", want: scram.ErrMalformed},
		{name: "no nonce", in: "n,,n=user", want: scram.ErrMalformed},
		{name: "empty nonce", in: "n,,n=user,r=", want: scram.ErrMalformed},
		{name: "nonce first", in: "n,,r=abc,n=user", want: scram.ErrMalformed},
		{name: "trailing comma", in: "n,,n=user,r=abc,", want: scram.ErrMalformed},
		{name: "unknown flag", in: "x,,n=user,r=abc", want: scram.ErrMalformed},
		{name: "uppercase flag", in: "N,,n=user,r=abc", want: scram.ErrMalformed},
		{name: "gss nonstd flag", in: "F,n,,n=user,r=abc", want: scram.ErrMalformed},
		{name: "authzid without a=", in: "n,admin,n=user,r=abc", want: scram.ErrMalformed},
		{name: "authzid truncated", in: "n,a=admin", want: scram.ErrMalformed},
		{name: "empty username", in: "n,,n=,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "bad escape", in: "n,,n=us=er,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "lowercase escape", in: "n,,n=us=2c,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "short escape", in: "n,,n=us=2,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "escape at end", in: "n,,n=user=,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "non-UTF-8 username", in: "n,,n=\xff\xfe,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "NUL in username", in: "n,,n=a\x00b,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "empty authzid", in: "n,a=,n=user,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "bad authzid escape", in: "n,a=ad=3xmin,n=user,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "non-UTF-8 authzid", in: "n,a=\xc3,n=user,r=abc", want: scram.ErrInvalidUsernameEncoding},
		{name: "mandatory extension", in: "n,,m=foo,n=user,r=abc", want: scram.ErrExtensionsNotSupported},
		{name: "m extension after nonce", in: "n,,n=user,r=abc,m=foo", want: scram.ErrExtensionsNotSupported},
		{name: "extension not ALPHA", in: "n,,n=user,r=abc,1=foo", want: scram.ErrMalformed},
		{name: "extension empty value", in: "n,,n=user,r=abc,x=", want: scram.ErrMalformed},
		{name: "extension without =", in: "n,,n=user,r=abc,xyz", want: scram.ErrMalformed},
		{name: "extension non-UTF-8", in: "n,,n=user,r=abc,x=\xff", want: scram.ErrMalformed},
		{name: "nonce with space", in: "n,,n=user,r=ab c", want: scram.ErrMalformed},
		{name: "nonce with DEL", in: "n,,n=user,r=ab\x7f", want: scram.ErrMalformed},
		{name: "nonce non-ASCII", in: "n,,n=user,r=abé", want: scram.ErrMalformed},
		{name: "nonce too long", in: "n,,n=user,r=" + long(513), want: scram.ErrMalformed},
		{name: "username too long", in: "n,,n=" + long(3073) + ",r=abc", want: scram.ErrMalformed},
		{name: "message too long", in: "n,,n=user,r=abc,x=" + long(4096), want: scram.ErrMalformed},
		{name: "p on non-PLUS", cb: allTypes(true), in: "p=tls-unique,,n=user,r=abc", want: scram.ErrChannelBindingNotSupported},
		{name: "y downgrade", cb: allTypes(true), in: "y,,n=user,r=abc", want: scram.ErrServerDoesSupportCB},
		{name: "PLUS with n", mech: scram.SHA256Plus, cb: allTypes(true), in: "n,,n=user,r=abc", want: scram.ErrChannelBindingsDontMatch},
		{name: "PLUS with y", mech: scram.SHA256Plus, cb: allTypes(false), in: "y,,n=user,r=abc", want: scram.ErrChannelBindingsDontMatch},
		{name: "p unavailable type", mech: scram.SHA256Plus, cb: fixedBinding(true, cbind.TLSExporter, []byte{1}), in: "p=tls-unique,,n=user,r=abc", want: scram.ErrUnsupportedCBType},
		{name: "p unknown type", mech: scram.SHA256Plus, cb: allTypes(true), in: "p=tls-foo,,n=user,r=abc", want: scram.ErrUnsupportedCBType},
		{name: "p no Data func", mech: scram.SHA256Plus, cb: scram.ChannelBinding{Advertised: true}, in: "p=tls-exporter,,n=user,r=abc", want: scram.ErrUnsupportedCBType},
		{name: "p empty data", mech: scram.SHA256Plus, cb: fixedBinding(true, cbind.TLSExporter, []byte{}), in: "p=tls-exporter,,n=user,r=abc", want: scram.ErrUnsupportedCBType},
		{name: "Require mismatch", mech: scram.SHA256Plus, cb: func() scram.ChannelBinding {
			cb := allTypes(true)
			cb.Require = cbind.TLSServerEndPoint
			return cb
		}(), in: "p=tls-exporter,,n=user,r=abc", want: scram.ErrUnsupportedCBType},
		{name: "p empty name", mech: scram.SHA256Plus, cb: allTypes(true), in: "p=,,n=user,r=abc", want: scram.ErrMalformed},
		{name: "p bad name charset", mech: scram.SHA256Plus, cb: allTypes(true), in: "p=tls_unique,,n=user,r=abc", want: scram.ErrMalformed},
		{name: "p name too long", mech: scram.SHA256Plus, cb: allTypes(true), in: "p=" + long(65) + ",,n=user,r=abc", want: scram.ErrMalformed},
		{name: "p truncated", mech: scram.SHA256Plus, cb: allTypes(true), in: "p=tls-unique", want: scram.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mech := tc.mech
			if mech == (scram.Mechanism{}) {
				mech = scram.SHA256
			}
			srv := newServer(t, mech, scram.Config{})
			ex := srv.Start(tc.cb, nil)
			out, done, err := ex.Step(context.Background(), []byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if out != nil || done {
				t.Errorf("out = %q, done = %v; want nil, false", out, done)
			}
			if _, _, err := ex.Step(context.Background(), []byte("n,,n=user,r=abc")); err != scram.ErrExchangeOver {
				t.Errorf("Step after failure: %v", err)
			}
			if ex.Username() != "" || ex.Done() {
				t.Error("failed exchange reports a user")
			}
		})
	}
}

// newServer returns a server for m with user/pencil stored for m's hash.
func newServer(t testing.TB, m scram.Mechanism, cfg scram.Config) *scram.Server {
	t.Helper()
	if cfg.Store == nil {
		store := scram.NewMemoryStore()
		if err := store.SetPassword("user", "pencil", 4096, m.Hash()); err != nil {
			t.Fatal(err)
		}
		cfg.Store = store
	}
	srv, err := scram.NewServer(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestClientFinalErrors(t *testing.T) {
	const nonce = "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
	const proof = "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
	valid := rfc5802.clientFinal
	tests := []struct {
		name  string
		in    string
		want  error
		value string // e= value
	}{
		{"empty", "", scram.ErrMalformed, "invalid-encoding"},
		{"c only", "c=biws", scram.ErrMalformed, "invalid-encoding"},
		{"no proof", "c=biws,r=" + nonce, scram.ErrMalformed, "invalid-encoding"},
		{"empty proof", "c=biws,r=" + nonce + ",", scram.ErrMalformed, "invalid-encoding"},
		{"no nonce", "c=biws," + proof, scram.ErrMalformed, "invalid-encoding"},
		{"swapped", "r=" + nonce + ",c=biws," + proof, scram.ErrMalformed, "invalid-encoding"},
		{"proof not last", "c=biws,r=" + nonce + "," + proof + ",x=1", scram.ErrMalformed, "invalid-encoding"},
		{"bad extension", "c=biws,r=" + nonce + ",=x," + proof, scram.ErrMalformed, "invalid-encoding"},
		{"non-UTF-8 extension", "c=biws,r=" + nonce + ",x=\xff," + proof, scram.ErrMalformed, "invalid-encoding"},
		{"m extension", "c=biws,r=" + nonce + ",m=x," + proof, scram.ErrExtensionsNotSupported, "extensions-not-supported"},
		{"too long", "c=biws,r=" + nonce + ",x=" + strings.Repeat("a", 4096) + "," + proof, scram.ErrMalformed, "invalid-encoding"},
		{"c not base64", "c=bi!s,r=" + nonce + "," + proof, scram.ErrInvalidEncoding, "invalid-encoding"},
		{"c empty", "c=,r=" + nonce + "," + proof, scram.ErrInvalidEncoding, "invalid-encoding"},
		{"c unpadded", "c=eSw,r=" + nonce + "," + proof, scram.ErrInvalidEncoding, "invalid-encoding"},
		{"c y header", "c=eSws,r=" + nonce + "," + proof, scram.ErrChannelBindingsDontMatch, "channel-bindings-dont-match"},
		{"c with cb data", "c=biwsAAE=,r=" + nonce + "," + proof, scram.ErrChannelBindingsDontMatch, "channel-bindings-dont-match"},
		{"p not base64", "c=biws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4T!=", scram.ErrInvalidEncoding, "invalid-encoding"},
		{"p unpadded", "c=biws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", scram.ErrInvalidEncoding, "invalid-encoding"},
		{"p non-canonical", "c=biws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tt=", scram.ErrInvalidEncoding, "invalid-encoding"},
		{"p SHA-256 size", "c=biws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", scram.ErrInvalidEncoding, "invalid-encoding"},
		{"p huge", "c=biws,r=" + nonce + ",p=" + strings.Repeat("A", 4000), scram.ErrInvalidEncoding, "invalid-encoding"},
		{"client nonce only", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL," + proof, scram.ErrNonceMismatch, "other-error"},
		{"nonce extended", "c=biws,r=" + nonce + "x," + proof, scram.ErrNonceMismatch, "other-error"},
		{"nonce changed", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7J," + proof, scram.ErrNonceMismatch, "other-error"},
		{"wrong proof", "c=biws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Tg=", scram.ErrInvalidProof, "invalid-proof"},
		{"extension not signed", "c=biws,r=" + nonce + ",x=1," + proof, scram.ErrInvalidProof, "invalid-proof"},
		{"valid replayed into a new exchange is fine", valid, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := vectorServer(t, rfc5802).Start(scram.ChannelBinding{}, nil)
			ctx := context.Background()
			if _, _, err := ex.Step(ctx, []byte(rfc5802.clientFirst)); err != nil {
				t.Fatal(err)
			}
			out, done, err := ex.Step(ctx, []byte(tc.in))
			if tc.want == nil {
				if err != nil || !done || string(out) != rfc5802.serverFinal {
					t.Fatalf("out=%q done=%v err=%v", out, done, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if string(out) != "e="+tc.value || done {
				t.Errorf("out = %q, done = %v; want e=%s", out, done, tc.value)
			}
			// The exchange is over: even the right client-final fails now.
			if out, _, err := ex.Step(ctx, []byte(valid)); err != scram.ErrExchangeOver || out != nil {
				t.Errorf("valid client-final after failure: out=%q err=%v", out, err)
			}
		})
	}
}

// Every strict prefix of a valid client-final fails, without panicking.
func TestClientFinalTruncated(t *testing.T) {
	for _, v := range vectors {
		for i := range len(v.clientFinal) {
			ex := vectorServer(t, v).Start(fixedBinding(v.advertised, v.cbType, v.cbData), v.downgrade)
			if _, _, err := ex.Step(context.Background(), []byte(v.clientFirst)); err != nil {
				t.Fatal(err)
			}
			if _, done, err := ex.Step(context.Background(), []byte(v.clientFinal[:i])); err == nil || done {
				t.Fatalf("%s: prefix %q accepted", v.name, v.clientFinal[:i])
			}
		}
	}
}

// A client-final from one exchange does not authenticate another one, even
// with the same client nonce: the server nonce differs.
func TestReplayAcrossExchanges(t *testing.T) {
	srv := newServer(t, scram.SHA256, scram.Config{})
	c := testClient{mech: scram.SHA256, password: "pencil", gs2: "n,,", bare: "n=user,r=clientnonce"}
	ctx := context.Background()
	ex1 := srv.Start(scram.ChannelBinding{}, nil)
	sf1, _, err := ex1.Step(ctx, []byte(c.first()))
	if err != nil {
		t.Fatal(err)
	}
	cf1, want := c.final(t, string(sf1))
	if out, done, err := ex1.Step(ctx, []byte(cf1)); err != nil || !done || string(out) != want {
		t.Fatalf("first exchange: %q %v %v", out, done, err)
	}
	ex2 := srv.Start(scram.ChannelBinding{}, nil)
	sf2, _, err := ex2.Step(ctx, []byte(c.first()))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(sf1, sf2) {
		t.Fatal("two exchanges got the same server nonce")
	}
	if _, _, err := ex2.Step(ctx, []byte(cf1)); !errors.Is(err, scram.ErrNonceMismatch) {
		t.Fatalf("replayed client-final: %v", err)
	}
}

// Successful exchanges with the less common inputs the grammar allows.
func TestExchangeVariants(t *testing.T) {
	tests := []struct {
		name        string
		mech        scram.Mechanism
		cb          scram.ChannelBinding
		user        string // stored name
		client      testClient
		wantUser    string
		wantAuthzid string
		wantCB      cbind.Type
	}{
		{name: "escaped names", mech: scram.SHA256, user: "a,b=c",
			client:   testClient{gs2: "n,a=x=2Cy=3Dz,", bare: "n=a=2Cb=3Dc,r=abc"},
			wantUser: "a,b=c", wantAuthzid: "x,y=z"},
		{name: "UTF-8 name", mech: scram.SHA1, user: "jüliet",
			client: testClient{gs2: "n,,", bare: "n=jüliet,r=abc"}, wantUser: "jüliet"},
		{name: "y without advertised PLUS", mech: scram.SHA256, user: "user",
			client: testClient{gs2: "y,,", bare: "n=user,r=abc"}, wantUser: "user"},
		{name: "client-first extensions ignored", mech: scram.SHA256, user: "user",
			client: testClient{gs2: "n,,", bare: "n=user,r=abc,x=1,y=é"}, wantUser: "user"},
		{name: "client-final extensions signed", mech: scram.SHA512, user: "user",
			client: testClient{gs2: "n,,", bare: "n=user,r=abc", ext: "x=1,y=ü"}, wantUser: "user"},
		{name: "Require honoured", mech: scram.SHA1Plus, user: "user",
			cb: func() scram.ChannelBinding {
				cb := allTypes(true)
				cb.Require = cbind.TLSServerEndPoint
				return cb
			}(),
			client:   testClient{gs2: "p=tls-server-end-point,,", cbData: []byte("data for tls-server-end-point"), bare: "n=user,r=abc"},
			wantUser: "user", wantCB: cbind.TLSServerEndPoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := scram.NewMemoryStore()
			if err := store.SetPassword(tc.user, "pencil", 4096, tc.mech.Hash()); err != nil {
				t.Fatal(err)
			}
			srv := newServer(t, tc.mech, scram.Config{Store: store})
			c := tc.client
			c.mech, c.password = tc.mech, "pencil"
			ex := srv.Start(tc.cb, nil)
			ctx := context.Background()
			sf, _, err := ex.Step(ctx, []byte(c.first()))
			if err != nil {
				t.Fatal(err)
			}
			cf, want := c.final(t, string(sf))
			out, done, err := ex.Step(ctx, []byte(cf))
			if err != nil || !done || string(out) != want {
				t.Fatalf("out=%q done=%v err=%v", out, done, err)
			}
			if ex.Username() != tc.wantUser || ex.Authzid() != tc.wantAuthzid || ex.ChannelBinding() != tc.wantCB {
				t.Errorf("identity = %q/%q/%q", ex.Username(), ex.Authzid(), ex.ChannelBinding())
			}
		})
	}
}

// An unknown user gets a deterministic, plausible server-first and fails
// exactly like a wrong password.
func TestUnknownUser(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	srv := newServer(t, scram.SHA256, scram.Config{Secret: secret, FakeIterations: 10000})
	ctx := context.Background()
	run := func(srv *scram.Server, user, password string) (serverFirst, final string, err error) {
		c := testClient{mech: scram.SHA256, password: password, gs2: "n,,", bare: "n=" + user + ",r=abc"}
		ex := srv.Start(scram.ChannelBinding{}, nil)
		sf, _, err := ex.Step(ctx, []byte(c.first()))
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := c.final(t, string(sf))
		out, _, err := ex.Step(ctx, []byte(cf))
		return string(sf), string(out), err
	}
	saltOf := func(sf string) string {
		for _, a := range strings.Split(sf, ",") {
			if strings.HasPrefix(a, "s=") {
				return a[2:]
			}
		}
		return ""
	}

	sf1, out1, err1 := run(srv, "nobody", "pencil")
	sf2, out2, err2 := run(srv, "nobody", "other")
	_, out3, err3 := run(srv, "user", "wrong")
	if !errors.Is(err1, scram.ErrInvalidProof) || !errors.Is(err2, scram.ErrInvalidProof) || !errors.Is(err3, scram.ErrInvalidProof) {
		t.Fatalf("errors: %v / %v / %v", err1, err2, err3)
	}
	if out1 != "e=invalid-proof" || out2 != out1 || out3 != out1 {
		t.Errorf("server-final: %q %q %q", out1, out2, out3)
	}
	if saltOf(sf1) != saltOf(sf2) {
		t.Error("fake salt is not deterministic")
	}
	if salt, _ := base64.StdEncoding.DecodeString(saltOf(sf1)); len(salt) != scram.DefaultSaltLen {
		t.Errorf("fake salt length %d", len(salt))
	}
	if !strings.HasSuffix(sf1, ",i=10000") {
		t.Errorf("fake iterations: %s", sf1)
	}
	sfOther, _, _ := run(srv, "nobody2", "x")
	if saltOf(sfOther) == saltOf(sf1) {
		t.Error("two unknown users share a fake salt")
	}
	other := newServer(t, scram.SHA256, scram.Config{Secret: append([]byte("x"), secret...)})
	sfSecret, _, _ := run(other, "nobody", "x")
	if saltOf(sfSecret) == saltOf(sf1) {
		t.Error("fake salt does not depend on the secret")
	}
	long := newServer(t, scram.SHA256, scram.Config{Secret: secret, FakeSaltLen: 28})
	sfLong, _, _ := run(long, "nobody", "x")
	if salt, _ := base64.StdEncoding.DecodeString(saltOf(sfLong)); len(salt) != 28 {
		t.Errorf("FakeSaltLen 28: fake salt length %d", len(salt))
	}
	sha1srv := newServer(t, scram.SHA1, scram.Config{Secret: secret})
	c := testClient{mech: scram.SHA1, password: "x", gs2: "n,,", bare: "n=nobody,r=abc"}
	sfSHA1, _, _ := sha1srv.Start(scram.ChannelBinding{}, nil).Step(ctx, []byte(c.first()))
	if saltOf(string(sfSHA1)) == saltOf(sf1) {
		t.Error("fake salt does not depend on the hash")
	}
}

// StartWith looks the user up in the store it is given, not Config.Store,
// and an exchange without any store fails with ErrStore.
func TestStartWith(t *testing.T) {
	ctx := context.Background()
	other := scram.NewMemoryStore()
	if err := other.SetPassword("user", "other-pencil", 4096, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, scram.SHA256, scram.Config{})
	for _, tc := range []struct {
		name     string
		store    scram.Store
		password string
		err      error
	}{
		{"the given store", other, "other-pencil", nil},
		{"not Config.Store", other, "pencil", scram.ErrInvalidProof},
		{"nil store", nil, "pencil", scram.ErrStore},
	} {
		c := testClient{mech: scram.SHA256, password: tc.password, gs2: "n,,", bare: "n=user,r=abc"}
		ex := srv.StartWith(tc.store, scram.ChannelBinding{}, nil)
		sf, _, err := ex.Step(ctx, []byte(c.first()))
		if err == nil {
			cf, _ := c.final(t, string(sf))
			_, _, err = ex.Step(ctx, []byte(cf))
		}
		if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
		}
	}
	noStore, err := scram.NewServer(scram.SHA256, scram.Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := testClient{mech: scram.SHA256, gs2: "n,,", bare: "n=user,r=abc"}
	if _, _, err := noStore.Start(scram.ChannelBinding{}, nil).Step(ctx, []byte(c.first())); !errors.Is(err, scram.ErrStore) {
		t.Errorf("Start without Config.Store: %v", err)
	}
}

type failingStore struct{ err error }

func (s failingStore) Credential(context.Context, string, crypto.Hash) (scram.Credential, error) {
	return scram.Credential{}, s.err
}

type fixedStore struct{ c scram.Credential }

func (s fixedStore) Credential(context.Context, string, crypto.Hash) (scram.Credential, error) {
	return s.c, nil
}

func TestStoreAndRandFailures(t *testing.T) {
	cause := errors.New("database down")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		cfg   scram.Config
		ctx   context.Context
		want  error
		cause error
	}{
		{"store error", scram.Config{Store: failingStore{cause}}, context.Background(), scram.ErrStore, cause},
		{"wrapped unknown user is not a store error", scram.Config{Store: failingStore{errors.Join(scram.ErrUnknownUser, cause)}}, context.Background(), nil, nil},
		{"short StoredKey", scram.Config{Store: fixedStore{scram.Credential{Salt: []byte{1}, Iterations: 4096, StoredKey: []byte{1}, ServerKey: make([]byte, 32)}}}, context.Background(), scram.ErrStore, nil},
		{"zero iterations", scram.Config{Store: fixedStore{scram.Credential{Salt: []byte{1}, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}}}, context.Background(), scram.ErrStore, nil},
		{"cancelled context", scram.Config{}, cancelled, scram.ErrStore, context.Canceled},
		{"rand fails", scram.Config{Rand: iotestErrReader{}}, context.Background(), scram.ErrNoResources, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, scram.SHA256, tc.cfg)
			out, _, err := srv.Start(scram.ChannelBinding{}, nil).Step(tc.ctx, []byte("n,,n=user,r=abc"))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || out != nil {
				t.Fatalf("out=%q err=%v, want %v", out, err, tc.want)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("err %v does not wrap %v", err, tc.cause)
			}
		})
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestServerErrorAndCondition(t *testing.T) {
	tests := []struct {
		err       error
		value     string
		condition string
	}{
		{nil, "", ""},
		{scram.ErrMalformed, "invalid-encoding", "malformed-request"},
		{scram.ErrInvalidEncoding, "invalid-encoding", "malformed-request"},
		{scram.ErrExtensionsNotSupported, "extensions-not-supported", "malformed-request"},
		{scram.ErrInvalidProof, "invalid-proof", "not-authorized"},
		{scram.ErrChannelBindingsDontMatch, "channel-bindings-dont-match", "not-authorized"},
		{scram.ErrServerDoesSupportCB, "server-does-support-channel-binding", "not-authorized"},
		{scram.ErrChannelBindingNotSupported, "channel-binding-not-supported", "not-authorized"},
		{scram.ErrUnsupportedCBType, "unsupported-channel-binding-type", "not-authorized"},
		{scram.ErrInvalidUsernameEncoding, "invalid-username-encoding", "malformed-request"},
		{scram.ErrNonceMismatch, "other-error", "not-authorized"},
		{scram.ErrExchangeOver, "other-error", "malformed-request"},
		{scram.ErrStore, "other-error", "temporary-auth-failure"},
		{scram.ErrNoResources, "no-resources", "temporary-auth-failure"},
		{errors.Join(errors.New("x"), scram.ErrInvalidProof), "invalid-proof", "not-authorized"},
		{errors.New("foreign"), "other-error", "temporary-auth-failure"},
		{scram.ErrUnknownUser, "other-error", "temporary-auth-failure"},
	}
	for _, tc := range tests {
		if got := scram.ServerError(tc.err); got != tc.value {
			t.Errorf("ServerError(%v) = %q, want %q", tc.err, got, tc.value)
		}
		if got := scram.Condition(tc.err); got != tc.condition {
			t.Errorf("Condition(%v) = %q, want %q", tc.err, got, tc.condition)
		}
	}
}

func TestZeroExchange(t *testing.T) {
	var ex scram.Exchange
	if out, done, err := ex.Step(context.Background(), []byte(rfc5802.clientFirst)); err != scram.ErrExchangeOver || out != nil || done {
		t.Fatalf("zero Exchange: %q %v %v", out, done, err)
	}
}

// The XEP-0474 h= attribute uses the mechanism's hash.
func TestDowngradeProtectionHash(t *testing.T) {
	input := []byte("SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point")
	for _, tc := range []struct {
		mech scram.Mechanism
		want string
	}{
		{scram.SHA1, "h=G6k/rBLDqgOhRRaCuuatSDFkJ08="},
		{scram.SHA256, "h=" + base64.StdEncoding.EncodeToString(sha256Sum(input))},
	} {
		srv := newServer(t, tc.mech, scram.Config{})
		out, _, err := srv.Start(scram.ChannelBinding{}, input).Step(context.Background(), []byte("n,,n=user,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(out), ",i=4096,"+tc.want) {
			t.Errorf("%v: server-first %q, want suffix %q", tc.mech, out, tc.want)
		}
		out, _, _ = srv.Start(scram.ChannelBinding{}, nil).Step(context.Background(), []byte("n,,n=user,r=abc"))
		if strings.Contains(string(out), "h=") {
			t.Errorf("%v: h= without downgrade protection: %q", tc.mech, out)
		}
	}
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
