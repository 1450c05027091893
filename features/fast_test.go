package features_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/features"
	"github.com/xmppauth/xmppauth/throttle"
)

// fastFixture is a direct-TLS server with FAST, a fake clock and a token
// store the test can look into.
type fastFixture struct {
	t       *testing.T
	srv     *testServer
	clock   *config.ManualClock
	tokens  *features.MemoryTokenStore
	version uint16
}

func newFAST(t *testing.T, cfg features.Config, version uint16) *fastFixture {
	f := &fastFixture{t: t, clock: config.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), tokens: features.NewMemoryTokenStore(), version: version}
	cfg.Clock = f.clock
	cfg.FASTTokens = f.tokens
	f.srv = newHostServer(t, cfg, true, nil)
	return f
}

func (f *fastFixture) dial() *rawClient {
	return dialDirectTLS(f.t, f.srv.addr, getPKI(f.t).clientTLS(f.version), "")
}

// passwordLogin logs in as alice with PLAIN, requesting a token for mech,
// and returns the token from <success/>.
func (f *fastFixture) passwordLogin(mech, ua string) (string, time.Time) {
	f.t.Helper()
	c := f.dial()
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{userAgent: ua, requestToken: mech, bind: true})
	s := parseSuccess2(f.t, c.next())
	if s.Token == nil {
		f.t.Fatalf("no token in %+v", s)
	}
	expiry, err := time.Parse(time.RFC3339, s.Token.Expiry)
	if err != nil {
		f.t.Fatalf("expiry %q: %v", s.Token.Expiry, err)
	}
	return s.Token.Token, expiry
}

// htLogin logs in with a FAST token and returns the element that ends the
// attempt, checking the responder's hash on success. cb nil binds to the
// mechanism's type on this connection.
func (f *fastFixture) htLogin(mech, user, token, ua, fastAttrs string, cb []byte) element {
	f.t.Helper()
	c := f.dial()
	return f.htLoginOn(c, mech, user, token, ua, fastAttrs, cb)
}

var htTypes = map[string]cbind.Type{
	features.HTSHA256EXPR: cbind.TLSExporter, features.HTSHA256ENDP: cbind.TLSServerEndPoint, features.HTSHA256UNIQ: cbind.TLSUnique,
}

func (f *fastFixture) htLoginOn(c *rawClient, mech, user, token, ua, fastAttrs string, cb []byte) element {
	f.t.Helper()
	if cb == nil {
		if t, ok := htTypes[mech]; ok {
			cb = c.cbData(t)
		}
	}
	c.authenticate(mech, htInitiator(user, token, cb), authenticateOpts{userAgent: ua, useFAST: fastAttrs != "-", fast: fastAttrs, bind: true})
	el := c.next()
	if el.XMLName.Local == "success" {
		s := parseSuccess2(f.t, el)
		if got := decode64(f.t, s.AdditionalData); !bytes.Equal(got, htResponder(token, cb)) {
			f.t.Fatalf("responder hash %x, want %x", got, htResponder(token, cb))
		}
	}
	return el
}

func tokenOf(t *testing.T, el element) string {
	t.Helper()
	if s := parseSuccess2(t, el); s.Token != nil {
		return s.Token.Token
	}
	return ""
}

// Every HT mechanism the connection offers: a token requested in a password
// login logs in once, on a new connection, with the responder's hash proving
// the server knew the token, and the same identity.
func TestFASTMechanisms(t *testing.T) {
	for _, v := range tlsVersions {
		for _, mech := range []string{features.HTSHA256EXPR, features.HTSHA256ENDP, features.HTSHA256UNIQ, features.HTSHA256NONE} {
			if mech == features.HTSHA256UNIQ && v.version == tls.VersionTLS13 {
				continue
			}
			t.Run(v.name+"/"+mech, func(t *testing.T) {
				f := newFAST(t, features.Config{}, v.version)
				token, expiry := f.passwordLogin(mech, uaAlice)
				if !expiry.Equal(f.clock.Now().Add(features.DefaultFASTTokenLifetime)) {
					t.Errorf("expiry %v", expiry)
				}
				f.srv.result(t)
				el := f.htLogin(mech, "alice", token, uaAlice, "", nil)
				if s := parseSuccess2(t, el); !strings.HasPrefix(s.AuthzID, "alice@localhost/") || s.Token != nil {
					t.Fatalf("success %+v", s)
				}
				res := f.srv.result(t)
				id, _ := res.Conn.Identity()
				if id.JID.String() != "alice@localhost" || id.Mechanism != mech || id.ChannelBinding != htTypes[mech] || id.UserAgent.ID != uaAlice {
					t.Errorf("identity %+v", id)
				}
			})
		}
	}
}

