package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/internal/npmpin"
)

// modulePath is the Go module that holds the plugins.
const modulePath = "github.com/pontexchange/pont"

// buildParallelism is how many plugins compile at once: each go build is
// itself parallel, and the machines that run this have few cores.
const buildParallelism = 2

// Build compiles every reference adapter for GOOS=wasip1 GOARCH=wasm as a
// reactor (-buildmode=c-shared), once per plugin, and writes one module per
// manifest to outDir as <adapter-name>.wasm with the manifest embedded; and
// it compiles the adapters written in other languages (Foreigns) the same
// way, each program once, where its toolchain is installed: AssemblyScript
// where Node.js and npm are (the compiler is installed from the
// package-lock into the user's cache directory on first use), C where
// clang, wasm-ld, wasi-libc and clang's wasm32 builtins are. None of the
// catalog's sources needs them, so a machine with only Go still builds
// everything pont dev runs; for each language it skips, Build logs (slog's
// default logger) a warning that says what to install. It needs the go
// command and the module's source tree; it returns the paths written,
// sorted.
func Build(ctx context.Context, outDir string) ([]string, error) {
	plugins, err := Plugins()
	if err != nil {
		return nil, err
	}
	foreigns, err := Foreigns()
	if err != nil {
		return nil, err
	}
	var programs [][]Foreign
	for _, g := range foreignPrograms(foreigns) {
		if missing := ToolchainMissing(ctx, g[0].Language); missing != "" {
			var names []string
			for _, f := range g {
				names = append(names, f.Manifest.Name)
			}
			slog.Warn("plugins: " + strings.Join(names, ", ") + " not built: " + missing)
			continue
		}
		programs = append(programs, g)
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	// The compilers run in their sources' directories: every path handed to
	// them must be absolute.
	if outDir, err = filepath.Abs(outDir); err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("plugins: create %s: %w", outDir, err)
	}
	tmp, err := os.MkdirTemp(outDir, ".build-")
	if err != nil {
		return nil, fmt.Errorf("plugins: create a build directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	// Plugins build buildParallelism at a time; the first failure cancels
	// the builds still running and is the one reported.
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job func(ctx context.Context) ([]string, error)
	var jobs []job
	for _, p := range plugins {
		jobs = append(jobs, func(ctx context.Context) ([]string, error) { return buildPlugin(ctx, root, tmp, outDir, p) })
	}
	for _, g := range programs {
		jobs = append(jobs, func(ctx context.Context) ([]string, error) { return buildForeign(ctx, root, tmp, outDir, g) })
	}
	written := make([][]string, len(jobs))
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, buildParallelism)
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if bctx.Err() != nil {
				return
			}
			paths, err := j(bctx)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				cancel()
				return
			}
			written[i] = paths
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("plugins: build: %w", err)
	}
	var paths []string
	for _, w := range written {
		paths = append(paths, w...)
	}
	sort.Strings(paths)
	return paths, nil
}

// NodeAvailable reports whether node and npm are on the PATH, which the
// adapters written in AssemblyScript need to be built.
func NodeAvailable() bool { return npmpin.Available() }

// ToolchainMissing says what is missing to build the adapters written in
// language (a Foreign's Language), with the Debian packages that bring it;
// "" when it is all installed.
func ToolchainMissing(ctx context.Context, language string) string {
	switch language {
	case LanguageAssemblyScript:
		if !NodeAvailable() {
			return "Node.js and npm are not installed (" + NodeInstall + ")"
		}
		return ""
	case LanguageC:
		return cToolchainMissing(ctx)
	}
	return "no toolchain builds the language " + strconv.Quote(language)
}

// NodeInstall is how to install what the AssemblyScript adapters need.
const NodeInstall = "Debian: apt-get install nodejs npm"

// foreignPrograms groups the foreigns by program (their Dir), in the order
// of their first deployment's name: each program is compiled once.
func foreignPrograms(foreigns []Foreign) [][]Foreign {
	var out [][]Foreign
	at := map[string]int{}
	for _, f := range foreigns {
		i, ok := at[f.Dir]
		if !ok {
			i = len(out)
			at[f.Dir] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], f)
	}
	return out
}

