package metrics_test

import (
	"bufio"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xmppauth/xmppauth"
	"github.com/xmppauth/xmppauth/metrics"
	"github.com/xmppauth/xmppauth/oauth"
	"github.com/xmppauth/xmppauth/scram"
	"github.com/xmppauth/xmppauth/throttle"
)

// A host creates the metrics, sets the hooks and wraps the stores before it
// builds the plugin, and serves /metrics on its HTTP listener next to (not
// behind) the pages XEP-0070 guards.
func Example() {
	reg := prometheus.NewRegistry() // or prometheus.DefaultRegisterer with promhttp.Handler()
	m, err := metrics.New(reg)
	if err != nil {
		log.Fatal(err)
	}

	cfg := xmppauth.Config{Domains: []string{"example.net"}}
	cfg.SASL.Store = m.Scram("credentials", scram.NewMemoryStore())
	cfg.SASL.Throttle.Store = m.Throttle("throttle", throttle.NewMemoryStore(0, nil))
	cfg.SASL.Observe = m.Login
	cfg.HTTPAuth.Observe = m.HTTPAuth
	cfg.OAuth.Observe = m.OAuth
	cfg.OAuth.Nonces = m.Nonces("nonces", oauth.NewMemoryNonces(0))
	plugin, err := xmppauth.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if v := plugin.HTTPAuth(); v != nil { // nil: XEP-0070 is off
		m.PendingHTTPAuth(v.Pending)
	}

	pages := http.NewServeMux() // the host's pages
	root := http.NewServeMux()
	root.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	root.Handle("/", plugin.HTTPMiddleware(pages))

	srv := httptest.NewServer(root)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, `xmppauth_store_operations_total{op="credential"`) || strings.HasPrefix(l, "xmppauth_sasl_bans") {
			fmt.Println(l)
		}
	}
	// Output:
	// xmppauth_sasl_bans_total 0
	// xmppauth_store_operations_total{op="credential",result="canceled",store="credentials"} 0
	// xmppauth_store_operations_total{op="credential",result="error",store="credentials"} 0
	// xmppauth_store_operations_total{op="credential",result="ok",store="credentials"} 0
	// xmppauth_store_operations_total{op="credential",result="unknown_user",store="credentials"} 0
}
