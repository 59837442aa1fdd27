package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/conformance"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/plugins/internal/simsource"
	padro "github.com/pontexchange/pont/plugins/padro/source"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// The padró adapter in C (plugins/padro/adapter-c) is held to its Go twin:
// the recorded cases of the twin's source, and byte for byte the same
// answers on every fixture subject of the simulated source and on source
// answers made to be hard to read (charsets, escapes, odd records, broken
// JSON), all in the real wasmhost.

// cDir is the C adapter's program.
const cDir = "padro/adapter-c"

// cDeployments returns the C adapter's deployments by scope.
func cDeployments(t *testing.T) map[string]Foreign {
	t.Helper()
	foreigns, err := Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Foreign{}
	for _, f := range foreigns {
		if f.Dir == cDir {
			out[f.Manifest.Scope] = f
		}
	}
	if len(out) != 2 {
		t.Fatalf("the C adapter has deployments %v, want 08019 and 17079", out)
	}
	return out
}

// TestCAdapterBuild compiles the C adapter as Build does: without a
// warning, to the same bytes every time, and with the command line that
// sdk-wasm/GUIDE.md and padro.c give a data owner.
func TestCAdapterBuild(t *testing.T) {
	needToolchain(t, LanguageC)
	ctx := context.Background()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "plugins", cDir)
	var modules [][]byte
	for range 2 {
		tmp := t.TempDir()
		wasm, warnings, err := compileC(ctx, dir, tmp, "padro-c")
		if err != nil {
			t.Fatal(err)
		}
		if warnings != "" {
			t.Errorf("clang warned:\n%s", warnings)
		}
		modules = append(modules, wasm)
	}
	if !bytes.Equal(modules[0], modules[1]) {
		t.Error("two builds of the same sources differ")
	}
	checkABI(t, ctx, "padro-c.wasm", modules[0])

	// The documented command, joined across its continuation lines, is
	// clang with exactly cFlags, an output and the sources.
	want := "clang " + strings.Join(cFlags, " ") + " -o padro-c.wasm *.c"
	for _, doc := range []string{filepath.Join(root, "sdk-wasm", "GUIDE.md"), filepath.Join(dir, "padro.c")} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := regexp.MustCompile(`\s*\\\n[\s*]*`).ReplaceAllString(string(b), " ")
		if !strings.Contains(text, want) {
			t.Errorf("%s does not give the build's command line %q", doc, want)
		}
	}
}

// TestCAdapterConformance runs the recorded cases of the Go twin's sources
// (plugins/padro/cases/padro-<scope>) against the C adapter, as pont
// adapter test does: they name data and requests, never the adapter, so
// they hold for any adapter of the scope.
func TestCAdapterConformance(t *testing.T) {
	needToolchain(t, LanguageC)
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	modules := modulesOf(t, cDir)
	cache := t.TempDir()
	for scope, f := range cDeployments(t) {
		t.Run(f.Manifest.Name, func(t *testing.T) {
			ctx := context.Background()
			suite, err := conformance.LoadDir(filepath.Join("padro", "cases", "padro-"+scope))
			if err != nil {
				t.Fatal(err)
			}
			if len(suite.Cases) < 8 {
				t.Fatalf("%d cases in %s", len(suite.Cases), suite.Dir)
			}
			r, err := conformance.New(ctx, modules[f.Manifest.Name], conformance.Config{Catalog: cat, Values: suite.Config, CacheDir: cache})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(ctx)
			for _, c := range suite.Cases {
				res := r.Run(ctx, c)
				if !res.Pass {
					t.Errorf("case %s: %s (got %s)", c.Name, strings.Join(res.Problems, "; "), res.Got)
				}
			}
		})
	}
}

// twins is the C adapter and its Go twin for one scope, loaded in one real
// wasmhost, both asking the same source.
type twins struct {
	c, goTwin *wasmhost.Adapter
	names     [2]string // the C and the Go adapter's names
	source    *recordingSource
}

// recordingSource serves a handler and records the requests made of it.
type recordingSource struct {
	mu       sync.Mutex
	handler  http.Handler
	requests []string
	srv      *httptest.Server
}

