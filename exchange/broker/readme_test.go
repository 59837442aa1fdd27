package broker_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamplesWork runs the README's shell examples, exactly as
// printed but for the address, against a running dev node: a newcomer's
// first commands must work.
func TestReadmeExamplesWork(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the README's examples use it")
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var script []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		if strings.Contains(m[1], "http://127.0.0.1:8080/") {
			script = append(script, m[1])
		}
	}
	if len(script) < 3 {
		t.Fatalf("found %d examples in README.md, want the token, query, refusal and audit examples", len(script))
	}
	n := startDev(t)
	body := strings.ReplaceAll(strings.Join(script, "\necho\n"), "http://127.0.0.1:8080", n.base)
	out, err := exec.Command("bash", "-euo", "pipefail", "-c", body).CombinedOutput()
	if err != nil {
		t.Fatalf("the README's examples failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		`"status":{"code":"0003","text":"Tramitada"}`, `"adapter":"padro-08019"`,
		`"code":"legal_basis_required"`,
		`"items":[`, `"decision":"deny"`, `"decision":"allow"`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the examples' output lacks %s:\n%s", want, out)
		}
	}
}
