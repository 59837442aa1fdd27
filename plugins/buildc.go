package plugins

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CInstall is how to install what the C adapters need on Debian 12: clang,
// its WebAssembly linker (lld), the WASI C library and clang's compiler
// runtime for wasm32, which clang links into every wasm32 module.
const CInstall = "Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"

// wasiSysroot is where Debian's wasi-libc puts its headers and libraries
// (<sysroot>/include/wasm32-wasi, <sysroot>/lib/wasm32-wasi). wasi-sdk's
// sysroot, elsewhere, has the same layout.
const wasiSysroot = "/usr"

// cFlags build a C adapter (sdk-wasm/GUIDE.md gives the same command line):
// C11 for wasm32-wasi against wasi-libc; a reactor, whose crt1-reactor.o
// exports _initialize and no _start; the stack placed below the data, so
// that an overflow traps at address 0 instead of overwriting the adapter's
// globals; and no DWARF, which wasi-libc's archives carry and the broker
// drops anyway.
var cFlags = []string{
	"--target=wasm32-wasi", "--sysroot=" + wasiSysroot, "-std=c11", "-O2", "-Wall", "-Wextra",
	"-mexec-model=reactor", "-Wl,--stack-first", "-Wl,--strip-debug",
}

// cToolchainMissing says which part of the C toolchain is not installed,
// asking clang where it would find each, or "" when all are.
func cToolchainMissing(ctx context.Context) string {
	if _, err := exec.LookPath("clang"); err != nil {
		return "clang is not installed (" + CInstall + ")"
	}
	for _, p := range []struct{ flag, what string }{
		{"-print-prog-name=wasm-ld", "clang's WebAssembly linker wasm-ld (lld)"},
		{"-print-file-name=crt1-reactor.o", "wasi-libc, the WASI C library"},
		{"-print-libgcc-file-name", "clang's compiler runtime for wasm32"},
	} {
		out, err := exec.CommandContext(ctx, "clang", "--target=wasm32-wasi", "--sysroot="+wasiSysroot, p.flag).Output()
		found := strings.TrimSpace(string(out))
		// clang names a file it did not find by its bare name.
		if err != nil || !filepath.IsAbs(found) {
			return p.what + " is not installed (" + CInstall + ")"
		}
		if _, err := os.Stat(found); err != nil {
			return p.what + " is not installed (" + CInstall + ")"
		}
	}
	return ""
}

// compileC compiles the C sources of dir (every *.c, in the order of their
// names, as a shell's *.c gives them) into a reactor module, and returns it
// with the compiler's diagnostics, if it warned.
func compileC(ctx context.Context, dir, tmp, name string) (wasm []byte, warnings string, err error) {
	sources, err := filepath.Glob(filepath.Join(dir, "*.c"))
	if err != nil || len(sources) == 0 {
		return nil, "", fmt.Errorf("plugins: build %s: no C sources in %s", name, dir)
	}
	out := filepath.Join(tmp, name+".wasm")
	args := append(append([]string{}, cFlags...), "-o", out)
	for _, s := range sources {
		args = append(args, filepath.Base(s))
	}
	cmd := exec.CommandContext(ctx, "clang", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, "", fmt.Errorf("plugins: build %s with clang: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	if wasm, err = os.ReadFile(out); err != nil {
		return nil, "", fmt.Errorf("plugins: read the module of %s: %w", name, err)
	}
	return wasm, strings.TrimSpace(stderr.String()), nil
}
