package oauth

import (
	"encoding/base64"
	"testing"
)

// xepStanza and xepParams are XEP-0235 v0.7 §3 Example 1 (VECTORS.md §1a).
var (
	xepStanza = Stanza{Name: "iq", From: "travelbot@findmenow.tld/bot", To: "feeds.worldgps.tld"}
	xepParams = Params{
		ConsumerKey:     "0685bd9184jfhq22",
		Nonce:           "4572616e48616d6d65724c61686176",
		Signature:       "9PQkM4YKgaM067wqrDGshXOwDW0=",
		SignatureMethod: "HMAC-SHA1",
		Timestamp:       "1218137833",
		Token:           "ad180jjd733klru7",
		Version:         "1.0",
	}
)

const (
	xepConsumerSecret = "consumersecret"
	xepTokenSecret    = "tokensecret"
	// The base string that reproduces the XEP's signature (VECTORS.md §1c).
	xepBaseString = "iq&travelbot%40findmenow.tld%2Fbot%26feeds.worldgps.tld&oauth_consumer_key%3D0685bd9184jfhq22%26oauth_nonce%3D4572616e48616d6d65724c61686176%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1218137833%26oauth_token%3Dad180jjd733klru7%26oauth_version%3D1.0"
	// The base string printed in XEP-0235 v0.7 §4, joined.
	xepPrintedBaseString = "iq%26travelbot%40findmenow.tld%2Fbot%26feeds.worldgps.tld%26oauth_consumer_key%3D0685bd9184jfhq22%26oauth_nonce%3D4572616e48616d6d65724c61686176%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1218137833%26oauth_token%3Dad180jjd733klru7%26oauth_version%3D1.0"
)

