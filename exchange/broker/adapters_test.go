package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"github.com/pontexchange/pont/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/internal/wasmbin"
	"github.com/pontexchange/pont/exchange/manifest"
)

// TestExtraModuleTakesScopeOver starts a dev node with the AssemblyScript
// adapter prestacions-as as an extra module (pont dev --adapter): it takes
// the prestacions scope over from the Go adapter, answers through the whole
// pipeline, and answers exactly what the Go adapter answers.
func TestExtraModuleTakesScopeOver(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install nodejs npm", "node", "npm")
	extra := filepath.Join(modulesDir, "prestacions-as.wasm")
	if _, err := os.Stat(extra); err != nil {
		t.Fatalf("the AssemblyScript adapter was not built: %v", err)
	}
	withAS := startDevWith(t, broker.Config{UnsignedModules: []string{extra}})
	plain := startDev(t)

	for _, subject := range []string{"12345678Z", "34567890V"} {
		t.Run(subject, func(t *testing.T) {
			status, out, _ := withAS.do("POST", "/v1/services/prestacions/queries", withAS.requester(barcelona), envelope(subject, map[string]any{}))
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200: %v", status, out)
			}
			src, _ := out["source"].(map[string]any)
			if src["adapter"] != "prestacions-as" || src["version"] != "1.0.0" {
				t.Errorf("source = %v, want the AssemblyScript adapter prestacions-as", src)
			}
			status, twin, _ := plain.do("POST", "/v1/services/prestacions/queries", plain.requester(barcelona), envelope(subject, map[string]any{}))
			if status != http.StatusOK {
				t.Fatalf("Go adapter: status %d: %v", status, twin)
			}
			if src, _ := twin["source"].(map[string]any); src["adapter"] != "prestacions" {
				t.Errorf("the node without extra modules answered from %v", src)
			}
			if !reflect.DeepEqual(out["data"], twin["data"]) {
				t.Errorf("data differ:\nAssemblyScript %v\nGo             %v", out["data"], twin["data"])
			}
		})
	}

	tok := withAS.requester(barcelona)
	// The register's broken record passes through the AssemblyScript
	// adapter and fails the answer schema in the broker, as with its twin.
	status, out, _ := withAS.do("POST", "/v1/services/prestacions/queries", tok, envelope("11111111H", map[string]any{}))
	if status != http.StatusBadGateway || out["code"] != "adapter_failed" {
		t.Errorf("broken record: %d %v, want 502 adapter_failed", status, out)
	}
	status, out, _ = withAS.do("POST", "/v1/services/prestacions/queries", tok, envelope("00000000T", map[string]any{}))
	if status != http.StatusNotFound || out["code"] != "subject_not_found" {
		t.Errorf("unknown subject: %d %v, want 404 subject_not_found", status, out)
	}
	// The other services still answer from their catalog adapters.
	status, out, _ = withAS.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))
	if src, _ := out["source"].(map[string]any); status != http.StatusOK || src["adapter"] != "padro-08019" {
		t.Errorf("padro: %d %v", status, out)
	}
}

// hostile is a hand-assembled module: no language runtime, only the ABI's
// exports doing something an adapter must not.
type hostile struct {
	name     string
	service  string
	scope    string
	params   map[string]any
	basis    map[string]any
	handle   []byte // pont_handle's body (instructions, without end)
	data     []byte // written at dataOffset
	pages    uint32
	wantCode string
}

const dataOffset = 1024

