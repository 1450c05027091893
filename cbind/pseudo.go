package cbind

import (
	"errors"
	"fmt"
	"strings"
)

const (
	// MaxPseudomechanismLen caps the length of a pseudomechanism name: a
	// 20-character mechanism, the colon and the longest type fit easily.
	MaxPseudomechanismLen = 64
	// maxMechanismLen is the RFC 4422 §3.1 limit of a SASL mechanism name.
	maxMechanismLen = 20
)

// ErrInvalidPseudomechanism is wrapped by every error of
// ParsePseudomechanism.
var ErrInvalidPseudomechanism = errors.New("cbind: invalid channel-binding pseudomechanism")

// ParsePseudomechanism splits a channel-binding pseudomechanism name such as
// "SCRAM-SHA-256-PLUS:tls-exporter" into the mechanism and the type.
//
// It is strict: the name is at most MaxPseudomechanismLen bytes with exactly
// one ':'; the mechanism is a valid RFC 4422 mechanism name (1 to 20
// characters of A-Z, 0-9, '-' and '_') of the form "SCRAM-…-PLUS"; the type
// is one ParseType accepts. Errors wrap ErrInvalidPseudomechanism (and
// ErrUnknownType for an unknown type).
func ParsePseudomechanism(name string) (mechanism string, t Type, err error) {
	if len(name) > MaxPseudomechanismLen {
		return "", "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPseudomechanism, MaxPseudomechanismLen)
	}
	mechanism, typ, found := strings.Cut(name, ":")
	if !found {
		return "", "", fmt.Errorf("%w: %q has no ':'", ErrInvalidPseudomechanism, name)
	}
	if strings.Contains(typ, ":") {
		return "", "", fmt.Errorf("%w: %q has more than one ':'", ErrInvalidPseudomechanism, name)
	}
	if err := checkPlusMechanism(mechanism); err != nil {
		return "", "", fmt.Errorf("%w: %q: %s", ErrInvalidPseudomechanism, name, err)
	}
	t, err = ParseType(typ)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrInvalidPseudomechanism, err)
	}
	return mechanism, t, nil
}

// checkPlusMechanism checks that m is an RFC 4422 mechanism name of the
// SCRAM -PLUS family.
func checkPlusMechanism(m string) error {
	switch {
	case m == "":
		return errors.New("empty mechanism")
	case len(m) > maxMechanismLen:
		return fmt.Errorf("mechanism longer than %d characters", maxMechanismLen)
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return errors.New("mechanism has a character outside A-Z 0-9 - _")
		}
	}
	const prefix, suffix = "SCRAM-", "-PLUS"
	if !strings.HasPrefix(m, prefix) || !strings.HasSuffix(m, suffix) || len(m) <= len(prefix)+len(suffix) {
		return errors.New("mechanism is not a SCRAM -PLUS mechanism")
	}
	return nil
}

// Pseudomechanism formats the pseudomechanism name of mechanism (a SCRAM
// "-PLUS" mechanism such as "SCRAM-SHA-256-PLUS") with type t, e.g.
// "SCRAM-SHA-256-PLUS:tls-exporter". It does not validate its arguments;
// ParsePseudomechanism accepts the result when they are valid.
func Pseudomechanism(mechanism string, t Type) string {
	return mechanism + ":" + string(t)
}
