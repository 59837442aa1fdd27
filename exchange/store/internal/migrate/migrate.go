// Package migrate reads a backend's versioned schema migrations from an
// embedded directory. It changes when the naming rule of migration files
// changes; applying them is each backend's business, since locking differs.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change, applied once, in Version order.
type Migration struct {
	Version int    // from the file name's numeric prefix, 1, 2, 3...
	Name    string // the file name, for error messages
	SQL     string
}

// Load returns the migrations in dir of fsys: files named NNNN_description.sql,
// numbered from 1 without gaps or repeats, sorted by number. A gap is refused
// because it usually means a file was lost in a merge, and skipping it would
// leave databases with different schemas under the same version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", dir, err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			return nil, fmt.Errorf("migrate: %s: want NNNN_description.sql", e.Name())
		}
		v, err := strconv.Atoi(prefix)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("migrate: %s: version %q is not a positive number", e.Name(), prefix)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrate: %s: version %d, want %d (gap or repeat)", m.Name, m.Version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("migrate: no migrations in %s", dir)
	}
	return ms, nil
}

// Latest returns the version of the last migration in dir of fsys: the
// schema version a binary with these files needs.
func Latest(fsys fs.FS, dir string) (int, error) {
	ms, err := Load(fsys, dir)
	if err != nil {
		return 0, err
	}
	return ms[len(ms)-1].Version, nil
}
