package audit_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/sqlite"
)

// counting is a real store that also records the size of every batch it is
// asked to write.
type counting struct {
	store.Store
	mu    sync.Mutex
	sizes []int
}

func (c *counting) AppendTransfers(ctx context.Context, recs []store.Transfer) error {
	c.mu.Lock()
	c.sizes = append(c.sizes, len(recs))
	c.mu.Unlock()
	return c.Store.AppendTransfers(ctx, recs)
}

func (c *counting) batches() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sizes)
}

func newSQLite(tb testing.TB) *counting {
	tb.Helper()
	s, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "pont.db")})
	if err != nil {
		tb.Fatalf("sqlite.New: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return &counting{Store: s}
}

func record() store.Transfer {
	return store.Transfer{ID: audit.NewID(), Time: time.Now().UTC().Truncate(time.Microsecond), Node: "n",
		Kind: "query", RequesterOrg: "P0801900B", Service: "padro", SubjectIDType: "DNI", SubjectID: "12345678Z",
		Decision: store.Allow, Outcome: "ok"}
}

// appendAll appends n records from n goroutines and returns the records and
// each caller's error.
func appendAll(ctx context.Context, l *audit.Log, n int) ([]store.Transfer, []error) {
	recs := make([]store.Transfer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = record()
		wg.Go(func() { errs[i] = l.Append(ctx, recs[i]) })
	}
	wg.Wait()
	return recs, errs
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func TestConcurrentAppendsAreBatched(t *testing.T) {
	const callers, maxBatch = 300, 64
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxBatch: maxBatch, MaxWait: 50 * time.Millisecond})
	defer l.Close()
	recs, errs := appendAll(context.Background(), l, callers)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	// Append returned nil: each record must be readable now, before Close.
	for _, r := range recs {
		if _, err := s.GetTransfer(context.Background(), r.ID); err != nil {
			t.Fatalf("GetTransfer(%s) after Append returned: %v", r.ID, err)
		}
	}
	sizes := s.batches()
	if sum(sizes) != callers {
		t.Errorf("batches %v hold %d records, want %d", sizes, sum(sizes), callers)
	}
	for _, n := range sizes {
		if n > maxBatch {
			t.Errorf("batch of %d records, MaxBatch %d", n, maxBatch)
		}
	}
	// 300 callers within a 50 ms window fill about five batches; one commit
	// per record would be 300.
	if len(sizes) > callers/maxBatch+5 {
		t.Errorf("%d commits for %d records (%v): not batched", len(sizes), callers, sizes)
	}
}

// TestFullBatchGoesWithoutWaiting: a full batch does not wait for MaxWait.
func TestFullBatchGoesWithoutWaiting(t *testing.T) {
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxBatch: 8, MaxWait: time.Hour})
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, errs := appendAll(ctx, l, 8)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if got := s.batches(); !slices.Equal(got, []int{8}) {
		t.Errorf("batches = %v, want [8]", got)
	}
}

func TestNoWait(t *testing.T) {
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxWait: -1})
	defer l.Close()
	for range 3 {
		start := time.Now()
		if err := l.Append(context.Background(), record()); err != nil {
			t.Fatalf("Append: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Append took %v with no wait", d)
		}
	}
	if got := s.batches(); !slices.Equal(got, []int{1, 1, 1}) {
		t.Errorf("batches = %v, want [1 1 1]", got)
	}
}

// TestFailedBatchFailsEveryCaller: a store that is gone fails every caller
// of the batch, closed, in a few commits, not one per record.
func TestFailedBatchFailsEveryCaller(t *testing.T) {
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxBatch: 16, MaxWait: 50 * time.Millisecond})
	defer l.Close()
	s.Close()
	_, errs := appendAll(context.Background(), l, 16)
	for i, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrRejected) {
			t.Errorf("Append %d: err = %v, want ErrUnavailable, not ErrRejected", i, err)
		}
	}
	if sizes := s.batches(); sum(sizes) != 16 || len(sizes) >= 16 {
		t.Errorf("batches = %v, want 16 records in fewer than 16 commits", sizes)
	}
}

// newPostgres opens a PostgreSQL store in a database of its own.
func newPostgres(tb testing.TB) *counting {
	tb.Helper()
	ps, err := postgres.New(context.Background(), postgres.Config{URL: pgtest.NewDatabase(tb)})
	if err != nil {
		tb.Fatalf("postgres.New: %v", err)
	}
	tb.Cleanup(func() { ps.Close() })
	return &counting{Store: ps}
}

