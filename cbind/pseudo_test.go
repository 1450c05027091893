package cbind

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePseudomechanism(t *testing.T) {
	tests := []struct {
		in      string
		mech    string
		typ     Type
		wantErr error // nil: valid
	}{
		// The ProtoXEP's own examples.
		{"SCRAM-SHA-256-PLUS:tls-unique", "SCRAM-SHA-256-PLUS", TLSUnique, nil},
		{"SCRAM-SHA-256-PLUS:tls-server-end-point", "SCRAM-SHA-256-PLUS", TLSServerEndPoint, nil},
		{"SCRAM-SHA-1-PLUS:tls-unique", "SCRAM-SHA-1-PLUS", TLSUnique, nil},
		{"SCRAM-SHA-1-PLUS:tls-server-end-point", "SCRAM-SHA-1-PLUS", TLSServerEndPoint, nil},
		{"SCRAM-SHA-256-PLUS:tls-exporter", "SCRAM-SHA-256-PLUS", TLSExporter, nil},
		{"SCRAM-SHA-512-PLUS:tls-exporter", "SCRAM-SHA-512-PLUS", TLSExporter, nil},
		{"SCRAM-SHA3-512-PLUS:tls-exporter", "SCRAM-SHA3-512-PLUS", TLSExporter, nil},
		{"SCRAM-X_Y-PLUS:tls-exporter", "SCRAM-X_Y-PLUS", TLSExporter, nil},

		// Not pseudomechanisms.
		{"", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256", "", "", ErrInvalidPseudomechanism},
		{":", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS:", "", "", ErrUnknownType},
		{":tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS::tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS:tls-exporter:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS:tls-exporter:", "", "", ErrInvalidPseudomechanism},
		// Case and whitespace tricks.
		{"scram-sha-256-plus:tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-Plus:tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS:TLS-EXPORTER", "", "", ErrUnknownType},
		{"SCRAM-SHA-256-PLUS:Tls-Exporter", "", "", ErrUnknownType},
		{" SCRAM-SHA-256-PLUS:tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS :tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS: tls-exporter", "", "", ErrUnknownType},
		{"SCRAM-SHA-256-PLUS:tls-exporter ", "", "", ErrUnknownType},
		{"SCRAM-SHA-256-PLUS:tls-exporter\n", "", "", ErrUnknownType},
		{"SCRAM-SHA-256-PLUS\t:tls-exporter", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUS:tls-exporter\x00", "", "", ErrUnknownType},
		// Unknown or unsupported types.
		{"SCRAM-SHA-256-PLUS:tls-unique-for-telnet", "", "", ErrUnknownType},
		{"SCRAM-SHA-256-PLUS:tls-exporterx", "", "", ErrUnknownType},
		{"SCRAM-SHA-256-PLUS:tls", "", "", ErrUnknownType},
		// Wrong mechanisms.
		{"SCRAM-SHA-1:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"PLAIN:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"EXTERNAL-PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"GS2-KRB5-PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"SCRAM--PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-256-PLUSX:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"XSCRAM-SHA-256-PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA.256-PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		// Over-long: 21-character mechanism, and a name over the cap.
		{"SCRAM-SHA-2560000-PLUS:tls-unique", "", "", ErrInvalidPseudomechanism},
		{"SCRAM-SHA-25600-PLUS:tls-unique", "SCRAM-SHA-25600-PLUS", TLSUnique, nil}, // exactly 20
		{"SCRAM-SHA-256-PLUS:" + strings.Repeat("x", MaxPseudomechanismLen), "", "", ErrInvalidPseudomechanism},
		{strings.Repeat("SCRAM-SHA-256-PLUS:tls-unique", 1000), "", "", ErrInvalidPseudomechanism},
		// Non-ASCII and non-UTF-8.
		{"SCRAM-SHA-256-PLUS:tls-exportér", "", "", ErrUnknownType},
		{"SCRAM-ЅHA-256-PLUS:tls-exporter", "", "", ErrInvalidPseudomechanism},      // Cyrillic Ѕ
		{"SCRAM-SHA-256-PLUS\uff1atls-exporter", "", "", ErrInvalidPseudomechanism}, // fullwidth colon
		{"SCRAM-SHA-256-PLUS:tls-\xffexporter", "", "", ErrUnknownType},
		{"SCRAM-\xff-PLUS:tls-exporter", "", "", ErrInvalidPseudomechanism},
	}
	for _, tc := range tests {
		t.Run(tc.in[:min(len(tc.in), 60)], func(t *testing.T) {
			mech, typ, err := ParsePseudomechanism(tc.in)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, ErrInvalidPseudomechanism)
				require.ErrorIs(t, err, tc.wantErr)
				assert.Empty(t, mech)
				assert.Empty(t, typ)
				assert.LessOrEqual(t, len(err.Error()), 300, "error messages stay short")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.mech, mech)
			assert.Equal(t, tc.typ, typ)
			assert.Equal(t, tc.in, Pseudomechanism(mech, typ), "round trip")
		})
	}
}

func TestPseudomechanismFormat(t *testing.T) {
	for _, mech := range []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"} {
		for _, typ := range []Type{TLSUnique, TLSServerEndPoint, TLSExporter} {
			name := Pseudomechanism(mech, typ)
			assert.Equal(t, mech+":"+string(typ), name)
			m, ty, err := ParsePseudomechanism(name)
			require.NoError(t, err)
			assert.Equal(t, mech, m)
			assert.Equal(t, typ, ty)
		}
	}
}
