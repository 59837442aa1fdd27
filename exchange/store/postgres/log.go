package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

var _ store.Log = (*Store)(nil)

// AppendEvents writes events with one COPY, as AppendTransfers writes
// transfers: all or none, an event without a salt with a fresh one, and
// store.ErrRejected beside store.ErrUnavailable when PostgreSQL refuses
// their data (a repeated id and time).
func (s *Store) AppendEvents(ctx context.Context, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	var salts query.Salts
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"log_events"}, query.EventColumns,
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			e := events[i]
			if len(e.Salt) == 0 {
				e.Salt = salts.Next()
			}
			args, err := query.EventArgs(e, query.Postgres)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w: %w", i+1, store.ErrRejected, err)
			}
			return args, nil
		}))
	if err != nil {
		if rejected(err) {
			err = fmt.Errorf("%w: %w", store.ErrRejected, err)
		}
		return unavailable(fmt.Sprintf("append %d events", len(events)), err)
	}
	if n != int64(len(events)) {
		return unavailable("append events", fmt.Errorf("copied %d of %d events", n, len(events)))
	}
	return nil
}

// TreeState answers the sealed tree and its latest checkpoint.
func (s *Store) TreeState(ctx context.Context) (store.TreeState, error) {
	var st store.TreeState
	var root []byte
	var pruned *time.Time
	err := s.pool.QueryRow(ctx, `SELECT s.size, s.root, s.pruned_before, c.checkpoint
		FROM log_state s LEFT JOIN log_checkpoints c ON c.size = s.size`).Scan(&st.Size, &root, &pruned, &st.Checkpoint)
	if err != nil {
		return store.TreeState{}, unavailable("tree state", err)
	}
	if st.Size > 0 && len(root) != len(st.Root) {
		return store.TreeState{}, unavailable("tree state", fmt.Errorf("the root of size %d is %d bytes", st.Size, len(root)))
	}
	copy(st.Root[:], root)
	if pruned != nil {
		st.PrunedBefore = pruned.UTC()
	}
	return st, nil
}

// LeafIndex answers the leaf of the record id, or store.ErrNotFound while
// it is not sealed.
func (s *Store) LeafIndex(ctx context.Context, id string) (int64, error) {
	key, _ := store.StorableText(id) // as stored
	var index int64
	err := s.pool.QueryRow(ctx, "SELECT leaf_index FROM log_leaves WHERE record_id = $1 ORDER BY leaf_index LIMIT 1", key).Scan(&index)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: leaf of %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return 0, unavailable("leaf index", err)
	}
	return index, nil
}

// qualified answers columns, each prefixed with alias and a dot.
func qualified(alias string, columns []string) string {
	var b strings.Builder
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(alias)
		b.WriteByte('.')
		b.WriteString(c)
	}
	return b.String()
}

// prefixed scans its own destinations before the ones it is given: a row
// that starts with columns of its own before a record's.
type prefixed struct {
	row  query.Row
	dest []any
}

func (p prefixed) Scan(dest ...any) error {
	return p.row.Scan(append(p.dest[:len(p.dest):len(p.dest)], dest...)...)
}

// narrowRange is the widest range of leaves that Leaves reads with the
// narrow forms of its queries: an entry bundle's.
const narrowRange = 256

