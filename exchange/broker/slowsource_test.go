package broker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/broker"
)

// outcome is one query's answer as a caller saw it.
type outcome struct {
	status     int
	code       string // the problem's code; "" for an answer
	retryAfter string
	latency    time.Duration
	at         time.Time
}

// post sends one padró 08019 query for subject with token, on client.
func (n *node) post(client *http.Client, token string, env map[string]any) (outcome, error) {
	raw, err := json.Marshal(env)
	if err != nil {
		return outcome{}, err
	}
	req, err := http.NewRequest(http.MethodPost, n.base+"/v1/services/padro/queries", bytes.NewReader(raw))
	if err != nil {
		return outcome{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return outcome{}, fmt.Errorf("POST padró: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return outcome{}, fmt.Errorf("reading the answer: %w", err)
	}
	o := outcome{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), latency: time.Since(start), at: start}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Code string }
		if err := json.Unmarshal(body, &p); err != nil {
			return outcome{}, fmt.Errorf("status %d, not a problem: %s", resp.StatusCode, body)
		}
		o.code = p.Code
	}
	return o, nil
}

// percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// TestSlowRecordTakesNoServiceFromOthers: eight callers of one organisation
// hammer the fixture subject whose source never answers in time, beside
// callers of another organisation asking for a citizen the same source
// knows. The good callers keep their latency (a generous bound: ten times
// their p50 alone, or 100 ms) and are never told adapter_busy; the slow
// ones get adapter_timeout until that record's breaker opens, and then a
// fast source_unavailable with a Retry-After.
func TestSlowRecordTakesNoServiceFromOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about ten seconds on each store")
	}
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			slowRecordTakesNoServiceFromOthers(t, startDevWith(t, broker.Config{Store: open(t)}))
		})
	}
}

func slowRecordTakesNoServiceFromOthers(t *testing.T, n *node) {
	slowTok := n.requester(barcelona)
	goodTok := n.requester("P1708500B")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(client.CloseIdleConnections)
	slowEnv := envelope("99999999R", map[string]any{"municipality": "08019"})
	goodEnv := envelope("12345678Z", map[string]any{"municipality": "08019"})
	goodEnv["procedure"] = map[string]any{"code": "PREINSCRIPCIO", "name": "Preinscripció escolar"}
	goodEnv["purpose"] = "school-admission"

	var alone []time.Duration
	for range 30 {
		o, err := n.post(client, goodTok, goodEnv)
		if err != nil || o.status != http.StatusOK {
			t.Fatalf("a good query alone = %+v, %v; want 200", o, err)
		}
		alone = append(alone, o.latency)
	}
	slices.Sort(alone)
	aloneP50 := percentile(alone, 0.5)

	const run = 7 * time.Second // the 2 s deadline, a few waves of it, and the breaker's fast answers
	stop := time.Now().Add(run)
	var mu sync.Mutex
	var slow, good []outcome
	var wg sync.WaitGroup
	caller := func(token string, env map[string]any, into *[]outcome) {
		defer wg.Done()
		for time.Now().Before(stop) {
			o, err := n.post(client, token, env)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			*into = append(*into, o)
			mu.Unlock()
		}
	}
	for range 8 {
		wg.Add(1)
		go caller(slowTok, slowEnv, &slow)
	}
	for range 4 {
		wg.Add(1)
		go caller(goodTok, goodEnv, &good)
	}
	wg.Wait()

	count := func(os []outcome) map[string]int {
		c := map[string]int{}
		for _, o := range os {
			k := o.code
			if k == "" {
				k = fmt.Sprint(o.status)
			}
			c[k]++
		}
		return c
	}
	var goodLat []time.Duration
	for _, o := range good {
		goodLat = append(goodLat, o.latency)
	}
	slices.Sort(goodLat)
	p50, p99 := percentile(goodLat, 0.5), percentile(goodLat, 0.99)
	t.Logf("good callers alone: p50 %s; beside the slow ones: %d queries, p50 %s, p99 %s, outcomes %v",
		aloneP50, len(good), p50, p99, count(good))
	t.Logf("slow callers: %d queries, outcomes %v", len(slow), count(slow))

	t.Run("good callers keep their service", func(t *testing.T) {
		if c := count(good); c["200"] != len(good) {
			t.Errorf("good callers' outcomes %v, want only 200", c)
		}
		if bound := max(10*aloneP50, 100*time.Millisecond); p50 > bound {
			t.Errorf("good callers' p50 %s beside the slow ones, over %s (alone: %s)", p50, bound, aloneP50)
		}
	})
	t.Run("slow callers time out, then fail fast", func(t *testing.T) {
		slices.SortFunc(slow, func(a, b outcome) int { return a.at.Compare(b.at) })
		firstTimeout := -1
		var fast []time.Duration
		for i, o := range slow {
			switch o.code {
			case "adapter_timeout":
				if firstTimeout < 0 {
					firstTimeout = i
				}
			case "source_unavailable":
				if firstTimeout < 0 {
					t.Fatalf("source_unavailable before any adapter_timeout: %+v", o)
				}
				if o.retryAfter == "" {
					t.Errorf("source_unavailable without Retry-After: %+v", o)
				}
				fast = append(fast, o.latency)
			case "adapter_busy":
			default:
				t.Errorf("a slow query answered %d %q", o.status, o.code)
			}
		}
		if firstTimeout < 0 || len(fast) == 0 {
			t.Fatalf("slow callers' outcomes %v, want adapter_timeout and then source_unavailable", count(slow))
		}
		slices.Sort(fast)
		if p := percentile(fast, 0.5); p > 200*time.Millisecond {
			t.Errorf("source_unavailable's p50 %s: the breaker does not answer fast", p)
		}
	})
}
