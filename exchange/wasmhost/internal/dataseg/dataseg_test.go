package dataseg

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
	"github.com/pontexchange/pont/exchange/wasmhost/internal/interrupt"
)

// seg is an active segment of memory 0 at an i32.const offset.
func seg(offset int32, init string) []byte {
	b := append([]byte{0x00, 0x41}, wasmbin.AppendS32(nil, offset)...)
	b = append(b, 0x0b)
	b = wasmbin.AppendU32(b, uint32(len(init)))
	return append(b, init...)
}

// dataSection is a data section of the given encoded segments.
func dataSection(segments ...[]byte) []byte {
	body := wasmbin.AppendU32(nil, uint32(len(segments)))
	for _, s := range segments {
		body = append(body, s...)
	}
	return wasmbin.AppendSection(nil, sectionData, body)
}

// module is a module with a memory of two pages, exported as "memory",
// and the given sections after the export section.
func module(after ...[]byte) []byte {
	b := append([]byte{}, wasmbin.Header...)
	b = wasmbin.AppendSection(b, 5, []byte{1, 0x00, 2})                                                     // memory: min 2 pages
	b = wasmbin.AppendSection(b, 7, append(wasmbin.AppendName([]byte{1}, "memory"), wasmbin.KindMemory, 0)) // export
	for _, s := range after {
		b = append(b, s...)
	}
	return b
}

// importedMemoryModule imports its memory instead of defining it.
func importedMemoryModule(data []byte) []byte {
	imp := wasmbin.AppendName([]byte{1}, "env")
	imp = wasmbin.AppendName(imp, "memory")
	imp = append(imp, wasmbin.KindMemory, 0x00, 2)
	b := append([]byte{}, wasmbin.Header...)
	b = wasmbin.AppendSection(b, sectionImport, imp)
	return append(b, data...)
}

// segments counts the data segments of m (0 without a data section).
func segments(t testing.TB, m []byte) int {
	t.Helper()
	sections, err := wasmbin.Sections(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sections {
		if s.ID == sectionData {
			n, _, err := wasmbin.ReadU32(s.Body)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	return 0
}

// instantiate runs m in a fresh runtime and returns its exported memory's
// bytes, or the error of compiling or instantiating it.
func instantiate(m []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCloseOnContextDone(true))
	defer rt.Close(ctx)
	mod, err := rt.InstantiateWithConfig(ctx, m, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		return nil, err
	}
	mem := mod.ExportedMemory("memory")
	if mem == nil {
		return nil, nil
	}
	b, _ := mem.Read(0, mem.Size())
	return bytes.Clone(b), nil
}

func TestMerge(t *testing.T) {
	gap := func(n int) string { return string(make([]byte, n)) }
	tests := []struct {
		name     string
		module   []byte
		segments int // after Merge; -1: Merge leaves the module as it is
	}{
		{"small gaps are filled", module(dataSection(seg(10, "ab"), seg(14, "cd"), seg(16, "ef"), seg(100, "gh"))), 1},
		{"a gap longer than MaxGap splits", module(dataSection(seg(10, "ab"), seg(14, "cd"), seg(14+2+MaxGap+1, "ef"), seg(14+2+MaxGap+1+2+MaxGap, "gh"))), 2},
		{"zeros inside segments are kept", module(dataSection(seg(0, "a\x00b"), seg(3, gap(5)+"c"))), 1},
		{"memory named explicitly", module(dataSection(append([]byte{0x02, 0x00, 0x41, 0x01, 0x0b, 1}, 'x'), seg(3, "y"))), 1},
		{"one segment", module(dataSection(seg(10, "ab"))), -1},
		{"no data", module(), -1},
		{"passive segment", module(dataSection(seg(10, "ab"), []byte{0x01, 1, 'z'}, seg(12, "cd"))), -1},
		{"data count section", module(wasmbin.AppendSection(nil, sectionDataCount, []byte{2}), dataSection(seg(10, "ab"), seg(12, "cd"))), -1},
		{"overlapping segments", module(dataSection(seg(10, "abcd"), seg(12, "XY"))), -1},
		{"segments out of order", module(dataSection(seg(20, "ab"), seg(10, "cd"), seg(30, "ef"))), 1},
		{"overlapping out of order", module(dataSection(seg(20, "ab"), seg(10, "cd"), seg(19, "XY"))), -1},
		{"empty segments", module(dataSection(seg(20, ""), seg(10, "cd"), seg(12, ""), seg(12, "ef"))), 1},
		{"offset from a global", module(dataSection(append([]byte{0x00, 0x23, 0x00, 0x0b, 1}, 'x'), seg(3, "y"))), -1},
		{"imported memory", importedMemoryModule(dataSection(seg(10, "ab"), seg(12, "cd"))), -1},
		{"out of bounds stays out of bounds", module(dataSection(seg(2*65536-10, "ab"), seg(2*65536-4, "cdefgh"))), 1},
		{"negative offset stays refused", module(dataSection(seg(-4, "ab"), seg(0, "cd"))), -1},
		{"trailing bytes in the section", module(append(dataSection(seg(10, "ab"), seg(12, "cd")), 0x00)), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Merge(tt.module)
			if tt.segments < 0 {
				if !bytes.Equal(got, tt.module) {
					t.Fatalf("Merge changed the module; want it unchanged")
				}
				return
			}
			if n := segments(t, got); n != tt.segments {
				t.Errorf("%d segments after Merge, want %d", n, tt.segments)
			}
			sameInstance(t, tt.module, got)
		})
	}
}

// sameInstance checks that the runtime makes the same memory of both
// modules, or refuses both.
func sameInstance(t *testing.T, original, merged []byte) {
	t.Helper()
	want, wantErr := instantiate(original)
	got, err := instantiate(merged)
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("instantiating the merged module: %v; the original: %v", err, wantErr)
	case !bytes.Equal(got, want):
		t.Fatalf("the merged module's memory differs from the original's")
	}
}