// TestRefusedRecordFailsOnlyItself: when the store refuses one record's
// data (here a repeated id, which both stores refuse), only that record's
// caller fails; every other record of the batch commits.
func TestRefusedRecordFailsOnlyItself(t *testing.T) {
	stores := []struct {
		name string
		open func(testing.TB) *counting
	}{{"sqlite", newSQLite}, {"postgres", newPostgres}}
	cases := []struct {
		name string
		n    int
		bad  []int // records whose id repeats an earlier committed record's
	}{
		{"first of 10", 10, []int{0}},
		{"last of 10", 10, []int{9}},
		{"middle of 64", 64, []int{31}},
		{"three of 64", 64, []int{0, 17, 63}},
		{"all of 4", 4, []int{0, 1, 2, 3}},
	}
	for _, st := range stores {
		for _, c := range cases {
			t.Run(st.name+"/"+c.name, func(t *testing.T) {
				s := st.open(t)
				l := audit.NewLog(s, audit.Options{MaxBatch: c.n, MaxWait: time.Hour, Committers: 1})
				defer l.Close()
				ctx := context.Background()
				earlier := record()
				if err := s.Store.AppendTransfers(ctx, []store.Transfer{earlier}); err != nil { // uncounted
					t.Fatal(err)
				}
				recs := make([]store.Transfer, c.n)
				for i := range recs {
					recs[i] = record()
				}
				for _, i := range c.bad {
					recs[i].ID, recs[i].Time = earlier.ID, earlier.Time
				}
				errs := make([]error, c.n)
				var wg sync.WaitGroup
				for i := range recs {
					wg.Go(func() { errs[i] = l.Append(ctx, recs[i]) })
				}
				wg.Wait()
				for i, err := range errs {
					if slices.Contains(c.bad, i) {
						if !errors.Is(err, store.ErrRejected) || !errors.Is(err, store.ErrUnavailable) {
							t.Errorf("refused record %d: err = %v, want ErrRejected and ErrUnavailable", i, err)
						}
						continue
					}
					if err != nil {
						t.Errorf("good record %d: %v", i, err)
					}
					if _, err := s.GetTransfer(ctx, recs[i].ID); err != nil {
						t.Errorf("good record %d: GetTransfer: %v", i, err)
					}
				}
				// Bounded: one batch and at most two transactions per
				// node of the halving tree.
				if sizes := s.batches(); len(sizes) > 2*c.n {
					t.Errorf("%d transactions for a batch of %d: %v", len(sizes), c.n, sizes)
				}
			})
		}
	}
}

// countingEvents is counting that also records the size of every batch of
// events it is asked to write.
type countingEvents struct {
	*counting
	events []int
}

func (c *countingEvents) AppendEvents(ctx context.Context, evs []store.Event) error {
	c.mu.Lock()
	c.events = append(c.events, len(evs))
	c.mu.Unlock()
	return c.Store.AppendEvents(ctx, evs)
}

func logRead() store.Event {
	return store.Event{ID: audit.NewID(), Time: time.Now().UTC().Truncate(time.Microsecond), Node: "n",
		Kind: store.EventLogRead, Operation: "entries", Count: 256, Actor: "dpo", Filter: "/v1/audit/log/tile/entries/7"}
}

