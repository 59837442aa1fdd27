// Package sqlite is the embedded store of pont dev: the store.Store contract
// on one SQLite file, in pure Go (modernc.org/sqlite), so that a newcomer
// needs nothing installed but Go. It changes when the contract or SQLite's
// way of keeping it changes.
//
// SQLite has a single writer, so the Store keeps one writer connection and
// queues writes on it, instead of letting writers collide on SQLITE_BUSY;
// reads go to a separate pool, which WAL mode lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/citizens"
	"github.com/pontexchange/pont/exchange/store/internal/held"
	"github.com/pontexchange/pont/exchange/store/internal/migrate"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Config says where the store lives.
type Config struct {
	// Path of the database file; created, with its schema, when missing.
	// ":memory:" is refused: the writer and the readers would each see a
	// different empty database.
	Path string
}

// Store is the SQLite implementation of store.Store. Safe for concurrent use.
type Store struct {
	citizens.Records

	w *sql.DB // the single writer connection
	r *sql.DB // readers

	path    string            // the database file, whose sealing role one Sealer holds
	sealers held.Set[*sealer] // handed out and not released

	watchers *watchers        // of the file, signalled after each change of the adapters
	watches  held.Set[*watch] // this Store's WatchAdapters that have not ended

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// pragmas are every handle's on the file: WAL, a busy timeout, foreign
// keys, and full sync, so that a committed record survives a power cut.
const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"

// readers bounds the read pool: WAL readers do not block each other, but
// pont dev serves one person and does not need many.
const readers = 4

// New opens or creates the database at cfg.Path (WAL mode, busy timeout,
// foreign keys on, full sync so that a committed record survives a power
// cut) and applies the migrations it lacks.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" || cfg.Path == ":memory:" || strings.HasPrefix(cfg.Path, "file::memory:") {
		return nil, fmt.Errorf("sqlite: Path must name a file, got %q", cfg.Path)
	}
	if strings.ContainsRune(cfg.Path, '?') {
		return nil, fmt.Errorf("sqlite: Path %q must not contain '?'", cfg.Path)
	}
	// _txlock=immediate takes the write lock at BEGIN, so that a
	// transaction never fails half-way for want of upgrading its lock.
	w, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, path: cfg.Path, watchers: watchersOf(cfg.Path)}
	if err := s.migrate(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("sqlite: open readers of %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s.r = r
	s.Records = records(w, r)
	return s, nil
}

// migrate applies the missing migrations in one transaction; BEGIN IMMEDIATE
// makes two processes opening the same file at once take turns.
func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	// A BEGIN that meets another opener still switching a new file to WAL
	// gets SQLITE_BUSY at once, without the busy timeout's wait: wait here.
	for deadline := time.Now().Add(10 * time.Second); isBusy(err) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		tx, err = s.w.BeginTx(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("sqlite: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("sqlite: migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: migrate: read version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("sqlite: migrate: database is at version %d, newer than this binary's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("sqlite: migrate: %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.Version, m.Name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: migrate: record %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", err)
	}
	return nil
}

var insertSQL = "INSERT INTO transfers (" + query.ColumnList + ") VALUES (" +
	strings.TrimSuffix(strings.Repeat("?, ", len(query.Columns)), ", ") + ")"

// unavailable wraps err so that both store.ErrUnavailable and the cause
// are visible to errors.Is.
func unavailable(op string, err error) error {
	return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
}

// AppendTransfers writes records in one transaction: all or none; a record
// without a salt is written with a fresh one. When SQLite refuses a
// record's data (see rejected), the error wraps store.ErrRejected beside
// store.ErrUnavailable.
func (s *Store) AppendTransfers(ctx context.Context, records []store.Transfer) (err error) {
	if len(records) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("append: begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return unavailable("append: prepare", err)
	}
	defer stmt.Close()
	var salts query.Salts
	for i := range records {
		r := records[i]
		if len(r.Salt) == 0 {
			r.Salt = salts.Next()
		}
		args, err := query.Args(r, query.SQLite)
		if err != nil {
			return unavailable("append", fmt.Errorf("%w: %w", store.ErrRejected, err))
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			if rejected(err) {
				err = fmt.Errorf("%w: %w", store.ErrRejected, err)
			}
			return unavailable(fmt.Sprintf("append record %d of %d", i+1, len(records)), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("append: commit", err)
	}
	return nil
}

func scan(row query.Row) (store.Transfer, error) {
	var at int64
	return query.Scan(row, &at, func() time.Time { return time.UnixMicro(at) })
}

// GetTransfer answers one record or store.ErrNotFound.
func (s *Store) GetTransfer(ctx context.Context, id string) (store.Transfer, error) {
	key, _ := store.StorableText(id) // as stored: an id the store could not hold is not found
	row := s.r.QueryRowContext(ctx, "SELECT "+query.ColumnList+" FROM transfers WHERE id = ?", key)
	t, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Transfer{}, fmt.Errorf("sqlite: transfer %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Transfer{}, unavailable("get transfer", err)
	}
	return t, nil
}

// SearchTransfers answers one page, newest first.
func (s *Store) SearchTransfers(ctx context.Context, f store.Filter) (store.Page, error) {
	q, args := query.Search("transfers", f, query.SQLite)
	rows, err := s.r.QueryContext(ctx, q, args...)
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

// Ping reports whether both the writer and the readers can reach the file.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return unavailable("ping writer", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return unavailable("ping readers", err)
	}
	return nil
}

// Close releases the connections; later calls fail with store.ErrUnavailable.
// Calling it again is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.watches.Close()
		s.sealers.Close()
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// rejected reports whether err is SQLite refusing a record's data rather
// than failing to write it: SQLITE_CONSTRAINT (19: a repeated id),
// SQLITE_MISMATCH (20) or SQLITE_TOOBIG (18), extended codes included.
// Anything else (busy, I/O, a full disk, a closed database) is the store's.
func rejected(err error) bool {
	var coded interface{ Code() int }
	if !errors.As(err, &coded) {
		return false
	}
	switch coded.Code() & 0xff {
	case 18, 19, 20:
		return true
	}
	return false
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (5), extended codes
// included.
func isBusy(err error) bool {
	var coded interface{ Code() int }
	return errors.As(err, &coded) && coded.Code()&0xff == 5
}
