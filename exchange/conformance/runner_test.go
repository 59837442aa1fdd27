package conformance

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
)

// The tests run wasmhost's own test adapter (exchange/wasmhost/testdata/
// adapter), whose params pick what it does, against the catalog of
// testdata/catalog, whose services take those params. It is built once.
var (
	probeWasm  []byte // serves probe, scope *
	routedWasm []byte // serves routed, scope 09, asks for a 1.5 s limit
	cacheDir   string
	testCat    *catalog.Catalog
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "conformance-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cacheDir = filepath.Join(dir, "cache")
	out := filepath.Join(dir, "adapter.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "../wasmhost/testdata/adapter")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the test adapter: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	probe := manifest.Manifest{
		ABI: 1, Name: "probe", Version: "1.0.0", Owner: "S0800000A",
		Services: []string{"probe"}, Scope: "*",
		AllowedHosts: []string{"http://source.pont.test", "https://secure.pont.test"},
		Config:       []string{"source_url"},
	}
	if probeWasm, err = manifest.Embed(raw, probe); err != nil {
		return 0, err
	}
	routed := probe
	routed.Name, routed.Services, routed.Scope = "routed-09", []string{"routed"}, "09"
	routed.Limits.TimeoutMS = 1500
	if routedWasm, err = manifest.Embed(raw, routed); err != nil {
		return 0, err
	}
	if testCat, err = catalog.Load(os.DirFS("testdata/catalog")); err != nil {
		return 0, fmt.Errorf("the test catalog: %w", err)
	}
	return m.Run(), nil
}

