package postgres

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// TestRawDecodingReadsAsScan: the log readers' raw decoding of transfers
// answers what pgx's Scan and query.Scan answer, for records with every
// kind of value the store keeps, pruned ones included, under both prefixes
// the readers select (a leaf's index, a transaction's xid8).
func TestRawDecodingReadsAsScan(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, Config{URL: pgtest.NewDatabase(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	base := store.Transfer{Time: now, Node: "node-1", Kind: "query", RequesterOrg: "P0801900B",
		OfficialID: "38000001E", OfficialName: "Joana Puig i Ferrer", ProcedureCode: "DEMO", ProcedureName: "Demostració",
		Purpose: "demo", LegalBasis: "presumed", SubjectIDType: "DNI", SubjectID: "12345678Z", Service: "padro",
		Adapter: "padro-08019", AdapterVersion: "1.0.0", ModuleSHA256: "ab", Decision: store.Allow, PolicyRevision: "rev",
		Outcome: "ok", SCSPCode: "0003", HTTPStatus: 200, LatencyMicros: 1234, DataSHA256: "e3"}
	var recs []store.Transfer
	for i, change := range []func(*store.Transfer){
		func(*store.Transfer) {},
		func(r *store.Transfer) {
			r.Reasons = []store.Reason{{Code: "a", Message: "b"}, {Code: "c\"", Message: "d\\\n"}}
		},
		func(r *store.Transfer) { r.OfficialName, r.CaseID = "Núria \u2028 😀 <&>", "EXP\x01\x00\xff" },
		func(r *store.Transfer) { r.Purpose = strings.Repeat("x", 5000) },
		func(r *store.Transfer) { r.HTTPStatus, r.LatencyMicros = -1, -1<<40 },
		func(r *store.Transfer) { r.Time = time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC) },
		func(r *store.Transfer) {
			*r = store.Transfer{ID: r.ID, Time: r.Time, Kind: "query", Decision: store.Deny}
		},
		func(r *store.Transfer) { r.Salt = []byte("0123456789abcdef") },
		func(r *store.Transfer) { r.JobID = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" },
		func(r *store.Transfer) { r.SCSPRequestID, r.SCSPSolicitudID = "PONT-2026-000000000000042", "SOL-0001" },
	} {
		r := base
		r.ID = fmt.Sprintf("0199a1b2-c3d4-7e5f-8a9b-%012d", i)
		change(&r) // keeps the id: the records read back in this order
		recs = append(recs, r)
	}
	if err := s.EnsurePartitions(ctx, time.Date(1999, 12, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendTransfers(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// One pruned record: no salt, the commitment kept.
	if _, err := s.pool.Exec(ctx, "UPDATE transfers SET salt = '', personal_sha256 = repeat('c', 64) WHERE id = $1", recs[1].ID); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"0::bigint", "xid"} {
		q := "SELECT " + prefix + ", " + query.ColumnList + " FROM transfers ORDER BY id"
		read := func(raw bool) []store.Transfer {
			rows, err := s.pool.Query(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if raw && !rawDecodable(rows.FieldDescriptions()) {
				rows.Close()
				t.Fatalf("%s: the columns are not raw-decodable: %+v", prefix, rows.FieldDescriptions())
			}
			var out []store.Transfer
			if err := scanTransfersRaw(rows, raw, func(_ uint64, tr store.Transfer) error { out = append(out, tr); return nil }); err != nil {
				t.Fatalf("%s, raw %v: %v", prefix, raw, err)
			}
			return out
		}
		raw, scanned := read(true), read(false)
		if len(raw) != len(recs) || len(scanned) != len(recs) {
			t.Fatalf("%s: %d and %d records, want %d", prefix, len(raw), len(scanned), len(recs))
		}
		for i := range raw {
			if !reflect.DeepEqual(raw[i], scanned[i]) {
				t.Errorf("%s: record %d decoded\n%+v\nscanned\n%+v", prefix, i, raw[i], scanned[i])
			}
		}
		if raw[1].Salt != nil || raw[1].PersonalSHA256 == "" || raw[0].Salt == nil || raw[1].Reasons == nil {
			t.Errorf("%s: pruned record %+v, unpruned %+v", prefix, raw[1], raw[0])
		}
	}
}
