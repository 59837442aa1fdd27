package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// pruneChunk is how many records Prune reads, and then writes, at a time.
const pruneChunk = 10_000

// Prune removes the personal fields and salt of the sealed records of every
// month (UTC) that ends at or before before, keeping for each the
// commitment commit computes from the record as it was. A month that
// before cuts is left whole for a later run: the granularity is a month,
// and TreeState.PrunedBefore becomes the first instant of before's month.
//
// Each monthly partition, of transfers and of events, is replaced by a
// pruned copy, never rewritten row by row: Prune reads the partition by
// primary key, writes the copy with COPY, and swaps it in (detach, drop,
// attach) in one short transaction, after checking under a lock that the
// month did not change meanwhile. The copy keeps every record's xid, and
// its non-personal fields, as they were. The copy is written in many short
// transactions, not one: a transaction that writes holds back the sealer's
// horizon (see Sealer.Unsealed) for as long as it runs, and a month's copy
// may take minutes. Records not yet sealed are copied as they are, and
// their partition is pruned again by a later run; a partition whose
// records were all sealed is recorded in log_pruned_partitions and not
// read again. The few records that fell into a default partition (a time
// outside the prepared months) are updated in place.
//
// One node prunes at a time (a session advisory lock); a copy left by a
// run that stopped half-way is dropped by the next.
func (s *Store) Prune(ctx context.Context, before time.Time, commit store.Committer) (int64, error) {
	if commit == nil {
		return 0, errors.New("postgres: prune: no Committer")
	}
	cutoff := month(before)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, unavailable("prune", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockPrune); err != nil {
		return 0, unavailable("prune: lock", err)
	}
	defer func() {
		// A lock left on a pooled connection would stop every later run:
		// when the unlock fails, the connection goes, and the lock with it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockPrune); err != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	var total int64
	for _, table := range partitioned {
		parts, err := prunable(ctx, conn, table, cutoff)
		if err != nil {
			return total, unavailable("prune: list partitions", err)
		}
		for _, p := range parts {
			n, err := prunePartition(ctx, conn, table, p, commit)
			if err != nil {
				return total, unavailable("prune "+p.name, err)
			}
			total += n
		}
		n, err := pruneDefault(ctx, conn, table, cutoff, commit)
		total += n
		if err != nil {
			return total, unavailable("prune "+table+"_default", err)
		}
	}
	// GREATEST ignores NULL: the first pruning sets it.
	if _, err := conn.Exec(ctx, "UPDATE log_state SET pruned_before = GREATEST(pruned_before, $1)", cutoff); err != nil {
		return total, unavailable("prune: record the time", err)
	}
	return total, nil
}

// partition is a monthly partition: its name and its month's first instant.
type partition struct {
	name string
	lo   time.Time
}

// prunable answers table's monthly partitions that end at or before cutoff
// and are not recorded as pruned, oldest first.
func prunable(ctx context.Context, conn *pgxpool.Conn, table string, cutoff time.Time) ([]partition, error) {
	rows, err := conn.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::text::regclass
		AND NOT EXISTS (SELECT 1 FROM log_pruned_partitions p WHERE p.name = c.relname::text)`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var parts []partition
	for _, name := range names {
		suffix, ok := strings.CutPrefix(name, table+"_p")
		if !ok {
			continue // the default partition
		}
		lo, err := time.Parse("200601", suffix)
		if err != nil || partitionName(table, lo) != name {
			continue
		}
		if !lo.AddDate(0, 1, 0).After(cutoff) {
			parts = append(parts, partition{name, lo})
		}
	}
	slices.SortFunc(parts, func(a, b partition) int { return a.lo.Compare(b.lo) })
	return parts, nil
}

// pruning reads the records of a partition of table in chunks, by primary
// key, and answers each as it is to be written: pruned when it is sealed
// (at or before the sealer's cursor c, read before the first chunk) and
// not pruned yet.
type pruning struct {
	conn   *pgxpool.Conn
	table  string // transfers or log_events
	c      cursor // the sealer's
	commit store.Committer

	unsealed bool   // a record was left as it was for want of being sealed
	read     int64  // records read
	maxXid   uint64 // the greatest xid read
}

func newPruning(ctx context.Context, conn *pgxpool.Conn, table string, commit store.Committer) (*pruning, error) {
	var text string
	if err := conn.QueryRow(ctx, "SELECT seal_cursor FROM log_state").Scan(&text); err != nil {
		return nil, err
	}
	c, err := parseCursor(text)
	if err != nil {
		return nil, err
	}
	return &pruning{conn: conn, table: table, c: c, commit: commit}, nil
}

// key is a record's primary key.
type key struct {
	id string
	at time.Time
}

// chunk reads up to pruneChunk records of src that where selects (with
// args), after the key after (from the first when nil), in key order. It
// answers each as it is to be written (its values in copyColumns order),
// the pruned ones' keys and commitments, and the last key read (nil when
// none was: the end).
func (p *pruning) chunk(ctx context.Context, src, where string, args []any, after *key) (values [][]any, pruned []key, commitments []string, last *key, err error) {
	columns := query.ColumnList
	if p.table == "log_events" {
		columns = query.EventColumnList
	}
	var conds []string
	if where != "" {
		conds = append(conds, where)
	}
	args = slices.Clone(args)
	if after != nil {
		args = append(args, after.id, after.at)
		conds = append(conds, fmt.Sprintf("(id, at) > ($%d, $%d)", len(args)-1, len(args)))
	}
	q := "SELECT xid, " + columns + " FROM " + src
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id, at LIMIT %d", pruneChunk)
	rows, err := p.conn.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var xid uint64
		var row []any
		var k key
		var commitment string
		if p.table == "log_events" {
			e, err := query.ScanEvent(prefixed{rows, []any{&xid}}, query.Postgres)
			if err != nil {
				return nil, nil, nil, nil, err
			}
			k = key{e.ID, e.Time}
			if len(e.Salt) > 0 && p.sealed(cursor{xid: xid, event: true, id: e.ID}) {
				commitment = p.commit(nil, &e)
				e = query.PrunedEvent(e, commitment)
			} else if len(e.Salt) > 0 {
				p.unsealed = true
			}
			if row, err = query.EventArgs(e, query.Postgres); err != nil {
				return nil, nil, nil, nil, err
			}
		} else {
			t, err := scan(prefixed{rows, []any{&xid}})
			if err != nil {
				return nil, nil, nil, nil, err
			}
			k = key{t.ID, t.Time}
			if len(t.Salt) > 0 && p.sealed(cursor{xid: xid, id: t.ID}) {
				commitment = p.commit(&t, nil)
				t = query.PrunedTransfer(t, commitment)
			} else if len(t.Salt) > 0 {
				p.unsealed = true
			}
			if row, err = query.Args(t, query.Postgres); err != nil {
				return nil, nil, nil, nil, err
			}
		}
		values = append(values, append(row, xid))
		if commitment != "" {
			pruned, commitments = append(pruned, k), append(commitments, commitment)
		}
		p.read++
		p.maxXid = max(p.maxXid, xid)
		last = &k
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, nil, err
	}
	return values, pruned, commitments, last, nil
}

// sealed reports whether the record at position at is sealed: at or
// before the sealer's cursor, every record was sealed, and after it none.
func (p *pruning) sealed(at cursor) bool { return !p.c.less(at) }

// copyColumns answers the columns a pruned copy of table is written with.
func copyColumns(table string) []string {
	if table == "log_events" {
		return append(slices.Clone(query.EventColumns), "xid")
	}
	return append(slices.Clone(query.Columns), "xid")
}

// prunePartition replaces one monthly partition of table by a pruned copy
// (see Prune), on conn, which holds lockPrune.
func prunePartition(ctx context.Context, conn *pgxpool.Conn, table string, part partition, commit store.Committer) (n int64, err error) {
	name := pgx.Identifier{part.name}.Sanitize()
	tmpName := part.name + "_pruning"
	tmp := pgx.Identifier{tmpName}.Sanitize()
	lo, hi := part.lo.Format(bound), part.lo.AddDate(0, 1, 0).Format(bound)
	// A copy left by a run that stopped half-way, or by this one failing.
	drop := func() error {
		_, err := conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+tmp)
		return err
	}
	if err := drop(); err != nil {
		return 0, fmt.Errorf("drop an old copy: %w", err)
	}
	defer func() {
		if err != nil {
			_ = drop()
		}
	}()
	p, err := newPruning(ctx, conn, table, commit)
	if err != nil {
		return 0, err
	}
	// The copy's indexes, like the partition's, are maintained as it is
	// written.
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s (LIKE %s INCLUDING ALL)", tmp, name)); err != nil {
		return 0, fmt.Errorf("create the copy: %w", err)
	}
	var pruned int64
	for after := (*key)(nil); ; {
		values, keys, _, last, err := p.chunk(ctx, name, "", nil, after)
		if err != nil {
			return 0, fmt.Errorf("read: %w", err)
		}
		if last == nil {
			break
		}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{tmpName}, copyColumns(table), pgx.CopyFromRows(values)); err != nil {
			return 0, fmt.Errorf("copy: %w", err)
		}
		pruned += int64(len(keys))
		after = last
	}
	// The bounds as a validated constraint spare ATTACH a scan of the copy
	// while it holds its lock; validated apart, so that no transaction
	// holds an xid during the scan.
	for _, stmt := range []string{
		fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT pont_bounds CHECK (at >= '%s' AND at < '%s') NOT VALID", tmp, lo, hi),
		fmt.Sprintf("ALTER TABLE %s VALIDATE CONSTRAINT pont_bounds", tmp),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return 0, fmt.Errorf("bounds: %w", err)
		}
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// No record is written into the month from here on; it is still
		// read. Neither the lock nor the check takes an xid.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+name+" IN SHARE MODE"); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var count int64
		var maxXid *uint64
		if err := tx.QueryRow(ctx, "SELECT count(*), max(xid) FROM "+name).Scan(&count, &maxXid); err != nil {
			return fmt.Errorf("check: %w", err)
		}
		if count != p.read || (maxXid != nil && *maxXid != p.maxXid) {
			return fmt.Errorf("records were written into %s while it was copied (%d records, %d copied): a later run prunes it", part.name, count, p.read)
		}
		if err := swap(ctx, tx, table, name, tmp, lo, hi); err != nil {
			return err
		}
		if err := renameIndexes(ctx, tx, part.name, tmpName); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "ALTER TABLE "+name+" DROP CONSTRAINT pont_bounds"); err != nil {
			return fmt.Errorf("bounds: %w", err)
		}
		if !p.unsealed {
			if _, err := tx.Exec(ctx, "INSERT INTO log_pruned_partitions (name) VALUES ($1)", part.name); err != nil {
				return fmt.Errorf("record: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return pruned, nil
}

// swapLockTimeout bounds each wait of the swap for the parent table's lock:
// while the swap waits, every append and search queues behind it, so it
// gives way (and tries again, swapAttempts times) rather than hold them
// behind a long search.
const (
	swapLockTimeout = time.Second
	swapAttempts    = 10
)

// swap replaces the partition name of table by tmp, in a savepoint that is
// rolled back and tried again when the parent's lock is not granted in
// time.
func swap(ctx context.Context, tx pgx.Tx, table, name, tmp, lo, hi string) error {
	var err error
	for attempt := range swapAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			for _, stmt := range []string{
				fmt.Sprintf("SET LOCAL lock_timeout = %d", swapLockTimeout.Milliseconds()),
				fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s", table, name),
				"DROP TABLE " + name,
				fmt.Sprintf("ALTER TABLE %s RENAME TO %s", tmp, name),
				fmt.Sprintf("ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')", table, name, lo, hi),
				"SET LOCAL lock_timeout = 0",
			} {
				if _, err := sp.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		})
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55P03" { // lock_not_available
			break
		}
	}
	if err != nil {
		return fmt.Errorf("swap: %w", err)
	}
	return nil
}

// renameIndexes gives the indexes of the copy, named after tmpName when it
// was created, names after the partition's.
func renameIndexes(ctx context.Context, tx pgx.Tx, name, tmpName string) error {
	rows, err := tx.Query(ctx, `SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::text::regclass`, name)
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("indexes: %w", err)
	}
	for _, index := range indexes {
		suffix, ok := strings.CutPrefix(index, tmpName)
		if !ok {
			continue
		}
		if _, err := tx.Exec(ctx, "ALTER INDEX "+pgx.Identifier{index}.Sanitize()+" RENAME TO "+pgx.Identifier{name + suffix}.Sanitize()); err != nil {
			return fmt.Errorf("rename index %s: %w", index, err)
		}
	}
	return nil
}

// pruneDefault prunes, in place, the sealed records of table's default
// partition whose time is before cutoff: records outside the prepared
// months, which are few. Each chunk is updated in a transaction of its
// own.
func pruneDefault(ctx context.Context, conn *pgxpool.Conn, table string, cutoff time.Time, commit store.Committer) (int64, error) {
	src := table + "_default"
	set := []string{"salt = ''", "personal_sha256 = u.p"}
	personal := query.TransferPersonalColumns
	if table == "log_events" {
		personal = query.EventPersonalColumns
	} else {
		set = append(set, "reasons = '[]'")
	}
	for _, c := range personal {
		set = append(set, c+" = ''")
	}
	update := "UPDATE " + src + " d SET " + strings.Join(set, ", ") +
		" FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS u(id, at, p)" +
		" WHERE d.id = u.id AND d.at = u.at AND d.salt <> ''"
	p, err := newPruning(ctx, conn, table, commit)
	if err != nil {
		return 0, err
	}
	var pruned int64
	for after := (*key)(nil); ; {
		_, keys, commitments, last, err := p.chunk(ctx, src, "at < $1 AND salt <> ''", []any{cutoff}, after)
		if err != nil {
			return pruned, fmt.Errorf("read: %w", err)
		}
		if last == nil {
			return pruned, nil
		}
		if len(keys) > 0 {
			ids, ats := make([]string, len(keys)), make([]time.Time, len(keys))
			for i, k := range keys {
				ids[i], ats[i] = k.id, k.at
			}
			tag, err := conn.Exec(ctx, update, ids, ats, commitments)
			if err != nil {
				return pruned, fmt.Errorf("update: %w", err)
			}
			pruned += tag.RowsAffected()
		}
		after = last
	}
}
