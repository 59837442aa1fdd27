// Package pluginstest builds the reference adapters once for a test
// package that starts nodes with them.
package pluginstest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pontexchange/pont/plugins"
)

// Main builds the reference adapters into a new temporary directory, sets
// *modulesDir to it and *cacheDir to a compilation cache inside it (so
// that only the package's first node compiles them), runs the tests,
// removes the directory and exits with the tests' code. Call it from
// TestMain.
func Main(m *testing.M, modulesDir, cacheDir *string) {
	dir, err := os.MkdirTemp("", "pont-test-modules-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := plugins.Build(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, "building the reference adapters:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	*modulesDir, *cacheDir = dir, filepath.Join(dir, "cache")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
