package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// jobID is the id of job n, transferOf the transfer id of its element i.
func jobID(n int) string         { return fmt.Sprintf("%08d-0000-7000-9000-000000000000", n) }
func transferOf(n, i int) string { return fmt.Sprintf("%08d-%04x-7000-a000-%012d", n, i>>16, i&0xffff) }

// retention is the fixture's RetainFor: whole microseconds and then some,
// which the store drops.
const retention = 30*24*time.Hour + 1234*time.Microsecond + 567

// job returns job n of requester with total elements, every field set,
// each element's query its own.
func job(n int, requester string, total int, at time.Time) (store.Job, []store.JobElement) {
	j := store.Job{
		ID: jobID(n), Requester: requester, RequestedBy: "sistema-gestio-ajuts", Service: "padro",
		CallbackURL: "https://ajuntament.example/pont/callback?job=" + fmt.Sprint(n), Total: total,
		RequestSHA256:  sha256Hex(fmt.Appendf(nil, "request %d", n)),
		IdempotencyKey: fmt.Sprintf("lot-%d", n), RetainFor: retention, CreatedAt: at,
	}
	elements := make([]store.JobElement, total)
	for i := range elements {
		elements[i] = store.JobElement{JobID: j.ID, Index: i, TransferID: transferOf(n, i),
			Query: fmt.Appendf(nil, `{"service":"padro","procedure":"AJUT-MENJADOR","subject":{"type":"DNI","id":"%08dZ"}}`, i)}
	}
	return j, elements
}

// created is what CreateJob answers for j, and GetJob until an element is
// done: the time in UTC at microsecond precision, RetainFor at microsecond
// precision, nothing done, no counts.
func created(j store.Job) store.Job {
	j.CreatedAt = utc(j.CreatedAt)
	j.RetainFor = j.RetainFor.Truncate(time.Microsecond)
	j.Done, j.Counts = 0, map[string]int{}
	j.FinishedAt, j.ExpiresAt, j.DeletedAt, j.NotifiedAt = nil, nil, nil, nil
	return j
}

// pending is e as stored by CreateJob.
func pending(e store.JobElement) store.JobElement {
	return store.JobElement{JobID: e.JobID, Index: e.Index, TransferID: e.TransferID, Query: e.Query,
		SCSPSolicitudID: e.SCSPSolicitudID, State: store.ElementPending}
}

// checkJob compares a job the store answered with the expected one, its
// times in UTC at microsecond precision.
func checkJob(t *testing.T, what string, got, exp store.Job) {
	t.Helper()
	checkTime(t, what+": CreatedAt", got.CreatedAt, exp.CreatedAt)
	for _, p := range []struct {
		name     string
		got, exp *time.Time
	}{
		{"FinishedAt", got.FinishedAt, exp.FinishedAt}, {"ExpiresAt", got.ExpiresAt, exp.ExpiresAt},
		{"DeletedAt", got.DeletedAt, exp.DeletedAt}, {"NotifiedAt", got.NotifiedAt, exp.NotifiedAt},
	} {
		switch {
		case (p.got == nil) != (p.exp == nil):
			t.Errorf("%s: %s = %v, want %v", what, p.name, p.got, p.exp)
		case p.got != nil:
			checkTime(t, what+": "+p.name, *p.got, *p.exp)
		}
	}
	// A Peticion may weigh megabytes: compared on its own, and told by
	// its length.
	if (got.SCSPPeticion == nil) != (exp.SCSPPeticion == nil) || !bytes.Equal(got.SCSPPeticion, exp.SCSPPeticion) {
		t.Errorf("%s: SCSPPeticion of %d bytes (nil %v), want %d bytes (nil %v)", what,
			len(got.SCSPPeticion), got.SCSPPeticion == nil, len(exp.SCSPPeticion), exp.SCSPPeticion == nil)
	}
	got.CreatedAt, got.FinishedAt, got.ExpiresAt, got.DeletedAt, got.NotifiedAt = time.Time{}, nil, nil, nil, nil
	exp.CreatedAt, exp.FinishedAt, exp.ExpiresAt, exp.DeletedAt, exp.NotifiedAt = time.Time{}, nil, nil, nil, nil
	got.SCSPPeticion, exp.SCSPPeticion = nil, nil
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

func mustCreateJob(t *testing.T, s store.Store, j store.Job, elements []store.JobElement) store.Job {
	t.Helper()
	got, err := s.CreateJob(context.Background(), j, elements)
	if err != nil {
		t.Fatalf("CreateJob(%s of %d elements): %v", j.ID, len(elements), err)
	}
	return got
}

func getJob(t *testing.T, s store.Store, id string) store.Job {
	t.Helper()
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetJob(%s): %v", id, err)
	}
	return j
}

func jobElements(t *testing.T, s store.Store, job string, from, limit int) []store.JobElement {
	t.Helper()
	es, err := s.JobElements(context.Background(), job, from, limit)
	if err != nil {
		t.Fatalf("JobElements(%s, %d, %d): %v", job, from, limit, err)
	}
	return es
}

// elementRecord answers the transfer record of element e, at at: a full
// record whose id and job are the element's.
func elementRecord(e store.JobElement, at time.Time) store.Transfer {
	r := full(0, at)
	r.ID, r.JobID, r.Salt, r.PersonalSHA256 = e.TransferID, e.JobID, nil, ""
	return r
}

// done is e as completed with outcome: status, SCSP code and result of
// their own.
func done(e store.JobElement, claim, outcome string) store.JobElement {
	e.Claim, e.Outcome = claim, outcome
	e.HTTPStatus, e.SCSPCode = 200, "0003"
	if outcome != "ok" {
		e.HTTPStatus, e.SCSPCode = 404, "0233"
	}
	e.Result = fmt.Appendf(nil, `{"element":%d,"outcome":%q}`, e.Index, outcome)
	return e
}

// complete completes e (as done made it) with its record, failing on an
// error, and answers whether it finished the job.
func complete(t *testing.T, s store.Store, e store.JobElement) bool {
	t.Helper()
	finished, err := s.CompleteJobElement(context.Background(), e, elementRecord(e, base))
	if err != nil {
		t.Fatalf("CompleteJobElement(%s, %d): %v", e.JobID, e.Index, err)
	}
	return finished
}

