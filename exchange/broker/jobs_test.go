package broker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/jobs"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/sqlite"
)

// dni answers the valid DNI of number n.
// slowSubject makes a simulated source wait longer than any adapter deadline.
const slowSubject = "99999999R"

func dni(n int) string { return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23]) }

// batchOf is a DEMO batch on the padró of Barcelona for subjects.
func batchOf(subjects []string) map[string]any {
	b := envelope("", map[string]any{"municipality": "08019"})
	delete(b, "subject")
	list := make([]any, len(subjects))
	for i, s := range subjects {
		kind := "DNI"
		if s[0] == 'X' || s[0] == 'Y' || s[0] == 'Z' {
			kind = "NIE"
		}
		list[i] = map[string]any{"subject": map[string]any{"id_type": kind, "id": s}}
	}
	b["subjects"] = list
	return b
}

// waitJob polls a job until it is done and answers it with its first
// page of results (up to 1,000).
func (n *node) waitJob(token, id string, within time.Duration) map[string]any {
	n.t.Helper()
	deadline := time.Now().Add(within)
	for {
		status, job, _ := n.do("GET", "/v1/jobs/"+id+"?limit=1000", token, nil)
		if status != http.StatusOK {
			n.t.Fatalf("GET job: %d %v", status, job)
		}
		if job["state"] == jobs.StateDone {
			return job
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("the job is not done after %s: %v", within, job["counts"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJobOfAThousandSubjects is the first "done when": a
// 1,000-subject job over found, unknown, objecting and slow subjects ends
// with one result and one transfer record per subject, on both stores.
func TestJobOfAThousandSubjects(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			n := startDevWith(t, broker.Config{Store: st, Jobs: broker.JobsConfig{PerSource: 8, ChunkSize: 50}})
			thousandSubjects(t, n, st)
		})
	}
}

func thousandSubjects(t *testing.T, n *node, st store.Store) {
	tok := n.requester(barcelona)
	const objecting = "45678901G"
	citizen := n.token(map[string]string{"role": "citizen", "sub": objecting})
	if status, o, _ := n.do("POST", "/v1/me/objections", citizen, map[string]any{"service": "padro"}); status != 201 {
		t.Fatalf("objection: %d %v", status, o)
	}
	const total = 1000
	subjects := make([]string, total)
	want := make([]string, total) // the outcome each subject must end with
	for i := range subjects {
		switch {
		case i%100 == 0:
			subjects[i], want[i] = "12345678Z", "ok"
		case i%100 == 1:
			subjects[i], want[i] = "X1234567L", "ok"
		case i%100 == 2:
			subjects[i], want[i] = objecting, "objection_registered"
		case i%250 == 3:
			subjects[i], want[i] = slowSubject, "adapter_timeout"
		default:
			subjects[i], want[i] = dni(40000000+i), "subject_not_found"
		}
	}
	status, acc, hdr := n.do("POST", "/v1/services/padro/jobs", tok, batchOf(subjects))
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, acc)
	}
	id, _ := acc["id"].(string)
	if acc["state"] != "0002" || hdr.Get("Location") != "/v1/jobs/"+id || acc["estimated_at"] == nil || acc["subjects"] != float64(total) {
		t.Fatalf("accepted: %v, Location %q", acc, hdr.Get("Location"))
	}
	job := n.waitJob(tok, id, 2*time.Minute)

	results := job["results"].([]any)
	if len(results) != total || job["total"] != float64(total) || job["done"] != float64(total) {
		t.Fatalf("%d results, total %v, done %v", len(results), job["total"], job["done"])
	}
	counts := map[string]int{}
	for i, r := range results {
		res := r.(map[string]any)
		got := "ok"
		if p, ok := res["problem"].(map[string]any); ok {
			got = p["code"].(string)
			if p["transfer_id"] != res["transfer_id"] || p["scsp_code"] == "" {
				t.Errorf("result %d: problem %v", i, p)
			}
		} else {
			ans := res["answer"].(map[string]any)
			if ans["transfer_id"] != res["transfer_id"] || ans["receipt"] == nil || ans["data"] == nil {
				t.Errorf("result %d: answer %v", i, ans)
			}
		}
		if int(res["index"].(float64)) != i || got != want[i] {
			t.Errorf("result %d (%s): index %v, outcome %s, want %s", i, subjects[i], res["index"], got, want[i])
		}
		counts[got]++
		// One transfer record per subject, linked to the job, of that
		// subject, with the outcome answered.
		rec, err := st.GetTransfer(context.Background(), res["transfer_id"].(string))
		if err != nil {
			t.Fatalf("result %d: its record: %v", i, err)
		}
		if rec.JobID != id || rec.SubjectID != subjects[i] || rec.Outcome != got {
			t.Errorf("result %d: record job %q subject %q outcome %q", i, rec.JobID, rec.SubjectID, rec.Outcome)
		}
	}
	for code, c := range counts {
		if job["counts"].(map[string]any)[code] != float64(c) {
			t.Errorf("counts %v, want %v", job["counts"], counts)
		}
	}
	page, err := st.SearchTransfers(context.Background(), store.Filter{Requester: barcelona, Service: "padro", Limit: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	inJob := 0
	for _, r := range page.Items {
		if r.JobID == id {
			inJob++
		}
	}
	if inJob != total {
		t.Errorf("%d records of the job in the log, want %d", inJob, total)
	}
	// The objecting citizen sees each consultation refused in her transfers.
	status, mine, _ := n.do("GET", "/v1/me/transfers", citizen, nil)
	if status != 200 || len(mine["items"].([]any)) < total/100 {
		t.Errorf("her transfers: %d, %d items", status, len(mine["items"].([]any)))
	}

	// NDJSON: every result, one a line, in order.
	req, _ := http.NewRequest("GET", n.base+"/v1/jobs/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("NDJSON Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	lines := 0
	for ; sc.Scan(); lines++ {
		var res map[string]any
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil || int(res["index"].(float64)) != lines {
			t.Fatalf("line %d: %v %s", lines, err, sc.Bytes())
		}
	}
	if lines != total {
		t.Errorf("%d NDJSON lines, want %d", lines, total)
	}
	// Pages of 300 that chain to the end.
	seen := 0
	for path := "/v1/jobs/" + id + "?limit=300"; path != ""; {
		_, page, _ := n.do("GET", path, tok, nil)
		seen += len(page["results"].([]any))
		path, _ = page["next"].(string)
	}
	if seen != total {
		t.Errorf("the pages hold %d results, want %d", seen, total)
	}
}

// TestJobRequests attacks the job endpoints: other organisations, bad
// batches, repeated keys, and the synchronous batch.
func TestJobRequests(t *testing.T) {
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	n := startDevWith(t, broker.Config{Store: st})
	tok := n.requester(barcelona)

	// A batch with one bad element is refused whole, naming it, and
	// nothing is queued.
	bad := batchOf([]string{"12345678Z", "12345678A", "X1234567L"})
	bad["subjects"].([]any)[2].(map[string]any)["params"] = map[string]any{"municipality": 8019}
	status, p, _ := n.do("POST", "/v1/services/padro/jobs", tok, bad)
	if status != 400 || !namesField(p, "subjects[1].subject.id") || !namesField(p, "subjects[2].params.municipality") || p["transfer_id"] == nil {
		t.Fatalf("a bad batch: %d %v", status, p)
	}
	if jobs, err := st.UnfinishedJobs(context.Background()); err != nil || len(jobs) != 0 {
		t.Fatalf("a refused batch left jobs: %v %v", jobs, err)
	}
	// Too many subjects.
	many := make([]string, jobs.MaxSubjects+1)
	for i := range many {
		many[i] = dni(50000000 + i)
	}
	body, _ := json.Marshal(batchOf(many))
	if status, p, _ := n.do("POST", "/v1/services/padro/jobs", tok, string(body)); status != 400 || p["code"] != "too_many_subjects" || p["scsp_code"] != "0237" {
		t.Fatalf("1,001 subjects: %d %v", status, p)
	}

	// The same key and body answer the first job; another body with that
	// key is 0229.
	submit := func(key string, subjects []string) (int, map[string]any, http.Header) {
		raw, _ := json.Marshal(batchOf(subjects))
		req, _ := http.NewRequest("POST", n.base+"/v1/services/padro/jobs", strings.NewReader(string(raw)))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	s1, first, _ := submit("exp-2026-77/1", []string{"12345678Z", "X1234567L"})
	s2, again, h2 := submit("exp-2026-77/1", []string{"12345678Z", "X1234567L"})
	if s1 != 202 || s2 != 202 || first["id"] != again["id"] || h2.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("a repeated key: %d %v / %d %v", s1, first, s2, again)
	}
	if s, p, _ := submit("exp-2026-77/1", []string{"12345678Z"}); s != 409 || p["code"] != "idempotency_key_reused" || p["scsp_code"] != "0229" {
		t.Fatalf("a repeated key with another body: %d %v", s, p)
	}
	if s, p, _ := submit("bad key", []string{"12345678Z"}); s != 400 || !namesField(p, "Idempotency-Key") {
		t.Fatalf("a bad key: %d %v", s, p)
	}
	// The same new key sent eight times at once makes one job.
	var wg sync.WaitGroup
	ids := make([]any, 8)
	for i := range ids {
		wg.Go(func() {
			if s, out, _ := submit("exp-2026-78/race", []string{"45678901G"}); s == 202 {
				ids[i] = out["id"]
			}
		})
	}
	wg.Wait()
	for _, got := range ids {
		if got == nil || got != ids[0] {
			t.Fatalf("concurrent submissions with one key: %v", ids)
		}
	}
	// Only the requesting organisation reads a job; others are told it
	// does not exist, and other roles are forbidden.
	id := first["id"].(string)
	girona := n.requester("P1708500B")
	if status, p, _ := n.do("GET", "/v1/jobs/"+id, girona, nil); status != 404 {
		t.Fatalf("another organisation's read: %d %v", status, p)
	}
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	if status, _, _ := n.do("GET", "/v1/jobs/"+id, citizen, nil); status != 403 {
		t.Fatalf("a citizen's read: %d", status)
	}
	for _, bad := range []string{"not-a-job%00", "%ff%fe", strings.Repeat("a", 10000)} {
		if status, _, _ := n.do("GET", "/v1/jobs/"+bad, tok, nil); status != 404 {
			t.Fatalf("GET /v1/jobs/%.40s: %d", bad, status)
		}
	}
	// A body over the jobs' limit is refused before it is read whole;
	// NUL bytes and deep nesting in an element are named.
	huge := `{"subjects":[` + strings.Repeat(`{"subject":{"id_type":"DNI","id":"12345678Z"}},`, 100_000) + `]}`
	if status, p, _ := n.do("POST", "/v1/services/padro/jobs", tok, huge); status != 400 || !namesField(p, "body") {
		t.Fatalf("a 4.8 MB body: %d %v", status, p)
	}
	nul := batchOf([]string{"12345678Z", "X1234567L"})
	nul["subjects"].([]any)[1].(map[string]any)["case_id"] = "EXP\x00-1"
	nul["subjects"].([]any)[0].(map[string]any)["params"] = map[string]any{"municipality": "08019", "deep": json.RawMessage(strings.Repeat("[", 5000) + strings.Repeat("]", 5000))}
	if status, p, _ := n.do("POST", "/v1/services/padro/jobs", tok, nul); status != 400 || !namesField(p, "subjects[1].case_id") {
		t.Fatalf("NUL and nesting in elements: %d %v", status, p)
	}
	job := n.waitJob(tok, id, time.Minute)
	if job["counts"].(map[string]any)["ok"] != float64(2) {
		t.Fatalf("the job: %v", job)
	}

	// A callback the catalog does not allow is refused.
	raw, _ := json.Marshal(batchOf([]string{"12345678Z"}))
	req, _ := http.NewRequest("POST", n.base+"/v1/services/padro/jobs", strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Pont-Callback", "http://169.254.169.254/latest/")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var cb map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&cb)
	resp.Body.Close()
	if resp.StatusCode != 400 || cb["code"] != "callback_not_allowed" {
		t.Fatalf("a callback to the metadata service: %d %v", resp.StatusCode, cb)
	}

	// Synchronous batches: up to 25, answered together in order.
	status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, batchOf([]string{"12345678Z", "00000000T", "X1234567L"}))
	if status != 200 {
		t.Fatalf("a synchronous batch: %d %v", status, out)
	}
	res := out["results"].([]any)
	if len(res) != 3 || res[0].(map[string]any)["status"] != float64(200) || res[1].(map[string]any)["status"] != float64(404) || res[2].(map[string]any)["answer"] == nil {
		t.Fatalf("a synchronous batch: %v", out)
	}
	household := make([]string, api.MaxSyncSubjects+1)
	for i := range household {
		household[i] = dni(60000000 + i)
	}
	if status, p, _ := n.do("POST", "/v1/services/padro/queries", tok, batchOf(household)); status != 400 || p["code"] != "too_many_subjects" || !strings.Contains(p["detail"].(string), "/jobs") {
		t.Fatalf("26 subjects synchronously: %d %v", status, p)
	}
}

// TestJobCallback checks that a finished job's callback arrives, signed
// with the key the node publishes, and is retried until it is taken.
func TestJobCallback(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	calls := 0
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first delivery fails
			return
		}
		bodies, sigs = append(bodies, body), append(sigs, r.Header.Get(jobs.SignatureHeader))
	}))
	defer receiver.Close()

	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	auths := make(map[string]catalog.Organisation, len(cat.Authorisations))
	for k, v := range cat.Authorisations {
		auths[k] = v
	}
	org := auths[barcelona]
	org.Callbacks = []string{receiver.URL + "/pont/"}
	auths[barcelona] = org
	cat.Authorisations = auths
	n := startDevWith(t, broker.Config{Catalog: cat})
	tok := n.requester(barcelona)

	raw, _ := json.Marshal(batchOf([]string{"12345678Z", "00000000T"}))
	req, _ := http.NewRequest("POST", n.base+"/v1/services/padro/jobs", strings.NewReader(string(raw)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Pont-Callback", receiver.URL+"/pont/jobs")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var acc map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&acc)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("submit with a callback: %d %v", resp.StatusCode, acc)
	}
	n.waitJob(tok, acc["id"].(string), time.Minute)
	// River retries the failed delivery after its backoff (a few seconds).
	deadline := time.Now().Add(45 * time.Second)
	for {
		mu.Lock()
		got := len(bodies)
		mu.Unlock()
		if got > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no callback delivered after %d attempts", calls)
		}
		time.Sleep(100 * time.Millisecond)
	}
	status, keys, _ := n.do("GET", "/v1/jobs/callback-keys", "", nil)
	if status != 200 {
		t.Fatalf("callback keys: %d", status)
	}
	rawKeys, _ := json.Marshal(keys)
	set, err := jwk.Parse(rawKeys)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if err := jobs.VerifyCallback(set, sigs[0], bodies[0]); err != nil {
		t.Fatalf("the callback's signature: %v", err)
	}
	if err := jobs.VerifyCallback(set, sigs[0], append(bodies[0][:len(bodies[0]):len(bodies[0])], ' ')); err == nil {
		t.Fatal("a changed body verified")
	}
	var note jobs.Notification
	if err := json.Unmarshal(bodies[0], &note); err != nil || note.JobID != acc["id"] || note.State != "0003" || note.Total != 2 {
		t.Fatalf("the notification: %v %+v", err, note)
	}
}

