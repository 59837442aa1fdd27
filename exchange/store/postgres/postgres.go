// Package postgres is Pont's production store: the store.Store contract on
// PostgreSQL through pgx, shared by every node. It changes when the contract
// or the way PostgreSQL keeps it (schema, partitions, migrations) changes.
//
// Several nodes may start at once: migrations run under an advisory lock,
// and partitions are created under another, so that exactly one node does
// each change and the others wait and find it done. The log's sealer holds
// a third for as long as it seals (log.go), pruning a fourth (prune.go),
// and each change of an adapter one of its own (adapters.go).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/citizens"
	"github.com/pontexchange/pont/exchange/store/internal/held"
	"github.com/pontexchange/pont/exchange/store/internal/migrate"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Advisory lock keys ("pont" and a number), one per kind of schema change.
// Other packages taking advisory locks must use other keys.
const (
	lockMigrations int64 = 0x706f6e74_0001
	lockPartitions int64 = 0x706f6e74_0002
	// lockSealer is held, as a session lock, by the deployment's sealer
	// for as long as it is the sealer (see AcquireSealer).
	lockSealer int64 = 0x706f6e74_0003
	// lockPrune serialises the transactions of Prune across nodes.
	lockPrune int64 = 0x706f6e74_0004
)

// partitioned are the tables partitioned by month on "at", each with a
// default partition named <table>_default.
var partitioned = []string{"transfers", "log_events"}

// MonthsAhead is how many months after the current one EnsurePartitions
// prepares, so that a node that stops calling it still has weeks of margin.
const MonthsAhead = 2

// Config says which database to use.
type Config struct {
	// URL is a PostgreSQL connection URL or keyword/value string, as pgx reads it.
	URL string
	// MaxConns bounds the connection pool. Defaults to pgx's default
	// (the greater of 4 and the number of CPUs).
	MaxConns int32
}

// Store is the PostgreSQL implementation of store.Store. Safe for concurrent use.
type Store struct {
	citizens.Records

	pool      *pgxpool.Pool
	closeOnce sync.Once
	sealers   held.Set[*sealer] // handed out and not released
	watches   held.Set[*watch]  // WatchAdapters' that have not ended

	// objections spares FindObjection a round trip for the subjects that
	// have none; followObjections keeps it current until stopFollowing.
	objections    objectionIndex
	stopFollowing context.CancelFunc
	followDone    chan struct{}
}

var _ store.Store = (*Store)(nil)