// The queries of Leaves, each in two forms: the second, for ranges of at
// most narrowRange leaves, reads the leaves with that LIMIT, which changes
// nothing it answers (leaf_index is unique) but bounds the planner's
// estimate of their rows. Its generic plan is then the nested loop of index
// lookups whatever the log's size, and PostgreSQL keeps it instead of
// planning each entry bundle's query again (a third of its work for one).
var (
	leavesListSQL      = narrowable("SELECT leaf_index, record_id, source FROM log_leaves WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index", "")
	leavesTransfersSQL = narrowable("SELECT l.leaf_index, "+qualified("t", query.Columns)+` FROM (SELECT leaf_index, record_id, record_at FROM log_leaves
		WHERE leaf_index >= $1 AND leaf_index < $2 AND source = 'transfer' ORDER BY leaf_index`, `) l
		JOIN transfers t ON t.id = l.record_id AND t.at = l.record_at`)
	leavesEventsSQL = narrowable("SELECT l.leaf_index, "+qualified("e", query.EventColumns)+` FROM (SELECT leaf_index, record_id, record_at FROM log_leaves
		WHERE leaf_index >= $1 AND leaf_index < $2 AND source = 'event' ORDER BY leaf_index`, `) l
		JOIN log_events e ON e.id = l.record_id AND e.at = l.record_at`)
)

// narrowable answers head+tail, and head LIMIT narrowRange tail.
func narrowable(head, tail string) [2]string {
	return [2]string{head + tail, head + " LIMIT " + strconv.Itoa(narrowRange) + tail}
}

// Leaves answers the sealed leaves [from, to) in index order, each with its
// record, found by its id and time in its table; a leaf whose record is
// not there has only its index and id. Indexes at or past the tree's size
// are not answered. Its queries share one REPEATABLE READ snapshot and go
// to the server in two batches (two round trips, for every entry bundle an
// auditor reads): the leaves, then the records of the tables they name.
func (s *Store) Leaves(ctx context.Context, from, to int64) ([]store.Leaf, error) {
	if err := query.CheckRange(from, to); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	leaves, err := s.leaves(ctx, from, to)
	if err != nil {
		return nil, unavailable(fmt.Sprintf("leaves [%d, %d)", from, to), err)
	}
	return leaves, nil
}

func (s *Store) leaves(ctx context.Context, from, to int64) ([]store.Leaf, error) {
	// A connection left inside the transaction by an error is closed by
	// the pool when it comes back.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	form := 0
	if to-from <= narrowRange {
		form = 1
	}
	b.Queue(leavesListSQL[form], from, to)
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	var transfers, events bool
	leaves, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Leaf, error) {
		var l store.Leaf
		var source string
		err := row.Scan(&l.Index, &l.ID, &source)
		transfers = transfers || source == query.SourceTransfer
		events = events || source == query.SourceEvent
		return l, err
	})
	if err := errors.Join(err, br.Close()); err != nil {
		return nil, err
	}
	// Index i of the range is leaves[i] unless leaves are missing, which
	// only a store that lost rows of log_leaves has.
	at := func(index int64) (int, bool) {
		i := int(index - from)
		if i < len(leaves) && leaves[i].Index == index {
			return i, true
		}
		for j, l := range leaves {
			if l.Index == index {
				return j, true
			}
		}
		return 0, false
	}
	// Only the tables the leaves name are read: most entry bundles hold no
	// event, and a query that finds nothing still costs its planning.
	b = &pgx.Batch{}
	if transfers {
		b.Queue(leavesTransfersSQL[form], from, to)
	}
	if events {
		b.Queue(leavesEventsSQL[form], from, to)
	}
	b.Queue("COMMIT")
	br = conn.SendBatch(ctx, b)
	defer br.Close()
	if transfers {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		// The records in one allocation: each leaf points into it.
		records := make([]store.Transfer, 0, len(leaves))
		err = scanTransfers(rows, func(index uint64, t store.Transfer) error {
			i, ok := at(int64(index))
			if !ok {
				return nil
			}
			if len(records) == cap(records) { // more rows than leaves: cannot be, but never move what is pointed at
				own := t
				leaves[i].Transfer = &own
				return nil
			}
			records = append(records, t)
			leaves[i].Transfer = &records[len(records)-1]
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if events {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var index int64
			e, err := query.ScanEvent(prefixed{rows, []any{&index}}, query.Postgres)
			if err != nil {
				rows.Close()
				return nil, err
			}
			if i, ok := at(index); ok {
				leaves[i].Event = &e
			}
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	return leaves, nil
}

// ReadTile answers the stored hash tile (level, index), or store.ErrNotFound.
func (s *Store) ReadTile(ctx context.Context, level int, index int64) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, "SELECT data FROM log_tiles WHERE level = $1 AND idx = $2", level, index).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: tile %d/%d: %w", level, index, store.ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("read tile", err)
	}
	return data, nil
}

