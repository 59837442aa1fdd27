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

// Subjects of the citizens tests.
const (
	alice = "12345678Z"
	bob   = "87654321X"
)

// fullConsent returns a consent of subject with every field set, created at.
func fullConsent(n int, subject string, at time.Time) store.Consent {
	revoked := at.Add(48 * time.Hour)
	return store.Consent{
		ID:        id(n),
		Subject:   subject,
		Requester: "P0801900B",
		Procedure: "AJUT-MENJADOR",
		Services:  []string{"padro", "familia-nombrosa", "prestacions «x» \"q\" \\"},
		Purpose:   "social-benefits",
		CreatedAt: at,
		ExpiresAt: at.AddDate(1, 0, 0),
		RevokedAt: &revoked,
	}
}

// openConsent returns an unrevoked consent of subject, created at.
func openConsent(n int, subject string, at time.Time) store.Consent {
	c := fullConsent(n, subject, at)
	c.RevokedAt = nil
	return c
}

// utc is t as a store must bring it back: UTC, microsecond precision.
func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// checkTime checks that got is exp in UTC at microsecond precision.
func checkTime(t *testing.T, what string, got, exp time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: location = %v, want UTC", what, got.Location())
	}
	if !got.Equal(utc(exp)) {
		t.Errorf("%s = %v, want %v", what, got, utc(exp))
	}
}

// checkConsent compares a returned consent with the one stored.
func checkConsent(t *testing.T, what string, got, exp store.Consent) {
	t.Helper()
	checkTime(t, what+": CreatedAt", got.CreatedAt, exp.CreatedAt)
	checkTime(t, what+": ExpiresAt", got.ExpiresAt, exp.ExpiresAt)
	switch {
	case (got.RevokedAt == nil) != (exp.RevokedAt == nil):
		t.Errorf("%s: RevokedAt = %v, want %v", what, got.RevokedAt, exp.RevokedAt)
	case got.RevokedAt != nil:
		checkTime(t, what+": RevokedAt", *got.RevokedAt, *exp.RevokedAt)
	}
	if len(got.Services) == 0 && len(exp.Services) == 0 {
		got.Services, exp.Services = nil, nil
	}
	got.CreatedAt, got.ExpiresAt, got.RevokedAt = time.Time{}, time.Time{}, nil
	exp.CreatedAt, exp.ExpiresAt, exp.RevokedAt = time.Time{}, time.Time{}, nil
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

// checkObjection compares a returned objection with the one stored.
func checkObjection(t *testing.T, what string, got, exp store.Objection) {
	t.Helper()
	checkTime(t, what+": CreatedAt", got.CreatedAt, exp.CreatedAt)
	got.CreatedAt, exp.CreatedAt = time.Time{}, time.Time{}
	if got != exp {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, exp)
	}
}

func mustCreateConsent(t *testing.T, s store.Store, cs ...store.Consent) {
	t.Helper()
	for _, c := range cs {
		if err := s.CreateConsent(context.Background(), c); err != nil {
			t.Fatalf("CreateConsent(%s): %v", c.ID, err)
		}
	}
}

func getConsent(t *testing.T, s store.Store, id string) store.Consent {
	t.Helper()
	c, err := s.GetConsent(context.Background(), id)
	if err != nil {
		t.Fatalf("GetConsent(%s): %v", id, err)
	}
	return c
}

func listConsents(t *testing.T, s store.Store, subject string) []store.Consent {
	t.Helper()
	cs, err := s.ListConsents(context.Background(), subject)
	if err != nil {
		t.Fatalf("ListConsents(%s): %v", subject, err)
	}
	return cs
}

func consentIDs(cs []store.Consent) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func mustCreateObjection(t *testing.T, s store.Store, o store.Objection) store.Objection {
	t.Helper()
	got, err := s.CreateObjection(context.Background(), o)
	if err != nil {
		t.Fatalf("CreateObjection(%+v): %v", o, err)
	}
	return got
}

func listObjections(t *testing.T, s store.Store, subject string) []store.Objection {
	t.Helper()
	obs, err := s.ListObjections(context.Background(), subject)
	if err != nil {
		t.Fatalf("ListObjections(%s): %v", subject, err)
	}
	return obs
}

