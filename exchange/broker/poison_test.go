package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store"
)

// answer is what poisonTest keeps of an answer: its status, and the
// transfer id when it names one.
type answer struct {
	status     int
	TransferID string `json:"transfer_id"`
	Code       string `json:"code"`
	err        error
}

func send(client *http.Client, method, url, token string, body []byte) answer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, err: err}
	if err == nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			a.err = fmt.Errorf("answer is not JSON: %s", raw)
		}
	}
	return a
}

// TestPoisonFailsNoOneElse sends, to a node on each store, a few hundred
// good queries from one organisation and, at the same time, requests
// carrying NUL and bytes that are not UTF-8 in every way they can come in
// (path, body member names, consent ids, query parameters, audit filters).
// Their records share group commits with the good ones. No good query may
// fail; no poisoned request may be answered 5xx; and every poisoned
// attempt that reached the pipeline (its answer names a transfer) is in the
// transfer log, findable with the same raw value.
func TestPoisonFailsNoOneElse(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { poisonFailsNoOneElse(t, open(t)) })
	}
}

func poisonFailsNoOneElse(t *testing.T, st store.Store) {
	ctx := context.Background()
	// A short wait, so that records of good and poisoned requests share
	// transactions even when the load is light on a busy machine.
	n := startDevWith(t, broker.Config{Store: st, AuditOptions: audit.Options{MaxWait: 2 * time.Millisecond}})
	requester := n.requester(barcelona)
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})

	mustJSON := func(v any) []byte {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good := mustJSON(envelope("12345678Z", map[string]any{"municipality": "08019"}))
	nulMember := envelope("12345678Z", map[string]any{"municipality": "08019"})
	nulMember["\x00"] = 1 // encoded as "\u0000"
	nulConsent := envelope("12345678Z", map[string]any{"municipality": "08019"})
	nulConsent["legal_basis"] = map[string]any{"type": "consent", "consent_id": "c\x00"}

	poisons := []struct {
		name, method, path, token string
		body                      []byte
		service                   string // the raw service its records name, to search them by
		altered                   bool   // its records hold bytes the store must escape
	}{
		// The edge keeps unknown service names out of the log altogether
		// (only the catalog's names are recorded), and names bad fields in
		// quoted text: nothing is left for the store to escape. The store's
		// own escaping is held to its contract by the conformance suite.
		{"NUL in the service", http.MethodPost, "/v1/services/x%00/queries", requester, good, "", false},
		{"invalid UTF-8 in the service", http.MethodPost, "/v1/services/x%FF/queries", requester, good, "", false},
		// Not the canonical escape: the router takes the raw path, "x%ff".
		{"lowercase escape in the service", http.MethodPost, "/v1/services/x%ff/queries", requester, good, "", false},
		{"NUL member name", http.MethodPost, "/v1/services/padro/queries", requester, mustJSON(nulMember), "", false},
		{"NUL in a consent id", http.MethodPost, "/v1/services/padro/queries", requester, mustJSON(nulConsent), "", false},
		{"NUL in a self-access parameter", http.MethodGet, "/v1/me/data/padro?municipality=08019&%00=1", citizen, nil, "", false},
		{"NUL in an audit filter", http.MethodGet, "/v1/audit/transfers?subject=%00", auditor, nil, "", false},
		{"invalid UTF-8 in an audit filter", http.MethodGet, "/v1/audit/transfers?official=%FF", auditor, nil, "", false},
	}

	const goodWorkers, goodPerWorker = 6, 50
	const poisonWorkers, rounds = 2, 15
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: goodWorkers + poisonWorkers}}
	t.Cleanup(client.CloseIdleConnections)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		goods    []answer
		poisoned = make([][]answer, len(poisons))
	)
	for range goodWorkers {
		wg.Go(func() {
			for range goodPerWorker {
				a := send(client, http.MethodPost, n.base+"/v1/services/padro/queries", requester, good)
				mu.Lock()
				goods = append(goods, a)
				mu.Unlock()
			}
		})
	}
	for w := range poisonWorkers {
		wg.Go(func() {
			for r := range rounds {
				for i := range poisons {
					p := poisons[(i+w+r)%len(poisons)]
					a := send(client, p.method, n.base+p.path, p.token, p.body)
					mu.Lock()
					poisoned[(i+w+r)%len(poisons)] = append(poisoned[(i+w+r)%len(poisons)], a)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()

	failed := 0
	for _, a := range goods {
		if a.err != nil || a.status != http.StatusOK || a.TransferID == "" {
			failed++
			if failed <= 5 {
				t.Errorf("good query: status %d, code %q, err %v", a.status, a.Code, a.err)
			}
		} else if _, err := st.GetTransfer(ctx, a.TransferID); err != nil {
			t.Errorf("good query's record %s: %v", a.TransferID, err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d good queries failed", failed, len(goods))
	}

	for i, p := range poisons {
		t.Run(p.name, func(t *testing.T) {
			recorded := 0
			for _, a := range poisoned[i] {
				if a.err != nil {
					t.Errorf("%v", a.err)
					continue
				}
				if a.status >= 500 {
					t.Errorf("status %d, code %q: a poisoned request is the caller's fault, never the server's", a.status, a.Code)
					continue
				}
				if a.TransferID == "" {
					continue // refused before the pipeline: nothing to record
				}
				if a.status < 400 || a.status >= 500 {
					t.Errorf("status %d for a poisoned query, want 4xx", a.status)
				}
				rec, err := st.GetTransfer(ctx, a.TransferID)
				if err != nil {
					t.Errorf("record %s of the attempt: %v", a.TransferID, err)
					continue
				}
				if strings.Contains(p.path, "/v1/services/x") && (rec.Service != "" || len(rec.Reasons) == 0 || rec.Reasons[0].Code != "unknown_service") {
					t.Errorf("record %s of an unknown service: service %q, reasons %+v; want no name and unknown_service", rec.ID, rec.Service, rec.Reasons)
				}
				if p.altered {
					if k := len(rec.Reasons); k == 0 || rec.Reasons[k-1].Code != store.ReasonAltered {
						t.Errorf("record %s: reasons %+v, want the store's %s last", rec.ID, rec.Reasons, store.ReasonAltered)
					}
				}
				recorded++
			}
			if p.service != "" && recorded > 0 {
				// An auditor finds the attempts by the raw value sent.
				page, err := st.SearchTransfers(ctx, store.Filter{Service: p.service, Limit: store.MaxPageSize})
				if err != nil {
					t.Fatalf("search by service %q: %v", p.service, err)
				}
				if len(page.Items) != recorded {
					t.Errorf("search by service %q: %d records, want %d", p.service, len(page.Items), recorded)
				}
			}
			t.Logf("%d requests, %d reached the pipeline and were recorded", len(poisoned[i]), recorded)
		})
	}
}
