package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// activitySQL counts an adapter's records in a window by outcome, and
// takes the latencies' percentiles over the answered ones, in one
// statement (one snapshot). The range on "at" walks transfers_at and
// prunes the partitions outside the window; the adapter is a filter on
// the rows found, so that no index of its own makes every append dearer.
// FILTER keeps the sorts of percentile_disc to the answered group.
var activitySQL = query.Postgres.Bind(`SELECT outcome, count(*),
	percentile_disc(` + fmt.Sprint(query.P50) + `) WITHIN GROUP (ORDER BY latency_us) FILTER (WHERE outcome = '` + store.OutcomeOK + `'),
	percentile_disc(` + fmt.Sprint(query.P95) + `) WITHIN GROUP (ORDER BY latency_us) FILTER (WHERE outcome = '` + store.OutcomeOK + `'),
	max(latency_us) FILTER (WHERE outcome = '` + store.OutcomeOK + `')
	FROM transfers WHERE ` + query.ActivityWhere + ` GROUP BY outcome`)

// AdapterActivity answers what the log holds of adapter's calls in
// [from, to).
func (s *Store) AdapterActivity(ctx context.Context, adapter string, from, to time.Time) (store.AdapterActivity, error) {
	if err := query.CheckActivity(adapter, from, to); err != nil {
		return store.AdapterActivity{}, fmt.Errorf("postgres: activity of adapter %q: %w", adapter, err)
	}
	op := "activity of adapter " + adapter
	out := query.NewActivity()
	rows, err := s.pool.Query(ctx, activitySQL, query.ActivityArgs(adapter, from, to, query.Postgres)...)
	if err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var outcome string
		var n int64
		var p50, p95, most *int64 // NULL but in the answered group
		if err := rows.Scan(&outcome, &n, &p50, &p95, &most); err != nil {
			return store.AdapterActivity{}, unavailable(op, err)
		}
		out.Calls += n
		out.ByOutcome[outcome] = n
		if outcome == store.OutcomeOK && p50 != nil && p95 != nil && most != nil {
			out.Latency = store.Latency{P50: *p50, P95: *p95, Max: *most}
		}
	}
	if err := rows.Err(); err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	return out, nil
}
