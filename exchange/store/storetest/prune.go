package storetest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
)

// Times of RunPrune's records, around its pruning time.
var (
	pruneBefore = time.Date(2024, 6, 20, 12, 0, 0, 0, time.UTC)
	pruneTimes  = []time.Time{
		time.Date(2024, 1, 10, 8, 0, 0, 123456000, time.UTC),
		time.Date(2024, 2, 15, 9, 30, 0, 0, time.UTC),
		time.Date(2024, 3, 31, 23, 59, 59, 999999000, time.UTC), // a month's last microsecond
		time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC),             // a month's first
		time.Date(2024, 6, 10, 0, 0, 0, 0, time.UTC),            // before pruneBefore, in its month
		time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC),             // after
	}
)

// PruneMonths are the months of RunPrune's records, for a backend that
// prepares partitions for them before it runs.
func PruneMonths() []time.Time {
	var out []time.Time
	for m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); m.Before(pruneTimes[len(pruneTimes)-1].AddDate(0, 1, 0)); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

// timeOf answers the time of a leaf's record.
func timeOf(l store.Leaf) time.Time {
	if l.Event != nil {
		return l.Event.Time
	}
	return l.Transfer.Time
}

// prunedForm answers a record as the contract says Prune leaves it: its
// personal fields and salt removed, its commitment kept.
func prunedForm(l store.Leaf) store.Leaf {
	if l.Transfer != nil {
		t := *l.Transfer
		commitment := translog.Commit(&t, nil)
		t.SubjectIDType, t.SubjectID, t.OfficialID, t.OfficialName = "", "", "", ""
		t.CaseID, t.ConsentID, t.Reasons, t.DataSHA256 = "", "", nil, ""
		t.Salt, t.PersonalSHA256 = nil, commitment
		l.Transfer = &t
	} else {
		e := *l.Event
		commitment := translog.Commit(nil, &e)
		e.Subject, e.Actor, e.Filter = "", "", ""
		e.Salt, e.PersonalSHA256 = nil, commitment
		l.Event = &e
	}
	return l
}

func pruned(l store.Leaf) bool {
	if l.Event != nil {
		return l.Event.Pruned()
	}
	return l.Transfer.Pruned()
}

