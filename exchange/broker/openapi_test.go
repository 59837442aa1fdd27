package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/web"
)

// openAPIDoc is the part of an OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

// operationKeys are the keys of a path item that name operations.
var operationKeys = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIDescribesEveryRoute checks that GET /openapi.json is an
// OpenAPI 3.1 document whose paths hold every route the node registers, and
// no operation it does not serve.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	h, n := startHandler(t)
	raw, doc := fetchOpenAPI(t, n)

	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("info.title and info.version are required: %+v", doc.Info)
	}
	for _, name := range []string{"Envelope", "Answer", "Problem", "TransferV1", "TransferPageV1", "Service"} {
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("components.schemas lacks %s", name)
		}
	}
	if _, ok := doc.Components.SecuritySchemes["bearer"]; !ok {
		t.Error("components.securitySchemes lacks bearer")
	}

	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("the broker's handler is a %T, not a chi router", h)
	}
	pages := pageRoutes(t)
	registered := map[string]bool{} // "get /path"
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/scsp/") {
			return nil // the SCSP door is SOAP, described by its WSDL (docs/scsp.md)
		}
		if pages[method+" "+route] {
			return nil // the pages are HTML for people (docs/web.md)
		}
		registered[strings.ToLower(method)+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatalf("chi.Walk: %v", err)
	}
	if len(registered) == 0 {
		t.Fatal("chi.Walk found no routes")
	}
	for _, op := range slices.Sorted(maps.Keys(registered)) {
		method, path, _ := strings.Cut(op, " ")
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("the server routes %s %s; /openapi.json does not describe it", strings.ToUpper(method), path)
		}
	}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(operationKeys, key) && !registered[key+" "+path] {
				t.Errorf("/openapi.json describes %s %s; the server has no such route", strings.ToUpper(key), path)
			}
		}
	}

	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}
	checkRefs(t, tree, tree, "#")
}

// TestOpenAPIMatchesAnswers checks that the description's examples are
// real and that its schemas describe what the node actually answers.
func TestOpenAPIMatchesAnswers(t *testing.T) {
	_, n := startHandler(t)
	_, doc := fetchOpenAPI(t, n)
	validate := schemaValidator(t, doc)
	tok := n.requester(barcelona)

	var query struct {
		Post struct {
			RequestBody struct {
				Content map[string]struct {
					Examples map[string]struct{ Value json.RawMessage } `json:"examples"`
				} `json:"content"`
			} `json:"requestBody"`
			Responses map[string]struct {
				Content map[string]struct {
					Examples map[string]struct{ Value map[string]any } `json:"examples"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"post"`
	}
	if err := json.Unmarshal(doc.Paths["/v1/services/{service}/queries"]["post"], &query.Post); err != nil {
		t.Fatalf("the query operation: %v", err)
	}
	requests := query.Post.RequestBody.Content["application/json"].Examples
	answers := query.Post.Responses["200"].Content["application/json"].Examples

	// The request examples, sent to the node, answer the response examples'
	// data: the fixtures' real data.
	for _, c := range []struct{ request, answer string }{{"padro", "consult"}, {"verify", "verify"}} {
		req, ok := requests[c.request]
		if !ok {
			t.Errorf("no request example %q", c.request)
			continue
		}
		want, ok := answers[c.answer]
		if !ok {
			t.Errorf("no answer example %q", c.answer)
			continue
		}
		status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, string(req.Value))
		if status != http.StatusOK {
			t.Errorf("the %s request example: %d %v", c.request, status, out)
			continue
		}
		validate(t, "Answer", out)
		for _, key := range []string{"service", "status", "data"} {
			if !reflect.DeepEqual(out[key], want.Value[key]) {
				t.Errorf("%s example: %s: the node answers %v, the example says %v", c.answer, key, out[key], want.Value[key])
			}
		}
		got, _ := out["source"].(map[string]any)
		wantSrc, _ := want.Value["source"].(map[string]any)
		if got["adapter"] != wantSrc["adapter"] || got["version"] != wantSrc["version"] {
			t.Errorf("%s example: source = %v, the example says %v", c.answer, got, wantSrc)
		}
	}

	// Problems, the catalog, the transfer log and the operational answers
	// follow their schemas.
	bad := envelope("12345678A", map[string]any{"municipality": "08019"})
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, bad); status != http.StatusBadRequest {
		t.Errorf("bad check letter: %d %v", status, out)
	} else {
		validate(t, "Problem", out)
	}
	if status, out, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, envelope("12345678Z", map[string]any{"region": "09"})); status != http.StatusForbidden {
		t.Errorf("special category on presumed basis: %d %v", status, out)
	} else {
		validate(t, "Problem", out)
	}
	if status, out, _ := n.do("GET", "/v1/catalog/services", "", nil); status != http.StatusOK {
		t.Errorf("catalog: %d %v", status, out)
	} else {
		validate(t, "ServiceList", out)
	}
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	status, page, _ := n.do("GET", "/v1/audit/transfers?subject=12345678Z", auditor, nil)
	if status != http.StatusOK {
		t.Fatalf("audit: %d %v", status, page)
	}
	validate(t, "TransferPageV1", page)
	// The two answered queries and the denied one; the bad check letter is
	// recorded without a subject, since its envelope did not parse.
	items, _ := page["items"].([]any)
	if len(items) != 3 {
		t.Errorf("the audit page has %d records, want 3: %v", len(items), page)
	}
	for _, it := range items {
		id, _ := it.(map[string]any)["id"].(string)
		if status, one, _ := n.do("GET", "/v1/audit/transfers/"+id, auditor, nil); status != http.StatusOK {
			t.Errorf("audit record %s: %d %v", id, status, one)
		} else {
			validate(t, "TransferV1", one)
		}
	}
	if status, out, _ := n.do("GET", "/v1/audit/transfers?limit=0", auditor, nil); status != http.StatusBadRequest {
		t.Errorf("limit=0: %d %v", status, out)
	} else {
		validate(t, "Problem", out)
	}
	if status, out, _ := n.do("GET", "/healthz", "", nil); status != http.StatusOK {
		t.Errorf("healthz: %d", status)
	} else {
		validate(t, "Health", out)
	}
	if status, out, _ := n.do("GET", "/readyz", "", nil); status != http.StatusOK {
		t.Errorf("readyz: %d", status)
	} else {
		validate(t, "Readiness", out)
	}
	if status, out, _ := n.do("POST", "/dev/token", "", map[string]string{"role": "requester", "org": barcelona}); status != http.StatusOK {
		t.Errorf("dev token: %d %v", status, out)
	} else {
		validate(t, "DevToken", out)
	}
}

