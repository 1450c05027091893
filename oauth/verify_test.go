package oauth

import (
	"context"
	"encoding/xml"
	"errors"
	"github.com/xmppauth/xmppauth/config"
	"io"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
)

// xepNow is ten seconds after the XEP example's timestamp.
var xepNow = time.Unix(1218137833+10, 0)

type testEnv struct {
	v      *Verifier
	tokens *MemoryTokens
	nonces *MemoryNonces
	now    time.Time
}

func newTestEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	env := &testEnv{tokens: NewMemoryTokens(), nonces: NewMemoryNonces(0), now: xepNow}
	env.tokens.Put(xepParams.Token, TokenInfo{
		Secret:      xepTokenSecret,
		ConsumerKey: xepParams.ConsumerKey,
		Scopes:      []string{"pubsub:subscribe"},
	})
	env.tokens.Put("othertoken", TokenInfo{Secret: "x", ConsumerKey: "otherconsumer"})
	env.tokens.Put("expiredtoken", TokenInfo{Secret: xepTokenSecret, ConsumerKey: xepParams.ConsumerKey, Expires: xepNow})
	cfg := Config{
		Consumers: MemoryConsumers{xepParams.ConsumerKey: xepConsumerSecret, "otherconsumer": "y"},
		Tokens:    env.tokens,
		Nonces:    env.nonces,
		Clock:     config.ClockFunc(func() time.Time { return env.now }),
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env.v = v
	return env
}

// signed returns p with a signature made with the given secrets.
func signed(t testing.TB, s Stanza, p Params, cs, ts string) Params {
	t.Helper()
	sig, err := Signature(s, p, cs, ts)
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = sig
	return p
}