func objectionIDs(obs []store.Objection) []string {
	out := make([]string, len(obs))
	for i, o := range obs {
		out[i] = o.ID
	}
	return out
}

func objection(n int, subject, service, procedure string, at time.Time) store.Objection {
	return store.Objection{ID: id(n), Subject: subject, Service: service, Procedure: procedure, CreatedAt: at}
}

func testConsentRoundTrip(t *testing.T, s store.Store) {
	full := fullConsent(1, alice, base)
	// Every field set: a field added to Consent fails here until the
	// fixture, and so the round trip, covers it.
	v := reflect.ValueOf(full)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fixture leaves Consent.%s unset", v.Type().Field(i).Name)
		}
	}
	open := openConsent(2, alice, base.Add(time.Second))
	open.Services = []string{"padro"}
	unicode := openConsent(3, "X1234567L", base.Add(2*time.Second))
	unicode.Procedure, unicode.Purpose = "BEQUES-Núria-東京", "grants 😀"
	unicode.Services = nil
	unicode.ExpiresAt = time.Date(2027, 1, 1, 0, 0, 0, 999, time.FixedZone("X", -5*3600))
	mustCreateConsent(t, s, full, open, unicode)

	for _, c := range []store.Consent{full, open, unicode} {
		checkConsent(t, "GetConsent("+c.ID+")", getConsent(t, s, c.ID), c)
	}
	got := listConsents(t, s, alice)
	if len(got) != 2 {
		t.Fatalf("ListConsents: %v, want 2 consents", consentIDs(got))
	}
	checkConsent(t, "ListConsents item 0", got[0], open)
	checkConsent(t, "ListConsents item 1", got[1], full)
}

func testConsentNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := openConsent(1, alice, base)
	mustCreateConsent(t, s, c)
	for _, missing := range []string{id(2), "", "not-a-uuid"} {
		if _, err := s.GetConsent(ctx, missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetConsent(%q): err = %v, want ErrNotFound", missing, err)
		}
		if _, err := s.RevokeConsent(ctx, alice, missing, base); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RevokeConsent(%q): err = %v, want ErrNotFound", missing, err)
		}
	}
	// GetConsent answers whoever's consent it is: the policy checks the subject.
	checkConsent(t, "GetConsent", getConsent(t, s, c.ID), c)

	// An id stored twice is refused, and the first consent stays as it was.
	dup := fullConsent(1, bob, base.Add(time.Hour))
	if err := s.CreateConsent(ctx, dup); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("CreateConsent of a stored id: err = %v, want one wrapping ErrUnavailable", err)
	}
	checkConsent(t, "after a duplicate create", getConsent(t, s, c.ID), c)
	if got := listConsents(t, s, bob); len(got) != 0 {
		t.Errorf("ListConsents(bob) = %v after a refused create", consentIDs(got))
	}
}

func testListConsents(t *testing.T, s store.Store) {
	if got := listConsents(t, s, alice); len(got) != 0 {
		t.Fatalf("empty store: ListConsents = %v", consentIDs(got))
	}
	// Created out of order, revoked ones among them, another subject's between.
	mustCreateConsent(t, s,
		openConsent(1, alice, base.Add(2*time.Hour)),
		fullConsent(2, alice, base),
		openConsent(3, bob, base.Add(3*time.Hour)),
		openConsent(4, alice, base.Add(5*time.Hour)),
		fullConsent(5, alice, base.Add(time.Hour)),
		openConsent(6, bob, base.Add(-time.Hour)),
	)
	if _, err := s.RevokeConsent(context.Background(), alice, id(4), base.Add(6*time.Hour)); err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	if got, exp := consentIDs(listConsents(t, s, alice)), []string{id(4), id(1), id(5), id(2)}; !slices.Equal(got, exp) {
		t.Errorf("ListConsents(alice) = %v, want %v", got, exp)
	}
	if got, exp := consentIDs(listConsents(t, s, bob)), []string{id(3), id(6)}; !slices.Equal(got, exp) {
		t.Errorf("ListConsents(bob) = %v, want %v", got, exp)
	}
	for _, nobody := range []string{"00000000T", ""} {
		if got := listConsents(t, s, nobody); len(got) != 0 {
			t.Errorf("ListConsents(%q) = %v, want none", nobody, consentIDs(got))
		}
	}
}

