package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/storetest"
)

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.New(context.Background(), postgres.Config{URL: url, MaxConns: 8})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestConformance(t *testing.T) {
	var urls sync.Map // store.Store -> its database's URL
	storetest.Run(t, func(t *testing.T) store.Store {
		url := pgtest.NewDatabase(t)
		s := open(t, url)
		urls.Store(s, url)
		return s
	}, func(t *testing.T, s store.Store, sql string) {
		url, _ := urls.Load(s)
		if _, err := connect(t, url.(string)).Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	})
}

// TestConcurrentMigrations starts several nodes at once on a new database:
// every one must come up, and each migration must be applied exactly once.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const nodes = 6
	stores := make([]*postgres.Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.New(context.Background(), postgres.Config{URL: url, MaxConns: 2})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: New: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn := connect(t, url)
	var count, distinct, maxVersion int
	if err := conn.QueryRow(context.Background(),
		"SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations").Scan(&count, &distinct, &maxVersion); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if count != maxVersion || distinct != maxVersion || maxVersion < 1 {
		t.Errorf("schema_migrations: %d rows, %d versions, max %d; want each version once", count, distinct, maxVersion)
	}
	rec := record("0192a000-0000-7000-8000-000000000001", time.Now())
	if err := stores[nodes-1].AppendTransfers(context.Background(), []store.Transfer{rec}); err != nil {
		t.Fatalf("AppendTransfers: %v", err)
	}
	if _, err := stores[0].GetTransfer(context.Background(), rec.ID); err != nil {
		t.Fatalf("GetTransfer from another node: %v", err)
	}
	// A node that starts later finds everything done.
	open(t, url).Close()
}

func record(id string, at time.Time) store.Transfer {
	return store.Transfer{ID: id, Time: at, Node: "n", Kind: "query", RequesterOrg: "P0801900B",
		Service: "padro", Decision: store.Allow, Outcome: "ok"}
}