func (s *recordingSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.RequestURI)
	h := s.handler
	s.mu.Unlock()
	h.ServeHTTP(w, r)
}

// take returns the requests made since the last take.
func (s *recordingSource) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.requests
	s.requests = nil
	return out
}

func (s *recordingSource) serve(h http.Handler) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// loadTwins loads the C adapter's deployment for scope and the Go twin's,
// each allowed to reach the source alone, into one host.
func loadTwins(t *testing.T, scope string) *twins {
	t.Helper()
	ctx := context.Background()
	f := cDeployments(t)[scope]
	src := &recordingSource{handler: http.NotFoundHandler()}
	src.srv = httptest.NewServer(src)
	t.Cleanup(src.srv.Close)
	h, err := wasmhost.New(ctx, wasmhost.Config{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		CacheDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	load := func(wasm []byte) (*wasmhost.Adapter, string) {
		m, err := manifest.Read(wasm)
		if err != nil {
			t.Fatal(err)
		}
		m.AllowedHosts = []string{src.srv.URL}
		if wasm, err = manifest.Embed(wasm, m); err != nil {
			t.Fatal(err)
		}
		a, err := h.Load(ctx, wasm, map[string]string{"source_url": src.srv.URL + "/"})
		if err != nil {
			t.Fatalf("load %s: %v", m.Name, err)
		}
		t.Cleanup(func() { a.Close(ctx) })
		return a, m.Name
	}
	tw := &twins{source: src}
	tw.c, tw.names[0] = load(modulesOf(t, cDir)[f.Manifest.Name])
	tw.goTwin, tw.names[1] = load(twinModule(t, f))
	return tw
}

// query is one call's subject and params.
type query struct {
	id     string
	params string // JSON; "" is {}
	// deadline, when set, is the call's; the adapters' own is 2 s.
	deadline time.Duration
}

// compare calls both adapters with q and fails t unless they answer the
// same bytes, or the same error with the same message (but for the
// adapter's name in the host's words), after the same requests.
func (tw *twins) compare(t *testing.T, q query) (outcome string) {
	t.Helper()
	var got [2]string
	var asked [2][]string
	for i, a := range []*wasmhost.Adapter{tw.c, tw.goTwin} {
		ctx := context.Background()
		if q.deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, q.deadline)
			defer cancel()
		}
		params := json.RawMessage(q.params)
		if q.params == "" {
			params = json.RawMessage("{}")
		}
		idType := "DNI"
		if strings.ContainsAny(q.id[:1], "XYZ") {
			idType = "NIE"
		}
		data, err := a.Call(ctx, abi.Input{
			TransferID: "0199a000-0000-7000-8000-00000000c001", Service: "padro", Purpose: "social-benefits",
			Requester: "P0801900B", Procedure: "AJUT-MENJADOR",
			Subject: abi.Subject{IDType: idType, ID: q.id},
			Params:  params,
		})
		if err != nil {
			fe, ok := fault.As(err)
			if !ok {
				t.Fatalf("%s: not a fault: %v", tw.names[i], err)
			}
			msg := strings.ReplaceAll(fe.Message, tw.names[i], "ADAPTER")
			// The one message that names the Go SDK.
			msg = strings.Replace(msg, "is not one the SDK decodes", "is not one the adapter decodes", 1)
			got[i] = "error " + string(fe.Code) + ": " + msg
		} else {
			got[i] = "data " + string(data)
		}
		asked[i] = tw.source.take()
	}
	if got[0] != got[1] {
		t.Errorf("for %s %s the adapters differ:\n    C: %s\n   Go: %s", q.id, q.params, got[0], got[1])
	}
	if !slices.Equal(asked[0], asked[1]) {
		t.Errorf("for %s %s the adapters asked differently:\n    C: %q\n   Go: %q", q.id, q.params, asked[0], asked[1])
	}
	return got[0]
}

