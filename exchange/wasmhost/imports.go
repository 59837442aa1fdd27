package wasmhost

import (
	"context"
	"log/slog"

	"github.com/tetratelabs/wazero/api"

	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// maxLogBytes caps one log message of an adapter, so that a guest cannot
// flood the broker's log with one call.
const maxLogBytes = abi.MaxLogBytes

// stateKey is the context key of the callState.
type stateKey struct{}

// callState is what the host functions need of the call under way. It
// travels in the context that wazero hands to every host function, so that
// concurrent calls on different instances never share it.
type callState struct {
	// ctx carries the call's deadline.
	ctx context.Context
	// starting is set while the instance starts (its start section and
	// _initialize run): no query is under way.
	starting   bool
	adapter    *Adapter
	transferID string
	handles    map[uint32][]byte
	next       uint32
}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(stateKey{}).(*callState)
	return st
}

// put keeps b for the guest to read and returns its handle.
func (st *callState) put(b []byte) uint32 {
	if st.handles == nil {
		st.handles = map[uint32][]byte{}
	}
	st.next++
	st.handles[st.next] = b
	return st.next
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// instantiatePont instantiates the host module "pont" of the ABI. The
// functions are stack-based GoModuleFuncs: reflection costs microseconds a
// call.
func (h *Host) instantiatePont(ctx context.Context) error {
	b := h.runtime.NewHostModuleBuilder("pont")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostLog), []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").Export("log")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostHTTPCall), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("ptr", "len").WithResultNames("handle_len").Export("http_call")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostConfigGet), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("ptr", "len").WithResultNames("handle_len").Export("config_get")
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostRead), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("handle", "ptr").WithResultNames("n").Export("read")
	_, err := b.Instantiate(ctx)
	return err
}

// pontImports are the functions of module pont, for checking a module's
// imports at load.
var pontImports = map[string]bool{"log": true, "http_call": true, "config_get": true, "read": true}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	st := stateOf(ctx)
	if st == nil {
		return
	}
	level, ptr, n := int32(uint32(stack[0])), uint32(stack[1]), uint32(stack[2])
	truncated := n > maxLogBytes
	msg, ok := mod.Memory().Read(ptr, min(n, maxLogBytes))
	if !ok {
		st.adapter.hostLog(st.ctx, slog.LevelWarn, "adapter log message outside its memory", slog.String("transfer_id", st.transferID))
		return
	}
	var l slog.Level
	switch level {
	case abi.LogDebug:
		l = slog.LevelDebug
	case abi.LogInfo:
		l = slog.LevelInfo
	case abi.LogWarn:
		l = slog.LevelWarn
	default:
		l = slog.LevelError
	}
	attrs := []slog.Attr{slog.String("transfer_id", st.transferID)}
	if truncated {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	st.adapter.guestLog(st.ctx, l, string(msg), attrs...)
}

func hostHTTPCall(ctx context.Context, mod api.Module, stack []uint64) {
	st := stateOf(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	var result []byte
	switch req, ok := mod.Memory().Read(ptr, n); {
	case st == nil: // wazero calls host functions only from the guest, which runs in a call or its start
		result = httpError(codeBadRequest, "http_call outside a call")
	case st.starting:
		// A request made outside any query would reach the source with
		// nothing recorded in the transfer log.
		st.adapter.refused(st, "", codeBadRequest)
		result = httpError(codeBadRequest, "http_call is refused while the instance starts (_initialize): no query is under way")
	case !ok:
		st.adapter.refused(st, "", codeBadRequest)
		result = httpError(codeBadRequest, "the request is outside the module's memory")
	default:
		st.adapter.netEnter(st)
		result = st.adapter.httpCall(st, append([]byte(nil), req...))
		st.adapter.netLeave(st)
		if result == nil {
			panic(errCallStopped)
		}
	}
	var handle uint32
	if st != nil {
		handle = st.put(result)
	}
	stack[0] = uint64(handle)<<32 | uint64(uint32(len(result)))
}

func hostConfigGet(ctx context.Context, mod api.Module, stack []uint64) {
	const none = ^uint64(0) // -1 as an i64
	st := stateOf(ctx)
	ptr, n := uint32(stack[0]), uint32(stack[1])
	stack[0] = none
	if st == nil {
		return
	}
	key, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return
	}
	v, ok := st.adapter.config[string(key)]
	if !ok || v == "" {
		return
	}
	stack[0] = uint64(st.put([]byte(v)))<<32 | uint64(uint32(len(v)))
}

func hostRead(ctx context.Context, mod api.Module, stack []uint64) {
	const none = uint64(0xffffffff) // -1 as an i32
	st := stateOf(ctx)
	handle, ptr := uint32(stack[0]), uint32(stack[1])
	stack[0] = none
	if st == nil {
		return
	}
	b, ok := st.handles[handle]
	if !ok {
		return
	}
	delete(st.handles, handle)
	if len(b) > 0 && !mod.Memory().Write(ptr, b) {
		return
	}
	stack[0] = uint64(uint32(len(b)))
}