// TestHostileModulesThroughTheBroker loads one hostile module per case as
// an extra module, each taking a different service's scope over in one dev
// node, and checks that each query gets its clear error while a good
// adapter keeps answering, and the node keeps running.
func TestHostileModulesThroughTheBroker(t *testing.T) {
	schemaBreaking := []byte(`{"data":{"benefits":"none, and not a list"}}`)
	cases := []hostile{
		{name: "hostile-schema", service: "prestacions", scope: "*", params: map[string]any{},
			handle: i64Const(uint64(dataOffset)<<32 | uint64(len(schemaBreaking))), data: schemaBreaking, pages: 1, wantCode: "adapter_failed"},
		{name: "hostile-trap", service: "titulacions", scope: "*", params: map[string]any{},
			handle: []byte{0x00}, pages: 1, wantCode: "adapter_failed"},
		{name: "hostile-loop", service: "padro", scope: "17079", params: map[string]any{"municipality": "17079"},
			// loop br 0 end unreachable
			handle: []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00}, pages: 1, wantCode: "adapter_timeout"},
		{name: "hostile-memory", service: "familia-nombrosa", scope: "10", params: map[string]any{"region": "10"},
			// loop: if memory.grow(1) == -1 then unreachable; br 0
			handle: []byte{0x03, 0x40, 0x41, 0x01, 0x40, 0x00, 0x41, 0x7f, 0x46, 0x04, 0x40, 0x00, 0x0b, 0x0c, 0x00, 0x0b, 0x00},
			pages:  1, wantCode: "adapter_failed"},
		{name: "hostile-recursion", service: "familia-nombrosa", scope: "09", params: map[string]any{"region": "09"},
			// Loop-free and doubly recursive on its input's length:
			// pont_handle(p, n) = n == 0 ? 0 : (pont_handle(p, n-1), pont_handle(p, n-1), 0),
			// 2^n calls that only a check at function entry can stop.
			handle: []byte{
				0x20, 0x01, 0x45, 0x04, 0x7e, // local.get 1, i32.eqz, if (result i64)
				0x42, 0x00, // i64.const 0
				0x05,                                                       // else
				0x20, 0x00, 0x20, 0x01, 0x41, 0x01, 0x6b, 0x10, 0x01, 0x1a, // pont_handle(p, n-1); drop
				0x20, 0x00, 0x20, 0x01, 0x41, 0x01, 0x6b, 0x10, 0x01, 0x1a, // pont_handle(p, n-1); drop
				0x42, 0x00, // i64.const 0
				0x0b, // end
			},
			pages: 1, wantCode: "adapter_timeout"},
		{name: "hostile-oversized", service: "discapacitat", scope: "10", params: map[string]any{"region": "10"},
			basis:  map[string]any{"type": "law", "reference": "Reial Decret Legislatiu 1/2013"},
			handle: i64Const(0<<32 | 40*65536), pages: 40, wantCode: "adapter_failed"},
	}
	dir := t.TempDir()
	var extras []string
	for _, c := range cases {
		wasm, err := manifest.Embed(c.module(), manifest.Manifest{
			ABI: 1, Name: c.name, Version: "0.0.1", Owner: "S0000000X", Services: []string{c.service}, Scope: c.scope,
		})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, c.name+".wasm")
		if err := os.WriteFile(p, wasm, 0o644); err != nil {
			t.Fatal(err)
		}
		extras = append(extras, p)
	}
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			hostileModulesThroughTheBroker(t, startDevWith(t, broker.Config{Store: open(t), UnsignedModules: extras}), cases)
		})
	}
}

// hostileModulesThroughTheBroker sends the queries of cases to n, a node
// that has their modules as extra modules, and good queries beside them.
func hostileModulesThroughTheBroker(t *testing.T, n *node, cases []hostile) {
	tok := n.requester(barcelona)
	good := func(t *testing.T) {
		t.Helper()
		status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))
		if status != http.StatusOK {
			t.Fatalf("the next query to a good adapter: %d %v", status, out)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 2 {
				env := envelope("12345678Z", c.params)
				if c.basis != nil {
					env["legal_basis"] = c.basis
				}
				start := time.Now()
				status, out, _ := n.do("POST", "/v1/services/"+c.service+"/queries", tok, env)
				elapsed := time.Since(start)
				if out["code"] != c.wantCode || status < 500 {
					t.Fatalf("%d %v, want %s", status, out, c.wantCode)
				}
				// The default deadline is 2 s; the machine is shared.
				if elapsed > 3*time.Second {
					t.Errorf("the query took %s", elapsed)
				}
				t.Logf("%s: %d %s in %s", c.name, status, out["code"], elapsed.Round(time.Millisecond))
				good(t)
			}
		})
	}

	// Hostile queries alongside good ones, at most as many good ones at
	// once as the good adapter's pool holds (more would be adapter_busy,
	// the designed answer to overload): the good ones all answer.
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := cases[i%len(cases)]
			if c.wantCode == "adapter_timeout" {
				// Runaways were shown above; here, after the first ones, the
				// record's circuit breaker answers for them at once.
				c = cases[0]
			}
			env := envelope("12345678Z", c.params)
			if c.basis != nil {
				env["legal_basis"] = c.basis
			}
			for range 3 {
				if status, out, _ := n.do("POST", "/v1/services/"+c.service+"/queries", tok, env); out["code"] != c.wantCode {
					errs <- c.name + ": " + http.StatusText(status)
				}
			}
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"})); status != http.StatusOK {
					errs <- "good: " + http.StatusText(status) + " " + fmt.Sprint(out["code"])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestExtraModuleRefusals checks the extra modules that a node refuses at
