package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// TestEdgeRefusalsAreRecorded sends, over HTTP, requests that the HTTP
// layer refuses before they reach the pipeline: a query whose body is not
// JSON or is too big, a citizen's read of her data whose query string gives
// a param twice or hides one behind a ';'. Each is refused naming the
// field, and each is in the transfer log all the same, on PostgreSQL: a
// query as the requesting organisation's, a read as the citizen's own
// self-access, which she then finds among her transfers.
func TestEdgeRefusalsAreRecorded(t *testing.T) {
	st, err := postgres.New(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv, iss := startAPI(t, st, t.TempDir(), Config{})
	requester := mintToken(t, iss, auth.Principal{Role: auth.RoleRequester, Org: "P0801900B", Sub: "tramitador-1"})
	citizen := mintToken(t, iss, auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"})
	auditor := mintToken(t, iss, auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-1"})
	query := `{"procedure":{"code":"DEMO","name":"Demostració"},"purpose":"demo","legal_basis":{"type":"presumed"},` +
		`"case_id":"EXP-1","official":{"id":"38000001E","name":"Anna Puig"},"subject":{"id_type":"DNI","id":"12345678Z"},` +
		`"params":{"municipality":"08019"}}`

	cases := []struct {
		name, method, path, token, contentType, body string
		status                                       int
		code, field                                  string // the problem's code and the field it names first
		kind, requester, subject                     string // of the record
	}{
		{"a query sent as text/plain", "POST", "/v1/services/padro/queries", requester, "text/plain", query,
			http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type", "query", "P0801900B", ""},
		{"a query of more than 64 KiB", "POST", "/v1/services/padro/queries", requester, "application/json",
			strings.Replace(query, `"EXP-1"`, `"`+strings.Repeat("x", 65<<10)+`"`, 1),
			http.StatusBadRequest, "invalid_request", "body", "query", "P0801900B", ""},
		{"her read with a param given twice", "GET", "/v1/me/data/padro?municipality=08019&municipality=17079", citizen, "", "",
			http.StatusBadRequest, "invalid_request", "params.municipality", "self_access", "", "12345678Z"},
		{"her read with a param behind a ';'", "GET", "/v1/me/data/padro?municipality=08019;municipality=17079", citizen, "", "",
			http.StatusBadRequest, "invalid_request", "municipality=08019;municipality=17079", "self_access", "", "12345678Z"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, raw := sendRequest(t, c.method, srv.URL+c.path, c.token, c.contentType, []byte(c.body))
			var p Problem
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%d %s: %v", status, raw, err)
			}
			if status != c.status || string(p.Code) != c.code {
				t.Fatalf("answered %d %s, want %d %s: %s", status, p.Code, c.status, c.code, raw)
			}
			if len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Errorf("the problem names %+v, want %q first", p.Errors, c.field)
			}
			if p.TransferID == "" {
				t.Fatalf("the refusal carries no transfer id: it was not recorded: %s", raw)
			}
			var rec types.TransferV1
			if status, raw := getJSON(t, srv.URL+"/v1/audit/transfers/"+p.TransferID, auditor, &rec); status != http.StatusOK {
				t.Fatalf("the record of %s: %d %s", p.TransferID, status, raw)
			}
			if rec.Kind != c.kind || rec.Requester != c.requester || rec.Subject != c.subject || rec.Service != "padro" ||
				rec.Decision != "deny" || rec.Outcome != c.code || rec.HTTPStatus != c.status {
				t.Errorf("record %+v; want a %s of requester %q on subject %q, denied with %d %s", rec, c.kind, c.requester, c.subject, c.status, c.code)
			}
			if c.kind != "self_access" {
				return
			}
			if rec.LegalBasis != "self" {
				t.Errorf("her refused read is recorded with legal basis %q, want self", rec.LegalBasis)
			}
			var hers types.CitizenTransferPageV1
			if status, raw := getJSON(t, srv.URL+"/v1/me/transfers", citizen, &hers); status != http.StatusOK {
				t.Fatalf("her transfers: %d %s", status, raw)
			}
			if !slices.ContainsFunc(hers.Items, func(it types.CitizenTransferV1) bool { return it.ID == p.TransferID }) {
				t.Errorf("her refused read %s is not among her transfers: %+v", p.TransferID, hers.Items)
			}
		})
	}
}

// mintToken signs a token of p for an hour with the development issuer.
func mintToken(t *testing.T, iss *auth.DevIssuer, p auth.Principal) string {
	t.Helper()
	tok, err := iss.Mint(p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sendRequest sends a request with a bearer token and, when body is not
// empty, the body with contentType; it answers the status, the headers and
// the body as received.
func sendRequest(t *testing.T, method, url, token, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > 0 && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// getJSON GETs url with token and decodes a 200 answer into v; it answers
// the status and the body.
func getJSON(t *testing.T, url, token string, v any) (int, []byte) {
	t.Helper()
	status, _, raw := sendRequest(t, "GET", url, token, "", nil)
	if status == http.StatusOK {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, raw)
		}
	}
	return status, raw
}
