package wasmhost

import (
	"context"
	"fmt"

	"github.com/pontexchange/pont/exchange/manifest"
)

// Check compiles a module and checks it against the ABI as Load does (its
// manifest, its exports, its imports, its memory against its limits),
// without starting an instance: what a registry asks of a module before it
// keeps it. The compiled code stays in the compilation cache, so that the
// Load that follows an activation does not compile it again.
func (h *Host) Check(ctx context.Context, wasm []byte) error {
	m, err := manifest.Read(wasm)
	if err != nil {
		return fmt.Errorf("wasmhost: check: %w", err)
	}
	code, err := manifest.Strip(wasm)
	if err != nil {
		return fmt.Errorf("wasmhost: check %s: %w", m.Name, err)
	}
	shared, err := h.compile(ctx, code)
	if err != nil {
		return fmt.Errorf("wasmhost: check %s: compile: %w", m.Name, err)
	}
	defer h.release(shared)
	a := &Adapter{host: h, manifest: m, limits: h.limitsFor(m), compiled: shared.compiled}
	if err := a.checkModule(); err != nil {
		return fmt.Errorf("wasmhost: check %s: %w", m.Name, err)
	}
	return nil
}
