// Package testenv is what tests ask of the machine they run on: a tool on
// the PATH. Where it is missing a test is skipped with a message that says
// what to install, except in CI (PONT_REQUIRE_POSTGRES=1, set by .ci/run,
// which installs every tool first), where it fails: CI never skips. A tool
// may also have a switch of its own, PONT_REQUIRE_<WHAT>=1, that makes its
// tests fail rather than skip outside CI (PONT_REQUIRE_BROWSER: Chromium,
// for the browser tests of e2e/).
package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// InCI reports whether the tests run under .ci/run, where nothing may be
// skipped for want of a tool.
func InCI() bool { return os.Getenv("PONT_REQUIRE_POSTGRES") == "1" }

// Required reports whether a test may not be skipped for want of what the
// variable env (a PONT_REQUIRE_<WHAT>) stands for: env is 1, or this is CI.
func Required(env string) bool { return InCI() || os.Getenv(env) == "1" }

// NeedTools skips t, or fails it in CI, unless every tool is on the PATH;
// install says how to get them (e.g. "apt-get install nodejs npm").
func NeedTools(t testing.TB, install string, tools ...string) {
	t.Helper()
	needTools(t, InCI(), install, tools)
}

// NeedRequiredTools is NeedTools for tools that a switch of their own also
// requires: t fails instead of being skipped when Required(env).
func NeedRequiredTools(t testing.TB, env, install string, tools ...string) {
	t.Helper()
	needTools(t, Required(env), install, tools)
}

func needTools(t testing.TB, required bool, install string, tools []string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := tool + " is not installed, so this test did NOT run (" + install + ")"
			if required {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// SyncBuffer is a bytes.Buffer that a process's (or a node's) writes and a
// test's reads may share.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
