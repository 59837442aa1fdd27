package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
)

// jsonRecords decodes the JSON Lines output of pont audit search, each
// line strictly as the audit API's wire type.
func jsonRecords(t *testing.T, out string) []types.TransferV1 {
	t.Helper()
	var recs []types.TransferV1
	for line := range strings.Lines(out) {
		var r types.TransferV1
		if err := strictJSON(line, &r); err != nil {
			t.Fatalf("line %q is not a record: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func TestAuditSearchCommand(t *testing.T) {
	n := startDevNode(t)
	req := n.token(t, auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"})
	auditor := n.token(t, auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-1"})

	// Five answered queries, two refused ones and one for an unknown subject
	// (allowed, then subject_not_found).
	var answered []string
	for range 5 {
		status, out := query(t, n.base, req, "padro", "12345678Z", map[string]any{"municipality": "08019"}, nil)
		if status != http.StatusOK {
			t.Fatalf("padro: %d %v", status, out)
		}
		answered = append(answered, out["transfer_id"].(string))
	}
	for range 2 {
		if status, out := query(t, n.base, req, "discapacitat", "12345678Z", map[string]any{"region": "09"}, nil); status != http.StatusForbidden {
			t.Fatalf("discapacitat on a presumed basis: %d %v", status, out)
		}
	}
	if status, out := query(t, n.base, req, "padro", "00000000T", map[string]any{"municipality": "08019"}, nil); status != http.StatusNotFound {
		t.Fatalf("unknown subject: %d %v", status, out)
	}

	search := func(args ...string) []string {
		return append([]string{"audit", "search", "--server", n.base, "--token", auditor}, args...)
	}
	t.Run("json, following cursors", func(t *testing.T) {
		saved := pageSize
		pageSize = 2 // four pages for seven records
		defer func() { pageSize = saved }()
		code, out, errs := pontRun(t, search("--subject", "12345678Z", "--format", "json")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		recs := jsonRecords(t, out)
		if len(recs) != 7 {
			t.Fatalf("%d records, want 7:\n%s", len(recs), out)
		}
		seen := map[string]bool{}
		for i, r := range recs {
			if r.Subject != "12345678Z" || seen[r.ID] {
				t.Errorf("record %d: subject %s, repeated %v", i, r.Subject, seen[r.ID])
			}
			seen[r.ID] = true
			if i > 0 && r.Time.After(recs[i-1].Time) {
				t.Errorf("record %d is newer than the one before", i)
			}
		}
		for _, id := range answered {
			if !seen[id] {
				t.Errorf("answered transfer %s is missing", id)
			}
		}
	})
	t.Run("filters and limit", func(t *testing.T) {
		saved := pageSize
		pageSize = 2
		defer func() { pageSize = saved }()
		for _, c := range []struct {
			args []string
			want int
		}{
			{[]string{"--decision", "deny"}, 2},
			{[]string{"--decision", "allow", "--service", "padro"}, 6}, // the unknown subject's too
			{[]string{"--decision", "deny", "--service", "padro"}, 0},
			{[]string{"--requester", "P0801900B", "--procedure", "DEMO", "--purpose", "demo", "--official", "38000001E"}, 8},
			{[]string{"--limit", "3"}, 3},
			{[]string{"--limit", "100"}, 8},
			{[]string{"--from", "2000-01-01", "--to", "2000-01-02"}, 0},
			{[]string{"--subject", "99999999R"}, 0},
		} {
			code, out, errs := pontRun(t, search(append(c.args, "--format", "json")...)...)
			if code != 0 {
				t.Fatalf("%v: exit %d: %s", c.args, code, errs)
			}
			if got := len(jsonRecords(t, out)); got != c.want {
				t.Errorf("%v: %d records, want %d", c.args, got, c.want)
			}
		}
	})
	t.Run("table", func(t *testing.T) {
		t.Setenv("PONT_TOKEN", auditor) // the token from the environment
		code, out, errs := pontRun(t, "audit", "search", "--server", n.base, "--service", "padro", "--decision", "allow", "--subject", "12345678Z")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 6 || !strings.HasPrefix(lines[0], "TIME ") || !strings.Contains(lines[0], "DECISION") {
			t.Fatalf("table:\n%s", out)
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) != 9 || f[3] != "12345678Z" || f[4] != "padro" || f[7] != "allow" || f[8] != "ok" {
				t.Errorf("row %q", l)
			}
		}
		if code, _, errs := pontRun(t, "audit", "search", "--server", n.base, "--subject", "99999999R"); code != 0 || !strings.Contains(errs, "no transfer matches") {
			t.Errorf("empty table: exit %d, stderr %q", code, errs)
		}
	})
	t.Run("csv", func(t *testing.T) {
		code, out, errs := pontRun(t, search("--format", "csv", "--subject", "12345678Z")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, out)
		}
		if len(rows) != 8 || rows[0][0] != "id" {
			t.Fatalf("%d rows (want the header and 7):\n%s", len(rows), out)
		}
		code, out, _ = pontRun(t, search("--format", "csv", "--limit", "2")...)
		if rows, err := csv.NewReader(strings.NewReader(out)).ReadAll(); code != 0 || err != nil || len(rows) != 3 {
			t.Errorf("--limit 2: exit %d, %d rows, %v", code, len(rows), err)
		}
	})
	t.Run("show", func(t *testing.T) {
		code, out, errs := pontRun(t, "audit", "show", answered[0], "--server", n.base, "--token", auditor)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var r types.TransferV1
		if err := strictJSON(out, &r); err != nil || r.ID != answered[0] || r.Decision != "allow" || r.DataSHA256 == "" ||
			r.Requester != "P0801900B" || r.Subject != "12345678Z" || r.Procedure != "DEMO" {
			t.Errorf("show: %v\n%s", err, out)
		}
		code, _, errs = pontRun(t, "audit", "show", "--server", n.base, "--token", auditor, "0199ffff-0000-7000-8000-000000000000")
		if code != 1 || !strings.Contains(errs, "404 not_found: no such transfer") {
			t.Errorf("unknown id: exit %d, stderr %q", code, errs)
		}
	})
	t.Run("problems", func(t *testing.T) {
		requester := n.token(t, auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"})
		for _, c := range []struct {
			name string
			args []string
			code int
			want []string // in stderr
		}{
			{"bad decision", search("--decision", "maybe"), 1, []string{"400 invalid_request", "--decision: must be allow or deny"}},
			{"bad dates", search("--from", "yesterday", "--to", "31/01/2026"), 1, []string{"400 invalid_request: 2 fields are invalid", "--from: must be an RFC 3339 time", "--to: must be an RFC 3339 time"}},
			{"to before from", search("--from", "2026-02-01", "--to", "2026-01-01"), 1, []string{"--to: must be after from"}},
			{"not an auditor", []string{"audit", "search", "--server", n.base, "--token", requester}, 1, []string{"403 forbidden"}},
			{"bad token", []string{"audit", "search", "--server", n.base, "--token", "not.a.jwt"}, 1, []string{"401 unauthenticated"}},
			{"no token", []string{"audit", "search", "--server", n.base}, 1, []string{"no token: give --token or set PONT_TOKEN"}},
			{"unknown flag", search("--colour", "red"), 2, []string{"flag provided but not defined: -colour"}},
			{"bad format", search("--format", "xml"), 2, []string{`--format "xml": must be table, json or csv`}},
			{"bad limit", search("--limit", "-4"), 2, []string{"--limit -4: must be positive"}},
			{"stray argument", search("12345678Z"), 2, []string{`unexpected argument "12345678Z"`}},
			{"bad server", []string{"audit", "search", "--server", "127.0.0.1:1", "--token", auditor}, 1, []string{"is not an http(s) URL"}},
			{"server down", []string{"audit", "search", "--server", "http://127.0.0.1:1", "--token", auditor}, 1, []string{"GET http://127.0.0.1:1/v1/audit/transfers", "connection refused"}},
			{"show without id", []string{"audit", "show", "--server", n.base, "--token", auditor}, 2, []string{"usage: pont audit show"}},
			{"unknown subcommand", []string{"audit", "prove"}, 2, []string{`unknown command "prove"`}},
			{"verify without a key", []string{"audit", "verify"}, 2, []string{"--log-key is required"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Setenv("PONT_TOKEN", "")
				code, out, errs := pontRun(t, c.args...)
				if code != c.code {
					t.Errorf("exit %d, want %d; stderr:\n%s", code, c.code, errs)
				}
				if out != "" {
					t.Errorf("stdout %q, want nothing", out)
				}
				for _, w := range c.want {
					if !strings.Contains(errs, w) {
						t.Errorf("stderr lacks %q:\n%s", w, errs)
					}
				}
			})
		}
	})
}

// strictJSON decodes one JSON value of s into v, refusing fields v lacks:
// what pont audit prints is the wire type, nothing more.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