// TestMergeRefusesToBlowUp checks the bound on what Merge writes: tiny
// segments MaxGap apart would otherwise become megabytes of zeros.
func TestMergeRefusesToBlowUp(t *testing.T) {
	var segs [][]byte
	for i := range 1000 {
		segs = append(segs, seg(int32(i*MaxGap), "x"))
	}
	m := module(dataSection(segs...))
	if got := Merge(m); !bytes.Equal(got, m) {
		t.Fatalf("Merge wrote %d bytes for a %d-byte module", len(got), len(m))
	}
}

func FuzzMerge(f *testing.F) {
	f.Add(module(dataSection(seg(10, "ab"), seg(14, "cd"))))
	f.Add(module(dataSection(seg(0, "a"), seg(3, "b"), seg(4000, "c"))))
	f.Add(importedMemoryModule(dataSection(seg(10, "ab"), seg(12, "cd"))))
	f.Fuzz(func(t *testing.T, m []byte) {
		// The host merges what the interrupt rewrite made of a module, after
		// the rewrite's checks; without them the runtime's decoder takes
		// untrusted counts at their word and exhausts memory.
		m, err := interrupt.Instrument(m)
		if err != nil {
			return
		}
		got := Merge(m)
		if bytes.Equal(got, m) {
			return
		}
		if len(got) > 3*len(m)+MaxGap {
			t.Fatalf("Merge grew a %d-byte module to %d bytes", len(m), len(got))
		}
		sameInstance(t, m, got)
	})
}

// TestGoModule merges a module from the Go toolchain, whose linker writes a
// segment per run of non-zero bytes, and checks that the runtime makes the
// same memory of it.
func TestGoModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program for wasip1")
	}
	out := filepath.Join(t.TempDir(), "goguest.wasm")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/goguest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the Go program: %v\n%s", err, b)
	}
	original, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	merged := Merge(original)
	before, after := segments(t, original), segments(t, merged)
	t.Logf("%d segments, %d after Merge; %d bytes, %d after", before, after, len(original), len(merged))
	if before < 1000 || after > 50 {
		t.Errorf("%d segments, %d after Merge; want a Go module's thousands to become a few", before, after)
	}

	ctx := context.Background()
	memory := func(m []byte) []byte {
		rt := wazero.NewRuntime(ctx)
		defer rt.Close(ctx)
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		mod, err := rt.InstantiateWithConfig(ctx, m, wazero.NewModuleConfig().WithStartFunctions()) // data only: main does not run
		if err != nil {
			t.Fatal(err)
		}
		mem := mod.ExportedMemory("memory")
		b, _ := mem.Read(0, mem.Size())
		return bytes.Clone(b)
	}
	if !bytes.Equal(memory(original), memory(merged)) {
		t.Fatal("the merged Go module's memory differs from the original's")
	}
}
