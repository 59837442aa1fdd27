package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

var _ store.Adapters = (*Store)(nil)

// adapterChannel is the channel on which migration 0006's triggers name
// the adapter of every publication, activation and rollback, at commit.
const adapterChannel = "pont_adapters"

// watchApplication is the application_name of WatchAdapters' connections,
// so that an operator sees what they are.
const watchApplication = "pont-adapters-watch"

// lockAdapters is the first key of the transaction advisory lock that
// serialises one adapter's activations and rollbacks (the second is the
// hash of its name). The two-key form of advisory locks is a key space of
// its own: it cannot meet the one-key locks of postgres.go.
const lockAdapters int32 = 0x706f6e74

// adapterVersionsPkey is the primary key constraint of adapter_versions.
const adapterVersionsPkey = "adapter_versions_pkey"

var (
	publishAdapterSQL = "INSERT INTO adapter_versions (" + query.AdapterColumnList + ", module) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
	listAdaptersSQL   = "SELECT " + query.AdapterColumnList + " FROM adapter_versions ORDER BY name, published_at, seq"
	adapterVersionSQL = "SELECT " + query.AdapterColumnList + ", module FROM adapter_versions WHERE name = $1 AND version = $2"
	// The version each adapter serves from is its latest activation's.
	activeAdaptersSQL = "SELECT " + qualified("v", query.AdapterColumns) + `, v.module
		FROM (SELECT DISTINCT ON (name) name, version FROM adapter_activations ORDER BY name, seq DESC) a
		JOIN adapter_versions v ON v.name = a.name AND v.version = a.version
		ORDER BY v.name`
	activationsSQL = "SELECT " + query.ActivationColumnList + " FROM adapter_activations WHERE name = $1 ORDER BY seq"
	lockAdapterSQL = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
	activateSQL    = `INSERT INTO adapter_activations (name, version, kind, at, actor)
		SELECT name, version, $3, $4, $5 FROM adapter_versions WHERE name = $1 AND version = $2 RETURNING seq`
	insertRollbackSQL = `INSERT INTO adapter_activations (name, version, kind, at, actor) VALUES ($1, $2, $3, $4, $5) RETURNING seq`
)

// PublishAdapter stores v in one transaction with its adapter_published
// event. store.ErrExists when v.Name and v.Version are published already;
// an error naming the field, and nothing stored, when v is not one the
// store keeps (see query.CheckAdapterVersion).
func (s *Store) PublishAdapter(ctx context.Context, v store.AdapterVersion) error {
	if err := query.CheckAdapterVersion(v); err != nil {
		return fmt.Errorf("postgres: publish adapter %q version %q: %w", v.Name, v.Version, err)
	}
	args, err := query.AdapterArgs(v, query.Postgres)
	if err != nil {
		return fmt.Errorf("postgres: publish adapter %s@%s: %w", v.Name, v.Version, err)
	}
	if err := s.onSpentConn(ctx, func(conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, publishAdapterSQL, args...)
		return err
	}); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == adapterVersionsPkey {
			return fmt.Errorf("postgres: adapter %s@%s: %w", v.Name, v.Version, store.ErrExists)
		}
		if rejected(err) {
			err = fmt.Errorf("%w: %w", store.ErrRejected, err)
		}
		return unavailable(fmt.Sprintf("publish adapter %s@%s", v.Name, v.Version), err)
	}
	return nil
}