// fixtureSubjects are the subjects of plugins/README.md's fixture tables,
// the fault-injection ones included: the README is where a new fixture is
// declared, so a fixture added there is compared here too.
func fixtureSubjects(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, fixtures, ok := strings.Cut(string(b), "\n## Fixtures\n")
	if !ok {
		t.Fatal("README.md has no Fixtures section")
	}
	var out []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([0-9XYZ][0-9]{7}[A-Z])`").FindAllStringSubmatch(fixtures, -1) {
		out = append(out, m[1])
	}
	for _, must := range []string{"12345678Z", padro.Latin1Subject, "67890123B", "00000000T", simsource.SlowSubject, simsource.BrokenSubject, simsource.DownSubject} {
		if !slices.Contains(out, must) {
			t.Fatalf("README.md's fixtures %v lack %s", out, must)
		}
	}
	return out
}

// TestCAdapterMatchesGoOnFixtures asks both adapters of each scope for
// every fixture subject of the simulated padró.
func TestCAdapterMatchesGoOnFixtures(t *testing.T) {
	needToolchain(t, LanguageC)
	subjects := fixtureSubjects(t)
	for _, scope := range []string{"08019", "17079"} {
		t.Run(scope, func(t *testing.T) {
			tw := loadTwins(t, scope)
			tw.source.serve(padro.New(scope))
			found := 0
			for _, id := range subjects {
				for _, params := range []string{`{"municipality":"` + scope + `"}`, ""} {
					q := query{id: id, params: params}
					if id == simsource.SlowSubject {
						q.deadline = 300 * time.Millisecond
					}
					out := tw.compare(t, q)
					if strings.HasPrefix(out, "data ") {
						found++
					}
					if id == padro.Latin1Subject && scope == "08019" && !strings.Contains(out, `"street_name":"`+padro.Latin1Street+`"`) {
						t.Errorf("the Latin-1 record's street name did not arrive intact: %s", out)
					}
				}
			}
			if found < 6 {
				t.Errorf("only %d answers with data at %s", found, scope)
			}
		})
	}
}

// latin1 encodes s, whose characters are all in ISO-8859-1, as it.
func latin1(s string) []byte {
	var b []byte
	for _, r := range s {
		if r > 0xFF {
			panic("not ISO-8859-1: " + string(r))
		}
		b = append(b, byte(r))
	}
	return b
}

// record is a source's record with the given street name and dates, in
// the source's shape, as JSON text.
func record(street, alta, variacio string) string {
	return `{"document":{"tipus":"DNI","numero":"12345678Z"},` +
		`"provincia":{"codi":"08","nom":"Barcelona"},"municipi":{"codi_ine":"08019","nom":"Barcelona"},` +
		`"entitat_singular":{"codi":"000101","nom":"Barcelona"},"nucli":{"codi":"01","nom":"Barcelona"},` +
		`"domicili":{"codi_via":"048503","tipus_via":"C","nom_via":"` + street + `","numero":"401","bloc":"","portal":"","escala":"","pis":"3","porta":"2","codi_postal":"08013"},` +
		`"data_alta":"` + alta + `","darrera_variacio":{"codi":"CD","descripcio":"Canvi de domicili","data":"` + variacio + `"}}`
}

// TestCAdapterMatchesGoOnHardAnswers serves answers that are hard to read
// well, and holds the C adapter to the Go twin's answer, or error message,
// on each.
func TestCAdapterMatchesGoOnHardAnswers(t *testing.T) {
	needToolchain(t, LanguageC)
	plain := record("de Mallorca", "12/03/2015", "04/09/2019")
	long := strings.Repeat("Carrer llarg ", 60000) // 780 kB, under the answer's 1 MiB
	// Nested deeper than this, the Go twin's recursive reader passes the
	// host's limit on call depth (ABI.md 7) and traps; the C adapter's
	// does not recurse (TestCAdapterSkipsDeepNesting).
	deep := `{"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `,"municipi":{"codi_ine":"08019","nom":"Barcelona"}}`
	cases := []struct {
		name        string
		contentType string
		status      int
		body        []byte
		want        string // what the C adapter's answer must hold
	}{
		// Charsets.
		{"Latin-1", "application/json; charset=ISO-8859-1", 200, latin1(record("de Sant Pere Més Alt, Plaça «Nova» · Ñ", "19/10/2017", "19/10/2017")), `"street_name":"de Sant Pere Més Alt, Plaça «Nova» · Ñ"`},
		{"Latin-1 alias quoted", `application/json; charset="Latin1"`, 200, latin1(record("Via Augusta ½", "01/01/2001", "01/01/2001")), `"Via Augusta ½"`},
		{"windows-1252", "application/json;charset=windows-1252", 200, []byte(record("Pla\xe7a d\x92en \x93Rius\x94 \x96 \x80 \x81", "01/01/2001", "01/01/2001")), "Plaça d’en “Rius” – € \u0081"},
		{"ISO-8859-15", "application/json; charset=iso-8859-15", 200, []byte(record("C\xbdur \xa4", "01/01/2001", "01/01/2001")), `"Cœur €"`},
		{"Latin-1, ASCII only", "application/json; charset=iso-8859-1", 200, []byte(plain), `"de Mallorca"`},
		{"UTF-8 declared as Latin-1", "application/json; charset=iso-8859-1", 200, []byte(record("Més", "01/01/2001", "01/01/2001")), `"MÃ©s"`},
		{"UTF-8 declared", "application/json; charset=utf-8", 200, []byte(record("Més 😀", "01/01/2001", "01/01/2001")), `"Més 😀"`},
		{"not UTF-8, no charset", "application/json", 200, latin1(record("Més", "01/01/2001", "01/01/2001")), "and the source declared no charset"},
		{"not UTF-8, declared UTF-8", "application/json; charset=UTF-8", 200, latin1(record("Més", "01/01/2001", "01/01/2001")), `declared charset "utf-8"`},
		{"not ASCII, declared ASCII", "application/json; charset=us-ascii", 200, latin1(record("Més", "01/01/2001", "01/01/2001")), `declared charset "us-ascii"`},
		{"unknown charset", "application/json; charset=koi8-r", 200, []byte(plain), `the source's charset "koi8-r" is not one`},
		// Strings.
		{"escapes", "application/json", 200, []byte(record(`\u00c0\u00e0 \ud83d\ude00 \ud800 \udc00x \u0001\b\f\n\r\t \/ \" \\ \u2028\u2029 <&> \u0000`, "01/01/2001", "01/01/2001")), `\u0001\u0008\u000c\n\r\t / \" \\ \u2028\u2029 <&> \u0000`},
		{"raw characters", "application/json", 200, []byte(record("\u2028\u2029\x7f é ǅ 𝄞", "01/01/2001", "01/01/2001")), "\\u2028\\u2029\x7f é ǅ 𝄞"},
		{"long", "application/json", 200, []byte(record(long, "01/01/2001", "01/01/2001")), long[:100]},
		{"deep nesting skipped", "application/json", 200, []byte(deep), `"municipality":{"code":"08019"`},
		// Dates: real ones turned to ISO 8601, anything else passed through.
		{"leap day", "application/json", 200, []byte(record("x", "29/02/2024", "29/02/2000")), `"registration_date":"2024-02-29"`},
		{"no leap day", "application/json", 200, []byte(record("x", "29/02/2023", "29/02/1900")), `"registration_date":"29/02/2023"`},
		{"no such day", "application/json", 200, []byte(record("x", "31/04/2020", "00/01/2020")), `"registration_date":"31/04/2020"`},
		{"no such month", "application/json", 200, []byte(record("x", "12/13/2020", "01/00/2020")), `"12/13/2020"`},
		{"short forms", "application/json", 200, []byte(record("x", "1/02/2020", "01/2/2020")), `"1/02/2020"`},
		{"other forms", "application/json", 200, []byte(record("x", "2020-01-02", "")), `"2020-01-02"`},
		{"edge years", "application/json", 200, []byte(record("x", "31/12/9999", "01/01/0000")), `"9999-12-31"`},
		// Records of other shapes.
		{"collective entity", "application/json", 200, []byte(strings.Replace(plain, `"entitat_singular"`, `"entitat_collectiva":{"codi":"0001","nom":"Col·lectiva"},"entitat_singular"`, 1)), `"collective":{"code":"0001"`},
		{"collective entity without code", "application/json", 200, []byte(strings.Replace(plain, `"entitat_singular"`, `"entitat_collectiva":{"codi":"","nom":"X"},"entitat_singular"`, 1)), `"entity":{"singular"`},
		{"collective entity null", "application/json", 200, []byte(strings.Replace(plain, `"entitat_singular"`, `"entitat_collectiva":null,"entitat_singular"`, 1)), `"entity":{"singular"`},
		{"collective entity, then null", "application/json", 200, []byte(strings.Replace(plain, `"entitat_singular"`, `"entitat_collectiva":{"codi":"1","nom":"X"},"entitat_collectiva":null,"entitat_singular"`, 1)), `"entity":{"singular"`},
		{"no singular entity", "application/json", 200, []byte(strings.Replace(plain, `"codi":"000101"`, `"codi":""`, 1)), `"municipality":{"code":"08019","name":"Barcelona"},"address"`},
		{"no last variation", "application/json", 200, []byte(strings.Replace(plain, `"darrera_variacio":{`, `"darrera_variacio":null,"x":{`, 1)), `"registration_date":"2015-03-12"}`},
		{"variation without description", "application/json", 200, []byte(strings.Replace(plain, `"descripcio":"Canvi de domicili"`, `"descripcio":null`, 1)), `"last_variation":{"code":"CD","date"`},
		{"repeated keys", "application/json", 200, []byte(strings.Replace(plain, `"data_alta"`, `"municipi":{"nom":"BCN"},"provincia":{"nom":"B"},"domicili":{"pis":"9"},"darrera_variacio":{"codi":"X"},"data_alta"`, 1)), `"province":{"code":"","name":"B"},"municipality":{"code":"08019","name":"BCN"}`},
		{"nulls", "application/json", 200, []byte(`{"provincia":null,"municipi":null,"domicili":null,"data_alta":null,"nucli":{"codi":null}}`), `"address":{"street_type":"","street_name":"","postcode":""}`},
		{"empty object", "application/json", 200, []byte(` {} `), `"registration_date":""`},
		{"null", "application/json", 200, []byte(`null`), `"province":{"code":"","name":""}`},
		{"unknown members of every type", "application/json", 200, []byte(strings.Replace(plain, `"data_alta"`, `"a":[1,-2.5e+3,0.1E-2,true,false,null,{"b":[{}],"c":"\u00e9"},[]],"data_alta"`, 1)), `"registration_date":"2015-03-12"`},
		// Answers the adapter cannot read.
		{"HTML", "text/html; charset=utf-8", 200, []byte("<html><body>Servei no disponible</body></html>"), "answered something unreadable: at byte 0: want an object"},
		{"empty", "application/json", 200, nil, "at byte 0: want an object"},
		{"a list", "application/json", 200, []byte("[" + plain + "]"), "want an object"},
		{"cut short", "application/json", 200, []byte(plain[:len(plain)/2]), "unreadable: at byte"},
		{"trailing data", "application/json", 200, []byte(plain + " x"), "data after the JSON value"},
		{"a number for a string", "application/json", 200, []byte(strings.Replace(plain, `"pis":"3"`, `"pis":3`, 1)), "want a string"},
		{"a string for an object", "application/json", 200, []byte(strings.Replace(plain, `"nucli":{"codi":"01","nom":"Barcelona"}`, `"nucli":"01"`, 1)), "want an object"},
		{"bad escape", "application/json", 200, []byte(record(`a\xb`, "01/01/2001", "01/01/2001")), `bad escape \x`},
		{"bad unicode escape", "application/json", 200, []byte(record(`a\u12G4`, "01/01/2001", "01/01/2001")), `bad \u escape`},
		{"control character", "application/json", 200, []byte(record("a\tb", "01/01/2001", "01/01/2001")), "control character in a string"},
		{"unterminated", "application/json", 200, []byte(`{"provincia":{"codi":"08`), "unterminated string"},
		{"bad literal", "application/json", 200, []byte(`{"provincia":nul}`), "want null"},
		{"bad number", "application/json", 200, []byte(`{"x":-}`), "bad number"},
		{"bad number exponent", "application/json", 200, []byte(`{"x":1e+}`), "bad number"},
		{"missing colon", "application/json", 200, []byte(`{"x" 1}`), "want ':' after a key"},
		{"missing comma", "application/json", 200, []byte(`{"x":[1 2]}`), "want ',' or ']' in an array"},
		{"a key not a string", "application/json", 200, []byte(`{x:1}`), "want a string"},
		{"not a value", "application/json", 200, []byte(`{"x":]}`), "want a JSON value"},
		// Statuses.
		{"not found", "application/json", 404, []byte(`{"error":{}}`), "not registered in this municipality"},
		{"unavailable", "application/json", 503, nil, "answered HTTP 503"},
		{"server error", "text/plain", 500, []byte("boom"), "answered HTTP 500"},
		{"refused", "application/json", 418, nil, "refused the query with HTTP 418"},
		{"no content", "application/json", 204, nil, "refused the query with HTTP 204"},
	}
	tw := loadTwins(t, "08019")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tw.source.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", c.contentType)
				w.WriteHeader(c.status)
				w.Write(c.body)
			}))
			out := tw.compare(t, query{id: "12345678Z", params: `{"municipality":"08019"}`})
			if !strings.Contains(out, c.want) {
				t.Errorf("the answer lacks %q: %.300s", c.want, out)
			}
		})
	}
}

