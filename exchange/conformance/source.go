package conformance

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// maxRequestBody is how much of a request's body the source keeps for the
// report.
const maxRequestBody = 1 << 20

// Request is one request the adapter made, as the source saw it.
type Request struct {
	// Method and URL are the request's, the URL with the scheme and the
	// Host the adapter asked for.
	Method string
	URL    string
	// Header and Body are what the adapter sent (the body cut at 1 MiB).
	Header http.Header
	Body   []byte
	// Answer is the index in Case.Source of the answer served, or -1 when
	// no recorded answer was left for the request.
	Answer int
}

// source serves a case's recorded answers on loopback, over HTTP and over
// TLS, whatever host the adapter asks for.
type source struct {
	plain, tls *httptest.Server
	client     *http.Client

	mu       sync.Mutex
	answers  []Answer
	used     []bool
	requests []Request
}

func startSource() *source {
	s := &source{}
	s.plain, s.tls = httptest.NewUnstartedServer(s), httptest.NewUnstartedServer(s)
	// A reset connection or an adapter that gives up is what a case
	// simulates, not something to print.
	quiet := log.New(io.Discard, "", 0)
	s.plain.Config.ErrorLog, s.tls.Config.ErrorLog = quiet, quiet
	s.plain.Start()
	s.tls.StartTLS()
	roots := x509.NewCertPool()
	roots.AddCert(s.tls.Certificate())
	plainAddr, tlsAddr := s.plain.Listener.Addr().String(), s.tls.Listener.Addr().String()
	var dialer net.Dialer
	s.client = &http.Client{Transport: &http.Transport{
		// Every name the host lets through reaches the recorded source:
		// the host has checked the URL against the manifest's allowed
		// hosts before it dials.
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, plainAddr)
		},
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, tlsAddr)
			if err != nil {
				return nil, err
			}
			// The test server's certificate names example.com, whatever
			// host the adapter asked for.
			tc := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: "example.com"})
			if err := tc.HandshakeContext(ctx); err != nil {
				conn.Close()
				return nil, err
			}
			return tc, nil
		},
		// A fresh connection for every request: on a reused one, Go's
		// transport silently retries a GET that an outage answered, and
		// the adapter would see the next recorded answer instead.
		DisableKeepAlives: true,
	}}
	return s
}

// start begins a case: its answers, none used, no request yet.
func (s *source) start(answers []Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = answers
	s.used = make([]bool, len(answers))
	s.requests = nil
}

// finish ends a case and returns the requests made and the indexes of the
// answers never served.
func (s *source) finish() (requests []Request, unused []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, u := range s.used {
		if !u {
			unused = append(unused, i)
		}
	}
	requests = s.requests
	s.answers, s.used, s.requests = nil, nil, nil
	return requests, unused
}

func (s *source) close() {
	s.plain.CloseClientConnections()
	s.tls.CloseClientConnections()
	s.plain.Close()
	s.tls.Close()
}

func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	req := Request{Method: r.Method, URL: scheme + "://" + r.Host + r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, Answer: -1}
	s.mu.Lock()
	var a Answer
	for i, cand := range s.answers {
		if !s.used[i] && cand.matches(r) {
			s.used[i], req.Answer, a = true, i, cand
			break
		}
	}
	s.requests = append(s.requests, req)
	s.mu.Unlock()

	if req.Answer < 0 {
		// The case fails on this request whatever the adapter makes of
		// this answer (see Runner.Run).
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "pont adapter test: the case has no recorded answer left for %s %s\n", r.Method, r.URL.RequestURI())
		return
	}
	if a.DelayMS > 0 {
		t := time.NewTimer(time.Duration(a.DelayMS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done(): // the adapter gave up
			return
		}
	}
	if a.Outage {
		reset(w)
		return
	}
	h := w.Header()
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	// Only the recorded headers: no sniffed Content-Type, no Date.
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	h["Date"] = nil
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}

// matches reports whether the answer may be served to r.
func (a Answer) matches(r *http.Request) bool {
	if a.Request == "" {
		return true
	}
	if r.Method != a.method || r.URL.EscapedPath() != a.path {
		return false
	}
	if a.query == nil {
		return true
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil || len(q) != len(a.query) {
		return false
	}
	for k, want := range a.query {
		got := q[k]
		if len(got) != len(want) {
			return false
		}
		for i := range want {
			if got[i] != want[i] {
				return false
			}
		}
	}
	return true
}

// reset drops the connection with a TCP reset before any byte of an
// answer, as a source that went down would.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // closes the connection all the same
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	} else if tlsConn, ok := conn.(*tls.Conn); ok {
		if tc, ok := tlsConn.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	_ = conn.Close()
}