// Checkpoint answers the signed checkpoint of tree size, or store.ErrNotFound.
func (s *Store) Checkpoint(ctx context.Context, size int64) ([]byte, error) {
	var cp []byte
	err := s.pool.QueryRow(ctx, "SELECT checkpoint FROM log_checkpoints WHERE size = $1", size).Scan(&cp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: checkpoint of size %d: %w", size, store.ErrNotFound)
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
		return fmt.Errorf("postgres: update checkpoint of size %d: empty", size)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE log_checkpoints SET checkpoint = $2 WHERE size = $1", size, checkpoint)
	if err != nil {
		return unavailable("update checkpoint", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: checkpoint of size %d: %w", size, store.ErrNotFound)
	}
	return nil
}

// sealerPoll is how often AcquireSealer asks for the sealer's lock while
// another session holds it.
const sealerPoll = 200 * time.Millisecond

// sealerApplication is the application_name of the sealer's connection, so
// that an operator sees which session holds the role.
const sealerApplication = "pont-sealer"

// AcquireSealer takes a connection out of the pool and waits, asking every
// sealerPoll, until it holds the session advisory lock lockSealer, or ctx
// ends. The Sealer runs everything on that connection: when it is lost, so
// are the lock and the role, and the Sealer's calls fail (a call whose ctx
// ends half-way closes the connection too). A long transaction anywhere on
// the server holds sealing back while it runs (see Unsealed).
func (s *Store) AcquireSealer(ctx context.Context) (store.Sealer, error) {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, unavailable("acquire sealer", err)
	}
	// The connection leaves the pool: the lock lives as long as it does.
	conn := pooled.Hijack()
	fail := func(err error) (store.Sealer, error) {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, unavailable("acquire sealer", err)
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('application_name', $1, false)", sealerApplication); err != nil {
		return fail(err)
	}
	for {
		var held bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockSealer).Scan(&held); err != nil {
			return fail(err)
		}
		if held {
			break
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-time.After(sealerPoll):
		}
	}
	x := &sealer{s: s, conn: conn}
	if !s.sealers.Add(x) {
		return fail(errors.New("the store is closed"))
	}
	return x, nil
}

// sealer is a Store's store.Sealer: one connection holding lockSealer. Its
// calls take turns on the connection.
type sealer struct {
	s *Store

	mu       sync.Mutex
	conn     *pgx.Conn
	released bool
	answered query.Answered
}

var errReleased = errors.New("the sealer was released")

// cursor is a position in the sealing order: (xid, id), transfers before
// events on a tie. Its text is "xid:t:id" or "xid:e:id"; empty before the
// first seal.
type cursor struct {
	xid   uint64
	event bool
	id    string
}

func parseCursor(s string) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	x, rest, ok1 := strings.Cut(s, ":")
	src, id, ok2 := strings.Cut(rest, ":")
	xid, err := strconv.ParseUint(x, 10, 64)
	if !ok1 || !ok2 || err != nil || (src != "t" && src != "e") {
		return cursor{}, fmt.Errorf("sealer cursor %q is not xid:t|e:id", s)
	}
	return cursor{xid: xid, event: src == "e", id: id}, nil
}

func (c cursor) String() string {
	src := "t"
	if c.event {
		src = "e"
	}
	return strconv.FormatUint(c.xid, 10) + ":" + src + ":" + c.id
}

