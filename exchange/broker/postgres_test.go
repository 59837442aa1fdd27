package broker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// rawAnswer is an answer of the query endpoint with its data's bytes
// exactly as they came over the wire.
type rawAnswer struct {
	status     int
	TransferID string          `json:"transfer_id"`
	Data       json.RawMessage `json:"data"`
	Code       string          `json:"code"`
	err        error
}

func (n *node) rawQuery(client *http.Client, token, service string, body []byte) rawAnswer {
	req, err := http.NewRequest(http.MethodPost, n.base+"/v1/services/"+service+"/queries", bytes.NewReader(body))
	if err != nil {
		return rawAnswer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawAnswer{status: resp.StatusCode, err: err}
	}
	a := rawAnswer{status: resp.StatusCode}
	if err := json.Unmarshal(raw, &a); err != nil {
		a.err = errors.New("answer is not JSON: " + string(raw))
	}
	if want := "application/json"; resp.StatusCode != http.StatusOK {
		want = "application/problem+json"
		if ct := resp.Header.Get("Content-Type"); ct != want {
			a.err = errors.New("status " + resp.Status + " with Content-Type " + ct)
		}
	}
	return a
}

// TestFailClosedOnPostgreSQL cuts every database connection of a node,
// repeatedly, in the middle of a concurrent load: each answer is either
// data whose record committed (with the SHA-256 of exactly the bytes
// returned) or 503 store_unavailable with no data; never data without its
// record. Then the node recovers by itself.
func TestFailClosedOnPostgreSQL(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	st, err := postgres.New(ctx, postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	n := startDevWith(t, broker.Config{Store: st})
	token := n.requester(barcelona)

	queries := []struct {
		service string
		body    []byte
	}{}
	for _, q := range allFive {
		if q.service == "discapacitat" {
			continue // its law basis aside, the same path as the others
		}
		body, _ := json.Marshal(envelope("12345678Z", q.params))
		queries = append(queries, struct {
			service string
			body    []byte
		}{q.service, body})
	}

	const workers, perWorker = 8, 60
	var (
		done    atomic.Int64
		started = make(chan struct{}) // closed when the cutting starts
		mu      sync.Mutex
		answers []rawAnswer
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	t.Cleanup(client.CloseIdleConnections)

	// The cutter: once a sixth of the load is answered, terminate every
	// other backend of the test database every 15 ms for 1.5 s.
	cutErr := make(chan error, 1)
	var cuts atomic.Int64
	go func() {
		defer close(cutErr)
		for done.Load() < workers*perWorker/6 {
			time.Sleep(time.Millisecond)
		}
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			cutErr <- err
			return
		}
		defer conn.Close(ctx)
		close(started)
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(15 * time.Millisecond) {
			var killed int64
			err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed)
			if err != nil {
				cutErr <- err
				return
			}
			cuts.Add(killed)
		}
	}()

	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				q := queries[(w+i)%len(queries)]
				a := n.rawQuery(client, token, q.service, q.body)
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := <-cutErr; err != nil {
		t.Fatalf("cutting the connections: %v", err)
	}
	select {
	case <-started:
	default:
		t.Fatal("the connections were never cut")
	}

	var ok, unavailable int
	withData := map[string]json.RawMessage{}
	for i, a := range answers {
		switch {
		case a.err != nil:
			t.Errorf("answer %d: %v", i, a.err)
		case a.status == http.StatusOK:
			if a.TransferID == "" || len(a.Data) == 0 || string(a.Data) == "null" {
				t.Errorf("answer %d: 200 without a transfer id or data: %+v", i, a)
				continue
			}
			ok++
			withData[a.TransferID] = a.Data
		case a.status == http.StatusServiceUnavailable && a.Code == "store_unavailable":
			unavailable++
			if len(a.Data) != 0 {
				t.Errorf("answer %d: 503 with data %s", i, a.Data)
			}
		default:
			t.Errorf("answer %d: %d %s, want 200 with data or 503 store_unavailable", i, a.status, a.Code)
		}
	}
	t.Logf("%d answers: %d with data, %d store_unavailable; %d backends terminated", len(answers), ok, unavailable, cuts.Load())
	if cuts.Load() == 0 || unavailable == 0 {
		t.Errorf("the cut did not bite (%d backends terminated, %d refusals): the test proves nothing", cuts.Load(), unavailable)
	}
	if ok == 0 {
		t.Fatal("no answer carried data")
	}

	// Every answer that carried data has its committed record, hashing
	// exactly the bytes that left.
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ids := make([]string, 0, len(withData))
	for id := range withData {
		ids = append(ids, id)
	}
	rows, err := conn.Query(ctx, `SELECT id, data_sha256, decision, outcome FROM transfers WHERE id = ANY($1)`, ids)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for rows.Next() {
		var id, sum, decision, outcome string
		if err := rows.Scan(&id, &sum, &decision, &outcome); err != nil {
			t.Fatal(err)
		}
		recorded[id] = true
		want := sha256.Sum256(withData[id])
		if sum != hex.EncodeToString(want[:]) {
			t.Errorf("transfer %s: data_sha256 %s, but the data returned hashes to %x", id, sum, want)
		}
		if decision != "allow" || outcome != "ok" {
			t.Errorf("transfer %s: decision %s, outcome %s", id, decision, outcome)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for id := range withData {
		if !recorded[id] {
			t.Errorf("transfer %s returned data but has no record", id)
		}
	}

	// Once the database is back, the node serves again without a restart.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := n.rawQuery(client, token, queries[0].service, queries[0].body)
		if a.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not recover: %d %s %v", a.status, a.Code, a.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
