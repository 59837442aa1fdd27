//go:build !linux

package wasmhost

// mappedMemory is Linux-only; elsewhere linear memories are Go slices.
type mappedMemory struct{ sliceMemory }

func newMappedMemory(uint64) *mappedMemory { return nil }