func TestVerifyXEPExample(t *testing.T) {
	env := newTestEnv(t, nil)
	g, err := env.v.Verify(context.Background(), xepStanza, xepParams)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if g.ConsumerKey != xepParams.ConsumerKey || g.Token != xepParams.Token || len(g.Scopes) != 1 || g.Scopes[0] != "pubsub:subscribe" {
		t.Errorf("grant = %+v", g)
	}
	if _, err := env.v.Verify(context.Background(), xepStanza, xepParams); !errors.Is(err, ErrNonceReplayed) {
		t.Errorf("replay: err = %v, want ErrNonceReplayed", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	type tc struct {
		name    string
		stanza  Stanza
		params  func() Params
		mod     func(*testEnv)
		wantErr error
	}
	with := func(f func(p *Params)) func() Params {
		return func() Params {
			p := xepParams
			f(&p)
			return p
		}
	}
	resign := func(f func(p *Params), cs, ts string) func() Params {
		return func() Params {
			p := xepParams
			f(&p)
			return signed(t, xepStanza, p, cs, ts)
		}
	}
	at := func(d time.Duration) func(*testEnv) {
		return func(e *testEnv) { e.now = time.Unix(1218137833, 0).Add(d) }
	}
	for _, c := range []tc{
		{name: "ok", params: with(func(*Params) {})},
		{name: "ok without version", params: resign(func(p *Params) { p.Version = "" }, xepConsumerSecret, xepTokenSecret)},
		{name: "missing consumer key", params: with(func(p *Params) { p.ConsumerKey = "" }), wantErr: ErrMissingParameter},
		{name: "missing nonce", params: with(func(p *Params) { p.Nonce = "" }), wantErr: ErrMissingParameter},
		{name: "missing signature", params: with(func(p *Params) { p.Signature = "" }), wantErr: ErrMissingParameter},
		{name: "missing method", params: with(func(p *Params) { p.SignatureMethod = "" }), wantErr: ErrMissingParameter},
		{name: "missing timestamp", params: with(func(p *Params) { p.Timestamp = "" }), wantErr: ErrMissingParameter},
		{name: "missing token", params: with(func(p *Params) { p.Token = "" }), wantErr: ErrTokenRequired},
		{name: "version 2.0", params: with(func(p *Params) { p.Version = "2.0" }), wantErr: ErrUnsupportedParameter},
		{name: "RSA-SHA1", params: with(func(p *Params) { p.SignatureMethod = "RSA-SHA1" }), wantErr: ErrUnsupportedSignatureMethod},
		{name: "lower-case method", params: with(func(p *Params) { p.SignatureMethod = "hmac-sha1" }), wantErr: ErrUnsupportedSignatureMethod},
		{name: "PLAINTEXT not allowed", params: resign(func(p *Params) { p.SignatureMethod = Plaintext }, xepConsumerSecret, xepTokenSecret), wantErr: ErrUnsupportedSignatureMethod},
		{name: "timestamp not a number", params: with(func(p *Params) { p.Timestamp = "12a" }), wantErr: ErrTimestampRefused},
		{name: "timestamp negative", params: with(func(p *Params) { p.Timestamp = "-1218137833" }), wantErr: ErrTimestampRefused},
		{name: "timestamp with space", params: with(func(p *Params) { p.Timestamp = " 1218137833" }), wantErr: ErrTimestampRefused},
		{name: "timestamp too long", params: with(func(p *Params) { p.Timestamp = "99999999999999999999999" }), wantErr: ErrTimestampRefused},
		{name: "unknown consumer", params: with(func(p *Params) { p.ConsumerKey = "nobody" }), wantErr: ErrInvalidConsumerKey},
		{name: "unknown token", params: with(func(p *Params) { p.Token = "nothing" }), wantErr: ErrInvalidToken},
		{name: "token of another consumer", params: with(func(p *Params) { p.Token = "othertoken" }), wantErr: ErrInvalidToken},
		{name: "revoked token", params: with(func(*Params) {}), mod: func(e *testEnv) { e.tokens.Revoke(xepParams.Token) }, wantErr: ErrInvalidToken},
		{name: "expired token", params: resign(func(p *Params) { p.Token = "expiredtoken" }, xepConsumerSecret, xepTokenSecret), wantErr: ErrTokenExpired},
		{name: "stale timestamp", params: with(func(*Params) {}), mod: at(5*time.Minute + time.Second), wantErr: ErrTimestampRefused},
		{name: "future timestamp", params: with(func(*Params) {}), mod: at(-5*time.Minute - time.Second), wantErr: ErrTimestampRefused},
		{name: "oldest accepted", params: with(func(*Params) {}), mod: at(5 * time.Minute)},
		{name: "newest accepted", params: with(func(*Params) {}), mod: at(-5 * time.Minute)},
		{name: "wrong consumer secret", params: resign(func(*Params) {}, "wrong", xepTokenSecret), wantErr: ErrInvalidSignature},
		{name: "wrong token secret", params: resign(func(*Params) {}, xepConsumerSecret, "wrong"), wantErr: ErrInvalidSignature},
		{name: "signature not base64", params: with(func(p *Params) { p.Signature = "!!!!" }), wantErr: ErrInvalidSignature},
		{name: "signature too short", params: with(func(p *Params) { p.Signature = "9PQkM4YKgaM067wq" }), wantErr: ErrInvalidSignature},
		{name: "signature too long", params: with(func(p *Params) { p.Signature = strings.Repeat("A", 400) }), wantErr: ErrInvalidSignature},
		{name: "tampered nonce", params: with(func(p *Params) { p.Nonce = "ffff" }), wantErr: ErrInvalidSignature},
		{name: "other from", stanza: Stanza{Name: "iq", From: "mallory@findmenow.tld/bot", To: xepStanza.To}, params: with(func(*Params) {}), wantErr: ErrInvalidSignature},
		{name: "other to", stanza: Stanza{Name: "iq", From: xepStanza.From, To: "other.tld"}, params: with(func(*Params) {}), wantErr: ErrInvalidSignature},
		{name: "other stanza name", stanza: Stanza{Name: "message", From: xepStanza.From, To: xepStanza.To}, params: with(func(*Params) {}), wantErr: ErrInvalidSignature},
		{name: "from unstamped", stanza: Stanza{Name: "iq", To: xepStanza.To}, params: with(func(*Params) {}), wantErr: ErrInvalidSignature},
		{name: "nonce store full", params: with(func(*Params) {}), mod: func(e *testEnv) { e.v.nonces = NewMemoryNonces(1); fill(t, e.v.nonces) }, wantErr: ErrNonceStoreFull},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := newTestEnv(t, nil)
			if c.mod != nil {
				c.mod(env)
			}
			s := c.stanza
			if s.Name == "" {
				s = xepStanza
			}
			_, err := env.v.Verify(context.Background(), s, c.params())
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error mentions a secret: %v", err)
			}
		})
	}
}

