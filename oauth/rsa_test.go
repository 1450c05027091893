package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
)

// rsaVector is the XEP-0235 example stanza signed with RSA-SHA1 by OpenSSL
// ("openssl dgst -sha1 -sign testdata/rsa-test-key.pem" over the base
// string), an independent implementation. PKCS #1 v1.5 signatures are
// deterministic, so our signer must produce the same bytes.
const rsaVector = "miiGcKTFKOVpQOU1ZIUYNPQ1qtqBuNVsz5B6ZeicpzKXFzRsWjl8EIyFDWxSl8H5BRt01AcFJ/ZQzHo38j2ZG8xO6SvWj41HCyQ/oL27ED0jB3LLbFkmG1/FPa9zlyOkeuSF4hRP6E3HtqfDZjABCN1ILGlQR7hBXL5CWlqBFwz4jTpRzTh+sVoCAsdQ7p0Ent5c+FqPWLsDYStOIZM6O4GDVRoSA6HqcXDKlzhlZVx8RQpmujJcueKBxXVX5fIw1xqPwceBfM0XLNs8vL0xF771P+ihNfEvWeiidAYdw+kCuuYVbIcg8GfeELFr0cpXHX7cl6o3TMxfq7wT3/ytHQ=="

func rsaTestKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/rsa-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func TestRSASHA1Vector(t *testing.T) {
	key := rsaTestKey(t)
	p := xepParams
	p.SignatureMethod = RSASHA1
	const wantBase = "iq&travelbot%40findmenow.tld%2Fbot%26feeds.worldgps.tld&oauth_consumer_key%3D0685bd9184jfhq22%26oauth_nonce%3D4572616e48616d6d65724c61686176%26oauth_signature_method%3DRSA-SHA1%26oauth_timestamp%3D1218137833%26oauth_token%3Dad180jjd733klru7%26oauth_version%3D1.0"
	base := AppendBaseString(nil, xepStanza, &p)
	if string(base) != wantBase {
		t.Fatalf("base string %s", base)
	}
	sig, err := signRSASHA1(key, base)
	if err != nil {
		t.Fatal(err)
	}
	if sig != rsaVector {
		t.Fatalf("signature\n got %s\nwant %s", sig, rsaVector)
	}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys RSAKeyStore
		mod  func(*Params)
		want error
	}{
		{name: "valid", keys: MemoryRSAKeys{p.ConsumerKey: &key.PublicKey}},
		{name: "disabled", want: ErrUnsupportedSignatureMethod},
		{name: "unknown consumer", keys: MemoryRSAKeys{}, want: ErrInvalidConsumerKey},
		{name: "nil key", keys: MemoryRSAKeys{p.ConsumerKey: nil}, want: ErrInvalidConsumerKey},
		{name: "other key", keys: MemoryRSAKeys{p.ConsumerKey: &other.PublicKey}, want: ErrInvalidSignature},
		{name: "tampered", keys: MemoryRSAKeys{p.ConsumerKey: &key.PublicKey}, mod: func(p *Params) { p.Nonce = "x" }, want: ErrInvalidSignature},
		{name: "not base64", keys: MemoryRSAKeys{p.ConsumerKey: &key.PublicKey}, mod: func(p *Params) { p.Signature = "%%" }, want: ErrInvalidSignature},
		{name: "HMAC signature", keys: MemoryRSAKeys{p.ConsumerKey: &key.PublicKey}, mod: func(p *Params) { p.Signature = xepParams.Signature }, want: ErrInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, func(c *Config) { c.RSAKeys = tc.keys })
			q := p
			q.Signature = rsaVector
			if tc.mod != nil {
				tc.mod(&q)
			}
			_, err := env.v.Verify(context.Background(), xepStanza, q)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	// Signer and verifier agree.
	env := newTestEnv(t, func(c *Config) { c.RSAKeys = MemoryRSAKeys{p.ConsumerKey: &key.PublicKey} })
	env.now = xepNow
	creds := xepCreds
	creds.RSAKey = key
	sg := Signer{Credentials: creds, Method: RSASHA1, Clock: env.v.clock}
	signedP, err := sg.Sign(xepStanza)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.v.Verify(context.Background(), xepStanza, signedP); err != nil {
		t.Fatal(err)
	}
}
