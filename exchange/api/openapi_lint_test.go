package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/pontexchange/pont/internal/npmpin"
	"github.com/pontexchange/pont/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lintDir holds the pinned linter (package.json, package-lock.json) and its
// configuration.
const lintDir = "openapi-lint"

// acceptedLintWarnings are the linter's warnings that the description keeps
// on purpose, by rule and JSON pointer; any other warning fails the test.
var acceptedLintWarnings = map[string]string{
	"info-license #/info": "the repository carries no licence to name yet",
	// A path or method no route serves is the 404 or 405 any path may
	// answer, which the description's conventions state once.
	"operation-4xx-response #/paths/~1healthz/get/responses":               noOwn4xx,
	"operation-4xx-response #/paths/~1readyz/get/responses":                noOwn4xx,
	"operation-4xx-response #/paths/~1metrics/get/responses":               noOwn4xx,
	"operation-4xx-response #/paths/~1openapi.json/get/responses":          noOwn4xx,
	"operation-4xx-response #/paths/~1v1~1catalog~1services/get/responses": noOwn4xx,
}

// noOwn4xx is why an operation without a 4xx answer is right.
const noOwn4xx = "the operation takes no body, parameter or token, so it has no 4xx answer of its own"

// lintReport is the part of the linter's JSON output the test reads.
type lintReport struct {
	Totals struct {
		Errors   int `json:"errors"`
		Warnings int `json:"warnings"`
	} `json:"totals"`
	Version  string `json:"version"`
	Problems []struct {
		RuleID   string `json:"ruleId"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
		Location []struct {
			Pointer string `json:"pointer"`
			Start   struct {
				Line int `json:"line"`
			} `json:"start"`
		} `json:"location"`
	} `json:"problems"`
}

// TestOpenAPILint runs an independent linter, Redocly CLI with its
// recommended rules, on the description the server embeds and serves: no
// error, and no warning but the accepted ones.
func TestOpenAPILint(t *testing.T) {
	cli := redoclyCLI(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "openapi.json"), openapiJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	config, err := filepath.Abs(filepath.Join(lintDir, "redocly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", cli, "lint", "--config", config, "--format", "json", "openapi.json")
	cmd.Dir = dir
	// Offline and quiet: no usage report, no update notice.
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run() // non-zero when there are errors: the report says which

	var report lintReport
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("the linter's output is not its JSON report (%v, %v):\n%s\n%s", runErr, err, stdout.Bytes(), stderr.Bytes())
	}
	accepted := 0
	for _, p := range report.Problems {
		var at string
		line := 0
		if len(p.Location) > 0 {
			at, line = p.Location[0].Pointer, p.Location[0].Start.Line
		}
		if p.Severity == "warn" || p.Severity == "warning" {
			if why, ok := acceptedLintWarnings[p.RuleID+" "+at]; ok {
				t.Logf("accepted: %s at %s: %s", p.RuleID, at, why)
				accepted++
				continue
			}
		}
		t.Errorf("openapi.json:%d: %s %s at %s: %s", line, p.Severity, p.RuleID, at, p.Message)
	}
	if report.Totals.Errors == 0 && runErr != nil {
		t.Errorf("the linter failed without reporting an error: %v\n%s", runErr, stderr.Bytes())
	}
	t.Logf("Redocly CLI %s: %d errors, %d warnings (%d accepted)", report.Version, report.Totals.Errors, report.Totals.Warnings, accepted)
}

// redoclyCLI answers the path of the linter's entry point, installed from
// lintDir's package-lock.json with npm ci into the user's cache directory on
// first use (one directory per lock file, shared by later runs), the way
// the plugins' build installs AssemblyScript. Without node and npm the test
// is skipped, loudly, unless PONT_REQUIRE_POSTGRES=1 says that this is CI,
// where they are installed.
func redoclyCLI(t *testing.T) string {
	t.Helper()
	testenv.NeedTools(t, "Node.js 20.19+ with npm; Debian: apt-get install nodejs npm", "node", "npm")
	cli, err := installLinter(lintDir)
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// installLinter installs dir's pinned packages into the user's cache
// directory unless they are there, and answers the path of Redocly CLI's
// entry point.
func installLinter(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cli, err := npmpin.Install(ctx, dir, "@redocly/cli/bin/cli.js")
	if err != nil {
		return "", fmt.Errorf("openapi lint: installing Redocly CLI: %w", err)
	}
	return cli, nil
}

// TestAcceptedLintWarningsExist keeps the accepted warnings honest: each
// names an operation of the description that really has no 4xx answer.
func TestAcceptedLintWarningsExist(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	for key := range acceptedLintWarnings {
		rule, ptr, _ := strings.Cut(key, " ")
		if rule != "operation-4xx-response" {
			continue
		}
		parts := strings.Split(strings.TrimPrefix(ptr, "#/paths/"), "/")
		if len(parts) != 3 {
			t.Errorf("%s: not a pointer to an operation's responses", key)
			continue
		}
		path := strings.NewReplacer("~1", "/", "~0", "~").Replace(parts[0])
		op, ok := doc.Paths[path][parts[1]]
		if !ok {
			t.Errorf("%s: the description has no %s %s", key, parts[1], path)
			continue
		}
		for c := range op.Responses {
			if strings.HasPrefix(c, "4") {
				t.Errorf("%s: %s %s answers %s, so its warning is no longer expected", key, parts[1], path, c)
			}
		}
	}
}
