package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/storetest"
)

// sealAll seals through x, in batches of at most limit, until n more
// records are sealed, and answers their ids in leaf order.
func sealAll(t *testing.T, x store.Sealer, tr *storetest.Tree, limit, n int) []string {
	t.Helper()
	var ids []string
	deadline := time.Now().Add(time.Minute)
	for len(ids) < n {
		leaves, cursor, err := x.Unsealed(context.Background(), limit)
		if err != nil {
			t.Fatalf("Unsealed: %v", err)
		}
		if len(leaves) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("sealed %v, then nothing for a minute; want %d records", ids, n)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		seal, err := tr.Next(leaves, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Seal(context.Background(), seal); err != nil {
			t.Fatalf("Seal: %v", err)
		}
		for _, l := range leaves {
			ids = append(ids, l.ID)
		}
	}
	return ids
}

// insert writes rec in tx, as AppendTransfers would, without committing.
func insert(t *testing.T, tx pgx.Tx, rec store.Transfer) {
	t.Helper()
	rec.Salt = []byte("0123456789abcdef")
	args, err := query.Args(rec, query.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.CopyFrom(context.Background(), pgx.Identifier{"transfers"}, query.Columns, pgx.CopyFromRows([][]any{args})); err != nil {
		t.Fatalf("insert %s: %v", rec.ID, err)
	}
}

// TestUnsealedLateCommit: a transaction that commits after a later one,
// with an older transaction id, is not passed over: the sealer answers
// nothing of the later one while the earlier is open, and both, in
// order, once it commits. A transaction that writes only after another
// committed and was sealed comes after it.
func TestUnsealedLateCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	defer s.Close()
	x := storetest.Acquire(t, s)
	tr := &storetest.Tree{}
	now := time.Now()
	append := func(id string) {
		t.Helper()
		if err := s.AppendTransfers(ctx, []store.Transfer{record(id, now)}); err != nil {
			t.Fatal(err)
		}
	}

	append("a-first")
	if got := sealAll(t, x, tr, 100, 1); !slices.Equal(got, []string{"a-first"}) {
		t.Fatalf("sealed %v", got)
	}

	// early takes its transaction id by writing, and stays open while a
	// later transaction commits.
	early, err := connect(t, url).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	insert(t, early, record("b-early", now))
	// quiet begins before the later commit but writes only after it
	// was sealed: its transaction id is newer.
	quiet, err := connect(t, url).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	append("c-later")
	for range 10 {
		leaves, _, err := x.Unsealed(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(leaves) > 0 {
			t.Fatalf("Unsealed answered %v while an older transaction is open", leaves[0].ID)
		}
		time.Sleep(30 * time.Millisecond)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sealAll(t, x, tr, 100, 2); !slices.Equal(got, []string{"b-early", "c-later"}) {
		t.Fatalf("sealed %v, want the early record, then the later one", got)
	}
	insert(t, quiet, record("0-quiet", now)) // sorts first by id, not by xid
	if err := quiet.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sealAll(t, x, tr, 100, 1); !slices.Equal(got, []string{"0-quiet"}) {
		t.Fatalf("sealed %v, want the quiet record", got)
	}
	for i, id := range []string{"a-first", "b-early", "c-later", "0-quiet"} {
		if got, err := s.LeafIndex(ctx, id); err != nil || got != int64(i) {
			t.Errorf("LeafIndex(%s) = %d, %v; want %d", id, got, err, i)
		}
	}
}

// sealerPID answers the server process of the session holding the sealer's
// advisory lock ("pont" 0003), or 0.
func sealerPID(t *testing.T, admin *pgx.Conn) int {
	t.Helper()
	var pid int
	err := admin.QueryRow(context.Background(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = ($1::int8 >> 32)::oid AND objid = ($1::int8 & 4294967295)::oid AND objsubid = 1`, int64(0x706f6e74_0003)).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestSealerConnectionLost: the role lives as long as the sealer's
// connection: when the server ends that session, another node's waiting
// AcquireSealer gets it, and the first Sealer's calls fail.
func TestSealerConnectionLost(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s1, s2 := open(t, url), open(t, url) // two nodes
	defer s1.Close()
	defer s2.Close()
	admin := connect(t, url)
	a := storetest.Acquire(t, s1)
	if err := s1.AppendTransfers(ctx, []store.Transfer{record("r-1", time.Now())}); err != nil {
		t.Fatal(err)
	}
	tr := &storetest.Tree{}
	var leaves []store.Leaf
	var cursor string
	for deadline := time.Now().Add(time.Minute); len(leaves) == 0; {
		var err error
		if leaves, cursor, err = a.Unsealed(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing to seal")
		}
	}
	seal, err := tr.Next(leaves, cursor)
	if err != nil {
		t.Fatal(err)
	}

	got := make(chan store.Sealer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		b, err := s2.AcquireSealer(ctx)
		if err != nil {
			t.Errorf("the second node's AcquireSealer: %v", err)
		}
		got <- b
	}()
	select {
	case b := <-got:
		if b != nil {
			b.Release()
		}
		t.Fatal("a second node became the sealer while the first holds the role")
	case <-time.After(time.Second):
	}
	pid := sealerPID(t, admin)
	if pid == 0 {
		t.Fatal("no session holds the sealer's lock")
	}
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	var b store.Sealer
	select {
	case b = <-got:
		if b == nil {
			t.FailNow()
		}
		defer b.Release()
	case <-time.After(time.Minute):
		t.Fatal("the second node did not become the sealer after the first lost its connection")
	}
	if next := sealerPID(t, admin); next == 0 || next == pid {
		t.Errorf("the lock is held by %d, want the second node's session (not %d)", next, pid)
	}
	if err := a.Seal(ctx, seal); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Seal of the Sealer that lost its connection: %v, want ErrUnavailable", err)
	}
	if _, _, err := a.Unsealed(ctx, 10); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Unsealed of the Sealer that lost its connection: %v, want ErrUnavailable", err)
	}
	if err := a.Release(); err != nil {
		t.Errorf("Release of a lost Sealer: %v", err)
	}
	if got := sealAll(t, b, &storetest.Tree{}, 10, 1); !slices.Equal(got, []string{"r-1"}) {
		t.Errorf("the new sealer sealed %v", got)
	}
}

// TestPrunePartitions runs the pruning test on records that fall into
// monthly partitions, which Prune swaps for pruned copies: the months
// before the pruning time's are recorded as pruned once every record in
// them was sealed, and remain partitions with their indexes; nothing of
// the copies is left, not even one an earlier run left behind.
func TestPrunePartitions(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	defer s.Close()
	for _, m := range storetest.PruneMonths() {
		if err := s.EnsurePartitions(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, url)
	oids := func() map[string]uint32 {
		rows, err := conn.Query(ctx, `SELECT c.relname::text, c.oid::int8 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent IN ('transfers'::regclass, 'log_events'::regclass)`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint32{}
		for rows.Next() {
			var name string
			var oid int64
			if err := rows.Scan(&name, &oid); err != nil {
				t.Fatal(err)
			}
			out[name] = uint32(oid)
		}
		return out
	}
	before := oids()
	// A copy left by a run that stopped half-way does not stop the next.
	if _, err := conn.Exec(ctx, "CREATE TABLE transfers_p202402_pruning (LIKE transfers_p202402 INCLUDING ALL)"); err != nil {
		t.Fatal(err)
	}

	storetest.RunPrune(t, s)

	var pruned []string
	rows, err := conn.Query(ctx, "SELECT name FROM log_pruned_partitions ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	if pruned, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, table := range []string{"log_events", "transfers"} {
		for m := 1; m <= 5; m++ {
			want = append(want, fmt.Sprintf("%s_p2024%02d", table, m))
		}
	}
	if !slices.Equal(pruned, want) {
		t.Errorf("pruned partitions %v, want %v", pruned, want)
	}
	after := oids()
	for name, oid := range before {
		swapped := slices.Contains(want, name)
		if after[name] == 0 {
			t.Errorf("partition %s is gone", name)
		} else if (after[name] != oid) != swapped {
			t.Errorf("partition %s: replaced %v, want %v", name, after[name] != oid, swapped)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d partitions, were %d", len(after), len(before))
	}
	// Every partition has each of its table's indexes, attached to it,
	// under the table's names.
	var bad []string
	rows, err = conn.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent IN ('transfers'::regclass, 'log_events'::regclass)
		AND (SELECT count(*) FROM pg_index x JOIN pg_inherits xi ON xi.inhrelid = x.indexrelid WHERE x.indrelid = c.oid)
			<> (SELECT count(*) FROM pg_index x WHERE x.indrelid = i.inhparent)
		OR EXISTS (SELECT 1 FROM pg_index x JOIN pg_class xc ON xc.oid = x.indexrelid
			WHERE x.indrelid = c.oid AND xc.relname LIKE '%pruning%')
		OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.conname = 'pont_bounds')`)
	if err != nil {
		t.Fatal(err)
	}
	if bad, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(bad) > 0 {
		t.Errorf("partitions without their indexes, or with the copy's names or bounds: %v", bad)
	}
	var leftover int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_class WHERE relname LIKE '%pruning%'").Scan(&leftover); err != nil || leftover != 0 {
		t.Errorf("%d relations left from the copies, %v", leftover, err)
	}
	parts := partitionOf(t, conn)
	if got := parts["00000004-0000-7000-8000-000000000000"]; got != "transfers_p202404" {
		t.Errorf("the April record is in %q", got)
	}
}

// BenchmarkSeal measures the sealer's side of the store: Unsealed and
// Seal of batches of typical records, with the real tiles of the tree they
// grow (hashing them is not timed). It reports sealed records a second.
func BenchmarkSeal(b *testing.B) {
	for _, batch := range []int{5000, 20000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			s, err := postgres.New(ctx, postgres.Config{URL: pgtest.NewDatabase(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			n := b.N * batch
			now := time.Now()
			for i := 0; i < n; i += 5000 {
				recs := make([]store.Transfer, min(5000, n-i))
				for j := range recs {
					recs[j] = typical(fmt.Sprintf("0199a1b2-c3d4-7e5f-8a9b-%012d", i+j), now)
				}
				if err := s.AppendTransfers(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			x := storetest.Acquire(b, s)
			tr := &storetest.Tree{}
			b.ResetTimer()
			for sealed := 0; sealed < n; {
				leaves, cursor, err := x.Unsealed(ctx, batch)
				if err != nil {
					b.Fatal(err)
				}
				if len(leaves) == 0 {
					time.Sleep(time.Millisecond) // an older transaction of the server is still open
					continue
				}
				b.StopTimer()
				seal, err := tr.Next(leaves, cursor)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := x.Seal(ctx, seal); err != nil {
					b.Fatal(err)
				}
				sealed += len(leaves)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// typical is a record as the pipeline writes it for a served query.
func typical(id string, at time.Time) store.Transfer {
	return store.Transfer{ID: id, Time: at, Node: "node-1", Kind: "query",
		RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Joana Puig i Ferrer",
		ProcedureCode: "DEMO", ProcedureName: "Demostració", Purpose: "demo", LegalBasis: "presumed",
		LawReference: "Llei 39/2015, art. 28.2", CaseID: "EXP-2026-00001", SubjectIDType: "DNI",
		SubjectID: "12345678Z", Service: "padro", Adapter: "padro-08019", AdapterVersion: "1.0.0",
		ModuleSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Decision: store.Allow,
		PolicyRevision: "rev-42", Outcome: "ok", SCSPCode: "0003", HTTPStatus: 200, LatencyMicros: 1234,
		DataSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
}
