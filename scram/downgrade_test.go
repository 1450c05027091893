package scram

import "testing"

func TestDowngradeProtectionInput(t *testing.T) {
	tests := []struct {
		mechs, types []string
		want         string
	}{
		// XEP-0474 §6.3 (VECTORS.md §6).
		{[]string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, []string{"tls-server-end-point", "tls-exporter"},
			"SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point"},
		// Without XEP-0440 there is no 0x1F.
		{[]string{"PLAIN", "EXTERNAL"}, nil, "EXTERNAL\x1ePLAIN"},
		// XEP-0440 advertised with no types still adds the separator;
		// i;octet puts upper case first.
		{[]string{"b", "B", "A"}, []string{}, "A\x1eB\x1eb\x1f"},
	}
	for _, tc := range tests {
		if got := DowngradeProtectionInput(tc.mechs, tc.types); string(got) != tc.want {
			t.Errorf("%q %q: got %q, want %q", tc.mechs, tc.types, got, tc.want)
		}
	}
	in := []string{"b", "a"}
	DowngradeProtectionInput(in, nil)
	if in[0] != "b" {
		t.Error("the caller's slice was sorted")
	}
}