// Rotation, reuse and invalidation (XEP-0484 §"Server initiates token
// rotation", §"Client requests token invalidation", §"Server-side handling
// of multiple active tokens").
func TestFASTTokenLifecycle(t *testing.T) {
	const mech = features.HTSHA256EXPR
	f := newFAST(t, features.Config{}, tls.VersionTLS13)
	t1, _ := f.passwordLogin(mech, uaAlice)

	// Young tokens are not rotated.
	if tok := tokenOf(t, f.htLogin(mech, "alice", t1, uaAlice, "", nil)); tok != "" {
		t.Fatal("a fresh token was rotated")
	}
	// Due for rotation: a new token comes with the success, and the old
	// one stays valid until the new one is used.
	f.clock.Advance(features.DefaultFASTRotateAfter + time.Second)
	t2 := tokenOf(t, f.htLogin(mech, "alice", t1, uaAlice, "", nil))
	if t2 == "" || t2 == t1 {
		t.Fatalf("no rotation: %q", t2)
	}
	t3 := tokenOf(t, f.htLogin(mech, "alice", t1, uaAlice, "", nil)) // the client never saw t2
	if t3 == "" || t3 == t2 {
		t.Fatalf("second rotation: %q", t3)
	}
	// The unused t2 was replaced by t3.
	if got := condition2(f.htLogin(mech, "alice", t2, uaAlice, "", nil)); got != "not-authorized" {
		t.Fatalf("replaced, never used token: %q", got)
	}
	if el := f.htLogin(mech, "alice", t3, uaAlice, "", nil); el.XMLName.Local != "success" {
		t.Fatalf("new token: %v", el)
	}
	// Once the new one was used, the old one is refused: a replay of an
	// old token.
	if got := condition2(f.htLogin(mech, "alice", t1, uaAlice, "", nil)); got != "not-authorized" {
		t.Fatalf("old token after the new one was used: %q", got)
	}
	// Logout: invalidate, no new token even though one is due.
	f.clock.Advance(features.DefaultFASTRotateAfter + time.Second)
	if tok := tokenOf(t, f.htLogin(mech, "alice", t3, uaAlice, "invalidate='true'", nil)); tok != "" {
		t.Fatal("a token came with the invalidation")
	}
	if got := condition2(f.htLogin(mech, "alice", t3, uaAlice, "", nil)); got != "not-authorized" {
		t.Fatalf("invalidated token: %q", got)
	}
}

// The count of XEP-0484 §"Client authenticates using FAST" only grows.
func TestFASTCountReplay(t *testing.T) {
	const mech = features.HTSHA256NONE
	f := newFAST(t, features.Config{}, tls.VersionTLS13)
	token, _ := f.passwordLogin(mech, uaAlice)
	for _, tc := range []struct {
		count string
		want  string // "" success
	}{{"5", ""}, {"5", "not-authorized"}, {"4", "not-authorized"}, {"6", ""}, {"", ""}, {"6", "not-authorized"}, {"7", ""}} {
		attrs := ""
		if tc.count != "" {
			attrs = "count='" + tc.count + "'"
		}
		el := f.htLogin(mech, "alice", token, uaAlice, attrs, nil)
		if got := condition2(el); got != tc.want {
			t.Fatalf("count %q: %v, want %q", tc.count, el, tc.want)
		}
	}
}

// A token past its expiry fails with <credentials-expired/> (XEP-0484
// §"Server responsibilities").
func TestFASTExpiry(t *testing.T) {
	const mech = features.HTSHA256EXPR
	f := newFAST(t, features.Config{FASTTokenLifetime: config.Duration(48 * time.Hour), FASTRotateAfter: config.Duration(time.Hour)}, tls.VersionTLS13)
	token, expiry := f.passwordLogin(mech, uaAlice)
	if !expiry.Equal(f.clock.Now().Add(48 * time.Hour)) {
		t.Errorf("expiry %v", expiry)
	}
	f.clock.Advance(48*time.Hour - time.Second)
	if el := f.htLogin(mech, "alice", token, uaAlice, "", nil); el.XMLName.Local != "success" {
		t.Fatalf("just before expiry: %v", el)
	}
	f.clock.Advance(time.Second)
	// The rotated token expires later; the one offered now has expired.
	if got := condition2(f.htLogin(mech, "alice", token, uaAlice, "", nil)); got != "credentials-expired" {
		t.Fatalf("at expiry: %q", got)
	}
}

