// Package storetest is the conformance suite of store.Store: one black-box
// test, through the public interface only (transfer log here and an
// adapter's activity in activity.go, consents and
// objections in citizens.go, the tamper-evident log in log.go and
// prune.go, the adapter registry in adapters.go, asynchronous jobs in
// jobs.go), that every backend runs, so that pont dev (SQLite) and
// production (PostgreSQL) keep the same behaviour. Only the test of a record deleted from under the log goes
// around the interface, through the backend's Exec. It changes when the
// store.Store contract changes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// Exec runs a statement on the database of s, beside the store, as only
// tampering would: the suite uses it to delete a record from under the
// log. The statement is plain SQL that both backends read alike.
type Exec func(t *testing.T, s store.Store, sql string)

// Run runs the conformance suite against the backend that open creates.
// Each call of open must return a new, empty store; the suite closes it (and
// may close it twice: Close must be idempotent). open registers with
// t.Cleanup whatever else must go when the test ends, such as a database.
func Run(t *testing.T, open func(t *testing.T) store.Store, exec Exec) {
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"EmptyBatch", testEmptyBatch},
		{"Filters", testFilters},
		{"SCSPRequest", testSCSPRequest},
		{"TimeRange", testTimeRange},
		{"Order", testOrder},
		{"Paging", testPaging},
		{"Limits", testLimits},
		{"BatchAtomicity", testBatchAtomicity},
		{"Unstorable", testUnstorable},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentAppends", testConcurrentAppends},
		{"AdapterActivity", testAdapterActivity},
		{"AdapterActivityMany", testAdapterActivityMany},
		{"ConsentRoundTrip", testConsentRoundTrip},
		{"ConsentNotFound", testConsentNotFound},
		{"ListConsents", testListConsents},
		{"RevokeConsent", testRevokeConsent},
		{"ObjectionRoundTrip", testObjectionRoundTrip},
		{"ListObjections", testListObjections},
		{"ObjectionIdempotent", testObjectionIdempotent},
		{"ConcurrentObjections", testConcurrentObjections},
		{"DeleteObjection", testDeleteObjection},
		{"FindObjection", testFindObjection},
		{"ConsentEvents", testConsentEvents},
		{"ObjectionEvents", testObjectionEvents},
		{"AppendEvents", testAppendEvents},
		{"AppendEventsRejected", testAppendEventsRejected},
		{"Unsealed", testUnsealed},
		{"SealReads", testSealReads},
		{"StaleSeal", testStaleSeal},
		{"SealerExclusion", testSealerExclusion},
		{"Prune", func(t *testing.T, s store.Store) { RunPrune(t, s) }},
		{"PublishAdapter", testPublishAdapter},
		{"ListAdapters", testListAdapters},
		{"Activations", testActivations},
		{"ActiveAdapters", testActiveAdapters},
		{"WatchAdapters", testWatchAdapters},
		{"ConcurrentRollbacks", testConcurrentRollbacks},
		{"AdapterEvents", testAdapterEvents},
		{"CreateJob", testCreateJob},
		{"JobIdempotency", testJobIdempotency},
		{"ClaimJobElement", testClaimJobElement},
		{"CompleteJobElement", testCompleteJobElement},
		{"ConcurrentCompletions", testConcurrentCompletions},
		{"UnfinishedJobs", testUnfinishedJobs},
		{"DeleteExpiredJobResults", testDeleteExpiredJobResults},
		{"JobBytes", testJobBytes},
		{"LargeJobs", testLargeJobs},
		{"SCSPJobs", testSCSPJobs},
		{"Ping", testPing},
		{"AfterClose", testAfterClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, fresh(t))
		})
	}
	t.Run("MissingRecord", func(t *testing.T) {
		s := fresh(t)
		testMissingRecord(t, s, func(sql string) { exec(t, s, sql) })
	})
}

