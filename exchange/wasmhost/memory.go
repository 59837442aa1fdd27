package wasmhost

import "github.com/tetratelabs/wazero/experimental"

// pageSize is the size of a WebAssembly page.
const pageSize = 65536

// cappedAllocator backs each instance's linear memory with a buffer that
// refuses to grow past the adapter's own page limit. The runtime's memory
// limit is one value for every module; this is how one adapter gets less.
// A refused memory.grow makes a Go guest fail with "out of memory", a trap.
//
// Where the platform allows, the buffer is a private anonymous mapping of
// the whole limit (see mappedMemory), outside the Go heap; elsewhere it is
// a Go slice (sliceMemory).
func cappedAllocator(pages uint32) experimental.MemoryAllocator {
	limit := uint64(pages) * pageSize
	return experimental.MemoryAllocatorFunc(func(capacity, maxBytes uint64) experimental.LinearMemory {
		limit := min(limit, maxBytes)
		if m := newMappedMemory(limit); m != nil {
			return m
		}
		return &sliceMemory{limit: limit, capHint: min(capacity, limit)}
	})
}

// sliceMemory is a linear memory in a Go slice.
type sliceMemory struct {
	buf     []byte
	limit   uint64
	capHint uint64
}

// Reallocate grows the buffer to size bytes, or returns nil past the limit.
// The first call, for the module's minimum memory, always succeeds so that
// instantiation fails in the guest (where the error is clear) rather than in
// the runtime.
func (m *sliceMemory) Reallocate(size uint64) []byte {
	if m.buf != nil && size > m.limit {
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Double like append so that a guest growing page by page stays linear.
	newCap := max(size, min(2*uint64(cap(m.buf)), m.limit), m.capHint)
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	return buf
}

// Free drops the buffer for the garbage collector.
func (m *sliceMemory) Free() { m.buf = nil }
