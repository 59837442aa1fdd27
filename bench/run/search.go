package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
)

// The seeded search database: its name, and the shape of its synthetic log.
// seedVersion changes whenever the generated rows change, so that an old
// seed is redone rather than measured.
const (
	searchDB       = "pont_bench_10m"
	seedVersion    = 1
	seedSubjects   = 100_000
	seedRequesters = 200
	seedMonths     = 12
)

// SearchResult is the figures of the search benchmark.
type SearchResult struct {
	Rows       int64    `json:"rows"`
	Subjects   int      `json:"subjects"`
	Requesters int      `json:"requesters"`
	Months     int      `json:"months"`
	Seeded     string   `json:"seeded"` // "reused" or "seeded in 4m10s"
	BySubject  Quantile `json:"by_subject"`
	ByReq      Quantile `json:"by_requester"`
}

// Quantile is a latency distribution of one kind of query.
type Quantile struct {
	Queries  int     `json:"queries"`
	Keys     int     `json:"distinct_keys"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	AvgItems float64 `json:"avg_items"`
}

// dbURL returns admin with its database replaced by name.
func dbURL(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// createDatabase creates database name on the server of admin; exists
// reports whether it was already there.
func createDatabase(ctx context.Context, admin, name string) (exists bool, err error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return false, fmt.Errorf("connect to %s: %w", redact(admin), err)
	}
	defer conn.Close(ctx)
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database
			return true, nil
		}
		// 55006: template1 is briefly in use by another CREATE DATABASE.
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || attempt == 20 {
			break
		}
		time.Sleep(time.Duration(50+attempt*25) * time.Millisecond)
	}
	if err != nil {
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	return false, nil
}

// settle makes the disk quiet before a measured phase: a CHECKPOINT now,
// so that PostgreSQL's timed checkpoint (every checkpoint_timeout, 5 min by
// default, spread over most of that time) does not fall inside a phase at
// a random moment of one run and not of the next; and a sync of the
// system's dirty pages (builds, earlier phases), so that their writeback
// does not queue in front of the transfer log's commits. CHECKPOINT needs a
// superuser or pg_checkpoint; without it the run goes on, and says so.
func settle(ctx context.Context, admin string, logf func(string, ...any)) {
	syscall.Sync()
	conn, err := pgx.Connect(ctx, admin)
	if err == nil {
		_, err = conn.Exec(ctx, "CHECKPOINT")
		conn.Close(ctx)
	}
	if err != nil {
		logf("no checkpoint before the phases (a timed one may fall inside them): %v", err)
	}
}

// dropDatabase drops database name, forcing its sessions out.
func dropDatabase(ctx context.Context, admin, name string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redact(admin), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// runSearch makes sure that the search database holds its rows (seeding it
// when missing or incomplete) and times SearchTransfers by subject and by
// requester through the real PostgreSQL store.
func runSearch(ctx context.Context, admin string, rows int64, queries int, logf func(string, ...any)) (SearchResult, error) {
	res := SearchResult{Rows: rows, Subjects: seedSubjects, Requesters: seedRequesters, Months: seedMonths}
	if _, err := createDatabase(ctx, admin, searchDB); err != nil {
		return res, err
	}
	u, err := dbURL(admin, searchDB)
	if err != nil {
		return res, err
	}
	// The real store: its migrations make the schema, indexes included.
	st, err := postgres.New(ctx, postgres.Config{URL: u, MaxConns: 4})
	if err != nil {
		return res, fmt.Errorf("search store: %w", err)
	}
	defer st.Close()

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return res, fmt.Errorf("connect to %s: %w", searchDB, err)
	}
	defer conn.Close(ctx)
	seededAt, complete, err := seedState(ctx, conn, rows)
	if err != nil {
		return res, err
	}
	if complete {
		res.Seeded = "reused (seeded " + seededAt.Format("2006-01-02 15:04") + ")"
		logf("search: database %s holds its %d records (seeded %s): reused", searchDB, rows, seededAt.Format(time.RFC3339))
	} else {
		logf("search: database %s is missing or incomplete: seeding %d records (minutes, once)", searchDB, rows)
		start := time.Now()
		if err := seed(ctx, conn, st, u, rows, logf); err != nil {
			return res, err
		}
		res.Seeded = fmt.Sprintf("seeded in this run, %s", time.Since(start).Round(time.Second))
		logf("search: seeded in %s", time.Since(start).Round(time.Second))
	}

	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	subjects := make([]string, queries)
	for i := range subjects {
		subjects[i] = dni(10_000_000 + rng.IntN(seedSubjects))
	}
	requesters := make([]string, queries)
	for i := range requesters {
		requesters[i] = requesterID(rng.IntN(seedRequesters))
	}
	// A short warm-up, so that the first figures do not measure the
	// planner's and the connection pool's first use.
	for i := range 20 {
		if _, err := st.SearchTransfers(ctx, store.Filter{Subject: subjects[i%len(subjects)], Limit: 100}); err != nil {
			return res, fmt.Errorf("search warm-up: %w", err)
		}
	}
	if res.BySubject, err = timeSearches(ctx, st, subjects, func(k string) store.Filter { return store.Filter{Subject: k, Limit: 100} }); err != nil {
		return res, err
	}
	if res.ByReq, err = timeSearches(ctx, st, requesters, func(k string) store.Filter { return store.Filter{Requester: k, Limit: 100} }); err != nil {
		return res, err
	}
	return res, nil
}

// timeSearches runs one first-page search per key, one at a time, and
// answers the distribution of their latencies.
func timeSearches(ctx context.Context, st *postgres.Store, keys []string, filter func(string) store.Filter) (Quantile, error) {
	lat := make([]time.Duration, 0, len(keys))
	distinct := map[string]bool{}
	items := 0
	for _, k := range keys {
		distinct[k] = true
		start := time.Now()
		page, err := st.SearchTransfers(ctx, filter(k))
		d := time.Since(start)
		if err != nil {
			return Quantile{}, fmt.Errorf("search %s: %w", k, err)
		}
		if len(page.Items) == 0 {
			return Quantile{}, fmt.Errorf("search %s found nothing: the seed does not hold what the benchmark asks for", k)
		}
		items += len(page.Items)
		lat = append(lat, d)
	}
	slices.Sort(lat)
	return Quantile{
		Queries: len(keys), Keys: len(distinct),
		P50ms: ms(quantile(lat, 0.50)), P99ms: ms(quantile(lat, 0.99)), MaxMs: ms(lat[len(lat)-1]),
		AvgItems: float64(items) / float64(len(keys)),
	}, nil
}

// quantile answers the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dni answers the DNI of number n, with its check letter.
func dni(n int) string {
	return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

// requesterID answers the k-th synthetic requesting organisation's NIF.
func requesterID(k int) string { return fmt.Sprintf("P08%05dB", k) }

// seedState reads the seed marker: when the rows were seeded and whether
// the seed is complete and of this version.
func seedState(ctx context.Context, conn *pgx.Conn, rows int64) (time.Time, bool, error) {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_seed (
		version integer NOT NULL, rows bigint NOT NULL, done_at timestamptz NOT NULL)`); err != nil {
		return time.Time{}, false, fmt.Errorf("seed marker: %w", err)
	}
	var version int
	var n int64
	var at time.Time
	err := conn.QueryRow(ctx, "SELECT version, rows, done_at FROM bench_seed ORDER BY done_at DESC LIMIT 1").Scan(&version, &n, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("seed marker: %w", err)
	}
	return at, version == seedVersion && n == rows, nil
}

