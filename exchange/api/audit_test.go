package api

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/policies"
)

func TestParseFilter(t *testing.T) {
	at := time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC)
	cur := store.Cursor{Time: at, ID: "0199aaaa-0000-7000-8000-000000000001"}
	codec := mustCodec(t, nil)
	valid := codec.encode(cur)
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"t":1769860800000000,"i":"0199aaaa-0000-7000-8000-000000000001"}`))
	tests := []struct {
		name  string
		query string
		want  store.Filter
		bad   []string // the fields the 400 names, sorted
	}{
		{name: "nothing", query: "", want: store.Filter{Limit: 100}},
		{
			name:  "every filter",
			query: "subject=12345678Z&requester=P0801900B&official=38000001E&procedure=DEMO&service=padro&purpose=demo&decision=deny&scsp_request_id=PONT-42&from=2026-01-01&to=2026-02-01T00:00:00%2B01:00&limit=7",
			want: store.Filter{
				Subject: "12345678Z", Requester: "P0801900B", Official: "38000001E", Procedure: "DEMO",
				Service: "padro", Purpose: "demo", Decision: store.Deny, SCSPRequestID: "PONT-42",
				From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC),
				Limit: 7,
			},
		},
		{name: "a cursor this server issued", query: "cursor=" + valid, want: store.Filter{Limit: 100, After: &cur}},
		{name: "limit 1000", query: "limit=1000", want: store.Filter{Limit: 1000}},
		{name: "unknown filter", query: "subjekt=12345678Z", bad: []string{"subjekt"}},
		{name: "bad date", query: "from=31/01/2026", bad: []string{"from"}},
		{name: "bad decision", query: "decision=maybe", bad: []string{"decision"}},
		{name: "limit 0", query: "limit=0", bad: []string{"limit"}},
		{name: "limit 1001", query: "limit=1001", bad: []string{"limit"}},
		{name: "limit not a number", query: "limit=ten", bad: []string{"limit"}},
		{name: "given twice", query: "service=padro&service=titulacions", bad: []string{"service"}},
		{name: "scsp request given twice", query: "scsp_request_id=A&scsp_request_id=B", bad: []string{"scsp_request_id"}},
		{name: "to before from", query: "from=2026-02-01&to=2026-01-01", bad: []string{"to"}},
		{name: "to equal to from", query: "from=2026-02-01&to=2026-02-01", bad: []string{"to"}},
		{name: "forged cursor", query: "cursor=" + unsigned, bad: []string{"cursor"}},
		{name: "every bad one, sorted", query: "zzz=1&limit=-1&from=yesterday&cursor=abc", bad: []string{"cursor", "from", "limit", "zzz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, "/v1/audit/transfers?"+q.Encode(), nil)
			got, err := parseFilter(r, codec)
			if tt.bad != nil {
				fe, ok := fault.As(err)
				if !ok || fe.Code != fault.InvalidRequest {
					t.Fatalf("parseFilter(%q) = %v, want invalid_request naming %v", tt.query, err, tt.bad)
				}
				var named []string
				for _, f := range fe.Fields {
					named = append(named, f.Field)
				}
				if !reflect.DeepEqual(named, tt.bad) {
					t.Errorf("parseFilter(%q) names %v, want %v (%v)", tt.query, named, tt.bad, fe.Fields)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFilter(%q): %v", tt.query, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseFilter(%q) =\n%+v\nwant\n%+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParseSearchExportLimit(t *testing.T) {
	tests := []struct {
		query     string
		total     int
		pageLimit int
		bad       bool
	}{
		{"", 0, 100, false},
		{"limit=5", 5, 5, false},
		{"limit=2500", 2500, 1000, false},
		{"limit=10000000", 10_000_000, 1000, false},
		{"limit=10000001", 0, 0, true},
		{"limit=0", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			f, total, err := parseSearch(q, maxExportLimit, mustCodec(t, nil))
			if tt.bad {
				if fe, ok := fault.As(err); !ok || len(fe.Fields) != 1 || fe.Fields[0].Field != "limit" {
					t.Fatalf("parseSearch(%q) = %v, want a 400 naming limit", tt.query, err)
				}
				return
			}
			if err != nil || total != tt.total || f.Limit != tt.pageLimit {
				t.Errorf("parseSearch(%q) = limit %d, total %d, %v; want %d, %d", tt.query, f.Limit, total, err, tt.pageLimit, tt.total)
			}
		})
	}
}

func mustCodec(t *testing.T, secret []byte) cursorCodec {
	t.Helper()
	c, err := newCursorCodec(secret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCursor(t *testing.T) {
	codec := mustCodec(t, []byte("correct horse battery staple"))
	pos := store.Cursor{Time: time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC), ID: "0199bbbb-0000-7000-8000-00000000000f"}
	issued := codec.encode(pos)
	body, tag, _ := strings.Cut(issued, ".")
	otherPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"t":1,"i":"0199bbbb-0000-7000-8000-00000000000f"}`))
	flip := func(s string) string { // changes the first character of s
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		cursor string
		ok     bool
	}{
		{"issued", issued, true},
		{"payload alone (the unsigned format)", body, false},
		{"hand-made payload with an issued tag", otherPayload + "." + tag, false},
		{"tag changed", body + "." + flip(tag), false},
		{"tag cut short", body + "." + tag[:10], false},
		{"no tag", body + ".", false},
		{"not base64", "!!!." + tag, false},
		{"empty", "", false},
		{"very long", strings.Repeat("a", 600) + "." + tag, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := codec.decode(tt.cursor)
			if !tt.ok {
				if err == nil {
					t.Fatalf("decodeCursor(%q) = %+v, want refused", tt.cursor, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeCursor(issued): %v", err)
			}
			if !got.Time.Equal(pos.Time) || got.ID != pos.ID {
				t.Errorf("decodeCursor(issued) = %+v, want %+v", got, pos)
			}
		})
	}

	// A signed but meaningless position is refused too.
	if _, err := codec.decode(signedCursor(codec, `{"t":0,"i":""}`)); err == nil {
		t.Error("a signed empty position was accepted")
	}

	// Another node with the same secret accepts the cursor; one with another
	// secret, or with a random key, does not.
	if _, err := mustCodec(t, []byte("correct horse battery staple")).decode(issued); err != nil {
		t.Errorf("same secret: %v", err)
	}
	if _, err := mustCodec(t, []byte("another secret, just as long")).decode(issued); err == nil {
		t.Error("a cursor signed under another secret was accepted")
	}
	if _, err := mustCodec(t, nil).decode(issued); err == nil {
		t.Error("a cursor was accepted by a server with a random key")
	}
	if _, err := newCursorCodec([]byte("short")); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
}

