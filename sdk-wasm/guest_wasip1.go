//go:build wasip1

package sdk

import (
	"runtime"
	"runtime/debug"
	"unsafe"
)

// A broker runs many instances of an adapter, each a Go runtime whose heap
// grows to at least 4 MB before its first collection at the default GOGC of
// 100, while a call keeps little alive: half the headroom costs a few
// collections of a small heap and saves megabytes an instance.
func init() { debug.SetGCPercent(50) }

//go:wasmimport pont log
func pontLog(level int32, ptr, size uint32)

//go:wasmimport pont http_call
func pontHTTPCall(ptr, size uint32) int64

//go:wasmimport pont config_get
func pontConfigGet(ptr, size uint32) int64

//go:wasmimport pont read
func pontRead(handle, ptr uint32) int32

var (
	// allocs are the buffers handed to the host by pont_alloc. Holding them
	// here keeps the GC from reusing memory the host writes into; they are
	// released when pont_handle returns.
	allocs [][]byte
	// answer is the last answer, which the host reads after pont_handle
	// returns; it lives until the next call.
	answer []byte
)

// addr is the guest address of b's first byte; b has a capacity of at least
// one so that even an empty buffer has a real address.
func addr(b []byte) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

func strAddr(s string) uint32 {
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s))))
}

//go:wasmexport pont_alloc
func pontAlloc(size uint32) uint32 {
	b := make([]byte, size, max(size, 1))
	allocs = append(allocs, b)
	return addr(b)
}

//go:wasmexport pont_handle
func pontHandle(ptr, size uint32) uint64 {
	// The input must be in a buffer from pont_alloc: finding it avoids
	// turning an integer from the host into a pointer.
	var input []byte
	for _, b := range allocs {
		if addr(b) == ptr && uint32(len(b)) >= size {
			input = b[:size]
			break
		}
	}
	if input == nil {
		answer = errorAnswer(CodeInvalidParams, "sdk: the input is not in a buffer from pont_alloc")
	} else {
		answer = run(input)
	}
	clear(allocs)
	allocs = allocs[:0]
	if len(answer) == 0 {
		answer = make([]byte, 0, 1)
	}
	return uint64(addr(answer))<<32 | uint64(len(answer))
}

// take copies the bytes behind a host handle into guest memory.
func take(result int64) []byte {
	handle, n := uint32(uint64(result)>>32), uint32(result)
	b := make([]byte, n, max(n, 1))
	if pontRead(handle, addr(b)) < 0 {
		return nil
	}
	runtime.KeepAlive(b)
	return b
}

func hostLog(level Level, msg string) {
	pontLog(int32(level), strAddr(msg), uint32(len(msg)))
	runtime.KeepAlive(msg)
}

func hostHTTP(request []byte) []byte {
	if len(request) == 0 {
		return nil
	}
	r := pontHTTPCall(addr(request), uint32(len(request)))
	runtime.KeepAlive(request)
	return take(r)
}

func hostConfig(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	r := pontConfigGet(strAddr(key), uint32(len(key)))
	runtime.KeepAlive(key)
	if r < 0 {
		return "", false
	}
	b := take(r)
	if b == nil {
		return "", false
	}
	return string(b), true
}