// What must not log in: a token bound to another channel, another
// mechanism, another client, another account; no <fast/>; no user agent.
// Unknown users and wrong tokens look the same.
func TestFASTRefused(t *testing.T) {
	const mech = features.HTSHA256EXPR
	f := newFAST(t, features.Config{}, tls.VersionTLS13)
	token, _ := f.passwordLogin(mech, uaAlice)
	other := f.dial()
	otherCB := other.cbData(cbind.TLSExporter) // another connection's binding: a relayed login
	tests := []struct {
		name string
		run  func() element
		want string
	}{
		{"channel binding of another connection", func() element { return f.htLogin(mech, "alice", token, uaAlice, "", otherCB) }, "not-authorized"},
		{"no channel binding", func() element { return f.htLogin(mech, "alice", token, uaAlice, "", []byte{}) }, "not-authorized"},
		{"token bound to another mechanism", func() element { return f.htLogin(features.HTSHA256NONE, "alice", token, uaAlice, "", nil) }, "not-authorized"},
		{"another client's id", func() element {
			return f.htLogin(mech, "alice", token, "0b4c2a4e-0000-4000-8000-000000000000", "", nil)
		}, "not-authorized"},
		{"another account", func() element { return f.htLogin(mech, "bob", token, uaAlice, "", nil) }, "not-authorized"},
		{"wrong token", func() element { return f.htLogin(mech, "alice", "xa1-guess", uaAlice, "", nil) }, "not-authorized"},
		{"no <fast/>", func() element { return f.htLogin(mech, "alice", token, uaAlice, "-", nil) }, "malformed-request"},
		{"no user agent", func() element { return f.htLogin(mech, "alice", token, "", "", nil) }, "malformed-request"},
		{"no authcid", func() element { return f.htLogin(mech, "", token, uaAlice, "", nil) }, "malformed-request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := condition2(tc.run()); got != tc.want {
				t.Fatalf("condition %q, want %q", got, tc.want)
			}
		})
	}
	// The failure of an unknown user reads as a wrong token's.
	unknown := f.htLogin(mech, "mallory", token, uaAlice, "", nil)
	wrong := f.htLogin(mech, "alice", "xa1-guess", uaAlice, "", nil)
	if unknown.Inner != wrong.Inner || condition2(unknown) != "not-authorized" {
		t.Errorf("unknown user %v, wrong token %v", unknown, wrong)
	}
	// After all that the token still works (refusals consumed nothing).
	if el := f.htLogin(mech, "alice", token, uaAlice, "", nil); el.XMLName.Local != "success" {
		t.Fatalf("the real token after the refusals: %v", el)
	}
}

// The store never holds the token: a copy of it cannot log in.
func TestFASTStoreHoldsNoToken(t *testing.T) {
	const mech = features.HTSHA256NONE
	f := newFAST(t, features.Config{}, tls.VersionTLS13)
	token, _ := f.passwordLogin(mech, uaAlice)
	records, err := f.tokens.Tokens(context.Background(), "alice@localhost", uaAlice)
	if err != nil || len(records) != 1 {
		t.Fatalf("records %+v, %v", records, err)
	}
	r := records[0]
	for _, field := range [][]byte{r.ID, []byte(r.Mechanism)} {
		if bytes.Contains([]byte(token), field) || bytes.Contains(field, []byte(token[4:])) {
			t.Fatalf("record %+v holds the token %q", r, token)
		}
	}
	if r.Mechanism != mech || !r.Expires.Equal(f.clock.Now().Add(features.DefaultFASTTokenLifetime)) {
		t.Errorf("record %+v", r)
	}
	// Logging in with the record's bytes as the token fails.
	if got := condition2(f.htLogin(mech, "alice", string(r.ID), uaAlice, "", nil)); got != "not-authorized" {
		t.Fatalf("record as token: %q", got)
	}
	// A server with another Secret cannot use the records either.
	srv2 := newHostServer(t, features.Config{FASTTokens: f.tokens, Clock: f.clock, Secret: []byte("another secret, 16+ bytes")}, true, nil)
	c := dialDirectTLS(t, srv2.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	if got := condition2(f.htLoginOn(c, mech, "alice", token, uaAlice, "", nil)); got != "not-authorized" {
		t.Fatalf("another server's secret: %q", got)
	}
}

// Token requests that give no token: a mechanism not offered, no user
// agent. And FAST off: HT mechanisms are not offered.
func TestFASTRequestRefused(t *testing.T) {
	f := newFAST(t, features.Config{}, tls.VersionTLS13)
	c := f.dial()
	// tls-unique is not offered on TLS 1.3.
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{userAgent: uaAlice, requestToken: features.HTSHA256UNIQ})
	if s := parseSuccess2(t, c.next()); s.Token != nil {
		t.Fatalf("token for a mechanism not offered: %+v", s.Token)
	}
	c = f.dial()
	c.authenticate("PLAIN", []byte("\x00alice\x00alice-secret"), authenticateOpts{requestToken: features.HTSHA256NONE})
	if s := parseSuccess2(t, c.next()); s.Token != nil {
		t.Fatalf("token without a user agent: %+v", s.Token)
	}
	off := newHostServer(t, features.Config{DisableFAST: true}, true, nil)
	c = dialDirectTLS(t, off.addr, getPKI(t).clientTLS(tls.VersionTLS13), "")
	c.authenticate(features.HTSHA256NONE, htInitiator("alice", "x", nil), authenticateOpts{userAgent: uaAlice, useFAST: true, fast: "count='1'"})
	if got := condition2(c.next()); got != "invalid-mechanism" {
		t.Fatalf("HT with FAST off: %q", got)
	}
}