// base is a time with nanoseconds and a zone, which stores must bring back
// in UTC at microsecond precision.
var base = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CET", 3600))

// id returns a UUID-shaped id whose text order is n's order.
func id(n int) string { return fmt.Sprintf("%08d-0000-7000-8000-000000000000", n) }

// full returns a record with every field set.
func full(n int, at time.Time) store.Transfer {
	return store.Transfer{
		ID:             id(n),
		Time:           at,
		Node:           "node-1",
		Kind:           "query",
		RequesterOrg:   "P0801900B",
		OfficialID:     "38000001E",
		OfficialName:   "Joana Puig i Ferrer",
		ProcedureCode:  "AJUT-MENJADOR",
		ProcedureName:  "Ajuts de menjador escolar",
		Purpose:        "social-benefits",
		LegalBasis:     "consent",
		LawReference:   "Llei 39/2015, art. 28.2",
		ConsentID:      "c-7",
		CaseID:         "EXP-2026-00123",
		JobID:          "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		SubjectIDType:  "DNI",
		SubjectID:      "12345678Z",
		Service:        "padro",
		Adapter:        "padro-08019",
		AdapterVersion: "1.4.2",
		ModuleSHA256:   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Decision:       store.Deny,
		Reasons: []store.Reason{
			{Code: "purpose_not_allowed", Message: "el propòsit no és permès — «quotes» \"and\" \\ backslash"},
			{Code: "not_authorized", Message: "second"},
		},
		PolicyRevision: "rev-42",
		Outcome:        "purpose_not_allowed",
		SCSPCode:       "0301",
		HTTPStatus:     403,
		LatencyMicros:  1234567,
		DataSHA256:     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		// The SCSP request it answered: IdPeticion (26 characters at most)
		// and IdSolicitud (40 at most).
		SCSPRequestID:   "PONT-20260314-000000000042",
		SCSPSolicitudID: "SOL-20260314-0000000000000000000000000001",
		Salt:            []byte("0123456789abcdef"),
		// Set here so that the round trip covers it: a store keeps it as
		// given, and only pruning sets it otherwise.
		PersonalSHA256: "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
	}
}

// want is what a store must return for r: the time in UTC at microsecond
// precision, no reasons as nil.
func want(r store.Transfer) store.Transfer {
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	if len(r.Reasons) == 0 {
		r.Reasons = nil
	}
	return r
}

// checkEqual compares a returned record with the expected one. A record
// given without a salt must come back with a fresh one.
func checkEqual(t *testing.T, what string, got, exp store.Transfer) {
	t.Helper()
	exp = want(exp)
	if len(exp.Salt) == 0 {
		if len(got.Salt) != store.SaltSize {
			t.Errorf("%s: salt %x, want %d fresh bytes for a record given without one", what, got.Salt, store.SaltSize)
		}
		got.Salt = nil
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("%s: Time location = %v, want UTC", what, got.Time.Location())
	}
	if !got.Time.Equal(exp.Time) {
		t.Errorf("%s: Time = %v, want %v", what, got.Time, exp.Time)
	}
	if len(got.Reasons) == 0 {
		got.Reasons = nil
	}
	got.Time, exp.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

func mustAppend(t *testing.T, s store.Store, recs ...store.Transfer) {
	t.Helper()
	if err := s.AppendTransfers(context.Background(), recs); err != nil {
		t.Fatalf("AppendTransfers(%d records): %v", len(recs), err)
	}
}

func search(t *testing.T, s store.Store, f store.Filter) store.Page {
	t.Helper()
	p, err := s.SearchTransfers(context.Background(), f)
	if err != nil {
		t.Fatalf("SearchTransfers(%+v): %v", f, err)
	}
	return p
}

// collect pages through f with its Limit and returns every item, failing on
// duplicates and on a page that is over-full or wrongly continued.
func collect(t *testing.T, s store.Store, f store.Filter) []store.Transfer {
	t.Helper()
	var all []store.Transfer
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatal("paging does not end")
		}
		p := search(t, s, f)
		if f.Limit > 0 && len(p.Items) > f.Limit {
			t.Fatalf("page of %d items, limit %d", len(p.Items), f.Limit)
		}
		for _, it := range p.Items {
			if seen[it.ID] {
				t.Fatalf("record %s returned twice while paging", it.ID)
			}
			seen[it.ID] = true
		}
		all = append(all, p.Items...)
		if p.Next == nil {
			return all
		}
		if len(p.Items) == 0 {
			t.Fatal("empty page with a Next cursor")
		}
		last := p.Items[len(p.Items)-1]
		if p.Next.ID != last.ID || !p.Next.Time.Equal(last.Time) {
			t.Fatalf("Next = %+v, want the last item's position (%v, %s)", *p.Next, last.Time, last.ID)
		}
		f.After = p.Next
	}
}

