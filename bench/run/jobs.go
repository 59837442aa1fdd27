package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

// JobsResult is the jobs part of the load: a large asynchronous request of
// one organisation worked while another organisation's synchronous
// queries arrive at Pont's half rate.
type JobsResult struct {
	Subjects int `json:"subjects"` // elements of all the jobs
	Jobs     int `json:"jobs"`
	// Seconds is from the first submission to the last job done;
	// PerSecond the elements done a second over it.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"elements_per_second"`
	// Sync is the synchronous phase run while the jobs were worked, at the
	// rate of the half-rate phase without them (LoadResults.PontHalf).
	Sync Phase `json:"sync_during_jobs"`
	// P99Ratio is Sync's p99 over PontHalf's.
	P99Ratio float64        `json:"p99_ratio"`
	Counts   map[string]int `json:"counts"` // elements by outcome
}

// The jobs part asks the padró of Barcelona about subjects a regional
// department re-checks, in jobs of the most subjects a job may hold.
const (
	jobsSubjects = 10_000
	jobSize      = 1_000
	jobsOrg      = "S0811001G"
)

// runJobs submits jobsSubjects subjects in jobs of jobSize for jobsOrg,
// runs the synchronous mix at rate for phase while they are worked, and
// waits for the jobs to end.
func runJobs(ctx context.Context, pontBin, dataDir, base string, m *mix, rate int, workers uint64, phase time.Duration, alone Phase, logf func(string, ...any)) (*JobsResult, error) {
	out, err := exec.CommandContext(ctx, pontBin, "token", "--data", dataDir, "--role", "requester", "--org", jobsOrg, "--ttl", "2h").Output()
	if err != nil {
		return nil, fmt.Errorf("pont token: %w", exitDetail(err))
	}
	token := strings.TrimSpace(string(out))
	rng := rand.New(rand.NewPCG(7, 42))
	client := &http.Client{Timeout: time.Minute}
	var ids []string
	start := time.Now()
	for j := range jobsSubjects / jobSize {
		subjects := make([]any, jobSize)
		for i := range subjects {
			subject := ""
			for subject == "" || faultSubjects[subject] {
				subject = dni(rng.IntN(100_000_000))
			}
			subjects[i] = map[string]any{"subject": map[string]string{"id_type": "DNI", "id": subject}}
		}
		body, err := json.Marshal(map[string]any{
			"procedure":   map[string]string{"code": "RGC", "name": "Renda garantida de ciutadania"},
			"purpose":     "social-benefits",
			"legal_basis": map[string]string{"type": "presumed"},
			"case_id":     fmt.Sprintf("RGC-2026-%05d", j),
			"official":    map[string]string{"id": "38000001E", "name": "Anna Puig"},
			"params":      map[string]string{"municipality": "08019"},
			"subjects":    subjects,
		})
		if err != nil {
			return nil, err
		}
		var acc struct {
			ID string `json:"id"`
		}
		if err := call(ctx, client, http.MethodPost, base+"/v1/services/padro/jobs", token, body, http.StatusAccepted, &acc); err != nil {
			return nil, fmt.Errorf("submit job %d: %w", j, err)
		}
		ids = append(ids, acc.ID)
	}
	logf("jobs: %d jobs of %d subjects submitted in %s; synchronous queries at %d/s meanwhile", len(ids), jobSize, time.Since(start).Round(time.Millisecond), rate)
	res := &JobsResult{Subjects: jobsSubjects, Jobs: len(ids), Counts: map[string]int{}}
	res.Sync = attack("pont half, jobs running", "pont", m, rate, workers, phase)
	if alone.P99ms > 0 {
		res.P99Ratio = res.Sync.P99ms / alone.P99ms
	}
	for _, id := range ids {
		for {
			var job struct {
				State  string         `json:"state"`
				Counts map[string]int `json:"counts"`
				Done   int            `json:"done"`
			}
			if err := call(ctx, client, http.MethodGet, base+"/v1/jobs/"+id, token, nil, http.StatusOK, &job); err != nil {
				return nil, fmt.Errorf("job %s: %w", id, err)
			}
			if job.State == "0003" {
				for k, v := range job.Counts {
					res.Counts[k] += v
				}
				break
			}
			if time.Since(start) > 15*time.Minute {
				return nil, fmt.Errorf("job %s not done after 15 minutes (%d done)", id, job.Done)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(jobsSubjects) / res.Seconds
	logf("jobs: %d subjects done in %.1f s (%.0f a second); synchronous p99 %.1f ms with them, %.1f ms without", jobsSubjects, res.Seconds, res.PerSecond, res.Sync.P99ms, alone.P99ms)
	return res, nil
}

// call sends one JSON request and decodes the answer into out, which must
// come with status want.
func call(ctx context.Context, client *http.Client, method, url, token string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var p map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&p)
		return fmt.Errorf("%s %s: %d %v", method, url, resp.StatusCode, p)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
