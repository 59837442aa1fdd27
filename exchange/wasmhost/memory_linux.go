package wasmhost

import "syscall"

// mappedMemory is a linear memory in a private anonymous mapping that
// reserves the adapter's whole limit at once, without committing it: the
// kernel backs a page only when the guest first touches it.
//
// It keeps guest memory out of the Go heap, which matters for resident
// memory: a slice-backed memory is copied on every growth, leaving the old
// buffer to the collector, and counts towards the heap that sets the
// collector's goal, so a broker with a few dozen instances holds about twice
// their memory. A mapping never moves (growth only lengthens the slice) and
// is returned to the kernel at once when the instance is dropped.
type mappedMemory struct {
	mapping []byte
	started bool
}

// newMappedMemory reserves limit bytes, or returns nil if the kernel
// refuses (the caller then falls back to a slice).
func newMappedMemory(limit uint64) *mappedMemory {
	if limit == 0 {
		return nil
	}
	b, err := reserve(limit)
	if err != nil {
		return nil
	}
	return &mappedMemory{mapping: b}
}

func reserve(n uint64) ([]byte, error) {
	return syscall.Mmap(-1, 0, int(n), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
}

// Reallocate lengthens the memory to size bytes in place, or returns nil
// past the reservation. Like sliceMemory's, the first call, for the
// module's minimum memory, succeeds even past the limit.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mapping)) {
		if m.started {
			return nil
		}
		b, err := reserve(size)
		if err != nil {
			return nil
		}
		_ = syscall.Munmap(m.mapping)
		m.mapping = b
	}
	m.started = true
	return m.mapping[:size:size]
}

// Free unmaps the memory. The runtime calls it when the instance is closed,
// never while the guest runs.
func (m *mappedMemory) Free() {
	if m.mapping != nil {
		_ = syscall.Munmap(m.mapping)
		m.mapping = nil
	}
}