// partitionOf answers which partition holds each record.
func partitionOf(t *testing.T, conn *pgx.Conn) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT id, tableoid::regclass::text FROM transfers")
	if err != nil {
		t.Fatalf("read partitions: %v", err)
	}
	got := map[string]string{}
	for rows.Next() {
		var id, part string
		if err := rows.Scan(&id, &part); err != nil {
			t.Fatal(err)
		}
		got[id] = part
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPartitions(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	defer s.Close()
	conn := connect(t, url)

	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	jan := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	far := time.Date(2099, 6, 15, 12, 0, 0, 0, time.UTC)
	if err := s.EnsurePartitions(ctx, jan); err != nil {
		t.Fatalf("EnsurePartitions: %v", err)
	}
	if err := s.EnsurePartitions(ctx, jan); err != nil {
		t.Fatalf("EnsurePartitions again: %v", err)
	}
	recs := []store.Transfer{
		record("a-now", now),
		record("b-jan-last-microsecond", jan.AddDate(0, 1, 0).Add(-time.Microsecond)),
		record("c-feb-first-microsecond", jan.AddDate(0, 1, 0)),
		record("d-mar", jan.AddDate(0, 2, 20)),
		record("e-far", far),
		record("f-past", time.Date(2001, 9, 11, 8, 46, 0, 0, time.UTC)),
	}
	if err := s.AppendTransfers(ctx, recs); err != nil {
		t.Fatalf("AppendTransfers: %v", err)
	}
	want := map[string]string{
		"a-now":                   "transfers_p" + thisMonth.Format("200601"),
		"b-jan-last-microsecond":  "transfers_p203101",
		"c-feb-first-microsecond": "transfers_p203102",
		"d-mar":                   "transfers_p203103",
		"e-far":                   "transfers_default",
		"f-past":                  "transfers_default",
	}
	check := func(when string) {
		t.Helper()
		got := partitionOf(t, conn)
		for id, part := range want {
			if got[id] != part {
				t.Errorf("%s: record %s is in %q, want %q", when, id, got[id], part)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d records, want %d", when, len(got), len(want))
		}
	}
	check("after insert")

	// The far month's partition, created late, takes its record over from
	// the default partition; the store still answers the same.
	if err := s.EnsurePartitions(ctx, far); err != nil {
		t.Fatalf("EnsurePartitions(far): %v", err)
	}
	want["e-far"] = "transfers_p209906"
	check("after EnsurePartitions(far)")
	got, err := s.GetTransfer(ctx, "e-far")
	if err != nil || !got.Time.Equal(far) {
		t.Errorf("GetTransfer(e-far) = %v, %v", got.Time, err)
	}
	p, err := s.SearchTransfers(ctx, store.Filter{})
	if err != nil || len(p.Items) != len(recs) || p.Items[0].ID != "e-far" {
		t.Errorf("search after moving: %d items, %v", len(p.Items), err)
	}

	// New creates this month and the next MonthsAhead.
	for i := range postgres.MonthsAhead + 1 {
		name := "transfers_p" + thisMonth.AddDate(0, i, 0).Format("200601")
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil || !exists {
			t.Errorf("partition %s: exists %v, %v", name, exists, err)
		}
	}
	// The search indexes reach every partition.
	var missing int
	if err := conn.QueryRow(ctx, `
		SELECT count(*) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'transfers'::regclass
		AND (SELECT count(*) FROM pg_index x WHERE x.indrelid = c.oid) < 4`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Errorf("%d partitions lack indexes", missing)
	}
}

// TestNewFailsOnBadURL: New reports a server it cannot reach or a URL it cannot read.
func TestNewFailsOnBadURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, url := range []string{"postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "::not a url::"} {
		if s, err := postgres.New(ctx, postgres.Config{URL: url}); err == nil {
			s.Close()
			t.Errorf("New(%q): nil error", url)
		}
	}
}

// TestObjectionsAcrossNodes checks that an objection made through one node,
// or written to the table by hand, counts on another node that answers
// from memory for the subjects without one, also after that node lost its
// notification connection.
func TestObjectionsAcrossNodes(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	admin := connect(t, url)

	found := func(s *postgres.Store, subject string) bool {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := s.FindObjection(ctx, subject, "padro", "DEMO")
			if err == nil {
				return true
			}
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("FindObjection(%s): %v", subject, err)
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := b.FindObjection(ctx, "12345678Z", "padro", "DEMO"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FindObjection before any objection = %v, want not found", err)
	}
	o := store.Objection{ID: "019a0000-0000-7000-8000-000000000001", Subject: "12345678Z", Service: "padro", CreatedAt: time.Now()}
	if _, err := a.CreateObjection(ctx, o); err != nil {
		t.Fatal(err)
	}
	if !found(a, "12345678Z") || !found(b, "12345678Z") {
		t.Fatal("an objection made through one node does not count on both")
	}

	insert := func(id, subject string) {
		t.Helper()
		if _, err := admin.Exec(ctx, "INSERT INTO objections (id, subject, service, procedure, created_at) VALUES ($1, $2, 'padro', '', now())", id, subject); err != nil {
			t.Fatal(err)
		}
	}
	insert("019a0000-0000-7000-8000-000000000002", "X1234567L")
	if !found(b, "X1234567L") {
		t.Fatal("an objection written to the table does not count")
	}

	// Cut every node's listening connection: until they listen again, and
	// after, an objection written meanwhile must count.
	var cut int
	if err := admin.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT DISTINCT subject FROM objections'").Scan(&cut); err != nil {
		t.Fatal(err)
	}
	if cut != 2 {
		t.Fatalf("cut %d listening connections, want 2 (one a node)", cut)
	}
	insert("019a0000-0000-7000-8000-000000000003", "45678901G")
	if !found(b, "45678901G") {
		t.Fatal("an objection written while the notifications were cut does not count")
	}
}