// TestJobResultsExpire checks that a job's results are deleted when their
// retention ends, that the job's state and counts stay, and that the
// deletion is a leaf of the log.
func TestJobResultsExpire(t *testing.T) {
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	n := startDevWith(t, broker.Config{Store: st, Jobs: broker.JobsConfig{RetainFor: time.Second, SweepEvery: time.Second}})
	tok := n.requester(barcelona)
	status, acc, _ := n.do("POST", "/v1/services/padro/jobs", tok, batchOf([]string{"12345678Z", "00000000T"}))
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, acc)
	}
	id := acc["id"].(string)
	if job := n.waitJob(tok, id, time.Minute); len(job["results"].([]any)) != 2 || job["results_expire_at"] == nil {
		t.Fatalf("the done job: %v", job)
	}
	var job map[string]any
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, job, _ = n.do("GET", "/v1/jobs/"+id, tok, nil)
		if job["results_deleted_at"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the results were not deleted: %v", job)
		}
	}
	if job["results"] != nil || job["state"] != jobs.StateDone || job["counts"].(map[string]any)["ok"] != float64(1) {
		t.Fatalf("after the deletion: %v", job)
	}
	els, err := st.JobElements(context.Background(), id, 0, 0)
	if err != nil || len(els) != 2 || els[0].Result != nil || els[1].Result != nil {
		t.Fatalf("the stored elements keep results: %v %+v", err, els)
	}
	if err := n.b.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	tree, err := st.TreeState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := st.Leaves(context.Background(), 0, tree.Size)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, l := range leaves {
		if l.Event != nil && l.Event.Kind == store.EventJobResultsDeleted && l.Event.Ref == id {
			found++
			if l.Event.Requester != barcelona || l.Event.Service != "padro" || l.Event.Count != 2 {
				t.Errorf("the deletion's leaf: %+v", l.Event)
			}
		}
	}
	if found != 1 {
		t.Fatalf("%d leaves record the deletion, want 1", found)
	}
}