// model answers f over recs as the contract says a store must.
func model(recs []store.Transfer, f store.Filter) []string {
	var out []store.Transfer
	for _, r := range recs {
		r = want(r)
		match := func(filter, value string) bool { return filter == "" || filter == value }
		if !match(f.Subject, r.SubjectID) || !match(f.Requester, r.RequesterOrg) ||
			!match(f.Official, r.OfficialID) || !match(f.Procedure, r.ProcedureCode) ||
			!match(f.Service, r.Service) || !match(f.Purpose, r.Purpose) || !match(f.Decision, r.Decision) ||
			!match(f.SCSPRequestID, r.SCSPRequestID) {
			continue
		}
		if !f.From.IsZero() && r.Time.Before(f.From) {
			continue
		}
		if !f.To.IsZero() && !r.Time.Before(f.To) {
			continue
		}
		out = append(out, r)
	}
	sortNewestFirst(out)
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = r.ID
	}
	return ids
}

func sortNewestFirst(rs []store.Transfer) {
	slices.SortFunc(rs, func(a, b store.Transfer) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
}

func ids(items []store.Transfer) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func testRoundTrip(t *testing.T, s store.Store) {
	r := full(1, base)
	// Every field set: a field added to Transfer fails here until the
	// fixture, and so the round trip, covers it.
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fixture leaves Transfer.%s unset", v.Type().Field(i).Name)
		}
	}
	minimal := store.Transfer{ID: id(2), Time: base.Add(time.Second), Node: "n", Kind: "self_access",
		RequesterOrg: "12345678Z", Service: "padro", Decision: store.Allow, Outcome: "ok"}
	unicode := full(3, base.Add(2*time.Second))
	unicode.SubjectID, unicode.OfficialName = "X1234567L", "Núria Ćwikła 東京 😀"
	unicode.Reasons = []store.Reason{}
	mustAppend(t, s, r, minimal, unicode)

	for _, rec := range []store.Transfer{r, minimal, unicode} {
		got, err := s.GetTransfer(context.Background(), rec.ID)
		if err != nil {
			t.Fatalf("GetTransfer(%s): %v", rec.ID, err)
		}
		checkEqual(t, "GetTransfer("+rec.ID+")", got, rec)
	}
	p := search(t, s, store.Filter{})
	if len(p.Items) != 3 || p.Next != nil {
		t.Fatalf("search: %d items, Next %v; want 3 items, no Next", len(p.Items), p.Next)
	}
	checkEqual(t, "search item 0", p.Items[0], unicode)
	checkEqual(t, "search item 1", p.Items[1], minimal)
	checkEqual(t, "search item 2", p.Items[2], r)
}

func testNotFound(t *testing.T, s store.Store) {
	mustAppend(t, s, full(1, base))
	for _, missing := range []string{id(2), "", "not-a-uuid"} {
		_, err := s.GetTransfer(context.Background(), missing)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetTransfer(%q): err = %v, want ErrNotFound", missing, err)
		}
	}
}