// startHandler builds a dev-mode node with broker.New and serves its
// handler, which the tests walk as well as call.
func startHandler(t *testing.T) (http.Handler, *node) {
	t.Helper()
	ctx := context.Background()
	b, err := broker.New(ctx, withDevParts(t, broker.Config{
		DataDir:    t.TempDir(),
		ModulesDir: modulesDir,
		CacheDir:   cacheDir,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close) // runs before Close: cleanups run last-in first-out
	return b.Handler(), &node{t: t, base: srv.URL}
}

// fetchOpenAPI gets and decodes GET /openapi.json.
func fetchOpenAPI(t *testing.T, n *node) ([]byte, openAPIDoc) {
	t.Helper()
	resp, err := http.Get(n.base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	return raw, doc
}

// checkRefs reports every $ref of the description under v that does not
// resolve in root; example values are data and are not searched.
func checkRefs(t *testing.T, root, v any, at string) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			if _, ok := resolvePointer(root, ref); !ok {
				t.Errorf("%s: $ref %q does not resolve", at, ref)
			}
		}
		for k, child := range v {
			switch k {
			case "example":
				// A literal value, not part of the description.
			case "examples":
				// A schema's examples are literal values; a media type's or
				// a parameter's are Example Objects whose value is literal.
				if exs, ok := child.(map[string]any); ok {
					for name, e := range exs {
						if e, ok := e.(map[string]any); ok {
							e = maps.Clone(e)
							delete(e, "value")
							checkRefs(t, root, e, at+"/examples/"+name)
						}
					}
				}
			default:
				checkRefs(t, root, child, at+"/"+k)
			}
		}
	case []any:
		for _, child := range v {
			checkRefs(t, root, child, at+"/[]")
		}
	}
}

// resolvePointer follows a local JSON pointer reference ("#/a/b") in root.
func resolvePointer(root any, ref string) (any, bool) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false // only local references are used
	}
	cur := root
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// schemaValidator compiles the document's component schemas (OpenAPI 3.1
// schemas are JSON Schema 2020-12) and returns a check of a decoded answer
// against one of them.
func schemaValidator(t *testing.T, doc openAPIDoc) func(t *testing.T, schema string, v any) {
	t.Helper()
	schemas, err := json.Marshal(doc.Components.Schemas)
	if err != nil {
		t.Fatal(err)
	}
	schemas = bytes.ReplaceAll(schemas, []byte(`"#/components/schemas/`), []byte(`"#/$defs/`))
	res, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(`{"$defs":` + string(schemas) + `}`)))
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://pont.test/openapi-schemas.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(url, res); err != nil {
		t.Fatal(err)
	}
	compiled := map[string]*jsonschema.Schema{}
	return func(t *testing.T, name string, v any) {
		t.Helper()
		sch, ok := compiled[name]
		if !ok {
			if sch, err = c.Compile(url + "#/$defs/" + name); err != nil {
				t.Fatalf("schema %s: %v", name, err)
			}
			compiled[name] = sch
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("the answer breaks the %s schema of /openapi.json: %v\n%s", name, err, raw)
		}
	}
}

// pageRoutes answers the routes the web pages mount (with the development
// sign-in), "GET /carpeta/" and the like.
func pageRoutes(t *testing.T) map[string]bool {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	p, err := web.New(web.Config{API: http.NotFoundHandler(), Catalog: cat, SessionKey: bytes.Repeat([]byte("k"), 32), DevUsers: []web.DevUser{}})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	p.Routes(r)
	out := map[string]bool{}
	if err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out[method+" "+route] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !out["GET /carpeta/"] || !out["POST /signin/dev"] {
		t.Fatalf("the pages' routes were not found: %v", out)
	}
	return out
}