// onSpentConn runs fn on a connection of the pool that is closed after
// it instead of going back: a connection keeps buffers as large as the
// largest message it sent or read, and a module is megabytes, which every
// pooled connection that ever carried one would hold for its life.
func (s *Store) onSpentConn(ctx context.Context, fn func(*pgx.Conn) error) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// ListAdapters answers every published version, without modules, by name
// and then by publication time.
func (s *Store) ListAdapters(ctx context.Context) ([]store.AdapterVersion, error) {
	rows, err := s.pool.Query(ctx, listAdaptersSQL)
	if err != nil {
		return nil, unavailable("list adapters", err)
	}
	defer rows.Close()
	out := []store.AdapterVersion{}
	for rows.Next() {
		v, err := query.ScanAdapter(rows, query.Postgres, false)
		if err != nil {
			return nil, unavailable("list adapters", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list adapters", err)
	}
	return out, nil
}

// AdapterVersion answers one version with its module, or store.ErrNotFound.
func (s *Store) AdapterVersion(ctx context.Context, name, version string) (store.AdapterVersion, error) {
	notFound := fmt.Errorf("postgres: adapter %s@%s: %w", name, version, store.ErrNotFound)
	if !query.PlainText(name) || !query.PlainText(version) {
		return store.AdapterVersion{}, notFound // never published: PublishAdapter refuses such text
	}
	var v store.AdapterVersion
	err := s.onSpentConn(ctx, func(conn *pgx.Conn) error {
		var err error
		v, err = query.ScanAdapter(conn.QueryRow(ctx, adapterVersionSQL, name, version), query.Postgres, true)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AdapterVersion{}, notFound
	}
	if err != nil {
		return store.AdapterVersion{}, unavailable("adapter version", err)
	}
	return v, nil
}

// ActiveAdapters answers, with its module, the version each activated
// adapter serves from, by name.
func (s *Store) ActiveAdapters(ctx context.Context) ([]store.AdapterVersion, error) {
	out := []store.AdapterVersion{}
	err := s.onSpentConn(ctx, func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, activeAdaptersSQL)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := query.ScanAdapter(rows, query.Postgres, true)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, unavailable("active adapters", err)
	}
	return out, nil
}

// Activations answers the adapter's activations and rollbacks, oldest
// first; none is an empty slice.
func (s *Store) Activations(ctx context.Context, name string) ([]store.Activation, error) {
	if !query.PlainText(name) {
		return []store.Activation{}, nil // never activated: ActivateAdapter refuses such text
	}
	history, err := activations(ctx, s.pool, name)
	if err != nil {
		return nil, unavailable("activations of "+name, err)
	}
	return history, nil
}

// querier is what activations reads with: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func activations(ctx context.Context, q querier, name string) ([]store.Activation, error) {
	rows, err := q.Query(ctx, activationsSQL, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Activation{}
	for rows.Next() {
		a, err := query.ScanActivation(rows, query.Postgres)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// refused is an error of a change that is the caller's, not the
// database's: it leaves the transaction as it is and is answered as it is.
type refused struct{ error }

func (r refused) Unwrap() error { return r.error }

// change runs fn in a transaction that holds the adapter's lock, so that
// two changes of one adapter, from any nodes, take turns: each reads the
// history that every earlier one committed.
func (s *Store) change(ctx context.Context, op, name string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockAdapterSQL, lockAdapters, name); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		return fn(tx)
	})
	var r refused
	if errors.As(err, &r) {
		return fmt.Errorf("postgres: %s: %w", op, r.error)
	}
	if err != nil {
		return unavailable(op, err)
	}
	return nil
}

// ActivateAdapter records the activation of a.Name at a.Version (a.Kind
// empty or store.Activate) and answers it with its Seq; store.ErrNotFound
// when that version is not published.
func (s *Store) ActivateAdapter(ctx context.Context, asked store.Activation) (store.Activation, error) {
	a, err := query.CheckActivation(asked)
	if err != nil {
		return store.Activation{}, fmt.Errorf("postgres: activate adapter %q version %q: %w", asked.Name, asked.Version, err)
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	op := "activate adapter " + a.Name + "@" + a.Version
	err = s.change(ctx, op, a.Name, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, activateSQL, a.Name, a.Version, a.Kind, a.At, a.Actor).Scan(&a.Seq)
		if errors.Is(err, pgx.ErrNoRows) {
			return refused{fmt.Errorf("version not published: %w", store.ErrNotFound)}
		}
		return err
	})
	if err != nil {
		return store.Activation{}, err
	}
	return a, nil
}