func testRevokeConsent(t *testing.T, s store.Store) {
	ctx := context.Background()
	c := openConsent(1, alice, base)
	other := openConsent(2, alice, base.Add(time.Second))
	mustCreateConsent(t, s, c, other)

	// Another subject cannot revoke it, and trying changes nothing.
	if _, err := s.RevokeConsent(ctx, bob, c.ID, base.Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeConsent by another subject: err = %v, want ErrNotFound", err)
	}
	checkConsent(t, "after another subject's revocation", getConsent(t, s, c.ID), c)

	first := base.Add(time.Hour + 123456789*time.Nanosecond).In(time.FixedZone("CEST", 7200))
	got, err := s.RevokeConsent(ctx, alice, c.ID, first)
	if err != nil {
		t.Fatalf("RevokeConsent: %v", err)
	}
	exp := c
	exp.RevokedAt = &first
	checkConsent(t, "RevokeConsent's answer", got, exp)
	checkConsent(t, "GetConsent after revocation", getConsent(t, s, c.ID), exp)

	// Revoking again, later or earlier, keeps the first time.
	for _, again := range []time.Time{first.Add(time.Hour), first.Add(-time.Minute)} {
		got, err := s.RevokeConsent(ctx, alice, c.ID, again)
		if err != nil {
			t.Fatalf("RevokeConsent again: %v", err)
		}
		checkConsent(t, "RevokeConsent again", got, exp)
		checkConsent(t, "GetConsent after revoking again", getConsent(t, s, c.ID), exp)
	}
	// A consent stored revoked keeps its time too.
	stored := fullConsent(3, alice, base)
	mustCreateConsent(t, s, stored)
	if got, err := s.RevokeConsent(ctx, alice, stored.ID, base.Add(99*time.Hour)); err != nil {
		t.Fatalf("RevokeConsent of a revoked consent: %v", err)
	} else {
		checkConsent(t, "RevokeConsent of a consent stored revoked", got, stored)
	}
	// The other consent is untouched.
	checkConsent(t, "the other consent", getConsent(t, s, other.ID), other)
}

func testObjectionRoundTrip(t *testing.T, s store.Store) {
	general := objection(1, alice, "padro", "", base)
	specific := objection(2, alice, "discapacitat", "AJUT-MENJADOR-Núria", base.Add(time.Second))
	// Every field set but Procedure, which general leaves empty on purpose.
	v := reflect.ValueOf(specific)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fixture leaves Objection.%s unset", v.Type().Field(i).Name)
		}
	}
	checkObjection(t, "CreateObjection(general)", mustCreateObjection(t, s, general), general)
	checkObjection(t, "CreateObjection(specific)", mustCreateObjection(t, s, specific), specific)
	got := listObjections(t, s, alice)
	if len(got) != 2 {
		t.Fatalf("ListObjections: %v, want 2 objections", objectionIDs(got))
	}
	checkObjection(t, "ListObjections item 0", got[0], specific)
	checkObjection(t, "ListObjections item 1", got[1], general)
}

func testListObjections(t *testing.T, s store.Store) {
	if got := listObjections(t, s, alice); len(got) != 0 {
		t.Fatalf("empty store: ListObjections = %v", objectionIDs(got))
	}
	for _, o := range []store.Objection{
		objection(1, alice, "padro", "", base.Add(2*time.Hour)),
		objection(2, alice, "titulacions", "BEQUES", base),
		objection(3, bob, "padro", "", base.Add(3*time.Hour)),
		objection(4, alice, "padro", "BEQUES", base.Add(5*time.Hour)),
		objection(5, alice, "prestacions", "", base.Add(time.Hour)),
	} {
		mustCreateObjection(t, s, o)
	}
	if got, exp := objectionIDs(listObjections(t, s, alice)), []string{id(4), id(1), id(5), id(2)}; !slices.Equal(got, exp) {
		t.Errorf("ListObjections(alice) = %v, want %v", got, exp)
	}
	if got, exp := objectionIDs(listObjections(t, s, bob)), []string{id(3)}; !slices.Equal(got, exp) {
		t.Errorf("ListObjections(bob) = %v, want %v", got, exp)
	}
	if got := listObjections(t, s, "00000000T"); len(got) != 0 {
		t.Errorf("ListObjections(nobody) = %v, want none", objectionIDs(got))
	}
}