// RunPrune tests Prune on s, a new store: every sealed record before the
// time the store says it pruned up to loses its personal fields and salt
// and keeps its commitment, so that its leaf entry is byte for byte what
// it was; records after the asked time, and records not yet sealed, are
// left as they were. Run runs it; a backend runs it again where the
// records fall elsewhere (PostgreSQL: into monthly partitions made for
// them, see PruneMonths).
func RunPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	record := func(n int, at time.Time) store.Transfer {
		r := unsalted(n, at)
		r.SubjectID = fmt.Sprintf("%08dZ", n)
		return r
	}
	for i, at := range pruneTimes {
		mustAppend(t, s, record(i+1, at))
	}
	mustAppendEvents(t, s, event("e-feb", pruneTimes[1]), event("e-jul", pruneTimes[5]))
	c := openConsent(30, alice, pruneTimes[0].AddDate(0, 0, 10))
	mustCreateConsent(t, s, c)
	if _, err := s.RevokeConsent(ctx, alice, c.ID, pruneTimes[1]); err != nil {
		t.Fatal(err)
	}
	// The registry's events lose their actor, the publisher.
	v1, v2 := adapterVersion("padro", "1", "", pruneTimes[1]), adapterVersion("padro", "2", "", pruneTimes[3])
	mustPublish(t, s, v1, v2)
	for _, v := range []struct {
		version string
		at      time.Time
	}{{"1", pruneTimes[2]}, {"2", pruneTimes[4]}} {
		if _, err := s.ActivateAdapter(ctx, store.Activation{Name: "padro", Version: v.version, Kind: store.Activate, At: v.at, Actor: "operator"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RollbackAdapter(ctx, "padro", "operator", pruneTimes[5]); err != nil {
		t.Fatal(err)
	}
	const sealed = 15 // 6 transfers, 2 events, the consent's 2, the adapter's 5
	x := Acquire(t, s)
	tr := &Tree{}
	sealUntil(t, x, tr, 100, sealed)
	// Old, but written after the seal: not sealed yet.
	late, lateEvent := record(7, pruneTimes[1]), event("e-late", pruneTimes[2])
	mustAppend(t, s, late)
	mustAppendEvents(t, s, lateEvent)

	original := sealedLeaves(t, s, 0, sealed)
	entries := make([][]byte, len(original))
	for i, l := range original {
		entry, err := translog.Entry(l.Transfer, l.Event)
		if err != nil {
			t.Fatal(err)
		}
		entries[i] = entry
	}
	// check answers how many sealed records are pruned, after checking
	// each against the contract.
	var prunedBefore time.Time
	check := func(when string) int64 {
		t.Helper()
		st, err := s.TreeState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pb := st.PrunedBefore; pb.IsZero() || pb.After(pruneBefore) || !pb.After(pruneBefore.AddDate(0, -1, 0)) {
			t.Fatalf("%s: PrunedBefore %v, want at most a month before %v", when, pb, pruneBefore)
		}
		if !prunedBefore.IsZero() && !st.PrunedBefore.Equal(prunedBefore) {
			t.Errorf("%s: PrunedBefore %v, was %v for the same time", when, st.PrunedBefore, prunedBefore)
		}
		prunedBefore = st.PrunedBefore
		leaves := sealedLeaves(t, s, 0, int64(len(original)))
		var n int64
		for i, l := range leaves {
			entry, err := translog.Entry(l.Transfer, l.Event)
			if err != nil {
				t.Fatalf("%s: leaf %d: %v", when, i, err)
			}
			if !bytes.Equal(entry, entries[i]) {
				t.Errorf("%s: leaf %d (%s) changed:\n got %s\nwant %s", when, i, l.ID, entry, entries[i])
			}
			at := timeOf(l)
			switch p := pruned(l); {
			case p:
				n++
				if !at.Before(pruneBefore) {
					t.Errorf("%s: %s of %v is pruned, after %v", when, l.ID, at, pruneBefore)
				}
				if exp := prunedForm(original[i]); !reflect.DeepEqual(l, exp) {
					t.Errorf("%s: pruned leaf %d:\n got %+v %+v\nwant %+v %+v", when, i, l.Transfer, l.Event, exp.Transfer, exp.Event)
				}
			case at.Before(st.PrunedBefore):
				t.Errorf("%s: %s of %v is not pruned, before %v", when, l.ID, at, st.PrunedBefore)
			case !reflect.DeepEqual(l, original[i]):
				t.Errorf("%s: leaf %d changed without being pruned:\n got %+v %+v\nwant %+v %+v", when, i, l.Transfer, l.Event, original[i].Transfer, original[i].Event)
			}
		}
		if root, err := RootOf(leaves); err != nil || root != st.Root {
			t.Errorf("%s: the root of the leaves is %v (%v), the stored one %v", when, root, err, st.Root)
		}
		return n
	}

	n, err := s.Prune(ctx, pruneBefore, translog.Commit)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if got := check("after Prune"); got != n || n < 10 {
		t.Errorf("Prune answered %d, %d records are pruned; want the same, at least the 10 of whole months", n, got)
	}
	got, err := s.GetTransfer(ctx, late.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pruned() || got.SubjectID != late.SubjectID {
		t.Errorf("an unsealed record was pruned: %+v", got)
	}
	checkEqual(t, "unsealed record", got, late)
	leaves, _ := unsealed(t, x, 100, 2)
	if ids := leafIDs(leaves); !slices.Equal(ids, []string{late.ID, lateEvent.ID}) {
		t.Fatalf("Unsealed after Prune: %v, want the two written after the seal", ids)
	}
	checkEvent(t, "unsealed event", *leaves[1].Event, lateEvent)

	if again, err := s.Prune(ctx, pruneBefore, translog.Commit); err != nil || again != 0 {
		t.Errorf("Prune again: %d, %v; want 0", again, err)
	}
	check("after Prune again")

	// Once sealed, the late records are pruned by the next run.
	original = append(original, sealUntil(t, x, tr, 100, 2)...)
	for _, l := range original[sealed:] {
		entry, err := translog.Entry(l.Transfer, l.Event)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, entry)
	}
	if n, err := s.Prune(ctx, pruneBefore, translog.Commit); err != nil || n != 2 {
		t.Errorf("Prune after sealing the late records: %d, %v; want 2", n, err)
	}
	check("after sealing the late records")
	for _, l := range sealedLeaves(t, s, sealed, sealed+2) {
		if !pruned(l) {
			t.Errorf("late record %s is not pruned", l.ID)
		}
	}
}
