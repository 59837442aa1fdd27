// Package npmpin installs the npm packages that a directory's
// package-lock.json pins (the AssemblyScript compiler of the reference
// adapter, the OpenAPI linter of the tests) into the user's cache
// directory, once per lock file, so that builds and tests share them and
// the source tree stays clean. It changes when the way Pont fetches its
// Node.js tools changes.
package npmpin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Available reports whether node and npm are on the PATH.
func Available() bool {
	_, errNode := exec.LookPath("node")
	_, errNpm := exec.LookPath("npm")
	return errNode == nil && errNpm == nil
}

// Install installs the packages that dir's package.json and
// package-lock.json pin, with npm ci, unless they are installed already,
// and returns the path of entry (a path under node_modules, such as
// "assemblyscript/bin/asc.js"). Concurrent installs work in temporary
// directories of their own; the first rename wins and the others use it.
func Install(ctx context.Context, dir, entry string) (string, error) {
	pkg, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", fmt.Errorf("npm packages of %s: %w", dir, err)
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return "", fmt.Errorf("npm packages of %s: %w", dir, err)
	}
	sum := sha256.Sum256(append(append(pkg, 0), lock...))
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	target := filepath.Join(base, "pont", "npm", hex.EncodeToString(sum[:8]))
	path := filepath.Join(target, "node_modules", filepath.FromSlash(entry))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if !Available() {
		return "", errors.New("Node.js and npm are not installed (Debian: apt-get install nodejs npm)")
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("npm packages of %s: %w", dir, err)
	}
	work, err := os.MkdirTemp(filepath.Dir(target), ".install-")
	if err != nil {
		return "", fmt.Errorf("npm packages of %s: %w", dir, err)
	}
	defer os.RemoveAll(work)
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			return "", fmt.Errorf("npm packages of %s: %w", dir, err)
		}
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = work
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm ci of %s: %w: %s", dir, err, strings.TrimSpace(out.String()))
	}
	if err := os.Rename(work, target); err != nil {
		// Another build installed the same lock file first.
		if _, serr := os.Stat(path); serr != nil {
			return "", fmt.Errorf("npm packages of %s: install into %s: %w", dir, target, err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("npm packages of %s: %s is not installed: %w", dir, entry, err)
	}
	return path, nil
}
