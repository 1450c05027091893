package main

import (
	"fmt"
	"html"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xmppauth/xmppauth/httpauth"
)

// httpServer serves the demo's pages with the library's recommended
// timeouts (idle keep-alive connections are closed; writes outlast a
// confirmation). Every page but the static assets is guarded by XEP-0070:
// the browser names a JID (Basic or Digest: user = the JID, password = a
// transaction id) and the page is served once that user confirms the
// request from an XMPP client. The refusals are httpauth.HTMLErrorHandler's
// pages; with XEP-0070 off the plugin answers 503 (it fails closed).
func (s *server) httpServer() *http.Server {
	pages := http.NewServeMux()
	pages.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		who, _ := httpauth.FromContext(r.Context())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><meta charset=utf-8><title>Confirmed</title><h1>Confirmed</h1>"+
			"<p>Hello <b>%s</b>: you confirmed this request from your XMPP client (XEP-0070).</p>", html.EscapeString(who.String()))
	})
	root := http.NewServeMux()
	// Static assets are not guarded: a browser fetches them with every page,
	// and each would ask the user again.
	root.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	root.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	root.Handle("/", s.plugin.HTTPMiddleware(pages))
	srv := &http.Server{Handler: root}
	s.plugin.HTTPServerDefaults(srv)
	return srv
}