func testEmptyBatch(t *testing.T, s store.Store) {
	for _, recs := range [][]store.Transfer{nil, {}} {
		if err := s.AppendTransfers(context.Background(), recs); err != nil {
			t.Errorf("AppendTransfers(%v): %v", recs, err)
		}
	}
	if p := search(t, s, store.Filter{}); len(p.Items) != 0 || p.Next != nil {
		t.Errorf("empty store: %d items, Next %v", len(p.Items), p.Next)
	}
}

// dataset is varied enough that each filter, alone or combined, selects a
// different subset; its times span three months, with some repeated.
func dataset() []store.Transfer {
	var recs []store.Transfer
	at := base
	for i := range 60 {
		if i%5 != 4 { // every fifth record shares the previous one's time
			at = at.Add(37*time.Hour + 1234*time.Nanosecond)
		}
		r := full(100+i, at)
		r.SubjectID = []string{"12345678Z", "87654321X", "X1234567L"}[i%3]
		r.RequesterOrg = []string{"P0801900B", "S0811001G"}[i%2]
		r.OfficialID = []string{"38000001E", "38000002E", ""}[i/4%3]
		r.ProcedureCode = []string{"AJUT-MENJADOR", "BEQUES"}[i/7%2]
		r.Service = []string{"padro", "titulacions", "discapacitat"}[i/2%3]
		r.Purpose = []string{"social-benefits", "grants"}[i/3%2]
		r.Decision = []string{store.Allow, store.Deny}[i/5%2]
		// Records of three SCSP requests, several each, and records that
		// came through no SCSP request.
		r.SCSPRequestID = []string{"", "PONT-REQ-0001", "PONT-REQ-0002", "PONT-REQ-0003"}[i/6%4]
		r.SCSPSolicitudID = ""
		if r.SCSPRequestID != "" {
			r.SCSPSolicitudID = fmt.Sprintf("SOL-%d", i%6)
		}
		recs = append(recs, r)
	}
	return recs
}

func testFilters(t *testing.T, s store.Store) {
	recs := dataset()
	mustAppend(t, s, recs[:25]...)
	mustAppend(t, s, recs[25:]...)
	mid := want(recs[30]).Time
	tests := []struct {
		name string
		f    store.Filter
	}{
		{"none", store.Filter{}},
		{"subject", store.Filter{Subject: "87654321X"}},
		{"requester", store.Filter{Requester: "S0811001G"}},
		{"official", store.Filter{Official: "38000002E"}},
		{"procedure", store.Filter{Procedure: "BEQUES"}},
		{"service", store.Filter{Service: "titulacions"}},
		{"purpose", store.Filter{Purpose: "grants"}},
		{"decision allow", store.Filter{Decision: store.Allow}},
		{"decision deny", store.Filter{Decision: store.Deny}},
		{"scsp request", store.Filter{SCSPRequestID: "PONT-REQ-0002"}},
		{"scsp request and service", store.Filter{SCSPRequestID: "PONT-REQ-0001", Service: "padro"}},
		{"scsp request and time", store.Filter{SCSPRequestID: "PONT-REQ-0003", From: mid}},
		{"from", store.Filter{From: mid}},
		{"to", store.Filter{To: mid}},
		{"subject and requester", store.Filter{Subject: "12345678Z", Requester: "P0801900B"}},
		{"service and decision", store.Filter{Service: "padro", Decision: store.Deny}},
		{"subject and time", store.Filter{Subject: "X1234567L", From: want(recs[10]).Time, To: want(recs[50]).Time}},
		{"all", store.Filter{Subject: "12345678Z", Requester: "P0801900B", Official: "38000001E",
			Procedure: "AJUT-MENJADOR", Service: "padro", Purpose: "social-benefits", Decision: store.Allow,
			From: want(recs[0]).Time, To: want(recs[59]).Time.Add(time.Hour)}},
		{"no match", store.Filter{Subject: "00000000T"}},
		{"no match combined", store.Filter{Subject: "12345678Z", Requester: "nobody"}},
		{"no match scsp request", store.Filter{SCSPRequestID: "PONT-REQ-0001-other"}},
	}
	nonEmpty := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := model(recs, tt.f)
			if tt.name != "none" && len(exp) == len(recs) {
				t.Fatalf("fixture: filter %+v selects everything, so it tests nothing", tt.f)
			}
			if len(exp) > 0 {
				nonEmpty++
			}
			f := tt.f
			f.Limit = maxLimit
			got := ids(search(t, s, f).Items)
			if !slices.Equal(got, exp) {
				t.Errorf("ids\n got %v\nwant %v", got, exp)
			}
		})
	}
	if nonEmpty < len(tests)-3 { // all but the three "no match"
		t.Errorf("fixture: only %d filters select something", nonEmpty)
	}
}

