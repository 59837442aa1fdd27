package plugins

import (
	"context"
	"github.com/pontexchange/pont/internal/testenv"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/pontexchange/pont/plugins/internal/adaptertest"
	"github.com/pontexchange/pont/plugins/prestacions/fixtures"
)

// TestForeignTwins builds each adapter written in another language and its
// Go twin, and runs the same suite (adaptertest) on both modules in the
// real wasmhost: the non-Go adapter, written from ABI.md alone, must answer
// exactly as its twin.
func TestForeignTwins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Wasm modules with Go and AssemblyScript")
	}
	testenv.NeedTools(t, "Debian: apt-get install nodejs npm", "node", "npm")
	foreigns, err := Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	if len(foreigns) == 0 {
		t.Fatal("no adapter in another language")
	}
	root, err := moduleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The twins' expected answers, by plugin.
	type fixture struct {
		found, want string
	}
	fixturesOf := map[string][]fixture{
		"prestacions": {{adaptertest.Known, fixtures.Known}, {fixtures.NIE, fixtures.NIEAnswer}},
	}
	for _, f := range foreigns {
		t.Run(f.Manifest.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			tmp := t.TempDir()
			start := time.Now()
			path, err := buildForeign(ctx, root, tmp, tmp, f)
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			t.Logf("built %s in %s", f.Manifest.Name, time.Since(start).Round(time.Millisecond))
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkABI(t, ctx, path, wasm)
			twinPaths, err := buildPlugin(ctx, root, tmp, tmp, pluginNamed(t, f.Twin))
			if err != nil {
				t.Fatalf("build the Go twin: %v", err)
			}
			twin, err := os.ReadFile(twinPaths[0])
			if err != nil {
				t.Fatal(err)
			}
			cases := fixturesOf[f.Twin]
			if len(cases) == 0 {
				t.Fatalf("no fixtures for twin %s", f.Twin)
			}
			for name, module := range map[string][]byte{"foreign": wasm, "go twin": twin} {
				for _, c := range cases {
					t.Run(name+" "+c.found, func(t *testing.T) {
						adaptertest.Suite{
							Service:   f.Manifest.Services[0],
							Source:    sourceOf(f.Twin),
							Found:     c.found,
							WantFound: c.want,
							Module:    module,
						}.Run(t)
					})
				}
			}
		})
	}
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

func sourceOf(plugin string) http.Handler { return sources[plugin]("*") }
