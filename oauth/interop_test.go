package oauth

import (
	"context"
	"encoding/xml"
	"github.com/xmppauth/xmppauth/config"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slixmppSigner runs the XEP-0235 plugin of slixmpp (the one other
// implementation; its code predates Python 3) with the smallest shims that
// make it run on Python 3: urllib.quote → urllib.parse.quote, and str/bytes
// conversions around hmac and base64. Its signature algorithm is untouched.
// It prints one <oauth/> element per line of input, or for a line starting
// with "verify" the plugin's verdict on the element given.
const slixmppSigner = `
import sys, urllib, urllib.parse, hmac as _hmac, base64 as _b64
urllib.quote = urllib.parse.quote
from slixmpp.plugins.xep_0235 import stanza as st
class H:
    @staticmethod
    def new(key, msg, digest):
        return _hmac.new(key.encode(), msg.encode(), digest)
class B:
    @staticmethod
    def b64encode(b):
        return _b64.b64encode(b).decode()
st.hmac, st.base64 = H, B
from slixmpp.xmlstream import ET
for line in sys.stdin:
    if line.startswith("verify\t"):
        _, name, sfrom, sto, csecret, tsecret, elem = line.rstrip("\n").split("\t")
        o = st.OAuth(xml=ET.fromstring(elem))
        print(o.verify_signature(name, sfrom, sto, csecret, tsecret))
        continue
    name, sfrom, sto, key, csecret, token, tsecret, nonce, ts, method = line.rstrip("\n").split("\t")
    o = st.OAuth()
    o["oauth_consumer_key"], o["oauth_token"] = key, token
    o["oauth_nonce"], o["oauth_timestamp"], o["oauth_version"] = nonce, ts, "1.0"
    o.generate_signature(name, sfrom, sto, csecret, tsecret, method)
    print(str(o).replace("\n", ""))
`

// TestSlixmppInterop verifies signatures made by slixmpp's xep_0235 plugin.
func TestSlixmppInterop(t *testing.T) {
	const python = "/usr/bin/python3" // Debian's, where python3-slixmpp lives
	if _, err := os.Stat(python); err != nil {
		t.Skip("interop test needs /usr/bin/python3 with python3-slixmpp (.ci/run installs it)")
	}
	if err := exec.Command(python, "-c", "import slixmpp.plugins.xep_0235").Run(); err != nil {
		t.Skip("interop test needs python3-slixmpp (.ci/run installs it)")
	}
	cases := []struct {
		s     Stanza
		nonce string
		ts    int64
		meth  string
	}{
		{xepStanza, xepParams.Nonce, 1218137833, HMACSHA1},
		{Stanza{Name: "message", From: "juliet@example.com/balcony", To: "romeo@example.net"}, "a1b2c3", 1700000000, HMACSHA1},
		{Stanza{Name: "presence", From: "bot.example.org", To: "room@muc.example.org/nick name&more"}, "0000", 1700000001, HMACSHA1},
		{Stanza{Name: "iq", To: "feeds.worldgps.tld"}, "zz", 1700000002, Plaintext},
	}
	var in strings.Builder
	for _, c := range cases {
		in.WriteString(strings.Join([]string{c.s.Name, c.s.From, c.s.To,
			xepParams.ConsumerKey, xepConsumerSecret, xepParams.Token, xepTokenSecret,
			c.nonce, strconv.FormatInt(c.ts, 10), c.meth}, "\t") + "\n")
	}
	// The other direction: elements our Signer made, checked by the plugin.
	for _, c := range cases {
		sg := Signer{Credentials: xepCreds, Method: c.meth, Clock: config.ClockFunc(func() time.Time { return time.Unix(c.ts, 0) })}
		p, err := sg.Sign(c.s)
		if err != nil {
			t.Fatal(err)
		}
		in.WriteString(strings.Join([]string{"verify", c.s.Name, c.s.From, c.s.To,
			xepConsumerSecret, xepTokenSecret, marshalString(p)}, "\t") + "\n")
	}
	cmd := exec.Command(python, "-c", slixmppSigner)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("slixmpp: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2*len(cases) {
		t.Fatalf("slixmpp printed %d lines for %d cases:\n%s", len(lines), len(cases), out)
	}
	for i, verdict := range lines[len(cases):] {
		if verdict != "True" {
			t.Errorf("slixmpp rejected our signature for case %d: %s", i, verdict)
		}
	}
	for i, c := range cases {
		t.Run(c.s.Name+"-"+c.meth, func(t *testing.T) {
			var p Params
			if err := xml.Unmarshal([]byte(lines[i]), &p); err != nil {
				t.Fatalf("parse %s: %v", lines[i], err)
			}
			env := newTestEnv(t, func(cfg *Config) { cfg.AllowPlaintext = true })
			env.now = time.Unix(c.ts, 0)
			if _, err := env.v.ForStream(true).Verify(context.Background(), c.s, p); err != nil {
				t.Fatalf("Verify %s: %v", lines[i], err)
			}
		})
	}
	// The XEP vector through slixmpp gives the XEP's signature.
	if !strings.Contains(lines[0], xepParams.Signature) {
		t.Errorf("slixmpp signed the XEP example as %s", lines[0])
	}
}
