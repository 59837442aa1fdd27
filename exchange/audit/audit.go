// Package audit writes the transfer log: it turns the concurrent records of
// many requests into group commits on a store.Store, and tells each caller
// when its own record is durable. It changes when the way records reach the
// store (batching, ordering, failure handling) changes.
//
// A caller that is about to answer with data calls Append and answers only
// when Append returns nil: no data leaves without a durable record. Batching
// keeps that promise cheap: one transaction carries the records of every
// request that arrived while the previous transaction was committing. On a
// store that takes concurrent writers (Options.Committers, or a store that
// says so through ConcurrentAppender) a few transactions may be in flight at
// once, so that a record waits for one commit, not for a queue of them.
package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/pontexchange/pont/exchange/store"
)

// ErrClosed is returned by Append after Close. It wraps store.ErrUnavailable:
// callers fail closed, as when the store is down.
var ErrClosed = fmt.Errorf("audit: log closed: %w", store.ErrUnavailable)

// Options tune the group commit. The zero value is usable.
type Options struct {
	// MaxBatch is the most records written in one transaction. Defaults to 256.
	MaxBatch int
	// MaxWait is how long a batch waits for company after its first record
	// before it is written, when a committer is free: the latency paid for
	// fewer, larger transactions. The default, zero, is no wait: a batch is
	// whatever arrived while the previous one was committing, which under
	// load is many records and under light load is one, at once. A batch
	// that waits for a busy committer is written as soon as that commit
	// ends, whatever MaxWait says. Negative is zero.
	MaxWait time.Duration
	// CommitTimeout bounds one AppendTransfers call, so that a store that
	// hangs fails its callers instead of holding every later record.
	// Defaults to 10 s.
	CommitTimeout time.Duration
	// Committers is the most transactions in flight at once: while one
	// batch commits, the next may start committing as soon as it is due
	// instead of queueing behind it. 1 writes one batch after the other, as a
	// single-writer store (SQLite) needs. Defaults to the store's
	// AppendConcurrency when it implements ConcurrentAppender, otherwise 1;
	// at most MaxCommitters. With more than one, batches may become durable
	// in another order than they were formed (records' ids and times still
	// order them): a reader of the log, or a sealer, must not assume that
	// what committed last was appended last.
	Committers int
	// Logger receives batch failures (counts and errors, never records).
	// Defaults to slog.Default().
	Logger *slog.Logger
}

// MaxCommitters bounds Options.Committers: a few concurrent transactions let
// the database group their fsyncs; more only add contention.
const MaxCommitters = 4

// ConcurrentAppender is implemented by stores whose AppendTransfers may run
// concurrently with itself to good effect (PostgreSQL, which group-commits
// concurrent transactions' fsyncs itself): AppendConcurrency is the number of
// concurrent transactions the Log uses when Options.Committers is zero. A
// store without it gets one committer.
type ConcurrentAppender interface {
	AppendConcurrency() int
}