// start, each with an error that says why, and the warning for the ones it
// accepts.
func TestExtraModuleRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	embed := func(wasm []byte, m manifest.Manifest) []byte {
		out, err := manifest.Embed(wasm, m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ok := hostile{handle: []byte{0x00}, pages: 1}
	m := func(name, service, scope string) manifest.Manifest {
		return manifest.Manifest{ABI: 1, Name: name, Version: "1", Owner: "S0000000X", Services: []string{service}, Scope: scope}
	}
	noHandle := ok.module()
	noHandle = bytes.Replace(noHandle, []byte("pont_handle"), []byte("pont_handlX"), 1)
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"not wasm", []string{write("script.wasm", []byte("#!/bin/sh\necho hi\n"))}, "not a WebAssembly module"},
		{"wrong exports", []string{write("noexport.wasm", embed(noHandle, m("x-prestacions", "prestacions", "*")))}, "does not export pont_handle"},
		{"no manifest", []string{write("bare.wasm", ok.module())}, "no pont.manifest"},
		{"a service the catalog lacks", []string{write("cadastre.wasm", embed(ok.module(), m("cadastre-1", "cadastre", "*")))}, `"cadastre" is not a service of the catalog`},
		{"a scope without routing key", []string{write("p09.wasm", embed(ok.module(), m("prestacions-09", "prestacions", "09")))}, `its only scope is "*"`},
		{"missing file", []string{filepath.Join(dir, "missing.wasm")}, "missing.wasm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newBroker(t, broker.Config{UnsignedModules: tt.paths}, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("broker.New = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("accepted with a warning", func(t *testing.T) {
		var logs bytes.Buffer
		p := write("e.wasm", embed(ok.module(), m("prestacions-dev", "prestacions", "*")))
		b, err := newBroker(t, broker.Config{UnsignedModules: []string{p}}, &logs)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())
		if got := strings.Join(b.Adapters(), ","); !strings.Contains(got, "prestacions-dev") || strings.Contains(got, "prestacions,") {
			t.Errorf("Adapters = %s: want prestacions-dev served instead of prestacions", got)
		}
		for _, want := range []string{"unsigned adapter module accepted (development mode only)", "adapter=prestacions scope=* served_by=prestacions-dev"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the log has no %q:\n%s", want, logs.String())
			}
		}
	})

	t.Run("a scope no source had", func(t *testing.T) {
		p := write("tarragona.wasm", embed(ok.module(), m("padro-43148", "padro", "43148")))
		b, err := newBroker(t, broker.Config{UnsignedModules: []string{p}}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())
		if got := strings.Join(b.Adapters(), ","); !strings.Contains(got, "padro-43148") || !strings.Contains(got, "padro-08019") {
			t.Errorf("Adapters = %s: want padro-43148 beside the reference adapters", got)
		}
	})

	t.Run("two for one scope: the later serves", func(t *testing.T) {
		a := write("a.wasm", embed(ok.module(), m("a", "prestacions", "*")))
		bb := write("b.wasm", embed(ok.module(), m("b", "prestacions", "*")))
		b, err := newBroker(t, broker.Config{UnsignedModules: []string{a, bb}}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())
		if got := b.Adapters(); !slices.Contains(got, "b") || slices.Contains(got, "a") || slices.Contains(got, "prestacions") {
			t.Errorf("Adapters = %v: want b alone serving prestacions", got)
		}
	})
}

// newBroker builds a node with withDevParts without serving it, logging to w.
func newBroker(t *testing.T, cfg broker.Config, w io.Writer) (*broker.Broker, error) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(w, nil))
	return broker.New(context.Background(), withDevParts(t, cfg))
}

// module assembles the hostile module: pont_alloc returns a fixed buffer at
// 4096, pont_handle runs h.handle, and h.data lies at dataOffset.
func (h hostile) module() []byte {
	uleb := func(b []byte, v int) []byte { return wasmbin.AppendU32(b, uint32(v)) }
	name, section := wasmbin.AppendName, wasmbin.AppendSection
	body := func(code []byte) []byte {
		b := append([]byte{0x00}, code...) // no locals
		b = append(b, 0x0b)
		return append(uleb(nil, len(b)), b...)
	}
	out := append([]byte(nil), wasmbin.Header...)
	out = section(out, 1, []byte{2, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7e})
	out = section(out, 3, []byte{2, 0, 1})
	out = section(out, 5, wasmbin.AppendU32([]byte{1, 0x00}, h.pages))
	exports := []byte{3}
	exports = append(name(exports, "pont_alloc"), 0x00, 0)
	exports = append(name(exports, "pont_handle"), 0x00, 1)
	exports = append(name(exports, "memory"), 0x02, 0)
	out = section(out, 7, exports)
	code := []byte{2}
	code = append(code, body([]byte{0x41, 0x80, 0x20})...) // i32.const 4096
	code = append(code, body(h.handle)...)
	out = section(out, 10, code)
	if len(h.data) > 0 {
		d := []byte{1, 0x00, 0x41, 0x80, 0x08, 0x0b} // active, memory 0, i32.const 1024
		d = append(uleb(d, len(h.data)), h.data...)
		out = section(out, 11, d)
	}
	return out
}

// i64Const is the instruction i64.const v (signed LEB128).
func i64Const(v uint64) []byte {
	return wasmbin.AppendS64([]byte{0x42}, int64(v))
}
