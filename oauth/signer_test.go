package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"github.com/xmppauth/xmppauth/config"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSignerDeterministic(t *testing.T) {
	sg := Signer{
		Credentials: xepCreds,
		Clock:       config.ClockFunc(func() time.Time { return time.Unix(1218137833, 0) }),
		Rand:        bytes.NewReader([]byte("EranHammerLahav!")),
	}
	p, err := sg.Sign(xepStanza)
	if err != nil {
		t.Fatal(err)
	}
	want := xepParams
	want.Nonce = "4572616e48616d6d65724c6168617621" // hex of the injected bytes
	want.Signature, _ = Signature(xepStanza, want, xepConsumerSecret, xepTokenSecret)
	if p != want {
		t.Fatalf("got  %+v\nwant %+v", p, want)
	}
	// The XEP's own nonce and the same inputs give the XEP's signature.
	q := p
	q.Nonce = xepParams.Nonce
	if sig, _ := Signature(xepStanza, q, xepConsumerSecret, xepTokenSecret); sig != xepParams.Signature {
		t.Fatalf("signature %s", sig)
	}
}

func TestSignerFrom(t *testing.T) {
	creds := xepCreds
	env := newTestEnv(t, nil)
	env.now = time.Now()
	// A client signs its full JID although the stanza it sends has no from;
	// the verifier sees the stamped from.
	sg := Signer{Credentials: creds, From: clientJID}
	p, err := sg.Sign(Stanza{Name: "iq", To: serviceJID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Verify(context.Background(), Stanza{Name: "iq", From: clientJID, To: serviceJID}, p); err != nil {
		t.Fatalf("stamped: %v", err)
	}
	// An explicit from on the stanza wins over Signer.From.
	p, err = sg.Sign(Stanza{Name: "iq", From: "bot.findmenow.tld", To: serviceJID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Verify(context.Background(), Stanza{Name: "iq", From: "bot.findmenow.tld", To: serviceJID}, p); err != nil {
		t.Fatalf("explicit: %v", err)
	}
}

func TestSignerErrors(t *testing.T) {
	sg := Signer{Method: "HMAC-SHA256"}
	if _, err := sg.Sign(xepStanza); !errors.Is(err, ErrUnsupportedSignatureMethod) {
		t.Errorf("HMAC-SHA256: %v", err)
	}
	sg = Signer{Method: RSASHA1}
	if _, err := sg.Sign(xepStanza); err == nil {
		t.Errorf("RSA-SHA1 without a key succeeded")
	}
	sg = Signer{Rand: bytes.NewReader(nil)}
	if _, err := sg.Sign(xepStanza); err == nil {
		t.Error("Sign succeeded without randomness")
	}
	sg = Signer{Method: Plaintext, Credentials: Credentials{ConsumerSecret: "a b", TokenSecret: "c"}}
	p, err := sg.Sign(xepStanza)
	if err != nil || p.Signature != "a%20b&c" {
		t.Errorf("PLAINTEXT: %q, %v", p.Signature, err)
	}
	// Fresh nonces.
	sg = Signer{}
	a, _ := sg.Sign(xepStanza)
	b, _ := sg.Sign(xepStanza)
	if a.Nonce == b.Nonce || len(a.Nonce) != 2*nonceBytes {
		t.Errorf("nonces %q %q", a.Nonce, b.Nonce)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"negative window", Config{Window: Duration(-time.Second)}, false},
		{"huge window", Config{Window: Duration(25 * time.Hour)}, false},
		{"negative stanza size", Config{MaxStanzaBytes: -1}, false},
		{"negative nonces", Config{MaxNonces: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// The zero Config knows no consumer: everything is refused.
	v, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	v.clock = config.ClockFunc(func() time.Time { return xepNow })
	if _, err := v.Verify(context.Background(), xepStanza, xepParams); !errors.Is(err, ErrInvalidConsumerKey) {
		t.Fatalf("zero config: %v", err)
	}
	if v.window != DefaultWindow || v.maxStanza != DefaultMaxStanzaBytes {
		t.Fatalf("defaults: %v %v", v.window, v.maxStanza)
	}

	var c Config
	if err := json.Unmarshal([]byte(`{"window":"90s","allow_plaintext":true,"max_stanza_bytes":1000,"max_nonces":5}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.Window != Duration(90*time.Second) || !c.AllowPlaintext || c.MaxStanzaBytes != 1000 || c.MaxNonces != 5 {
		t.Fatalf("decoded %+v", c)
	}
	b, err := json.Marshal(Config{Window: Duration(time.Minute)})
	if err != nil || string(b) != `{"window":"1m0s"}` {
		t.Fatalf("encoded %s, %v", b, err)
	}
	if err := json.Unmarshal([]byte(`{"window":"soon"}`), &c); err == nil {
		t.Fatal("accepted a bad duration")
	}
}

// The expiry heap pops in expiry order whatever the push order.
func TestExpiryHeap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h expiryHeap
	var want []int64
	for range 1000 {
		e := r.Int64N(100)
		h.push(expiry{expires: e})
		want = append(want, e)
	}
	slices.Sort(want)
	for i, w := range want {
		if got := h.pop().expires; got != w {
			t.Fatalf("pop %d = %d, want %d", i, got, w)
		}
	}
}

func TestStanzaOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Stanza
		ok   bool
	}{
		{`<iq from='travelbot@FindMeNow.tld/bot' to='feeds.worldgps.tld' type='set'/>`, Stanza{Name: "iq", From: clientJID, To: serviceJID}, true},
		{`<message to='feeds.worldgps.tld'/>`, Stanza{Name: "message", To: serviceJID}, true},
		{`<presence/>`, Stanza{Name: "presence"}, true},
		{`<iq from='@bad'/>`, Stanza{}, false},
	} {
		var start xml.StartElement
		d := xml.NewDecoder(strings.NewReader(tc.in))
		tok, _ := d.Token()
		start = tok.(xml.StartElement)
		got, err := StanzaOf(start)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v, %v", tc.in, got, err)
		}
	}
	var zero MemoryTokens
	zero.Put("t", TokenInfo{})
	if _, err := zero.LookupToken(context.Background(), "t"); err != nil {
		t.Errorf("zero MemoryTokens: %v", err)
	}
}