// buildForeign compiles one program written in another language, the
// deployments of one Dir, and writes <outDir>/<adapter-name>.wasm for each
// with its manifest embedded.
func buildForeign(ctx context.Context, root, tmp, outDir string, program []Foreign) ([]string, error) {
	f := program[0]
	dir := filepath.Join(root, "plugins", filepath.FromSlash(f.Dir))
	var wasm []byte
	var err error
	switch f.Language {
	case LanguageAssemblyScript:
		wasm, err = compileAssemblyScript(ctx, dir, tmp, f.Manifest.Name)
	case LanguageC:
		var warnings string
		wasm, warnings, err = compileC(ctx, dir, tmp, path.Base(path.Dir(f.Dir))+"-c")
		if warnings != "" {
			slog.Warn("plugins: the C compiler warned about "+f.Dir, slog.String("diagnostics", warnings))
		}
	default:
		err = fmt.Errorf("plugins: %s: no toolchain builds the language %q", f.Dir, f.Language)
	}
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, f := range program {
		out, err := manifest.Embed(wasm, f.Manifest)
		if err != nil {
			return nil, fmt.Errorf("plugins: embed the manifest of %s: %w", f.Manifest.Name, err)
		}
		dst := filepath.Join(outDir, f.Manifest.Name+".wasm")
		if err := writeFileAtomic(dst, out); err != nil {
			return nil, err
		}
		paths = append(paths, dst)
	}
	return paths, nil
}

// compileAssemblyScript compiles dir/assembly/index.ts into a reactor: its
// start function exported as _initialize (the host calls it first), its
// abort routed to the adapter's own onAbort so that the module imports
// nothing but pont, and the incremental garbage collector.
func compileAssemblyScript(ctx context.Context, dir, tmp, name string) ([]byte, error) {
	asc, err := installAssemblyScript(ctx, dir)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(tmp, name+".wasm")
	cmd := exec.CommandContext(ctx, "node", asc, "assembly/index.ts",
		"--outFile", out, "-O3", "--runtime", "incremental",
		"--exportStart", "_initialize", "--use", "abort=assembly/index/onAbort")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("plugins: build %s with AssemblyScript: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("plugins: read the module of %s: %w", name, err)
	}
	return wasm, nil
}

// installAssemblyScript installs the compiler that dir's package-lock.json
// pins and returns the path of asc.js.
func installAssemblyScript(ctx context.Context, dir string) (string, error) {
	asc, err := npmpin.Install(ctx, dir, "assemblyscript/bin/asc.js")
	if err != nil {
		return "", fmt.Errorf("plugins: installing AssemblyScript (Node.js and npm are needed to build the AssemblyScript adapter): %w", err)
	}
	return asc, nil
}

// buildPlugin compiles one plugin and writes a module per manifest.
func buildPlugin(ctx context.Context, root, tmp, outDir string, p Plugin) ([]string, error) {
	wasm, err := compile(ctx, root, tmp, p.Dir)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, m := range p.Manifests {
		out, err := manifest.Embed(wasm, m)
		if err != nil {
			return nil, fmt.Errorf("plugins: embed the manifest of %s: %w", m.Name, err)
		}
		dst := filepath.Join(outDir, m.Name+".wasm")
		if err := writeFileAtomic(dst, out); err != nil {
			return nil, err
		}
		paths = append(paths, dst)
	}
	return paths, nil
}

// compile builds one plugin's adapter and returns the module's bytes.
func compile(ctx context.Context, root, tmp, dir string) ([]byte, error) {
	out := filepath.Join(tmp, dir+".wasm")
	cmd := exec.CommandContext(ctx, "go", "build",
		"-buildmode=c-shared", "-trimpath", "-ldflags=-s -w",
		"-o", out, "./plugins/"+dir+"/adapter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("plugins: build %s: %w: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("plugins: read the module of %s: %w", dir, err)
	}
	return wasm, nil
}

// moduleRoot finds the module's source tree: beside this file when the
// binary was built from a checkout without -trimpath, else the module the
// go command sees from the working directory.
func moduleRoot(ctx context.Context) (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Dir(filepath.Dir(file))
		if isModuleRoot(root) {
			return root, nil
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("plugins: find the module root with go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("plugins: the working directory is not inside the " + modulePath + " module; run from its checkout")
	}
	root := filepath.Dir(gomod)
	if !isModuleRoot(root) {
		return "", fmt.Errorf("plugins: %s is not the %s module", gomod, modulePath)
	}
	return root, nil
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == modulePath
		}
	}
	return false
}

// writeFileAtomic writes through a temporary file and a rename, so that a
// reader (a running pont dev) never sees half a module.
func writeFileAtomic(dst string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("plugins: write %s: %w", dst, err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("plugins: write %s: %w", dst, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("plugins: write %s: %w", dst, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("plugins: write %s: %w", dst, err)
	}
	return nil
}
