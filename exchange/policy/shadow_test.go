package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/policies"
)

// counter reads the counter name from reg, as a scrape would.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}

// TestShadowFindsWrongMemo makes a memo wrong the way a read that tracked
// does not see would: it records a real evaluation, drops the observations
// of one part of the input, and stores the rest. An input that differs in
// that part is then answered wrongly by the memo; the shadow evaluation
// must catch it, answer what the policies decide, count it, log it without
// the input's values, and turn the memo off for every later decision.
func TestShadowFindsWrongMemo(t *testing.T) {
	const (
		ownID   = "12345678Z"
		otherID = "45678901G"
	)
	citizen := func(subject string) Input {
		q := query(presumed, "consult")
		q["subject"] = map[string]any{"id_type": "DNI", "id": subject}
		return Input{Request: q, Principal: Principal{Role: "citizen", Sub: ownID}, Service: padro(), Now: now, Access: AccessSelf}
	}
	roleOnly := fstest.MapFS{"p.rego": {Data: []byte(`package pont

decision := {"allow": true, "deny": [], "fields": "*", "verify_only": false} if input.principal.role == "requester"
`)}}
	for _, c := range []struct {
		name     string
		fsys     fs.FS
		recorded Input
		// unseen is the observation that tracked is made to miss.
		unseen func(observation) bool
		asked  Input
		// want is what the policies decide for asked; wantErr that they
		// cannot (the memo answered a decision all the same).
		want    fault.Code
		wantErr bool
	}{
		{
			name:     "other decision",
			fsys:     policies.FS,
			recorded: citizen(ownID),
			unseen:   func(o observation) bool { return strings.HasSuffix(o.path, "7:subject2:id") },
			asked:    citizen(otherID),
			want:     fault.NotAuthorized,
		},
		{
			name:     "no decision",
			fsys:     roleOnly,
			recorded: Input{Request: map[string]any{}, Principal: requester, Now: now},
			unseen:   func(o observation) bool { return o.path == "9:principal4:role" },
			asked:    Input{Request: map[string]any{}, Principal: Principal{Role: "auditor", Sub: otherID}, Now: now},
			wantErr:  true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			metrics := NewMetrics()
			reg := prometheus.NewRegistry()
			reg.MustRegister(metrics)
			var logs bytes.Buffer
			e, err := New(ctx, c.fsys, catalogData(), WithShadowEvery(1), WithMetrics(metrics),
				WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}

			// The wrong memo: a real evaluation's trail, less what it read
			// of the part the two inputs differ in.
			recorded, err := c.recorded.value()
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			d, err := e.decide(ctx, track(recorded, "", rec))
			if err != nil || !d.Allow {
				t.Fatalf("recorded input: %+v, %v", d, err)
			}
			var trail []step
			for _, s := range rec.trail {
				if !c.unseen(s.obs) {
					trail = append(trail, s)
				}
			}
			if len(trail) == len(rec.trail) {
				t.Fatalf("the evaluation made no observation to drop; trail %v", rec.trail)
			}
			e.memo.store(trail, d)
			asked, err := c.asked.value()
			if err != nil {
				t.Fatal(err)
			}
			if wrong, ok := e.memo.lookup(asked); !ok || !wrong.Allow {
				t.Fatalf("the memo was not made wrong: lookup = %+v, %t", wrong, ok)
			}

			got, err := e.Decide(ctx, c.asked)
			switch {
			case c.wantErr && err == nil:
				t.Fatalf("Decide = %+v, want the policies' error", got)
			case !c.wantErr && (err != nil || got.Allow || got.Deny[0].Code != c.want):
				t.Fatalf("Decide = %+v, %v; want a refusal %s, as the policies decide", got, err, c.want)
			}
			if n := counter(t, reg, "pont_policy_memo_mismatches_total"); n != 1 {
				t.Errorf("mismatches counted: %v, want 1", n)
			}
			if n := counter(t, reg, "pont_policy_memo_shadow_evaluations_total"); n != 1 {
				t.Errorf("shadow evaluations counted: %v, want 1", n)
			}
			if e.memo.on() || e.memo.root != nil {
				t.Error("the memo is still on after a mismatch")
			}

			var entry map[string]any
			if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
				t.Fatalf("one JSON log line expected, got %q: %v", logs.String(), err)
			}
			if entry["level"] != "ERROR" || entry["memo_allow"] != true || entry["policy_failed"] != c.wantErr || entry["revision"] != e.Revision() {
				t.Errorf("log line %v", entry)
			}
			if !c.wantErr && !strings.Contains(logs.String(), string(c.want)) {
				t.Errorf("log line without the policies' code %s: %s", c.want, logs.String())
			}
			for _, personal := range []string{ownID, otherID, requester.Org, requester.Sub} {
				if strings.Contains(logs.String(), personal) {
					t.Errorf("log line carries %q: %s", personal, logs.String())
				}
			}

			// Off for good: later decisions, even of the recorded input,
			// are evaluated, never looked up nor stored.
			hits, misses := e.memo.hits.Load(), e.memo.misses.Load()
			for range 3 {
				for _, in := range []Input{c.recorded, c.asked} {
					want, werr := e.decide(ctx, mustValue(t, in))
					got, gerr := e.Decide(ctx, in)
					if (gerr == nil) != (werr == nil) || !sameDecision(got, want) {
						t.Fatalf("after the mismatch: Decide = %+v, %v; policies %+v, %v", got, gerr, want, werr)
					}
				}
			}
			if e.memo.hits.Load() != hits || e.memo.misses.Load() != misses || e.memo.nodes != 0 {
				t.Error("the memo was consulted after it was turned off")
			}
			if n := counter(t, reg, "pont_policy_memo_mismatches_total"); n != 1 {
				t.Errorf("mismatches counted after: %v, want 1", n)
			}
			if strings.Count(logs.String(), "\n") != 1 {
				t.Errorf("more than one report: %s", logs.String())
			}
		})
	}
}

