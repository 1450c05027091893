package guard

import (
	"errors"
	"github.com/xmppauth/xmppauth/config"
	"math"
)

// Config configures the guards of one listener. The zero value is safe: it
// serves no domain, so every stream header gets <host-unknown/>; a server
// sets Serves.
type Config struct {
	// Serves reports whether the server serves a domain, given in canonical
	// form (RFC 7622 as mellium's jid.Parse applies it: lowercase, Unicode
	// labels, no trailing dot). A stream header whose 'to' is not served is
	// refused with <host-unknown/>. Nil serves no domain. It may be called
	// from several connections at once.
	Serves func(domain string) bool `json:"-"`

	// Namespace is the content namespace a stream header must declare as its
	// default namespace (RFC 6120 §4.8.2); "" means "jabber:client". A
	// server-to-server listener sets "jabber:server".
	Namespace string `json:"namespace,omitempty"`

	// PreAuth bounds what a peer may send before authentication; MaxBytes
	// is the total read on one guard (whitespace included). Defaults:
	// MaxBytes 65536, MaxDepth 8, MaxAttrs 16, MaxNamespaces 8, MaxNameLen
	// 256, MaxNamespaceLen 1024. A client needs a stream header, STARTTLS
	// and a SASL exchange, or in-band registration, whose data forms nest
	// six deep.
	PreAuth Limits `json:"pre_auth"`
	// Session bounds what a peer may send after authentication (see
	// Conn.SetAuthenticated); MaxBytes is the size of one top-level
	// element (a stanza), from its '<' to the end of its end tag; the
	// whitespace between stanzas is not limited. Defaults: MaxBytes 262144
	// (Prosody's c2s_stanza_size_limit), MaxDepth 128, MaxAttrs 64,
	// MaxNamespaces 32, MaxNameLen 256, MaxNamespaceLen 1024.
	Session Limits `json:"session"`
	// Header bounds a stream header, before and after authentication;
	// MaxBytes counts from its '<' (or that of the XML declaration before
	// it) to its '>', MaxAttrs includes the namespace declarations,
	// MaxDepth is not used. Defaults: MaxBytes 4096, MaxAttrs 16,
	// MaxNamespaces 8, MaxNameLen 256, MaxNamespaceLen 1024.
	Header Limits `json:"header"`
}

// Limits bounds what a peer may send. Each zero field means the default of
// its place in Config (see there); negative values are invalid. Byte counts
// are of the bytes on the wire (inside TLS), entity references counted as
// written.
type Limits struct {
	// MaxBytes: see Config.PreAuth, Config.Session and Config.Header.
	MaxBytes int `json:"max_bytes,omitempty"`
	// MaxDepth is the deepest element nesting; the stream root is depth 1,
	// a stanza depth 2. At least 2.
	MaxDepth int `json:"max_depth,omitempty"`
	// MaxAttrs is the most attributes of one element, namespace
	// declarations included.
	MaxAttrs int `json:"max_attrs,omitempty"`
	// MaxNamespaces is the most namespace declarations (xmlns, xmlns:p)
	// on one element.
	MaxNamespaces int `json:"max_namespaces,omitempty"`
	// MaxNameLen is the longest element or attribute name, prefix
	// included, in bytes.
	MaxNameLen int `json:"max_name_len,omitempty"`
	// MaxNamespaceLen is the longest namespace declaration value (a
	// namespace URI), in bytes.
	MaxNamespaceLen int `json:"max_namespace_len,omitempty"`
}

// The default limits (documented on Config).
var (
	defaultPreAuth = Limits{MaxBytes: 64 << 10, MaxDepth: 8, MaxAttrs: 16, MaxNamespaces: 8, MaxNameLen: 256, MaxNamespaceLen: 1024}
	defaultSession = Limits{MaxBytes: 256 << 10, MaxDepth: 128, MaxAttrs: 64, MaxNamespaces: 32, MaxNameLen: 256, MaxNamespaceLen: 1024}
	defaultHeader  = Limits{MaxBytes: 4 << 10, MaxAttrs: 16, MaxNamespaces: 8, MaxNameLen: 256, MaxNamespaceLen: 1024}
)

// nsClient is the default content namespace.
const nsClient = "jabber:client"

// Validate reports the first setting that is invalid, by its JSON path
// (see package config).
func (c Config) Validate() error {
	if c.Serves == nil {
		return errors.New("guard: Config.Serves is required")
	}
	for _, l := range []struct {
		name string
		l    Limits
	}{{"pre_auth", c.PreAuth}, {"session", c.Session}, {"header", c.Header}} {
		for _, f := range []struct {
			name string
			v    int
		}{
			{"max_bytes", l.l.MaxBytes}, {"max_depth", l.l.MaxDepth}, {"max_attrs", l.l.MaxAttrs},
			{"max_namespaces", l.l.MaxNamespaces}, {"max_name_len", l.l.MaxNameLen},
			{"max_namespace_len", l.l.MaxNamespaceLen},
		} {
			if f.v < 0 {
				return config.Errorf(l.name+"."+f.name, "%d is negative", f.v)
			}
		}
		if l.name != "header" && l.l.MaxDepth == 1 {
			return config.Errorf(l.name+".max_depth", "1 does not allow stanzas (depth 2)")
		}
	}
	return nil
}

// resolved returns l with its zero fields taken from def.
func (l Limits) resolved(def Limits) Limits {
	pick := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	return Limits{
		MaxBytes:        pick(l.MaxBytes, def.MaxBytes),
		MaxDepth:        pick(l.MaxDepth, def.MaxDepth),
		MaxAttrs:        pick(l.MaxAttrs, def.MaxAttrs),
		MaxNamespaces:   pick(l.MaxNamespaces, def.MaxNamespaces),
		MaxNameLen:      pick(l.MaxNameLen, def.MaxNameLen),
		MaxNamespaceLen: pick(l.MaxNamespaceLen, def.MaxNamespaceLen),
	}
}

// settings is a Config with its defaults filled in, shared by the guards
// built from it.
type settings struct {
	serves             func(string) bool
	ns                 string
	pre, session, head Limits
}

func (c *Config) settings() *settings {
	s := &settings{ns: nsClient}
	if c != nil {
		s.serves = c.Serves
		if c.Namespace != "" {
			s.ns = c.Namespace
		}
		s.pre = c.PreAuth.resolved(defaultPreAuth)
		s.session = c.Session.resolved(defaultSession)
		s.head = c.Header.resolved(defaultHeader)
	} else {
		s.pre, s.session, s.head = defaultPreAuth, defaultSession, defaultHeader
	}
	s.head.MaxDepth = math.MaxInt
	return s
}
