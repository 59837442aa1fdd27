package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/conformance"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/plugins"
)

// referenceCases maps each reference adapter to its cases directory:
// plugins/<plugin>/cases/<adapter>, and for an adapter in another language
// its Go twin's, whose answers it must match.
func referenceCases(t *testing.T) map[string]string {
	t.Helper()
	ps, err := plugins.Plugins()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	byScope := map[string]string{} // "<plugin>/<scope>" -> the twin's cases
	for _, p := range ps {
		for _, m := range p.Manifests {
			dir := filepath.Join("..", "..", "plugins", p.Dir, "cases", m.Name)
			out[m.Name] = dir
			byScope[p.Dir+"/"+m.Scope] = dir
		}
	}
	foreigns, err := plugins.Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range foreigns {
		dir, ok := byScope[f.Twin+"/"+f.Manifest.Scope]
		if !ok {
			t.Fatalf("%s: its twin %s has no deployment for scope %s", f.Manifest.Name, f.Twin, f.Manifest.Scope)
		}
		out[f.Manifest.Name] = dir
	}
	return out
}

func foreigns(t *testing.T) []plugins.Foreign {
	t.Helper()
	fs, err := plugins.Foreigns()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestAdapterTestReferenceAdapters runs every reference module, as make
// build writes them to bin/adapters (here the package's own build), with
// its recorded cases: all must pass, and each adapter's cases must cover
// the five kinds of docs/adapter-cases.md.
func TestAdapterTestReferenceAdapters(t *testing.T) {
	modules, err := filepath.Glob(filepath.Join(modulesDir, "*.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	cases := referenceCases(t)
	// The adapters in other languages are built where their toolchains are.
	built := len(cases)
	for _, f := range foreigns(t) {
		if plugins.ToolchainMissing(context.Background(), f.Language) != "" {
			built--
		}
	}
	if len(modules) < built {
		t.Fatalf("%d modules in %s for %d adapters", len(modules), modulesDir, built)
	}
	used := map[string]bool{}
	for _, path := range modules {
		name := strings.TrimSuffix(filepath.Base(path), ".wasm")
		t.Run(name, func(t *testing.T) {
			dir, ok := cases[name]
			if !ok {
				t.Fatalf("no cases for %s: record them under plugins/<plugin>/cases/%s", name, name)
			}
			used[dir] = true
			checkCoverage(t, dir)
			var stdout, stderr bytes.Buffer
			err := runAdapterTest(context.Background(), []string{path, "--cases", dir, "--cache", cacheDir}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
			}
			out := stdout.String()
			for _, want := range []string{"adapter   " + name + " 1.0.0", "limits    timeout 2s", "\nok: "} {
				if !strings.Contains(out, want) {
					t.Errorf("the report lacks %q:\n%s", want, out)
				}
			}
		})
	}
	for name, dir := range cases {
		if !used[dir] && name != "prestacions-as" {
			t.Errorf("%s: no module ran its cases", dir)
		}
	}
}

// checkCoverage fails t unless the cases of dir cover found, not found,
// an outage, a source slower than the deadline and a broken answer.
func checkCoverage(t *testing.T, dir string) {
	t.Helper()
	s, err := conformance.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, c := range s.Cases {
		e := c.Expect
		if e.Data != nil {
			covered["found"] = true
		}
		if e.Error == fault.SubjectNotFound {
			covered["not found"] = true
		}
		for _, a := range c.Source {
			switch {
			case a.Outage && e.Error == fault.SourceUnavailable:
				covered["outage"] = true
			case a.DelayMS > 0 && e.Error == fault.AdapterTimeout:
				covered["slow"] = true
			case a.Status == 200 && e.Error == fault.SourceUnavailable:
				covered["broken answer"] = true
			}
		}
	}
	for _, kind := range []string{"found", "not found", "outage", "slow", "broken answer"} {
		if !covered[kind] {
			t.Errorf("%s: no case of kind %q", dir, kind)
		}
	}
}

// copyCases copies the cases of dir into a new directory.
func copyCases(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestAdapterTestFailures(t *testing.T) {
	padro := filepath.Join(modulesDir, "padro-08019.wasm")
	padroCases := filepath.Join("..", "..", "plugins", "padro", "cases", "padro-08019")

	// A case whose expectation is wrong: the postcode is 08013.
	wrongCase := copyCases(t, padroCases)
	found, err := os.ReadFile(filepath.Join(padroCases, "found.json"))
	if err != nil {
		t.Fatal(err)
	}
	wrong := bytes.Replace(found, []byte(`"postcode": "08013"`), []byte(`"postcode": "08014"`), 1)
	if bytes.Equal(wrong, found) {
		t.Fatal("found.json has no postcode 08013 to change")
	}
	if err := os.WriteFile(filepath.Join(wrongCase, "found-wrong.json"), wrong, 0o644); err != nil {
		t.Fatal(err)
	}

	// A module that answers wrongly: ABI.md's example, which knows nobody,
	// under padro-08019's manifest.
	example, err := os.ReadFile(filepath.Join("..", "..", "exchange", "wasmhost", "testdata", "abi_example.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{ABI: 1, Name: "padro-08019", Version: "0.0.1", Owner: "P0801900B",
		Services: []string{"padro"}, Scope: "08019",
		AllowedHosts: []string{"http://padro-08019.sources.pont.test"}, Config: []string{"source_url"}}
	wasm, err := manifest.Embed(example, m)
	if err != nil {
		t.Fatal(err)
	}
	knowsNobody := filepath.Join(t.TempDir(), "knows-nobody.wasm")
	if err := os.WriteFile(knowsNobody, wasm, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		err    string   // the returned error must contain it
		output []string // and the report each of these
	}{
		{
			name: "a wrong case",
			args: []string{padro, "--cases", wrongCase},
			err:  "1 of 10 cases failed: found-wrong",
			output: []string{"FAIL  found-wrong", filepath.Join(wrongCase, "found-wrong.json"), "the data differs from the case's:",
				`/address/postcode: got "08013", want "08014"`, "PASS  found (", "FAIL: 1 of 10 cases failed"},
		},
		{
			name: "a module that answers wrongly",
			args: []string{"--run", "^found|^not-found$", "--cases", padroCases, knowsNobody},
			err:  "3 of 3 cases failed: found, found-nie, not-found",
			output: []string{"adapter   padro-08019 0.0.1", "3 selected by --run",
				"want the case's data, got error subject_not_found: this example knows nobody",
				"source[0] (GET /padro/v1/habitants/12345678Z?municipi=08019) was never served: the adapter made 0 request(s)",
				// The right answer, without asking the source, is wrong too.
				"source[0] (GET /padro/v1/habitants/00000000T?municipi=08019) was never served"},
		},
		{
			name:   "a catalog without the service",
			args:   []string{padro, "--cases", padroCases, "--run", "^found$", "--catalog", filepath.Join("..", "..", "exchange", "conformance", "testdata", "catalog")},
			err:    "1 of 1 case failed: found",
			output: []string{`query.service: the catalog has no service "padro"`},
		},
		{
			name:   "a deadline shorter than the source",
			args:   []string{padro, "--cases", padroCases, "--run", "^found$", "--timeout", "1ns"},
			err:    "1 of 1 case failed: found",
			output: []string{"FAIL  found", "deadline 1ns", "want the case's data, got error adapter_timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runAdapterTest(context.Background(), append(tt.args, "--cache", cacheDir), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want %q\n%s%s", err, tt.err, stdout.String(), stderr.String())
			}
			for _, want := range tt.output {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("the report lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestAdapterTestReport(t *testing.T) {
	padroCases := filepath.Join("..", "..", "plugins", "padro", "cases", "padro-08019")
	prestacionsCases := filepath.Join("..", "..", "plugins", "prestacions", "cases", "prestacions")
	tests := []struct {
		name   string
		args   []string
		output []string
	}{
		{
			name: "verbose",
			args: []string{filepath.Join(modulesDir, "padro-08019.wasm"), "-v", "--cases", padroCases, "--run", "^(found|source-down)$"},
			output: []string{
				"config    source_url = http://padro-08019.sources.pont.test\n",
				"the host's defaults: the manifest asks for none",
				"> GET http://padro-08019.sources.pont.test/padro/v1/habitants/12345678Z?municipi=08019 -> source[0]: 200, 515 bytes",
				"> GET http://padro-08019.sources.pont.test/padro/v1/habitants/12345678Z?municipi=08019 -> source[0]: connection reset",
				`msg="adapter http_call failed"`,
				"got error source_unavailable: adapter padro-08019: the padró system could not be reached",
				"ok: 2 cases passed",
			},
		},
		{
			name:   "the catalog's files",
			args:   []string{filepath.Join(modulesDir, "padro-08019.wasm"), "--cases", padroCases, "--run", "not-found", "--catalog", filepath.Join("..", "..", "catalog")},
			output: []string{"catalog   ../../catalog", "ok: 1 case passed"},
		},
		{
			name:   "a manifest that asks for limits",
			args:   []string{filepath.Join(modulesDir, "prestacions-as.wasm"), "--cases", prestacionsCases, "--run", "not-found"},
			output: []string{"limits    timeout 2s, memory 64 pages (4 MiB)", "the manifest asks memory_pages 64; the rest are the host's defaults"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.args[0]); errors.Is(err, os.ErrNotExist) && strings.HasSuffix(tt.args[0], "-as.wasm") {
				t.Skip("the AssemblyScript adapter was not built (no Node.js)")
			}
			var stdout, stderr bytes.Buffer
			if err := runAdapterTest(context.Background(), append(tt.args, "--cache", cacheDir), &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s%s", err, stdout.String(), stderr.String())
			}
			for _, want := range tt.output {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("the report lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestAdapterTestUsage(t *testing.T) {
	padro := filepath.Join(modulesDir, "padro-08019.wasm")
	cases := filepath.Join("..", "..", "plugins", "padro", "cases", "padro-08019")
	tests := []struct {
		name string
		args []string
		err  error  // errUsage, or nil for another error
		msg  string // in the error or on stderr
	}{
		{"no module", []string{"--cases", cases}, errUsage, "want one module, got 0 arguments"},
		{"two modules", []string{padro, padro, "--cases", cases}, errUsage, "want one module, got 2 arguments"},
		{"no cases", []string{padro}, errUsage, "--cases DIR is required"},
		{"a bad --run", []string{padro, "--cases", cases, "--run", "("}, errUsage, "--run: error parsing regexp"},
		{"a negative --timeout", []string{padro, "--cases", cases, "--timeout", "-1s"}, errUsage, "--timeout -1s is negative"},
		{"an unknown flag", []string{padro, "--cases", cases, "--verbose"}, errUsage, "flag provided but not defined: -verbose"},
		{"no case selected", []string{padro, "--cases", cases, "--run", "nothing-like-this"}, nil, `matches --run "nothing-like-this"`},
		{"a missing module", []string{"missing.wasm", "--cases", cases}, nil, "missing.wasm"},
		{"a missing cases directory", []string{padro, "--cases", "no-such-dir"}, nil, "no-such-dir"},
		{"not a module", []string{filepath.Join(cases, "found.json"), "--cases", cases}, nil, "found.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runAdapterTest(context.Background(), tt.args, &stdout, &stderr)
			switch {
			case err == nil:
				t.Fatalf("no error\n%s", stdout.String())
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Fatalf("error = %v, want %v", err, tt.err)
			case tt.err == nil && errors.Is(err, errUsage):
				t.Fatalf("a usage error; want one that names the problem (stderr %s)", stderr.String())
			}
			if !strings.Contains(err.Error()+stderr.String(), tt.msg) {
				t.Fatalf("error %v, stderr %q: want %q", err, stderr.String(), tt.msg)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if err := runAdapterTest(context.Background(), []string{"-h"}, &stdout, &stderr); !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "usage: pont adapter test MODULE.wasm --cases DIR") {
		t.Errorf("-h = %v, %q", err, stderr.String())
	}
}

// The cases directories hold only cases and config.json, so that the
// report lists them all.
func TestReferenceCasesDirectories(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "..", "plugins", "*", "cases", "*"))
	if err != nil {
		t.Fatal(err)
	}
	twins := map[string]bool{} // they run their Go twin's cases
	for _, f := range foreigns(t) {
		twins[f.Manifest.Name] = true
	}
	var names []string
	for name, dir := range referenceCases(t) {
		if !twins[name] {
			names = append(names, dir)
		}
	}
	slices.Sort(dirs)
	slices.Sort(names)
	if !slices.Equal(dirs, names) {
		t.Fatalf("cases directories %q, want one per reference adapter %q", dirs, names)
	}
}

// The report shows a configured URL, warns when the manifest does not
// allow it, and keeps any other value, which may be a credential, off the
// terminal.
func TestAdapterTestShowsConfiguration(t *testing.T) {
	padroCases := filepath.Join("..", "..", "plugins", "padro", "cases", "padro-08019")
	tests := []struct {
		name, value string
		want, hide  string
	}{
		{"allowed URL", "http://padro-08019.sources.pont.test", "config    source_url = http://padro-08019.sources.pont.test\n", ""},
		{"URL not allowed", "https://elsewhere.pont.test/padro", "source_url = https://elsewhere.pont.test/padro  (warning: not in allowed_hosts; http_call will refuse it)", ""},
		{"not a URL", "s3cr3t-t0ken", "config    source_url set (12 bytes)\n", "s3cr3t-t0ken"},
		{"empty", "", "config    source_url not set\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyCases(t, padroCases)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"source_url": "`+tt.value+`"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			// The cases fail but for the first, which is not the point.
			_ = runAdapterTest(context.Background(), []string{filepath.Join(modulesDir, "padro-08019.wasm"), "--cases", dir, "--run", "^not-found$", "--cache", cacheDir}, &stdout, &stderr)
			if !strings.Contains(stdout.String(), tt.want) {
				t.Errorf("the report lacks %q:\n%s%s", tt.want, stdout.String(), stderr.String())
			}
			if tt.hide != "" && strings.Contains(stdout.String(), tt.hide) {
				t.Errorf("the report shows the value %q:\n%s", tt.hide, stdout.String())
			}
		})
	}
}
