package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/internal/testenv"
)

// TestRefusalsOutsideTheTransferPath pins what SECURITY.md says of the
// routes that move no data from a source (a citizen's consents, objections
// and list of transfers; the auditor's search): their refusals, the
// quota's 429 and the edge's 4xx, are answered but write no transfer; they
// are counted in pont_http_requests_total by route, method and status, and
// logged only at debug level, by route pattern, without the caller's
// identity or what it sent.
func TestRefusalsOutsideTheTransferPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(dir, "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	limiter, err := quota.New(quota.Config{
		Citizen: quota.Limit{Rate: 0.001, Burst: 1},
		Auditor: quota.Limit{Rate: 0.001, Burst: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	srv, iss := startAPI(t, st, dir, Config{
		Quota:  limiter,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	mint := func(p auth.Principal) string {
		tok, err := iss.Mint(p, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const her, other = "12345678Z", "67890123B"
	citizen := mint(auth.Principal{Role: auth.RoleCitizen, Sub: her})
	another := mint(auth.Principal{Role: auth.RoleCitizen, Sub: other})
	auditor := mint(auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-1"})

	for _, c := range []struct {
		name, method, path, token, contentType, body string
		status                                       int
		code                                         string
	}{
		{"her first call", "GET", "/v1/me/consents", citizen, "", "", 200, ""},
		{"her call over the quota", "POST", "/v1/me/consents", citizen, "application/json", `{"requester":"P0801900B"}`, 429, "rate_limited"},
		{"her list over the quota", "GET", "/v1/me/transfers?service=padro", citizen, "", "", 429, "rate_limited"},
		{"an objection of the wrong media type", "POST", "/v1/me/objections", another, "text/plain", `service=padro`, 415, "unsupported_media_type"},
		{"the auditor's first search", "GET", "/v1/audit/transfers?subject=" + her, auditor, "", "", 200, ""},
		{"her search over the quota", "GET", "/v1/audit/transfers?subject=" + her, auditor, "", "", 429, "rate_limited"},
	} {
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p Problem
		_ = json.Unmarshal(raw, &p)
		if resp.StatusCode != c.status || string(p.Code) != c.code {
			t.Fatalf("%s: %d %s, want %d %s", c.name, resp.StatusCode, raw, c.status, c.code)
		}
		if p.TransferID != "" {
			t.Errorf("%s: the refusal names transfer %s", c.name, p.TransferID)
		}
	}

	page, err := st.SearchTransfers(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Errorf("%d transfers recorded, want none: %+v", len(page.Items), page.Items)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`pont_http_requests_total{method="POST",route="/v1/me/consents",status="429"} 1`,
		`pont_http_requests_total{method="GET",route="/v1/me/transfers",status="429"} 1`,
		`pont_http_requests_total{method="POST",route="/v1/me/objections",status="415"} 1`,
		`pont_http_requests_total{method="GET",route="/v1/audit/transfers",status="429"} 1`,
	} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("the metrics lack %s", want)
		}
	}

	out := logs.String()
	for _, want := range []string{
		"level=DEBUG msg=request method=POST route=/v1/me/consents status=429",
		"level=DEBUG msg=request method=POST route=/v1/me/objections status=415",
		"level=DEBUG msg=request method=GET route=/v1/audit/transfers status=429",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	for _, leak := range []string{her, other, "P0801900B", "service=padro", "dpo-1", "Bearer"} {
		if strings.Contains(out, leak) {
			t.Errorf("the log holds %q:\n%s", leak, out)
		}
	}
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "time=") || !strings.Contains(line, " level=DEBUG ") {
			t.Errorf("a refusal outside the transfer path is logged above debug: %s", line)
		}
	}
}
