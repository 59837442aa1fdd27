// Package testenv is what tests ask of the machine they run on: a tool on
// the PATH. Where it is missing a test is skipped with a message that says
// what to install, except in CI (PONT_REQUIRE_POSTGRES=1, set by .ci/run,
// which installs every tool first), where it fails: CI never skips.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under .ci/run, where nothing may be
// skipped for want of a tool.
func InCI() bool { return os.Getenv("PONT_REQUIRE_POSTGRES") == "1" }

// NeedTools skips t, or fails it in CI, unless every tool is on the PATH;
// install says how to get them (e.g. "apt-get install nodejs npm").
func NeedTools(t testing.TB, install string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed, so this test did NOT run (" + install + ")"
			if InCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}
