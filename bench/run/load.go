package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Phase is the figures of one load phase against one server.
type Phase struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"` // "pont" or "baseline"
	Rate     string  `json:"rate"`   // "max (N workers)" or "N/s"
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	// Answered counts the legitimate answers: 200 with data, and 404
	// subject_not_found (an unknown subject, which still went through
	// every layer).
	Answered   int     `json:"answered"`
	Throughput float64 `json:"throughput_rps"` // answered per second
	P50ms      float64 `json:"p50_ms"`
	P95ms      float64 `json:"p95_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	// Outcomes counts answers by status and problem code: "200",
	// "404 subject_not_found", "503 store_unavailable", "error: ..." for
	// transport errors.
	Outcomes map[string]int `json:"outcomes"`
	Errors   int            `json:"errors"` // requests that were not Answered
	// CPU is what each process of the machine spent in the phase
	// (pont serve's line is the baseline's in the baseline's phases).
	CPU *CPUTimes `json:"cpu,omitempty"`
}

// measured runs attack as a phase whose CPU is measured process by
// process: the server (pont serve or the baseline), PostgreSQL (the
// database's backends and the server's own processes), this process (the
// load generator) and the simulated sources.
func measured(ctx context.Context, databaseURL string, serverPID, sourcesPID int, run func() Phase) (Phase, error) {
	m, err := startCPUOf(ctx, databaseURL, serverPID, sourcesPID, true)
	if err != nil {
		return Phase{}, err
	}
	ph := run()
	cpu := m.Stop()
	ph.CPU = &cpu
	return ph, nil
}

// perAnswer is a CPU time, in seconds, per answer of ph, in µs.
func perAnswer(seconds float64, ph Phase) float64 {
	if ph.Answered == 0 {
		return 0
	}
	return seconds * 1e6 / float64(ph.Answered)
}

// mix is the request mix of the load run: the five services, equally, each
// with its routing params and legal basis; a third of the subjects are the
// simulated sources' synthetic citizens (mostly found) and the rest
// distinct random valid DNIs, which no source knows (subject_not_found).
type mix struct {
	targets []vegeta.Target
	next    atomic.Uint64
	// Subjects is the number of distinct subjects in the mix.
	Subjects int
}

// knownSubjects are plugins/README.md's synthetic citizens, fault-injection
// subjects left out.
var knownSubjects = []string{"12345678Z", "X1234567L", "45678901G", "23456789D", "34567890V", "56789012B"}

// faultSubjects must never be drawn at random: they make sources slow,
// broken or unavailable on purpose.
var faultSubjects = map[string]bool{"99999999R": true, "11111111H": true, "22222222J": true}

type service struct {
	name   string
	params []map[string]string
	basis  map[string]string
}

var services = []service{
	{"padro", []map[string]string{{"municipality": "08019"}, {"municipality": "17079"}}, nil},
	{"titulacions", []map[string]string{{}}, nil},
	{"discapacitat", []map[string]string{{"region": "09"}, {"region": "10"}}, map[string]string{"type": "law", "reference": "Reial Decret Legislatiu 1/2013"}},
	{"familia-nombrosa", []map[string]string{{"region": "09"}, {"region": "10"}}, nil},
	{"prestacions", []map[string]string{{}}, nil},
}

// newMix builds n requests against base with token.
func newMix(base, token string, n int, seed uint64) (*mix, error) {
	rng := rand.New(rand.NewPCG(seed, 42))
	m := &mix{}
	distinct := map[string]bool{}
	header := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + token}}
	for i := range n {
		svc := services[i%len(services)]
		var subject string
		if rng.IntN(3) == 0 {
			subject = knownSubjects[rng.IntN(len(knownSubjects))]
		} else {
			for subject == "" || faultSubjects[subject] {
				subject = dni(rng.IntN(100_000_000))
			}
		}
		distinct[subject] = true
		idType := "DNI"
		if strings.ContainsAny(subject[:1], "XYZ") {
			idType = "NIE"
		}
		basis := svc.basis
		if basis == nil {
			basis = map[string]string{"type": "presumed"}
		}
		body, err := json.Marshal(map[string]any{
			"procedure":   map[string]string{"code": "DEMO", "name": "Demostració"},
			"purpose":     "demo",
			"legal_basis": basis,
			"case_id":     "EXP-2026-" + strconv.Itoa(10000+i),
			"official":    map[string]string{"id": "38000001E", "name": "Anna Puig"},
			"subject":     map[string]string{"id_type": idType, "id": subject},
			"params":      svc.params[rng.IntN(len(svc.params))],
		})
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		m.targets = append(m.targets, vegeta.Target{
			Method: http.MethodPost, URL: base + "/v1/services/" + svc.name + "/queries",
			Body: body, Header: header,
		})
	}
	m.Subjects = len(distinct)
	return m, nil
}

// targeter hands out the mix's requests in turn, forever.
func (m *mix) targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		i := m.next.Add(1) - 1
		*t = m.targets[i%uint64(len(m.targets))]
		return nil
	}
}

// attack runs one phase: rate 0 is an unthrottled attack by exactly
// workers workers (closed loop: the maximum throughput); a positive rate is
// an open-loop attack at that many requests a second.
func attack(name, target string, m *mix, rate int, workers uint64, d time.Duration) Phase {
	opts := []func(*vegeta.Attacker){
		vegeta.KeepAlive(true), vegeta.Timeout(10 * time.Second),
		vegeta.Connections(int(max(workers, 64))), vegeta.MaxBody(4096),
	}
	pacer := vegeta.Rate{Freq: rate, Per: time.Second}
	desc := fmt.Sprintf("%d/s", rate)
	if rate == 0 {
		opts = append(opts, vegeta.Workers(workers), vegeta.MaxWorkers(workers))
		desc = fmt.Sprintf("max (%d workers)", workers)
	} else {
		opts = append(opts, vegeta.Workers(16), vegeta.MaxWorkers(1024))
	}
	atk := vegeta.NewAttacker(opts...)
	p := Phase{Name: name, Target: target, Rate: desc, Outcomes: map[string]int{}}
	var lat []time.Duration
	var first, last time.Time
	for res := range atk.Attack(m.targeter(), pacer, d, name) {
		if first.IsZero() || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.Timestamp.Add(res.Latency); end.After(last) {
			last = end
		}
		lat = append(lat, res.Latency)
		key := outcome(res)
		p.Outcomes[key]++
		if key == "200" || key == "404 subject_not_found" {
			p.Answered++
		}
	}
	p.Requests = len(lat)
	p.Errors = p.Requests - p.Answered
	p.Seconds = last.Sub(first).Seconds()
	if p.Seconds > 0 {
		p.Throughput = float64(p.Answered) / p.Seconds
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		p.P50ms, p.P95ms, p.P99ms = ms(quantile(lat, .50)), ms(quantile(lat, .95)), ms(quantile(lat, .99))
		p.MaxMs = ms(lat[len(lat)-1])
	}
	return p
}

// outcome names a result: its status, the problem code of an error
// status, or the transport error.
func outcome(r *vegeta.Result) string {
	if r.Code == 0 {
		return "error: " + r.Error
	}
	s := strconv.Itoa(int(r.Code))
	if r.Code >= 400 {
		var prob struct {
			Code string `json:"code"`
		}
		if i := bytes.IndexByte(r.Body, '{'); i >= 0 && json.Unmarshal(r.Body[i:], &prob) == nil && prob.Code != "" {
			s += " " + prob.Code
		}
	}
	return s
}
