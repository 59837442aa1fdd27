package broker_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/internal/testenv"
	padro "github.com/pontexchange/pont/plugins/padro/source"
)

// The tests of this file follow sdk-wasm/ABI.md through a whole node: the
// real broker, the reference adapters and the simulated sources, or a
// hand-built module that answers what a test needs.

// TestLatin1SourceReachesTheRequester: the padró of 08019 answers
// 78901234X in ISO-8859-1; the host hands the bytes over unchanged, the
// adapter decodes them with the charset the register declared, and the
// requester receives the street name intact, as UTF-8.
func TestLatin1SourceReachesTheRequester(t *testing.T) {
	n := startDev(t)
	env, err := json.Marshal(envelope(padro.Latin1Subject, map[string]any{"municipality": "08019"}))
	if err != nil {
		t.Fatal(err)
	}
	status, raw := n.raw("POST", "/v1/services/padro/queries", n.requester(barcelona), env)
	if status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", status, raw)
	}
	if !utf8.Valid(raw) || bytes.Contains(raw, []byte("\ufffd")) || bytes.Contains(raw, []byte(`\ufffd`)) {
		t.Fatalf("the answer is not clean UTF-8: %q", raw)
	}
	var answer struct {
		Data struct {
			Address struct {
				StreetName string `json:"street_name"`
			} `json:"address"`
			LastVariation struct {
				Description string `json:"description"`
			} `json:"last_variation"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatal(err)
	}
	if got := answer.Data.Address.StreetName; got != padro.Latin1Street {
		t.Errorf("street_name = %q, want %q", got, padro.Latin1Street)
	}
	if got := answer.Data.LastVariation.Description; got != "Canvi de domicili: reinscripció" {
		t.Errorf("last_variation.description = %q", got)
	}
}

// answering is a hand-built module taking over service's scope that answers
// answer to every call.
func answering(t *testing.T, dir, name, service, scope, answer string) string {
	t.Helper()
	h := hostile{handle: i64Const(uint64(dataOffset)<<32 | uint64(len(answer))), data: []byte(answer), pages: 1}
	wasm, err := manifest.Embed(h.module(), manifest.Manifest{
		ABI: 1, Name: name, Version: "0.0.1", Owner: "S0000000X", Services: []string{service}, Scope: scope,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(p, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSchemaBreakQuotesNoValue: an answer whose street name breaks the
// schema fails with adapter_failed naming the JSON pointer and the keyword;
// neither the problem, nor the node's log, nor the transfer record quotes
// the value, which is the citizen's address.
func TestSchemaBreakQuotesNoValue(t *testing.T) {
	const secret = "Carrer del Secret Ben Guardat 7"
	answer := `{"data":{"province":{"code":"17","name":"Girona"},"municipality":{"code":"17079","name":"Girona"},` +
		`"address":{"street_type":"C","street_name":"Nou","number":"5","postcode":"` + secret + `"},"registration_date":"2022-02-02"}}`
	dir := t.TempDir()
	logs := &testenv.SyncBuffer{}
	n := startDevWith(t, broker.Config{
		Logger:          slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		UnsignedModules: []string{answering(t, dir, "schema-breaker", "padro", "17079", answer)},
	})
	status, problem, _ := n.do("POST", "/v1/services/padro/queries", n.requester(barcelona), envelope("23456789D", map[string]any{"municipality": "17079"}))
	if status != http.StatusBadGateway || problem["code"] != "adapter_failed" {
		t.Fatalf("%d %v, want 502 adapter_failed", status, problem)
	}
	detail, _ := problem["detail"].(string)
	if !strings.Contains(detail, "/address/postcode (pattern)") {
		t.Errorf("detail %q does not name the pointer and the keyword", detail)
	}
	id, _ := problem["transfer_id"].(string)
	rec := n.transfer(n.token(map[string]string{"role": "auditor", "sub": "dpo-1"}), id)
	reasons, _ := json.Marshal(rec["reasons"])
	if !strings.Contains(string(reasons), "/address/postcode (pattern)") {
		t.Errorf("the record's reasons %s do not name the pointer and the keyword", reasons)
	}
	body, _ := json.Marshal(problem)
	for what, text := range map[string]string{"problem": string(body), "log": logs.String(), "record": string(reasons)} {
		if strings.Contains(text, "Secret") {
			t.Errorf("the %s quotes the answer's value:\n%s", what, text)
		}
	}
	if !strings.Contains(logs.String(), "/address/postcode (pattern)") {
		t.Errorf("the log does not say what broke the schema:\n%s", logs)
	}
}

// TestMisconfiguredAdapter: an adapter that answers misconfigured gives the
// requester 503 adapter_misconfigured without a Retry-After (retrying does
// not help), and the node's log an error naming the adapter with its
// message; the adapter keeps its instance and answers the next call.
func TestMisconfiguredAdapter(t *testing.T) {
	answer := `{"error":{"code":"misconfigured","message":"the adapter has no api_key configured"}}`
	dir := t.TempDir()
	logs := &testenv.SyncBuffer{}
	n := startDevWith(t, broker.Config{
		Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
		UnsignedModules: []string{answering(t, dir, "unconfigured", "prestacions", "*", answer)},
	})
	tok := n.requester(barcelona)
	for range 2 {
		status, problem, header := n.do("POST", "/v1/services/prestacions/queries", tok, envelope("12345678Z", map[string]any{}))
		if status != http.StatusServiceUnavailable || problem["code"] != "adapter_misconfigured" || problem["scsp_code"] != "0901" {
			t.Fatalf("%d %v, want 503 adapter_misconfigured with SCSP 0901", status, problem)
		}
		if ra := header.Get("Retry-After"); ra != "" {
			t.Errorf("Retry-After %q: the requester is told to retry what only the operator can fix", ra)
		}
		if detail, _ := problem["detail"].(string); !strings.Contains(detail, "api_key") {
			t.Errorf("detail %q does not carry the adapter's message", detail)
		}
	}
	var errors int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "adapter misconfigured") {
			errors++
			if rec["level"] != "ERROR" || rec["adapter"] != "unconfigured" || !strings.Contains(rec["error"].(string), "api_key") {
				t.Errorf("log line %s: want level ERROR, the adapter and its message", line)
			}
		}
	}
	if errors != 2 {
		t.Errorf("%d error lines for 2 misconfigured answers:\n%s", errors, logs)
	}
}