// stored is e as JobElements answers it once done.
func stored(e store.JobElement) store.JobElement {
	e.State = store.ElementDone
	if e.Result == nil {
		e.Result = []byte{}
	}
	return e
}

// testCreateJob: a job and its elements come back as given, the
// elements pending whatever they said, read by index ranges; a job the
// store cannot keep as given is refused, naming what, and nothing is
// stored.
func testCreateJob(t *testing.T, s store.Store) {
	ctx := context.Background()
	j, elements := job(1, "P0801900B", 6, base)
	// What a caller says of an element's state is not what the store
	// keeps: it stores every element pending.
	given := slices.Clone(elements)
	given[1].State, given[1].Claim = store.ElementDone, "someone"
	given[2].Outcome, given[2].Result, given[2].JobID = "ok", []byte("{}"), ""
	got := mustCreateJob(t, s, j, given)
	checkJob(t, "CreateJob", got, created(j))
	checkJob(t, "GetJob", getJob(t, s, j.ID), created(j))
	if c := getJob(t, s, j.ID).Counts; c == nil {
		t.Error("GetJob of a job with nothing done: Counts nil, want an empty map")
	}
	all := make([]store.JobElement, len(elements))
	for i, e := range elements {
		all[i] = pending(e)
	}
	for _, c := range []struct {
		name        string
		from, limit int
		want        []store.JobElement
	}{
		{"all", 0, 0, all},
		{"all, negative limit", 0, -1, all},
		{"a range", 2, 3, all[2:5]},
		{"past the end", 4, 10, all[4:]},
		{"from the end", 6, 1, []store.JobElement{}},
		{"negative from", -3, 2, all[:2]},
		{"one", 5, 1, all[5:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := jobElements(t, s, j.ID, c.from, c.limit); !reflect.DeepEqual(got, c.want) {
				t.Errorf("JobElements(%d, %d):\n got %+v\nwant %+v", c.from, c.limit, got, c.want)
			}
		})
	}
	if got := jobElements(t, s, jobID(99), 0, 0); got == nil || len(got) != 0 {
		t.Errorf("JobElements of an unknown job = %#v, want an empty slice", got)
	}
	if _, err := s.GetJob(ctx, jobID(99)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetJob of an unknown job: %v, want ErrNotFound", err)
	}

	t.Run("refused", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			change func(j *store.Job, es *[]store.JobElement)
		}{
			{"no id", func(j *store.Job, _ *[]store.JobElement) { j.ID = "" }},
			{"no requester", func(j *store.Job, _ *[]store.JobElement) { j.Requester = "" }},
			{"no creation time", func(j *store.Job, _ *[]store.JobElement) { j.CreatedAt = time.Time{} }},
			{"negative retention", func(j *store.Job, _ *[]store.JobElement) { j.RetainFor = -time.Second }},
			{"no element", func(j *store.Job, es *[]store.JobElement) { j.Total, *es = 0, nil }},
			{"fewer elements than the total", func(j *store.Job, _ *[]store.JobElement) { j.Total++ }},
			{"an element out of place", func(_ *store.Job, es *[]store.JobElement) { (*es)[1].Index = 2 }},
			{"an element of another job", func(_ *store.Job, es *[]store.JobElement) { (*es)[0].JobID = jobID(3) }},
			{"an element without a transfer id", func(_ *store.Job, es *[]store.JobElement) { (*es)[2].TransferID = "" }},
			{"two elements with one transfer id", func(_ *store.Job, es *[]store.JobElement) {
				(*es)[2].TransferID = (*es)[0].TransferID
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				j, elements := job(2, "P0801900B", 3, base)
				c.change(&j, &elements)
				_, err := s.CreateJob(ctx, j, elements)
				if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrExists) {
					t.Fatalf("CreateJob: %v, want a refusal", err)
				}
				t.Log(err)
				if j.ID != "" {
					if _, err := s.GetJob(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
						t.Errorf("GetJob of the refused job: %v, want ErrNotFound", err)
					}
				}
			})
		}
	})
	t.Run("repeated id", func(t *testing.T) {
		again, elements := job(1, "S0811001G", 2, base)
		for i := range elements {
			elements[i].TransferID = transferOf(7, i)
		}
		_, err := s.CreateJob(ctx, again, elements)
		if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrRejected) {
			t.Errorf("CreateJob of a stored id: %v, want ErrRejected and ErrUnavailable", err)
		}
		checkJob(t, "the first job", getJob(t, s, j.ID), created(j))
	})
}

// testJobIdempotency: a requester's key names one job: created again
// with it, even from many callers at once, the first job is answered
// (as GetJob answers it) with ErrExists and nothing new is stored; another
// requester's same key, and jobs without a key, are jobs of their own.
func testJobIdempotency(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, elements := job(1, "P0801900B", 3, base)
	first.IdempotencyKey = "lot-2026-03"
	mustCreateJob(t, s, first, elements)
	complete(t, s, done(elements[0], "", "ok"))
	want := getJob(t, s, first.ID)

	again, elements2 := job(2, first.Requester, 5, base.Add(time.Hour))
	again.IdempotencyKey = first.IdempotencyKey
	got, err := s.CreateJob(ctx, again, elements2)
	if !errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CreateJob with a used key: %v, want ErrExists", err)
	}
	checkJob(t, "the job of the key", got, want)
	if _, err := s.GetJob(ctx, again.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetJob of the job not created: %v, want ErrNotFound", err)
	}
	if es := jobElements(t, s, again.ID, 0, 0); len(es) != 0 {
		t.Errorf("the job not created has %d elements", len(es))
	}
	if _, err := s.GetTransfer(ctx, elements2[0].TransferID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a record of the job not created: %v", err)
	}

	other, elements3 := job(3, "S0811001G", 2, base)
	other.IdempotencyKey = first.IdempotencyKey
	checkJob(t, "another requester's job with the key", mustCreateJob(t, s, other, elements3), created(other))
	for n := 4; n <= 5; n++ {
		j, es := job(n, first.Requester, 1, base)
		j.IdempotencyKey = ""
		checkJob(t, "a job without a key", mustCreateJob(t, s, j, es), created(j))
	}

	t.Run("concurrent", func(t *testing.T) {
		const callers = 8
		answers := make([]store.Job, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := range callers {
			wg.Go(func() {
				j, es := job(100+c, "L01080193", 50, base)
				j.IdempotencyKey = "the same key"
				<-start
				answers[c], errs[c] = s.CreateJob(ctx, j, es)
			})
		}
		close(start)
		wg.Wait()
		winner := ""
		for c, err := range errs {
			if err == nil {
				if winner != "" {
					t.Errorf("jobs %s and %s both created with one key", winner, answers[c].ID)
				}
				winner = answers[c].ID
			} else if !errors.Is(err, store.ErrExists) {
				t.Errorf("caller %d: %v, want nil or ErrExists", c, err)
			}
		}
		if winner == "" {
			t.Fatal("no caller created the job")
		}
		for c, err := range errs {
			if err != nil && answers[c].ID != winner {
				t.Errorf("caller %d was answered job %q, want %s", c, answers[c].ID, winner)
			}
		}
		if es := jobElements(t, s, winner, 0, 0); len(es) != 50 {
			t.Errorf("the job created has %d elements, want 50", len(es))
		}
	})
}