// TestEventsJoinTheGroupCommit: events appended beside transfers are
// written in batches of their own kind, are durable when AppendEvent
// returns, and an event the store refuses fails only its own caller.
func TestEventsJoinTheGroupCommit(t *testing.T) {
	for _, st := range []struct {
		name string
		open func(testing.TB) *counting
	}{{"sqlite", newSQLite}, {"postgres", newPostgres}} {
		t.Run(st.name, func(t *testing.T) {
			s := &countingEvents{counting: st.open(t)}
			l := audit.NewLog(s, audit.Options{MaxBatch: 64, MaxWait: 20 * time.Millisecond})
			defer l.Close()
			ctx := context.Background()
			earlier := logRead()
			if err := s.Store.AppendEvents(ctx, []store.Event{earlier}); err != nil { // uncounted
				t.Fatal(err)
			}
			const n = 100
			evs := make([]store.Event, n)
			errs := make([]error, n)
			recs := make([]store.Transfer, n)
			terrs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				evs[i], recs[i] = logRead(), record()
				if i == 42 {
					evs[i].ID, evs[i].Time = earlier.ID, earlier.Time // a repeated id and time: refused
				}
				wg.Go(func() { errs[i] = l.AppendEvent(ctx, evs[i]) })
				wg.Go(func() { terrs[i] = l.Append(ctx, recs[i]) })
			}
			wg.Wait()
			for i := range n {
				if terrs[i] != nil {
					t.Errorf("transfer %d: %v", i, terrs[i])
				}
				if i == 42 {
					if !errors.Is(errs[i], store.ErrRejected) || !errors.Is(errs[i], store.ErrUnavailable) {
						t.Errorf("refused event: err = %v, want ErrRejected and ErrUnavailable", errs[i])
					}
					continue
				}
				if errs[i] != nil {
					t.Errorf("event %d: %v", i, errs[i])
				}
			}
			// Durable: the sealer finds every good event (and the earlier one).
			x, err := s.AcquireSealer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Release()
			found := map[string]bool{}
			for deadline := time.Now().Add(10 * time.Second); len(found) < n && time.Now().Before(deadline); {
				leaves, _, err := x.Unsealed(ctx, 10*n)
				if err != nil {
					t.Fatal(err)
				}
				for _, lf := range leaves {
					if lf.Event != nil {
						found[lf.ID] = true
					}
				}
				if len(found) < n {
					time.Sleep(10 * time.Millisecond) // PostgreSQL: an older transaction of the server
				}
			}
			for i, e := range evs {
				if i != 42 && !found[e.ID] {
					t.Errorf("event %d is not in the store", i)
				}
			}
			s.mu.Lock()
			batches := slices.Clone(s.events)
			s.mu.Unlock()
			if sum(batches) < n || len(batches) >= n {
				t.Errorf("events written in batches %v: want %d or more events in fewer than %d transactions", batches, n, n)
			}
		})
	}
}

// TestStoreDownWhileIsolating: a store that goes down while a refused
// batch is being halved fails every record not yet settled, at once.
func TestStoreDownWhileIsolating(t *testing.T) {
	s := newSQLite(t)
	down := &closing{counting: s, after: 2} // the batch, then its first half
	l := audit.NewLog(down, audit.Options{MaxBatch: 8, MaxWait: time.Hour, Committers: 1})
	defer l.Close()
	ctx := context.Background()
	earlier := record()
	if err := s.Store.AppendTransfers(ctx, []store.Transfer{earlier}); err != nil { // uncounted
		t.Fatal(err)
	}
	recs := make([]store.Transfer, 8)
	for i := range recs {
		recs[i] = record()
	}
	recs[1].ID, recs[1].Time = earlier.ID, earlier.Time
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i := range recs {
		wg.Go(func() { errs[i] = l.Append(ctx, recs[i]) })
	}
	wg.Wait()
	// Callers hand their records over in any order, so the refused one is
	// in either half: the third transaction, the first on the closed store,
	// fails what is left, and nothing more is tried.
	failed := 0
	for i, err := range errs {
		switch {
		case i == 1 && errors.Is(err, store.ErrUnavailable):
			failed++
		case err == nil && i != 1: // in a half committed before the store went
		case errors.Is(err, store.ErrUnavailable) && !errors.Is(err, store.ErrRejected):
			failed++
		default:
			t.Errorf("record %d: err = %v, want nil or ErrUnavailable not ErrRejected", i, err)
		}
	}
	if failed < 4 {
		t.Errorf("%d records failed, want at least the 4 settled after the store went down", failed)
	}
	if got := s.batches(); len(got) != 3 {
		t.Errorf("transactions = %v, want 3: none after the store went down", got)
	}
}

// closing is a store that closes itself after a number of transactions, as
// a database that goes away.
type closing struct {
	*counting
	after int
	n     atomic.Int32
}

func (c *closing) AppendTransfers(ctx context.Context, recs []store.Transfer) error {
	if int(c.n.Add(1)) > c.after {
		c.counting.Store.Close()
	}
	return c.counting.AppendTransfers(ctx, recs)
}