// testSCSPRequest: the records of one SCSP request, each naming its
// IdPeticion and its own IdSolicitud, are found by the request's id, all of
// them and only them, page after page, each with both ids as written; a
// record without a request is found by no request id.
func testSCSPRequest(t *testing.T, s store.Store) {
	var recs, mine []store.Transfer
	for i := range 12 {
		r := full(200+i, base.Add(time.Duration(i%5)*time.Minute)) // times repeated
		r.SCSPRequestID = []string{"PONT-A", "PONT-B", "", "PONT-A0"}[i%4]
		r.SCSPSolicitudID = ""
		if r.SCSPRequestID != "" {
			r.SCSPSolicitudID = fmt.Sprintf("SOL-%02d", i)
		}
		if r.SCSPRequestID == "PONT-A" {
			mine = append(mine, r)
		}
		recs = append(recs, r)
	}
	mustAppend(t, s, recs...)
	sortNewestFirst(mine)
	got := collect(t, s, store.Filter{SCSPRequestID: "PONT-A", Limit: 2})
	if !slices.Equal(ids(got), ids(mine)) {
		t.Fatalf("records of PONT-A\n got %v\nwant %v", ids(got), ids(mine))
	}
	for i, r := range got {
		checkEqual(t, "record of PONT-A", r, mine[i])
	}
	for _, other := range []string{"PONT-", "pont-a", "PONT-A ", "SOL-00"} {
		if p := search(t, s, store.Filter{SCSPRequestID: other}); len(p.Items) != 0 {
			t.Errorf("SCSPRequestID %q found %v, want none", other, ids(p.Items))
		}
	}
	if got := collect(t, s, store.Filter{}); len(got) != len(recs) {
		t.Errorf("no filter: %d records, want %d", len(got), len(recs))
	}
}

// maxLimit is the largest page the contract allows.
const maxLimit = store.MaxPageSize