// Wrong tokens count as failed guesses for the login limiter.
func TestFASTLimiter(t *testing.T) {
	const mech = features.HTSHA256NONE
	f := newFAST(t, features.Config{Throttle: throttle.Config{MaxFailures: 2}}, tls.VersionTLS13)
	token, _ := f.passwordLogin(mech, uaAlice)
	for range 2 {
		if got := condition2(f.htLogin(mech, "alice", "xa1-guess", uaAlice, "", nil)); got != "not-authorized" {
			t.Fatalf("wrong token: %q", got)
		}
	}
	el := f.htLogin(mech, "alice", token, uaAlice, "", nil)
	if got := condition2(el); got != "temporary-auth-failure" || !strings.Contains(el.Inner, "too many failed logins") {
		t.Fatalf("after the ban: %v", el)
	}
}

// TokenStore semantics, as an SQL or Redis implementation must follow them.
func TestMemoryTokenStore(t *testing.T) {
	ctx := context.Background()
	s := features.NewMemoryTokenStore()
	now := time.Now()
	tok := func(id byte, issued time.Duration) features.FASTToken {
		return features.FASTToken{ID: []byte{id}, Mechanism: "HT-SHA-256-NONE", Issued: now.Add(issued), Expires: now.Add(issued + time.Hour)}
	}
	ids := func() []byte {
		ts, err := s.Tokens(ctx, "a@x", "c")
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, t := range ts {
			out = append(out, t.ID[0])
		}
		return out
	}
	s.Issue(ctx, "a@x", "c", tok(1, 0))
	if got := ids(); !bytes.Equal(got, []byte{1}) {
		t.Fatalf("after issue: %v", got)
	}
	if err := s.Use(ctx, "a@x", "c", []byte{1}, 3); err != nil {
		t.Fatal(err)
	}
	s.Issue(ctx, "a@x", "c", tok(2, time.Minute))
	if got := ids(); !bytes.Equal(got, []byte{2, 1}) {
		t.Fatalf("newest first, then in use: %v", got)
	}
	s.Issue(ctx, "a@x", "c", tok(3, 2*time.Minute))
	if got := ids(); !bytes.Equal(got, []byte{3, 1}) {
		t.Fatalf("an unused newest token is replaced: %v", got)
	}
	for _, tc := range []struct {
		id    byte
		count uint64
		want  error
	}{{1, 3, features.ErrTokenReplayed}, {1, 2, features.ErrTokenReplayed}, {2, 0, features.ErrTokenUnknown}, {1, 4, nil}, {1, 0, nil}, {3, 0, nil}, {1, 5, features.ErrTokenUnknown}} {
		if err := s.Use(ctx, "a@x", "c", []byte{tc.id}, tc.count); err != tc.want {
			t.Fatalf("use %d count %d: %v, want %v", tc.id, tc.count, err, tc.want)
		}
	}
	if got := ids(); !bytes.Equal(got, []byte{3}) {
		t.Fatalf("after the newest was used: %v", got)
	}
	s.Issue(ctx, "a@x", "d", tok(9, 0))
	s.Invalidate(ctx, "a@x", "c")
	if got := ids(); len(got) != 0 {
		t.Fatalf("after invalidation: %v", got)
	}
	s.Invalidate(ctx, "a@x", "")
	if ts, _ := s.Tokens(ctx, "a@x", "d"); len(ts) != 0 {
		t.Fatalf("after invalidating the account: %v", ts)
	}
	// Bounded per account.
	for i := range 100 {
		s.Issue(ctx, "b@x", string(rune('A'+i)), tok(byte(i), time.Duration(i)))
	}
	n := 0
	for i := range 100 {
		if ts, _ := s.Tokens(ctx, "b@x", string(rune('A'+i))); len(ts) > 0 {
			n++
		}
	}
	if n != 64 {
		t.Fatalf("%d clients kept, want 64", n)
	}
}