func testObjectionIdempotent(t *testing.T, s store.Store) {
	first := objection(1, alice, "padro", "BEQUES", base)
	mustCreateObjection(t, s, first)
	// The same subject, service and procedure again: the first one answers.
	again := objection(2, alice, "padro", "BEQUES", base.Add(time.Hour))
	checkObjection(t, "CreateObjection of an existing objection", mustCreateObjection(t, s, again), first)
	if got := objectionIDs(listObjections(t, s, alice)); !slices.Equal(got, []string{first.ID}) {
		t.Errorf("ListObjections = %v, want only %s", got, first.ID)
	}
	// Each differing field makes a new objection.
	n := 3
	for _, o := range []store.Objection{
		objection(0, alice, "padro", "", base),                  // every procedure
		objection(0, alice, "padro", "AJUT-MENJADOR", base),     // another procedure
		objection(0, alice, "titulacions", "BEQUES", base),      // another service
		objection(0, bob, "padro", "BEQUES", base),              // another subject
		objection(0, alice, "padro", "beques", base),            // case matters
		objection(0, alice, "padro", "BEQUES ", base.Add(-1e9)), // so do spaces
	} {
		o.ID = id(n)
		n++
		checkObjection(t, "CreateObjection(new)", mustCreateObjection(t, s, o), o)
	}
	if got := listObjections(t, s, alice); len(got) != 6 {
		t.Errorf("ListObjections(alice) = %v, want 6 objections", objectionIDs(got))
	}
	// A general objection, too, is created once.
	checkObjection(t, "CreateObjection of an existing general objection",
		mustCreateObjection(t, s, objection(99, alice, "padro", "", base.Add(time.Hour))),
		objection(3, alice, "padro", "", base))
}

