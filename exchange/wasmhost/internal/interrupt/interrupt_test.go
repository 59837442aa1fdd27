package interrupt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

// module assembles a module from its sections.
func module(sections ...wasmbin.Section) []byte {
	b := append([]byte(nil), wasmbin.Header...)
	for _, s := range sections {
		b = wasmbin.AppendSection(b, s.ID, s.Body)
	}
	return b
}

// code is a code section of one function per body, each given without its
// size and with no locals unless it declares them itself.
func code(bodies ...[]byte) wasmbin.Section {
	b := wasmbin.AppendU32(nil, uint32(len(bodies)))
	for _, body := range bodies {
		b = wasmbin.AppendU32(b, uint32(len(body)))
		b = append(b, body...)
	}
	return wasmbin.Section{ID: sectionCode, Body: b}
}

func exports(names ...string) wasmbin.Section {
	b := wasmbin.AppendU32(nil, uint32(len(names)))
	for i, n := range names {
		b = wasmbin.AppendName(b, n)
		b = append(b, wasmbin.KindFunc)
		b = wasmbin.AppendU32(b, uint32(i))
	}
	return wasmbin.Section{ID: sectionExport, Body: b}
}

var (
	// typeVoid is a type section with () -> () only.
	typeVoid = wasmbin.Section{ID: 1, Body: []byte{1, 0x60, 0, 0}}
	// spin is (loop (br 0)): it never returns.
	spin = []byte{0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}
	// spinModule exports spin.
	spinModule = module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, exports("spin"), code(spin))
	// countdown is (func (result i32) (local i32) i32.const 10
	// (loop (param i32) (result i32) i32.const 1 i32.sub local.tee 0
	// local.get 0 br_if 0)): a loop with a parameter, whose block type
	// is a type index; it returns 0 after ten iterations.
	countdownModule = module(
		wasmbin.Section{ID: 1, Body: []byte{2, 0x60, 0, 1, 0x7f, 0x60, 1, 0x7f, 1, 0x7f}},
		wasmbin.Section{ID: 3, Body: []byte{1, 0}},
		exports("countdown"),
		code([]byte{1, 1, 0x7f, 0x41, 10, 0x03, 1, 0x41, 1, 0x6b, 0x22, 0, 0x20, 0, 0x0d, 0, 0x0b, 0x0b}),
	)
	// startModule has a global counter and a start function that adds one
	// to it and then spins: instantiating it unrewritten never returns.
	startModule = module(
		typeVoid,
		wasmbin.Section{ID: 3, Body: []byte{1, 0}},
		wasmbin.Section{ID: sectionGlobal, Body: []byte{1, 0x7f, 1, 0x41, 0, 0x0b}},
		wasmbin.Section{ID: sectionExport, Body: append(wasmbin.AppendName([]byte{1}, "count"), wasmbin.KindGlobal, 0)},
		wasmbin.Section{ID: sectionStart, Body: []byte{0}},
		code([]byte{0, 0x23, 0, 0x41, 1, 0x6a, 0x24, 0, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b}),
	)
)

// recursive is the code of a function (i32) -> i32 that calls callee
// twice, n levels deep.
func recursive(callee byte) []byte {
	// n == 0 ? 1 : callee(n-1) + callee(n-1)
	return []byte{0,
		0x20, 0, 0x45, 0x04, 0x7f, 0x41, 1,
		0x05,
		0x20, 0, 0x41, 1, 0x6b, 0x10, callee,
		0x20, 0, 0x41, 1, 0x6b, 0x10, callee,
		0x6a, 0x0b, 0x0b}
}

