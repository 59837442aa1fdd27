package wasmhost

import (
	"bytes"
	"testing"

	"github.com/tetratelabs/wazero/experimental"
)

// TestLinearMemories runs both kinds of linear memory through what the
// runtime asks of them: a first allocation that may exceed the limit,
// growth that keeps the contents, a refusal past the limit, and Free.
func TestLinearMemories(t *testing.T) {
	const limit = 4 * pageSize
	memories := map[string]func() experimental.LinearMemory{
		"slice": func() experimental.LinearMemory { return &sliceMemory{limit: limit} },
	}
	if m := newMappedMemory(limit); m != nil {
		m.Free()
		memories["mapped"] = func() experimental.LinearMemory { return newMappedMemory(limit) }
	}
	for name, newMemory := range memories {
		t.Run(name, func(t *testing.T) {
			m := newMemory()
			buf := m.Reallocate(pageSize)
			if len(buf) != pageSize {
				t.Fatalf("first Reallocate: %d bytes, want %d", len(buf), pageSize)
			}
			copy(buf, "kept")
			buf = m.Reallocate(3 * pageSize)
			if len(buf) != 3*pageSize || !bytes.HasPrefix(buf, []byte("kept")) {
				t.Fatalf("growth: %d bytes starting %q", len(buf), buf[:4])
			}
			buf[len(buf)-1] = 1 // the new pages are writable
			if got := m.Reallocate(limit + pageSize); got != nil {
				t.Fatalf("Reallocate past the limit = %d bytes, want nil", len(got))
			}
			m.Free()

			over := newMemory()
			if got := over.Reallocate(limit + pageSize); len(got) != limit+pageSize {
				t.Fatalf("a first Reallocate past the limit = %d bytes; the first always succeeds", len(got))
			}
			if got := over.Reallocate(limit + 2*pageSize); got != nil {
				t.Fatal("growth after a first allocation past the limit succeeded")
			}
			over.Free()
		})
	}
}