// testClaimJobElement: a pending element is claimed once; a claimed or
// missing one is not.
func testClaimJobElement(t *testing.T, s store.Store) {
	ctx := context.Background()
	j, elements := job(1, "P0801900B", 2, base)
	mustCreateJob(t, s, j, elements)
	if err := s.ClaimJobElement(ctx, j.ID, 0, "attempt-a"); err != nil {
		t.Fatalf("ClaimJobElement: %v", err)
	}
	for _, c := range []struct {
		name  string
		job   string
		index int
		claim string
		want  error // nil: refused, not taken nor missing
	}{
		{"claimed by another", j.ID, 0, "attempt-b", store.ErrTaken},
		{"claimed again by the same", j.ID, 0, "attempt-a", store.ErrTaken},
		{"no such index", j.ID, 2, "attempt-b", store.ErrNotFound},
		{"negative index", j.ID, -1, "attempt-b", store.ErrNotFound},
		{"no such job", jobID(9), 0, "attempt-b", store.ErrNotFound},
		{"a job id the store cannot hold", "\x00\xff", 0, "attempt-b", store.ErrNotFound},
		{"no claim", j.ID, 1, "", nil},
		{"a claim the store cannot hold", j.ID, 1, "attempt\x00", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := s.ClaimJobElement(ctx, c.job, c.index, c.claim)
			switch {
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("ClaimJobElement: %v, want %v", err, c.want)
			case c.want == nil && (err == nil || errors.Is(err, store.ErrTaken) || errors.Is(err, store.ErrUnavailable)):
				t.Errorf("ClaimJobElement: %v, want a refusal", err)
			}
		})
	}
	claimed := pending(elements[0])
	claimed.State, claimed.Claim = store.ElementClaimed, "attempt-a"
	want := []store.JobElement{claimed, pending(elements[1])}
	if got := jobElements(t, s, j.ID, 0, 0); !reflect.DeepEqual(got, want) {
		t.Errorf("elements:\n got %+v\nwant %+v", got, want)
	}
}