// less orders positions: xid, then id bytewise (the "C" collation), then
// transfers before events.
func (c cursor) less(d cursor) bool {
	if c.xid != d.xid {
		return c.xid < d.xid
	}
	if c.id != d.id {
		return c.id < d.id
	}
	return !c.event && d.event
}

var (
	unsealedTransfersSQL = "SELECT xid, " + query.ColumnList + ` FROM transfers
		WHERE (xid, id) > ($1::xid8, $2) AND xid < $3::xid8 ORDER BY xid, id LIMIT $4`
	// Events come after the transfer of the same (xid, id): after a
	// transfer's cursor, an event at the very position is still due.
	unsealedEventsSQL = "SELECT xid, " + query.EventColumnList + ` FROM log_events
		WHERE (xid, id) > ($1::xid8, $2) AND xid < $3::xid8 ORDER BY xid, id LIMIT $4`
	unsealedEventsAtSQL = "SELECT xid, " + query.EventColumnList + ` FROM log_events
		WHERE (xid, id) >= ($1::xid8, $2) AND xid < $3::xid8 ORDER BY xid, id LIMIT $4`
)

// positioned is a record answered by Unsealed with its place in the order.
type positioned struct {
	at   cursor
	leaf store.Leaf
}

// Unsealed answers up to limit records after the stored cursor, in (xid,
// id) order, merged across transfers and events, taking only records whose
// transaction is below the horizon: the oldest transaction still running
// (pg_snapshot_xmin), read in the same REPEATABLE READ snapshot as the
// records. Every transaction below it has ended, and whatever it
// committed is in the snapshot; a transaction at or above it may still
// commit, so no record of it, nor any after it, is answered yet. Called
// again before Seal, it answers the same records (and maybe more).
func (x *sealer) Unsealed(ctx context.Context, limit int) ([]store.Leaf, string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.released {
		return nil, "", unavailable("unsealed", errReleased)
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("postgres: unsealed: limit %d", limit)
	}
	var merged []positioned
	var start string
	var size int64
	err := pgx.BeginTxFunc(ctx, x.conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var horizon uint64
		if err := tx.QueryRow(ctx, "SELECT pg_snapshot_xmin(pg_current_snapshot()), size, seal_cursor FROM log_state").Scan(&horizon, &size, &start); err != nil {
			return err
		}
		c, err := parseCursor(start)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, unsealedTransfersSQL, c.xid, c.id, horizon, limit)
		if err != nil {
			return err
		}
		var transfers []positioned
		err = scanTransfers(rows, func(xid uint64, t store.Transfer) error {
			transfers = append(transfers, positioned{cursor{xid: xid, id: t.ID}, store.Leaf{ID: t.ID, Transfer: &t}})
			return nil
		})
		if err != nil {
			return err
		}
		q := unsealedEventsSQL
		if !c.event {
			q = unsealedEventsAtSQL
		}
		rows, err = tx.Query(ctx, q, c.xid, c.id, horizon, limit)
		if err != nil {
			return err
		}
		var events []positioned
		for rows.Next() {
			var xid uint64
			e, err := query.ScanEvent(prefixed{rows, []any{&xid}}, query.Postgres)
			if err != nil {
				rows.Close()
				return err
			}
			events = append(events, positioned{cursor{xid: xid, event: true, id: e.ID}, store.Leaf{ID: e.ID, Event: &e}})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		merged = merge(transfers, events, limit)
		return nil
	})
	if err != nil {
		return nil, "", unavailable("unsealed", err)
	}
	if len(merged) == 0 {
		return nil, start, nil
	}
	leaves := make([]store.Leaf, len(merged))
	for i, p := range merged {
		leaves[i] = p.leaf
		leaves[i].Index = size + int64(i)
	}
	end := merged[len(merged)-1].at.String()
	x.answered.Add(start, end, leaves)
	return leaves, end, nil
}