var (
	// doubleModule exports double(n) = 2^n, computed as
	// double(n-1) + double(n-1): 2^n calls and no loop.
	doubleModule = module(typeI32, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, exports("double"), code(recursive(0)))
	// mutualModule exports f(n) = 2^n, computed as g(n-1) + g(n-1), where g
	// is f with the roles swapped.
	mutualModule = module(typeI32, wasmbin.Section{ID: 3, Body: []byte{2, 0, 0}}, exports("f", "g"), code(recursive(1), recursive(0)))
	// depthModule exports down(n) = n, computed as down(n-1) + 1, n calls
	// deep, and forever(), which calls itself.
	depthModule = module(
		wasmbin.Section{ID: 1, Body: []byte{2, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 0, 0}},
		wasmbin.Section{ID: 3, Body: []byte{2, 0, 1}},
		exports("down", "forever"),
		code(
			[]byte{0, 0x20, 0, 0x45, 0x04, 0x7f, 0x41, 0, 0x05, 0x20, 0, 0x41, 1, 0x6b, 0x10, 0, 0x41, 1, 0x6a, 0x0b, 0x0b},
			[]byte{0, 0x10, 1, 0x0b},
		),
	)
	// exitsModule exports functions that leave by each way out of a
	// function; all but pair are (i32) -> i32, pair is (i32) -> (i32, i32),
	// a type whose wrapping block needs a type () -> (i32, i32) that the
	// module does not have.
	exitsModule = module(
		wasmbin.Section{ID: 1, Body: []byte{2, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 1, 0x7f, 2, 0x7f, 0x7f}},
		wasmbin.Section{ID: 3, Body: []byte{6, 0, 0, 0, 0, 1, 0}},
		exports("return", "br", "br_if", "br_table", "pair", "end"),
		code(
			// block (if (local.get 0) (return (i32.const 7)))) i32.const 9
			[]byte{0, 0x02, 0x40, 0x20, 0, 0x04, 0x40, 0x41, 7, 0x0f, 0x0b, 0x0b, 0x41, 9, 0x0b},
			// (if (local.get 0) (br 1 (i32.const 7))) i32.const 9
			[]byte{0, 0x20, 0, 0x04, 0x40, 0x41, 7, 0x0c, 1, 0x0b, 0x41, 9, 0x0b},
			// (br_if 0 (i32.const 7) (local.get 0)) drop i32.const 9
			[]byte{0, 0x41, 7, 0x20, 0, 0x0d, 0, 0x1a, 0x41, 9, 0x0b},
			// (block (result i32) (br_table 1 0 (i32.const 7) (local.get 0))) drop i32.const 9
			[]byte{0, 0x02, 0x7f, 0x41, 7, 0x20, 0, 0x0e, 1, 1, 0, 0x0b, 0x1a, 0x41, 9, 0x0b},
			// (if (local.get 0) (return (local.get 0) (i32.const 1))) local.get 0 i32.const 2
			[]byte{0, 0x20, 0, 0x04, 0x40, 0x20, 0, 0x41, 1, 0x0f, 0x0b, 0x20, 0, 0x41, 2, 0x0b},
			// local.get 0
			[]byte{0, 0x20, 0, 0x0b},
		),
	)
)

func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	r := wazero.NewRuntime(context.Background())
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func instantiate(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	rewritten, err := Instrument(wasm)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	mod, err := newRuntime(t).InstantiateWithConfig(context.Background(), rewritten, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiating the rewritten module: %v", err)
	}
	return mod
}

func flagOf(t *testing.T, mod api.Module) api.MutableGlobal {
	t.Helper()
	g, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
	if !ok {
		t.Fatalf("the rewritten module does not export %s as a mutable global", Export)
	}
	if g.Type() != api.ValueTypeI32 || g.Get() != 0 {
		t.Fatalf("%s is %s %d; want i32 0", Export, api.ValueTypeName(g.Type()), g.Get())
	}
	return g
}

// stopsWithin calls fn with args, sets the flag after a moment, and checks
// that fn then traps promptly.
func stopsWithin(t *testing.T, mod api.Module, fn string, args ...uint64) {
	t.Helper()
	flag := flagOf(t, mod)
	done := make(chan error, 1)
	go func() {
		_, err := mod.ExportedFunction(fn).Call(context.Background(), args...)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("%s returned before the interrupt: %v", fn, err)
	case <-time.After(50 * time.Millisecond):
	}
	flag.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s after the interrupt = %v; want an unreachable trap", fn, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s still runs 5 s after the interrupt", fn)
	}
}

