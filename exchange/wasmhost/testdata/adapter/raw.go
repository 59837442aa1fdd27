package main

import (
	"runtime"
	"unsafe"

	sdk "github.com/pontexchange/pont/sdk-wasm"
)

// The imports of module pont, called here without the SDK, so that the
// tests can see what each returns for what the SDK never sends.

//go:wasmimport pont http_call
func rawHTTPCall(ptr, size uint32) int64

//go:wasmimport pont config_get
func rawConfigGet(ptr, size uint32) int64

//go:wasmimport pont read
func rawRead(handle, ptr uint32) int32

// outside is an address past any memory a Go guest has (4 GiB - 256).
const outside = 0xffffff00

func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// rawABI runs one probe of the pont imports and answers what the host
// returned: the i64 of http_call or config_get split into handle and
// length, read's results, and the bytes read.
func rawABI(probe string) (any, error) {
	o := &sdk.Object{}
	packed := func(r int64) {
		o.Int("result", r).Int("handle", int64(uint64(r)>>32)).Int("length", int64(uint32(r)))
	}
	read := func(r int64, ptr uint32) []byte {
		n := uint32(r)
		b := make([]byte, n, max(n, 1))
		if ptr == 0 {
			ptr = addr(b)
		}
		o.Int("read", int64(rawRead(uint32(uint64(r)>>32), ptr)))
		runtime.KeepAlive(b)
		return b
	}
	switch probe {
	case "http_call outside memory":
		r := rawHTTPCall(outside, 64)
		packed(r)
		o.String("bytes", string(read(r, 0)))
	case "http_call not json":
		req := []byte("GET http://source.pont.test/json")
		r := rawHTTPCall(addr(req), uint32(len(req)))
		runtime.KeepAlive(req)
		packed(r)
		o.String("bytes", string(read(r, 0)))
	case "read twice":
		req := []byte(`{"url":"http://source.pont.test/json"}`)
		r := rawHTTPCall(addr(req), uint32(len(req)))
		runtime.KeepAlive(req)
		packed(r)
		read(r, 0)
		o.Int("read_again", int64(rawRead(uint32(uint64(r)>>32), addr(make([]byte, uint32(r))))))
	case "read outside memory":
		req := []byte(`{"url":"http://source.pont.test/json"}`)
		r := rawHTTPCall(addr(req), uint32(len(req)))
		runtime.KeepAlive(req)
		packed(r)
		read(r, outside)
		o.Int("read_again", int64(rawRead(uint32(uint64(r)>>32), addr(make([]byte, uint32(r))))))
	case "read unknown handle":
		o.Int("read", int64(rawRead(9999, addr(make([]byte, 1)))))
	case "config_get undeclared":
		key := []byte("password")
		packed(rawConfigGet(addr(key), uint32(len(key))))
		runtime.KeepAlive(key)
	case "config_get outside memory":
		packed(rawConfigGet(outside, 8))
	default:
		return nil, sdk.InvalidParams("probe: unknown %q", probe)
	}
	return o, nil
}
