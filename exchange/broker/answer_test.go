package broker_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/broker"
)

// TestRecordedHashIsOfTheBytesSent asks for data full of characters that
// JSON encoders like to rewrite (&, <, >, quotes, a backslash, non-ASCII
// letters) and checks, over HTTP, that the transfer record's data_sha256 is
// the SHA-256 of exactly the bytes of data in the body received, and that
// every record carries its HTTP status and SCSP code.
func TestRecordedHashIsOfTheBytesSent(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { recordedHashIsOfTheBytesSent(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func recordedHashIsOfTheBytesSent(t *testing.T, n *node) {
	requester := n.requester(barcelona)
	citizen := n.token(map[string]string{"role": "citizen", "sub": "67890123B"})
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})

	env := envelope("67890123B", map[string]any{"municipality": "17079"})
	body, _ := json.Marshal(env)
	cases := []struct {
		name, method, path, token string
		body                      []byte
	}{
		{"query", "POST", "/v1/services/padro/queries", requester, body},
		{"self access", "GET", "/v1/me/data/padro?municipality=17079", citizen, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, raw := n.raw(c.method, c.path, c.token, c.body)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, raw)
			}
			var ans struct {
				TransferID string          `json:"transfer_id"`
				Data       json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(raw, &ans); err != nil {
				t.Fatalf("answer: %v\n%s", err, raw)
			}
			for _, want := range []string{`&`, `<Baix>`, `\"Vell\"`, `\\1`, `«Nou»`, `Àngel`} {
				if !bytes.Contains(ans.Data, []byte(want)) {
					t.Errorf("data lacks %s as sent by the source: %s", want, ans.Data)
				}
			}
			sum := sha256.Sum256(ans.Data)
			rec := n.transfer(auditor, ans.TransferID)
			if got, want := rec["data_sha256"], hex.EncodeToString(sum[:]); got != want {
				t.Errorf("data_sha256 = %v, want %s, the SHA-256 of the data received", got, want)
			}
			if rec["http_status"] != float64(200) || rec["scsp_code"] != "0003" {
				t.Errorf("record says http_status %v, scsp_code %v; want 200 and 0003", rec["http_status"], rec["scsp_code"])
			}
		})
	}

	// A refused query's record carries the status and SCSP code answered.
	env["purpose"] = "no-such-purpose"
	body, _ = json.Marshal(env)
	status, raw := n.raw("POST", "/v1/services/padro/queries", requester, body)
	var problem struct {
		TransferID string `json:"transfer_id"`
		SCSPCode   string `json:"scsp_code"`
	}
	if err := json.Unmarshal(raw, &problem); err != nil || problem.TransferID == "" {
		t.Fatalf("refusal %d without a transfer id: %s", status, raw)
	}
	rec := n.transfer(auditor, problem.TransferID)
	if rec["http_status"] != float64(status) || rec["scsp_code"] != problem.SCSPCode || problem.SCSPCode == "" {
		t.Errorf("record says http_status %v, scsp_code %v; the answer was %d with %q", rec["http_status"], rec["scsp_code"], status, problem.SCSPCode)
	}
}

// raw sends a request and answers the status and the body as received.
func (n *node) raw(method, path, token string, body []byte) (int, []byte) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	return resp.StatusCode, out
}

// transfer reads one record of the transfer log as an auditor.
func (n *node) transfer(auditor, id string) map[string]any {
	n.t.Helper()
	status, rec, _ := n.do("GET", "/v1/audit/transfers/"+id, auditor, nil)
	if status != http.StatusOK {
		n.t.Fatalf("GET transfer %s: %d %v", id, status, rec)
	}
	if !strings.HasPrefix(id, rec["id"].(string)) {
		n.t.Fatalf("GET transfer %s answered %v", id, rec["id"])
	}
	return rec
}

// TestWrongMediaType: a body that is not JSON is refused with 415, named.
func TestWrongMediaType(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { wrongMediaType(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func wrongMediaType(t *testing.T, n *node) {
	body, _ := json.Marshal(envelope("12345678Z", map[string]any{"municipality": "08019"}))
	req, err := http.NewRequest("POST", n.base+"/v1/services/padro/queries", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+n.requester(barcelona))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p struct {
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnsupportedMediaType || p.Code != "unsupported_media_type" || !strings.Contains(p.Detail, "text/plain") {
		t.Errorf("answer %d %+v, want 415 unsupported_media_type naming text/plain", resp.StatusCode, p)
	}
}
