package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// The statements of AdapterActivity: its records counted by outcome, with
// the answered ones' largest latency, and the answered ones' latencies in
// order, for the percentiles. Both walk transfers_at over the window.
var (
	activityCountSQL = `SELECT outcome, count(*), max(latency_us) FROM transfers
		WHERE ` + query.ActivityWhere + ` GROUP BY outcome`
	activityLatencySQL = `SELECT latency_us FROM transfers
		WHERE ` + query.ActivityWhere + ` AND outcome = '` + store.OutcomeOK + `' ORDER BY latency_us`
)

// AdapterActivity answers what the log holds of adapter's calls in
// [from, to). SQLite has no percentile aggregate: the percentiles are read
// off the answered calls' latencies in order, as they stream by, up to the
// 95th percentile's rank, so that memory stays bounded however many there
// are.
func (s *Store) AdapterActivity(ctx context.Context, adapter string, from, to time.Time) (store.AdapterActivity, error) {
	if err := query.CheckActivity(adapter, from, to); err != nil {
		return store.AdapterActivity{}, fmt.Errorf("sqlite: activity of adapter %q: %w", adapter, err)
	}
	op := "activity of adapter " + adapter
	args := query.ActivityArgs(adapter, from, to, query.SQLite)
	// One read transaction: one snapshot for the counts and the latencies.
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	out := query.NewActivity()
	rows, err := tx.QueryContext(ctx, activityCountSQL, args...)
	if err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	for rows.Next() {
		var outcome string
		var n, most int64
		if err := rows.Scan(&outcome, &n, &most); err != nil {
			rows.Close()
			return store.AdapterActivity{}, unavailable(op, err)
		}
		out.Calls += n
		out.ByOutcome[outcome] = n
		if outcome == store.OutcomeOK {
			out.Latency.Max = most
		}
	}
	if err := rows.Err(); err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	answered := out.ByOutcome[store.OutcomeOK]
	if answered == 0 {
		return out, nil
	}
	r50, r95 := query.PercentileRank(query.P50, answered), query.PercentileRank(query.P95, answered)
	rows, err = tx.QueryContext(ctx, activityLatencySQL, args...)
	if err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	defer rows.Close()
	var rank int64
	for rank < r95 && rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			return store.AdapterActivity{}, unavailable(op, err)
		}
		rank++
		if rank == r50 {
			out.Latency.P50 = us
		}
		if rank == r95 {
			out.Latency.P95 = us
		}
	}
	if err := rows.Err(); err != nil {
		return store.AdapterActivity{}, unavailable(op, err)
	}
	if rank < r95 {
		// The snapshot holds what was counted: fewer latencies than
		// answered records is a store that does not keep its word.
		return store.AdapterActivity{}, unavailable(op, fmt.Errorf("%d answered records counted, %d latencies read", answered, rank))
	}
	return out, nil
}