func testConcurrentObjections(t *testing.T, s store.Store) {
	const goroutines, rounds = 8, 5
	keys := []store.Objection{
		{Subject: alice, Service: "padro", Procedure: ""},
		{Subject: alice, Service: "padro", Procedure: "BEQUES"},
		{Subject: bob, Service: "padro", Procedure: ""},
	}
	answers := make([][]store.Objection, goroutines)
	errs := make([]error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for r := range rounds {
				for k, key := range keys {
					o := key
					o.ID = id(1000*(k+1) + 10*g + r)
					o.CreatedAt = base.Add(time.Duration(g) * time.Second)
					got, err := s.CreateObjection(context.Background(), o)
					if err != nil {
						errs[g] = fmt.Errorf("goroutine %d: CreateObjection(%+v): %w", g, o, err)
						return
					}
					answers[g] = append(answers[g], got)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Every creation of a key answered the one objection stored for it.
	stored := map[store.Objection]string{}
	for _, subject := range []string{alice, bob} {
		for _, o := range listObjections(t, s, subject) {
			key := store.Objection{Subject: o.Subject, Service: o.Service, Procedure: o.Procedure}
			if prev, dup := stored[key]; dup {
				t.Errorf("objection %+v stored twice: %s and %s", key, prev, o.ID)
			}
			stored[key] = o.ID
		}
	}
	if len(stored) != len(keys) {
		t.Fatalf("%d objections stored, want %d", len(stored), len(keys))
	}
	for g, got := range answers {
		for _, o := range got {
			key := store.Objection{Subject: o.Subject, Service: o.Service, Procedure: o.Procedure}
			if o.ID != stored[key] {
				t.Errorf("goroutine %d got objection %s for %+v, but %s is stored", g, o.ID, key, stored[key])
			}
		}
	}
}

func testDeleteObjection(t *testing.T, s store.Store) {
	ctx := context.Background()
	a1 := mustCreateObjection(t, s, objection(1, alice, "padro", "", base))
	a2 := mustCreateObjection(t, s, objection(2, alice, "titulacions", "BEQUES", base.Add(time.Second)))
	b3 := mustCreateObjection(t, s, objection(3, bob, "padro", "", base))

	// Another subject cannot delete it, and trying changes nothing.
	if err := s.DeleteObjection(ctx, bob, a1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteObjection by another subject: err = %v, want ErrNotFound", err)
	}
	if got := objectionIDs(listObjections(t, s, alice)); !slices.Equal(got, []string{a2.ID, a1.ID}) {
		t.Errorf("after another subject's delete: ListObjections(alice) = %v", got)
	}
	for _, missing := range []string{id(9), "", "not-a-uuid"} {
		if err := s.DeleteObjection(ctx, alice, missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteObjection(%q): err = %v, want ErrNotFound", missing, err)
		}
	}

	if err := s.DeleteObjection(ctx, alice, a1.ID); err != nil {
		t.Fatalf("DeleteObjection: %v", err)
	}
	if got := objectionIDs(listObjections(t, s, alice)); !slices.Equal(got, []string{a2.ID}) {
		t.Errorf("after delete: ListObjections(alice) = %v, want [%s]", got, a2.ID)
	}
	if _, err := s.FindObjection(ctx, alice, "padro", "BEQUES"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindObjection after delete: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteObjection(ctx, alice, a1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteObjection twice: err = %v, want ErrNotFound", err)
	}
	if got := objectionIDs(listObjections(t, s, bob)); !slices.Equal(got, []string{b3.ID}) {
		t.Errorf("ListObjections(bob) = %v, want [%s]", got, b3.ID)
	}
	// Objecting again after a delete stores a new objection.
	renewed := objection(4, alice, "padro", "", base.Add(time.Hour))
	checkObjection(t, "CreateObjection after delete", mustCreateObjection(t, s, renewed), renewed)
}

func testFindObjection(t *testing.T, s store.Store) {
	ctx := context.Background()
	// One subject per situation.
	const (
		general  = "11111111H" // objects to padro for every procedure
		specific = "22222222J" // objects to padro for BEQUES only
		both     = "33333333P" // both
	)
	gen := mustCreateObjection(t, s, objection(1, general, "padro", "", base))
	spec := mustCreateObjection(t, s, objection(2, specific, "padro", "BEQUES", base))
	bothGen := mustCreateObjection(t, s, objection(3, both, "padro", "", base))
	bothSpec := mustCreateObjection(t, s, objection(4, both, "padro", "BEQUES", base.Add(time.Second)))
	// Objections elsewhere, which must never be answered for padro.
	mustCreateObjection(t, s, objection(5, alice, "titulacions", "", base))
	mustCreateObjection(t, s, objection(6, alice, "padro", "AJUT-MENJADOR", base))

	tests := []struct {
		name                        string
		subject, service, procedure string
		want                        []store.Objection // any of these; none: ErrNotFound
	}{
		{"general applies to a procedure", general, "padro", "BEQUES", []store.Objection{gen}},
		{"general applies to another procedure", general, "padro", "AJUT-MENJADOR", []store.Objection{gen}},
		{"general applies without procedure", general, "padro", "", []store.Objection{gen}},
		{"general on another service", general, "titulacions", "BEQUES", nil},
		{"specific applies to its procedure", specific, "padro", "BEQUES", []store.Objection{spec}},
		{"specific on another procedure", specific, "padro", "AJUT-MENJADOR", nil},
		{"specific without procedure", specific, "padro", "", nil},
		{"specific is case-sensitive", specific, "padro", "beques", nil},
		{"specific on another service", specific, "discapacitat", "BEQUES", nil},
		{"both apply", both, "padro", "BEQUES", []store.Objection{bothSpec, bothGen}},
		{"general of both applies elsewhere", both, "padro", "AJUT-MENJADOR", []store.Objection{bothGen}},
		{"another service only", alice, "padro", "BEQUES", nil},
		{"another procedure only", alice, "padro", "", nil},
		{"another subject's objection", bob, "padro", "BEQUES", nil},
		{"no subject", "", "padro", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.FindObjection(ctx, tt.subject, tt.service, tt.procedure)
			if len(tt.want) == 0 {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("FindObjection(%q, %q, %q) = %+v, %v; want ErrNotFound", tt.subject, tt.service, tt.procedure, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FindObjection(%q, %q, %q): %v", tt.subject, tt.service, tt.procedure, err)
			}
			i := slices.IndexFunc(tt.want, func(o store.Objection) bool { return o.ID == got.ID })
			if i < 0 {
				t.Fatalf("FindObjection = %+v, want one of %v", got, objectionIDs(tt.want))
			}
			checkObjection(t, "FindObjection", got, tt.want[i])
		})
	}
}
