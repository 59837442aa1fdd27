package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// devFiles are the command's files that may use development fixtures: pont
// dev (the simulated sources, the embedded store) and the tools (pont
// adapter build compiles the reference adapters).
var devFiles = []string{"dev.go", "tools.go"}

// TestServeCarriesNoFixtures keeps pont serve's code path clear of the
// development fixtures. One binary holds both commands, so `go list -deps`
// of the command names them; instead, every other file of the command may
// import only packages that do not depend on a fixture, and may not refer
// to what the development files declare (main.go's run, which dispatches to
// every command, aside).
func TestServeCarriesNoFixtures(t *testing.T) {
	const module = "github.com/pontexchange/pont"
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		if files[p], err = parser.ParseFile(fset, p, nil, 0); err != nil {
			t.Fatal(err)
		}
	}

	devDecls := map[string]string{} // name -> file
	for _, name := range devFiles {
		f, ok := files[name]
		if !ok {
			t.Fatalf("no %s: update devFiles", name)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					devDecls[d.Name.Name] = name
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						devDecls[s.Name.Name] = name
					case *ast.ValueSpec:
						for _, n := range s.Names {
							devDecls[n.Name] = name
						}
					}
				}
			}
		}
	}
	if devDecls["runDev"] != "dev.go" {
		t.Fatalf("dev.go declares no runDev: %v", devDecls)
	}

	imports := map[string]bool{}
	for name, f := range files {
		if slices.Contains(devFiles, name) {
			continue
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imports[p] = true
		}
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && name == "main.go" && fd.Name.Name == "run" && fd.Recv == nil {
				continue
			}
			ast.Inspect(d, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && devDecls[id.Name] != "" {
					t.Errorf("%s refers to %s, which %s declares for development only", fset.Position(id.Pos()), id.Name, devDecls[id.Name])
				}
				return true
			})
		}
	}
	if !imports[module+"/exchange/broker"] || !imports[module+"/exchange/store/postgres"] {
		t.Fatalf("the command's other files do not import the broker and the PostgreSQL store: %v", imports)
	}

	list := make([]string, 0, len(imports))
	for p := range imports {
		list = append(list, p)
	}
	sort.Strings(list)
	out, err := exec.Command("go", append([]string{"list", "-deps"}, list...)...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("%w: %s", err, ee.Stderr)
	}
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == module+"/plugins" || strings.HasPrefix(p, module+"/plugins/") || p == module+"/exchange/store/sqlite" {
			t.Errorf("pont serve's code depends on the development fixture %s", p)
		}
	}
}
