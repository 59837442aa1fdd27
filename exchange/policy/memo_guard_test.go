package policy

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	opa "github.com/open-policy-agent/opa/v1/ast"
)

// objectPkg is the import path of OPA's ast package, where Object is.
const objectPkg = "github.com/open-policy-agent/opa/v1/ast"

// unexportedReviewed are the unexported methods of ast.Object, with why
// tracked may leave each to its embedded object. tracked cannot override
// them (only package ast can declare them), so what guards the memo is
// that OPA never calls them through the interface, where a *tracked would
// answer from the embedded object unobserved: TestOPANeverCallsObjectGet
// checks that of the OPA version in go.mod. A new unexported method is to
// be reviewed likewise before it is added here.
var unexportedReviewed = map[string]string{
	"get": "a marker that keeps other packages from implementing Object; " +
		"OPA's own objects answer nil and OPA never calls it through Object",
}

// trackedMethods returns the names of the methods declared on tracked in
// memo.go itself: a method that the embedded Object promotes does not
// count, since it answers without recording the read.
func trackedMethods(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "memo.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse memo.go: %v", err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
			continue
		}
		typ := fn.Recv.List[0].Type
		if star, ok := typ.(*ast.StarExpr); ok {
			typ = star.X
		}
		if id, ok := typ.(*ast.Ident); ok && id.Name == "tracked" {
			declared[fn.Name.Name] = true
		}
	}
	return declared
}

// TestTrackedOverridesObject fails when ast.Object, as the OPA version in
// go.mod declares it, has an exported method that tracked does not declare
// itself, or an unexported one nobody has reviewed: OPA would call it on
// the input and the embedded object would answer, unobserved by the memo,
// which would then hand one input's decision to another.
func TestTrackedOverridesObject(t *testing.T) {
	declared := trackedMethods(t)
	iface := reflect.TypeFor[opa.Object]()
	// reflect lists an interface's unexported methods too.
	var exported, unexported []string
	for i := range iface.NumMethod() {
		m := iface.Method(i)
		if m.IsExported() {
			exported = append(exported, m.Name)
			if !declared[m.Name] {
				t.Errorf("ast.Object has %s%s, which tracked (memo.go) does not declare: the memo would not observe it; declare it on *tracked, recording what it reads", m.Name, strings.TrimPrefix(m.Type.String(), "func"))
			}
			continue
		}
		unexported = append(unexported, m.Name)
		if _, ok := unexportedReviewed[m.Name]; !ok {
			t.Errorf("ast.Object has an unexported method %s, which tracked cannot override: check that OPA never calls it through Object (as TestOPANeverCallsObjectGet does for get), or give up the memo", m.Name)
		}
	}
	// A method set this small means reflect did not see the interface.
	if len(exported) < 20 || !slices.Contains(exported, "Get") {
		t.Fatalf("ast.Object's exported methods read as %v", exported)
	}
	t.Logf("ast.Object: %d exported methods; unexported %v", len(exported), unexported)
}

// TestOPANeverCallsObjectGet type-checks OPA's ast package, as go.mod
// pins it, and fails if any of its code calls, or takes as a value, an
// unexported method of Object through the interface: on the input that
// would reach tracked's embedded object unobserved. Calls on OPA's
// concrete objects are no concern: the input is never one of those.
func TestOPANeverCallsObjectGet(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks OPA's ast package")
	}
	dir, files, exports := listPackage(t, objectPkg)
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		parsed = append(parsed, f)
	}
	conf := types.Config{
		Importer: importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
			export, ok := exports[path]
			if !ok || export == "" {
				return nil, os.ErrNotExist
			}
			return os.Open(export)
		}),
	}
	info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
	pkg, err := conf.Check(objectPkg, fset, parsed, info)
	if err != nil {
		t.Fatalf("type-check %s: %v", objectPkg, err)
	}
	calls, hidden := hiddenCalls(t, pkg, info, "Object")
	if hidden == 0 {
		t.Fatal("Object has no unexported method: nothing was checked (update unexportedReviewed)")
	}
	for _, c := range calls {
		t.Errorf("%s: a tracked input would answer it unobserved", fset.Position(c.Pos()))
	}
	t.Logf("%d selections in %d files; none of Object's %d unexported methods used through it", len(info.Selections), len(files), hidden)
}

// hiddenCalls returns the selections in info of an unexported method of
// the interface named name in pkg, made through that interface, and how
// many such methods it has.
func hiddenCalls(t *testing.T, pkg *types.Package, info *types.Info, name string) ([]*ast.SelectorExpr, int) {
	t.Helper()
	iface, ok := pkg.Scope().Lookup(name).Type().Underlying().(*types.Interface)
	if !ok {
		t.Fatalf("%s.%s is not an interface", pkg.Path(), name)
	}
	var hidden []*types.Func
	for m := range iface.Methods() {
		if !m.Exported() {
			hidden = append(hidden, m)
		}
	}
	var calls []*ast.SelectorExpr
	for sel, s := range info.Selections {
		if f, ok := s.Obj().(*types.Func); ok && slices.Contains(hidden, f) {
			calls = append(calls, sel)
		}
	}
	return calls, len(hidden)
}

// TestHiddenCallsFindsCalls: the check above finds a call, and a method
// value, of an unexported interface method, and not the same method called
// on a concrete type.
func TestHiddenCallsFindsCalls(t *testing.T) {
	const src = `package p

type Object interface {
	Get(int) int
	get(int) *int
}

type object struct{}

func (object) Get(int) int  { return 0 }
func (object) get(int) *int { return nil }

func viaInterface(o Object) *int { return o.get(1) }
func methodValue(o Object) func(int) *int { return o.get }
func concrete(o object) *int { return o.get(1) }
func exported(o Object) int { return o.Get(1) }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
	pkg, err := (&types.Config{}).Check("p", fset, []*ast.File{f}, info)
	if err != nil {
		t.Fatal(err)
	}
	calls, hidden := hiddenCalls(t, pkg, info, "Object")
	var lines []int
	for _, c := range calls {
		lines = append(lines, fset.Position(c.Pos()).Line)
	}
	slices.Sort(lines)
	if hidden != 1 || !slices.Equal(lines, []int{13, 14}) {
		t.Errorf("%d hidden methods, used on lines %v; want 1, on lines [13 14]", hidden, lines)
	}
}

// listPackage asks the go command for the directory and Go files of the
// package at path and for the export data of every package it imports,
// compiling them if need be (they are in the build cache once the tests
// are built, since this package imports OPA).
func listPackage(t *testing.T, path string) (dir string, files []string, exports map[string]string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}\n{{join .GoFiles \" \"}}", path).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", path, err)
	}
	lines := strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)
	if len(lines) != 2 {
		t.Fatalf("go list %s: %q", path, out)
	}
	dir, files = lines[0], strings.Fields(lines[1])
	out, err = exec.Command("go", "list", "-deps", "-export", "-f", "{{.ImportPath}} {{.Export}}", path).Output()
	if err != nil {
		t.Fatalf("go list -export %s: %v", path, err)
	}
	exports = map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if p, export, ok := strings.Cut(sc.Text(), " "); ok {
			exports[p] = export
		}
	}
	return dir, files, exports
}
