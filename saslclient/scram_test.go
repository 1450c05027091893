package saslclient

import (
	"bytes"
	"crypto"
	"crypto/pbkdf2"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/config"
	"github.com/xmppauth/xmppauth/scram"
)

// TestVectors runs the RFC 5802 §5 and RFC 7677 §3 exchanges (see
// ../shared/specs/VECTORS.md §4, §5) through the client.
func TestVectors(t *testing.T) {
	tests := []struct {
		name        string
		mech        scram.Mechanism
		nonce       string
		clientFirst string
		serverFirst string
		clientFinal string
		serverFinal string
	}{{
		name:        "RFC 5802 §5",
		mech:        scram.SHA1,
		nonce:       "fyko+d2lbbFgONRv9qkxdawL",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	}, {
		name:        "RFC 7677 §3",
		mech:        scram.SHA256,
		nonce:       "rOprNGfwEbeRWgbNEkqO",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, cached := range []bool{false, true} {
				c, err := newScramClientNonce(tc.mech, "user", "", "pencil", "n", nil, tc.nonce)
				if err != nil {
					t.Fatal(err)
				}
				c.minIter, c.maxIter = DefaultMinIterations, DefaultMaxIterations
				cache := NewMemoryCache(0)
				if cached {
					// A cache filled by an earlier login gives the same result.
					salt, _ := base64.StdEncoding.DecodeString(strings.Split(strings.Split(tc.serverFirst, "s=")[1], ",")[0])
					sp, _ := pbkdf2.Key(tc.mech.Hash().New, "pencil", salt, 4096, tc.mech.Hash().Size())
					cache.Put(CacheKey{Hash: tc.mech.Hash(), Salt: string(salt), Iterations: 4096}, sp)
				}
				c.cache = cache
				if got := string(c.first()); got != tc.clientFirst {
					t.Errorf("client-first = %q, want %q", got, tc.clientFirst)
				}
				final, err := c.final([]byte(tc.serverFirst), nil)
				if err != nil {
					t.Fatal(err)
				}
				if string(final) != tc.clientFinal {
					t.Errorf("client-final = %q, want %q", final, tc.clientFinal)
				}
				if c.cached != cached || cache.Len() != 1 {
					t.Errorf("cached = %v, entries = %d", c.cached, cache.Len())
				}
				if err := c.verifyFinal([]byte(tc.serverFinal)); err != nil {
					t.Errorf("server-final: %v", err)
				}
				bad := []byte(tc.serverFinal)
				bad[3] ^= 1
				if err := c.verifyFinal(bad); !errors.Is(err, ErrServerSignature) && !errors.Is(err, ErrMalformed) {
					t.Errorf("wrong server-final: %v", err)
				}
			}
		})
	}
}

