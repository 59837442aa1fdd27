package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// waitFor bounds how long the suite waits for records to become sealable:
// PostgreSQL holds a record back while any older transaction of the
// server (other tests' included) is still running.
const waitFor = time.Minute

// Acquire answers a Sealer of s, released when the test ends.
func Acquire(t testing.TB, s store.Store) store.Sealer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	x, err := s.AcquireSealer(ctx)
	if err != nil {
		t.Fatalf("AcquireSealer: %v", err)
	}
	t.Cleanup(func() { _ = x.Release() })
	return x
}

// unsealed answers what x.Unsealed(limit) answers once it answers at least
// n records, without sealing them.
func unsealed(t *testing.T, x store.Sealer, limit, n int) ([]store.Leaf, string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		leaves, cursor, err := x.Unsealed(context.Background(), limit)
		if err != nil {
			t.Fatalf("Unsealed(%d): %v", limit, err)
		}
		if len(leaves) >= n {
			return leaves, cursor
		}
		if time.Now().After(deadline) {
			t.Fatalf("Unsealed(%d) answers %d records after %v, want %d", limit, len(leaves), waitFor, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sealUntil seals through x, in batches of at most limit records, until
// want more records are sealed, and answers them in leaf order.
func sealUntil(t *testing.T, x store.Sealer, tr *Tree, limit, want int) []store.Leaf {
	t.Helper()
	var all []store.Leaf
	for len(all) < want {
		leaves, cursor := unsealed(t, x, limit, 1)
		for i, l := range leaves {
			if l.Index != tr.Size()+int64(i) {
				t.Fatalf("Unsealed: record %s has Index %d, want %d", l.ID, l.Index, tr.Size()+int64(i))
			}
		}
		seal, err := tr.Next(leaves, cursor)
		if err != nil {
			t.Fatalf("tree: %v", err)
		}
		if err := x.Seal(context.Background(), seal); err != nil {
			t.Fatalf("Seal [%d, %d): %v", seal.From, seal.To, err)
		}
		all = append(all, leaves...)
	}
	if len(all) != want {
		t.Fatalf("sealed %d records (%v), want %d", len(all), leafIDs(all), want)
	}
	return all
}

func leafIDs(leaves []store.Leaf) []string {
	out := make([]string, len(leaves))
	for i, l := range leaves {
		out[i] = l.ID
	}
	return out
}

// unsalted is record n without a salt: the store must give it one.
func unsalted(n int, at time.Time) store.Transfer {
	r := full(n, at)
	r.Salt, r.PersonalSHA256 = nil, ""
	return r
}

// event returns a log_read event with every personal field set.
func event(id string, at time.Time) store.Event {
	return store.Event{ID: id, Time: at, Node: "node-1", Kind: store.EventLogRead, Operation: "search", Count: 3,
		Subject: alice, Actor: "auditor-7", Filter: "subject=12345678Z&limit=10"}
}

func mustAppendEvents(t *testing.T, s store.Store, events ...store.Event) {
	t.Helper()
	if err := s.AppendEvents(context.Background(), events); err != nil {
		t.Fatalf("AppendEvents(%d events): %v", len(events), err)
	}
}

// checkEvent compares an event the store answered with the expected one:
// times in UTC at microsecond precision; a salt of SaltSize bytes when none
// is expected (the store gives one).
func checkEvent(t *testing.T, what string, got, exp store.Event) {
	t.Helper()
	checkTime(t, what+": Time", got.Time, exp.Time)
	for _, p := range []struct {
		name     string
		got, exp *time.Time
	}{{"ExpiresAt", got.ExpiresAt, exp.ExpiresAt}, {"Before", got.Before, exp.Before}} {
		switch {
		case (p.got == nil) != (p.exp == nil):
			t.Errorf("%s: %s = %v, want %v", what, p.name, p.got, p.exp)
		case p.got != nil:
			checkTime(t, what+": "+p.name, *p.got, *p.exp)
		}
	}
	if len(exp.Salt) == 0 {
		if len(got.Salt) != store.SaltSize {
			t.Errorf("%s: salt %x, want %d fresh bytes", what, got.Salt, store.SaltSize)
		}
		got.Salt = nil
	}
	if len(exp.Services) == 0 {
		exp.Services = nil
	}
	got.Time, got.ExpiresAt, got.Before = time.Time{}, nil, nil
	exp.Time, exp.ExpiresAt, exp.Before = time.Time{}, nil, nil
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

// eventsOf answers the events among leaves, failing on a transfer.
func eventsOf(t *testing.T, leaves []store.Leaf) []store.Event {
	t.Helper()
	var out []store.Event
	for _, l := range leaves {
		if l.Event == nil || l.Transfer != nil {
			t.Fatalf("leaf %d (%s): want an event alone, got %+v", l.Index, l.ID, l)
		}
		if l.ID != l.Event.ID {
			t.Errorf("leaf %d: ID %q, event's %q", l.Index, l.ID, l.Event.ID)
		}
		out = append(out, *l.Event)
	}
	return out
}

// distinctSalts fails when two of the records share a salt.
func distinctSalts(t *testing.T, leaves []store.Leaf) {
	t.Helper()
	seen := map[string]string{}
	for _, l := range leaves {
		salt := saltOf(l)
		if len(salt) != store.SaltSize {
			t.Errorf("record %s: salt %x, want %d bytes", l.ID, salt, store.SaltSize)
		}
		if other, ok := seen[string(salt)]; ok {
			t.Errorf("records %s and %s share the salt %x", other, l.ID, salt)
		}
		seen[string(salt)] = l.ID
	}
}

func ptr(t time.Time) *time.Time { return &t }

// saltOf answers the salt of a leaf's record.
func saltOf(l store.Leaf) []byte {
	if l.Event != nil {
		return l.Event.Salt
	}
	if l.Transfer != nil {
		return l.Transfer.Salt
	}
	return nil
}

// testConsentEvents: the store writes a consent's creation and first
// revocation as events, in the same transaction, with the consent's
// members, a salt of their own and no node; a repeated revocation or a
// refused creation writes none.
func testConsentEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := openConsent(1, alice, base)
	mustCreateConsent(t, s, c)
	revoked := base.Add(time.Hour)
	if _, err := s.RevokeConsent(ctx, alice, c.ID, revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeConsent(ctx, alice, c.ID, revoked.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateConsent(ctx, fullConsent(1, bob, base)); err == nil {
		t.Fatal("CreateConsent of a repeated id: nil error")
	}
	// A consent created revoked is created, then revoked.
	born := fullConsent(2, bob, base.Add(2*time.Hour))
	born.Services = nil
	mustCreateConsent(t, s, born)

	x := Acquire(t, s)
	events := eventsOf(t, sealUntil(t, x, &Tree{}, 100, 4))
	exp := []store.Event{
		{ID: c.ID + ":consent_created", Time: c.CreatedAt, Kind: store.EventConsentCreated, Ref: c.ID,
			Requester: c.Requester, Procedure: c.Procedure, Purpose: c.Purpose, Services: c.Services,
			ExpiresAt: ptr(c.ExpiresAt), Subject: alice},
		{ID: c.ID + ":consent_revoked", Time: revoked, Kind: store.EventConsentRevoked, Ref: c.ID,
			Requester: c.Requester, Procedure: c.Procedure, Purpose: c.Purpose, Subject: alice},
		{ID: born.ID + ":consent_created", Time: born.CreatedAt, Kind: store.EventConsentCreated, Ref: born.ID,
			Requester: born.Requester, Procedure: born.Procedure, Purpose: born.Purpose,
			ExpiresAt: ptr(born.ExpiresAt), Subject: bob},
		{ID: born.ID + ":consent_revoked", Time: *born.RevokedAt, Kind: store.EventConsentRevoked, Ref: born.ID,
			Requester: born.Requester, Procedure: born.Procedure, Purpose: born.Purpose, Subject: bob},
	}
	for i := range exp {
		checkEvent(t, fmt.Sprintf("event %d", i), events[i], exp[i])
	}
	distinctSalts(t, sealedLeaves(t, s, 0, 4))
}

// testObjectionEvents: an objection's recording and withdrawal are events;
// creating an objection that exists (the existing one is answered) and
// deleting one that does not write none.
func testObjectionEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	o := mustCreateObjection(t, s, objection(1, alice, "padro", "DEMO", base))
	if again := mustCreateObjection(t, s, objection(2, alice, "padro", "DEMO", base.Add(time.Minute))); again.ID != o.ID {
		t.Fatalf("CreateObjection of an existing one answered %s, want %s", again.ID, o.ID)
	}
	general := mustCreateObjection(t, s, objection(3, bob, "titulacions", "", base.Add(time.Hour)))
	from := time.Now()
	if err := s.DeleteObjection(ctx, alice, o.ID); err != nil {
		t.Fatal(err)
	}
	to := time.Now()
	if err := s.DeleteObjection(ctx, alice, o.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteObjection twice: %v", err)
	}

	x := Acquire(t, s)
	events := eventsOf(t, sealUntil(t, x, &Tree{}, 100, 3))
	withdrawn := events[2].Time
	// The database's clock, at its precision (SQLite: milliseconds).
	if withdrawn.Before(from.Add(-time.Second)) || withdrawn.After(to.Add(time.Second)) {
		t.Errorf("withdrawn at %v, want between %v and %v", withdrawn, from, to)
	}
	exp := []store.Event{
		{ID: o.ID + ":objection_recorded", Time: base, Kind: store.EventObjectionRecorded, Ref: o.ID,
			Service: "padro", Procedure: "DEMO", Subject: alice},
		{ID: general.ID + ":objection_recorded", Time: general.CreatedAt, Kind: store.EventObjectionRecorded,
			Ref: general.ID, Service: "titulacions", Subject: bob},
		{ID: o.ID + ":objection_withdrawn", Time: withdrawn, Kind: store.EventObjectionWithdrawn, Ref: o.ID,
			Service: "padro", Procedure: "DEMO", Subject: alice},
	}
	for i := range exp {
		checkEvent(t, fmt.Sprintf("event %d", i), events[i], exp[i])
	}
	distinctSalts(t, sealedLeaves(t, s, 0, 3))
}

// testAppendEvents: every field of an event comes back as given; a
// missing salt is given; values a text column refuses are escaped as in a
// transfer.
func testAppendEvents(t *testing.T, s store.Store) {
	every := store.Event{ID: "0199a000-0000-7000-8000-000000000001", Time: base, Node: "node-1", Kind: store.EventLogRead,
		Ref: "ref-1", Requester: "P0801900B", Procedure: "AJUT-MENJADOR", Purpose: "social-benefits", Service: "padro",
		Services: []string{"padro", "prestacions «x» \"q\" \\"}, ExpiresAt: ptr(base.AddDate(1, 0, 0)),
		Operation: "export", Count: 1 << 40, Before: ptr(base.AddDate(-6, 0, 0)),
		Owner: "L01080193", Adapter: "padro-08019", Version: "1.4.2", Scope: "08019",
		ModuleSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", KeyID: "ajuntament-2026",
		Signature: strings.Repeat("eyJzaWduYXR1cmUi", 100),
		Subject:   alice, Actor: "auditor-7 Núria", Filter: "subject=12345678Z&from=2026-01-01&to=2026-02-01",
		Salt: []byte("fedcba9876543210"), PersonalSHA256: "0d5f29b2e3c6a0f0c8e21e5f06dc1a6ec5cc5e9bc9c5d1b1a0bb5f3b5e20a0f7"}
	v := reflect.ValueOf(every)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fixture leaves Event.%s unset", v.Type().Field(i).Name)
		}
	}
	pruned := store.Event{ID: "0199a000-0000-7000-8000-000000000002", Time: base.Add(time.Second), Node: "node-2",
		Kind: store.EventLogPruned, Before: ptr(base.AddDate(-5, 0, 0)), Count: 7}
	read := event("0199a000-0000-7000-8000-000000000003", base.Add(2*time.Second))
	bad := event("0199a000-0000-7000-8000-000000000004", base.Add(3*time.Second))
	bad.Filter, bad.Actor = "subject=a\x00b\xff", `x\y`
	mustAppendEvents(t, s, every, pruned, read, bad)

	x := Acquire(t, s)
	leaves := sealUntil(t, x, &Tree{}, 100, 4)
	events := eventsOf(t, leaves)
	checkEvent(t, "every field", events[0], every)
	checkEvent(t, "log_pruned", events[1], pruned)
	checkEvent(t, "log_read", events[2], read)
	bad.Filter = `subject=a\x00b\xff`
	checkEvent(t, "escaped", events[3], bad)
	distinctSalts(t, leaves)
	if got := sealedLeaves(t, s, 0, 4); !reflect.DeepEqual(got, leaves) {
		t.Errorf("Leaves answers other events than Unsealed:\n got %+v\nwant %+v", got, leaves)
	}
}

// testAppendEventsRejected: a batch with a repeated id is refused whole,
// as the data's fault; a canceled one as the store's.
func testAppendEventsRejected(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AppendEvents(ctx, nil); err != nil {
		t.Errorf("AppendEvents(nil): %v", err)
	}
	e1, e2 := event("e-1", base), event("e-2", base)
	err := s.AppendEvents(ctx, []store.Event{e1, e2, e1})
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, store.ErrRejected) {
		t.Errorf("repeated id: err = %v, want ErrUnavailable and ErrRejected", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err = s.AppendEvents(canceled, []store.Event{event("e-3", base)})
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrRejected) {
		t.Errorf("canceled: err = %v, want ErrUnavailable, not ErrRejected", err)
	}
	mustAppendEvents(t, s, event("e-4", base))
	x := Acquire(t, s)
	leaves := sealUntil(t, x, &Tree{}, 100, 1)
	if ids := leafIDs(leaves); !slices.Equal(ids, []string{"e-4"}) {
		t.Errorf("sealed %v, want only e-4: a refused batch wrote records", ids)
	}
	if more, _, err := x.Unsealed(ctx, 100); err != nil || len(more) != 0 {
		t.Errorf("Unsealed after everything was sealed: %v, %v", leafIDs(more), err)
	}
}

// testUnsealed: transfers and events, whoever wrote them, are answered in
// the order their transactions committed, each once; until sealed, again.
func testUnsealed(t *testing.T, s store.Store) {
	ctx := context.Background()
	x := Acquire(t, s)
	if leaves, _, err := x.Unsealed(ctx, 10); err != nil || len(leaves) != 0 {
		t.Fatalf("Unsealed of an empty store: %v, %v", leafIDs(leaves), err)
	}
	if _, _, err := x.Unsealed(ctx, 0); err == nil {
		t.Error("Unsealed(0): nil error")
	}
	// Each line commits after the one above.
	mustAppend(t, s, unsalted(1, base), unsalted(2, base.Add(-time.Hour)), unsalted(3, base))
	mustAppendEvents(t, s, event("0199a000-0000-7000-8000-000000000010", base.Add(-48*time.Hour)))
	mustCreateConsent(t, s, openConsent(20, alice, base.AddDate(1, 0, 0)))
	mustAppend(t, s, unsalted(4, base), unsalted(5, base))
	order := []string{id(1), id(2), id(3), "0199a000-0000-7000-8000-000000000010", id(20) + ":consent_created", id(4), id(5)}

	all, cursor := unsealed(t, x, 100, len(order))
	if got := leafIDs(all); !slices.Equal(got, order) {
		t.Fatalf("Unsealed answers %v, want %v", got, order)
	}
	for i, l := range all {
		if l.Index != int64(i) {
			t.Errorf("record %s: Index %d, want %d", l.ID, l.Index, i)
		}
		if (l.Transfer == nil) == (l.Event == nil) {
			t.Errorf("record %s: want exactly one of a transfer and an event", l.ID)
		}
	}
	checkEqual(t, "answered transfer", *all[0].Transfer, unsalted(1, base))
	distinctSalts(t, all)
	again, cursor2, err := x.Unsealed(ctx, 100)
	if err != nil || !reflect.DeepEqual(again, all) || cursor2 != cursor {
		t.Fatalf("Unsealed again before Seal: %v (cursor %q, %v); want the same records (cursor %q)", leafIDs(again), cursor2, err, cursor)
	}

	// Sealed two at a time: every record once, in the same order.
	tr := &Tree{}
	sealed := sealUntil(t, x, tr, 2, len(order))
	if got := leafIDs(sealed); !slices.Equal(got, order) {
		t.Fatalf("sealed %v, want %v", got, order)
	}
	if more, _, err := x.Unsealed(ctx, 100); err != nil || len(more) != 0 {
		t.Fatalf("Unsealed after sealing everything: %v, %v", leafIDs(more), err)
	}
	mustAppend(t, s, unsalted(6, base))
	if next := sealUntil(t, x, tr, 100, 1); next[0].ID != id(6) || next[0].Index != int64(len(order)) {
		t.Errorf("next record %s at %d, want %s at %d", next[0].ID, next[0].Index, id(6), len(order))
	}
}

// sealedLeaves answers s.Leaves(from, to), failing on an error.
func sealedLeaves(t *testing.T, s store.Store, from, to int64) []store.Leaf {
	t.Helper()
	leaves, err := s.Leaves(context.Background(), from, to)
	if err != nil {
		t.Fatalf("Leaves(%d, %d): %v", from, to, err)
	}
	return leaves
}

// testSealReads: what Seal commits is read back: the tree's state, every
// checkpoint, the tiles, each record's leaf and the leaves with their
// records, from which a reader computes the same root.
func testSealReads(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, err := s.TreeState(ctx)
	if err != nil || st.Size != 0 || st.Checkpoint != nil || !st.PrunedBefore.IsZero() {
		t.Fatalf("TreeState of an empty store = %+v, %v", st, err)
	}
	var recs []store.Transfer
	for n := range 300 { // more than a tile
		recs = append(recs, unsalted(n, base.Add(time.Duration(n)*time.Millisecond)))
	}
	mustAppend(t, s, recs[:150]...)
	mustAppendEvents(t, s, event("0199a000-0000-7000-8000-000000000999", base))
	mustAppend(t, s, recs[150:]...)
	if _, err := s.LeafIndex(ctx, id(0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LeafIndex of an unsealed record: %v, want ErrNotFound", err)
	}

	x := Acquire(t, s)
	tr := &Tree{}
	checkpoints := map[int64][]byte{}
	var last store.Seal
	for tr.Size() < 301 {
		leaves, cursor := unsealed(t, x, 100, 1)
		seal, err := tr.Next(leaves, cursor)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Seal(ctx, seal); err != nil {
			t.Fatalf("Seal: %v", err)
		}
		checkpoints[seal.To], last = seal.Checkpoint, seal
		st, err := s.TreeState(ctx)
		root, _ := tr.Root()
		if err != nil || st.Size != seal.To || st.Root != root || !bytes.Equal(st.Checkpoint, seal.Checkpoint) {
			t.Fatalf("TreeState after sealing [%d, %d) = %+v, %v", seal.From, seal.To, st, err)
		}
	}
	if tr.Size() != 301 {
		t.Fatalf("sealed %d records, want 301", tr.Size())
	}
	for size, cp := range checkpoints {
		if got, err := s.Checkpoint(ctx, size); err != nil || !bytes.Equal(got, cp) {
			t.Errorf("Checkpoint(%d) = %q, %v; want %q", size, got, err, cp)
		}
	}
	for _, size := range []int64{0, 17, 302} {
		if _, err := s.Checkpoint(ctx, size); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Checkpoint(%d): %v, want ErrNotFound", size, err)
		}
	}
	for _, tile := range last.Tiles {
		if got, err := s.ReadTile(ctx, tile.Level, tile.Index); err != nil || !bytes.Equal(got, tile.Data) {
			t.Errorf("ReadTile(%d, %d) = %d bytes, %v; want the %d sealed", tile.Level, tile.Index, len(got), err, len(tile.Data))
		}
	}
	if full, err := s.ReadTile(ctx, 0, 0); err != nil || len(full) != 256*32 {
		t.Errorf("ReadTile(0, 0) = %d bytes, %v; want a full tile", len(full), err)
	}
	if _, err := s.ReadTile(ctx, 0, 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReadTile(0, 2): %v, want ErrNotFound", err)
	}

	// A witness's cosignature replaces the checkpoint in place.
	cosigned := append(slices.Clone(last.Checkpoint), "\n— witness.example abc=\n"...)
	if err := s.UpdateCheckpoint(ctx, 301, cosigned); err != nil {
		t.Fatalf("UpdateCheckpoint: %v", err)
	}
	if got, err := s.Checkpoint(ctx, 301); err != nil || !bytes.Equal(got, cosigned) {
		t.Errorf("Checkpoint after UpdateCheckpoint = %q, %v", got, err)
	}
	if st, err := s.TreeState(ctx); err != nil || !bytes.Equal(st.Checkpoint, cosigned) {
		t.Errorf("TreeState.Checkpoint after UpdateCheckpoint = %q, %v", st.Checkpoint, err)
	}
	if err := s.UpdateCheckpoint(ctx, 299, cosigned); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCheckpoint of a size never sealed: %v, want ErrNotFound", err)
	}

	leaves := sealedLeaves(t, s, 0, 400)
	if len(leaves) != 301 {
		t.Fatalf("Leaves(0, 400): %d leaves, want the 301 sealed", len(leaves))
	}
	byID := map[string]store.Transfer{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	for i, l := range leaves {
		if l.Index != int64(i) {
			t.Fatalf("leaf %d has Index %d", i, l.Index)
		}
		if l.Transfer != nil {
			checkEqual(t, "leaf "+l.ID, *l.Transfer, byID[l.ID])
		}
		if got, err := s.LeafIndex(ctx, l.ID); err != nil || got != l.Index {
			t.Errorf("LeafIndex(%s) = %d, %v; want %d", l.ID, got, err, l.Index)
		}
	}
	root, err := RootOf(leaves)
	if st, _ := s.TreeState(ctx); err != nil || root != st.Root {
		t.Errorf("the root computed from Leaves is %v (%v), the stored one %v", root, err, st.Root)
	}
	if got := sealedLeaves(t, s, 299, 310); len(got) != 2 || got[0].Index != 299 || got[1].Transfer == nil {
		t.Errorf("Leaves(299, 310) = %+v, want leaves 299 and 300", leafIDs(got))
	}
	if got := sealedLeaves(t, s, 5, 5); len(got) != 0 {
		t.Errorf("Leaves(5, 5) = %v, want none", leafIDs(got))
	}
	if _, err := s.Leaves(ctx, -1, 2); err == nil {
		t.Error("Leaves(-1, 2): nil error")
	}
	if _, err := s.LeafIndex(ctx, "no-such-record"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LeafIndex of no record: %v, want ErrNotFound", err)
	}
}

// stateOf answers what a failed Seal must leave as it was.
func stateOf(t *testing.T, s store.Store) (store.TreeState, []byte, []store.Leaf) {
	t.Helper()
	st, err := s.TreeState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tile, err := s.ReadTile(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return st, tile, sealedLeaves(t, s, 0, 100)
}

// testStaleSeal: a Seal that does not fit the stored tree (another
// sealer moved it, records Unsealed did not answer, a tile that would
// change stored hashes) fails and writes nothing.
func testStaleSeal(t *testing.T, s store.Store) {
	ctx := context.Background()
	x := Acquire(t, s)
	tr := &Tree{}
	mustAppend(t, s, unsalted(1, base), unsalted(2, base), unsalted(3, base))
	sealUntil(t, x, tr, 100, 3)
	mustAppend(t, s, unsalted(4, base), unsalted(5, base))
	leaves, cursor := unsealed(t, x, 100, 2)
	good, err := tr.Next(leaves, cursor)
	if err != nil {
		t.Fatal(err)
	}
	st, tile, sealed := stateOf(t, s)
	changed := slices.Clone(good.Tiles)
	changed[0].Data = slices.Clone(changed[0].Data)
	changed[0].Data[0] ^= 1 // the first leaf's hash, stored already
	for _, c := range []struct {
		name   string
		change func(*store.Seal)
	}{
		{"another sealer moved the tree", func(s *store.Seal) { s.From, s.To = 1, 3 }},
		{"the tree is ahead", func(s *store.Seal) { s.From, s.To = 5, 7 }},
		{"records in another order", func(s *store.Seal) { s.IDs = []string{s.IDs[1], s.IDs[0]} }},
		{"records never answered", func(s *store.Seal) { s.IDs = []string{id(9), id(8)} }},
		{"a cursor never answered", func(s *store.Seal) { s.Cursor += "0" }},
		{"a stored hash changed", func(s *store.Seal) { s.Tiles = changed }},
	} {
		bad := good
		c.change(&bad)
		if err := x.Seal(ctx, bad); err == nil {
			t.Errorf("%s: Seal: nil error", c.name)
		}
		st2, tile2, sealed2 := stateOf(t, s)
		if !reflect.DeepEqual(st2, st) || !bytes.Equal(tile2, tile) || !reflect.DeepEqual(sealed2, sealed) {
			t.Fatalf("%s: a refused Seal wrote: state %+v, tile of %d bytes, %d leaves", c.name, st2, len(tile2), len(sealed2))
		}
		if _, err := s.LeafIndex(ctx, id(4)); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: a refused Seal sealed %s: %v", c.name, id(4), err)
		}
	}
	if err := x.Seal(ctx, good); err != nil {
		t.Fatalf("the good Seal after refused ones: %v", err)
	}
	if err := x.Seal(ctx, good); err == nil {
		t.Error("the same Seal twice: nil error")
	}
	if st, err := s.TreeState(ctx); err != nil || st.Size != 5 {
		t.Errorf("TreeState = %+v, %v; want size 5", st, err)
	}
}

// testSealerExclusion: one Sealer at a time; a second waits until the
// first is released, or until its context ends; a released Sealer fails.
func testSealerExclusion(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := Acquire(t, s)
	type result struct {
		x   store.Sealer
		err error
	}
	second := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, waitFor)
		defer cancel()
		x, err := s.AcquireSealer(ctx)
		second <- result{x, err}
	}()
	select {
	case r := <-second:
		if r.x != nil {
			_ = r.x.Release()
		}
		t.Fatalf("a second AcquireSealer returned (%v) while the first Sealer holds the role", r.err)
	case <-time.After(time.Second):
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if x, err := s.AcquireSealer(short); !errors.Is(err, store.ErrUnavailable) {
		if x != nil {
			_ = x.Release()
		}
		t.Errorf("AcquireSealer whose context ends while it waits: %v, want ErrUnavailable", err)
	}
	mustAppend(t, s, unsalted(1, base))
	leaves, cursor := unsealed(t, a, 10, 1)
	seal, err := (&Tree{}).Next(leaves, cursor)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := a.Release(); err != nil {
		t.Errorf("Release again: %v", err)
	}
	var b store.Sealer
	select {
	case r := <-second:
		if r.err != nil {
			t.Fatalf("the second AcquireSealer after Release: %v", r.err)
		}
		b = r.x
		t.Cleanup(func() { _ = b.Release() })
	case <-time.After(waitFor):
		t.Fatal("the second AcquireSealer still waits after Release")
	}
	if err := a.Seal(ctx, seal); err == nil {
		t.Error("Seal of a released Sealer: nil error")
	}
	if _, _, err := a.Unsealed(ctx, 10); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Unsealed of a released Sealer: %v, want ErrUnavailable", err)
	}
	if st, err := s.TreeState(ctx); err != nil || st.Size != 0 {
		t.Fatalf("TreeState after the released Sealer's Seal = %+v, %v; want size 0", st, err)
	}
	sealUntil(t, b, &Tree{}, 10, 1)
}