// signedCursor signs payload with codec's key, as encode would.
func signedCursor(codec cursorCodec, payload string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(codec.tag([]byte(payload)))
}

func TestPrefersCSV(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"text/csv", true},
		{"text/csv; charset=utf-8", true},
		{"application/json", false},
		{"*/*", false},
		{"text/csv, application/json", false},
		{"text/csv, application/json;q=0.5", true},
		{"application/json;q=0.2, text/csv;q=0.9", true},
		{"text/csv;q=0", false},
		{"text/html, text/csv", true},
		{"text/csv;q=abc", false},
	}
	for _, tt := range tests {
		if got := prefersCSV(tt.accept); got != tt.want {
			t.Errorf("prefersCSV(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestCSVCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"Anna Puig", "Anna Puig"},
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+34 600", "'+34 600"},
		{"-1+1", "'-1+1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{"'quoted", "'quoted"},
	}
	for _, tt := range tests {
		if got := csvCell(tt.in); got != tt.want {
			t.Errorf("csvCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// auditServer is the real API on an embedded store, with the transfer log
// filled by hand (records a requester could not produce through a query,
// such as formula-like names).
type auditServer struct {
	base    string
	auditor string
	store   *cutStore
}

// cutStore is the real SQLite store; after cutAfter searches it closes the
// store, so that later calls meet a store that is really gone.
type cutStore struct {
	*sqlite.Store
	searches atomic.Int64
	cutAfter int64 // 0: never
}

func (c *cutStore) SearchTransfers(ctx context.Context, f store.Filter) (store.Page, error) {
	if n := c.searches.Add(1); c.cutAfter > 0 && n > c.cutAfter {
		_ = c.Store.Close()
	}
	return c.Store.SearchTransfers(ctx, f)
}

// startAPI serves the whole API over st on a loopback port: the default
// catalog and policies, a pipeline without adapters, and a development
// issuer whose key lives in dir; cfg gives the rest (a nil Logger is
// quiet). It answers the server and the issuer, to mint tokens with.
func startAPI(t *testing.T, st store.Store, dir string, cfg Config) (*httptest.Server, *auth.DevIssuer) {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(ctx, policies.FS, cat.PolicyData())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.NewLog(st, audit.Options{Logger: quiet})
	t.Cleanup(func() { _ = log.Close() })
	pipe, err := pipeline.New(pipeline.Config{Catalog: cat, Policy: engine, Router: router.New(), Log: log, Citizens: st, Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := auth.NewDevIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(ctx, []auth.Issuer{iss.Issuer()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = verifier.Close() })
	people, err := citizens.New(citizens.Config{Catalog: cat, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.Pipeline, cfg.Citizens, cfg.Catalog, cfg.Transfers, cfg.Verifier = pipe, people, cat, st, verifier
	cfg.Registry = prometheus.NewRegistry()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, iss
}

func startAuditServer(t *testing.T) *auditServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.New(ctx, sqlite.Config{Path: filepath.Join(dir, "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	cs := &cutStore{Store: st}
	t.Cleanup(func() { _ = cs.Store.Close() })
	srv, iss := startAPI(t, cs, dir, Config{})
	auditor, err := iss.Mint(auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &auditServer{base: srv.URL, auditor: auditor, store: cs}
}

// fill appends n records, one a second back from 2026-03-01 12:00 UTC (so
// the newest is i=0); every seventh is a denial of subject 00000000T with
// two reasons, and record 3 carries formula-like values.
func (s *auditServer) fill(t *testing.T, n int) []store.Transfer {
	t.Helper()
	top := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := make([]store.Transfer, n)
	for i := range recs {
		r := store.Transfer{
			ID: fmt.Sprintf("0195%04x-0000-7000-8000-%012x", n-i, n-i), Time: top.Add(-time.Duration(i) * time.Second),
			Node: "test", Kind: "query", RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Anna Puig",
			ProcedureCode: "DEMO", ProcedureName: "Demostració, \"quoted\"", Purpose: "demo", LegalBasis: "presumed",
			CaseID: fmt.Sprintf("EXP-%d", i), SubjectIDType: "DNI", SubjectID: "12345678Z", Service: "padro",
			Adapter: "padro-08019", AdapterVersion: "1.0.0", ModuleSHA256: "ab", Decision: store.Allow,
			Outcome: "ok", SCSPCode: "0003", LatencyMicros: int64(100 + i), DataSHA256: "cd",
		}
		if i%7 == 0 {
			r.SubjectID, r.Decision, r.Outcome, r.DataSHA256 = "00000000T", store.Deny, "not_authorized", ""
			r.Reasons = []store.Reason{{Code: "not_authorized", Message: "not authorised"}, {Code: "purpose_not_allowed", Message: "no; really"}}
		}
		if i == 3 {
			r.OfficialName, r.CaseID, r.ProcedureName = "=HYPERLINK(\"http://evil.test\",\"x\")", "@SUM(1+1)", "-2+3"
		}
		recs[i] = r
	}
	for lo := 0; lo < n; lo += 500 {
		if err := s.store.AppendTransfers(context.Background(), recs[lo:min(lo+500, n)]); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

func (s *auditServer) get(t *testing.T, path, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.auditor)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readCSV(t *testing.T, resp *http.Response) [][]string {
	t.Helper()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	if len(rows) == 0 || !reflect.DeepEqual(rows[0], csvHeader) {
		t.Fatalf("the export's first row is not the header: %v", rows[:min(len(rows), 1)])
	}
	return rows[1:]
}

func TestExportCSV(t *testing.T) {
	s := startAuditServer(t)
	recs := s.fill(t, 2345) // three internal pages

	col := map[string]int{}
	for i, name := range csvHeader {
		col[name] = i
	}
	t.Run("whole selection", func(t *testing.T) {
		resp := s.get(t, "/v1/audit/transfers", "text/csv")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="transfers.csv"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		rows := readCSV(t, resp)
		if len(rows) != len(recs) {
			t.Fatalf("%d rows, want %d", len(rows), len(recs))
		}
		for i, row := range rows { // newest first: the order of recs
			if row[col["id"]] != recs[i].ID {
				t.Fatalf("row %d is %s, want %s", i, row[col["id"]], recs[i].ID)
			}
		}
		injected := rows[3]
		for name, want := range map[string]string{
			"official_name":  "'=HYPERLINK(\"http://evil.test\",\"x\")",
			"case_id":        "'@SUM(1+1)",
			"procedure_name": "'-2+3",
			"time":           "2026-03-01T11:59:57Z",
			"latency_us":     "103",
		} {
			if got := injected[col[name]]; got != want {
				t.Errorf("row 3 %s = %q, want %q", name, got, want)
			}
		}
		if got := rows[1][col["procedure_name"]]; got != "Demostració, \"quoted\"" {
			t.Errorf("procedure_name = %q: quotes and commas must survive", got)
		}
		if got := rows[0][col["reasons"]]; got != "not_authorized: not authorised; purpose_not_allowed: no; really" {
			t.Errorf("reasons = %q", got)
		}
	})
	t.Run("filters", func(t *testing.T) {
		rows := readCSV(t, s.get(t, "/v1/audit/transfers?subject=00000000T&decision=deny", "text/csv"))
		want := 0
		for i := range recs {
			if i%7 == 0 {
				want++
			}
		}
		if len(rows) != want {
			t.Errorf("%d denials, want %d", len(rows), want)
		}
		for _, row := range rows {
			if row[col["subject"]] != "00000000T" || row[col["decision"]] != "deny" {
				t.Fatalf("row outside the selection: %v", row)
			}
		}
	})
	t.Run("limit caps the total", func(t *testing.T) {
		for _, n := range []int{1, 1000, 1500, 5000} {
			rows := readCSV(t, s.get(t, fmt.Sprintf("/v1/audit/transfers?limit=%d", n), "text/csv"))
			if want := min(n, len(recs)); len(rows) != want {
				t.Errorf("limit=%d: %d rows, want %d", n, len(rows), want)
			}
		}
	})
	t.Run("after a cursor", func(t *testing.T) {
		var page types.TransferPageV1
		resp := s.get(t, "/v1/audit/transfers?limit=10", "")
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || page.NextCursor == nil {
			t.Fatalf("first page: %v %+v", err, page)
		}
		rows := readCSV(t, s.get(t, "/v1/audit/transfers?cursor="+url.QueryEscape(*page.NextCursor), "text/csv"))
		if len(rows) != len(recs)-10 || rows[0][col["id"]] != recs[10].ID {
			t.Errorf("after the first page: %d rows from %v", len(rows), rows[0][col["id"]])
		}
	})
	t.Run("JSON stays the default", func(t *testing.T) {
		resp := s.get(t, "/v1/audit/transfers?limit=2", "application/json, text/csv;q=0.5")
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	})
	t.Run("bad input is a problem, not a CSV", func(t *testing.T) {
		for query, field := range map[string]string{
			"from=yesterday":    "from",
			"limit=0":           "limit",
			"limit=10000001":    "limit",
			"colour=red":        "colour",
			"cursor=eyJ0IjoxfQ": "cursor",
		} {
			resp := s.get(t, "/v1/audit/transfers?"+query, "text/csv")
			var p Problem
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatalf("%s: %d, not a problem: %v", query, resp.StatusCode, err)
			}
			if resp.StatusCode != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != field {
				t.Errorf("%s: %d %+v, want 400 naming %s", query, resp.StatusCode, p, field)
			}
		}
	})
}

// TestSearchBySCSPRequest: ?scsp_request_id= answers the records of one
// SCSP request, all of them and only them, in JSON and in CSV, each with
// the request's and its own solicitud's ids.
func TestSearchBySCSPRequest(t *testing.T) {
	s := startAuditServer(t)
	recs := s.fill(t, 40)
	for i := range recs {
		recs[i].SCSPRequestID = []string{"", "PONT-A", "PONT-B"}[i%3]
		if recs[i].SCSPRequestID != "" {
			recs[i].SCSPSolicitudID = fmt.Sprintf("SOL-%02d", i)
		}
		recs[i].ID = fmt.Sprintf("0196%04x-0000-7000-8000-%012x", 40-i, 40-i)
	}
	if err := s.store.AppendTransfers(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	var want []store.Transfer
	for _, r := range recs { // newest first
		if r.SCSPRequestID == "PONT-A" {
			want = append(want, r)
		}
	}
	resp := s.get(t, "/v1/audit/transfers?scsp_request_id=PONT-A&limit=5", "")
	var page types.TransferPageV1
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("search: %d %v", resp.StatusCode, err)
	}
	if len(page.Items) != 5 || page.NextCursor == nil {
		t.Fatalf("first page: %d items, next %v; want 5 and a next page", len(page.Items), page.NextCursor)
	}
	for i, it := range page.Items {
		if it.ID != want[i].ID || it.SCSPRequestID != "PONT-A" || it.SCSPSolicitudID != want[i].SCSPSolicitudID {
			t.Errorf("item %d = %s %q %q, want %s PONT-A %q", i, it.ID, it.SCSPRequestID, it.SCSPSolicitudID, want[i].ID, want[i].SCSPSolicitudID)
		}
	}
	col := map[string]int{}
	for i, name := range csvHeader {
		col[name] = i
	}
	rows := readCSV(t, s.get(t, "/v1/audit/transfers?scsp_request_id=PONT-A", "text/csv"))
	if len(rows) != len(want) {
		t.Fatalf("CSV: %d rows, want %d", len(rows), len(want))
	}
	for i, row := range rows {
		if row[col["id"]] != want[i].ID || row[col["scsp_request_id"]] != "PONT-A" || row[col["scsp_solicitud_id"]] != want[i].SCSPSolicitudID {
			t.Errorf("CSV row %d = %s %q %q, want %s", i, row[col["id"]], row[col["scsp_request_id"]], row[col["scsp_solicitud_id"]], want[i].ID)
		}
	}
	resp = s.get(t, "/v1/audit/transfers?scsp_request_id=PONT-C", "")
	page = types.TransferPageV1{}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Items) != 0 {
		t.Errorf("an SCSP request with no record: %d items, %v", len(page.Items), err)
	}
}

func TestCursorsOverHTTP(t *testing.T) {
	s := startAuditServer(t)
	recs := s.fill(t, 25)
	var seen []string
	path := "/v1/audit/transfers?limit=10"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("the cursors do not end")
		}
		var page types.TransferPageV1
		resp := s.get(t, path, "")
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		for _, it := range page.Items {
			seen = append(seen, it.ID)
		}
		if page.NextCursor == nil {
			break
		}
		path = "/v1/audit/transfers?limit=10&cursor=" + url.QueryEscape(*page.NextCursor)
	}
	if len(seen) != len(recs) || seen[0] != recs[0].ID || seen[len(seen)-1] != recs[len(recs)-1].ID {
		t.Errorf("walked %d records, want %d", len(seen), len(recs))
	}

	// A well-formed position made by hand, that would otherwise page.
	forged := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"t":%d,"i":%q}`, recs[5].Time.UnixMicro(), recs[5].ID)))
	for _, c := range []string{forged, forged + ".AAAAAAAAAAAAAAAAAAAAAA"} {
		resp := s.get(t, "/v1/audit/transfers?cursor="+url.QueryEscape(c), "")
		var p Problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		if resp.StatusCode != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "cursor" {
			t.Errorf("forged cursor %q: %d %+v, want 400 naming cursor", c, resp.StatusCode, p)
		}
	}
}

// TestExportAbortsWhenTheStoreFails: a store lost in the middle of an
// export breaks the transfer, so that no client takes a short file for the
// whole selection; lost before the first row, it is a 503 problem.
func TestExportAbortsWhenTheStoreFails(t *testing.T) {
	s := startAuditServer(t)
	s.fill(t, 2100)
	s.store.cutAfter = 1 // the first page is read, the second meets a closed store
	resp := s.get(t, "/v1/audit/transfers", "text/csv")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	cr := csv.NewReader(resp.Body)
	rows := 0
	var err error
	for ; err == nil; rows++ {
		_, err = cr.Read()
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading the broken export: %d rows, err %v; want io.ErrUnexpectedEOF", rows, err)
	}
	if rows < 1001 {
		t.Errorf("%d rows before the break, want the header and the first page's 1000", rows)
	}

	resp = s.get(t, "/v1/audit/transfers", "text/csv") // the store is closed now
	var p Problem
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusServiceUnavailable || p.Code != fault.StoreUnavailable {
		t.Errorf("export on a closed store: %d %+v %v, want 503 store_unavailable", resp.StatusCode, p, err)
	}
}

// fullTransfer is a record with every field of the storage row set, each to
// a value of its own, so that a field the wire type drops or mixes up shows.
func fullTransfer() store.Transfer {
	return store.Transfer{
		ID: "01950000-0000-7000-8000-0000000000aa", Time: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
		Node: "pont-1", Kind: "query", RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Anna Puig",
		ProcedureCode: "DEMO", ProcedureName: "Demostració", Purpose: "demo", LegalBasis: "consent",
		LawReference: "Llei 7/1985, art. 16", ConsentID: "c-42", CaseID: "EXP-2026-00001",
		// The job of an asynchronous request's element.
		JobID:         "01950000-0000-7000-8000-0000000000bb",
		SubjectIDType: "DNI", SubjectID: "12345678Z", Service: "discapacitat", Adapter: "discapacitat-09",
		AdapterVersion: "1.0.0", ModuleSHA256: strings.Repeat("ab", 32), Decision: store.Deny,
		Reasons:        []store.Reason{{Code: "consent_expired", Message: "the consent expired"}, {Code: "purpose_not_allowed", Message: "no"}},
		PolicyRevision: "c4a1f07e9b2d", Outcome: "consent_expired", SCSPCode: "0236", HTTPStatus: http.StatusForbidden,
		LatencyMicros: 1843, DataSHA256: strings.Repeat("cd", 32),
		// The SCSP request it answered.
		SCSPRequestID: "PONT-20260301-000000000007", SCSPSolicitudID: "SOL-20260301-0001",
		// The log's commitment to the personal fields: the transfer log's
		// leaves and receipts serve them (docs/transfer-log.md), the
		// search and export do not.
		Salt: []byte("0123456789abcdef"), PersonalSHA256: strings.Repeat("ef", 32),
	}
}

// TestTransferV1 holds the conversion from the storage row to the audit
// API's wire type to the API's field names and values, field by field.
func TestTransferV1(t *testing.T) {
	rec := fullTransfer()
	rv := reflect.ValueOf(rec)
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Errorf("fullTransfer leaves store.Transfer.%s empty: give it a value, and decide whether the audit API serves it", rv.Type().Field(i).Name)
		}
	}
	got := transferV1(rec)
	gv := reflect.ValueOf(got)
	for i := range gv.NumField() {
		if gv.Field(i).IsZero() {
			t.Errorf("transferV1 leaves TransferV1.%s empty", gv.Type().Field(i).Name)
		}
	}
	raw, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	// The API's contract, as a client reads it.
	want := map[string]any{
		"id": rec.ID, "time": "2026-03-01T12:00:00.123456Z", "node": "pont-1", "kind": "query",
		"requester": "P0801900B", "official_id": "38000001E", "official_name": "Anna Puig",
		"procedure": "DEMO", "procedure_name": "Demostració", "purpose": "demo", "legal_basis": "consent",
		"law_reference": "Llei 7/1985, art. 16", "consent_id": "c-42", "case_id": "EXP-2026-00001", "job_id": "01950000-0000-7000-8000-0000000000bb",
		"scsp_request_id": "PONT-20260301-000000000007", "scsp_solicitud_id": "SOL-20260301-0001",
		"subject_id_type": "DNI", "subject": "12345678Z", "service": "discapacitat", "adapter": "discapacitat-09",
		"adapter_version": "1.0.0", "module_sha256": strings.Repeat("ab", 32), "decision": "deny",
		"reasons": []any{
			map[string]any{"code": "consent_expired", "message": "the consent expired"},
			map[string]any{"code": "purpose_not_allowed", "message": "no"},
		},
		"policy_revision": "c4a1f07e9b2d", "outcome": "consent_expired", "scsp_code": "0236",
		"http_status": float64(http.StatusForbidden), "latency_us": float64(1843), "data_sha256": strings.Repeat("cd", 32),
	}
	for name, w := range want {
		if !reflect.DeepEqual(fields[name], w) {
			t.Errorf("%s = %#v, want %#v", name, fields[name], w)
		}
	}
	for name := range fields {
		if _, ok := want[name]; !ok {
			t.Errorf("the wire type serves %s, which the contract does not list", name)
		}
	}

	// The CSV export's columns are the JSON names, every one of them.
	if !reflect.DeepEqual(slices.Sorted(maps.Keys(fields)), slices.Sorted(slices.Values(csvHeader))) {
		t.Errorf("CSV columns %v, JSON fields %v: they must be the same names", csvHeader, slices.Sorted(maps.Keys(fields)))
	}
	row := csvRecord(got)
	for i, name := range csvHeader {
		var want string
		switch v := fields[name].(type) {
		case string:
			want = v
		case float64:
			want = strconv.FormatFloat(v, 'f', -1, 64)
		default: // reasons
			want = "consent_expired: the consent expired; purpose_not_allowed: no"
		}
		if row[i] != want {
			t.Errorf("CSV column %s = %q, want %q", name, row[i], want)
		}
	}

	t.Run("optional fields absent", func(t *testing.T) {
		bare := store.Transfer{ID: rec.ID, Time: rec.Time, Node: "n", Kind: "query", Service: "padro", Decision: store.Deny, Outcome: "invalid_request"}
		raw, err := json.Marshal(transferV1(bare))
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatal(err)
		}
		// The required fields of the Transfer schema of openapi.json.
		required := []string{"decision", "id", "kind", "latency_us", "node", "outcome", "requester", "service", "time"}
		if got := slices.Sorted(maps.Keys(fields)); !reflect.DeepEqual(got, required) {
			t.Errorf("a bare record serves %v, want only %v", got, required)
		}
		if row := csvRecord(transferV1(bare)); row[slices.Index(csvHeader, "http_status")] != "" {
			t.Errorf("an unknown http_status is %q in CSV, want empty", row[slices.Index(csvHeader, "http_status")])
		}
	})
}

// TestAuditAnswersAreWireTypes reads a record back through both audit
// endpoints and decodes each answer strictly as the wire type: every field
// the server sends is a field of TransferV1, and every field the store kept
// arrives.
func TestAuditAnswersAreWireTypes(t *testing.T) {
	s := startAuditServer(t)
	s.fill(t, 3)
	rec := fullTransfer()
	if err := s.store.AppendTransfers(context.Background(), []store.Transfer{rec}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.store.GetTransfer(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := transferV1(stored)

	strict := func(t *testing.T, resp *http.Response, v any) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		dec := json.NewDecoder(resp.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("the answer is not the wire type: %v", err)
		}
	}
	same := func(t *testing.T, got types.TransferV1) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("served\n%s\nwant\n%s", g, w)
		}
		gv := reflect.ValueOf(got)
		for i := range gv.NumField() {
			name := gv.Type().Field(i).Name
			if gv.Field(i).IsZero() && !(name == "HTTPStatus" && stored.HTTPStatus == 0) {
				t.Errorf("%s is empty in the answer", name)
			}
		}
		if stored.HTTPStatus == 0 {
			t.Log("this store does not keep http_status yet: it is not checked end to end")
		}
	}

	t.Run("one", func(t *testing.T) {
		var got types.TransferV1
		strict(t, s.get(t, "/v1/audit/transfers/"+rec.ID, ""), &got)
		same(t, got)
	})
	t.Run("page", func(t *testing.T) {
		var page types.TransferPageV1
		strict(t, s.get(t, "/v1/audit/transfers?limit=4", ""), &page)
		if len(page.Items) != 4 || page.NextCursor != nil {
			t.Fatalf("%d items, next cursor %v; want 4 and none", len(page.Items), page.NextCursor)
		}
		i := slices.IndexFunc(page.Items, func(it types.TransferV1) bool { return it.ID == rec.ID })
		if i < 0 {
			t.Fatalf("the page lacks %s", rec.ID)
		}
		same(t, page.Items[i])
	})
	t.Run("empty page", func(t *testing.T) {
		resp := s.get(t, "/v1/audit/transfers?subject=00000001R", "")
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(body)); got != `{"items":[],"next_cursor":null}` {
			t.Errorf("an empty page is %s, want items [] and next_cursor null", got)
		}
	})
}

// TestOpenAPIDescribesTheWireTypes holds the schemas of openapi.json to the
// Go wire types: the same members, each described, and required exactly
// when the type always sends it.
func TestOpenAPIDescribesTheWireTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string `json:"required"`
				Properties map[string]struct {
					Description string `json:"description"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		schema string
		typ    reflect.Type
	}{
		{"TransferV1", reflect.TypeFor[types.TransferV1]()},
		{"TransferPageV1", reflect.TypeFor[types.TransferPageV1]()},
		{"Reason", reflect.TypeFor[types.ReasonV1]()},
		{"MyTransfer", reflect.TypeFor[types.CitizenTransferV1]()},
		{"MyTransferPage", reflect.TypeFor[types.CitizenTransferPageV1]()},
		{"Consent", reflect.TypeFor[types.ConsentV1]()},
		{"ConsentList", reflect.TypeFor[types.ConsentListV1]()},
		{"Objection", reflect.TypeFor[types.ObjectionV1]()},
		{"ObjectionList", reflect.TypeFor[types.ObjectionListV1]()},
	} {
		t.Run(c.schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[c.schema]
			if !ok {
				t.Fatalf("openapi.json has no schema %s", c.schema)
			}
			var names, required []string
			for f := range c.typ.Fields() {
				name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				names = append(names, name)
				if opts != "omitempty" {
					required = append(required, name)
				}
				if p, ok := s.Properties[name]; ok && p.Description == "" {
					t.Errorf("%s.%s has no description", c.schema, name)
				}
			}
			if got := slices.Sorted(maps.Keys(s.Properties)); !reflect.DeepEqual(got, slices.Sorted(slices.Values(names))) {
				t.Errorf("%s describes %v; %s has %v", c.schema, got, c.typ, slices.Sorted(slices.Values(names)))
			}
			if got := slices.Sorted(slices.Values(s.Required)); !reflect.DeepEqual(got, slices.Sorted(slices.Values(required))) {
				t.Errorf("%s requires %v; %s always sends %v", c.schema, got, c.typ, slices.Sorted(slices.Values(required)))
			}
		})
	}
}