// seed empties the transfer log and fills it with rows synthetic records
// over the last seedMonths months, generated by PostgreSQL itself
// (generate_series) into the store's own partitioned table and indexes,
// one month per statement, two statements at a time (one per core).
func seed(ctx context.Context, conn *pgx.Conn, st *postgres.Store, u string, rows int64, logf func(string, ...any)) error {
	if _, err := conn.Exec(ctx, "DELETE FROM bench_seed"); err != nil {
		return fmt.Errorf("seed: clear marker: %w", err)
	}
	if _, err := conn.Exec(ctx, "TRUNCATE transfers"); err != nil {
		return fmt.Errorf("seed: truncate: %w", err)
	}
	end := time.Now().UTC()
	start := end.AddDate(0, -seedMonths, 0)
	// The store creates a month's partition and the MonthsAhead after it.
	for m := start; m.Before(end); m = m.AddDate(0, 1, 0) {
		if err := st.EnsurePartitions(ctx, m); err != nil {
			return fmt.Errorf("seed: partitions: %w", err)
		}
	}
	// The secondary indexes are built once the rows are in, from the store's
	// own definitions: maintaining them row by row, at random keys, took
	// most of the seeding time.
	indexes, err := dropSecondaryIndexes(ctx, conn)
	if err != nil {
		return err
	}
	const chunks = 24
	per := rows / chunks
	span := end.Sub(start).Seconds()
	jobs := make(chan int64)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			c, err := pgx.Connect(ctx, u)
			if err != nil {
				errs <- fmt.Errorf("seed: connect: %w", err)
				for range jobs {
				}
				return
			}
			defer c.Close(ctx)
			var first error
			for lo := range jobs {
				if first != nil {
					continue
				}
				hi := min(lo+per, rows)
				if lo/per == chunks-1 {
					hi = rows
				}
				if _, err := c.Exec(ctx, seedSQL, lo+1, hi, rows, start, span); err != nil {
					first = fmt.Errorf("seed rows %d..%d: %w", lo+1, hi, err)
					continue
				}
				logf("search: seeded rows %d..%d", lo+1, hi)
			}
			errs <- first
		}()
	}
	for i := range int64(chunks) {
		jobs <- i * per
	}
	close(jobs)
	var errsAll []error
	for range 2 {
		errsAll = append(errsAll, <-errs)
	}
	if err := errors.Join(errsAll...); err != nil {
		return err
	}
	logf("search: building %d indexes", len(indexes))
	if _, err := conn.Exec(ctx, "SET maintenance_work_mem = '256MB'"); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	for _, def := range indexes {
		if _, err := conn.Exec(ctx, def); err != nil {
			return fmt.Errorf("seed: %s: %w", def, err)
		}
	}
	// VACUUM as well as ANALYZE: a freshly loaded table has no visibility
	// map, so every "index-only" scan of a search also reads the heap page
	// of each row, from disk once the cache has moved on; autovacuum would
	// set it in time on a live log, and the benchmark should measure that
	// log, not one minutes old.
	logf("search: vacuuming and analysing")
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) transfers"); err != nil {
		return fmt.Errorf("seed: vacuum: %w", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO bench_seed (version, rows, done_at) VALUES ($1, $2, now())", seedVersion, rows); err != nil {
		return fmt.Errorf("seed: marker: %w", err)
	}
	return nil
}