// merge answers the first limit of two ordered lists, in order.
func merge(a, b []positioned, limit int) []positioned {
	out := make([]positioned, 0, min(limit, len(a)+len(b)))
	for len(out) < limit && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || (len(a) > 0 && a[0].at.less(b[0].at)) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// refusal is an error of Seal that is not the database's: the seal does not
// fit the stored tree.
type refusal struct{ error }

func (r refusal) Unwrap() error { return r.error }

// Seal commits s in one transaction on the sealer's connection: the leaves
// (one COPY), the tiles (one upsert, which refuses to change what a stored
// tile holds), the checkpoint and the state, if the stored tree is still
// at s.From and its cursor is where the records of s.Cursor start.
func (x *sealer) Seal(ctx context.Context, s store.Seal) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.released {
		return unavailable("seal", errReleased)
	}
	if err := query.CheckSeal(s); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err := pgx.BeginFunc(ctx, x.conn, func(tx pgx.Tx) error {
		var size int64
		var start string
		if err := tx.QueryRow(ctx, "SELECT size, seal_cursor FROM log_state FOR UPDATE").Scan(&size, &start); err != nil {
			return err
		}
		if size != s.From {
			return refusal{query.Moved(s, size)}
		}
		ans, err := x.answered.For(s, start)
		if err != nil {
			return refusal{err}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"log_leaves"}, []string{"leaf_index", "record_id", "record_at", "source"},
			pgx.CopyFromSlice(len(s.IDs), func(i int) ([]any, error) {
				return []any{s.From + int64(i), ans.IDs[i], ans.Times[i], ans.Sources[i]}, nil
			}))
		if err != nil {
			return fmt.Errorf("leaves: %w", err)
		}
		if n != int64(len(s.IDs)) {
			return fmt.Errorf("leaves: copied %d of %d", n, len(s.IDs))
		}
		if len(s.Tiles) > 0 {
			levels := make([]int32, len(s.Tiles))
			indexes := make([]int64, len(s.Tiles))
			data := make([][]byte, len(s.Tiles))
			for i, t := range s.Tiles {
				levels[i], indexes[i], data[i] = int32(t.Level), t.Index, t.Data
			}
			tag, err := tx.Exec(ctx, `INSERT INTO log_tiles (level, idx, data)
				SELECT * FROM unnest($1::integer[], $2::bigint[], $3::bytea[])
				ON CONFLICT (level, idx) DO UPDATE SET data = EXCLUDED.data
				WHERE length(EXCLUDED.data) >= length(log_tiles.data)
				AND substring(EXCLUDED.data FROM 1 FOR length(log_tiles.data)) = log_tiles.data`, levels, indexes, data)
			if err != nil {
				return fmt.Errorf("tiles: %w", err)
			}
			if tag.RowsAffected() != int64(len(s.Tiles)) {
				return refusal{fmt.Errorf("seal [%d, %d): %d of its %d tiles would change hashes a stored tile holds",
					s.From, s.To, int64(len(s.Tiles))-tag.RowsAffected(), len(s.Tiles))}
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO log_checkpoints (size, checkpoint) VALUES ($1, $2)", s.To, s.Checkpoint); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE log_state SET size = $1, root = $2, seal_cursor = $3", s.To, s.Root[:], s.Cursor); err != nil {
			return fmt.Errorf("state: %w", err)
		}
		return nil
	})
	var r refusal
	if errors.As(err, &r) {
		return fmt.Errorf("postgres: seal: %w", r.error)
	}
	if err != nil {
		return unavailable(fmt.Sprintf("seal [%d, %d)", s.From, s.To), err)
	}
	x.answered.Forget()
	return nil
}

// Release closes the sealer's connection, which ends its session and so
// its lock. Calling it again is harmless.
func (x *sealer) Release() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.released {
		return nil
	}
	x.released = true
	x.s.sealers.Remove(x)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = x.conn.Close(ctx) // the session ends either way: closing a lost connection fails harmlessly
	return nil
}
