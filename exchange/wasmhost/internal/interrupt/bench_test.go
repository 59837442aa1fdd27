package interrupt

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

var (
	// typeI32 is a type section with (i32) -> i32 only.
	typeI32 = wasmbin.Section{ID: 1, Body: []byte{1, 0x60, 1, 0x7f, 1, 0x7f}}
	// fibModule exports fib(n), computed by double recursion: a call-bound
	// function with no loop, fib(n)-1 calls for n > 1.
	fibModule = module(typeI32, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, exports("fib"), code([]byte{
		0,
		0x20, 0, 0x41, 2, 0x49, 0x04, 0x7f, // local.get 0 < 2 ? (if (result i32)
		0x20, 0, // local.get 0
		0x05,                            // else
		0x20, 0, 0x41, 1, 0x6b, 0x10, 0, // fib(n-1)
		0x20, 0, 0x41, 2, 0x6b, 0x10, 0, // fib(n-2)
		0x6a, // i32.add
		0x0b, 0x0b,
	}))
	// loopModule exports count(n): a loop of n iterations, no calls.
	loopModule = module(typeI32, wasmbin.Section{ID: 3, Body: []byte{1, 0}}, exports("count"), code([]byte{
		0,
		0x03, 0x40, 0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0, 0x0b, // loop: n = n-1; br_if n
		0x20, 0, 0x0b,
	}))
)

// benchmarkCall measures fn(arg) of module as it is (plain) and after the
// rewrite (rewritten): the difference is the rewrite's cost.
func benchmarkCall(b *testing.B, wasm []byte, fn string, arg uint64) {
	rewritten, err := Instrument(wasm)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range []struct {
		name string
		wasm []byte
	}{{"plain", wasm}, {"rewritten", rewritten}} {
		b.Run(m.name, func(b *testing.B) {
			mod, err := newRuntime(b).InstantiateWithConfig(context.Background(), m.wasm, wazero.NewModuleConfig().WithName(""))
			if err != nil {
				b.Fatal(err)
			}
			f := mod.ExportedFunction(fn)
			stack := []uint64{arg}
			for b.Loop() {
				stack[0] = arg
				if err := f.CallWithStack(context.Background(), stack); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecursion is the rewrite's cost on calls: fib(25), about 240 000
// calls and no loop.
func BenchmarkRecursion(b *testing.B) { benchmarkCall(b, fibModule, "fib", 25) }

// BenchmarkLoop is the rewrite's cost on loops: one million iterations of
// a tight loop.
func BenchmarkLoop(b *testing.B) { benchmarkCall(b, loopModule, "count", 1_000_000) }
