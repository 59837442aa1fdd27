package broker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/broker"
)

const maintenanceRego = `package pont

reasons contains {"code": "not_authorized", "message": "the service is closed for maintenance"} if {
	input.service.name == "padro"
}
`

// copyPolicies copies the policies (tests included, as an operator would) to a new directory.
func copyPolicies(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob("../../policies/*.rego")
	if err != nil || len(files) == 0 {
		t.Fatalf("policies: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPoliciesReloadOnChange(t *testing.T) {
	dir := copyPolicies(t)
	n := startDevWith(t, broker.Config{PoliciesDir: dir})
	tok := n.requester(barcelona)
	padro := func() (int, map[string]any) {
		status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))
		return status, out
	}
	if status, out := padro(); status != 200 {
		t.Fatalf("before: %d %v", status, out)
	}

	if err := os.WriteFile(filepath.Join(dir, "maintenance.rego"), []byte(maintenanceRego), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new rule to apply", func() bool {
		status, out := padro()
		return status == 403 && strings.Contains(out["detail"].(string), "maintenance")
	})

	// A policy that does not compile is refused; the one serving stays.
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package pont\n\nreasons contains x if {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // past a watch tick
	if status, out := padro(); status != 403 || !strings.Contains(out["detail"].(string), "maintenance") {
		t.Fatalf("after a broken file: %d %v", status, out)
	}

	// Mended and back to the original set.
	for _, f := range []string{"broken.rego", "maintenance.rego"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the original policies to return", func() bool { status, _ := padro(); return status == 200 })

	// Each record names the revision that decided it: three revisions were used.
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	_, page, _ := n.do("GET", "/v1/audit/transfers?limit=1000", auditor, nil)
	revisions := map[string]bool{}
	for _, it := range page["items"].([]any) {
		revisions[it.(map[string]any)["policy_revision"].(string)] = true
	}
	if len(revisions) != 2 {
		t.Errorf("records name %d policy revisions, want 2 (original and maintenance): %v", len(revisions), revisions)
	}
}

func TestPoliciesReloadOnDemand(t *testing.T) {
	ctx := context.Background()
	dir := copyPolicies(t)
	b, err := broker.New(ctx, withDevParts(t, broker.Config{PoliciesDir: dir}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	first, err := b.ReloadPolicies(ctx)
	if err != nil || len(first) != 64 {
		t.Fatalf("reload: %q %v", first, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package pont\n\nreasons contains x if {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReloadPolicies(ctx); err == nil || !strings.Contains(err.Error(), "broken.rego") {
		t.Fatalf("a broken policy was not refused with its file named: %v", err)
	}
	os.Remove(filepath.Join(dir, "broken.rego"))
	if err := os.WriteFile(filepath.Join(dir, "maintenance.rego"), []byte(maintenanceRego), 0o644); err != nil {
		t.Fatal(err)
	}
	second, err := b.ReloadPolicies(ctx)
	if err != nil || second == first {
		t.Fatalf("reload after a change: %q (was %q) %v", second, first, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