// TestJobsArePacedNotRefused checks that a job's elements do not spend the
// requester's rate quota (a job is paced by its own limits), while its
// submission does.
func TestJobsArePacedNotRefused(t *testing.T) {
	n := startDevWith(t, broker.Config{Quota: quota.Config{Requester: quota.Limit{Rate: 0.001, Burst: 1}}})
	tok := n.requester(barcelona)
	subjects := make([]string, 40)
	for i := range subjects {
		subjects[i] = dni(70000000 + i)
	}
	status, acc, _ := n.do("POST", "/v1/services/padro/jobs", tok, batchOf(subjects))
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, acc)
	}
	job := n.waitJob(tok, acc["id"].(string), time.Minute)
	if got := job["counts"].(map[string]any)["subject_not_found"]; got != float64(len(subjects)) {
		t.Fatalf("a job of 40 under a quota of 1: %v", job["counts"])
	}
	if status, p, _ := n.do("POST", "/v1/services/padro/jobs", tok, batchOf(subjects)); status != http.StatusTooManyRequests {
		t.Fatalf("a submission over the quota: %d %v", status, p)
	}
}

// claimRacer is a store whose first claim of element index finds it taken:
// just before the attempt's own claim it claims the element for another
// attempt, which never completes it. That is what a chunk attempt meets when
// river rescued its chunk while an earlier attempt still ran, and the
// earlier attempt's node then died holding the element.
type claimRacer struct {
	*sqlite.Store
	index int
	once  sync.Once
	raced atomic.Bool
}