// dropSecondaryIndexes drops the indexes of the transfers table that back no
// constraint and returns their definitions, to be run again.
func dropSecondaryIndexes(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT i.relname, pg_get_indexdef(i.oid)
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		WHERE x.indrelid = 'transfers'::regclass
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)
		ORDER BY i.relname`)
	if err != nil {
		return nil, fmt.Errorf("seed: indexes: %w", err)
	}
	names, defs := []string{}, []string{}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return nil, fmt.Errorf("seed: indexes: %w", err)
		}
		// A partitioned table's definition reads ON ONLY, which would
		// build the parent's index alone, not its partitions'.
		names, defs = append(names, name), append(defs, strings.Replace(def, " ON ONLY ", " ON ", 1))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("seed: indexes: %w", err)
	}
	for _, name := range names {
		if _, err := conn.Exec(ctx, "DROP INDEX "+pgx.Identifier{name}.Sanitize()); err != nil {
			return nil, fmt.Errorf("seed: drop index %s: %w", name, err)
		}
	}
	return defs, nil
}

// seedSQL inserts records $1..$2 of $3, spread evenly in time from $4 over
// $5 seconds. Subjects are valid DNIs 10000000.. (seedSubjects of them),
// requesters P08xxxxxB (seedRequesters), picked by multiplicative hashes of
// the record number so that each key's records spread over the whole year.
// Ids are UUIDv7-shaped: the record's millisecond time, then md5 bits.
var seedSQL = strings.NewReplacer(
	"{subjects}", fmt.Sprint(seedSubjects),
	"{requesters}", fmt.Sprint(seedRequesters),
).Replace(`
INSERT INTO transfers (id, at, node, kind, requester, official_id, official_name,
	procedure_code, procedure_name, purpose, legal_basis, law_reference, consent_id, case_id,
	subject_id_type, subject_id, service, adapter, adapter_version, module_sha256, decision,
	reasons, policy_revision, outcome, scsp_code, latency_us, data_sha256)
SELECT
	substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12),
	at, 'bench-node', 'query', req, '38000001E', 'Anna Puig',
	'DEMO', 'Demostració', 'demo', 'presumed', '', '', 'EXP-2026-' || lpad((i % 100000)::text, 5, '0'),
	'DNI', subj, svc, svc || '-bench', '1.0.0', repeat('ab', 32),
	CASE WHEN i % 10 = 0 THEN 'deny' ELSE 'allow' END,
	CASE WHEN i % 10 = 0 THEN '[{"code":"not_authorized","message":"bench"}]'::jsonb ELSE '[]'::jsonb END,
	'rev-bench',
	CASE WHEN i % 10 = 0 THEN 'not_authorized' WHEN i % 3 = 0 THEN 'subject_not_found' ELSE 'ok' END,
	CASE WHEN i % 10 = 0 THEN '0401' ELSE '0003' END,
	1000 + i % 5000,
	CASE WHEN i % 10 = 0 OR i % 3 = 0 THEN '' ELSE md5(i::text) || md5(r) END
FROM (
	SELECT i, at, md5(i::text) AS r,
		lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') AS h,
		lpad(sn::text, 8, '0') || substr('TRWAGMYFPDXBNJZSQVHLCKE', (sn % 23)::int + 1, 1) AS subj,
		'P08' || lpad(((i * 40503) % {requesters})::text, 5, '0') || 'B' AS req,
		(ARRAY['padro','titulacions','discapacitat','familia-nombrosa','prestacions'])[(i % 5) + 1] AS svc
	FROM (
		SELECT i, $4::timestamptz + make_interval(secs => (i::float8 / $3::float8) * $5::float8) AS at,
			10000000 + (i * 2654435761) % {subjects} AS sn
		FROM generate_series($1::bigint, $2::bigint) AS i
	) g
) x`)