// testMissingRecord: a leaf whose record was deleted from under the log
// is answered with its index and id alone, not as an error, so that the
// tampering shows.
func testMissingRecord(t *testing.T, s store.Store, exec func(sql string)) {
	x := Acquire(t, s)
	mustAppend(t, s, unsalted(1, base), unsalted(2, base), unsalted(3, base))
	mustAppendEvents(t, s, event("e-4", base))
	sealUntil(t, x, &Tree{}, 100, 4)
	exec("DELETE FROM transfers WHERE id = '" + id(2) + "'")
	exec("DELETE FROM log_events WHERE id = 'e-4'")
	leaves := sealedLeaves(t, s, 0, 4)
	if len(leaves) != 4 {
		t.Fatalf("Leaves: %d, want 4", len(leaves))
	}
	for i, want := range []bool{true, false, true, false} {
		l := leaves[i]
		has := l.Transfer != nil || l.Event != nil
		if has != want || l.Index != int64(i) {
			t.Errorf("leaf %d (%s): Index %d, has a record %v; want %v", i, l.ID, l.Index, has, want)
		}
	}
	if leaves[1].ID != id(2) || leaves[3].ID != "e-4" {
		t.Errorf("missing records' leaves name %q and %q, want %q and e-4", leaves[1].ID, leaves[3].ID, id(2))
	}
	if _, err := RootOf(leaves); err == nil {
		t.Error("a reader computes a root over missing records")
	}
	if got, err := s.LeafIndex(context.Background(), id(2)); err != nil || got != 1 {
		t.Errorf("LeafIndex of a missing record = %d, %v; want 1", got, err)
	}
}
