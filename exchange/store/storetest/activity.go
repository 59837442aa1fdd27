package storetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// call is a record of a call to adapter at at, ended with outcome, that
// took latency microseconds.
func call(n int, at time.Time, adapter, outcome string, latency int64) store.Transfer {
	r := full(n, at)
	r.Adapter, r.Outcome, r.LatencyMicros = adapter, outcome, latency
	r.Decision, r.Reasons, r.DataSHA256 = store.Allow, nil, ""
	if outcome == store.OutcomeOK {
		r.HTTPStatus, r.SCSPCode = 200, "0003"
	}
	return r
}

func activity(t *testing.T, s store.Store, adapter string, from, to time.Time) store.AdapterActivity {
	t.Helper()
	a, err := s.AdapterActivity(context.Background(), adapter, from, to)
	if err != nil {
		t.Fatalf("AdapterActivity(%s, %v, %v): %v", adapter, from, to, err)
	}
	if a.ByOutcome == nil {
		t.Errorf("AdapterActivity(%s, %v, %v): ByOutcome is nil, want a map", adapter, from, to)
	}
	return a
}

func checkActivity(t *testing.T, what string, got, exp store.AdapterActivity) {
	t.Helper()
	if exp.ByOutcome == nil {
		exp.ByOutcome = map[string]int64{}
	}
	if got.Calls != exp.Calls || !maps.Equal(got.ByOutcome, exp.ByOutcome) || got.Latency != exp.Latency {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

// testAdapterActivity: an adapter's calls in a window are counted by
// outcome, the latencies' percentiles are taken over the answered ones
// exactly, and neither another adapter's calls, nor the records routed to
// none, nor those outside [from, to) count.
func testAdapterActivity(t *testing.T, s store.Store) {
	const a, b = "padro-08019", "padro-17079"
	from := base.UTC().Truncate(time.Second)
	to := from.Add(time.Hour)
	in := func(i int) time.Time { return from.Add(time.Duration(i) * time.Minute) }
	n := 0
	next := func() int { n++; return n }
	var recs []store.Transfer
	// a: 20 answered calls taking 100, 200, ... 2000 µs, not in order.
	for _, k := range []int64{7, 13, 1, 20, 2, 19, 3, 18, 4, 17, 5, 16, 6, 15, 8, 14, 9, 12, 10, 11} {
		recs = append(recs, call(next(), in(int(k)), a, store.OutcomeOK, k*100))
	}
	// a: failures, slower than any answer: they count, their latency does not.
	recs = append(recs,
		call(next(), in(21), a, "subject_not_found", 50_000),
		call(next(), in(22), a, "subject_not_found", 60_000),
		call(next(), in(23), a, "adapter_timeout", 10_000_000),
		// At the window's start exactly: in it.
		call(next(), from, a, "source_unavailable", 70_000),
	)
	// Outside the window: a microsecond before, and at its end exactly.
	recs = append(recs,
		call(next(), from.Add(-time.Microsecond), a, store.OutcomeOK, 1),
		call(next(), to, a, store.OutcomeOK, 99_999_999),
		call(next(), to.Add(time.Hour), a, "adapter_failed", 5),
	)
	// Another adapter in the window, and a refusal routed to no adapter.
	recs = append(recs,
		call(next(), in(30), b, store.OutcomeOK, 9),
		call(next(), in(31), b, store.OutcomeOK, 1),
		call(next(), in(32), b, store.OutcomeOK, 5),
		call(next(), in(33), b, "adapter_busy", 3),
		call(next(), in(34), "", "purpose_not_allowed", 4),
	)
	mustAppend(t, s, recs...)

	checkActivity(t, "a over the hour", activity(t, s, a, from, to), store.AdapterActivity{
		Calls:     24,
		ByOutcome: map[string]int64{store.OutcomeOK: 20, "subject_not_found": 2, "adapter_timeout": 1, "source_unavailable": 1},
		// Of 20: the 10th and the 19th in order.
		Latency: store.Latency{P50: 1000, P95: 1900, Max: 2000},
	})
	// Of 3 answers (9, 1, 5): the 2nd and the 3rd.
	checkActivity(t, "b over the hour", activity(t, s, b, from, to), store.AdapterActivity{
		Calls:     4,
		ByOutcome: map[string]int64{store.OutcomeOK: 3, "adapter_busy": 1},
		Latency:   store.Latency{P50: 5, P95: 9, Max: 9},
	})
	// The first ten minutes: the answers of 100..1000 µs (at minutes 1 to
	// 10, the 10th out) and the failure at the start.
	checkActivity(t, "a over [from, from+10m)", activity(t, s, a, from, in(10)), store.AdapterActivity{
		Calls:     10,
		ByOutcome: map[string]int64{store.OutcomeOK: 9, "source_unavailable": 1},
		// Of 9: the 5th (ceil 4.5) and the 9th (ceil 8.55).
		Latency: store.Latency{P50: 500, P95: 900, Max: 900},
	})
	// One answer.
	checkActivity(t, "a over one minute", activity(t, s, a, in(7), in(8)), store.AdapterActivity{
		Calls:     1,
		ByOutcome: map[string]int64{store.OutcomeOK: 1},
		Latency:   store.Latency{P50: 700, P95: 700, Max: 700},
	})
	// Failures only: counted, no latency.
	checkActivity(t, "a over its failures", activity(t, s, a, in(21), in(24)), store.AdapterActivity{
		Calls:     3,
		ByOutcome: map[string]int64{"subject_not_found": 2, "adapter_timeout": 1},
	})
	// Empty windows, and an adapter without calls: zeros.
	checkActivity(t, "an empty window", activity(t, s, a, in(5), in(5)), store.AdapterActivity{})
	checkActivity(t, "a window without records", activity(t, s, a, to.Add(2*time.Hour), to.Add(3*time.Hour)), store.AdapterActivity{})
	checkActivity(t, "an adapter without calls", activity(t, s, "padro-43148", from, to), store.AdapterActivity{})
	// The window before and the one after hold the records outside.
	checkActivity(t, "a over the hour before", activity(t, s, a, from.Add(-time.Hour), from), store.AdapterActivity{
		Calls: 1, ByOutcome: map[string]int64{store.OutcomeOK: 1}, Latency: store.Latency{P50: 1, P95: 1, Max: 1},
	})
	checkActivity(t, "a over the hour after", activity(t, s, a, to, to.Add(time.Hour)), store.AdapterActivity{
		Calls: 1, ByOutcome: map[string]int64{store.OutcomeOK: 1}, Latency: store.Latency{P50: 99_999_999, P95: 99_999_999, Max: 99_999_999},
	})

	// Arguments that name no window or no adapter are refused, and not as
	// the store's failure.
	for _, c := range []struct {
		what     string
		adapter  string
		from, to time.Time
	}{
		{"no adapter", "", from, to},
		{"no start", a, time.Time{}, to},
		{"no end", a, from, time.Time{}},
		{"an end before the start", a, to, from},
	} {
		if _, err := s.AdapterActivity(context.Background(), c.adapter, c.from, c.to); err == nil || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("AdapterActivity with %s: err = %v, want a refusal", c.what, err)
		}
	}
}

// testAdapterActivityMany: the percentiles stay exact over more answers
// than a page, whatever order they were written in.
func testAdapterActivityMany(t *testing.T, s store.Store) {
	const a = "padro-08019"
	from := base.UTC().Truncate(time.Second)
	const total = 1000
	recs := make([]store.Transfer, 0, total)
	for i := range total {
		// A permutation of 1..1000 µs (7 and 1000 are coprime), each a
		// millisecond apart.
		us := int64((i*7)%total + 1)
		recs = append(recs, call(i+1, from.Add(time.Duration(i)*time.Millisecond), a, store.OutcomeOK, us))
	}
	mustAppend(t, s, recs...)
	checkActivity(t, "1000 answers", activity(t, s, a, from, from.Add(time.Hour)), store.AdapterActivity{
		Calls:     total,
		ByOutcome: map[string]int64{store.OutcomeOK: total},
		Latency:   store.Latency{P50: 500, P95: 950, Max: 1000},
	})
	// The first 101: the latencies (i*7)%1000+1 for i in 0..100.
	checkActivity(t, "101 answers", activity(t, s, a, from, from.Add(101*time.Millisecond)), store.AdapterActivity{
		Calls:     101,
		ByOutcome: map[string]int64{store.OutcomeOK: 101},
		Latency: expectedLatency(func(yield func(int64)) {
			for i := range 101 {
				yield(int64((i*7)%total + 1))
			}
		}),
	})
}

// expectedLatency computes Latency over the values each yields, by the
// definition: the value of rank ceil(p*n) in ascending order.
func expectedLatency(each func(yield func(int64))) store.Latency {
	var vs []int64
	each(func(v int64) { vs = append(vs, v) })
	if len(vs) == 0 {
		return store.Latency{}
	}
	slices.Sort(vs)
	rank := func(p float64) int64 {
		n := float64(len(vs))
		r := int64(p * n)
		if float64(r) < p*n {
			r++
		}
		return vs[max(r, 1)-1]
	}
	return store.Latency{P50: rank(0.5), P95: rank(0.95), Max: vs[len(vs)-1]}
}