// testCompleteJobElement: an element pending or claimed by the caller is
// completed once, with its record, in one transaction; otherwise nothing
// is written. The last completion finishes the job.
func testCompleteJobElement(t *testing.T, s store.Store) {
	ctx := context.Background()
	j, elements := job(1, "P0801900B", 5, base)
	mustCreateJob(t, s, j, elements)
	claim := func(i int, by string) {
		t.Helper()
		if err := s.ClaimJobElement(ctx, j.ID, i, by); err != nil {
			t.Fatalf("ClaimJobElement(%d): %v", i, err)
		}
	}
	records := 0
	countRecords := func(what string) {
		t.Helper()
		if got := collect(t, s, store.Filter{Limit: maxLimit}); len(got) != records {
			t.Errorf("%s: %d records, want %d", what, len(got), records)
		}
	}
	// refused checks that completing e with rec is refused (with want;
	// with no error of the contract's when want is nil) and writes no
	// record.
	refused := func(what string, e store.JobElement, rec store.Transfer, want error) {
		t.Helper()
		finished, err := s.CompleteJobElement(ctx, e, rec)
		switch {
		case finished:
			t.Errorf("%s: finished the job", what)
		case want != nil && !errors.Is(err, want):
			t.Errorf("%s: %v, want %v", what, err, want)
		case want == nil && (err == nil || errors.Is(err, store.ErrTaken) || errors.Is(err, store.ErrUnavailable)):
			t.Errorf("%s: %v, want a refusal", what, err)
		}
		countRecords(what)
	}

	// Element 0 was never claimed: an attempt that stopped before its
	// call left it pending, and the next one completes it unclaimed.
	e0 := done(elements[0], "", "ok")
	if complete(t, s, e0) {
		t.Error("the first completion finished the job")
	}
	records++
	countRecords("pending element completed")
	got, err := s.GetTransfer(ctx, e0.TransferID)
	if err != nil {
		t.Fatalf("the element's record: %v", err)
	}
	checkEqual(t, "the element's record", got, elementRecord(e0, base))
	if p := search(t, s, store.Filter{Subject: got.SubjectID}); len(p.Items) != 1 || p.Items[0].JobID != j.ID {
		t.Errorf("search: %+v, want the element's record with its job", p.Items)
	}
	refused("completed twice", e0, elementRecord(e0, base), store.ErrTaken)

	claim(1, "attempt-a")
	e1 := done(elements[1], "attempt-a", "not_found")
	wrong := e1
	wrong.Claim = "attempt-b"
	refused("completed with another's claim", wrong, elementRecord(wrong, base), store.ErrTaken)
	wrong.Claim = ""
	refused("completed unclaimed once claimed", wrong, elementRecord(wrong, base), store.ErrTaken)
	if _, err := s.GetTransfer(ctx, e1.TransferID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the record of a refused completion: %v, want ErrNotFound", err)
	}
	// The caller may leave the record's id and job to the store.
	rec := elementRecord(e1, base)
	rec.ID, rec.JobID = "", ""
	if finished, err := s.CompleteJobElement(ctx, e1, rec); err != nil || finished {
		t.Fatalf("CompleteJobElement with the claim: %v, %v", finished, err)
	}
	records++
	got, err = s.GetTransfer(ctx, e1.TransferID)
	if err != nil {
		t.Fatalf("the record of element 1: %v", err)
	}
	checkEqual(t, "the record given without id and job", got, elementRecord(e1, base))
	refused("completed twice with the claim", e1, elementRecord(e1, base), store.ErrTaken)

	e2 := done(elements[2], "attempt-c", "ok")
	claim(2, "attempt-c")
	other := elementRecord(e2, base)
	other.ID = elements[3].TransferID
	refused("with another element's record", e2, other, nil)
	other = elementRecord(e2, base)
	other.JobID = jobID(9)
	refused("with a record of another job", e2, other, nil)
	missing := done(elements[2], "", "ok")
	missing.Index = 7
	refused("no such element", missing, store.Transfer{Time: base}, store.ErrNotFound)
	missing = done(elements[2], "", "ok")
	missing.JobID = jobID(9)
	refused("no such job", missing, store.Transfer{Time: base}, store.ErrNotFound)
	noOutcome := e2
	noOutcome.Outcome = ""
	refused("without an outcome", noOutcome, elementRecord(e2, base), nil)
	bad := e2
	bad.Outcome = "ok\x00"
	refused("an outcome the store cannot hold", bad, elementRecord(e2, base), nil)
	if complete(t, s, e2) {
		t.Error("the third completion of five finished the job")
	}
	records++

	before := time.Now().Add(-time.Second)
	e3 := done(elements[3], "", "ok")
	e4 := done(elements[4], "", "ok")
	e4.Result = nil // kept as an empty result, not as none
	if complete(t, s, e3) {
		t.Error("the fourth completion of five finished the job")
	}
	if !complete(t, s, e4) {
		t.Error("the last completion did not finish the job")
	}
	records += 2
	after := time.Now().Add(time.Second)
	countRecords("every element completed")

	got2 := getJob(t, s, j.ID)
	if got2.FinishedAt == nil || got2.ExpiresAt == nil {
		t.Fatalf("finished job: FinishedAt %v, ExpiresAt %v", got2.FinishedAt, got2.ExpiresAt)
	}
	if got2.FinishedAt.Before(before) || got2.FinishedAt.After(after) {
		t.Errorf("FinishedAt %v, want the time of the last completion (%v to %v)", got2.FinishedAt, before, after)
	}
	want := created(j)
	want.Done, want.Counts = 5, map[string]int{"ok": 4, "not_found": 1}
	want.FinishedAt = got2.FinishedAt
	want.ExpiresAt = ptr(got2.FinishedAt.Add(want.RetainFor))
	checkJob(t, "finished job", got2, want)
	if !got2.Finished() {
		t.Error("Finished() of a finished job is false")
	}
	wantElements := []store.JobElement{stored(e0), stored(e1), stored(e2), stored(e3), stored(e4)}
	if got := jobElements(t, s, j.ID, 0, 0); !reflect.DeepEqual(got, wantElements) {
		t.Errorf("elements:\n got %+v\nwant %+v", got, wantElements)
	}
	refused("completed after the job finished", e4, elementRecord(e4, base), store.ErrTaken)
	if got := getJob(t, s, j.ID); got.Done != 5 {
		t.Errorf("Done after a refused completion: %d", got.Done)
	}

	// A record the database refuses (its id is taken) leaves the element
	// as it was, and the store says so as AppendTransfers would.
	j2, elements2 := job(2, "P0801900B", 1, base)
	mustCreateJob(t, s, j2, elements2)
	e := done(elements2[0], "", "ok")
	mustAppend(t, s, elementRecord(e, base))
	records++
	finished, err := s.CompleteJobElement(ctx, e, elementRecord(e, base))
	if finished || !errors.Is(err, store.ErrRejected) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("completion whose record the database refuses: %v, %v; want ErrRejected and ErrUnavailable", finished, err)
	}
	if es := jobElements(t, s, j2.ID, 0, 0); len(es) != 1 || !reflect.DeepEqual(es[0], pending(elements2[0])) {
		t.Errorf("element after the refused record: %+v, want it pending still", es)
	}
	if got := getJob(t, s, j2.ID); got.Done != 0 || got.Finished() {
		t.Errorf("job after the refused record: Done %d, finished %v; want 0, not finished", got.Done, got.Finished())
	}
	countRecords("after the refused record")
}