// New connects, applies the migrations the database lacks and creates the
// transfer partitions of this month and the next MonthsAhead.
func New(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse URL: %w", err)
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("postgres: MaxConns %d is negative", cfg.MaxConns)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{Records: records(pool), pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.EnsurePartitions(ctx, time.Now()); err != nil {
		pool.Close()
		return nil, err
	}
	var follow context.Context
	follow, s.stopFollowing = context.WithCancel(context.WithoutCancel(ctx))
	s.followDone = make(chan struct{})
	go s.followObjections(follow)
	return s, nil
}

// migrate applies the missing migrations, each in its own transaction,
// holding a session advisory lock on one connection for the whole run.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockMigrations); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	defer func() {
		// A lock left on a pooled connection would block every other node:
		// when the unlock fails, the connection goes, and the lock with it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockMigrations); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can
	// still collide in PostgreSQL's catalog.
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     NOT NULL PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("postgres: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("postgres: migrate: read version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("postgres: migrate: database is at version %d, newer than this binary's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

// partitionName is the name of table's partition of month m.
func partitionName(table string, m time.Time) string {
	return fmt.Sprintf("%s_p%04d%02d", table, m.Year(), int(m.Month()))
}

// month answers the first instant of t's month (UTC).
func month(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// bound is the layout of a partition bound: a literal, since ATTACH takes
// no parameters, which comes from time.Format, never from input.
const bound = "2006-01-02 15:04:05Z07:00"

// EnsurePartitions creates the monthly partitions (UTC months) of the
// transfers and of the log's events for now's month and the MonthsAhead
// after it, where missing. Records that already fell into the default
// partition for such a month are moved into the new partition. Safe to call
// from several nodes at once and as often as wanted; the server calls it
// daily.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time) error {
	first := month(now)
	for _, table := range partitioned {
		for i := range MonthsAhead + 1 {
			if err := s.ensurePartition(ctx, table, first.AddDate(0, i, 0)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) ensurePartition(ctx context.Context, table string, lo time.Time) error {
	name := partitionName(table, lo)
	hi := lo.AddDate(0, 1, 0)
	const ts = bound
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockPartitions); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil {
			return fmt.Errorf("look up: %w", err)
		}
		if exists {
			return nil
		}
		// CREATE ... PARTITION OF would fail if the default partition held
		// rows of this month; build the table, move those rows, then attach.
		// The bounds are literals because ATTACH takes no parameters; they
		// come from time.Format, never from input.
		// Moving a row keeps its xid column, and so its place in the
		// sealing order.
		for _, stmt := range []string{
			fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)", name, table),
			fmt.Sprintf(`WITH moved AS (DELETE FROM %s_default WHERE at >= '%s' AND at < '%s' RETURNING *)
				INSERT INTO %s SELECT * FROM moved`, table, lo.Format(ts), hi.Format(ts), name),
			fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')",
				table, name, lo.Format(ts), hi.Format(ts)),
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: partition %s: %w", name, err)
	}
	return nil
}

// unavailable wraps err so that both store.ErrUnavailable and the cause
// are visible to errors.Is.
func unavailable(op string, err error) error {
	return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
}

// rejected reports whether err is PostgreSQL refusing the data it was
// given rather than failing to take it: SQLSTATE class 22 (data exception:
// bytes the encoding refuses, a value out of range) or 23 (integrity
// constraint violation: a repeated id). Anything else — no connection, a
// timeout, a server shutting down (57), out of disk (53) — is the store's.
func rejected(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// AppendTransfers writes records with one COPY, a single statement, so all
// of them commit or none does; a record without a salt is written with a
// fresh one. When PostgreSQL refuses the records' data (see rejected), the
// error wraps store.ErrRejected beside store.ErrUnavailable.
func (s *Store) AppendTransfers(ctx context.Context, records []store.Transfer) error {
	if len(records) == 0 {
		return nil
	}
	var salts query.Salts
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"transfers"}, query.Columns,
		pgx.CopyFromSlice(len(records), func(i int) ([]any, error) {
			r := records[i]
			if len(r.Salt) == 0 {
				r.Salt = salts.Next()
			}
			args, err := query.Args(r, query.Postgres)
			if err != nil {
				return nil, fmt.Errorf("record %d: %w: %w", i+1, store.ErrRejected, err)
			}
			return args, nil
		}))
	if err != nil {
		if rejected(err) {
			err = fmt.Errorf("%w: %w", store.ErrRejected, err)
		}
		return unavailable(fmt.Sprintf("append %d records", len(records)), err)
	}
	if n != int64(len(records)) {
		return unavailable("append", fmt.Errorf("copied %d of %d records", n, len(records)))
	}
	return nil
}

func scan(row query.Row) (store.Transfer, error) {
	var at time.Time
	return query.Scan(row, &at, func() time.Time { return at })
}

// GetTransfer answers one record or store.ErrNotFound.
func (s *Store) GetTransfer(ctx context.Context, id string) (store.Transfer, error) {
	key, _ := store.StorableText(id) // as stored: an id the store could not hold is not found
	row := s.pool.QueryRow(ctx, "SELECT "+query.ColumnList+" FROM transfers WHERE id = $1 LIMIT 1", key)
	t, err := scan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Transfer{}, fmt.Errorf("postgres: transfer %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Transfer{}, unavailable("get transfer", err)
	}
	return t, nil
}

// SearchTransfers answers one page, newest first.
func (s *Store) SearchTransfers(ctx context.Context, f store.Filter) (store.Page, error) {
	q, args := query.Search("transfers", f, query.Postgres)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return store.Page{}, unavailable("search", err)
	}
	defer rows.Close()
	items := make([]store.Transfer, 0, min(query.Limit(f)+1, 64))
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return store.Page{}, unavailable("search: scan", err)
		}
		items = append(items, t)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, unavailable("search", err)
	}
	return query.Page(items, f), nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to come back;
// later calls fail with store.ErrUnavailable. Calling it again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopFollowing()
		<-s.followDone
		s.watches.Close()
		s.sealers.Close()
		s.pool.Close()
	})
	return nil
}
