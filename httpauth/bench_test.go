package httpauth

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
)

// BenchmarkPendingMemory measures the heap held per pending transaction in
// the in-memory store with 100k transactions pending (target ≤ 1 KiB). The
// strings are built per transaction, as parsing a request would.
func BenchmarkPendingMemory(b *testing.B) {
	const n = 100000
	ctx := context.Background()
	b.ReportAllocs()
	var perTx float64
	for b.Loop() {
		s := NewMemStore(MemStoreConfig{MaxPending: n, MaxPendingPerJID: n})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			err := s.Begin(ctx, Transaction{
				Ref:     fmt.Sprintf("%024x", i),
				To:      fmt.Sprintf("user%06d@example.com/laptop-%06d", i, i),
				Bare:    fmt.Sprintf("user%06d@example.com", i),
				Confirm: Confirm{ID: fmt.Sprintf("tx-%013d", i), Method: "GET", URL: fmt.Sprintf("https://files.example.com/docs/report-%06d.pdf", i)},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if storePending(b, s) != n {
			b.Fatal("not all pending")
		}
		perTx = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perTx, "B/pending")
}

// BenchmarkReusedCredential compares, in one benchmark, a bare net/http
// handler with the same handler behind the middleware serving a request that
// reuses a HEAD confirmation (Basic credentials, the common case for
// clients). The ratio metric is middleware/bare (target ≤ 1.2); check-ratio
// is the same with Check instead of the middleware, i.e. without the
// request copy that carrying the JID in the request context costs, and
// jid-ratio the same with HandlerWithJID.
func BenchmarkReusedCredential(b *testing.B) {
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("hello"))
	})
	sender := newFakeSender()
	v, err := New(Config{Sender: sender, Hosts: []string{"files.shakespeare.lit"}, Logger: discardLog})
	if err != nil {
		b.Fatal(err)
	}
	guarded := v.Handler(bare)
	auth := BasicAuthorization(jid.MustParse(fullJID), txID)
	newReq := func(method string) *http.Request {
		r := httptest.NewRequest(method, "https://files.shakespeare.lit/missive.html", nil)
		r.Header.Set("Authorization", auth)
		return r
	}
	// Obtain the reusable confirmation with HEAD.
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, newReq("HEAD"))
		done <- rec.Code
	}()
	s := <-sender.ch
	if _, ok := v.HandleStanza(xml.StartElement{Name: xml.Name{Local: "iq"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: "result"}, {Name: xml.Name{Local: "id"}, Value: s.answer.id},
		{Name: xml.Name{Local: "from"}, Value: fullJID},
	}}, xmlstream.ReaderFunc(func() (xml.Token, error) { return nil, io.EOF })); !ok {
		b.Fatal("answer not handled")
	}
	if code := <-done; code != 200 {
		b.Fatalf("HEAD: %d", code)
	}
	req := newReq("GET")
	if rec := httptest.NewRecorder(); func() int { guarded.ServeHTTP(rec, req); return rec.Code }() != 200 {
		b.Fatal("reuse failed")
	}

	// Blocks of each, alternating which goes first, so that GC and noise
	// from other processes fall on both alike.
	const block = 32
	b.ReportAllocs()
	var bareTime, guardedTime time.Duration
	run := func(h http.Handler) time.Duration {
		t0 := time.Now()
		for range block {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		return time.Since(t0)
	}
	// checked verifies with Check, as a host with its own router would,
	// without passing the JID through a new request context.
	checked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := v.Check(r); err != nil {
			v.WriteError(w, r, err)
			return
		}
		bare.ServeHTTP(w, r)
	})
	withJID := v.HandlerWithJID(func(w http.ResponseWriter, r *http.Request, _ jid.JID) { bare.ServeHTTP(w, r) })
	var checkedTime, withJIDTime time.Duration
	odd := false
	for b.Loop() {
		if odd {
			guardedTime += run(guarded)
			withJIDTime += run(withJID)
			checkedTime += run(checked)
			bareTime += run(bare)
		} else {
			bareTime += run(bare)
			checkedTime += run(checked)
			withJIDTime += run(withJID)
			guardedTime += run(guarded)
		}
		odd = !odd
	}
	if rec := httptest.NewRecorder(); func() int { guarded.ServeHTTP(rec, req); return rec.Code }() != 200 {
		b.Fatal("reuse stopped working")
	}
	n := float64(b.N * block)
	b.ReportMetric(float64(bareTime.Nanoseconds())/n, "bare-ns/req")
	b.ReportMetric(float64(guardedTime.Nanoseconds())/n, "guarded-ns/req")
	b.ReportMetric(float64(checkedTime.Nanoseconds())/n, "check-ns/req")
	b.ReportMetric(float64(withJIDTime.Nanoseconds())/n, "jid-ns/req")
	b.ReportMetric(float64(guardedTime)/float64(bareTime), "ratio")
	b.ReportMetric(float64(checkedTime)/float64(bareTime), "check-ratio")
	b.ReportMetric(float64(withJIDTime)/float64(bareTime), "jid-ratio")
}