func (o Options) withDefaults(s store.Store) Options {
	if o.Committers <= 0 {
		o.Committers = 1
		if ca, ok := s.(ConcurrentAppender); ok {
			o.Committers = ca.AppendConcurrency()
		}
	}
	o.Committers = max(1, min(o.Committers, MaxCommitters))
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	o.MaxWait = max(o.MaxWait, 0)
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// pending is one record on its way, and where its outcome goes: a
// transfer, or an event when ev is set.
type pending struct {
	rec  store.Transfer
	ev   *store.Event
	done chan error // buffered: the committer never waits for a caller
}

// id names the record in the Log's messages (never personal data).
func (p *pending) id() string {
	if p.ev != nil {
		return p.ev.ID
	}
	return p.rec.ID
}

// Log is the group-commit writer in front of a store. Safe for concurrent
// use. It does not own the store: Close stops the Log, not the store.
type Log struct {
	s    store.Store
	opts Options

	// mu guards closed against Append's send: Close takes it exclusively,
	// so that no record is handed over after Close has begun.
	mu      sync.RWMutex
	closed  bool
	in      chan *pending   // callers -> collector
	batches chan []*pending // collector -> committers; unbuffered, so a batch is handed over only when a committer is free
	done    chan struct{}   // closed when every committer has finished

	closeOnce sync.Once
}

// NewLog starts a Log writing to s.
func NewLog(s store.Store, opts Options) *Log {
	opts = opts.withDefaults(s)
	l := &Log{
		s:       s,
		opts:    opts,
		in:      make(chan *pending, opts.MaxBatch),
		batches: make(chan []*pending),
		done:    make(chan struct{}),
	}
	go l.collect()
	var wg sync.WaitGroup
	for range opts.Committers {
		wg.Go(l.commit)
	}
	go func() {
		wg.Wait()
		close(l.done)
	}()
	return l
}

// NewID returns a new transfer id: a UUIDv7, whose text sorts in time order,
// as the store's newest-first order and its monthly partitions expect.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// Append hands t to the next group commit and waits until that commit has
// ended. It returns nil once t is durable, or an error wrapping
// store.ErrUnavailable when t is not: the store failed (then nothing of t's
// batch was written), the store refused t's own data (the error wraps
// store.ErrRejected too, and the batch's other records are written without
// it: one record's data never fails another's), or the Log is closed.
//
// When ctx ends first, Append returns ctx.Err(). If t was already handed
// over it is still written, exactly once; the caller only stops waiting.
// Callers that must know the outcome use a context that outlives the wait
// they accept.
func (l *Log) Append(ctx context.Context, t store.Transfer) error {
	if t.ID == "" {
		return fmt.Errorf("audit: append: record without an id")
	}
	if t.Time.IsZero() {
		return fmt.Errorf("audit: append %s: record without a time", t.ID)
	}
	return l.hand(ctx, &pending{rec: t, done: make(chan error, 1)})
}

// AppendEvent is Append for an event of the log (store.Event): it joins the
// same group commits, in a transaction of the store's AppendEvents beside
// the batch's transfers, and returns once e is durable, with Append's
// errors. An auditor's read of the log is one: written before the answer
// leaves, and, under a read of the whole log, many at once.
func (l *Log) AppendEvent(ctx context.Context, e store.Event) error {
	if e.ID == "" {
		return fmt.Errorf("audit: append: event without an id")
	}
	if e.Time.IsZero() {
		return fmt.Errorf("audit: append %s: event without a time", e.ID)
	}
	return l.hand(ctx, &pending{ev: &e, done: make(chan error, 1)})
}

// hand gives p to the collector and waits for its outcome.
func (l *Log) hand(ctx context.Context, p *pending) error {
	if err := ctx.Err(); err != nil {
		return err // a caller already gone hands nothing over
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	select {
	case l.in <- p:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// collect gathers records into batches: a batch is handed to a committer
// when it is full, or when MaxWait has passed since its first record and a
// committer is free. While every committer is busy, records keep joining the
// waiting batch.
func (l *Log) collect() {
	defer close(l.batches)
	var (
		batch   []*pending
		timer   = time.NewTimer(time.Hour)
		waiting <-chan time.Time // the timer's channel while a batch waits for MaxWait
		due     bool             // MaxWait has passed for the current batch
	)
	timer.Stop()
	in := l.in
	for {
		var out chan []*pending // nil (blocks) unless the batch may go
		if len(batch) > 0 && (due || len(batch) >= l.opts.MaxBatch || in == nil) {
			out = l.batches
		}
		accept := in
		if len(batch) >= l.opts.MaxBatch {
			accept = nil // full: leave further records queued for the next batch
		}
		if in == nil && len(batch) == 0 {
			return
		}
		select {
		case p, ok := <-accept:
			if !ok {
				in = nil // closed: flush what is left, then stop
				continue
			}
			batch = append(batch, p)
			if len(batch) == 1 {
				if l.opts.MaxWait == 0 {
					due = true
				} else {
					timer.Reset(l.opts.MaxWait)
					waiting = timer.C
				}
			}
		case <-waiting:
			waiting, due = nil, true
		case out <- batch:
			batch, due = nil, false
			if waiting != nil {
				timer.Stop()
				waiting = nil
			}
		}
	}
}

// commit writes each batch it receives, its transfers in one
// AppendTransfers and its events in one AppendEvents, and tells its
// callers. Options.Committers of them run at once.
func (l *Log) commit() {
	var transfers, events []*pending
	records := make([]store.Transfer, 0, l.opts.MaxBatch)
	var evs []store.Event
	writeTransfers := func(b []*pending) error {
		records = records[:0]
		for _, p := range b {
			records = append(records, p.rec)
		}
		err := l.append(func(ctx context.Context) error { return l.s.AppendTransfers(ctx, records) })
		clear(records) // drop references to the records until the next batch
		return err
	}
	writeEvents := func(b []*pending) error {
		evs = evs[:0]
		for _, p := range b {
			evs = append(evs, *p.ev)
		}
		err := l.append(func(ctx context.Context) error { return l.s.AppendEvents(ctx, evs) })
		clear(evs)
		return err
	}
	for batch := range l.batches {
		transfers, events = transfers[:0], events[:0]
		for _, p := range batch {
			if p.ev != nil {
				events = append(events, p)
			} else {
				transfers = append(transfers, p)
			}
		}
		if len(transfers) > 0 {
			l.settle(transfers, writeTransfers)
		}
		if len(events) > 0 {
			l.settle(events, writeEvents)
		}
		clear(transfers)
		clear(events)
	}
}

// settle writes batch, records of one kind, with write, and tells its
// callers.
func (l *Log) settle(batch []*pending, write func([]*pending) error) {
	err := write(batch)
	switch {
	case err == nil:
		tell(batch, nil)
	case errors.Is(err, store.ErrRejected) && len(batch) > 1:
		// The store refused the data, and one record's data must
		// not fail the others': find the records it refuses.
		l.opts.Logger.Warn("audit: store refused a batch; writing its halves apart", "records", len(batch), "err", err)
		l.isolate(batch, write)
	default:
		l.fail(batch, err)
	}
}

// append runs one store write, detached from every caller: a record handed
// over is written even if its caller has gone.
func (l *Log) append(write func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.CommitTimeout)
	defer cancel()
	return write(ctx)
}

// isolate writes the two halves of a batch that the store refused for its
// data, each in its own transaction, and halves again each half that is
// refused, until every record is committed or is refused alone: only the
// records the store refuses fail. A batch of n records with one bad record
// costs about 2·log2(n) more transactions, and never more than 2n−2. When
// the store fails for any other reason on the way (it is down), every
// record not yet settled fails at once with that error, as a batch does.
// It returns that error, or nil when the store itself never failed.
func (l *Log) isolate(batch []*pending, write func([]*pending) error) error {
	mid := len(batch) / 2
	for i, h := range [2][2]int{{0, mid}, {mid, len(batch)}} {
		b := batch[h[0]:h[1]]
		err := write(b)
		switch {
		case err == nil:
			tell(b, nil)
		case !errors.Is(err, store.ErrRejected):
			// The store is down: fail what is left, without trying.
			l.fail(batch[h[0]:], err)
			return err
		case len(b) == 1:
			// One record the store refuses: only its caller fails (closed,
			// as ErrRejected comes with ErrUnavailable). Its id is no
			// personal data, and tells an operator which record to look for.
			l.opts.Logger.Error("audit: store refused a record", "id", b[0].id(), "err", err)
			tell(b, fmt.Errorf("audit: record %s refused: %w", b[0].id(), err))
		default:
			if err := l.isolate(b, write); err != nil {
				// b is settled; the store went down while writing it.
				if i == 0 {
					l.fail(batch[mid:], err)
				}
				return err
			}
		}
	}
	return nil
}

// fail tells every caller of batch that err ended its record's transaction.
func (l *Log) fail(batch []*pending, err error) {
	if !errors.Is(err, store.ErrUnavailable) {
		err = fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	err = fmt.Errorf("audit: commit of %d records: %w", len(batch), err)
	l.opts.Logger.Error("audit: group commit failed", "records", len(batch), "err", err)
	tell(batch, err)
}

// tell gives each caller of batch its outcome.
func tell(batch []*pending, err error) {
	for _, p := range batch {
		p.done <- err
	}
}

// Close stops accepting records, writes those already handed over, and
// returns when they have committed or failed. Later Appends fail with
// ErrClosed. Calling it again is harmless. It does not close the store.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.in)
		l.mu.Unlock()
	})
	<-l.done
	return nil
}