func fill(t testing.TB, n NonceStore) {
	t.Helper()
	err := n.UseNonce(context.Background(), Nonce{ConsumerKey: "c", Token: "t", Value: "n", Now: xepNow, Expires: xepNow.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPlaintext(t *testing.T) {
	p := xepParams
	p.SignatureMethod = Plaintext
	p.Signature = "consumersecret&tokensecret"
	for _, tc := range []struct {
		name      string
		allow     bool
		encrypted bool
		want      error
	}{
		{"allowed and encrypted", true, true, nil},
		{"allowed, not encrypted", true, false, ErrUnsupportedSignatureMethod},
		{"encrypted, not allowed", false, true, ErrUnsupportedSignatureMethod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, func(c *Config) { c.AllowPlaintext = tc.allow })
			_, err := env.v.ForStream(tc.encrypted).Verify(context.Background(), xepStanza, p)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	env := newTestEnv(t, func(c *Config) { c.AllowPlaintext = true })
	p.Signature = "consumersecret&wrong"
	if _, err := env.v.ForStream(true).Verify(context.Background(), xepStanza, p); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("wrong PLAINTEXT: err = %v", err)
	}
}

type failingStore struct{}

var errBackend = errors.New("backend down: password=hunter2")

func (failingStore) ConsumerSecret(context.Context, string) (string, error) { return "", errBackend }
func (failingStore) LookupToken(context.Context, string) (TokenInfo, error) {
	return TokenInfo{}, errBackend
}
func (failingStore) UseNonce(context.Context, Nonce) error { return errBackend }

func TestStoreFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"consumers", func(c *Config) { c.Consumers = failingStore{} }},
		{"tokens", func(c *Config) { c.Tokens = failingStore{} }},
		{"nonces", func(c *Config) { c.Nonces = failingStore{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, tc.mod)
			_, err := env.v.Verify(context.Background(), xepStanza, xepParams)
			if !errors.Is(err, errBackend) {
				t.Fatalf("err = %v, want the store's error", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error text leaks the store's message: %v", err)
			}
			se, app := StanzaError(err)
			if se.Condition != "internal-server-error" || se.Type != "cancel" || app != "" {
				t.Errorf("stanza error = %v %v %q", se.Type, se.Condition, app)
			}
		})
	}
}

func TestNonceScope(t *testing.T) {
	ctx := context.Background()
	n := NewMemoryNonces(10)
	base := Nonce{ConsumerKey: "c", Token: "t", Value: "n", Now: xepNow, Expires: xepNow.Add(time.Minute)}
	if err := n.UseNonce(ctx, base); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Nonce)
		want error
	}{
		{"same", func(*Nonce) {}, ErrNonceReplayed},
		{"same at expiry", func(x *Nonce) { x.Now = x.Expires }, ErrNonceReplayed},
		{"other token", func(x *Nonce) { x.Token = "t2" }, nil},
		{"other consumer", func(x *Nonce) { x.ConsumerKey = "c2" }, nil},
		{"split differently", func(x *Nonce) { x.ConsumerKey, x.Token = "ct", "" }, nil},
		{"after expiry", func(x *Nonce) { x.Now = x.Expires.Add(time.Nanosecond); x.Expires = x.Now.Add(time.Minute) }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := base
			tc.mod(&x)
			if err := n.UseNonce(ctx, x); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A flood of unique nonces within the window fills the store; further nonces
// are rejected (not older ones forgotten) until entries expire.
func TestNonceFlood(t *testing.T) {
	ctx := context.Background()
	const capacity = 64
	n := NewMemoryNonces(capacity)
	now := xepNow
	use := func(i int, now time.Time) error {
		return n.UseNonce(ctx, Nonce{ConsumerKey: "c", Token: "t", Value: "n" + string(rune('A'+i%26)) + time.Duration(i).String(), Now: now, Expires: now.Add(time.Minute)})
	}
	for i := range capacity {
		if err := use(i, now); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
	}
	for i := capacity; i < 4*capacity; i++ {
		if err := use(i, now); !errors.Is(err, ErrNonceStoreFull) {
			t.Fatalf("nonce %d: err = %v, want ErrNonceStoreFull", i, err)
		}
	}
	if got := n.Len(); got != capacity {
		t.Fatalf("Len = %d, want %d", got, capacity)
	}
	// The first nonce is still remembered.
	if err := use(0, now); !errors.Is(err, ErrNonceReplayed) {
		t.Fatalf("first nonce after the flood: err = %v, want ErrNonceReplayed", err)
	}
	// Once the window has passed, the entries expire and room is made.
	later := now.Add(time.Minute + time.Second)
	if err := use(1000, later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := n.Len(); got != 1 {
		t.Fatalf("Len after expiry = %d, want 1", got)
	}
}

func TestErrorElement(t *testing.T) {
	const (
		badRequest = `<bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></bad-request>`
		notAuth    = `<not-authorized xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></not-authorized>`
	)
	app := func(name string) string {
		return `<` + name + ` xmlns="urn:xmpp:oauth:0:errors"></` + name + `>`
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		// XEP-0235 §5, Table 1, row by row.
		{ErrDuplicatedParameter, `<error type="modify">` + badRequest + app("duplicated-parameter") + `</error>`},
		{ErrInvalidConsumerKey, `<error type="auth">` + notAuth + app("invalid-consumer-key") + `</error>`},
		{ErrNonceReplayed, `<error type="auth">` + notAuth + app("invalid-nonce") + `</error>`},
		{ErrInvalidSignature, `<error type="auth">` + notAuth + app("invalid-signature") + `</error>`},
		{ErrInvalidToken, `<error type="auth">` + notAuth + app("invalid-token") + `</error>`},
		{ErrMissingParameter, `<error type="modify">` + badRequest + app("missing-parameter") + `</error>`},
		{ErrTokenRequired, `<error type="auth">` + notAuth + app("token-required") + `</error>`},
		{ErrUnsupportedParameter, `<error type="modify">` + badRequest + app("unsupported-parameter") + `</error>`},
		{ErrUnsupportedSignatureMethod, `<error type="modify">` + badRequest + app("unsupported-signature-method") + `</error>`},
		// Conditions the table does not name (see the package documentation).
		{ErrTimestampRefused, `<error type="auth">` + notAuth + app("invalid-nonce") + `</error>`},
		{ErrTokenExpired, `<error type="auth">` + notAuth + app("invalid-token") + `</error>`},
		{paramError{ErrDuplicatedParameter, "oauth_nonce"}, `<error type="modify">` + badRequest + app("duplicated-parameter") + `</error>`},
		{ErrNonceStoreFull, `<error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></resource-constraint></error>`},
		{ErrStanzaTooLarge, `<error type="modify"><policy-violation xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></policy-violation></error>`},
		{errors.New("anything"), `<error type="cancel"><internal-server-error xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></internal-server-error></error>`},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := marshal(t, ErrorElement(tc.err)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func marshal(t testing.TB, r xml.TokenReader) string {
	t.Helper()
	var b strings.Builder
	e := xml.NewEncoder(&b)
	if _, err := xmlstream.Copy(e, r); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestParseElement(t *testing.T) {
	const open = `<oauth xmlns='urn:xmpp:oauth:0'>`
	elem := func(name, v string) string { return "<" + name + ">" + v + "</" + name + ">" }
	full := elem("oauth_consumer_key", "k") + elem("oauth_nonce", "n") + elem("oauth_signature", "s") +
		elem("oauth_signature_method", "HMAC-SHA1") + elem("oauth_timestamp", "1") + elem("oauth_token", "t")
	for _, tc := range []struct {
		name, in string
		want     Params
		wantErr  error
	}{
		{name: "all", in: open + full + elem("oauth_version", "1.0") + `</oauth>`,
			want: Params{ConsumerKey: "k", Nonce: "n", Signature: "s", SignatureMethod: "HMAC-SHA1", Timestamp: "1", Token: "t", Version: "1.0"}},
		{name: "whitespace and any order", in: open + "\n  " + elem("oauth_token", "t") + "\n" + elem("oauth_consumer_key", "k") + "\n</oauth>",
			want: Params{ConsumerKey: "k", Token: "t"}},
		{name: "value kept verbatim", in: open + elem("oauth_nonce", " a&amp;b<![CDATA[<c>]]> ") + `</oauth>`,
			want: Params{Nonce: " a&b<c> "}},
		{name: "qualified children", in: `<o:oauth xmlns:o='urn:xmpp:oauth:0'><o:oauth_nonce>n</o:oauth_nonce></o:oauth>`,
			want: Params{Nonce: "n"}},
		{name: "empty element", in: open + `<oauth_nonce/></oauth>`, want: Params{}},
		{name: "duplicated", in: open + full + elem("oauth_nonce", "n2") + `</oauth>`, wantErr: ErrDuplicatedParameter},
		{name: "duplicated empty", in: open + `<oauth_token/><oauth_token/></oauth>`, wantErr: ErrDuplicatedParameter},
		{name: "unknown parameter", in: open + full + elem("oauth_callback", "x") + `</oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "other namespace", in: open + `<oauth_nonce xmlns='urn:example'>n</oauth_nonce></oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "nested element", in: open + `<oauth_nonce>n<b/></oauth_nonce></oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "stray text", in: open + `x` + full + `</oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "oversized value", in: open + elem("oauth_nonce", strings.Repeat("n", MaxValueBytes+1)) + `</oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "largest value", in: open + elem("oauth_nonce", strings.Repeat("n", MaxValueBytes)) + `</oauth>`, want: Params{Nonce: strings.Repeat("n", MaxValueBytes)}},
		{name: "version 1.1", in: open + elem("oauth_version", "1.1") + `</oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "empty version", in: open + `<oauth_version/></oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "comment", in: open + `<!-- x --></oauth>`, wantErr: ErrUnsupportedParameter},
		{name: "many repeats", in: open + strings.Repeat("<oauth_nonce/>", 200) + `</oauth>`, wantErr: ErrDuplicatedParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := xml.NewDecoder(strings.NewReader(tc.in))
			tok, err := d.Token()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseElement(d, tok.(xml.StartElement))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseElementTokenBudget(t *testing.T) {
	// Many empty text tokens cannot make the parser run unbounded.
	toks := []xml.Token{}
	for range 1000 {
		toks = append(toks, xml.CharData(" "))
	}
	_, err := ParseElement(&sliceReader{toks: toks}, xml.StartElement{Name: xml.Name{Space: NS, Local: "oauth"}})
	if !errors.Is(err, ErrUnsupportedParameter) {
		t.Fatalf("err = %v", err)
	}
	// A reader that ends inside the element.
	truncated := []xml.Token{xml.StartElement{Name: xml.Name{Local: "oauth_nonce"}}, xml.CharData("n")}
	_, err = ParseElement(&sliceReader{toks: truncated}, xml.StartElement{Name: xml.Name{Space: NS, Local: "oauth"}})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: err = %v", err)
	}
	if _, err := ParseElement(&sliceReader{}, xml.StartElement{Name: xml.Name{Local: "oauth"}}); err == nil {
		t.Fatal("accepted an element in no namespace")
	}
}

func TestParamsRoundTrip(t *testing.T) {
	got := marshal(t, xepParams.TokenReader())
	const want = `<oauth xmlns="urn:xmpp:oauth:0"><oauth_consumer_key>0685bd9184jfhq22</oauth_consumer_key><oauth_nonce>4572616e48616d6d65724c61686176</oauth_nonce><oauth_signature>9PQkM4YKgaM067wqrDGshXOwDW0=</oauth_signature><oauth_signature_method>HMAC-SHA1</oauth_signature_method><oauth_timestamp>1218137833</oauth_timestamp><oauth_token>ad180jjd733klru7</oauth_token><oauth_version>1.0</oauth_version></oauth>`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var p Params
	if err := xml.Unmarshal([]byte(got), &p); err != nil {
		t.Fatal(err)
	}
	if p != xepParams {
		t.Fatalf("round trip: %+v", p)
	}
	b, err := xml.Marshal(xepParams)
	if err != nil || string(b) != want {
		t.Fatalf("xml.Marshal = %s, %v", b, err)
	}
}