func testTimeRange(t *testing.T, s store.Store) {
	t0 := time.Date(2026, 1, 31, 23, 59, 59, 999999000, time.UTC)
	recs := []store.Transfer{
		full(1, t0),
		full(2, t0.Add(time.Microsecond)), // the first microsecond of February
		full(3, t0.Add(2*time.Microsecond)),
		full(4, t0.Add(29*24*time.Hour)), // in March
	}
	mustAppend(t, s, recs...)
	tests := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"from is inclusive", recs[1].Time, time.Time{}, []string{id(4), id(3), id(2)}},
		{"to is exclusive", time.Time{}, recs[1].Time, []string{id(1)}},
		{"both", recs[1].Time, recs[3].Time, []string{id(3), id(2)}},
		{"empty range", recs[1].Time, recs[1].Time, []string{}},
		{"inverted range", recs[3].Time, recs[0].Time, []string{}},
		{"other zone", recs[1].Time.In(time.FixedZone("X", -5*3600)), recs[2].Time.In(time.FixedZone("Y", 9*3600)), []string{id(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(search(t, s, store.Filter{From: tt.from, To: tt.to}).Items)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}
}

func testOrder(t *testing.T, s store.Store) {
	// Inserted out of order, with equal times, across batches.
	mustAppend(t, s, full(5, base), full(9, base.Add(time.Second)), full(7, base))
	mustAppend(t, s, full(6, base), full(8, base.Add(-time.Second)), full(10, base.Add(time.Second)))
	got := ids(search(t, s, store.Filter{}).Items)
	exp := []string{id(10), id(9), id(7), id(6), id(5), id(8)}
	if !slices.Equal(got, exp) {
		t.Errorf("order = %v, want %v", got, exp)
	}

	// Ties break by the id's bytes, not by a locale's collation (which
	// would put "a" before "B" and skip the hyphens).
	later := base.Add(time.Hour)
	var odd []store.Transfer
	for _, id := range []string{"a-2", "B-1", "a2", "b", "a-10", "A"} {
		r := full(0, later)
		r.ID = id
		odd = append(odd, r)
	}
	mustAppend(t, s, odd...)
	got = ids(search(t, s, store.Filter{To: later.Add(time.Second), From: later}).Items)
	if exp := []string{"b", "a2", "a-2", "a-10", "B-1", "A"}; !slices.Equal(got, exp) {
		t.Errorf("order of equal times = %v, want %v", got, exp)
	}
}

func testPaging(t *testing.T, s store.Store) {
	var recs []store.Transfer
	for i := range 23 {
		recs = append(recs, full(i, base.Add(time.Duration(i/3)*time.Minute))) // groups of three equal times
	}
	// Alternate subjects so that a filtered walk skips records.
	for i := range recs {
		if i%2 == 1 {
			recs[i].SubjectID = "87654321X"
		}
	}
	mustAppend(t, s, recs...)
	tests := []struct {
		name  string
		f     store.Filter
		pages int
	}{
		{"several pages", store.Filter{Limit: 5}, 5},
		{"exact multiple has no empty last page", store.Filter{Limit: 23}, 1},
		{"one per page", store.Filter{Limit: 1}, 23},
		{"filtered", store.Filter{Limit: 4, Subject: "87654321X"}, 3},
		{"time range", store.Filter{Limit: 2, From: want(recs[4]).Time, To: want(recs[13]).Time}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			pages := 0
			var got []string
			for {
				p := search(t, s, f)
				pages++
				got = append(got, ids(p.Items)...)
				if p.Next == nil {
					break
				}
				f.After = p.Next
			}
			if exp := model(recs, tt.f); !slices.Equal(got, exp) {
				t.Errorf("walk\n got %v\nwant %v", got, exp)
			}
			if pages != tt.pages {
				t.Errorf("pages = %d, want %d", pages, tt.pages)
			}
			if all := collect(t, s, tt.f); len(all) != len(got) {
				t.Errorf("collect: %d items, want %d", len(all), len(got))
			}
		})
	}
	t.Run("cursor between records", func(t *testing.T) {
		// A cursor need not name a stored record: the page starts below it.
		c := &store.Cursor{Time: want(recs[10]).Time, ID: id(10) + "0"}
		got := ids(search(t, s, store.Filter{Limit: 2, After: c}).Items)
		if exp := []string{id(10), id(9)}; !slices.Equal(got, exp) {
			t.Errorf("ids = %v, want %v", got, exp)
		}
	})
}

