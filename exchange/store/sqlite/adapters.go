package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

var _ store.Adapters = (*Store)(nil)

var (
	publishAdapterSQL = "INSERT INTO adapter_versions (" + query.AdapterColumnList + ", module) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	listAdaptersSQL   = "SELECT " + query.AdapterColumnList + " FROM adapter_versions ORDER BY name, published_at, rowid"
	adapterVersionSQL = "SELECT " + query.AdapterColumnList + ", module FROM adapter_versions WHERE name = ? AND version = ?"
	// The version each adapter serves from is its latest activation's.
	activeAdaptersSQL = "SELECT " + qualified("v", query.AdapterColumns) + `, v.module
		FROM adapter_activations a JOIN adapter_versions v ON v.name = a.name AND v.version = a.version
		WHERE a.seq = (SELECT max(l.seq) FROM adapter_activations l WHERE l.name = a.name)
		ORDER BY v.name`
	activationsSQL = "SELECT " + query.ActivationColumnList + " FROM adapter_activations WHERE name = ? ORDER BY seq"
	activateSQL    = `INSERT INTO adapter_activations (name, version, kind, at, actor)
		SELECT name, version, ?, ?, ? FROM adapter_versions WHERE name = ? AND version = ? RETURNING seq`
	insertRollbackSQL = `INSERT INTO adapter_activations (name, version, kind, at, actor) VALUES (?, ?, ?, ?, ?) RETURNING seq`
)

// PublishAdapter stores v in one transaction with its adapter_published
// event. store.ErrExists when v.Name and v.Version are published already;
// an error naming the field, and nothing stored, when v is not one the
// store keeps (see query.CheckAdapterVersion).
func (s *Store) PublishAdapter(ctx context.Context, v store.AdapterVersion) error {
	if err := query.CheckAdapterVersion(v); err != nil {
		return fmt.Errorf("sqlite: publish adapter %q version %q: %w", v.Name, v.Version, err)
	}
	args, err := query.AdapterArgs(v, query.SQLite)
	if err != nil {
		return fmt.Errorf("sqlite: publish adapter %s@%s: %w", v.Name, v.Version, err)
	}
	op := fmt.Sprintf("publish adapter %s@%s", v.Name, v.Version)
	return s.change(ctx, op, func(tx *sql.Tx) error {
		// The one writer makes the look-up and the insert one step.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM adapter_versions WHERE name = ? AND version = ?", v.Name, v.Version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return refused{fmt.Errorf("adapter %s@%s: %w", v.Name, v.Version, store.ErrExists)}
		}
		if _, err := tx.ExecContext(ctx, publishAdapterSQL, args...); err != nil {
			if rejected(err) {
				err = fmt.Errorf("%w: %w", store.ErrRejected, err)
			}
			return err
		}
		return nil
	})
}

// refused is an error of a change that is the caller's, not the
// database's: the transaction is rolled back and it is answered as it is.
type refused struct{ error }

func (r refused) Unwrap() error { return r.error }

