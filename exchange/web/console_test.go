package web

import (
	"reflect"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/api/types"
)

// TestActivityBox: the last hour as the adapter's page shows it: the
// answered calls first and then the most frequent outcome, errors are the
// calls not answered, latencies in the page's language, and the pool's
// outcomes without the zeros the node lists.
func TestActivityBox(t *testing.T) {
	m, err := loadMessages()
	if err != nil {
		t.Fatal(err)
	}
	var a types.AdapterActivityV1
	a.From = time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)
	a.To = a.From.Add(time.Hour)
	a.Calls = 10
	a.ByOutcome = map[string]int64{"subject_not_found": 2, "ok": 6, "adapter_timeout": 1, "source_unavailable": 1}
	a.LatencyUS.P50, a.LatencyUS.P95, a.LatencyUS.Max = 4210, 999_949, 2_500_000
	a.Pool = &types.AdapterPoolV1{Version: "1.0.0", LoadedAt: a.From, Idle: 4, Created: 4, Calls: map[string]uint64{"ok": 7, "subject_not_found": 2, "adapter_busy": 0}}

	for _, c := range []struct {
		lang          string
		p50, p95, max string
	}{
		{"en", "4.2 ms", "999.9 ms", "2.50 s"},
		{"ca", "4,2 ms", "999,9 ms", "2,50 s"},
		{"es", "4,2 ms", "999,9 ms", "2,50 s"},
	} {
		v := &view{loc: m.localizer(c.lang), Lang: c.lang}
		box := v.activityBox(a)
		if box.P50 != c.p50 || box.P95 != c.p95 || box.Max != c.max {
			t.Errorf("%s: latencies %q %q %q, want %q %q %q", c.lang, box.P50, box.P95, box.Max, c.p50, c.p95, c.max)
		}
		if box.Calls != 10 || box.Errors != 4 || !box.Answered {
			t.Errorf("%s: %d calls, %d errors, answered %v; want 10, 4, true", c.lang, box.Calls, box.Errors, box.Answered)
		}
		want := []outcomeCount{{"ok", true, 6}, {"subject_not_found", false, 2}, {"adapter_timeout", false, 1}, {"source_unavailable", false, 1}}
		if !reflect.DeepEqual(box.Outcomes, want) {
			t.Errorf("%s: outcomes %v, want %v", c.lang, box.Outcomes, want)
		}
		if box.Pool == nil || !reflect.DeepEqual(box.Pool.Calls, []outcomeCount{{"ok", true, 7}, {"subject_not_found", false, 2}}) || box.Pool.Idle != 4 {
			t.Errorf("%s: pool %+v", c.lang, box.Pool)
		}
		if got := v.OutcomeName("ok"); got == "ok" || got == "console.outcome_ok" {
			t.Errorf("%s: the answered outcome is named %q", c.lang, got)
		}
		if got := v.T("console.last_hour", "Calls", int64(10), "Errors", int64(4)); got == "console.last_hour" {
			t.Errorf("%s: no message for the list's last hour", c.lang)
		}
	}

	// No answered call: no latency, and every call an error.
	a.ByOutcome = map[string]int64{"adapter_timeout": 2}
	a.Calls, a.LatencyUS.P50, a.LatencyUS.P95, a.LatencyUS.Max, a.Pool = 2, 0, 0, 0, nil
	v := &view{loc: m.localizer("en"), Lang: "en"}
	if box := v.activityBox(a); box.Answered || box.P50 != "" || box.Errors != 2 || box.Pool != nil {
		t.Errorf("no answered call: %+v", box)
	}
}
