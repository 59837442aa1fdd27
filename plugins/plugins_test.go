package plugins

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/internal/testenv"
	"github.com/pontexchange/pont/plugins/internal/simsource"
)

var adapterNames = []string{
	"discapacitat-09", "discapacitat-10", "familia-nombrosa-09", "familia-nombrosa-10",
	"padro-08019", "padro-17079", "prestacions", "titulacions",
}

func manifests(t *testing.T) map[string]manifest.Manifest {
	t.Helper()
	plugins, err := Plugins()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]manifest.Manifest{}
	for _, p := range plugins {
		for _, m := range p.Manifests {
			out[m.Name] = m
		}
	}
	return out
}

// TestForeignManifests holds each adapter in another language to its Go
// twin: the same service, scope, owner, config and allowed hosts, under its
// own name, so that it can take the twin's scope over (pont dev --adapter).
func TestForeignManifests(t *testing.T) {
	foreigns, err := Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range foreigns {
		got = append(got, f.Manifest.Name+" "+f.Language+" "+f.Dir)
	}
	want := []string{
		"padro-c-08019 c padro/adapter-c",
		"padro-c-17079 c padro/adapter-c",
		"prestacions-as assemblyscript prestacions/adapter-as",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Foreigns = %q, want %q", got, want)
	}
	ms := manifests(t)
	for _, f := range foreigns {
		// The twin's deployment of the same scope: padro-08019 for
		// padro-c-08019, prestacions for prestacions-as.
		var twin manifest.Manifest
		for _, m := range pluginNamed(t, f.Twin).Manifests {
			if m.Scope == f.Manifest.Scope {
				twin = ms[m.Name]
			}
		}
		if twin.Name == "" {
			t.Fatalf("%s: its twin %s has no deployment for scope %s", f.Manifest.Name, f.Twin, f.Manifest.Scope)
		}
		m := f.Manifest
		if m.Name == twin.Name || m.Scope != twin.Scope || m.Owner != twin.Owner ||
			!slices.Equal(m.Services, twin.Services) || !slices.Equal(m.AllowedHosts, twin.AllowedHosts) || !slices.Equal(m.Config, twin.Config) {
			t.Errorf("%s: manifest %+v does not mirror its twin's %+v", m.Name, m, twin)
		}
	}
}

// TestManifestsMatchCatalog holds the manifests and the catalog's sources to
// each other: a mismatch would only show at pont dev's start.
func TestManifestsMatchCatalog(t *testing.T) {
	ms := manifests(t)
	var names []string
	for n := range ms {
		names = append(names, n)
	}
	slices.Sort(names)
	if !reflect.DeepEqual(names, adapterNames) {
		t.Fatalf("manifests = %v, want %v", names, adapterNames)
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Every configured source has its reference adapter, at its scope,
	// reaching its simulated source; and every reference adapter is its
	// owner's to publish.
	served := map[[2]string]bool{}
	for _, n := range names {
		m := ms[n]
		t.Run(n, func(t *testing.T) {
			owner, ok := cat.Owners[m.Owner]
			if !ok {
				t.Fatalf("owner %s is not in the catalog's owners", m.Owner)
			}
			url := "http://" + n + "." + DevSourceDomain
			if !slices.Contains(m.AllowedHosts, url) || !m.Declares("source_url") {
				t.Errorf("allowed_hosts %v, config %v; want %s and source_url", m.AllowedHosts, m.Config, url)
			}
			for _, svcName := range m.Services {
				svc, ok := cat.Service(svcName)
				if !ok {
					t.Fatalf("service %s is not in the catalog", svcName)
				}
				if !owner.MayServe(svcName, m.Scope) {
					t.Errorf("owner %s may not serve %s at %q", m.Owner, svcName, m.Scope)
				}
				if got := svc.SourceConfig(m.Scope)["source_url"]; got != url {
					t.Errorf("the catalog's source_url of %s at %q is %q, want %s", svcName, m.Scope, got, url)
				}
				served[[2]string{svcName, m.Scope}] = true
			}
		})
	}
	for _, svcName := range cat.ServiceNames() {
		svc, _ := cat.Service(svcName)
		for _, src := range svc.Sources {
			if !served[[2]string{svcName, src.Scope}] {
				t.Errorf("the catalog configures %s at %q, which no reference adapter serves", svcName, src.Scope)
			}
		}
	}
}

func get(t *testing.T, h http.Handler, host, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// paths are where each plugin's source answers for a subject.
var paths = map[string]func(id string) string{
	"padro":            func(id string) string { return "/padro/v1/habitants/" + id },
	"titulacions":      func(id string) string { return "/rnt/v2/titulos?documento=" + id },
	"discapacitat":     func(id string) string { return "/discapacidad/v1/reconocimientos/" + id },
	"familia-nombrosa": func(id string) string { return "/familia-nombrosa/v1/titols?document=" + id },
	"prestacions":      func(id string) string { return "/rpsp/v1/prestaciones?ipf=" + id },
}

func pluginOf(adapter string) string {
	for p := range paths {
		if adapter == p || strings.HasPrefix(adapter, p+"-") {
			return p
		}
	}
	return ""
}

// TestFixtures holds the simulated sources to the contract of
// plugins/README.md, which other packages' tests rely on.
func TestFixtures(t *testing.T) {
	h := DevSources()
	// Which adapters know 12345678Z: the contract says padró of Barcelona,
	// disability and large family of region 09, degrees and benefits.
	knowsKnown := map[string]bool{
		"padro-08019": true, "titulacions": true, "discapacitat-09": true,
		"familia-nombrosa-09": true, "prestacions": true,
	}
	for _, name := range adapterNames {
		host := name + "." + DevSourceDomain
		path := paths[pluginOf(name)]
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct {
				id   string
				want int
			}{
				{"12345678Z", map[bool]int{true: 200, false: 404}[knowsKnown[name]]},
				{"00000000T", 404},
				{simsource.BrokenSubject, 200},
				{simsource.DownSubject, 503},
			} {
				if got := get(t, h, host+":8080", path(tt.id)).Code; got != tt.want {
					t.Errorf("%s: status %d, want %d", tt.id, got, tt.want)
				}
			}
		})
	}
	t.Run("unknown host", func(t *testing.T) {
		if got := get(t, h, "cadastre."+DevSourceDomain, "/").Code; got != 404 {
			t.Errorf("status %d, want 404", got)
		}
	})
}