// runaways are code that runs for as long as it likes unless stopped: an
// endless loop, and exponential work without a single loop.
var runaways = []struct {
	name string
	mod  []byte
	fn   string
	args []uint64
}{
	{"endless loop", spinModule, "spin", nil},
	{"double recursion", doubleModule, "double", []uint64{40}},
	{"mutual double recursion", mutualModule, "f", []uint64{40}},
}

func TestInterruptStopsRunaways(t *testing.T) {
	for _, tt := range runaways {
		t.Run(tt.name, func(t *testing.T) {
			stopsWithin(t, instantiate(t, tt.mod), tt.fn, tt.args...)
		})
	}
}

// TestGarbageCollectorIsNotHeldUp collects garbage while a guest runs
// away: compiled guest code cannot be preempted, so without its periodic
// calls into the host the collection, and the process, would wait until
// the guest is done (forever, or 2^40 calls).
func TestGarbageCollectorIsNotHeldUp(t *testing.T) {
	for _, tt := range runaways {
		t.Run(tt.name, func(t *testing.T) {
			mod := instantiate(t, tt.mod)
			flag := flagOf(t, mod)
			done := make(chan error, 1)
			go func() {
				_, err := mod.ExportedFunction(tt.fn).Call(context.Background(), tt.args...)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			collected := make(chan struct{})
			go func() {
				for range 3 {
					runtime.GC()
				}
				close(collected)
			}()
			select {
			case <-collected:
			case <-time.After(10 * time.Second):
				t.Fatal("the garbage collector waited 10 s for a guest")
			}
			flag.Set(1)
			if err := <-done; err == nil {
				t.Fatalf("%s returned without a trap", tt.fn)
			}
		})
	}
}

// TestDepthLimit checks that a call nested past MaxDepth (and the Period
// of slack the bound allows) traps, and that one within it does not: the
// guest's stack is not left to grow to the runtime's own ceiling.
func TestDepthLimit(t *testing.T) {
	mod := instantiate(t, depthModule)
	tests := []struct {
		name string
		fn   string
		args []uint64
		want uint64 // the answer; 0 for a trap
	}{
		{"within the limit", "down", []uint64{MaxDepth - 10}, MaxDepth - 10},
		{"past the limit", "down", []uint64{MaxDepth + 2*Period}, 0},
		{"infinite recursion", "forever", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mod.ExportedFunction(tt.fn).Call(context.Background(), tt.args...)
			if tt.want == 0 {
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("%s%v = %v, %v; want an unreachable trap", tt.fn, tt.args, got, err)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0] != tt.want {
				t.Fatalf("%s%v = %v, %v; want [%d]", tt.fn, tt.args, got, err, tt.want)
			}
		})
	}
}

// TestDepthComesBackDown calls functions that leave by every exit (the
// end, return, a branch, a conditional branch and a branch table to the
// function's label, with one result or two) more often than MaxDepth
// allows nested calls, each exit on every other call: an exit that did not
// count the depth down would make the calls trap. Each must also still answer what it answered before
// the rewrite.
func TestDepthComesBackDown(t *testing.T) {
	tests := []struct {
		fn         string
		arg        uint64
		want       []uint64
		otherArg   uint64
		wantOthers []uint64
	}{
		{"return", 1, []uint64{7}, 0, []uint64{9}},
		{"br", 1, []uint64{7}, 0, []uint64{9}},
		{"br_if", 1, []uint64{7}, 0, []uint64{9}},
		{"br_table", 0, []uint64{7}, 1, []uint64{9}},
		{"pair", 1, []uint64{1, 1}, 0, []uint64{0, 2}},
		{"end", 5, []uint64{5}, 6, []uint64{6}},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			f := instantiate(t, exitsModule).ExportedFunction(tt.fn)
			for i := range 2 * (MaxDepth + 2*Period) {
				arg, want := tt.arg, tt.want
				if i%2 == 1 {
					arg, want = tt.otherArg, tt.wantOthers
				}
				got, err := f.Call(context.Background(), arg)
				if err != nil {
					t.Fatalf("call %d: %s(%d): %v", i, tt.fn, arg, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("call %d: %s(%d) = %v; want %v", i, tt.fn, arg, got, want)
				}
			}
		})
	}
}

