// Package plugins holds Pont's five reference adapters, each a data owner's
// example, with the simulated source systems they talk to, and adapters
// written in other languages than Go (AssemblyScript, C) from ABI.md alone.
// This root package builds the adapters into Wasm modules with their
// manifests embedded and serves every simulated source from one handler; it
// changes when an adapter or a simulated source is added or renamed.
package plugins

import (
	"embed"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/pontexchange/pont/exchange/manifest"
	discapacitat "github.com/pontexchange/pont/plugins/discapacitat/source"
	familianombrosa "github.com/pontexchange/pont/plugins/familia-nombrosa/source"
	padro "github.com/pontexchange/pont/plugins/padro/source"
	prestacions "github.com/pontexchange/pont/plugins/prestacions/source"
	titulacions "github.com/pontexchange/pont/plugins/titulacions/source"
)

// DevSourceDomain is the domain under which every simulated source answers,
// as <adapter-name>.sources.pont.test; the catalog's source_url values and
// the manifests' allowed_hosts use it.
const DevSourceDomain = "sources.pont.test"

// Plugin is one reference adapter's code and the deployments (manifests) it
// is built into.
type Plugin struct {
	// Dir is the plugin's directory under plugins/, e.g. "padro".
	Dir string
	// Manifests are the plugin's deployments, one per adapter name.
	Manifests []manifest.Manifest
	// Source returns the simulated source system for one scope.
	Source func(scope string) http.Handler
}

//go:embed */manifests/*.json
var manifestFiles embed.FS

//go:embed */adapter-as/manifest.json */adapter-c/manifest-*.json
var foreignManifests embed.FS

// The languages of the adapters in other languages, by the suffix of their
// directory.
const (
	LanguageAssemblyScript = "assemblyscript" // <plugin>/adapter-as
	LanguageC              = "c"              // <plugin>/adapter-c
)

// Foreign is a reference adapter written in another language than Go, to
// prove that ABI.md is enough to write one. It mirrors a Go adapter (its
// twin), answers the same service and scope under another adapter name, and
// can take its twin's scope over with pont dev --adapter. Like a Go plugin,
// one program may be built into several deployments, one Foreign each.
type Foreign struct {
	// Dir is the adapter's directory under plugins/: for AssemblyScript,
	// e.g. "prestacions/adapter-as", an npm package whose
	// package-lock.json pins the compiler and whose manifest is
	// manifest.json; for C, e.g. "padro/adapter-c", C11 sources and one
	// manifest-<scope>.json per deployment.
	Dir string
	// Language is the source language: LanguageAssemblyScript or
	// LanguageC.
	Language string
	// Twin is the Go plugin it mirrors (a Plugin's Dir).
	Twin string
	// Manifest is the deployment's manifest.
	Manifest manifest.Manifest
}

// Foreigns returns the reference adapters written in other languages,
// sorted by name, with their manifests read and validated.
func Foreigns() ([]Foreign, error) {
	files, err := fs.Glob(foreignManifests, "*/adapter-*/manifest*.json")
	if err != nil {
		return nil, fmt.Errorf("plugins: list manifests: %w", err)
	}
	var out []Foreign
	for _, file := range files {
		dir := path.Dir(file)
		var lang string
		switch path.Base(dir) {
		case "adapter-as":
			lang = LanguageAssemblyScript
		case "adapter-c":
			lang = LanguageC
		default:
			return nil, fmt.Errorf("plugins: %s: no language builds %s", file, dir)
		}
		b, err := fs.ReadFile(foreignManifests, file)
		if err != nil {
			return nil, fmt.Errorf("plugins: read %s: %w", file, err)
		}
		m, err := manifest.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("plugins: %s: %w", file, err)
		}
		twin := strings.SplitN(file, "/", 2)[0]
		if _, ok := sources[twin]; !ok {
			return nil, fmt.Errorf("plugins: %s: no plugin %s to mirror", file, twin)
		}
		out = append(out, Foreign{Dir: dir, Language: lang, Twin: twin, Manifest: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Manifest.Name < out[j].Manifest.Name })
	return out, nil
}

var sources = map[string]func(scope string) http.Handler{
	"padro":            padro.New,
	"titulacions":      titulacions.New,
	"discapacitat":     discapacitat.New,
	"familia-nombrosa": familianombrosa.New,
	"prestacions":      prestacions.New,
}

// Plugins returns the reference plugins, sorted by directory, with their
// manifests read and validated.
func Plugins() ([]Plugin, error) {
	files, err := fs.Glob(manifestFiles, "*/manifests/*.json")
	if err != nil {
		return nil, fmt.Errorf("plugins: list manifests: %w", err)
	}
	byDir := map[string]*Plugin{}
	for _, file := range files {
		dir := strings.SplitN(file, "/", 2)[0]
		src, ok := sources[dir]
		if !ok {
			return nil, fmt.Errorf("plugins: %s: no simulated source is registered for plugin %s", file, dir)
		}
		b, err := fs.ReadFile(manifestFiles, file)
		if err != nil {
			return nil, fmt.Errorf("plugins: read %s: %w", file, err)
		}
		m, err := manifest.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("plugins: %s: %w", file, err)
		}
		if want := strings.TrimSuffix(path.Base(file), ".json"); m.Name != want {
			return nil, fmt.Errorf("plugins: %s: manifest name %q does not match the file name", file, m.Name)
		}
		p := byDir[dir]
		if p == nil {
			p = &Plugin{Dir: dir, Source: src}
			byDir[dir] = p
		}
		p.Manifests = append(p.Manifests, m)
	}
	out := make([]Plugin, 0, len(byDir))
	for _, p := range byDir {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

// DevSources returns one handler serving every simulated source: a request
// for host <adapter-name>.sources.pont.test (any port) goes to that
// adapter's source, built for the adapter's scope. Any other host is 404.
func DevSources() http.Handler {
	plugins, err := Plugins()
	if err != nil {
		// The manifests are embedded and checked by this package's tests,
		// so this is a build defect, not a runtime condition.
		panic(err)
	}
	hosts := map[string]http.Handler{}
	scoped := map[string]Plugin{} // by the adapters' name prefix: "padro-"
	for _, p := range plugins {
		for _, m := range p.Manifests {
			hosts[m.Name+"."+DevSourceDomain] = p.Source(m.Scope)
			if prefix, ok := strings.CutSuffix(m.Name, "-"+m.Scope); ok && m.Scope != "*" {
				scoped[prefix+"-"] = p
			}
		}
	}
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(host)
		mu.Lock()
		h, ok := hosts[host]
		if !ok {
			// A source for a scope no reference adapter has (the padró of
			// a municipality an owner publishes an adapter for): the
			// plugin's source, built for that scope.
			name, _ := strings.CutSuffix(host, "."+DevSourceDomain)
			for prefix, p := range scoped {
				if scope, cut := strings.CutPrefix(name, prefix); cut && scope != "" && !strings.Contains(scope, ".") && len(hosts) < 1000 {
					h, ok = p.Source(scope), true
					hosts[host] = h
					break
				}
			}
		}
		mu.Unlock()
		if !ok {
			http.Error(w, "no simulated source answers at host "+host, http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}