// TestCAdapterMatchesGoOnQueries holds the C adapter's requests to the Go
// twin's for subjects and params that need escaping in a URL.
func TestCAdapterMatchesGoOnQueries(t *testing.T) {
	needToolchain(t, LanguageC)
	tw := loadTwins(t, "08019")
	tw.source.serve(padro.New("08019"))
	for _, q := range []query{
		{id: "12345678Z", params: `{"municipality":"08019","mode":"verify","expected":{"municipality":{"code":"08019"}}}`},
		{id: "12345678Z", params: `{"municipality":null}`},
		{id: "12345678Z", params: `{"municipality":""}`},
		{id: "12345678Z", params: `{"municipality":8019}`},
		{id: "12345678Z", params: `{"municipality":{"a":[1, 2]}}`},
		{id: "12345678Z", params: `{"municipality":"08019","municipality":"17079"}`},
		{id: "12345678Z", params: `{"municipality":"08 019&x=1/é+~._-"}`},
		{id: "12345678Z", params: `{"municipality":"\u0000\u001f\"<>"}`},
		{id: "X1234567L/../..", params: `{}`},
		{id: "A b?c#d;e,f$g&h+i:j=k@l~m_n.o-p%q", params: `{}`},
		{id: "Ñ\u2028<>&\"\\\u00e9😀", params: `{}`},
	} {
		tw.compare(t, q)
	}
}

// TestCAdapterSkipsDeepNesting serves a record with a member nested a
// hundred thousand levels deep, which the C adapter skips without
// recursing: the Wasm stack and the host's call depth stay untouched.
func TestCAdapterSkipsDeepNesting(t *testing.T) {
	needToolchain(t, LanguageC)
	tw := loadTwins(t, "08019")
	deep := `{"x":` + strings.Repeat(`[{"y":`, 100000) + `0` + strings.Repeat(`}]`, 100000) + `,"municipi":{"codi_ine":"08019","nom":"Barcelona"}}`
	tw.source.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, deep) }))
	data, err := tw.c.Call(context.Background(), abi.Input{
		TransferID: "0199a000-0000-7000-8000-00000000c002", Service: "padro",
		Subject: abi.Subject{IDType: "DNI", ID: "12345678Z"}, Params: json.RawMessage(`{}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"municipality":{"code":"08019","name":"Barcelona"}`) {
		t.Errorf("data %s", data)
	}
}