func mustValue(t *testing.T, in Input) ast.Object {
	t.Helper()
	v, err := in.value()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestShadowSampling: a right memo is checked on the share of hits asked
// for, finds nothing wrong and stays on; the counts of two engines sharing
// one Metrics (a reload) add up.
func TestShadowSampling(t *testing.T) {
	ctx := context.Background()
	metrics := NewMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics)
	sv, err := NewValue(padro())
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, c := range []struct {
		name     string
		opts     []Option
		hits     int
		min, max float64 // bounds on the shadow evaluations
	}{
		{"every hit", []Option{WithShadowEvery(1)}, 200, 200, 200},
		// 6400 hits at 1 in 64: 100 expected, standard deviation ~10;
		// outside 55..150 is a chance of under one in 10^5.
		{"default", nil, 64 * 100, 55, 150},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := New(ctx, policies.FS, catalogData(), append(c.opts, WithMetrics(metrics))...)
			if err != nil {
				t.Fatal(err)
			}
			before := counter(t, reg, "pont_policy_memo_shadow_evaluations_total")
			for i := range c.hits + 1 { // the first is a miss
				q := query(presumed, "consult")
				q["subject"] = map[string]any{"id_type": "DNI", "id": strconv.Itoa(10000000 + i)}
				d, err := e.Decide(ctx, Input{Request: q, Principal: requester, ServiceValue: sv, Now: now})
				if err != nil || !d.Allow {
					t.Fatalf("Decide = %+v, %v", d, err)
				}
			}
			if h := e.memo.hits.Load(); h != uint64(c.hits) {
				t.Fatalf("%d memo hits, want %d", h, c.hits)
			}
			shadowed := counter(t, reg, "pont_policy_memo_shadow_evaluations_total") - before
			if shadowed < c.min || shadowed > c.max {
				t.Errorf("%v of %d hits evaluated again, want %v to %v", shadowed, c.hits, c.min, c.max)
			}
			total += shadowed
			if !e.memo.on() {
				t.Error("a right memo was turned off")
			}
		})
	}
	if n := counter(t, reg, "pont_policy_memo_shadow_evaluations_total"); n != total {
		t.Errorf("shared counter %v, the engines' sum %v", n, total)
	}
	if n := counter(t, reg, "pont_policy_memo_mismatches_total"); n != 0 {
		t.Errorf("%v mismatches of a right memo", n)
	}
}

// TestShadowEveryRefused: the check cannot be turned off, nor given a
// share that means nothing.
func TestShadowEveryRefused(t *testing.T) {
	for _, every := range []int{0, -1, -64} {
		t.Run(strconv.Itoa(every), func(t *testing.T) {
			if _, err := New(context.Background(), policies.FS, catalogData(), WithShadowEvery(every)); err == nil {
				t.Errorf("New accepted a shadow evaluation of 1 hit in %d", every)
			}
		})
	}
	e, err := New(context.Background(), policies.FS, catalogData())
	if err != nil {
		t.Fatal(err)
	}
	if e.shadowEvery != DefaultShadowEvery || e.metrics == nil || e.log == nil {
		t.Errorf("defaults: every %d, metrics %v, log %v", e.shadowEvery, e.metrics, e.log)
	}
}
