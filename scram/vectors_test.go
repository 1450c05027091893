package scram_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"testing"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seq returns the bytes 0, 1, …, n-1 (VECTORS.md §12 "00..1f").
func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

type vector struct {
	name        string
	mech        scram.Mechanism
	salt        string // base64
	serverNonce string
	cbType      cbind.Type
	cbData      []byte
	advertised  bool
	downgrade   []byte
	clientFirst string
	serverFirst string
	clientFinal string
	serverFinal string
	storedKey   string // base64, "" to skip
	serverKey   string
	wantAuthzid string
}

// vectors are RFC 5802 §5, RFC 7677 §3, XEP-0474 §6.3 and the computed
// -PLUS/SHA-512 exchanges of VECTORS.md §12, all with user "user" and
// password "pencil" at 4096 iterations.
var vectors = []vector{
	{
		name: "RFC5802/SCRAM-SHA-1", mech: scram.SHA1, salt: "QSXCR+Q6sek8bf92",
		serverNonce: "3rfcNHYJY1ZVvWVs7j",
		clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		storedKey:   "6dlGYMOdZcOPutkcNY8U2g7vK9Y=", serverKey: "D+CSWLOshSulAsxiupA+qs2/fTE=",
	},
	{
		name: "RFC7677/SCRAM-SHA-256", mech: scram.SHA256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		storedKey:   "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=", serverKey: "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	},
	{
		name: "VECTORS12/SCRAM-SHA-1-PLUS/tls-unique", mech: scram.SHA1Plus, salt: "QSXCR+Q6sek8bf92",
		serverNonce: "3rfcNHYJY1ZVvWVs7j", cbType: cbind.TLSUnique, cbData: []byte{0, 1, 2, 3, 4}, advertised: true,
		clientFirst: "p=tls-unique,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		clientFinal: "c=cD10bHMtdW5pcXVlLCwAAQIDBA==,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=uZG7kWRDE0D7COqyTg8MAEtBaKM=",
		serverFinal: "v=xsD9LwsfOUM7S0xzslHgjSV3Jhc=",
	},
	{
		name: "VECTORS12/SCRAM-SHA-256-PLUS/tls-exporter", mech: scram.SHA256Plus, salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", cbType: cbind.TLSExporter, cbData: seq(32), advertised: true,
		clientFirst: "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=QC6CS20quADQRb3mT99YUH+n3VJxUvzuK0K0E1Vrs2M=",
		serverFinal: "v=2GiAgapEppLVlUXbxUDksL3VgYHzuqiK5tR4mhJGgvs=",
	},
	{
		name: "VECTORS12/SCRAM-SHA-256-PLUS/tls-server-end-point", mech: scram.SHA256Plus, salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", cbType: cbind.TLSServerEndPoint, cbData: seq(32), advertised: true,
		clientFirst: "p=tls-server-end-point,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=nY1Wus9a+gM2DrbQ1msXFgyhW6KM5ktOxWiU+/P/EGY=",
		serverFinal: "v=RwppMGddhz/J0lFYaRReBjXcQeNUFP5Qc76Lo5Exrig=",
	},
	{
		name: "VECTORS12/SCRAM-SHA-512-PLUS/tls-exporter/authzid", mech: scram.SHA512Plus, salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", cbType: cbind.TLSExporter, cbData: seq(32), advertised: true,
		clientFirst: "p=tls-exporter,a=admin,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=cD10bHMtZXhwb3J0ZXIsYT1hZG1pbiwAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=hg69KZzQbdILvy967jhvPMCWaYSaSbQZyNJpesXhNuAOQSnjWqtEhfPWZIuDlNYxKP6IM8/689/w/EEZ0omh4A==",
		serverFinal: "v=gt/BZHUoT0gKV6x/H0XkL+ilXM+WRwbzObOxNi9wXS7p997E32nbIlWaDgyQE8vXA/draG2N2bY3AiQa39HG9g==",
		storedKey:   "6AAub3065EYRmyFpM2RNwqK+eGnrkYuEWbXn19LsEmBqzu8QaCXNc1FwpnX9NhH2hK/60dzj9DoO5DvVkOHbvg==",
		serverKey:   "jZHbYjC1aHh0/hKbxyBuGFjDrgjgKTT1esA7awWiKcRZ0o/0b1yWEebBeSVkkCFewf91nLDfKF24mvD5nmE6rA==",
		wantAuthzid: "admin",
	},
	{
		name: "VECTORS12/SCRAM-SHA-512/y", mech: scram.SHA512, salt: "W22ZaJ0SNY7soEsUEjb6gQ==",
		serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		clientFirst: "y,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		clientFinal: "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=VrNrCclW9AD/Yk8l31V4OqUMu/q7GisSWUiLQyCJ/FbAjX0cz0yg5fP8qfMm6C+ANjP+JcgB3IS6alx/nEu6Zg==",
		serverFinal: "v=9ljM8X8/k7XVI8iXtN0M6JKGwlfsiNfKI2LXo41m0hFjx9B+x1naDQ5NGcCm5lXjSgW3MM/3IGsl62659FI3Vg==",
		storedKey:   "6AAub3065EYRmyFpM2RNwqK+eGnrkYuEWbXn19LsEmBqzu8QaCXNc1FwpnX9NhH2hK/60dzj9DoO5DvVkOHbvg==",
		serverKey:   "jZHbYjC1aHh0/hKbxyBuGFjDrgjgKTT1esA7awWiKcRZ0o/0b1yWEebBeSVkkCFewf91nLDfKF24mvD5nmE6rA==",
	},
	{
		// XEP-0474 §6.3: h= in server-first, an x= extension in client-final,
		// both covered by the signatures.
		name: "XEP-0474/SCRAM-SHA-1-PLUS/h", mech: scram.SHA1Plus, salt: "QSXCR+Q6sek8bf92",
		serverNonce: "a09117a6-ac50-4f2f-93f1-93799c2bddf6", cbType: cbind.TLSExporter,
		cbData: []byte("THIS IS FAKE CB DATA"), advertised: true,
		downgrade:   []byte("SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point"),
		clientFirst: "p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6",
		serverFirst: "r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=",
		clientFinal: "c=cD10bHMtZXhwb3J0ZXIsLFRISVMgSVMgRkFLRSBDQiBEQVRB,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6a09117a6-ac50-4f2f-93f1-93799c2bddf6,x=19C6532F-1CF4-4A27-A18D-DC9CEA41BBB3,p=M/SIDjT+dfcxUh89jZEypRvFxB4=",
		serverFinal: "v=MQrMPvv7yv4x4Cq4W4Ih25EqS2c=",
	},
}

// fixedBinding returns a ChannelBinding that offers exactly one type.
func fixedBinding(advertised bool, t cbind.Type, data []byte) scram.ChannelBinding {
	return scram.ChannelBinding{
		Advertised: advertised,
		Data: func(got cbind.Type) ([]byte, error) {
			if t == "" || got != t {
				return nil, fmt.Errorf("type %q not available", got)
			}
			return data, nil
		},
	}
}

// vectorServer returns a server for v whose store knows user/pencil.
func vectorServer(t testing.TB, v vector) *scram.Server {
	t.Helper()
	cred, err := scram.NewCredential(v.mech.Hash(), "pencil", b64(t, v.salt), 4096)
	if err != nil {
		t.Fatal(err)
	}
	store := scram.NewMemoryStore()
	store.Set("user", v.mech.Hash(), cred)
	srv, err := scram.NewServer(v.mech, scram.Config{Store: store, Secret: []byte("0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	scram.SetServerNonce(srv, v.serverNonce)
	return srv
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			srv := vectorServer(t, v)
			ex := srv.Start(fixedBinding(v.advertised, v.cbType, v.cbData), v.downgrade)
			ctx := context.Background()

			out, done, err := ex.Step(ctx, []byte(v.clientFirst))
			if err != nil || done {
				t.Fatalf("client-first: done=%v err=%v", done, err)
			}
			if string(out) != v.serverFirst {
				t.Fatalf("server-first:\n got %s\nwant %s", out, v.serverFirst)
			}
			if ex.Username() != "" || ex.Authzid() != "" || ex.ChannelBinding() != "" || ex.Done() {
				t.Error("identity reported before the proof was checked")
			}
			out, done, err = ex.Step(ctx, []byte(v.clientFinal))
			if err != nil || !done {
				t.Fatalf("client-final: done=%v err=%v out=%s", done, err, out)
			}
			if string(out) != v.serverFinal {
				t.Fatalf("server-final:\n got %s\nwant %s", out, v.serverFinal)
			}
			if got := ex.Username(); got != "user" {
				t.Errorf("Username() = %q", got)
			}
			if got := ex.Authzid(); got != v.wantAuthzid {
				t.Errorf("Authzid() = %q, want %q", got, v.wantAuthzid)
			}
			if got := ex.ChannelBinding(); got != v.cbType {
				t.Errorf("ChannelBinding() = %q, want %q", got, v.cbType)
			}
			if !ex.Done() {
				t.Error("Done() = false")
			}
			// Replaying client-final on the finished exchange fails.
			if out, _, err := ex.Step(ctx, []byte(v.clientFinal)); err != scram.ErrExchangeOver || out != nil {
				t.Errorf("replay: out=%q err=%v", out, err)
			}
		})
	}
}

func TestNewCredentialVectors(t *testing.T) {
	for _, v := range vectors {
		if v.storedKey == "" {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			c, err := scram.NewCredential(v.mech.Hash(), "pencil", b64(t, v.salt), 4096)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.StoredKey, b64(t, v.storedKey)) || !bytes.Equal(c.ServerKey, b64(t, v.serverKey)) {
				t.Errorf("keys = %x / %x", c.StoredKey, c.ServerKey)
			}
			if c.Iterations != 4096 || !bytes.Equal(c.Salt, b64(t, v.salt)) {
				t.Errorf("salt/iterations = %x/%d", c.Salt, c.Iterations)
			}
			if !scram.VerifyPassword(v.mech.Hash(), c, "pencil") {
				t.Error("VerifyPassword(pencil) = false")
			}
			if scram.VerifyPassword(v.mech.Hash(), c, "pencil2") {
				t.Error("VerifyPassword(pencil2) = true")
			}
		})
	}
}

var _ = crypto.SHA1