func testLimits(t *testing.T, s store.Store) {
	const n = 1003
	recs := make([]store.Transfer, n)
	for i := range recs {
		recs[i] = full(i, base.Add(time.Duration(i)*time.Millisecond))
	}
	mustAppend(t, s, recs...)
	tests := []struct {
		limit, items int
		next         bool
	}{
		{0, 100, true},
		{-1, 100, true},
		{1, 1, true},
		{999, 999, true},
		{1000, 1000, true},
		{1001, 1000, true},
		{1 << 30, 1000, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("limit ", tt.limit), func(t *testing.T) {
			p := search(t, s, store.Filter{Limit: tt.limit})
			if len(p.Items) != tt.items || (p.Next != nil) != tt.next {
				t.Errorf("%d items, Next %v; want %d items, Next %v", len(p.Items), p.Next != nil, tt.items, tt.next)
			}
			if len(p.Items) > 0 && p.Items[0].ID != id(n-1) {
				t.Errorf("first item %s, want the newest %s", p.Items[0].ID, id(n-1))
			}
		})
	}
	t.Run("last page", func(t *testing.T) {
		p := search(t, s, store.Filter{Limit: 1000})
		p = search(t, s, store.Filter{Limit: 1000, After: p.Next})
		if len(p.Items) != 3 || p.Next != nil {
			t.Errorf("%d items, Next %v; want 3, nil", len(p.Items), p.Next)
		}
	})
}

func testBatchAtomicity(t *testing.T, s store.Store) {
	ctx := context.Background()
	check := func(what string, err error, absent ...int) {
		t.Helper()
		// A repeated id is the data's fault, not the store's: a writer may
		// retry the batch's other records.
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrRejected) {
			t.Errorf("%s: err = %v, want one wrapping ErrUnavailable and ErrRejected", what, err)
		}
		for _, n := range absent {
			if _, err := s.GetTransfer(ctx, id(n)); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: record %d of the failed batch: err = %v, want ErrNotFound", what, n, err)
			}
		}
	}
	// A record twice in one batch, after others.
	err := s.AppendTransfers(ctx, []store.Transfer{full(1, base), full(2, base), full(1, base)})
	check("duplicate inside the batch", err, 1, 2)
	if p := search(t, s, store.Filter{}); len(p.Items) != 0 {
		t.Fatalf("after a failed batch the store holds %v", ids(p.Items))
	}

	mustAppend(t, s, full(1, base))
	// A retry of a committed record, among new ones.
	err = s.AppendTransfers(ctx, []store.Transfer{full(3, base), full(1, base), full(4, base)})
	check("duplicate of a committed record", err, 3, 4)
	if got := ids(search(t, s, store.Filter{}).Items); !slices.Equal(got, []string{id(1)}) {
		t.Errorf("store holds %v, want only %s", got, id(1))
	}
	// The store still works after failed batches.
	mustAppend(t, s, full(3, base))
	if got := ids(search(t, s, store.Filter{}).Items); !slices.Equal(got, []string{id(3), id(1)}) {
		t.Errorf("store holds %v, want [%s %s]", got, id(3), id(1))
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.AppendTransfers(ctx, []store.Transfer{full(1, base)}); err == nil {
		t.Fatal("AppendTransfers with a canceled context: nil error")
	} else if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrRejected) {
		t.Errorf("AppendTransfers with a canceled context: err = %v, want one wrapping ErrUnavailable, not ErrRejected", err)
	}
	if _, err := s.GetTransfer(context.Background(), id(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record of the canceled append: err = %v, want ErrNotFound", err)
	}
}