func TestXEPVector(t *testing.T) {
	if got := BaseString(xepStanza, &xepParams); got != xepBaseString {
		t.Fatalf("base string:\n got %s\nwant %s", got, xepBaseString)
	}
	sig, err := Signature(xepStanza, xepParams, xepConsumerSecret, xepTokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	if sig != "9PQkM4YKgaM067wqrDGshXOwDW0=" {
		t.Fatalf("signature = %s, want 9PQkM4YKgaM067wqrDGshXOwDW0=", sig)
	}
	// Pin the XEP's typo: its printed base string gives another signature.
	sum := sumHMACSHA1([]byte("consumersecret&tokensecret"), []byte(xepPrintedBaseString))
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != "CZ7BpcHsmv4URLmouNTBcGwS8S8=" {
		t.Fatalf("printed base string signs to %s, want CZ7BpcHsmv4URLmouNTBcGwS8S8=", got)
	}
}

// RFC 5849 §3.6, with the encodings used in the §3.4.1 examples.
func TestPercentEncode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"ABCXYZabcxyz0123456789-._~", "ABCXYZabcxyz0123456789-._~"},
		{"r b", "r%20b"},     // space is %20, not +
		{"=%3D", "%3D%253D"}, // §3.4.1.3.2 b5
		{"c@", "c%40"},       // §3.4.1.3.2 c@
		{"2 q", "2%20q"},     // §3.4.1.3.2 a3
		{"+", "%2B"},         // form-encoding differs
		{"*", "%2A"},         // reserved
		{"\n", "%0A"},        // upper-case hex
		{"é", "%C3%A9"},      // UTF-8 octets
		{"http://example.com/request", "http%3A%2F%2Fexample.com%2Frequest"},
		{"\x00\xff", "%00%FF"},
		// Runs of unreserved characters around encoded ones.
		{"ab cd", "ab%20cd"},
		{" ab ", "%20ab%20"},
		{"a&&b", "a%26%26b"},
	} {
		if got := PercentEncode(tc.in); got != tc.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// appendPct2 must equal encoding twice.
		if got, want := string(appendPct2(nil, tc.in)), PercentEncode(PercentEncode(tc.in)); got != want {
			t.Errorf("appendPct2(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

// RFC 5849 §3.4.1.1 and §3.4.1.3.2: the request's decoded parameters.
func TestRFC5849BaseString(t *testing.T) {
	params := []param{
		{"b5", "=%3D"},
		{"a3", "a"},
		{"c@", ""},
		{"a2", "r b"},
		{"oauth_consumer_key", "9djdj82h48djs9d2"},
		{"oauth_token", "kkk9d7dh3k39sjv7"},
		{"oauth_signature_method", "HMAC-SHA1"},
		{"oauth_timestamp", "137131201"},
		{"oauth_nonce", "7d8f3e4a"},
		{"c2", ""},
		{"a3", "2 q"},
	}
	sortParams(params)
	var norm []byte
	for i, p := range params {
		if i > 0 {
			norm = append(norm, '&')
		}
		norm = appendPct(norm, p.name)
		norm = append(norm, '=')
		norm = appendPct(norm, p.value)
	}
	const wantNorm = "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7"
	if string(norm) != wantNorm {
		t.Errorf("normalized:\n got %s\nwant %s", norm, wantNorm)
	}
	const want = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
	if got := string(appendBaseString(nil, "POST", "http://example.com/request", params)); got != want {
		t.Errorf("base string:\n got %s\nwant %s", got, want)
	}
}

// RFC 5849 §1.2: three HMAC-SHA1 signatures (the third with the http scheme,
// see VECTORS.md §8b).
func TestRFC5849Signatures(t *testing.T) {
	for _, tc := range []struct {
		name, method, uri string
		params            []param
		tokenSecret, want string
	}{{
		name: "initiate", method: "POST", uri: "https://photos.example.net/initiate",
		params: []param{
			{"oauth_consumer_key", "dpf43f3p2l4k3l03"},
			{"oauth_signature_method", "HMAC-SHA1"},
			{"oauth_timestamp", "137131200"},
			{"oauth_nonce", "wIjqoS"},
			{"oauth_callback", "http://printer.example.com/ready"},
		},
		want: "74KNZJeDHnMBp0EMJ9ZHt/XKycU=",
	}, {
		name: "token", method: "POST", uri: "https://photos.example.net/token",
		params: []param{
			{"oauth_consumer_key", "dpf43f3p2l4k3l03"},
			{"oauth_token", "hh5s93j4hdidpola"},
			{"oauth_signature_method", "HMAC-SHA1"},
			{"oauth_timestamp", "137131201"},
			{"oauth_nonce", "walatlh"},
			{"oauth_verifier", "hfdp7dh39dks9884"},
		},
		tokenSecret: "hdhd0244k9j7ao03",
		want:        "gKgrFCywp7rO0OXSjdot/IHF7IU=",
	}, {
		name: "photos", method: "GET", uri: "http://photos.example.net/photos",
		params: []param{
			{"file", "vacation.jpg"},
			{"size", "original"},
			{"oauth_consumer_key", "dpf43f3p2l4k3l03"},
			{"oauth_token", "nnch734d00sl2jdk"},
			{"oauth_signature_method", "HMAC-SHA1"},
			{"oauth_timestamp", "137131202"},
			{"oauth_nonce", "chapoH"},
		},
		tokenSecret: "pfkkdhi9sl3r4s00",
		want:        "MdpQcU8iPSUjWoN/UDMsK2sui9I=",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			sortParams(tc.params)
			base := appendBaseString(nil, tc.method, tc.uri, tc.params)
			key := appendKey(nil, "kd94hf93k423kf44", tc.tokenSecret)
			got, err := signatureFor(HMACSHA1, key, base)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("signature = %s, want %s (base %s)", got, tc.want, base)
			}
			if !checkSignature(HMACSHA1, tc.want, key, base) {
				t.Error("checkSignature rejected the published signature")
			}
		})
	}
}

// Only the canonical base64 of the MAC verifies: the XEP's signature with a
// line feed inside, or with the unused low bits of its last character set
// ('1' instead of '0' before the padding decodes to the same bytes), is
// refused, as is the same value without padding.
func TestSignatureCanonicalBase64(t *testing.T) {
	base := []byte(xepBaseString)
	key := []byte(xepConsumerSecret + "&" + xepTokenSecret)
	good := "9PQkM4YKgaM067wqrDGshXOwDW0="
	if !checkSignature(HMACSHA1, good, key, base) {
		t.Fatal("the XEP's signature does not verify")
	}
	for _, sig := range []string{
		"9PQkM4YKgaM067wq\nrDGshXOwDW0=",
		"9PQkM4YKgaM067wqrDGshXOwDW0=\n",
		"9PQkM4YKgaM067wqrDGshXOwDW1=",
		"9PQkM4YKgaM067wqrDGshXOwDW0",
		"9PQkM4YKgaM067wqrDGshXOwDW0==",
		"",
	} {
		if b, err := base64.StdEncoding.DecodeString(sig); err == nil && sig != "" && string(b) != string(mustDecode(t, good)) {
			t.Fatalf("%q is not a variant of the good signature", sig)
		}
		if checkSignature(HMACSHA1, sig, key, base) {
			t.Errorf("%q verified", sig)
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 5849 §3.4.4: PLAINTEXT is the encoded key itself.
func TestPlaintextSignature(t *testing.T) {
	key := appendKey(nil, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00")
	sig, err := signatureFor(Plaintext, key, []byte("ignored"))
	if err != nil {
		t.Fatal(err)
	}
	if sig != "kd94hf93k423kf44&pfkkdhi9sl3r4s00" {
		t.Errorf("PLAINTEXT = %q", sig)
	}
	if got := string(appendKey(nil, "a b", "c&d")); got != "a%20b&c%26d" {
		t.Errorf("key = %q, want a%%20b&c%%26d", got)
	}
}

var xepCreds = Credentials{
	ConsumerKey:    xepParams.ConsumerKey,
	ConsumerSecret: xepConsumerSecret,
	Token:          xepParams.Token,
	TokenSecret:    xepTokenSecret,
}