// testConcurrentCompletions: eight attempts race over every element of a
// job, half claiming first, half completing pending elements: each
// element is completed once, with one record, and exactly one completion
// finishes the job.
func testConcurrentCompletions(t *testing.T, s store.Store) {
	ctx := context.Background()
	const total, attempts = 200, 8
	j, elements := job(1, "P0801900B", total, base)
	mustCreateJob(t, s, j, elements)
	var mu sync.Mutex
	completed, finished := 0, 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for a := range attempts {
		wg.Go(func() {
			<-start
			claim := ""
			if a%2 == 0 {
				claim = fmt.Sprintf("attempt-%d", a)
			}
			for k := range total {
				e := elements[(k+a*total/attempts)%total]
				if claim != "" {
					if err := s.ClaimJobElement(ctx, j.ID, e.Index, claim); errors.Is(err, store.ErrTaken) {
						continue
					} else if err != nil {
						t.Errorf("attempt %d: ClaimJobElement(%d): %v", a, e.Index, err)
						return
					}
				}
				outcome := []string{"ok", "not_found", "ok", "source_unavailable"}[e.Index%4]
				d := done(e, claim, outcome)
				fin, err := s.CompleteJobElement(ctx, d, elementRecord(d, base.Add(time.Duration(e.Index)*time.Millisecond)))
				if errors.Is(err, store.ErrTaken) && claim == "" {
					continue
				}
				if err != nil {
					t.Errorf("attempt %d: CompleteJobElement(%d): %v", a, e.Index, err)
					return
				}
				mu.Lock()
				completed++
				if fin {
					finished++
				}
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if completed != total || finished != 1 {
		t.Errorf("%d completions, %d finishing the job; want %d and 1", completed, finished, total)
	}
	got := getJob(t, s, j.ID)
	if got.Done != total || !got.Finished() {
		t.Errorf("job: Done %d, finished %v", got.Done, got.Finished())
	}
	if want := map[string]int{"ok": 100, "not_found": 50, "source_unavailable": 50}; !maps.Equal(got.Counts, want) {
		t.Errorf("Counts %v, want %v", got.Counts, want)
	}
	if recs := collect(t, s, store.Filter{Limit: maxLimit}); len(recs) != total {
		t.Errorf("%d records, want %d", len(recs), total)
	}
	for _, e := range jobElements(t, s, j.ID, 0, 0) {
		if e.State != store.ElementDone {
			t.Errorf("element %d is %s", e.Index, e.State)
		}
	}
}

// testUnfinishedJobs: the jobs not finished, and the finished ones whose
// callback is not delivered, oldest first; a delivered callback takes its
// job out, and is recorded once.
func testUnfinishedJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	finish := func(es []store.JobElement) {
		for _, e := range es {
			complete(t, s, done(e, "", "ok"))
		}
	}
	// Created out of their time order.
	running, runningEls := job(1, "P0801900B", 2, base.Add(3*time.Hour))
	toNotify, toNotifyEls := job(2, "P0801900B", 2, base.Add(time.Hour))
	quiet, quietEls := job(3, "P0801900B", 1, base)
	quiet.CallbackURL = ""
	notified, notifiedEls := job(4, "P0801900B", 1, base.Add(2*time.Hour))
	idle, idleEls := job(5, "S0811001G", 1, base.Add(-time.Hour))
	idle.CallbackURL = ""
	for _, c := range []struct {
		j  store.Job
		es []store.JobElement
	}{{running, runningEls}, {toNotify, toNotifyEls}, {quiet, quietEls}, {notified, notifiedEls}, {idle, idleEls}} {
		mustCreateJob(t, s, c.j, c.es)
	}
	complete(t, s, done(runningEls[0], "", "ok"))
	finish(toNotifyEls)
	finish(quietEls)
	finish(notifiedEls)
	at := base.Add(5 * time.Hour)
	if err := s.MarkJobNotified(ctx, notified.ID, at); err != nil {
		t.Fatalf("MarkJobNotified: %v", err)
	}
	unfinished := func() []string {
		t.Helper()
		js, err := s.UnfinishedJobs(ctx)
		if err != nil {
			t.Fatalf("UnfinishedJobs: %v", err)
		}
		var ids []string
		for _, j := range js {
			ids = append(ids, j.ID)
			if j.ID == running.ID && (j.Done != 1 || j.Finished()) {
				t.Errorf("running job: Done %d, finished %v", j.Done, j.Finished())
			}
			if j.ID == toNotify.ID && (j.Done != 2 || !j.Finished() || j.ExpiresAt == nil) {
				t.Errorf("finished job to notify: Done %d, FinishedAt %v, ExpiresAt %v", j.Done, j.FinishedAt, j.ExpiresAt)
			}
		}
		return ids
	}
	if got, want := unfinished(), []string{idle.ID, toNotify.ID, running.ID}; !slices.Equal(got, want) {
		t.Errorf("UnfinishedJobs = %v, want %v", got, want)
	}
	if err := s.MarkJobNotified(ctx, toNotify.ID, at); err != nil {
		t.Fatalf("MarkJobNotified: %v", err)
	}
	if err := s.MarkJobNotified(ctx, toNotify.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("MarkJobNotified again: %v", err)
	}
	if got := getJob(t, s, toNotify.ID).NotifiedAt; got == nil {
		t.Error("NotifiedAt not set")
	} else {
		checkTime(t, "NotifiedAt, marked twice", *got, at)
	}
	if got, want := unfinished(), []string{idle.ID, running.ID}; !slices.Equal(got, want) {
		t.Errorf("UnfinishedJobs after the callback = %v, want %v", got, want)
	}
	for _, missing := range []string{jobID(9), "\x00"} {
		if err := s.MarkJobNotified(ctx, missing, at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("MarkJobNotified(%q): %v, want ErrNotFound", missing, err)
		}
	}
}

// testDeleteExpiredJobResults: the results of the jobs whose retention
// ended, and theirs only, are deleted once, each deletion recorded by an
// event that the log seals and reads back as written.
func testDeleteExpiredJobResults(t *testing.T, s store.Store) {
	ctx := context.Background()
	short, shortEls := job(1, "P0801900B", 3, base)
	short.RetainFor = 0
	long, longEls := job(2, "S0811001G", 2, base)
	long.RetainFor = time.Hour
	running, runningEls := job(3, "P0801900B", 2, base)
	running.RetainFor = 0
	for _, c := range []struct {
		j  store.Job
		es []store.JobElement
	}{{short, shortEls}, {long, longEls}, {running, runningEls}} {
		mustCreateJob(t, s, c.j, c.es)
	}
	var completed []store.JobElement
	for _, e := range append(append(slices.Clone(shortEls), longEls...), runningEls[0]) {
		d := done(e, "", "ok")
		complete(t, s, d)
		completed = append(completed, d)
	}
	expires := *getJob(t, s, short.ID).ExpiresAt
	deleteAt := func(now time.Time, want int) {
		t.Helper()
		n, err := s.DeleteExpiredJobResults(ctx, now, "node-2")
		if err != nil || n != want {
			t.Fatalf("DeleteExpiredJobResults(%v): %d, %v; want %d", now, n, err, want)
		}
	}
	deleteAt(expires, 0) // expired only after ExpiresAt
	now := expires.Add(time.Microsecond)
	deleteAt(now, 1)
	deleteAt(now, 0)
	deleteAt(now.Add(time.Minute), 0)

	check := func(j store.Job, deletedAt *time.Time) {
		t.Helper()
		got := getJob(t, s, j.ID)
		if (got.DeletedAt == nil) != (deletedAt == nil) || (deletedAt != nil && !got.DeletedAt.Equal(*deletedAt)) {
			t.Errorf("job %s: DeletedAt %v, want %v", j.ID, got.DeletedAt, deletedAt)
		}
		for _, e := range jobElements(t, s, j.ID, 0, 0) {
			if e.State == store.ElementDone && (e.Result == nil) != (deletedAt != nil) {
				t.Errorf("job %s element %d: result %q, deleted %v", j.ID, e.Index, e.Result, deletedAt != nil)
			}
			if e.State == store.ElementDone && e.Outcome != "ok" {
				t.Errorf("job %s element %d: outcome %q after the deletion", j.ID, e.Index, e.Outcome)
			}
		}
	}
	check(short, &now)
	check(long, nil)
	check(running, nil)
	later := now.Add(2 * time.Hour)
	deleteAt(later, 1)
	check(long, ptr(utc(later)))
	check(running, nil)

	// The element's records stay: only the results go.
	for _, e := range completed {
		if _, err := s.GetTransfer(ctx, e.TransferID); err != nil {
			t.Errorf("record of element %d of %s after the deletion: %v", e.Index, e.JobID, err)
		}
	}
	x := Acquire(t, s)
	leaves := sealUntil(t, x, &Tree{}, 1000, len(completed)+2)
	var events []store.Event
	for _, l := range leaves {
		if l.Event != nil {
			events = append(events, *l.Event)
		}
	}
	deleted := func(j store.Job, at time.Time) store.Event {
		return store.Event{ID: j.ID + ":" + store.EventJobResultsDeleted, Time: at, Node: "node-2",
			Kind: store.EventJobResultsDeleted, Ref: j.ID, Requester: j.Requester, Service: j.Service, Count: int64(j.Total)}
	}
	if len(events) != 2 {
		t.Fatalf("%d events sealed (%v), want 2", len(events), leafIDs(leaves))
	}
	checkEvent(t, "the short job's deletion", events[0], deleted(short, now))
	checkEvent(t, "the long job's deletion", events[1], deleted(long, later))
	distinctSalts(t, leaves)
	if got := sealedLeaves(t, s, 0, int64(len(leaves))); !reflect.DeepEqual(got, leaves) {
		t.Errorf("Leaves answers other records than Unsealed:\n got %+v\nwant %+v", got, leaves)
	}
}

// testJobBytes: a query and a result are bytes, kept byte for byte
// whatever they hold; a job's texts are refused, naming the field, when
// the store could not keep them as given, and lookups with such text find
// nothing.
func testJobBytes(t *testing.T, s store.Store) {
	ctx := context.Background()
	j, elements := job(1, "P0801900B", 3, base)
	odd := []byte("{\"id\":\"\x00\xff\xfe\xed\xa0\x80\\x00\"}\x00")
	elements[0].Query = odd
	elements[1].Query = nil
	mustCreateJob(t, s, j, elements)
	e := done(elements[0], "", "ok")
	e.Result = append([]byte("\xff\x00"), odd...)
	complete(t, s, e)
	got := jobElements(t, s, j.ID, 0, 2)
	if len(got) != 2 || string(got[0].Query) != string(odd) || string(got[0].Result) != string(e.Result) {
		t.Errorf("element 0: query %q, result %q; want %q, %q", got[0].Query, got[0].Result, odd, e.Result)
	}
	if got[1].Query != nil {
		t.Errorf("element 1 given no query: %q", got[1].Query)
	}

	for _, c := range []struct {
		name   string
		change func(j *store.Job)
	}{
		{"NUL in the idempotency key", func(j *store.Job) { j.IdempotencyKey = "lot\x00" }},
		{"invalid UTF-8 in the idempotency key", func(j *store.Job) { j.IdempotencyKey = "lot\xff" }},
		{"NUL in the callback", func(j *store.Job) { j.CallbackURL = "https://x.example/\x00" }},
		{"invalid UTF-8 in the callback", func(j *store.Job) { j.CallbackURL = "https://x.example/\xed\xa0\x80" }},
		{"invalid UTF-8 in the requester", func(j *store.Job) { j.Requester = "P08\xc3" }},
		{"NUL in the id", func(j *store.Job) { j.ID = "job\x00" }},
		{"a key too long to index", func(j *store.Job) { j.IdempotencyKey = strings.Repeat("k", store.MaxText+1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, elements := job(2, "P0801900B", 1, base)
			c.change(&j)
			_, err := s.CreateJob(ctx, j, elements)
			if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrExists) {
				t.Fatalf("CreateJob: %v, want a refusal", err)
			}
			t.Log(err)
			if _, err := s.GetJob(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetJob of the refused job: %v, want ErrNotFound", err)
			}
		})
	}
	for _, v := range []string{"\x00", "a\xff", "\xed\xa0\x80"} {
		if _, err := s.GetJob(ctx, v); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob(%q): %v, want ErrNotFound", v, err)
		}
		if es, err := s.JobElements(ctx, v, 0, 0); err != nil || len(es) != 0 {
			t.Errorf("JobElements(%q): %v, %v; want none", v, es, err)
		}
	}
}

// testLargeJobs: jobs of a thousand and ten thousand elements are created
// in one go, quickly, and read back by ranges.
func testLargeJobs(t *testing.T, s store.Store) {
	for n, total := range []int{1000, 10000} {
		j, elements := job(n+1, "P0801900B", total, base)
		start := time.Now()
		mustCreateJob(t, s, j, elements)
		t.Logf("CreateJob of %d elements: %v", total, time.Since(start))
		if got := getJob(t, s, j.ID); got.Total != total {
			t.Errorf("Total %d, want %d", got.Total, total)
		}
		tail := jobElements(t, s, j.ID, total-10, 0)
		if len(tail) != 10 || tail[9].Index != total-1 || tail[9].TransferID != elements[total-1].TransferID ||
			string(tail[9].Query) != string(elements[total-1].Query) {
			t.Errorf("the last ten elements: %d, last %+v", len(tail), tail[len(tail)-1])
		}
		if all := jobElements(t, s, j.ID, 0, 0); len(all) != total {
			t.Errorf("%d elements, want %d", len(all), total)
		}
	}
}

// scspJob returns job n of requester with total elements as the SCSP door
// creates it: the Peticion's IdPeticion (26 characters) and Body (some
// megabytes, with bytes no text holds), each element's IdSolicitud (40
// characters).
func scspJob(n int, requester string, total int, at time.Time) (store.Job, []store.JobElement) {
	j, elements := job(n, requester, total, at)
	j.SCSPRequestID = fmt.Sprintf("PETICION-%017d", n)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<soapenv:Body xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><Peticion><Atributos><IdPeticion>%s</IdPeticion></Atributos><Solicitudes>`, j.SCSPRequestID)
	for i := range elements {
		elements[i].SCSPSolicitudID = fmt.Sprintf("%s-SOLICITUD-%04d", j.SCSPRequestID, i)
		fmt.Fprintf(&b, "<SolicitudTransmision><Transmision><IdSolicitud>%s</IdSolicitud></Transmision><Titular>%08dZ \u00d1\x00</Titular></SolicitudTransmision>",
			elements[i].SCSPSolicitudID, i)
	}
	for b.Len() < 3<<20 {
		fmt.Fprintf(&b, "<!-- %d \x00\xff\xfe -->", b.Len())
	}
	b.WriteString("</Solicitudes></Peticion></soapenv:Body>")
	j.SCSPPeticion = b.Bytes()
	return j, elements
}

func jobPeticion(t *testing.T, s store.Store, id string) []byte {
	t.Helper()
	b, err := s.JobPeticion(context.Background(), id)
	if err != nil {
		t.Fatalf("JobPeticion(%s): %v", id, err)
	}
	return b
}

// withoutPeticion is j as GetJob answers it: without its Peticion.
func withoutPeticion(j store.Job) store.Job {
	j.SCSPPeticion = nil
	return j
}

// testSCSPJobs: a job of the SCSP door keeps its IdPeticion, its Peticion
// and its elements' IdSolicitud as given; GetJob, JobByKey and
// UnfinishedJobs answer the IdPeticion but not the Peticion, which
// JobPeticion answers until the job's results are deleted; JobByKey finds
// a requester's job by its key, and nothing else; an SCSP id the store
// cannot keep as given is refused, and nothing is stored.
func testSCSPJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	j, elements := scspJob(1, "P0801900B", 3, base)
	j.RetainFor = 0
	checkJob(t, "CreateJob", mustCreateJob(t, s, j, elements), created(j))
	got := getJob(t, s, j.ID)
	if got.SCSPPeticion != nil {
		t.Errorf("GetJob answers the Peticion (%d bytes): it reads it for every chunk", len(got.SCSPPeticion))
	}
	if got.SCSPRequestID != j.SCSPRequestID {
		t.Errorf("GetJob: SCSPRequestID %q, want %q", got.SCSPRequestID, j.SCSPRequestID)
	}
	checkJob(t, "GetJob", got, withoutPeticion(created(j)))
	want := make([]store.JobElement, len(elements))
	for i, e := range elements {
		want[i] = pending(e)
	}
	es := jobElements(t, s, j.ID, 0, 0)
	if !reflect.DeepEqual(es, want) {
		t.Errorf("JobElements:\n got %+v\nwant %+v", es, want)
	}
	for i, e := range es {
		if e.SCSPSolicitudID != elements[i].SCSPSolicitudID {
			t.Errorf("element %d: SCSPSolicitudID %q, want %q", i, e.SCSPSolicitudID, elements[i].SCSPSolicitudID)
		}
	}
	if p := jobPeticion(t, s, j.ID); !bytes.Equal(p, j.SCSPPeticion) {
		t.Errorf("JobPeticion: %d bytes, want the %d given, byte for byte", len(p), len(j.SCSPPeticion))
	}

	// A job of the JSON door, and one given an empty Peticion, have none.
	plain, plainEls := job(2, "P0801900B", 1, base)
	plain.IdempotencyKey = ""
	checkJob(t, "CreateJob without SCSP", mustCreateJob(t, s, plain, plainEls), created(plain))
	checkJob(t, "GetJob without SCSP", getJob(t, s, plain.ID), created(plain))
	if p := jobPeticion(t, s, plain.ID); p != nil {
		t.Errorf("JobPeticion of a job without one: %q, want nil", p)
	}
	if es := jobElements(t, s, plain.ID, 0, 0); len(es) != 1 || es[0].SCSPSolicitudID != "" {
		t.Errorf("elements of a job without SCSP: %+v", es)
	}
	empty, emptyEls := scspJob(3, "P0801900B", 1, base)
	empty.SCSPPeticion = []byte{}
	mustCreateJob(t, s, empty, emptyEls)
	if p := jobPeticion(t, s, empty.ID); len(p) != 0 {
		t.Errorf("JobPeticion of a job given an empty one: %q", p)
	}
	for _, missing := range []string{jobID(99), "", "\x00", "a\xff"} {
		if p, err := s.JobPeticion(ctx, missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("JobPeticion(%q): %d bytes, %v; want ErrNotFound", missing, len(p), err)
		}
	}

	t.Run("JobByKey", func(t *testing.T) {
		complete(t, s, done(elements[0], "", "ok"))
		wantJob := getJob(t, s, j.ID)
		if wantJob.Done != 1 || wantJob.Counts["ok"] != 1 {
			t.Fatalf("GetJob after a completion: Done %d, Counts %v", wantJob.Done, wantJob.Counts)
		}
		byKey, err := s.JobByKey(ctx, j.Requester, j.IdempotencyKey)
		if err != nil {
			t.Fatalf("JobByKey(%s, %q): %v", j.Requester, j.IdempotencyKey, err)
		}
		checkJob(t, "JobByKey", byKey, wantJob)
		// Another requester's job with the same key is its own.
		other, otherEls := scspJob(4, "S0811001G", 1, base.Add(time.Hour))
		other.IdempotencyKey = j.IdempotencyKey
		mustCreateJob(t, s, other, otherEls)
		byKey, err = s.JobByKey(ctx, other.Requester, j.IdempotencyKey)
		if err != nil {
			t.Fatalf("JobByKey(%s, %q): %v", other.Requester, j.IdempotencyKey, err)
		}
		checkJob(t, "JobByKey of the other requester", byKey, withoutPeticion(created(other)))
		for _, c := range []struct{ name, requester, key string }{
			{"an unknown key", j.Requester, "lot-unknown"},
			{"another requester's key", "L01080193", j.IdempotencyKey},
			{"a key of another requester only", j.Requester, "lot-4-only"},
			{"an empty key, though jobs without a key exist", plain.Requester, ""},
			{"an empty key of no job", "L01080193", ""},
			{"a key with NUL", j.Requester, j.IdempotencyKey + "\x00"},
			{"a key of invalid UTF-8", j.Requester, "lot-\xff"},
			{"a requester of invalid UTF-8", "P08\xc3", j.IdempotencyKey},
		} {
			t.Run(c.name, func(t *testing.T) {
				if c.key == "lot-4-only" {
					o, oes := job(5, "S0811001G", 1, base)
					o.IdempotencyKey = c.key
					mustCreateJob(t, s, o, oes)
				}
				got, err := s.JobByKey(ctx, c.requester, c.key)
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("JobByKey(%q, %q): %s, %v; want ErrNotFound", c.requester, c.key, got.ID, err)
				}
			})
		}
	})

	t.Run("key repeated", func(t *testing.T) {
		// The Peticion of a request repeated with a used key is not
		// stored: the first job's stays.
		again, againEls := scspJob(6, j.Requester, 2, base.Add(time.Hour))
		again.IdempotencyKey = j.IdempotencyKey
		again.SCSPPeticion = []byte("<soapenv:Body>another</soapenv:Body>")
		got, err := s.CreateJob(ctx, again, againEls)
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("CreateJob with a used key: %v, want ErrExists", err)
		}
		checkJob(t, "the job of the key", got, getJob(t, s, j.ID))
		if p := jobPeticion(t, s, j.ID); !bytes.Equal(p, j.SCSPPeticion) {
			t.Errorf("JobPeticion after a repeated key: %d bytes, want the first job's %d", len(p), len(j.SCSPPeticion))
		}
		if _, err := s.JobPeticion(ctx, again.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("JobPeticion of the job not created: %v, want ErrNotFound", err)
		}
	})

	t.Run("UnfinishedJobs", func(t *testing.T) {
		js, err := s.UnfinishedJobs(ctx)
		if err != nil {
			t.Fatalf("UnfinishedJobs: %v", err)
		}
		found := false
		for _, u := range js {
			if u.SCSPPeticion != nil {
				t.Errorf("UnfinishedJobs answers the Peticion of %s (%d bytes)", u.ID, len(u.SCSPPeticion))
			}
			if u.ID == j.ID {
				found = true
				if u.SCSPRequestID != j.SCSPRequestID {
					t.Errorf("UnfinishedJobs: SCSPRequestID %q, want %q", u.SCSPRequestID, j.SCSPRequestID)
				}
			}
		}
		if !found {
			t.Errorf("UnfinishedJobs lacks %s", j.ID)
		}
	})

	t.Run("deleted with the results", func(t *testing.T) {
		kept, keptEls := scspJob(7, "P0801900B", 1, base)
		kept.RetainFor = time.Hour
		kept.IdempotencyKey = "lot-7"
		mustCreateJob(t, s, kept, keptEls)
		complete(t, s, done(keptEls[0], "", "ok"))
		for _, e := range elements[1:] {
			complete(t, s, done(e, "", "ok"))
		}
		now := getJob(t, s, j.ID).ExpiresAt.Add(time.Microsecond)
		if n, err := s.DeleteExpiredJobResults(ctx, now, "node-2"); err != nil || n != 1 {
			t.Fatalf("DeleteExpiredJobResults: %d, %v; want 1", n, err)
		}
		if p := jobPeticion(t, s, j.ID); p != nil {
			t.Errorf("JobPeticion after the results were deleted: %d bytes, want nil", len(p))
		}
		if p := jobPeticion(t, s, kept.ID); !bytes.Equal(p, kept.SCSPPeticion) {
			t.Errorf("JobPeticion of a job not expired: %d bytes, want %d", len(p), len(kept.SCSPPeticion))
		}
		// The ids name a request, not a person: they stay.
		after := getJob(t, s, j.ID)
		if after.DeletedAt == nil || after.SCSPRequestID != j.SCSPRequestID {
			t.Errorf("job after the deletion: DeletedAt %v, SCSPRequestID %q", after.DeletedAt, after.SCSPRequestID)
		}
		for i, e := range jobElements(t, s, j.ID, 0, 0) {
			if e.SCSPSolicitudID != elements[i].SCSPSolicitudID || e.Result != nil {
				t.Errorf("element %d after the deletion: SCSPSolicitudID %q, result %q", i, e.SCSPSolicitudID, e.Result)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for n, c := range []struct {
			name   string
			change func(j *store.Job, es []store.JobElement)
		}{
			{"NUL in the SCSP request id", func(j *store.Job, _ []store.JobElement) { j.SCSPRequestID = "PETICION\x00" }},
			{"invalid UTF-8 in the SCSP request id", func(j *store.Job, _ []store.JobElement) { j.SCSPRequestID = "PETICION\xff" }},
			{"a surrogate in the SCSP request id", func(j *store.Job, _ []store.JobElement) { j.SCSPRequestID = "PET\xed\xa0\x80" }},
			{"NUL in an SCSP solicitud id", func(_ *store.Job, es []store.JobElement) { es[2].SCSPSolicitudID = "SOL\x00" }},
			{"invalid UTF-8 in an SCSP solicitud id", func(_ *store.Job, es []store.JobElement) { es[2].SCSPSolicitudID = "SOL\xc3" }},
		} {
			t.Run(c.name, func(t *testing.T) {
				// A job of its own: one wrongly stored would not hide the
				// others.
				j, elements := scspJob(10+n, "P0801900B", 3, base)
				c.change(&j, elements)
				_, err := s.CreateJob(ctx, j, elements)
				if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrExists) {
					t.Fatalf("CreateJob: %v, want a refusal", err)
				}
				t.Log(err)
				if _, err := s.GetJob(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetJob of the refused job: %v, want ErrNotFound", err)
				}
				if _, err := s.JobPeticion(ctx, j.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("JobPeticion of the refused job: %v, want ErrNotFound", err)
				}
				if _, err := s.JobByKey(ctx, j.Requester, j.IdempotencyKey); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("JobByKey of the refused job: %v, want ErrNotFound", err)
				}
				if es := jobElements(t, s, j.ID, 0, 0); len(es) != 0 {
					t.Errorf("the refused job has %d elements stored", len(es))
				}
			})
		}
	})
}