// change runs fn in a transaction on the writer and, once it commits,
// signals the watchers of the file.
func (s *Store) change(ctx context.Context, op string, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(op+": begin", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		var r refused
		if errors.As(err, &r) {
			return fmt.Errorf("sqlite: %s: %w", op, r.error)
		}
		return unavailable(op, err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable(op+": commit", err)
	}
	s.watchers.signal()
	return nil
}

// ListAdapters answers every published version, without modules, by name
// and then by publication time.
func (s *Store) ListAdapters(ctx context.Context) ([]store.AdapterVersion, error) {
	return s.adapters(ctx, "list adapters", listAdaptersSQL, false)
}

// ActiveAdapters answers, with its module, the version each activated
// adapter serves from, by name.
func (s *Store) ActiveAdapters(ctx context.Context) ([]store.AdapterVersion, error) {
	return s.adapters(ctx, "active adapters", activeAdaptersSQL, true)
}

func (s *Store) adapters(ctx context.Context, op, q string, module bool) ([]store.AdapterVersion, error) {
	rows, err := s.r.QueryContext(ctx, q)
	if err != nil {
		return nil, unavailable(op, err)
	}
	defer rows.Close()
	out := []store.AdapterVersion{}
	for rows.Next() {
		v, err := query.ScanAdapter(rows, query.SQLite, module)
		if err != nil {
			return nil, unavailable(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, err)
	}
	return out, nil
}

// AdapterVersion answers one version with its module, or store.ErrNotFound.
func (s *Store) AdapterVersion(ctx context.Context, name, version string) (store.AdapterVersion, error) {
	v, err := query.ScanAdapter(s.r.QueryRowContext(ctx, adapterVersionSQL, name, version), query.SQLite, true)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AdapterVersion{}, fmt.Errorf("sqlite: adapter %s@%s: %w", name, version, store.ErrNotFound)
	}
	if err != nil {
		return store.AdapterVersion{}, unavailable("adapter version", err)
	}
	return v, nil
}

// Activations answers the adapter's activations and rollbacks, oldest
// first; none is an empty slice.
func (s *Store) Activations(ctx context.Context, name string) ([]store.Activation, error) {
	history, err := activations(ctx, s.r, name)
	if err != nil {
		return nil, unavailable("activations of "+name, err)
	}
	return history, nil
}

// querier is what activations reads with: the readers or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func activations(ctx context.Context, q querier, name string) ([]store.Activation, error) {
	rows, err := q.QueryContext(ctx, activationsSQL, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Activation{}
	for rows.Next() {
		a, err := query.ScanActivation(rows, query.SQLite)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ActivateAdapter records the activation of asked.Name at asked.Version
// (asked.Kind empty or store.Activate) and answers it with its Seq;
// store.ErrNotFound when that version is not published.
func (s *Store) ActivateAdapter(ctx context.Context, asked store.Activation) (store.Activation, error) {
	a, err := query.CheckActivation(asked)
	if err != nil {
		return store.Activation{}, fmt.Errorf("sqlite: activate adapter %q version %q: %w", asked.Name, asked.Version, err)
	}
	a.At = a.At.UTC().Truncate(time.Microsecond)
	err = s.change(ctx, "activate adapter "+a.Name+"@"+a.Version, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, activateSQL, a.Kind, a.At.UnixMicro(), a.Actor, a.Name, a.Version).Scan(&a.Seq)
		if errors.Is(err, sql.ErrNoRows) {
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
// was never activated, store.ErrNoEarlier when nothing is under. The one
// writer runs it whole before or after any other change.
func (s *Store) RollbackAdapter(ctx context.Context, name, actor string, at time.Time) (store.Activation, error) {
	if err := query.CheckRollback(name, actor, at); err != nil {
		return store.Activation{}, fmt.Errorf("sqlite: roll back adapter %q: %w", name, err)
	}
	a := store.Activation{Name: name, Kind: store.Rollback, At: at.UTC().Truncate(time.Microsecond), Actor: actor}
	err := s.change(ctx, "roll back adapter "+name, func(tx *sql.Tx) error {
		history, err := activations(ctx, tx, name)
		if err != nil {
			return fmt.Errorf("read the history: %w", err)
		}
		if a.Version, err = query.RollbackTarget(history); err != nil {
			return refused{err}
		}
		return tx.QueryRowContext(ctx, insertRollbackSQL, a.Name, a.Version, a.Kind, a.At.UnixMicro(), a.Actor).Scan(&a.Seq)
	})
	if err != nil {
		return store.Activation{}, err
	}
	return a, nil
}

// WatchAdapters answers a channel that receives after every publication,
// activation and rollback that a Store of this process commits on the
// same file (pont dev is one node), until ctx ends or the Store closes; it
// is then closed.
func (s *Store) WatchAdapters(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(ctx)
	w := &watch{ch: ch, cancel: cancel, done: make(chan struct{})}
	if !s.watches.Add(w) {
		cancel()
		close(ch)
		return ch
	}
	s.watchers.add(w)
	go func() {
		<-ctx.Done()
		s.watchers.remove(w)
		s.watches.Remove(w)
		close(w.done)
	}()
	return ch
}

// watch is one WatchAdapters, which the Store ends when it closes.
type watch struct {
	ch     chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Release ends the watch and waits until its channel is closed.
func (w *watch) Release() error {
	w.cancel()
	<-w.done
	return nil
}

// watchers are the watches of one database file, whichever Store of the
// process they came from: any of them may change it.
type watchers struct {
	mu  sync.Mutex
	set map[*watch]struct{}
}

// fileWatchers holds the watchers of each database file.
var fileWatchers sync.Map // absolute path -> *watchers

func watchersOf(path string) *watchers {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	ws, _ := fileWatchers.LoadOrStore(path, &watchers{})
	return ws.(*watchers)
}

func (ws *watchers) add(w *watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.set == nil {
		ws.set = map[*watch]struct{}{}
	}
	ws.set[w] = struct{}{}
}

// remove forgets w and closes its channel, under the lock that signal
// holds, so that nothing is sent on it once closed.
func (ws *watchers) remove(w *watch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	delete(ws.set, w)
	close(w.ch)
}

// signal makes every watch's channel receive, unless a value is pending
// there already.
func (ws *watchers) signal() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for w := range ws.set {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