func TestRewriteKeepsWhatCodeDoes(t *testing.T) {
	mod := instantiate(t, countdownModule)
	flagOf(t, mod)
	for range 3 {
		got, err := mod.ExportedFunction("countdown").Call(context.Background())
		if err != nil || len(got) != 1 || got[0] != 0 {
			t.Fatalf("countdown = %v, %v; want [0]", got, err)
		}
	}
}

func TestStartFunctionIsExported(t *testing.T) {
	mod := instantiate(t, startModule)
	count := mod.ExportedGlobal("count")
	if count.Get() != 0 {
		t.Fatalf("the start function ran at instantiation (count %d)", count.Get())
	}
	stopsWithin(t, mod, StartExport)
	if count.Get() != 1 {
		t.Fatalf("count = %d after %s; want 1", count.Get(), StartExport)
	}
}

// TestReferenceModules rewrites real modules and checks the runtime still
// compiles them, with their exports and the flag.
func TestReferenceModules(t *testing.T) {
	for _, path := range []string{"../../testdata/abi_example.wasm"} {
		t.Run(path, func(t *testing.T) {
			wasm, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rewritten, err := Instrument(wasm)
			if err != nil {
				t.Fatalf("Instrument: %v", err)
			}
			r := newRuntime(t)
			before, err := r.CompileModule(context.Background(), wasm)
			if err != nil {
				t.Fatal(err)
			}
			after, err := r.CompileModule(context.Background(), rewritten)
			if err != nil {
				t.Fatalf("compiling the rewritten module: %v", err)
			}
			for name := range before.ExportedFunctions() {
				if _, ok := after.ExportedFunctions()[name]; !ok {
					t.Errorf("the rewritten module lost the export %s", name)
				}
			}
		})
	}
}

