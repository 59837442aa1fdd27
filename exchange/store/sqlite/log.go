package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

var _ store.Log = (*Store)(nil)

// lastTransfer is the rowid of the latest transfer, which an event written
// now follows (see the log_events table).
const lastTransfer = "(SELECT COALESCE(max(rowid), 0) FROM transfers)"

var insertEventSQL = "INSERT INTO log_events (" + query.EventColumnList + ", after_transfer) VALUES (" +
	strings.Repeat("?, ", len(query.EventColumns)) + lastTransfer + ")"

// AppendEvents writes events in one transaction, as AppendTransfers writes
// transfers: all or none, an event without a salt with a fresh one, and
// store.ErrRejected beside store.ErrUnavailable when SQLite refuses an
// event's data (a repeated id).
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) (err error) {
	if len(events) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("append events: begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, insertEventSQL)
	if err != nil {
		return unavailable("append events: prepare", err)
	}
	defer stmt.Close()
	var salts query.Salts
	for i, e := range events {
		if len(e.Salt) == 0 {
			e.Salt = salts.Next()
		}
		args, err := query.EventArgs(e, query.SQLite)
		if err != nil {
			return unavailable("append events", fmt.Errorf("%w: %w", store.ErrRejected, err))
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			if rejected(err) {
				err = fmt.Errorf("%w: %w", store.ErrRejected, err)
			}
			return unavailable(fmt.Sprintf("append event %d of %d", i+1, len(events)), err)
		}
	}
	if err := tx.Commit(); err != nil {
		return unavailable("append events: commit", err)
	}
	return nil
}

// TreeState answers the sealed tree and its latest checkpoint.
func (s *Store) TreeState(ctx context.Context) (store.TreeState, error) {
	var st store.TreeState
	var root []byte
	var pruned sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT s.size, s.root, s.pruned_before, c.checkpoint
		FROM log_state s LEFT JOIN log_checkpoints c ON c.size = s.size`).Scan(&st.Size, &root, &pruned, &st.Checkpoint)
	if err != nil {
		return store.TreeState{}, unavailable("tree state", err)
	}
	if st.Size > 0 && len(root) != len(st.Root) {
		return store.TreeState{}, unavailable("tree state", fmt.Errorf("the root of size %d is %d bytes", st.Size, len(root)))
	}
	copy(st.Root[:], root)
	if pruned.Valid {
		st.PrunedBefore = time.UnixMicro(pruned.Int64).UTC()
	}
	return st, nil
}

// LeafIndex answers the leaf of the record id, or store.ErrNotFound while
// it is not sealed.
func (s *Store) LeafIndex(ctx context.Context, id string) (int64, error) {
	key, _ := store.StorableText(id) // as stored
	var index int64
	err := s.r.QueryRowContext(ctx, "SELECT leaf_index FROM log_leaves WHERE record_id = ? ORDER BY leaf_index LIMIT 1", key).Scan(&index)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: leaf of %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return 0, unavailable("leaf index", err)
	}
	return index, nil
}

// qualified answers columns, each prefixed with alias and a dot.
func qualified(alias string, columns []string) string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = alias + "." + c
	}
	return strings.Join(out, ", ")
}

// prefixed scans its own destinations before the ones it is given.
type prefixed struct {
	row  query.Row
	dest []any
}

func (p prefixed) Scan(dest ...any) error {
	return p.row.Scan(append(p.dest[:len(p.dest):len(p.dest)], dest...)...)
}

var (
	leavesTransfersSQL = "SELECT l.leaf_index, " + qualified("t", query.Columns) + ` FROM log_leaves l
		JOIN transfers t ON t.id = l.record_id AND t.at = l.record_at
		WHERE l.leaf_index >= ? AND l.leaf_index < ? AND l.source = 'transfer'`
	leavesEventsSQL = "SELECT l.leaf_index, " + qualified("e", query.EventColumns) + ` FROM log_leaves l
		JOIN log_events e ON e.id = l.record_id AND e.at = l.record_at
		WHERE l.leaf_index >= ? AND l.leaf_index < ? AND l.source = 'event'`
)

// Leaves answers the sealed leaves [from, to) in index order, each with its
// record, found by its id and time; a leaf whose record is not there has
// only its index and id. Indexes at or past the tree's size are not
// answered.
func (s *Store) Leaves(ctx context.Context, from, to int64) (leaves []store.Leaf, err error) {
	if err := query.CheckRange(from, to); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	op := fmt.Sprintf("leaves [%d, %d)", from, to)
	// One read transaction: one snapshot for the three reads.
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable(op, err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "SELECT leaf_index, record_id FROM log_leaves WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index", from, to)
	if err != nil {
		return nil, unavailable(op, err)
	}
	for rows.Next() {
		var l store.Leaf
		if err := rows.Scan(&l.Index, &l.ID); err != nil {
			rows.Close()
			return nil, unavailable(op, err)
		}
		leaves = append(leaves, l)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, err)
	}
	if len(leaves) == 0 {
		return nil, nil
	}
	at := make(map[int64]int, len(leaves))
	for i, l := range leaves {
		at[l.Index] = i
	}
	for _, q := range []string{leavesTransfersSQL, leavesEventsSQL} {
		rows, err := tx.QueryContext(ctx, q, from, to)
		if err != nil {
			return nil, unavailable(op, err)
		}
		for rows.Next() {
			var index int64
			row := prefixed{rows, []any{&index}}
			if q == leavesTransfersSQL {
				t, err := scan(row)
				if err != nil {
					rows.Close()
					return nil, unavailable(op, err)
				}
				leaves[at[index]].Transfer = &t
			} else {
				e, err := query.ScanEvent(row, query.SQLite)
				if err != nil {
					rows.Close()
					return nil, unavailable(op, err)
				}
				leaves[at[index]].Event = &e
			}
		}
		if err := rows.Err(); err != nil {
			return nil, unavailable(op, err)
		}
	}
	return leaves, nil
}

// ReadTile answers the stored hash tile (level, index), or store.ErrNotFound.
func (s *Store) ReadTile(ctx context.Context, level int, index int64) ([]byte, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, "SELECT data FROM log_tiles WHERE level = ? AND idx = ?", level, index).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: tile %d/%d: %w", level, index, store.ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("read tile", err)
	}
	return data, nil
}

// Checkpoint answers the signed checkpoint of tree size, or store.ErrNotFound.
func (s *Store) Checkpoint(ctx context.Context, size int64) ([]byte, error) {
	var cp []byte
	err := s.r.QueryRowContext(ctx, "SELECT checkpoint FROM log_checkpoints WHERE size = ?", size).Scan(&cp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: checkpoint of size %d: %w", size, store.ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("checkpoint", err)
	}
	return cp, nil
}

// UpdateCheckpoint replaces the checkpoint of size; store.ErrNotFound when
// there is none.
func (s *Store) UpdateCheckpoint(ctx context.Context, size int64, checkpoint []byte) error {
	if len(checkpoint) == 0 {
		return fmt.Errorf("sqlite: update checkpoint of size %d: empty", size)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE log_checkpoints SET checkpoint = ? WHERE size = ?", checkpoint, size)
	if err != nil {
		return unavailable("update checkpoint", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return unavailable("update checkpoint", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: checkpoint of size %d: %w", size, store.ErrNotFound)
	}
	return nil
}

// sealerLocks holds, for each database file, the token a Sealer holds:
// one process is the only writer of its file, and one Sealer in it seals,
// however many Stores it opened on the file.
var sealerLocks sync.Map // absolute path -> chan struct{} (capacity 1)

func sealerLock(path string) chan struct{} {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	lock, _ := sealerLocks.LoadOrStore(path, make(chan struct{}, 1))
	return lock.(chan struct{})
}

// AcquireSealer waits until no other Sealer of this process holds the
// file's sealing role, or ctx ends.
func (s *Store) AcquireSealer(ctx context.Context) (store.Sealer, error) {
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	lock := sealerLock(s.path)
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return nil, unavailable("acquire sealer", ctx.Err())
	}
	x := &sealer{s: s, lock: lock}
	if !s.sealers.Add(x) {
		<-lock
		return nil, unavailable("acquire sealer", errors.New("the store is closed"))
	}
	return x, nil
}

// sealer is a Store's store.Sealer; its calls take turns.
type sealer struct {
	s    *Store
	lock chan struct{}

	mu       sync.Mutex
	released bool
	answered query.Answered
}

var errReleased = errors.New("the sealer was released")

// cursor is the sealer's position: the last transfer and event rowids
// sealed. Its text is "transfer:event"; empty before the first seal.
type cursor struct{ transfer, event int64 }

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	t, e, ok := strings.Cut(s, ":")
	ct, err1 := strconv.ParseInt(t, 10, 64)
	ce, err2 := strconv.ParseInt(e, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return cursor{}, fmt.Errorf("sealer cursor %q is not transfer:event rowids", s)
	}
	return cursor{ct, ce}, nil
}

func (c cursor) String() string {
	return strconv.FormatInt(c.transfer, 10) + ":" + strconv.FormatInt(c.event, 10)
}

var (
	unsealedTransfersSQL = "SELECT rowid, " + query.ColumnList + " FROM transfers WHERE rowid > ? ORDER BY rowid LIMIT ?"
	unsealedEventsSQL    = "SELECT rowid, after_transfer, " + query.EventColumnList + " FROM log_events WHERE rowid > ? ORDER BY rowid LIMIT ?"
)

// unsealedRecord is a record Unsealed read, with its place in its table
// and, for an event, the transfer it follows.
type unsealedRecord struct {
	rowid, after int64
	leaf         store.Leaf
}

// Unsealed answers up to limit records after the stored cursor in the
// order they committed: each table in rowid order (SQLite's one writer
// gives every new row a greater rowid), an event after the transfers that
// committed before it (after_transfer) and before the others. Called again
// before Seal, it answers the same records (and maybe more).
func (x *sealer) Unsealed(ctx context.Context, limit int) (leaves []store.Leaf, end string, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.released {
		return nil, "", unavailable("unsealed", errReleased)
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("sqlite: unsealed: limit %d", limit)
	}
	tx, err := x.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, "", unavailable("unsealed", err)
	}
	defer func() { _ = tx.Rollback() }()
	var size int64
	var start string
	if err := tx.QueryRowContext(ctx, "SELECT size, seal_cursor FROM log_state").Scan(&size, &start); err != nil {
		return nil, "", unavailable("unsealed", err)
	}
	c, err := parseCursor(start)
	if err != nil {
		return nil, "", unavailable("unsealed", err)
	}
	read := func(q string, after int64, event bool) ([]unsealedRecord, error) {
		rows, err := tx.QueryContext(ctx, q, after, limit)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []unsealedRecord
		for rows.Next() {
			var r unsealedRecord
			if event {
				e, err := query.ScanEvent(prefixed{rows, []any{&r.rowid, &r.after}}, query.SQLite)
				if err != nil {
					return nil, err
				}
				r.leaf = store.Leaf{ID: e.ID, Event: &e}
			} else {
				t, err := scan(prefixed{rows, []any{&r.rowid}})
				if err != nil {
					return nil, err
				}
				r.leaf = store.Leaf{ID: t.ID, Transfer: &t}
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	transfers, err := read(unsealedTransfersSQL, c.transfer, false)
	if err != nil {
		return nil, "", unavailable("unsealed: transfers", err)
	}
	events, err := read(unsealedEventsSQL, c.event, true)
	if err != nil {
		return nil, "", unavailable("unsealed: events", err)
	}
	next := c
	for len(leaves) < limit && (len(transfers) > 0 || len(events) > 0) {
		if len(events) == 0 || (len(transfers) > 0 && transfers[0].rowid <= events[0].after) {
			next.transfer = transfers[0].rowid
			leaves, transfers = append(leaves, transfers[0].leaf), transfers[1:]
		} else {
			next.event = events[0].rowid
			leaves, events = append(leaves, events[0].leaf), events[1:]
		}
		leaves[len(leaves)-1].Index = size + int64(len(leaves)-1)
	}
	if len(leaves) == 0 {
		return nil, start, nil
	}
	end = next.String()
	x.answered.Add(start, end, leaves)
	return leaves, end, nil
}

// Seal commits s in one transaction on the writer, if the stored tree is
// still at s.From and its cursor is where the records of s.Cursor start.
func (x *sealer) Seal(ctx context.Context, s store.Seal) (err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.released {
		return unavailable("seal", errReleased)
	}
	if err := query.CheckSeal(s); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	op := fmt.Sprintf("seal [%d, %d)", s.From, s.To)
	tx, err := x.s.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(op, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var size int64
	var start string
	if err := tx.QueryRowContext(ctx, "SELECT size, seal_cursor FROM log_state").Scan(&size, &start); err != nil {
		return unavailable(op, err)
	}
	if size != s.From {
		return fmt.Errorf("sqlite: seal: %w", query.Moved(s, size))
	}
	ans, err := x.answered.For(s, start)
	if err != nil {
		return fmt.Errorf("sqlite: seal: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, "INSERT INTO log_leaves (leaf_index, record_id, record_at, source) VALUES (?, ?, ?, ?)")
	if err != nil {
		return unavailable(op, err)
	}
	defer stmt.Close()
	for i, id := range ans.IDs {
		if _, err := stmt.ExecContext(ctx, s.From+int64(i), id, ans.Times[i].UnixMicro(), ans.Sources[i]); err != nil {
			return unavailable(op+": leaves", err)
		}
	}
	tiles, err := tx.PrepareContext(ctx, `INSERT INTO log_tiles (level, idx, data) VALUES (?, ?, ?)
		ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data
		WHERE length(excluded.data) >= length(log_tiles.data)
		AND substr(excluded.data, 1, length(log_tiles.data)) = log_tiles.data`)
	if err != nil {
		return unavailable(op, err)
	}
	defer tiles.Close()
	for _, t := range s.Tiles {
		res, err := tiles.ExecContext(ctx, t.Level, t.Index, t.Data)
		if err != nil {
			return unavailable(op+": tiles", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("sqlite: seal [%d, %d): tile %d/%d would change hashes the stored tile holds", s.From, s.To, t.Level, t.Index)
		}
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO log_checkpoints (size, checkpoint, at) VALUES (?, ?, ?)", s.To, s.Checkpoint, time.Now().UnixMicro()); err != nil {
		return unavailable(op+": checkpoint", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE log_state SET size = ?, root = ?, seal_cursor = ?", s.To, s.Root[:], s.Cursor); err != nil {
		return unavailable(op+": state", err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable(op+": commit", err)
	}
	x.answered.Forget()
	return nil
}

// Release gives the role up. Calling it again is harmless.
func (x *sealer) Release() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.released {
		return nil
	}
	x.released = true
	x.s.sealers.Remove(x)
	<-x.lock
	return nil
}

// pruneChunk is how many records Prune reads, and then updates, at a time.
const pruneChunk = 1000

// Prune removes, in place, the personal fields and salt of every sealed
// record (at or before the sealer's cursor) whose time is before before,
// keeping for each the commitment commit computes from it as it was; one
// transaction on the writer.
func (s *Store) Prune(ctx context.Context, before time.Time, commit store.Committer) (pruned int64, err error) {
	if commit == nil {
		return 0, errors.New("sqlite: prune: no Committer")
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, unavailable("prune", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			pruned = 0
		}
	}()
	var text string
	if err := tx.QueryRowContext(ctx, "SELECT seal_cursor FROM log_state").Scan(&text); err != nil {
		return 0, unavailable("prune", err)
	}
	c, err := parseCursor(text)
	if err != nil {
		return 0, unavailable("prune", err)
	}
	cutoff := before.UnixMicro()
	set := func(personal []string, more ...string) string {
		for _, p := range personal {
			more = append(more, p+" = ''")
		}
		return strings.Join(append(more, "salt = x''", "personal_sha256 = ?"), ", ")
	}
	for _, table := range []struct {
		name, columns, update string
		sealed                int64
	}{
		{"transfers", query.ColumnList, "UPDATE transfers SET " + set(query.TransferPersonalColumns, "reasons = '[]'") + " WHERE rowid = ?", c.transfer},
		{"log_events", query.EventColumnList, "UPDATE log_events SET " + set(query.EventPersonalColumns) + " WHERE rowid = ?", c.event},
	} {
		q := "SELECT rowid, " + table.columns + " FROM " + table.name +
			" WHERE rowid > ? AND rowid <= ? AND at < ? AND length(salt) > 0 ORDER BY rowid LIMIT ?"
		for after := int64(0); ; {
			type change struct {
				rowid      int64
				commitment string
			}
			var changes []change
			rows, err := tx.QueryContext(ctx, q, after, table.sealed, cutoff, pruneChunk)
			if err != nil {
				return 0, unavailable("prune "+table.name, err)
			}
			for rows.Next() {
				var ch change
				row := prefixed{rows, []any{&ch.rowid}}
				if table.name == "transfers" {
					t, err := scan(row)
					if err != nil {
						rows.Close()
						return 0, unavailable("prune "+table.name, err)
					}
					ch.commitment = commit(&t, nil)
				} else {
					e, err := query.ScanEvent(row, query.SQLite)
					if err != nil {
						rows.Close()
						return 0, unavailable("prune "+table.name, err)
					}
					ch.commitment = commit(nil, &e)
				}
				changes = append(changes, ch)
			}
			if err := rows.Err(); err != nil {
				return 0, unavailable("prune "+table.name, err)
			}
			for _, ch := range changes {
				if _, err := tx.ExecContext(ctx, table.update, ch.commitment, ch.rowid); err != nil {
					return 0, unavailable("prune "+table.name, err)
				}
				after = ch.rowid
			}
			pruned += int64(len(changes))
			if len(changes) < pruneChunk {
				break
			}
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE log_state SET pruned_before = max(COALESCE(pruned_before, ?), ?)", cutoff, cutoff); err != nil {
		return 0, unavailable("prune", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, unavailable("prune: commit", err)
	}
	return pruned, nil
}