// TestXEP0474Vector checks the §6.1/§6.3 example: the h= hash over the
// lists, the c= attribute with the (fake) binding data, and the proof and
// signature over the example's AuthMessage (VECTORS.md §6).
func TestXEP0474Vector(t *testing.T) {
	input := scram.DowngradeProtectionInput([]string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, []string{"tls-server-end-point", "tls-exporter"})
	if want := "SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point"; string(input) != want {
		t.Fatalf("input = %q, want %q", input, want)
	}
	if got := base64.StdEncoding.EncodeToString(downgradeHash(crypto.SHA1, input)); got != "G6k/rBLDqgOhRRaCuuatSDFkJ08=" {
		t.Errorf("h = %s", got)
	}

	const nonce = "12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6"
	const first = "r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08="
	c, _ := newScramClientNonce(scram.SHA1Plus, "user", "", "pencil", "p=tls-exporter", []byte("THIS IS FAKE CB DATA"), nonce)
	c.minIter, c.maxIter = DefaultMinIterations, DefaultMaxIterations
	if got := string(c.first()); got != "p=tls-exporter,,n=user,r="+nonce {
		t.Errorf("client-first = %q", got)
	}
	var sawH []byte
	final, err := c.final([]byte(first), func(sf serverFirst) error { sawH = sf.h; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(sawH); got != "G6k/rBLDqgOhRRaCuuatSDFkJ08=" {
		t.Errorf("parsed h = %s", got)
	}
	if !bytes.HasPrefix(final, []byte("c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,r=12C4CD5C")) {
		t.Errorf("client-final = %q", final)
	}

	// The example's client-final carries an extension x= this client does
	// not send, so check the proof over the example's own AuthMessage.
	authMessage := "n=user,r=" + nonce + "," + first +
		",c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,x=19C6532F-1CF4-4A27-A18D-DC9CEA41BBB3"
	salt, _ := base64.StdEncoding.DecodeString("QSXCR+Q6sek8bf92")
	sp, _ := pbkdf2.Key(crypto.SHA1.New, "pencil", salt, 4096, 20)
	proof, sig := keys(crypto.SHA1, sp, []byte(authMessage))
	if got := base64.StdEncoding.EncodeToString(proof); got != "M/SIDjT+dfcxUh89jZEypRvFxB4=" {
		t.Errorf("proof = %s", got)
	}
	if got := base64.StdEncoding.EncodeToString(sig); got != "MQrMPvv7yv4x4Cq4W4Ih25EqS2c=" {
		t.Errorf("server signature = %s", got)
	}
}

func TestClientFirst(t *testing.T) {
	tests := []struct {
		user, authzid, flag string
		want                string
	}{
		{"user", "", "n", "n,,n=user,r=N"},
		{"us=er,x", "", "y", "y,,n=us=3Der=2Cx,r=N"},
		{"user", "admin@example.org", "p=tls-server-end-point", "p=tls-server-end-point,a=admin@example.org,n=user,r=N"},
		{"user", "a,b=c", "n", "n,a=a=2Cb=3Dc,n=user,r=N"},
	}
	for _, tc := range tests {
		c, err := newScramClientNonce(scram.SHA256, tc.user, tc.authzid, "p", tc.flag, nil, "N")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(c.first()); got != tc.want {
			t.Errorf("first = %q, want %q", got, tc.want)
		}
	}
	if _, err := newScramClientNonce(scram.SHA256, "", "", "p", "n", nil, "N"); err == nil {
		t.Error("empty user name accepted")
	}
}

func TestParseServerFirst(t *testing.T) {
	const nonce = "abc"
	long := strings.Repeat("A", MaxServerMessageLen)
	tests := []struct {
		msg  string
		err  error
		iter int
		h    string
	}{
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", iter: 4096},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=", iter: 4096, h: "G6k/rBLDqgOhRRaCuuatSDFkJ08="},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,x=whatever,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=", iter: 4096, h: "G6k/rBLDqgOhRRaCuuatSDFkJ08="},
		{msg: "r=abc,s=QSXCR+Q6sek8bf92,i=4096", err: ErrNonceMismatch},
		{msg: "r=xbcdef,s=QSXCR+Q6sek8bf92,i=4096", err: ErrNonceMismatch},
		{msg: "r=ab,s=QSXCR+Q6sek8bf92,i=4096", err: ErrNonceMismatch},
		{msg: "m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,m=x", err: ErrMalformed},
		{msg: "r=abcdef,s=,i=4096", err: ErrMalformed},
		{msg: "r=abcdef,s=not base64!,i=4096", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92", err: ErrMalformed},
		{msg: "s=QSXCR+Q6sek8bf92,r=abcdef,i=4096", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=0", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=04096", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=-4096", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=99999999999", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,h=AA==,h=AA==", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,h=!!", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,r=abcdefg", err: ErrMalformed},
		{msg: "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096,", err: ErrMalformed},
		{msg: "r=abc\x00def,s=QSXCR+Q6sek8bf92,i=4096", err: ErrMalformed},
		{msg: "r=abc def,s=QSXCR+Q6sek8bf92,i=4096", err: ErrMalformed},
		{msg: "r=abcdef,s=" + base64.StdEncoding.EncodeToString(make([]byte, maxSaltLen+1)) + ",i=4096", err: ErrMalformed},
		{msg: "r=abc" + long + ",s=QSXCR+Q6sek8bf92,i=4096", err: ErrMalformed},
		{msg: "", err: ErrMalformed},
	}
	for _, tc := range tests {
		sf, err := parseServerFirst([]byte(tc.msg), []byte(nonce))
		if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("%.60q: error %v, want %v", tc.msg, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if sf.iterations != tc.iter || base64.StdEncoding.EncodeToString(sf.h) != tc.h && tc.h != "" || (tc.h == "") != (sf.h == nil) {
			t.Errorf("%q: parsed %+v", tc.msg, sf)
		}
	}
}

func TestParseServerFinal(t *testing.T) {
	tests := []struct {
		msg      string
		err      error
		serverEr string
	}{
		{msg: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{msg: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,x=ext"},
		{msg: "e=invalid-proof", serverEr: "invalid-proof"},
		{msg: "e=channel-bindings-dont-match,x=1", serverEr: "channel-bindings-dont-match"},
		{msg: "e=", err: ErrMalformed},
		{msg: "v=", err: ErrMalformed},
		{msg: "v=!!!", err: ErrMalformed},
		{msg: "x=1", err: ErrMalformed},
		{msg: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=,", err: ErrMalformed},
		{msg: "", err: ErrMalformed},
	}
	for _, tc := range tests {
		_, err := parseServerFinal([]byte(tc.msg))
		var se *ServerError
		switch {
		case tc.serverEr != "":
			if !errors.As(err, &se) || se.Value != tc.serverEr {
				t.Errorf("%q: %v, want server error %s", tc.msg, err, tc.serverEr)
			}
		case !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil):
			t.Errorf("%q: %v, want %v", tc.msg, err, tc.err)
		}
	}
}

func TestIterationBounds(t *testing.T) {
	tests := []struct {
		min, max, iter int
		ok             bool
	}{
		{DefaultMinIterations, DefaultMaxIterations, 4096, true},
		{DefaultMinIterations, DefaultMaxIterations, 4095, false},
		{10000, DefaultMaxIterations, 4096, false},
		{DefaultMinIterations, 5000, 5001, false},
	}
	for _, tc := range tests {
		c, _ := newScramClientNonce(scram.SHA1, "user", "", "pencil", "n", nil, "abc")
		c.minIter, c.maxIter = tc.min, tc.max
		_, err := c.final([]byte("r=abcdef,s=QSXCR+Q6sek8bf92,i="+strconv.Itoa(tc.iter)), nil)
		if (err == nil) != tc.ok || !tc.ok && !errors.Is(err, ErrIterationCount) {
			t.Errorf("[%d, %d] i=%d: %v", tc.min, tc.max, tc.iter, err)
		}
	}
}

func TestChoose(t *testing.T) {
	tls13 := connection{available: []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint}, defaultCB: cbind.TLSExporter, hasDefault: true}
	tls12 := connection{available: []cbind.Type{cbind.TLSExporter, cbind.TLSServerEndPoint, cbind.TLSUnique}, defaultCB: cbind.TLSUnique, hasDefault: true}
	noCB := connection{}
	tests := []struct {
		name  string
		cfg   Config
		offer offer
		conn  connection
		want  plan
		err   error
	}{{
		name:  "pseudomechanisms: strongest hash, then strongest type",
		offer: offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS:tls-unique", "SCRAM-SHA-256-PLUS:tls-server-end-point", "SCRAM-SHA-1-PLUS:tls-exporter", "SCRAM-SHA-256"}},
		conn:  tls12,
		want:  plan{name: "SCRAM-SHA-256-PLUS:tls-server-end-point", mech: scram.SHA256Plus, flag: "p=tls-server-end-point", cbType: cbind.TLSServerEndPoint},
	}, {
		name:  "XEP-0440 list",
		offer: offer{mechanisms: []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, types: []string{"tls-unique", "tls-server-end-point", "x-unknown"}},
		conn:  tls12,
		want:  plan{name: "SCRAM-SHA-1-PLUS", mech: scram.SHA1Plus, flag: "p=tls-server-end-point", cbType: cbind.TLSServerEndPoint},
	}, {
		name:  "plain -PLUS: the default type",
		offer: offer{mechanisms: []string{"SCRAM-SHA-512-PLUS", "SCRAM-SHA-512"}},
		conn:  tls12,
		want:  plan{name: "SCRAM-SHA-512-PLUS", mech: scram.SHA512Plus, flag: "p=tls-unique", cbType: cbind.TLSUnique},
	}, {
		name:  "-PLUS of a weaker hash beats a stronger hash without",
		offer: offer{mechanisms: []string{"SCRAM-SHA-512", "SCRAM-SHA-1-PLUS"}},
		conn:  tls13,
		want:  plan{name: "SCRAM-SHA-1-PLUS", mech: scram.SHA1Plus, flag: "p=tls-exporter", cbType: cbind.TLSExporter},
	}, {
		name:  "no -PLUS offered: y",
		offer: offer{mechanisms: []string{"SCRAM-SHA-1", "SCRAM-SHA-256", "PLAIN"}},
		conn:  tls13,
		want:  plan{name: "SCRAM-SHA-256", mech: scram.SHA256, flag: "y"},
	}, {
		name:  "no -PLUS offered, no binding here: n",
		offer: offer{mechanisms: []string{"SCRAM-SHA-1"}},
		conn:  noCB,
		want:  plan{name: "SCRAM-SHA-1", mech: scram.SHA1, flag: "n"},
	}, {
		name:  "client configured without -PLUS: n",
		cfg:   Config{Mechanisms: []string{"SCRAM-SHA-1"}},
		offer: offer{mechanisms: []string{"SCRAM-SHA-1"}},
		conn:  tls13,
		want:  plan{name: "SCRAM-SHA-1", mech: scram.SHA1, flag: "n"},
	}, {
		name:  "rule 6: -PLUS with only unknown types: n, never y",
		offer: offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256-PLUS:x-new", "SCRAM-SHA-256"}, types: []string{"x-new"}},
		conn:  tls13,
		want:  plan{name: "SCRAM-SHA-256", mech: scram.SHA256, flag: "n", rule6: true},
	}, {
		name:  "-PLUS of an unknown hash: n",
		offer: offer{mechanisms: []string{"SCRAM-SHA3-512-PLUS", "SCRAM-SHA-1"}},
		conn:  tls13,
		want:  plan{name: "SCRAM-SHA-1", mech: scram.SHA1, flag: "n"},
	}, {
		name:  "plain -PLUS but the default type is unavailable",
		offer: offer{mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}},
		conn:  connection{available: []cbind.Type{cbind.TLSServerEndPoint}},
		want:  plan{name: "SCRAM-SHA-256", mech: scram.SHA256, flag: "n", rule6: true},
	}, {
		name:  "XEP-0440 without -PLUS",
		offer: offer{mechanisms: []string{"SCRAM-SHA-256"}, types: []string{"tls-exporter"}},
		conn:  tls13,
		err:   ErrDowngrade,
	}, {
		name:  "PLAIN not allowed",
		offer: offer{mechanisms: []string{"PLAIN"}},
		conn:  tls13,
		err:   ErrNoMechanism,
	}, {
		name:  "PLAIN allowed",
		cfg:   Config{AllowPLAIN: true},
		offer: offer{mechanisms: []string{"PLAIN", "X-OAUTH2"}},
		conn:  tls13,
		want:  plan{name: "PLAIN", plain: true},
	}, {
		name:  "nothing",
		offer: offer{mechanisms: []string{}},
		conn:  tls13,
		err:   ErrNoMechanism,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := choose(&tc.cfg, tc.offer, tc.conn)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("error = %v, want %v", err, tc.err)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseFeatures(t *testing.T) {
	decode := func(s string, f func(*xml.Decoder) ([]string, error)) ([]string, error) {
		d := xml.NewDecoder(strings.NewReader(s))
		if _, err := d.Token(); err != nil {
			return nil, err
		}
		return f(d)
	}
	mechs, err := decode(`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism> SCRAM-SHA-1 </mechanism><hostname xmlns='urn:xmpp:domain-based-name:1'>x</hostname><mechanism>SCRAM-SHA-1-PLUS:tls-exporter</mechanism></mechanisms>`, parseMechanisms)
	if err != nil || strings.Join(mechs, "|") != "SCRAM-SHA-1|SCRAM-SHA-1-PLUS:tls-exporter" {
		t.Errorf("mechanisms = %q, %v", mechs, err)
	}
	for _, bad := range []string{
		`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>` + strings.Repeat(`<mechanism>A</mechanism>`, MaxMechanisms+1) + `</mechanisms>`,
		`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>` + strings.Repeat("A", MaxMechanismLen+1) + `</mechanism></mechanisms>`,
		`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>A B</mechanism></mechanisms>`,
		`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism><x/></mechanism></mechanisms>`,
		`<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>A</mechanism>`,
	} {
		if _, err := decode(bad, parseMechanisms); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.80q: %v", bad, err)
		}
	}
	types, err := decode(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-server-end-point'/><channel-binding type='x-new'/><other/></sasl-channel-binding>`, parseChannelBindingTypes)
	if err != nil || strings.Join(types, "|") != "tls-server-end-point|x-new" {
		t.Errorf("types = %q, %v", types, err)
	}
	if types, err := decode(`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'/>`, parseChannelBindingTypes); err != nil || types == nil {
		t.Errorf("empty capability: %q, %v (must be non-nil: it was advertised)", types, err)
	}
	for _, bad := range []string{
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>` + strings.Repeat(`<channel-binding type='a'/>`, MaxChannelBindingTypes+1) + `</sasl-channel-binding>`,
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding/></sasl-channel-binding>`,
		`<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='a b'/></sasl-channel-binding>`,
	} {
		if _, err := decode(bad, parseChannelBindingTypes); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.80q: %v", bad, err)
		}
	}
}

func TestMemoryCache(t *testing.T) {
	c := NewMemoryCache(2)
	k := func(i int) CacheKey { return CacheKey{Hash: crypto.SHA256, Salt: "s", Iterations: 4096 + i} }
	c.Put(k(1), []byte{1})
	c.Put(k(2), []byte{2})
	v, _ := c.Get(k(1))
	v[0] = 9 // callers cannot change the stored value
	c.Put(k(3), []byte{3})
	if _, ok := c.Get(k(1)); ok {
		t.Error("oldest entry not evicted")
	}
	if v, ok := c.Get(k(2)); !ok || v[0] != 2 {
		t.Errorf("k2 = %v, %v", v, ok)
	}
	c.Delete(k(2))
	if _, ok := c.Get(k(2)); ok || c.Len() != 1 {
		t.Errorf("after delete: len %d", c.Len())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		ok   bool
		path string // the JSON key a FieldError names, "" for none
	}{
		{Config{Password: "p"}, true, ""},
		{Config{}, false, ""},
		{Config{Password: "p", Mechanisms: []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1"}}, true, ""},
		{Config{Password: "p", Mechanisms: []string{"PLAIN"}}, false, "mechanisms"},
		{Config{Password: "p", Mechanisms: []string{"PLAIN"}, AllowPLAIN: true}, true, ""},
		{Config{Password: "p", Mechanisms: []string{"SCRAM-SHA-256-PLUS:tls-exporter"}}, false, "mechanisms"},
		{Config{Password: "p", ChannelBindingTypes: []cbind.Type{"tls-unique-for-telnet"}}, false, "channel_binding_types"},
		{Config{Password: "p", MinIterations: -1}, false, "min_iterations"},
		{Config{Password: "p", MinIterations: 10000, MaxIterations: 5000}, false, "max_iterations"},
		{Config{Password: "p", StepTimeout: -1}, false, "step_timeout"},
		{Config{Password: "p", UserAgent: UserAgent{ID: "not-a-uuid"}}, false, "user_agent.id"},
		{Config{Password: "\u0007"}, false, ""},
	}
	for i, tc := range tests {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%d: %+v: %v", i, tc.cfg, err)
		}
		var fe *config.FieldError
		if tc.path != "" && (!errors.As(err, &fe) || fe.Path != tc.path) {
			t.Errorf("%d: %v, want a FieldError for %s", i, err, tc.path)
		}
		if _, err := New(tc.cfg); (err == nil) != tc.ok {
			t.Errorf("%d: New: %v", i, err)
		}
	}
}
