package plugins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/internal/testenv"
	"github.com/pontexchange/pont/plugins/internal/adaptertest"
	padro "github.com/pontexchange/pont/plugins/padro/source"
	"github.com/pontexchange/pont/plugins/prestacions/fixtures"
)

// foundFixtures are, by adapter name, subjects its source knows, the params
// of the query and the exact data the adapter in another language, and its
// Go twin, must answer.
var foundFixtures = map[string]struct {
	params map[string]any
	found  [][2]string // subject, data
}{
	"prestacions-as": {nil, [][2]string{{adaptertest.Known, fixtures.Known}, {fixtures.NIE, fixtures.NIEAnswer}}},
	"padro-c-08019": {map[string]any{"municipality": "08019"}, [][2]string{
		{adaptertest.Known, `{
			"province": {"code": "08", "name": "Barcelona"},
			"municipality": {"code": "08019", "name": "Barcelona"},
			"entity": {"singular": {"code": "000101", "name": "Barcelona"}, "nucleus": {"code": "01", "name": "Barcelona"}},
			"address": {"street_code": "048503", "street_type": "C", "street_name": "de Mallorca", "number": "401", "floor": "3", "door": "2", "postcode": "08013"},
			"registration_date": "2015-03-12",
			"last_variation": {"code": "CD", "description": "Canvi de domicili", "date": "2019-09-04"}
		}`},
		// Answered in ISO-8859-1 by the register.
		{padro.Latin1Subject, `{
			"province": {"code": "08", "name": "Barcelona"},
			"municipality": {"code": "08019", "name": "Barcelona"},
			"entity": {"singular": {"code": "000101", "name": "Barcelona"}, "nucleus": {"code": "01", "name": "Barcelona"}},
			"address": {"street_code": "068407", "street_type": "C", "street_name": "de Sant Pere Més Alt", "number": "31", "floor": "2", "door": "1", "postcode": "08003"},
			"registration_date": "2017-10-19",
			"last_variation": {"code": "CD", "description": "Canvi de domicili: reinscripció", "date": "2017-10-19"}
		}`},
	}},
	"padro-c-17079": {map[string]any{"municipality": "17079"}, [][2]string{
		{"34567890V", `{
			"province": {"code": "17", "name": "Girona"},
			"municipality": {"code": "17079", "name": "Girona"},
			"entity": {"singular": {"code": "000100", "name": "Girona"}, "nucleus": {"code": "01", "name": "Girona"}},
			"address": {"street_code": "003340", "street_type": "PL", "street_name": "de la Independència", "number": "3", "floor": "4", "door": "B", "postcode": "17001"},
			"registration_date": "1998-05-30"
		}`},
		{"67890123B", `{
			"province": {"code": "17", "name": "Girona"},
			"municipality": {"code": "17079", "name": "Girona"},
			"entity": {"singular": {"code": "000100", "name": "Girona"}, "nucleus": {"code": "01", "name": "Girona"}},
			"address": {"street_code": "004410", "street_type": "C", "street_name": "de l'Àngel «Nou» & \"Vell\" <Baix>\\1", "number": "9", "postcode": "17002"},
			"registration_date": "2022-02-02"
		}`},
	}},
}

// TestForeignTwins builds each adapter written in another language and its
// Go twin, and runs the same suite (adaptertest) on both modules in the
// real wasmhost: the non-Go adapter, written from ABI.md alone, must answer
// exactly as its twin.
func TestForeignTwins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm modules with Go, AssemblyScript and C")
	}
	foreigns, err := Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	if len(foreigns) == 0 {
		t.Fatal("no adapter in another language")
	}
	for _, f := range foreigns {
		t.Run(f.Manifest.Name, func(t *testing.T) {
			needToolchain(t, f.Language)
			fx, ok := foundFixtures[f.Manifest.Name]
			if !ok {
				t.Fatalf("no fixtures for %s", f.Manifest.Name)
			}
			foreign := modulesOf(t, f.Dir)[f.Manifest.Name]
			twin := twinModule(t, f)
			for name, module := range map[string][]byte{"foreign": foreign, "go twin": twin} {
				for _, c := range fx.found {
					t.Run(name+" "+c[0], func(t *testing.T) {
						adaptertest.Suite{
							Service:   f.Manifest.Services[0],
							Source:    sources[f.Twin](f.Manifest.Scope),
							Params:    fx.params,
							Found:     c[0],
							WantFound: c[1],
							Module:    module,
						}.Run(t)
					})
				}
			}
		})
	}
}

// needToolchain skips t, or fails it in CI (testenv), unless the toolchain
// of language is installed; the message says what to install.
func needToolchain(t *testing.T, language string) {
	t.Helper()
	if language == LanguageAssemblyScript {
		testenv.NeedTools(t, NodeInstall, "node", "npm")
	}
	if missing := ToolchainMissing(context.Background(), language); missing != "" {
		msg := missing + ", so this test did NOT run"
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// built caches the modules this package's tests build, by program (a
// Plugin's or a Foreign's Dir) and adapter name: each program is compiled
// once per test binary, the C one in about a second, a Go one in several.
var built struct {
	sync.Mutex
	modules map[string]map[string][]byte
}

// modulesOf builds the program of dir, checks each module's shape against
// the ABI (checkABI) and returns the modules by adapter name.
func modulesOf(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if m, ok := built.modules[dir]; ok {
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "pont-plugins-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	var paths []string
	if strings.Contains(dir, "/") {
		var program []Foreign
		foreigns, err := Foreigns()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range foreigns {
			if f.Dir == dir {
				program = append(program, f)
			}
		}
		if len(program) == 0 {
			t.Fatalf("no adapter in another language in %s", dir)
		}
		paths, err = buildForeign(ctx, root, tmp, tmp, program)
		if err != nil {
			t.Fatalf("build %s: %v", dir, err)
		}
	} else {
		if paths, err = buildPlugin(ctx, root, tmp, tmp, pluginNamed(t, dir)); err != nil {
			t.Fatalf("build %s: %v", dir, err)
		}
	}
	t.Logf("built %s in %s", dir, time.Since(start).Round(time.Millisecond))
	out := map[string][]byte{}
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		checkABI(t, ctx, p, wasm)
		out[strings.TrimSuffix(filepath.Base(p), ".wasm")] = wasm
	}
	if built.modules == nil {
		built.modules = map[string]map[string][]byte{}
	}
	built.modules[dir] = out
	return out
}

// twinModule returns the Go twin's module for f's scope.
func twinModule(t *testing.T, f Foreign) []byte {
	t.Helper()
	for _, m := range pluginNamed(t, f.Twin).Manifests {
		if m.Scope == f.Manifest.Scope {
			return modulesOf(t, f.Twin)[m.Name]
		}
	}
	t.Fatalf("%s: its twin %s has no deployment for scope %s", f.Manifest.Name, f.Twin, f.Manifest.Scope)
	return nil
}

func pluginNamed(t *testing.T, dir string) Plugin {
	t.Helper()
	plugins, err := Plugins()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		if p.Dir == dir {
			return p
		}
	}
	t.Fatalf("no plugin %s", dir)
	return Plugin{}
}
