package query

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// CheckActivity answers why AdapterActivity refuses its arguments, or nil:
// an empty adapter name would count every record routed to no adapter
// (the refused ones), and a window must start before it ends.
func CheckActivity(adapter string, from, to time.Time) error {
	switch {
	case adapter == "":
		return errors.New("the adapter's name is empty")
	case from.IsZero() || to.IsZero():
		return errors.New("the window's start and end must both be set")
	case to.Before(from):
		return fmt.Errorf("the window ends (%s) before it starts (%s)", to.UTC().Format(time.RFC3339Nano), from.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// ActivityWhere is the condition of AdapterActivity's records, with three
// parameters: the adapter's name (as stored: ActivityArgs), the window's
// start (inclusive) and end (exclusive). The range on "at" lets the
// stores walk their time index (transfers_at), as a search does.
const ActivityWhere = "at >= ? AND at < ? AND adapter = ?"

// ActivityArgs are ActivityWhere's arguments in d.
func ActivityArgs(adapter string, from, to time.Time, d Dialect) []any {
	name, _ := store.StorableText(adapter) // as stored: a name with bytes a text column refuses finds its records
	return []any{d.Time(from), d.Time(to), name}
}

// PercentileRank answers the 1-based position, in ascending order, of the
// discrete percentile p (0 < p <= 1) of n values: the first whose
// cumulative share reaches p, as PostgreSQL's percentile_disc computes it
// (ceil(p*n), at least 1). 0 when n is 0.
func PercentileRank(p float64, n int64) int64 {
	if n <= 0 {
		return 0
	}
	r := int64(math.Ceil(p * float64(n)))
	return min(max(r, 1), n)
}

// Percentiles of an AdapterActivity's latency.
const (
	P50 = 0.5
	P95 = 0.95
)

// NewActivity answers an empty AdapterActivity, its map made.
func NewActivity() store.AdapterActivity {
	return store.AdapterActivity{ByOutcome: map[string]int64{}}
}
