package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// Queue is the river queue a Runner works: its tables live in the store's
// database. NewPostgresQueue and NewSQLiteQueue make one.
type Queue interface {
	start(ctx context.Context, cfg queueConfig) error
	stop(ctx context.Context) error
	insert(ctx context.Context, jobs []river.InsertManyParams) error
}

// queueConfig is what a Runner gives its queue at start.
type queueConfig struct {
	workers                   int
	chunkTimeout, rescueAfter time.Duration
	sweepEvery                time.Duration
	chunk                     func(ctx context.Context, args chunkArgs, claim string) error
	callback                  func(ctx context.Context, job string) error
	sweep                     func(ctx context.Context) error
	logger                    *slog.Logger
}

// The river queues: chunks, and callbacks apart, so that a slow receiver
// never holds up the work.
const (
	queueChunks    = "pont_jobs"
	queueCallbacks = "pont_callbacks"
)

// chunkArgs is a river job: the elements [From, To) of a Pont job.
type chunkArgs struct {
	Job  string `json:"job"`
	From int    `json:"from"`
	To   int    `json:"to"`
}

func (chunkArgs) Kind() string { return "pont_job_chunk" }

func (chunkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueChunks, MaxAttempts: 50, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// callbackArgs is a river job: post a finished job's callback. Its retries
// are river's backoff (about attempt⁴ seconds), for up to a day and a half
// at 20 attempts.
type callbackArgs struct {
	Job string `json:"job"`
}

func (callbackArgs) Kind() string { return "pont_job_callback" }

func (callbackArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueCallbacks, MaxAttempts: 20, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// sweepArgs is the periodic river job that runs Runner.Sweep.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "pont_jobs_sweep" }

// One sweep waits or runs at a time; a completed one does not count.
// River's default unique states include completed, which kept every later
// sweep out until the completed one was cleaned away (a day later): a
// node swept once, at its start.
func (sweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueCallbacks, MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// riverQueue is a Queue over one river driver.
type riverQueue[TTx any] struct {
	driver  riverdriver.Driver[TTx]
	migrate func(ctx context.Context) error
	poll    bool

	mu     sync.Mutex
	client *river.Client[TTx]
}

// NewPostgresQueue is a queue in the PostgreSQL database of pool. Its
// tables (river's, migrated at start under an advisory lock, so that
// nodes starting together take turns) live beside the store's.
func NewPostgresQueue(pool *pgxpool.Pool) Queue {
	driver := riverpgxv5.New(pool)
	q := &riverQueue[pgx.Tx]{driver: driver}
	q.migrate = func(ctx context.Context) error {
		// river's migrations each take a transaction of their own (one adds
		// an enum value that a later one uses, which PostgreSQL refuses in
		// one transaction), so the lock is a session lock on a connection
		// held for the whole run.
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockRiverMigrations); err != nil {
			return err
		}
		defer func() {
			if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockRiverMigrations); err != nil {
				_ = conn.Conn().Close(context.WithoutCancel(ctx)) // the lock goes with the connection
			}
		}()
		m, err := rivermigrate.New(driver, nil)
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	return q
}

// lockRiverMigrations is the advisory lock key ("pont" and a number) under
// which river's tables are migrated; the store's keys are 0x..0001-0004.
const lockRiverMigrations int64 = 0x706f6e74_0010

// NewSQLiteQueue is a queue in the SQLite database of db, a handle of its
// own on the store's file with one connection (SQLite has one writer).
// River polls it: there is no LISTEN in SQLite.
func NewSQLiteQueue(db *sql.DB) Queue {
	driver := riversqlite.New(db)
	q := &riverQueue[*sql.Tx]{driver: driver, poll: true}
	q.migrate = func(ctx context.Context) error {
		m, err := rivermigrate.New(driver, nil)
		if err != nil {
			return err
		}
		_, err = m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		return err
	}
	return q
}

func (q *riverQueue[TTx]) start(ctx context.Context, cfg queueConfig) error {
	if err := q.migrate(ctx); err != nil {
		return fmt.Errorf("jobs: migrate the queue's tables: %w", err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[chunkArgs]) error {
		return cfg.chunk(ctx, j.Args, strconv.FormatInt(j.ID, 10)+"/"+strconv.Itoa(j.Attempt))
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[callbackArgs]) error {
		return cfg.callback(ctx, j.Args.Job)
	}))
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[sweepArgs]) error {
		return cfg.sweep(ctx)
	}))
	rc := &river.Config{
		Queues: map[string]river.QueueConfig{
			queueChunks:    {MaxWorkers: cfg.workers},
			queueCallbacks: {MaxWorkers: 2},
		},
		Workers:              workers,
		JobTimeout:           cfg.chunkTimeout,
		RescueStuckJobsAfter: cfg.rescueAfter,
		Logger:               quiet(cfg.logger),
		PollOnly:             q.poll,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.sweepEvery),
				func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		},
	}
	if q.poll {
		rc.FetchPollInterval = 200 * time.Millisecond
	}
	client, err := river.NewClient(q.driver, rc)
	if err != nil {
		return fmt.Errorf("jobs: queue: %w", err)
	}
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start the queue: %w", err)
	}
	q.mu.Lock()
	q.client = client
	q.mu.Unlock()
	return nil
}

func (q *riverQueue[TTx]) stop(ctx context.Context) error {
	q.mu.Lock()
	client := q.client
	q.mu.Unlock()
	if client == nil {
		return nil
	}
	err := client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		// What is in hand is resumed by the next attempt.
		return client.StopAndCancel(context.WithoutCancel(ctx))
	}
	return err
}

// insert queues jobs; before start, an insert-only client does.
func (q *riverQueue[TTx]) insert(ctx context.Context, jobs []river.InsertManyParams) error {
	q.mu.Lock()
	client := q.client
	q.mu.Unlock()
	if client == nil {
		return errors.New("jobs: the queue is not started")
	}
	_, err := client.InsertMany(ctx, jobs)
	return err
}

// quiet passes river's warnings and errors on; its info lines (each
// leader election, each periodic insert) are noise in Pont's log.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{l.Handler(), slog.LevelWarn})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

// queuePoolConns bounds the queue's own PostgreSQL pool: river holds one
// connection for LISTEN and fetches and completes chunks with a few more.
const queuePoolConns = 4

// QueueFor answers the queue in the database of s: on PostgreSQL a pool of
// its own on the store's database (so that river's listener and polling
// take none of the connections queries and records wait for), on SQLite
// another handle on the store's file; the returned func closes it.
func QueueFor(ctx context.Context, s any) (Queue, func() error, error) {
	switch s := s.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		cfg := s.Pool().Config().Copy()
		cfg.MaxConns, cfg.MinConns = queuePoolConns, 0
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("jobs: the queue's connections: %w", err)
		}
		return NewPostgresQueue(pool), func() error { pool.Close(); return nil }, nil
	case interface{ OpenDB() (*sql.DB, error) }:
		db, err := s.OpenDB()
		if err != nil {
			return nil, nil, err
		}
		return NewSQLiteQueue(db), db.Close, nil
	default:
		return nil, nil, fmt.Errorf("jobs: the store %T has no database for a queue", s)
	}
}
