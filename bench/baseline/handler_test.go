package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/plugins"
)

// TestHandler checks that the baseline reaches the same simulated sources
// as the reference adapters, for every service, and answers their data.
func TestHandler(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	sources, err := plugins.StartDevNetwork()
	if err != nil {
		t.Fatal(err)
	}
	defer sources.Close()
	h, err := newHandler(cat, sources.Client)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, service, subject, params string
		wantStatus                     int
		wantCode                       string
	}{
		{"padro found", "padro", "12345678Z", `{"municipality":"08019"}`, 200, ""},
		{"padro other municipality", "padro", "12345678Z", `{"municipality":"17079"}`, 404, "subject_not_found"},
		{"titulacions", "titulacions", "12345678Z", `{}`, 200, ""},
		{"discapacitat", "discapacitat", "12345678Z", `{"region":"09"}`, 200, ""},
		{"familia-nombrosa", "familia-nombrosa", "12345678Z", `{"region":"09"}`, 200, ""},
		{"prestacions", "prestacions", "12345678Z", `{}`, 200, ""},
		{"unknown subject", "prestacions", "00000000T", `{}`, 404, "subject_not_found"},
		{"no source", "padro", "12345678Z", `{"municipality":"99999"}`, 422, "no_source"},
		{"source in maintenance", "titulacions", "22222222J", `{}`, 503, "source_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"procedure":{"code":"DEMO"},"purpose":"demo","legal_basis":{"type":"presumed"},
				"subject":{"id_type":"DNI","id":"` + tt.subject + `"},"params":` + tt.params + `}`
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/services/"+tt.service+"/queries", strings.NewReader(body)))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
			}
			if tt.wantCode != "" && out["code"] != tt.wantCode {
				t.Errorf("code = %v, want %s", out["code"], tt.wantCode)
			}
			if tt.wantStatus == 200 {
				if data, ok := out["data"].(map[string]any); !ok || len(data) == 0 {
					t.Errorf("data = %v, want the source's record", out["data"])
				}
			}
		})
	}
}