// BenchmarkUsedMemory measures the heap held per remembered used
// transaction identifier at the default cap (200k), each cut from a 4 KiB
// string as a parser cuts it from the decoded header: what is kept is a
// fixed-size digest.
func BenchmarkUsedMemory(b *testing.B) {
	const n = 200000
	ctx := context.Background()
	b.ReportAllocs()
	var perID float64
	for b.Loop() {
		s := NewMemStore(MemStoreConfig{MaxPending: n, MaxPendingPerJID: n, MaxUsed: n})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			header := fmt.Sprintf("user%06d@example.com:tx-%013d:", i, i) + strings.Repeat("x", 4096)
			bare, id := header[:22], header[23:39]
			ref := fmt.Sprintf("%024x", i)
			tx := Transaction{Ref: ref, To: bare, Bare: bare, Confirm: Confirm{ID: id, Method: "GET", URL: "https://files.example.com/"}}
			if err := s.Begin(ctx, tx); err != nil {
				b.Fatal(err)
			}
			s.End(ctx, tx)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perID = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perID, "B/used")
}

// BenchmarkReusedCredentialOverHTTP is BenchmarkReusedCredential through a
// real HTTP/1.1 server on loopback with a keep-alive client, bare handler
// and middleware being two paths of one server: what the middleware adds to
// a request as a client sees it. ratio is middleware/bare.
func BenchmarkReusedCredentialOverHTTP(b *testing.B) {
	srv, set := lateServer(b)
	sender := newFakeSender()
	v, err := New(Config{Sender: sender, Hosts: []string{srvHost(srv)}, Logger: discardLog})
	if err != nil {
		b.Fatal(err)
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("hello"))
	})
	guarded := v.Handler(bare)
	set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/bare/") {
			bare(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	}))
	client := srv.Client()
	auth := BasicAuthorization(jid.MustParse(fullJID), txID)
	do := func(method, url string) (int, error) {
		req, err := http.NewRequest(method, url, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, err
	}
	guardedURL, bareURL := srv.URL+"/missive.html", srv.URL+"/bare/missive.html"
	type result struct {
		code int
		err  error
	}
	done := make(chan result)
	go func() {
		code, err := do("HEAD", guardedURL)
		done <- result{code, err}
	}()
	s := <-sender.ch
	if _, ok := v.HandleStanza(xml.StartElement{Name: xml.Name{Local: "iq"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "type"}, Value: "result"}, {Name: xml.Name{Local: "id"}, Value: s.answer.id},
		{Name: xml.Name{Local: "from"}, Value: fullJID},
	}}, xmlstream.ReaderFunc(func() (xml.Token, error) { return nil, io.EOF })); !ok {
		b.Fatal("answer not handled")
	}
	if r := <-done; r.err != nil || r.code != 200 {
		b.Fatalf("HEAD: %d %v", r.code, r.err)
	}

	const block = 16
	run := func(url string) time.Duration {
		t0 := time.Now()
		for range block {
			if code, err := do("GET", url); err != nil || code != 200 {
				b.Fatalf("GET %s: %d %v", url, code, err)
			}
		}
		return time.Since(t0)
	}
	b.ReportAllocs()
	var bareTime, guardedTime time.Duration
	odd := false
	for b.Loop() {
		if odd {
			guardedTime += run(guardedURL)
			bareTime += run(bareURL)
		} else {
			bareTime += run(bareURL)
			guardedTime += run(guardedURL)
		}
		odd = !odd
	}
	n := float64(b.N * block)
	b.ReportMetric(float64(bareTime.Nanoseconds())/n, "bare-ns/req")
	b.ReportMetric(float64(guardedTime.Nanoseconds())/n, "guarded-ns/req")
	b.ReportMetric(float64(guardedTime)/float64(bareTime), "ratio")
}