func testConcurrentAppends(t *testing.T, s store.Store) {
	const writers, batches, size = 16, 10, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*batches)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				recs := make([]store.Transfer, size)
				for i := range recs {
					n := (w*batches+b)*size + i
					recs[i] = full(n, base.Add(time.Duration(n%7)*time.Second))
				}
				if err := s.AppendTransfers(context.Background(), recs); err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
				}
			}
		})
	}
	// Readers run beside the writers: reads must not fail while writes go on.
	done := make(chan struct{})
	var rwg sync.WaitGroup
	for range 2 {
		rwg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.SearchTransfers(context.Background(), store.Filter{Limit: 10}); err != nil {
					errs <- fmt.Errorf("concurrent search: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := collect(t, s, store.Filter{Limit: 150})
	if len(got) != writers*batches*size {
		t.Fatalf("%d records, want %d", len(got), writers*batches*size)
	}
	var exp []store.Transfer
	for n := range writers * batches * size {
		exp = append(exp, full(n, base.Add(time.Duration(n%7)*time.Second)))
	}
	if e := model(exp, store.Filter{}); !slices.Equal(ids(got), e) {
		t.Errorf("records or order differ from what was appended")
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testAfterClose(t *testing.T, s store.Store) {
	ctx := context.Background()
	mustAppend(t, s, full(1, base))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.AppendTransfers(ctx, []store.Transfer{full(2, base)}); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrRejected) {
		t.Errorf("AppendTransfers after Close: err = %v, want ErrUnavailable, not ErrRejected", err)
	}
	if _, err := s.GetTransfer(ctx, id(1)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetTransfer after Close: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.SearchTransfers(ctx, store.Filter{}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("SearchTransfers after Close: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.AdapterActivity(ctx, "padro-08019", base, base.Add(time.Hour)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("AdapterActivity after Close: err = %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping after Close: err = %v, want ErrUnavailable", err)
	}
	unavailable := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after Close: err = %v, want ErrUnavailable", what, err)
		}
	}
	unavailable("CreateConsent", s.CreateConsent(ctx, openConsent(1, alice, base)))
	_, err := s.GetConsent(ctx, id(1))
	unavailable("GetConsent", err)
	_, err = s.ListConsents(ctx, alice)
	unavailable("ListConsents", err)
	_, err = s.RevokeConsent(ctx, alice, id(1), base)
	unavailable("RevokeConsent", err)
	_, err = s.CreateObjection(ctx, objection(1, alice, "padro", "", base))
	unavailable("CreateObjection", err)
	_, err = s.ListObjections(ctx, alice)
	unavailable("ListObjections", err)
	unavailable("DeleteObjection", s.DeleteObjection(ctx, alice, id(1)))
	_, err = s.FindObjection(ctx, alice, "padro", "")
	unavailable("FindObjection", err)
	unavailable("PublishAdapter", s.PublishAdapter(ctx, adapterVersion("padro", "1", "", base)))
	_, err = s.ListAdapters(ctx)
	unavailable("ListAdapters", err)
	_, err = s.AdapterVersion(ctx, "padro", "1")
	unavailable("AdapterVersion", err)
	_, err = s.ActivateAdapter(ctx, store.Activation{Name: "padro", Version: "1", Kind: store.Activate, At: base})
	unavailable("ActivateAdapter", err)
	_, err = s.RollbackAdapter(ctx, "padro", "op", base)
	unavailable("RollbackAdapter", err)
	_, err = s.Activations(ctx, "padro")
	unavailable("Activations", err)
	_, err = s.ActiveAdapters(ctx)
	unavailable("ActiveAdapters", err)
	j, elements := job(1, "P0801900B", 1, base)
	_, err = s.CreateJob(ctx, j, elements)
	unavailable("CreateJob", err)
	_, err = s.GetJob(ctx, j.ID)
	unavailable("GetJob", err)
	_, err = s.JobElements(ctx, j.ID, 0, 0)
	unavailable("JobElements", err)
	unavailable("ClaimJobElement", s.ClaimJobElement(ctx, j.ID, 0, "attempt"))
	_, err = s.CompleteJobElement(ctx, done(elements[0], "", "ok"), elementRecord(elements[0], base))
	unavailable("CompleteJobElement", err)
	_, err = s.UnfinishedJobs(ctx)
	unavailable("UnfinishedJobs", err)
	unavailable("MarkJobNotified", s.MarkJobNotified(ctx, j.ID, base))
	_, err = s.DeleteExpiredJobResults(ctx, base, "node-1")
	unavailable("DeleteExpiredJobResults", err)
	_, err = s.JobByKey(ctx, j.Requester, j.IdempotencyKey)
	unavailable("JobByKey", err)
	_, err = s.JobPeticion(ctx, j.ID)
	unavailable("JobPeticion", err)
}
