package saslclient

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xmppauth/xmppauth/cbind"
	"github.com/xmppauth/xmppauth/scram"
)

// offer is what the server advertised on the current stream, as received.
type offer struct {
	mechanisms []string
	types      []string // XEP-0440 types; nil when not advertised
	sasl2      bool     // the SASL2 list (XEP-0440 business rule 4 applies)
}

// connection is what this side's TLS connection can give.
type connection struct {
	available  []cbind.Type // cbind.Available filtered by config, strongest first
	defaultCB  cbind.Type   // cbind.Default, when it is in available
	hasDefault bool
}

// plan is the chosen mechanism.
type plan struct {
	name   string          // sent in <auth mechanism=…>
	mech   scram.Mechanism // zero for PLAIN
	plain  bool            // PLAIN
	flag   string          // GS2 flag: "n", "y" or "p=<type>"
	cbType cbind.Type      // with "p="
	// rule6: the server offered a -PLUS mechanism this client would have
	// picked but no binding type both can use, so the client goes on
	// without binding and relies on XEP-0474 (its business rule 6).
	rule6 bool
}

// isPlusName reports whether name is a -PLUS mechanism or a
// pseudomechanism of one, of any hash (known or not).
func isPlusName(name string) bool {
	return strings.HasSuffix(name, "-PLUS") || strings.Contains(name, "-PLUS:")
}

// choose picks the strongest mechanism and binding type both sides can use.
func choose(cfg *Config, o offer, conn connection) (plan, error) {
	anyPlus := slices.ContainsFunc(o.mechanisms, isPlusName)
	if o.types != nil && !anyPlus {
		// XEP-0440 business rule 5: types announced without any -PLUS
		// mechanism means someone stripped the mechanisms.
		return plan{}, fmt.Errorf("%w: channel-binding types advertised without a -PLUS mechanism", ErrDowngrade)
	}

	// Pseudomechanisms advertised per -PLUS mechanism, in advertised order.
	pseudo := map[string][]cbind.Type{}
	for _, name := range o.mechanisms {
		if !strings.ContainsRune(name, ':') {
			continue
		}
		m, t, err := cbind.ParsePseudomechanism(name)
		if err != nil {
			continue // an unknown type: not one this client can give
		}
		pseudo[m] = append(pseudo[m], t)
	}
	advertised := func(name string) bool { return slices.Contains(o.mechanisms, name) }

	if o.sasl2 && o.types == nil && len(pseudo) == 0 && len(conn.available) > 0 &&
		slices.ContainsFunc(scram.Mechanisms(), func(m scram.Mechanism) bool {
			return m.Plus() && cfg.enabled(m.Name()) && advertised(m.Name())
		}) {
		// XEP-0440 business rule 4: on SASL2, -PLUS without any binding
		// type means someone stripped the types (or a broken server).
		return plan{}, fmt.Errorf("%w: SASL2 offers -PLUS without XEP-0440 channel-binding types", ErrDowngrade)
	}

	wouldPickPlus := false
	for _, m := range scram.Mechanisms() { // strongest hash first
		if !m.Plus() || !cfg.enabled(m.Name()) {
			continue
		}
		offered := advertised(m.Name()) || len(pseudo[m.Name()]) > 0
		if !offered {
			continue
		}
		wouldPickPlus = true
		if ts := pseudo[m.Name()]; len(ts) > 0 {
			for _, t := range conn.available {
				if slices.Contains(ts, t) {
					return plan{name: cbind.Pseudomechanism(m.Name(), t), mech: m, flag: cbTypeFlag(t), cbType: t}, nil
				}
			}
		}
		if !advertised(m.Name()) {
			continue
		}
		if o.types != nil {
			for _, t := range conn.available {
				if slices.Contains(o.types, string(t)) {
					return plan{name: m.Name(), mech: m, flag: cbTypeFlag(t), cbType: t}, nil
				}
			}
		} else if conn.hasDefault {
			t := conn.defaultCB
			return plan{name: m.Name(), mech: m, flag: cbTypeFlag(t), cbType: t}, nil
		}
	}

	// No binding both sides can use. "y" tells the server "I could have
	// bound, but you offered nothing": only true when nothing -PLUS was
	// offered (RFC 5802 §6; XEP-0440 forbids "y" otherwise).
	canBind := len(conn.available) > 0 && slices.ContainsFunc(scram.Mechanisms(), func(m scram.Mechanism) bool {
		return m.Plus() && cfg.enabled(m.Name())
	})
	flag := "n"
	if canBind && !anyPlus {
		flag = "y"
	}
	for _, m := range scram.Mechanisms() {
		if m.Plus() || !cfg.enabled(m.Name()) || !advertised(m.Name()) {
			continue
		}
		return plan{name: m.Name(), mech: m, flag: flag, rule6: wouldPickPlus}, nil
	}
	if cfg.enabled(mechPLAIN) && advertised(mechPLAIN) {
		return plan{name: mechPLAIN, plain: true}, nil
	}
	return plan{}, ErrNoMechanism
}