// RollbackAdapter makes the adapter serve again from the version under its
// current one and answers the rollback recorded: store.ErrNotFound when it
// was never activated, store.ErrNoEarlier when nothing is under.
func (s *Store) RollbackAdapter(ctx context.Context, name, actor string, at time.Time) (store.Activation, error) {
	op := "roll back adapter " + name
	if err := query.CheckRollback(name, actor, at); err != nil {
		return store.Activation{}, fmt.Errorf("postgres: roll back adapter %q: %w", name, err)
	}
	a := store.Activation{Name: name, Kind: store.Rollback, At: at.UTC().Truncate(time.Microsecond), Actor: actor}
	err := s.change(ctx, op, name, func(tx pgx.Tx) error {
		history, err := activations(ctx, tx, name)
		if err != nil {
			return fmt.Errorf("read the history: %w", err)
		}
		if a.Version, err = query.RollbackTarget(history); err != nil {
			return refused{err}
		}
		return tx.QueryRow(ctx, insertRollbackSQL, a.Name, a.Version, a.Kind, a.At, a.Actor).Scan(&a.Seq)
	})
	if err != nil {
		return store.Activation{}, err
	}
	return a, nil
}

// WatchAdapters answers a channel that receives after every publication,
// activation and rollback that commits on any node (see
// store.Adapters.WatchAdapters), until ctx ends or the Store closes; it is
// then closed. Each watch listens on a connection of its own, taken out of
// the pool. It starts listening before it returns (or tries to, for up to
// watchStart), so that no change committed after it returns is missed;
// should that fail, it keeps trying, and the channel receives once it
// listens. A lost connection is listened on again after a pause (100 ms,
// growing to 5 s while connections keep failing), and the channel then
// receives once.
func (s *Store) WatchAdapters(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{cancel: cancel, done: make(chan struct{})}
	if !s.watches.Add(w) {
		cancel()
		close(ch)
		return ch
	}
	start, stop := context.WithTimeout(ctx, watchStart)
	conn, err := s.listenAdapters(start)
	stop()
	go func() {
		defer close(w.done)
		defer s.watches.Remove(w)
		defer close(ch)
		defer cancel()
		s.watchAdapters(ctx, conn, err, ch)
	}()
	return ch
}

// watchStart bounds how long WatchAdapters waits to listen before it
// returns.
const watchStart = 5 * time.Second

// watch is one WatchAdapters, which the Store ends when it closes.
type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Release ends the watch and waits until its connection is closed.
func (w *watch) Release() error {
	w.cancel()
	<-w.done
	return nil
}

// signal makes ch receive, unless a value is pending already.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watchAdapters signals ch on every notification of conn (listening, or
// nil after err), and listens again whenever the connection is lost, until
// ctx ends. The pause before listening again grows while connections keep
// failing, and is short again after one that lasted: a connection that
// drops as soon as it is made must not have every node reload its
// adapters ten times a second.
func (s *Store) watchAdapters(ctx context.Context, conn *pgx.Conn, err error, ch chan<- struct{}) {
	const first, most = 100 * time.Millisecond, 5 * time.Second
	pause := first
	since := time.Now() // when conn started listening
	for {
		if conn != nil {
			err = waitAdapters(ctx, conn, ch)
			_ = conn.Close(context.WithoutCancel(ctx))
			conn = nil
			if time.Since(since) > most {
				pause = first
			}
		}
		if ctx.Err() != nil {
			return
		}
		slog.Warn("postgres: not listening to the adapters' notifications; trying again",
			slog.String("error", err.Error()), slog.Duration("retry_in", pause))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, most)
		if conn, err = s.listenAdapters(ctx); err != nil {
			continue
		}
		since = time.Now()
		// Changes may have committed while nobody listened.
		signal(ch)
	}
}

// listenAdapters answers a connection of its own, out of the pool,
// listening on adapterChannel.
func (s *Store) listenAdapters(ctx context.Context) (*pgx.Conn, error) {
	// A connection of its own, not one of the pool's: it must not serve
	// queries while it listens, and a pooled one may have read modules
	// and keep a read buffer of megabytes for as long as it listens.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", watchApplication); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("name the connection: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+adapterChannel); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

// waitAdapters signals ch on each notification until the connection fails
// or ctx ends.
func waitAdapters(ctx context.Context, conn *pgx.Conn, ch chan<- struct{}) error {
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		signal(ch)
	}
}