// TestCanceledCallersRecordIsWrittenOnce: a caller that stops waiting gets
// ctx.Err(), and its record, already handed over, is still written once
// (here by Close, since MaxWait holds the batch).
func TestCanceledCallersRecordIsWrittenOnce(t *testing.T) {
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxWait: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	recs, errs := appendAll(ctx, l, 5)
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Append %d: err = %v, want DeadlineExceeded", i, err)
		}
	}
	if got := s.batches(); len(got) != 0 {
		t.Fatalf("batches before Close = %v, want none", got)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := s.batches(); !slices.Equal(got, []int{5}) {
		t.Errorf("batches = %v, want [5]", got)
	}
	page, err := s.SearchTransfers(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != len(recs) {
		t.Errorf("store holds %d records, want %d", len(page.Items), len(recs))
	}
	for _, r := range recs {
		if _, err := s.GetTransfer(context.Background(), r.ID); err != nil {
			t.Errorf("record %s: %v", r.ID, err)
		}
	}

	// A caller already gone hands nothing over.
	l2 := audit.NewLog(s, audit.Options{})
	defer l2.Close()
	gone, cancel2 := context.WithCancel(context.Background())
	cancel2()
	r := record()
	if err := l2.Append(gone, r); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context: err = %v, want Canceled", err)
	}
	l2.Close()
	if _, err := s.GetTransfer(context.Background(), r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record of a canceled Append: err = %v, want ErrNotFound", err)
	}
}

// TestCloseFlushesWaitingCallers: Close writes the batch that is waiting and
// lets its callers return; every nil means a durable record.
func TestCloseFlushesWaitingCallers(t *testing.T) {
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxWait: time.Hour})
	const n = 20
	recs := make([]store.Transfer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var started atomic.Int32
	for i := range recs {
		recs[i] = record()
		wg.Go(func() {
			started.Add(1)
			errs[i] = l.Append(context.Background(), recs[i])
		})
	}
	for started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the callers hand their records over
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	written := 0
	for i, err := range errs {
		_, getErr := s.GetTransfer(context.Background(), recs[i].ID)
		switch {
		case err == nil && getErr == nil:
			written++
		case errors.Is(err, audit.ErrClosed) && errors.Is(getErr, store.ErrNotFound):
		default:
			t.Errorf("caller %d: Append err = %v, but GetTransfer err = %v", i, err, getErr)
		}
	}
	if written == 0 {
		t.Error("Close wrote none of the waiting records")
	}
	if err := l.Append(context.Background(), record()); !errors.Is(err, audit.ErrClosed) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Append after Close: err = %v, want ErrClosed wrapping ErrUnavailable", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAppendRefusesIncompleteRecords(t *testing.T) {
	s := newSQLite(t)
	l := audit.NewLog(s, audit.Options{MaxWait: -1})
	defer l.Close()
	noID, noTime := record(), record()
	noID.ID, noTime.Time = "", time.Time{}
	for name, r := range map[string]store.Transfer{"no id": noID, "no time": noTime} {
		if err := l.Append(context.Background(), r); err == nil {
			t.Errorf("%s: nil error", name)
		}
	}
	if got := s.batches(); len(got) != 0 {
		t.Errorf("batches = %v, want none", got)
	}
}

func TestNewID(t *testing.T) {
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = audit.NewID()
		u, err := uuid.Parse(ids[i])
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("NewID() = %q: version %v, variant %v, err %v", ids[i], u.Version(), u.Variant(), err)
		}
	}
	if !slices.IsSorted(ids) {
		t.Error("ids are not in creation order")
	}
	if len(slices.Compact(slices.Clone(ids))) != n {
		t.Error("NewID repeated an id")
	}
}

// TestPostgresGoneFailsCallers: the production store disappearing under the
// log fails every waiting caller closed.
func TestPostgresGoneFailsCallers(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	ps, err := postgres.New(context.Background(), postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	defer ps.Close()
	s := &counting{Store: ps}
	l := audit.NewLog(s, audit.Options{MaxWait: 20 * time.Millisecond})
	defer l.Close()
	if _, errs := appendAll(context.Background(), l, 10); errors.Join(errs...) != nil {
		t.Fatalf("Append while up: %v", errors.Join(errs...))
	}

	admin, err := pgx.Connect(context.Background(), os.Getenv(pgtest.EnvURL))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if _, err := admin.Exec(context.Background(), fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatalf("drop database: %v", err)
	}
	_, errs := appendAll(context.Background(), l, 10)
	for i, err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Append %d after the database went: err = %v, want ErrUnavailable", i, err)
		}
	}
}

// gate is a store whose AppendTransfers blocks until released, counting the
// transactions in flight at once.
type gate struct {
	store.Store
	release  chan struct{}
	inFlight atomic.Int32
	peak     atomic.Int32
	started  chan struct{}
	conc     int // AppendConcurrency, when wrapped by concurrentGate
}

func (g *gate) AppendTransfers(ctx context.Context, recs []store.Transfer) error {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	g.started <- struct{}{}
	<-g.release
	return g.Store.AppendTransfers(ctx, recs)
}

