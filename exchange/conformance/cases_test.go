package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
)

// minimal is the smallest valid case; the table's cases change one part.
const minimal = `{
  "query": {"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO",
            "subject": {"id_type": "DNI", "id": "12345678Z"}},
  "expect": {"error": "subject_not_found"}
}`

// withMember returns minimal with one more top-level member.
func withMember(member string) string {
	return strings.Replace(minimal, `"expect"`, member+`, "expect"`, 1)
}

func withExpect(expect string) string {
	return strings.Replace(minimal, `{"error": "subject_not_found"}`, expect, 1)
}

func withQuery(query string) string {
	i, j := strings.Index(minimal, `"query"`), strings.Index(minimal, `"expect"`)
	return minimal[:i] + `"query": ` + query + ", " + minimal[j:]
}

func TestParseCaseRefuses(t *testing.T) {
	subject := `"subject": {"id_type": "DNI", "id": "12345678Z"}`
	tests := []struct {
		name, doc string
		want      string // the error must contain it
	}{
		{"not JSON", `{"query":`, "not JSON"},
		{"not an object", `[]`, "the file: must be a JSON object, not a list"},
		{"trailing data", minimal + "{}", "something follows the object"},
		{"unknown member", withMember(`"expected": {}`), "expected: unknown member"},
		{"duplicate member", withMember(`"description": "a", "description": "b"`), "description: appears twice"},
		{"no query", `{"expect": {"error": "subject_not_found"}}`, "query: is required"},
		{"no expect", `{"query": {"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO", ` + subject + `}}`, "expect: is required"},
		{"misspelt query member", withQuery(`{"servce": "padro"}`), "query.servce: unknown member"},
		{"no service", withQuery(`{"purpose": "demo", "requester": "P0801900B", "procedure": "DEMO", ` + subject + `}`), "query.service: is required"},
		{"empty purpose", withQuery(`{"service": "padro", "purpose": " ", "requester": "P0801900B", "procedure": "DEMO", ` + subject + `}`), "query.purpose: is empty"},
		{"service not a string", withQuery(`{"service": 1, "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO", ` + subject + `}`), "query.service: must be a string"},
		{"no subject", withQuery(`{"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO"}`), "query.subject: is required"},
		{"no subject id", withQuery(`{"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO", "subject": {"id_type": "DNI"}}`), "query.subject.id: is required"},
		{"unknown subject member", withQuery(`{"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO", "subject": {"id_type": "DNI", "id": "1", "surname": "Puig"}}`), "query.subject.surname: unknown member"},
		{"params not an object", withQuery(`{"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO", ` + subject + `, "params": ["08019"]}`), "query.params: must be a JSON object, not a list"},
		{"source not a list", withMember(`"source": {"status": 200}`), "source: must be a list"},
		{"misspelt answer member", withMember(`"source": [{"status": 200}, {"staus": 200}]`), "source[1].staus: unknown member"},
		{"status out of range", withMember(`"source": [{"status": 42}]`), "source[0].status: 42 is not within 200 to 599"},
		{"an interim status", withMember(`"source": [{"status": 100}]`), "source[0].status: 100 is not within 200 to 599"},
		{"a 204 with a body", withMember(`"source": [{"status": 204, "body": ""}]`), "source[0].body: a 204 answer has no body"},
		{"status not a number", withMember(`"source": [{"status": "200"}]`), "source[0].status: must be a whole number"},
		{"two bodies", withMember(`"source": [{"body": "x", "body_json": {}}]`), "source[0]: body and body_json: an answer has one body"},
		{"bad base64", withMember(`"source": [{"body_base64": "not base64!"}]`), "source[0].body_base64: not standard base64"},
		{"outage with a status", withMember(`"source": [{"outage": true, "status": 503}]`), "source[0].status: an outage answers nothing"},
		{"outage not a boolean", withMember(`"source": [{"outage": "yes"}]`), "source[0].outage: must be true or false"},
		{"negative delay", withMember(`"source": [{"delay_ms": -1}]`), "source[0].delay_ms: -1 is not within"},
		{"request without method", withMember(`"source": [{"request": "/padro/v1"}]`), `source[0].request: "/padro/v1" is not "METHOD /path"`},
		{"request with a full URL", withMember(`"source": [{"request": "GET http://x/padro"}]`), "is not \"METHOD /path\""},
		{"header with a line break", withMember(`"source": [{"headers": {"X-A": "a\nb"}}]`), "source[0].headers.X-A: a header value cannot hold a line break"},
		{"bad header name", withMember(`"source": [{"headers": {"Content Type": "x"}}]`), `source[0].headers: "Content Type" is not a header name`},
		{"timeout zero", withMember(`"timeout_ms": 0`), "timeout_ms: 0 is not within 1 to 30000"},
		{"two expectations", withExpect(`{"error": "subject_not_found", "valid_data": true}`), "expect: want exactly one of data, valid_data and error, not 2"},
		{"no expectation", withExpect(`{}`), "expect: want exactly one"},
		{"valid_data false", withExpect(`{"valid_data": false}`), "expect.valid_data: false expects nothing"},
		{"data not an object", withExpect(`{"data": [1]}`), "expect.data: must be a JSON object"},
		{"unknown error code", withExpect(`{"error": "not_found"}`), `expect.error: "not_found" is not a code a call of the adapter can end in`},
		{"busy cannot happen", withExpect(`{"error": "adapter_busy"}`), `expect.error: "adapter_busy" is not a code`},
		{"message without error", withExpect(`{"valid_data": true, "message_contains": "x"}`), "expect.message_contains: only an expected error has a message"},
		{"violations without adapter_failed", withExpect(`{"error": "source_unavailable", "violations": ["/a"]}`), "expect.violations: only data that breaks the schema"},
		{"violation not a pointer", withExpect(`{"error": "adapter_failed", "violations": ["a/b"]}`), `expect.violations[0]: "a/b" is not a JSON pointer`},
		{"violations empty", withExpect(`{"error": "adapter_failed", "violations": []}`), "expect.violations: must be a non-empty list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCase("case", []byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseCase accepted\n%s", tt.doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseCaseReads(t *testing.T) {
	doc := `{
  "description": "every member",
  "query": {"service": "padro", "purpose": "demo", "requester": "P0801900B", "procedure": "DEMO",
            "subject": {"id_type": "NIE", "id": "X1234567L", "name": "Mariana", "surname1": "Rossi"},
            "params": {"municipality": "08019", "mode": "consult"}},
  "source": [
    {"request": "GET /a/b%2Fc?x=1&y=2", "status": 404, "headers": {"X-Trace": "1"}, "body": "no"},
    {"body_json": {"z": 1, "a": [true, null]}},
    {"body_base64": "/w==", "headers": {"Content-Type": "text/plain; charset=latin1"}},
    {"body_json": {}, "headers": {"content-type": "application/problem+json"}},
    {"outage": true, "delay_ms": 20}
  ],
  "timeout_ms": 300,
  "expect": {"error": "invalid_params", "message_contains": "municipality"}
}`
	c, err := ParseCase("every-member", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "every-member" || c.Description != "every member" || c.TimeoutMS != 300 {
		t.Errorf("case = %+v", c)
	}
	q := c.Query
	if q.Service != "padro" || q.Purpose != "demo" || q.Requester != "P0801900B" || q.Procedure != "DEMO" ||
		q.Subject.IDType != "NIE" || q.Subject.ID != "X1234567L" || q.Subject.Name != "Mariana" || q.Subject.Surname1 != "Rossi" {
		t.Errorf("query = %+v", q)
	}
	if string(q.Params) != `{"municipality":"08019","mode":"consult"}` {
		t.Errorf("params = %s", q.Params)
	}
	if len(c.Source) != 5 {
		t.Fatalf("%d answers", len(c.Source))
	}
	a := c.Source[0]
	if a.method != "GET" || a.path != "/a/b%2Fc" || a.query.Get("y") != "2" || a.Status != 404 || string(a.Body) != "no" || a.Headers["X-Trace"] != "1" {
		t.Errorf("source[0] = %+v", a)
	}
	// body_json is served compact, in the case's member order, as JSON.
	if b := c.Source[1]; string(b.Body) != `{"z":1,"a":[true,null]}` || b.Headers["Content-Type"] != "application/json" || b.Status != 200 {
		t.Errorf("source[1] = %+v, body %s", b, b.Body)
	}
	if b := c.Source[2]; string(b.Body) != "\xff" || b.Headers["Content-Type"] != "text/plain; charset=latin1" {
		t.Errorf("source[2] = %+v", b)
	}
	// A Content-Type the case gives, in any case, is kept.
	if b := c.Source[3]; len(b.Headers) != 1 || b.Headers["content-type"] != "application/problem+json" {
		t.Errorf("source[3] headers = %v", b.Headers)
	}
	if b := c.Source[4]; !b.Outage || b.DelayMS != 20 {
		t.Errorf("source[4] = %+v", b)
	}
	// The adapter's code and the requester's are the same expectation.
	if c.Expect.Error != fault.InvalidRequest || c.Expect.MessageContains != "municipality" {
		t.Errorf("expect = %+v", c.Expect)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("config.json", `{"source_url": "http://padro-08019.sources.pont.test"}`)
	write("b-second.json", minimal)
	write("a-first.json", withExpect(`{"valid_data": true}`))
	write("README.md", "notes for the owner, not a case")
	if err := os.Mkdir(filepath.Join(dir, "drafts"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Cases) != 2 || s.Cases[0].Name != "a-first" || s.Cases[1].Name != "b-second" {
		t.Fatalf("cases = %+v", s.Cases)
	}
	if s.Cases[0].File != filepath.Join(dir, "a-first.json") {
		t.Errorf("file = %s", s.Cases[0].File)
	}
	if s.Config["source_url"] != "http://padro-08019.sources.pont.test" || len(s.Config) != 1 {
		t.Errorf("config = %v", s.Config)
	}

	// A broken case is named by its file and member.
	write("c-broken.json", withMember(`"source": [{"staus": 200}]`))
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "c-broken.json: source[0].staus: unknown member") {
		t.Errorf("LoadDir = %v, want the broken file and member named", err)
	}
	write("c-broken.json", minimal)
	write("config.json", `{"source_url": 8080}`)
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "config.json: source_url: must be a string") {
		t.Errorf("LoadDir = %v, want the config value named", err)
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "config.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(empty); err == nil || !strings.Contains(err.Error(), "holds no case") {
		t.Errorf("LoadDir of a directory without cases = %v", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadDir of a missing directory succeeded")
	}
}
