package conformance

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// answers parses a case's source member.
func answers(t *testing.T, source string) []Answer {
	t.Helper()
	c, err := ParseCase("case", []byte(withMember(`"source": `+source)))
	if err != nil {
		t.Fatal(err)
	}
	return c.Source
}

func get(t *testing.T, s *source, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := s.client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestSourceServesTheRecordedBytes(t *testing.T) {
	s := startSource()
	defer s.close()
	s.start(answers(t, `[
	  {"status": 203, "headers": {"Content-Type": "text/plain; charset=iso-8859-1", "X-Source": "padró"}, "body_base64": "Q2FycmVyIGRlIGwnw4BuZ2Vs/w=="},
	  {"body": "<p>no type</p>"},
	  {"status": 204}
	]`))
	resp, body := get(t, s, "http://padro.sources.pont.test/a")
	if resp.StatusCode != 203 || string(body) != "Carrer de l'\xc3\x80ngel\xff" {
		t.Errorf("answer = %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Content-Type") != "text/plain; charset=iso-8859-1" || resp.Header.Get("X-Source") != "padró" {
		t.Errorf("headers = %v", resp.Header)
	}
	if _, ok := resp.Header["Date"]; ok {
		t.Error("the source added a Date header the case does not record")
	}
	// No Content-Type is recorded: none is sent, not a sniffed one.
	resp, body = get(t, s, "https://secure.sources.pont.test/b")
	if ct, ok := resp.Header["Content-Type"]; ok || string(body) != "<p>no type</p>" {
		t.Errorf("answer = %q, Content-Type %q", body, ct)
	}
	resp, body = get(t, s, "http://padro.sources.pont.test/c")
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Errorf("answer = %d %q", resp.StatusCode, body)
	}
	reqs, unused := s.finish()
	urls := []string{"http://padro.sources.pont.test/a", "https://secure.sources.pont.test/b", "http://padro.sources.pont.test/c"}
	if len(reqs) != 3 || len(unused) != 0 {
		t.Fatalf("requests %+v, unused %v", reqs, unused)
	}
	for i, r := range reqs {
		if r.URL != urls[i] || r.Answer != i || r.Method != http.MethodGet {
			t.Errorf("request %d = %+v, want %s served source[%d]", i, r, urls[i], i)
		}
	}
}

func TestSourceMatchesRequests(t *testing.T) {
	s := startSource()
	defer s.close()
	s.start(answers(t, `[
	  {"request": "GET /titulos?documento=12345678Z&v=2", "body": "titles"},
	  {"request": "POST /token", "body": "token"},
	  {"body": "anything"},
	  {"request": "GET /never", "body": "never"}
	]`))
	// In another order than recorded, the query in another order too.
	post, err := s.client.Post("http://source.pont.test/token", "text/plain", strings.NewReader("secret"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if _, body := get(t, s, "http://source.pont.test/titulos?v=2&documento=12345678Z"); string(body) != "titles" {
		t.Errorf("body = %q, want the answer recorded for that path and query", body)
	}
	// Another query: not that answer; the one without a request line.
	if _, body := get(t, s, "http://source.pont.test/titulos?documento=00000000T&v=2"); string(body) != "anything" {
		t.Errorf("body = %q", body)
	}
	// Nothing left for it: 502, noted.
	resp, body := get(t, s, "http://source.pont.test/titulos?documento=12345678Z&v=2")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "no recorded answer left") {
		t.Errorf("answer = %d %q", resp.StatusCode, body)
	}
	reqs, unused := s.finish()
	var served []int
	for _, r := range reqs {
		served = append(served, r.Answer)
	}
	if !slices.Equal(served, []int{1, 0, 2, -1}) || !slices.Equal(unused, []int{3}) {
		t.Errorf("served %v, unused %v", served, unused)
	}
	if string(reqs[0].Body) != "secret" || reqs[0].Method != http.MethodPost {
		t.Errorf("request 0 = %+v", reqs[0])
	}
}

func TestSourceOutageResetsOnce(t *testing.T) {
	s := startSource()
	defer s.close()
	s.start(answers(t, `[{"outage": true}, {"body": "a second answer the retry would take"}]`))
	_, err := s.client.Get("http://source.pont.test/x")
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
		t.Fatalf("GET = %v, want the connection reset", err)
	}
	reqs, unused := s.finish()
	if len(reqs) != 1 || !slices.Equal(unused, []int{1}) {
		t.Fatalf("requests %+v, unused %v: the client must not retry on another connection", reqs, unused)
	}
}

func TestSourceDelayStopsWhenTheClientGivesUp(t *testing.T) {
	s := startSource()
	s.start(answers(t, `[{"delay_ms": 600000, "body": "late"}]`))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://source.pont.test/slow", nil)
	start := time.Now()
	if _, err := s.client.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GET = %v, want the deadline", err)
	}
	s.finish()
	s.close() // waits for the handler, which must have given up too
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the source held on for %v after the client left", d)
	}
}