// concurrentGate is a gate that declares itself a ConcurrentAppender.
type concurrentGate struct{ *gate }

func (c concurrentGate) AppendConcurrency() int { return c.conc }

func TestCommittersOverlapTransactions(t *testing.T) {
	for _, c := range []struct {
		name string
		opts audit.Options
		wrap func(*gate) store.Store
		want int32
	}{
		{"default is one", audit.Options{}, func(g *gate) store.Store { return g }, 1},
		{"explicit", audit.Options{Committers: 3}, func(g *gate) store.Store { return g }, 3},
		{"store says", audit.Options{}, func(g *gate) store.Store { g.conc = 2; return concurrentGate{g} }, 2},
		{"explicit wins over store", audit.Options{Committers: 1}, func(g *gate) store.Store { g.conc = 4; return concurrentGate{g} }, 1},
		{"capped", audit.Options{Committers: 99}, func(g *gate) store.Store { return g }, audit.MaxCommitters},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &gate{Store: newSQLite(t), release: make(chan struct{}), started: make(chan struct{}, 16)}
			c.opts.MaxWait = -1
			l := audit.NewLog(c.wrap(g), c.opts)
			ctx := context.Background()
			const extra = 4
			errs := make(chan error, int(c.want)+extra)
			// One record at a time: each is taken by a free committer,
			// alone, until every committer is busy.
			for range c.want {
				go func() { errs <- l.Append(ctx, record()) }()
				select {
				case <-g.started:
				case <-time.After(5 * time.Second):
					t.Fatalf("fewer than %d transactions started", c.want)
				}
			}
			// Every committer busy: these wait for the next batch.
			for range extra {
				go func() { errs <- l.Append(ctx, record()) }()
			}
			select {
			case <-g.started:
				t.Fatalf("more than %d transactions in flight", c.want)
			case <-time.After(50 * time.Millisecond):
			}
			if got := g.peak.Load(); got != c.want {
				t.Errorf("%d transactions in flight at once, want %d", got, c.want)
			}
			close(g.release)
			for range int(c.want) + extra {
				if err := <-errs; err != nil {
					t.Errorf("Append: %v", err)
				}
			}
			l.Close()
			if got := g.peak.Load(); got > c.want {
				t.Errorf("%d transactions in flight at once, want at most %d", got, c.want)
			}
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	stores := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store { return newSQLite(b).Store },
		"postgres": func(b *testing.B) store.Store {
			s, err := postgres.New(context.Background(), postgres.Config{URL: pgtest.NewDatabase(b)})
			if err != nil {
				b.Fatalf("postgres.New: %v", err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
	}
	for _, c := range []struct {
		name       string
		store      string
		committers int
	}{{"sqlite", "sqlite", 0}, {"postgres", "postgres", 0}, {"postgres/committers=2", "postgres", 2}, {"postgres/committers=4", "postgres", 4}} {
		b.Run(c.name, func(b *testing.B) {
			s := &counting{Store: stores[c.store](b)}
			l := audit.NewLog(s, audit.Options{Committers: c.committers})
			defer l.Close()
			b.SetParallelism(32) // many requests in flight, as on a busy node
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Append(context.Background(), record()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if sizes := s.batches(); len(sizes) > 0 {
				b.ReportMetric(float64(sum(sizes))/float64(len(sizes)), "records/commit")
			}
		})
	}
}

// BenchmarkAppendLatency offers records at a steady rate (open loop, one
// every 100 µs, as requests arrive on a busy node) and reports how long
// callers wait for their commit: the wait that one committer turns into a
// queue when a commit takes longer than the batches arrive.
func BenchmarkAppendLatency(b *testing.B) {
	for _, committers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("postgres/committers=%d", committers), func(b *testing.B) {
			s, err := postgres.New(context.Background(), postgres.Config{URL: pgtest.NewDatabase(b)})
			if err != nil {
				b.Fatalf("postgres.New: %v", err)
			}
			b.Cleanup(func() { s.Close() })
			l := audit.NewLog(s, audit.Options{Committers: committers})
			defer l.Close()
			waits := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			tick := time.NewTicker(100 * time.Microsecond)
			defer tick.Stop()
			b.ResetTimer()
			for i := range b.N {
				<-tick.C
				wg.Go(func() {
					start := time.Now()
					if err := l.Append(context.Background(), record()); err != nil {
						b.Error(err)
					}
					waits[i] = time.Since(start)
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(waits)
			b.ReportMetric(float64(waits[len(waits)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
