package policy

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// RunTests runs the Rego tests (test_* rules) of every .rego file in fsys,
// the policies compiled together with their *_test.rego files, against data
// (nil for none: the tests usually bring their own with `with data... as`).
// It returns the count of passed and failed tests and a report with one line
// per test, failures first; err is set only when the tests could not run (a
// file that does not parse or compile, no tests at all).
func RunTests(ctx context.Context, fsys fs.FS, data map[string]any) (passed, failed int, report string, err error) {
	files, err := readPolicies(fsys, true)
	if err != nil {
		return 0, 0, "", err
	}
	modules, err := parse(files)
	if err != nil {
		return 0, 0, "", err
	}
	doc, _, err := normalise(data)
	if err != nil {
		return 0, 0, "", err
	}
	store := newStore(doc)
	txn, err := store.NewTransaction(ctx, storage.TransactionParams{})
	if err != nil {
		return 0, 0, "", fmt.Errorf("policy: test store: %w", err)
	}
	defer store.Abort(ctx, txn)

	runner := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(true).
		// As in Engine.Decide: a builtin's error (a malformed date) makes
		// its expression undefined, and the policies rely on that.
		RaiseBuiltinErrors(false)
	ch, err := runner.RunTests(ctx, txn)
	if err != nil {
		return 0, 0, "", fmt.Errorf("policy: run tests: %w", err)
	}

	var passes, failures []string
	for r := range ch {
		line := fmt.Sprintf("%s: %s.%s", r.Location, r.Package, r.Name)
		switch {
		case r.Pass():
			passed++
			passes = append(passes, "PASS "+line)
		case r.Skip:
			// A skipped test (todo_test_*) is neither passed nor failed.
			passes = append(passes, "SKIP "+line)
		default:
			failed++
			msg := "FAIL " + line
			if r.Error != nil {
				msg += ": " + r.Error.Error()
			}
			if len(r.SubResults) > 0 {
				msg += "\n" + strings.TrimRight(r.SubResults.String(), "\n")
			}
			if len(r.Output) > 0 {
				msg += "\n" + strings.TrimRight(string(r.Output), "\n")
			}
			failures = append(failures, msg)
		}
	}
	if err := ctx.Err(); err != nil {
		return passed, failed, "", fmt.Errorf("policy: run tests: %w", err)
	}
	if passed+failed == 0 {
		return 0, 0, "", fmt.Errorf("policy: no Rego tests found")
	}
	sort.Strings(failures)
	sort.Strings(passes)
	var b strings.Builder
	for _, l := range append(failures, passes...) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d passed, %d failed\n", passed, failed)
	return passed, failed, b.String(), nil
}