func TestInstrumentErrors(t *testing.T) {
	tests := []struct {
		name   string
		module []byte
		want   string
	}{
		{"empty", nil, "not a WebAssembly module"},
		{"text", []byte("(module)"), "not a WebAssembly module"},
		{"version 2", append([]byte("\x00asm"), 2, 0, 0, 0), "version 2"},
		{"section past the end", append(module(), 1, 10, 0), "runs past the end"},
		{"unknown section", module(wasmbin.Section{ID: 42, Body: []byte{0}}), "unknown section id 42"},
		{"truncated code", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, code([]byte{0, 0x03})), "function body 0"},
		{"exception handling", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, code([]byte{0, 0x06, 0x40, 0x0b, 0x0b})), "exception handling"},
		{"tail call", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, code([]byte{0, 0x12, 0, 0x0b})), "tail calls"},
		{"global past its own", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, code([]byte{0, 0x41, 1, 0x24, 0, 0x0b})), "refers to global 0; the module has 0"},
		// The runtime would allocate what these counts promise.
		{"a type with 2^31 parameters", module(wasmbin.Section{ID: 1, Body: []byte{1, 0x60, 0x80, 0x80, 0x80, 0x80, 0x08, 0}}), "type 0: 2147483648 parameters"},
		{"2^30 globals", module(wasmbin.Section{ID: sectionGlobal, Body: []byte{0x80, 0x80, 0x80, 0x80, 0x04, 0x7f, 0, 0x41, 0, 0x0b}}), "1073741824 elements in 5 bytes"},
		{"an element segment of 2^31 functions", module(wasmbin.Section{ID: sectionElement, Body: []byte{1, 0x00, 0x41, 0, 0x0b, 0x80, 0x80, 0x80, 0x80, 0x08, 0}}), "element segment 0: not a WebAssembly module: 2147483648 elements in 1 bytes"},
		{"an element segment of 2^31 expressions", module(wasmbin.Section{ID: sectionElement, Body: []byte{1, 0x05, 0x70, 0x80, 0x80, 0x80, 0x80, 0x08, 0xd0, 0x70, 0x0b}}), "element segment 0: not a WebAssembly module: 2147483648 elements in 3 bytes"},
		{"a data segment of 2 GiB", module(wasmbin.Section{ID: sectionData, Body: []byte{1, 0x01, 0x80, 0x80, 0x80, 0x80, 0x08, 'x'}}), "data segment 0: not a WebAssembly module: unexpected end"},
		{"2^31 function names", module(wasmbin.Section{ID: sectionCustom, Body: append(wasmbin.AppendName(nil, "name"), 1, 5, 0x80, 0x80, 0x80, 0x80, 0x08)}), "name subsection 1: not a WebAssembly module: 2147483648 elements in 0 bytes"},
		{"2^31 locals", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, code([]byte{1, 0x80, 0x80, 0x80, 0x80, 0x08, 0x7f, 0x0b})), "more than 50000 locals"},
		// The runtime also takes the GC proposal's longer reference types, and
		// reads past a function body for one (a panic of its decoder).
		{"a local of a GC reference type", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, code([]byte{1, 1, 0x63, 0x70, 0x0b})), "type 0x63 is not a value type of WebAssembly 2.0"},
		{"an element segment of a GC reference type", module(wasmbin.Section{ID: sectionElement, Body: []byte{1, 0x07, 0x63, 0x70, 0}}), "element type 0x63 is not one of WebAssembly 2.0"},
		{"bytes after the last data segment", module(wasmbin.Section{ID: sectionData, Body: []byte{1, 0x01, 1, 'x', 0xff}}), "1 bytes after the last entry"},
		{"reserved export", module(typeVoid, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, exports(Export), code([]byte{0, 0x0b})), `exports "pont.interrupt"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Instrument(tt.module)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Instrument = %v; want an error with %q", err, tt.want)
			}
		})
	}
}

func TestInstrumentDoesNotChangeItsInput(t *testing.T) {
	in := append([]byte(nil), startModule...)
	if _, err := Instrument(in); err != nil {
		t.Fatal(err)
	}
	if string(in) != string(startModule) {
		t.Fatal("Instrument changed its input")
	}
}

// FuzzInstrument checks that Instrument never panics, and that a module the
// runtime accepts is still accepted after the rewrite, with the flag.
func FuzzInstrument(f *testing.F) {
	for _, m := range [][]byte{spinModule, countdownModule, startModule, fibModule, loopModule, doubleModule, mutualModule, depthModule, exitsModule} {
		f.Add(m)
	}
	if wasm, err := os.ReadFile("../../testdata/abi_example.wasm"); err == nil {
		f.Add(wasm)
	}
	r := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	defer r.Close(context.Background())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		rewritten, err := Instrument(wasm)
		if errors.Is(err, wasmbin.ErrNotWasm) || errors.Is(err, ErrLimit) {
			// Not the binary format, which the runtime refuses too, or
			// beyond a limit of the broker's: either way the runtime would
			// first allocate what the module's counts promise (a minute,
			// or gigabytes, for some).
			return
		}
		before, cerr := r.CompileModule(context.Background(), wasm)
		if cerr != nil {
			return
		}
		defer before.Close(context.Background())
		if err != nil {
			if strings.Contains(err.Error(), "reserves") {
				return
			}
			t.Fatalf("the runtime compiles the module but Instrument refuses it: %v", err)
		}
		after, err := r.CompileModule(context.Background(), rewritten)
		if err != nil {
			t.Fatalf("the rewritten module does not compile: %v", err)
		}
		defer after.Close(context.Background())
		if len(after.ExportedFunctions()) < len(before.ExportedFunctions()) {
			t.Fatalf("the rewritten module exports %d functions; the module %d", len(after.ExportedFunctions()), len(before.ExportedFunctions()))
		}
	})
}