func newRunner(t *testing.T, wasm []byte, cfg Config) *Runner {
	t.Helper()
	if cfg.Catalog == nil {
		cfg.Catalog = testCat
	}
	cfg.CacheDir = cacheDir
	r, err := New(context.Background(), wasm, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// probeCase is a case of the probe service with these params, members
// (source, timeout_ms) and expectation.
func probeCase(t *testing.T, params, members, expect string) Case {
	t.Helper()
	doc := `{"query": {"service": "probe", "purpose": "demo", "requester": "S0800000A", "procedure": "TEST",
	  "subject": {"id_type": "DNI", "id": "12345678Z"}, "params": ` + params + `}`
	if members != "" {
		doc += ", " + members
	}
	doc += `, "expect": ` + expect + `}`
	c, err := ParseCase("case", []byte(doc))
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	return c
}

func fetch(url string) string { return `{"behave": "fetch", "url": "` + url + `"}` }

func TestRun(t *testing.T) {
	r := newRunner(t, probeWasm, Config{})
	tests := []struct {
		name            string
		params, members string
		expect          string
		pass            bool
		problems        []string // each must be in one of the result's problems
		check           func(t *testing.T, res Result)
	}{
		{
			name:    "data as recorded",
			params:  fetch("http://source.pont.test/record?id=12345678Z"),
			members: `"source": [{"request": "GET /record?id=12345678Z", "body_json": {"a": 1}}]`,
			expect:  `{"data": {"status": 200, "content_type": "application/json", "body": "{\"a\":1}", "body_hex": "7b2261223a317d", "charset": "", "text": "{\"a\":1}"}}`,
			pass:    true,
			check: func(t *testing.T, res Result) {
				if len(res.Requests) != 1 || res.Requests[0].URL != "http://source.pont.test/record?id=12345678Z" ||
					res.Requests[0].Header.Get("Accept") != "application/json" {
					t.Errorf("requests = %+v", res.Requests)
				}
			},
		},
		{
			name:     "other data",
			params:   fetch("http://source.pont.test/record"),
			members:  `"source": [{"body_json": {"a": 1}}]`,
			expect:   `{"data": {"status": 200, "content_type": "application/json", "body": "{\"a\":2}", "body_hex": "7b2261223a317d", "charset": "", "text": "{\"a\":1}"}}`,
			problems: []string{"the data differs from the case's", `/body: got "{\"a\":1}", want "{\"a\":2}"`},
		},
		{
			name:    "over https",
			params:  fetch("https://secure.pont.test/record"),
			members: `"source": [{"status": 404, "body": "none"}]`,
			expect:  `{"data": {"status": 404, "content_type": "", "body": "none", "body_hex": "6e6f6e65", "charset": "", "text": "none"}}`,
			pass:    true,
			check: func(t *testing.T, res Result) {
				if len(res.Requests) != 1 || res.Requests[0].URL != "https://secure.pont.test/record" {
					t.Errorf("requests = %+v", res.Requests)
				}
			},
		},
		{
			name:    "an outage",
			params:  fetch("http://source.pont.test/record"),
			members: `"source": [{"outage": true}]`,
			expect:  `{"valid_data": true}`,
			pass:    true,
			check: func(t *testing.T, res Result) {
				if !strings.Contains(string(res.Got.Data), `"http_error":"network"`) {
					t.Errorf("data = %s, want http_call's network error", res.Got.Data)
				}
			},
		},
		{
			name:   "a host the manifest does not allow",
			params: fetch("http://evil.pont.test/record"),
			expect: `{"valid_data": true}`,
			pass:   true,
			check: func(t *testing.T, res Result) {
				if !strings.Contains(string(res.Got.Data), `"http_error":"host_not_allowed"`) || len(res.Requests) != 0 {
					t.Errorf("data = %s, requests %+v: the host must refuse before dialing", res.Got.Data, res.Requests)
				}
			},
		},
		{
			name:    "a source slower than the deadline",
			params:  fetch("http://source.pont.test/record"),
			members: `"timeout_ms": 300, "source": [{"delay_ms": 60000, "body": "late"}]`,
			expect:  `{"error": "adapter_timeout"}`,
			pass:    true,
			check: func(t *testing.T, res Result) {
				if res.Deadline != 300*time.Millisecond || res.Elapsed > 5*time.Second {
					t.Errorf("deadline %v, elapsed %v", res.Deadline, res.Elapsed)
				}
			},
		},
		{
			name:    "an adapter slower than the deadline",
			params:  `{"behave": "sleep", "ms": "10000"}`,
			members: `"timeout_ms": 200`,
			expect:  `{"error": "adapter_timeout"}`,
			pass:    true,
		},
		{
			name:   "an error answer",
			params: `{"behave": "error", "code": "subject_not_found"}`,
			expect: `{"error": "subject_not_found", "message_contains": "no record"}`,
			pass:   true,
		},
		{
			name:   "invalid_params is invalid_request",
			params: `{"behave": "error", "code": "invalid_params"}`,
			expect: `{"error": "invalid_params", "message_contains": "refused the params"}`,
			pass:   true,
			check: func(t *testing.T, res Result) {
				if res.Got.Error != fault.InvalidRequest {
					t.Errorf("got %s", res.Got)
				}
			},
		},
		{
			name:     "another error",
			params:   `{"behave": "error", "code": "source_unavailable"}`,
			expect:   `{"error": "subject_not_found"}`,
			problems: []string{"want error subject_not_found, got error source_unavailable: adapter probe: the source answered 503"},
		},
		{
			name:     "another message",
			params:   `{"behave": "error", "code": "source_unavailable"}`,
			expect:   `{"error": "source_unavailable", "message_contains": "HTTP 502"}`,
			problems: []string{`want a message containing "HTTP 502", got "adapter probe: the source answered 503"`},
		},
		{
			name:   "an error code the ABI does not have",
			params: `{"behave": "error", "code": "not_here"}`,
			expect: `{"error": "adapter_failed", "message_contains": "is not an ABI code"}`,
			pass:   true,
		},
		{
			name:   "a trap",
			params: `{"behave": "trap"}`,
			expect: `{"error": "adapter_failed", "message_contains": "trapped in pont_handle"}`,
			pass:   true,
			check: func(t *testing.T, res Result) {
				if strings.Contains(res.Got.Message, "\n") {
					t.Errorf("message %q: the stack trace is not for the report", res.Got.Message)
				}
			},
		},
		{
			name:   "data that breaks the schema where the case says",
			params: `{"behave": "config", "key": "source_url"}`,
			expect: `{"error": "adapter_failed", "violations": ["/value", "/found", "/init_value", "/init_found"]}`,
			pass:   true,
		},
		{
			name:     "data that breaks the schema elsewhere",
			params:   `{"behave": "config", "key": "source_url"}`,
			expect:   `{"error": "adapter_failed", "violations": ["/value"]}`,
			problems: []string{`want the data to break the schema at "/value", got:`, "/init_found: is not in the schema"},
		},
		{
			name:     "data wanted, data that breaks the schema got",
			params:   `{"behave": "config", "key": "source_url"}`,
			expect:   `{"valid_data": true}`,
			problems: []string{"want data that passes the schema, got data that breaks the schema:", "/found: is not in the schema"},
		},
		{
			name:     "a request the case did not record",
			params:   fetch("http://source.pont.test/record"),
			expect:   `{"valid_data": true}`,
			problems: []string{"the adapter asked GET http://source.pont.test/record, and the case has no recorded answer left for it"},
		},
		{
			name:     "an answer never asked for",
			params:   `{"behave": "error", "code": "subject_not_found"}`,
			members:  `"source": [{"request": "GET /record", "body": "x"}]`,
			expect:   `{"error": "subject_not_found"}`,
			problems: []string{"source[0] (GET /record) was never served: the adapter made 0 request(s)"},
		},
		{
			name:     "params the catalog refuses",
			params:   `{"behave": "ok", "colour": "blue"}`,
			expect:   `{"valid_data": true}`,
			problems: []string{"query.params.colour: is not allowed here", "the broker refuses such a query"},
			check: func(t *testing.T, res Result) {
				if res.Called {
					t.Error("the adapter was called with params the broker refuses")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.Run(context.Background(), probeCase(t, tt.params, tt.members, tt.expect))
			if res.Pass != tt.pass {
				t.Errorf("pass = %v, want %v; problems:\n%s\ngot %s", res.Pass, tt.pass, strings.Join(res.Problems, "\n"), res.Got)
			}
			if tt.pass && len(res.Problems) > 0 {
				t.Errorf("a passing case with problems: %q", res.Problems)
			}
			all := strings.Join(res.Problems, "\n")
			for _, p := range tt.problems {
				if !strings.Contains(all, p) {
					t.Errorf("problems:\n%s\nwant one containing %q", all, p)
				}
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

func TestRunRefusesQueriesTheBrokerWouldNotPass(t *testing.T) {
	r := newRunner(t, routedWasm, Config{})
	query := func(service, purpose, params string) Case {
		doc := `{"query": {"service": "` + service + `", "purpose": "` + purpose + `", "requester": "S0800000A", "procedure": "TEST",
		  "subject": {"id_type": "DNI", "id": "12345678Z"}, "params": ` + params + `},
		  "expect": {"error": "subject_not_found"}}`
		c, err := ParseCase("case", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name string
		c    Case
		want string
	}{
		{"a service the catalog lacks", query("padro", "demo", `{}`), `query.service: the catalog has no service "padro" (it has probe, routed)`},
		{"a service the manifest lacks", query("probe", "demo", `{}`), "query.service: the adapter's manifest does not serve probe (it serves routed)"},
		{"a purpose the service does not serve", query("routed", "research", `{"region": "09"}`), `query.purpose: service routed does not serve purpose "research" (it serves demo)`},
		{"another scope", query("routed", "demo", `{"region": "10", "behave": "error", "code": "subject_not_found"}`), `query.params.region: "10", and the adapter's scope is 09: the broker would route the query to another adapter`},
		{"no routing key", query("routed", "demo", `{"behave": "ok"}`), "query.params.region: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.Run(context.Background(), tt.c)
			if res.Pass || res.Called {
				t.Fatalf("pass %v, called %v: want the case refused before the call", res.Pass, res.Called)
			}
			if all := strings.Join(res.Problems, "\n"); !strings.Contains(all, tt.want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", all, tt.want)
			}
		})
	}
	res := r.Run(context.Background(), query("routed", "demo", `{"region": "09", "behave": "error", "code": "subject_not_found"}`))
	if !res.Pass {
		t.Fatalf("a query of the adapter's scope: %q", res.Problems)
	}
}

func TestDeadlines(t *testing.T) {
	// routed-09's manifest asks for 1.5 s.
	sleep := func(timeout string) Case {
		members := ""
		if timeout != "" {
			members = `"timeout_ms": ` + timeout
		}
		doc := `{"query": {"service": "routed", "purpose": "demo", "requester": "S0800000A", "procedure": "TEST",
		  "subject": {"id_type": "DNI", "id": "12345678Z"}, "params": {"region": "09", "behave": "sleep", "ms": "1"}}`
		if members != "" {
			doc += ", " + members
		}
		c, err := ParseCase("case", []byte(doc+`, "expect": {"valid_data": true}}`))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name   string
		runner time.Duration
		caseMS string
		want   time.Duration
	}{
		{"the adapter's limit", 0, "", 1500 * time.Millisecond},
		{"the runner's, shorter", 400 * time.Millisecond, "", 400 * time.Millisecond},
		{"the runner's, longer", 20 * time.Second, "", 1500 * time.Millisecond},
		{"the case's, over the runner's", 400 * time.Millisecond, "700", 700 * time.Millisecond},
		{"the case's, longer than the limit", 0, "5000", 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, routedWasm, Config{Timeout: tt.runner})
			if r.Limits().Timeout != 1500*time.Millisecond {
				t.Fatalf("limits = %+v, want the manifest's timeout", r.Limits())
			}
			res := r.Run(context.Background(), sleep(tt.caseMS))
			if !res.Pass || res.Deadline != tt.want {
				t.Fatalf("pass %v (%q), deadline %v, want %v", res.Pass, res.Problems, res.Deadline, tt.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	ctx := context.Background()
	if _, err := New(ctx, probeWasm, Config{}); err == nil || !strings.Contains(err.Error(), "no catalog") {
		t.Errorf("New without a catalog = %v", err)
	}
	_, err := New(ctx, probeWasm, Config{Catalog: testCat, Values: map[string]string{"source_url": "http://x", "api_key": "k"}})
	if err == nil || !strings.Contains(err.Error(), "config keys api_key are not declared") {
		t.Errorf("New with an undeclared key = %v", err)
	}
	if _, err := New(ctx, []byte("not wasm"), Config{Catalog: testCat}); err == nil {
		t.Error("New loaded bytes that are not a module")
	}
	if _, err := New(ctx, probeWasm, Config{Catalog: testCat, Timeout: time.Minute}); err == nil || !strings.Contains(err.Error(), "ceiling") {
		t.Errorf("New with a one-minute deadline = %v", err)
	}
}

// A late answer is the host's adapter_timeout (ABI.md 4.2), whoever
// answered; the host's own failures stay as they are.
func TestAnswered(t *testing.T) {
	tests := []struct {
		o    Outcome
		want bool
	}{
		{Outcome{Data: []byte(`{}`)}, true},
		{Outcome{Error: fault.SubjectNotFound}, true},
		{Outcome{Error: fault.SourceUnavailable}, true},
		{Outcome{Error: fault.InvalidRequest}, true},
		{Outcome{Error: fault.AdapterFailed, Data: []byte(`{"x":1}`)}, true},
		{Outcome{Error: fault.AdapterFailed}, false},
		{Outcome{Error: fault.AdapterTimeout}, false},
	}
	for _, tt := range tests {
		if got := answered(tt.o); got != tt.want {
			t.Errorf("answered(%s) = %v, want %v", tt.o, got, tt.want)
		}
	}
}
