package broker_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/signing"
)

// postModule POSTs body to /v1/adapters with contentType.
func (n *node) postModule(token, contentType string, body []byte) (int, map[string]any) {
	n.t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.base+"/v1/adapters", bytes.NewReader(body))
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestAdaptersOverHTTP attacks the data owners' routes as an outsider
// would: the wrong role, the wrong media type, garbage, another owner's
// adapter, names no manifest has; and checks what each role sees.
func TestAdaptersOverHTTP(t *testing.T) {
	n := startDev(t)
	tgn := n.token(map[string]string{"role": "publisher", "sub": "it-tgn", "owner": "L01431482"})
	bcn := n.token(map[string]string{"role": "publisher", "sub": "it-bcn", "owner": "P0801900B"})
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})

	// The development node made a key for every owner: Tarragona signs
	// the padró program under its own manifest with its own.
	raw, err := os.ReadFile(filepath.Join(n.dir, "owner-keys", "L01431482.jwk"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(modulesDir, "padro-08019.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := manifest.Read(wasm)
	m.Name, m.Owner, m.Scope = "padro-43148", "L01431482", "43148"
	m.AllowedHosts = []string{"http://padro-43148.sources.pont.test"}
	m.ConfigDefaults = map[string]string{"source_url": "http://padro-43148.sources.pont.test"}
	if wasm, err = manifest.Embed(wasm, m); err != nil {
		t.Fatal(err)
	}
	signed, err := signing.Sign(wasm, key)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name        string
		token, ct   string
		body        []byte
		status      int
		code, field string
	}{
		{"a requester", n.requester(barcelona), "application/wasm", signed, http.StatusForbidden, "forbidden", ""},
		{"an auditor", auditor, "application/wasm", signed, http.StatusForbidden, "forbidden", ""},
		{"JSON", tgn, "application/json", signed, http.StatusUnsupportedMediaType, "unsupported_media_type", ""},
		{"no media type", tgn, "", signed, http.StatusUnsupportedMediaType, "unsupported_media_type", ""},
		{"garbage", tgn, "application/wasm", []byte("\x00asm\x01\x00\x00\x00\xff\xff\xff"), http.StatusUnprocessableEntity, "module_refused", "manifest"},
		{"unsigned", tgn, "application/wasm", wasm, http.StatusUnprocessableEntity, "module_refused", "signature"},
		{"another owner's publisher", bcn, "application/wasm", signed, http.StatusForbidden, "forbidden", ""},
		{"empty", tgn, "application/wasm", nil, http.StatusUnprocessableEntity, "module_refused", "manifest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, out := n.postModule(tt.token, tt.ct, tt.body)
			if status != tt.status || out["code"] != tt.code {
				t.Fatalf("POST /v1/adapters: %d %v, want %d %s", status, out, tt.status, tt.code)
			}
			if tt.field != "" {
				errs, _ := json.Marshal(out["errors"])
				if !strings.Contains(string(errs), `"field":"`+tt.field) {
					t.Errorf("the problem names %s, want %s", errs, tt.field)
				}
			}
		})
	}

	status, out := n.postModule(tgn, "application/wasm", signed)
	if status != http.StatusCreated || out["name"] != "padro-43148" || out["signed"] != true {
		t.Fatalf("publishing: %d %v", status, out)
	}
	if status, out := n.postModule(tgn, "application/wasm", signed); status != http.StatusConflict || out["code"] != "version_exists" {
		t.Fatalf("publishing again: %d %v, want 409 version_exists", status, out)
	}
	for _, tt := range []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"POST", "/v1/adapters/padro-43148/versions/1.0.0/activate", bcn, http.StatusForbidden, "forbidden"},
		{"POST", "/v1/adapters/padro-43148/versions/9.9.9/activate", tgn, http.StatusNotFound, "not_found"},
		{"POST", "/v1/adapters/padro-43148/versions/%00/activate", tgn, http.StatusNotFound, "not_found"},
		{"POST", "/v1/adapters/padro-43148/versions/%ff/activate", tgn, http.StatusNotFound, "not_found"},
		{"POST", "/v1/adapters/padro-43148/rollback", tgn, http.StatusNotFound, "not_found"},
		{"GET", "/v1/adapters/padro-43148", bcn, http.StatusNotFound, "not_found"},
		{"GET", "/v1/adapters/%00", auditor, http.StatusNotFound, "not_found"},
		{"POST", "/v1/adapters/padro-43148/versions/1.0.0/activate", auditor, http.StatusForbidden, "forbidden"},
	} {
		if status, out, _ := n.do(tt.method, tt.path, tt.token, nil); status != tt.status || out["code"] != tt.code {
			t.Errorf("%s %s: %d %v, want %d %s", tt.method, tt.path, status, out, tt.status, tt.code)
		}
	}
	if status, out, _ := n.do("POST", "/v1/adapters/padro-43148/versions/1.0.0/activate", tgn, nil); status != http.StatusOK || out["version"] != "1.0.0" {
		t.Fatalf("activating: %d %v", status, out)
	}
	status, out, _ = n.do("POST", "/v1/services/padro/queries", n.requester(barcelona), envelope("12345678Z", map[string]any{"municipality": "43148"}))
	if src, _ := out["source"].(map[string]any); status != http.StatusOK || src["adapter"] != "padro-43148" {
		t.Fatalf("Tarragona's padró: %d %v", status, out)
	}

	// Who sees what: a publisher its owner's adapters, an auditor all.
	owners := func(token string) map[string]string {
		status, out, _ := n.do("GET", "/v1/adapters", token, nil)
		if status != http.StatusOK {
			t.Fatalf("GET /v1/adapters: %d %v", status, out)
		}
		got := map[string]string{}
		list, _ := out["adapters"].([]any)
		for _, a := range list {
			a, _ := a.(map[string]any)
			got[a["name"].(string)], _ = a["owner"].(string)
		}
		return got
	}
	if got := owners(tgn); len(got) != 1 || got["padro-43148"] != "L01431482" {
		t.Errorf("Tarragona's publisher sees %v, want its one adapter", got)
	}
	got := owners(bcn)
	for name, owner := range got {
		if owner != "P0801900B" {
			t.Errorf("Barcelona's publisher sees %s of owner %s", name, owner)
		}
	}
	if got["padro-08019"] == "" {
		t.Errorf("Barcelona's publisher does not see its padro-08019: %v", got)
	}
	if got := owners(auditor); len(got) < 9 || got["padro-43148"] == "" || got["titulacions"] == "" {
		t.Errorf("an auditor sees %v, want every adapter", got)
	}
	status, out, _ = n.do("GET", "/v1/catalog/services", "", nil)
	if status != http.StatusOK || !strings.Contains(toJSON(out), `"adapter":"padro-43148"`) {
		t.Errorf("the catalog does not show padro-43148 serving its scope: %d", status)
	}
}

func toJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

// TestPublishersHaveAQuota: a publication compiles a module, so each data
// owner's publishers share a bucket; above it they are refused at once.
func TestPublishersHaveAQuota(t *testing.T) {
	n := startDevWith(t, broker.Config{Quota: quota.Config{Publisher: quota.Limit{Rate: 0.001, Burst: 2}}})
	tgn := n.token(map[string]string{"role": "publisher", "sub": "it-tgn-1", "owner": "L01431482"})
	tgn2 := n.token(map[string]string{"role": "publisher", "sub": "it-tgn-2", "owner": "L01431482"})
	bcn := n.token(map[string]string{"role": "publisher", "sub": "it-bcn", "owner": "P0801900B"})
	for i, tok := range []string{tgn, tgn2} {
		if status, out := n.postModule(tok, "application/wasm", []byte("not a module")); status != http.StatusUnprocessableEntity {
			t.Fatalf("publication %d: %d %v, want 422 (within the quota)", i, status, out)
		}
	}
	if status, out := n.postModule(tgn2, "application/wasm", []byte("not a module")); status != http.StatusTooManyRequests || out["code"] != "rate_limited" {
		t.Fatalf("a third publication of the owner: %d %v, want 429 rate_limited", status, out)
	}
	if status, _, _ := n.do("GET", "/v1/adapters", tgn, nil); status != http.StatusTooManyRequests {
		t.Errorf("the owner's reads after its quota: %d, want 429", status)
	}
	if status, out := n.postModule(bcn, "application/wasm", []byte("not a module")); status != http.StatusUnprocessableEntity {
		t.Errorf("another owner's publication: %d %v, want 422: owners have buckets of their own", status, out)
	}
}