func TestDisabilityFixtureDegree(t *testing.T) {
	rec := get(t, DevSources(), "discapacitat-09."+DevSourceDomain, paths["discapacitat"]("12345678Z"))
	if !strings.Contains(rec.Body.String(), `"gradoDiscapacidad":45`) {
		t.Fatalf("12345678Z in region 09: %s; the contract says a degree of at least 33", rec.Body)
	}
}

// TestSlowSubjectHonoursContext checks that a source stops waiting when its
// client goes, so that a timed-out adapter call frees the source.
func TestSlowSubjectHonoursContext(t *testing.T) {
	srv := httptest.NewServer(DevSources())
	defer srv.Close()
	for _, name := range adapterNames {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+paths[pluginOf(name)](simsource.SlowSubject), nil)
			req.Host = name + "." + DevSourceDomain
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("the slow subject answered %d at once", resp.StatusCode)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("the client waited %v", d)
			}
		})
	}
	// srv.Close, deferred, waits for every handler: it returns at once only
	// because each one saw its request's context end.
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sources kept stalled requests running after their clients left")
	}
}

func TestFixtureIDsAreValid(t *testing.T) {
	const letters = "TRWAGMYFPDXBNJZSQVHLCKE"
	ids := []string{"12345678Z", "00000000T", "23456789D", "34567890V", "45678901G", "56789012B", "67890123B", "X1234567L",
		simsource.SlowSubject, simsource.BrokenSubject, simsource.DownSubject}
	for _, id := range ids {
		digits := strings.NewReplacer("X", "0", "Y", "1", "Z", "2").Replace(id[:1]) + id[1:8]
		n := 0
		for _, c := range digits {
			n = n*10 + int(c-'0')
		}
		if want := letters[n%23]; id[8] != want {
			t.Errorf("%s: check letter %c, want %c", id, id[8], want)
		}
	}
}

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds five Wasm modules")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	paths, err := Build(ctx, out)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, strings.TrimSuffix(filepath.Base(p), ".wasm"))
	}
	want := manifests(t)
	foreigns, err := Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	wantNames := slices.Clone(adapterNames)
	for _, f := range foreigns {
		// Build skips a language whose toolchain is missing; CI has
		// them all.
		if missing := ToolchainMissing(ctx, f.Language); missing != "" {
			if testenv.InCI() {
				t.Fatalf("%s: %s", f.Manifest.Name, missing)
			}
			t.Logf("%s is not built here: %s", f.Manifest.Name, missing)
			continue
		}
		want[f.Manifest.Name] = f.Manifest
		wantNames = append(wantNames, f.Manifest.Name)
	}
	slices.Sort(got)
	slices.Sort(wantNames)
	if !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("Build wrote %v, want %v", got, wantNames)
	}
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !reflect.DeepEqual(m, want[m.Name]) || filepath.Base(p) != m.Name+".wasm" {
			t.Errorf("%s holds manifest %+v, want %+v", p, m, want[m.Name])
		}
		checkABI(t, ctx, p, wasm)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wantNames) {
		t.Errorf("the output directory holds %d entries, want only the %d modules", len(entries), len(wantNames))
	}
}

// checkABI compiles a module (interpreter: no machine code needed) and checks
// its shape against the ABI: a reactor exporting pont_alloc and pont_handle,
// importing from pont and WASI preview 1 only.
func checkABI(t *testing.T, ctx context.Context, path string, wasm []byte) {
	t.Helper()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	mod, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("%s: compile: %v", path, err)
	}
	exports := mod.ExportedFunctions()
	for _, name := range []string{"_initialize", "pont_alloc", "pont_handle"} {
		if _, ok := exports[name]; !ok {
			t.Errorf("%s: no export %s", path, name)
		}
	}
	if _, ok := exports["_start"]; ok {
		t.Errorf("%s: exports _start: built as a command, not a reactor", path)
	}
	for _, f := range mod.ImportedFunctions() {
		if module, name, _ := f.Import(); module != "pont" && module != "wasi_snapshot_preview1" {
			t.Errorf("%s: imports %s.%s", path, module, name)
		}
	}
}