func (s *claimRacer) ClaimJobElement(ctx context.Context, job string, index int, claim string) error {
	if index == s.index {
		s.once.Do(func() {
			if err := s.Store.ClaimJobElement(ctx, job, index, "an attempt that died"); err == nil {
				s.raced.Store(true)
			}
		})
	}
	return s.Store.ClaimJobElement(ctx, job, index, claim)
}

// TestJobElementHeldByAnotherAttempt: an attempt that finds an element
// claimed by another attempt between its read and its claim does not
// complete its chunk. It used to, and with the other attempt gone the
// element stayed claimed and the job unfinished until river cleaned the
// completed chunk away, a day later; now the chunk is tried again, which
// records the element interrupted, and the job ends.
func TestJobElementHeldByAnotherAttempt(t *testing.T) {
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	racer := &claimRacer{Store: st, index: 1}
	n := startDevWith(t, broker.Config{Store: racer, Jobs: broker.JobsConfig{ChunkSize: 10}})
	tok := n.requester(barcelona)
	subjects := []string{"12345678Z", dni(40000001), dni(40000002)}
	status, acc, _ := n.do("POST", "/v1/services/padro/jobs", tok, batchOf(subjects))
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, acc)
	}
	job := n.waitJob(tok, acc["id"].(string), time.Minute)
	if !racer.raced.Load() {
		t.Fatal("the store never claimed element 1 ahead of the attempt")
	}
	results := job["results"].([]any)
	want := []string{"ok", "job_interrupted", "subject_not_found"}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for i, r := range results {
		got := "ok"
		if p, ok := r.(map[string]any)["problem"].(map[string]any); ok {
			got, _ = p["code"].(string)
		}
		if got != want[i] {
			t.Errorf("result %d: %s, want %s", i, got, want[i])
		}
	}
}
