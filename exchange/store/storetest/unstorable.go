package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// The escape every backend writes for a value its text columns refuse (see
// store.ReasonAltered), and the length it keeps. They are the contract, so
// they are spelt out here rather than taken from the backends' code.
const (
	maxText   = 1024
	altered   = "the store altered what it could not keep as given: "
	escapedAs = `escaped (NUL and bytes that are not UTF-8 written \xHH, backslashes \\): `
)

// testUnstorable: a record whose values hold NUL, bytes that are not UTF-8
// or too much text is written (in the same batch as good records, which it
// must not fail), as the same escaped or cut text in every backend, with a
// reason naming the altered fields; a search or lookup with the same raw
// value finds it instead of failing.
func testUnstorable(t *testing.T, s store.Store) {
	ctx := context.Background()
	long := strings.Repeat("ç", maxText) // 2 bytes each: cut to maxText/2 characters
	cases := []struct {
		name   string
		change func(*store.Transfer)
		check  func(t *testing.T, got store.Transfer)
		note   string // the altered reason's message after altered
		filter store.Filter
	}{
		{
			name:   "NUL in service",
			change: func(r *store.Transfer) { r.Service = "x\x00" },
			check:  func(t *testing.T, got store.Transfer) { eq(t, "service", got.Service, `x\x00`) },
			note:   escapedAs + "service",
			filter: store.Filter{Service: "x\x00"},
		},
		{
			name:   "invalid UTF-8 in service",
			change: func(r *store.Transfer) { r.Service = "x\xff" },
			check:  func(t *testing.T, got store.Transfer) { eq(t, "service", got.Service, `x\xff`) },
			note:   escapedAs + "service",
			filter: store.Filter{Service: "x\xff"},
		},
		{
			name: "NUL in a reason, backslash beside it",
			change: func(r *store.Transfer) {
				r.Reasons = []store.Reason{{Code: "invalid_request", Message: "member \x00 \\x00"}}
			},
			check: func(t *testing.T, got store.Transfer) {
				eq(t, "reasons[0].message", got.Reasons[0].Message, `member \x00 \\x00`)
			},
			note: escapedAs + "reasons[0].message",
		},
		{
			name:   "invalid UTF-8 in the subject and the purpose",
			change: func(r *store.Transfer) { r.SubjectID, r.Purpose = "1234\xc3", "\xed\xa0\x80demo" },
			check: func(t *testing.T, got store.Transfer) {
				eq(t, "subject", got.SubjectID, `1234\xc3`)
				eq(t, "purpose", got.Purpose, `\xed\xa0\x80demo`)
			},
			note:   escapedAs + "purpose, subject_id",
			filter: store.Filter{Subject: "1234\xc3", Purpose: "\xed\xa0\x80demo"},
		},
		{
			name:   "very long official name",
			change: func(r *store.Transfer) { r.OfficialName = long + "tail" },
			check: func(t *testing.T, got store.Transfer) {
				eq(t, "official name", got.OfficialName, long[:maxText])
			},
			note: "cut to 1024 bytes: official_name",
		},
		{
			name:   "NUL in the job",
			change: func(r *store.Transfer) { r.JobID = "job\x00" },
			check:  func(t *testing.T, got store.Transfer) { eq(t, "job", got.JobID, `job\x00`) },
			note:   escapedAs + "job_id",
		},
		{
			name: "NUL and invalid UTF-8 in the SCSP request",
			change: func(r *store.Transfer) {
				r.SCSPRequestID, r.SCSPSolicitudID = "PONT\x00-\x00", "SOL-\xff\xfe"
			},
			check: func(t *testing.T, got store.Transfer) {
				eq(t, "scsp request", got.SCSPRequestID, `PONT\x00-\x00`)
				eq(t, "scsp solicitud", got.SCSPSolicitudID, `SOL-\xff\xfe`)
			},
			note:   escapedAs + "scsp_request_id, scsp_solicitud_id",
			filter: store.Filter{SCSPRequestID: "PONT\x00-\x00"},
		},
		{
			name:   "very long requester with NUL",
			change: func(r *store.Transfer) { r.RequesterOrg = "\x00" + long },
			check: func(t *testing.T, got store.Transfer) {
				eq(t, "requester", got.RequesterOrg, `\x00`+long[:maxText-2])
			},
			note:   escapedAs + "requester; cut to 1024 bytes: requester",
			filter: store.Filter{Requester: "\x00" + long},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := 100 * (i + 1)
			bad := full(n, base.Add(time.Duration(i)*time.Second))
			bad.Reasons = nil
			c.change(&bad)
			given := bad.Reasons
			// Good records around it, in the same batch.
			mustAppend(t, s, full(n+1, base), bad, full(n+2, base))
			for _, good := range []int{n + 1, n + 2} {
				got, err := s.GetTransfer(ctx, id(good))
				if err != nil {
					t.Fatalf("good record of the batch: %v", err)
				}
				checkEqual(t, "good record", got, full(good, base))
			}
			got, err := s.GetTransfer(ctx, id(n))
			if err != nil {
				t.Fatalf("GetTransfer: %v", err)
			}
			c.check(t, got)
			if len(got.Reasons) != len(given)+1 {
				t.Fatalf("reasons %q: want those given and the store's", got.Reasons)
			}
			last := got.Reasons[len(got.Reasons)-1]
			eq(t, "store's reason code", last.Code, store.ReasonAltered)
			eq(t, "store's reason", last.Message, altered+c.note)
			if c.filter != (store.Filter{}) {
				p, err := s.SearchTransfers(ctx, c.filter)
				if err != nil {
					t.Fatalf("search with the raw values: %v", err)
				}
				if len(p.Items) != 1 || p.Items[0].ID != id(n) {
					t.Errorf("search with the raw values found %v, want [%s]", ids(p.Items), id(n))
				}
			}
		})
	}
	t.Run("lookups with unstorable values", func(t *testing.T) {
		for _, v := range []string{"\x00", "a\xff", "\xed\xa0\x80", strings.Repeat("\x00", 3*maxText)} {
			if _, err := s.GetTransfer(ctx, v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetTransfer(%q): err = %v, want ErrNotFound", v, err)
			}
			if _, err := s.GetConsent(ctx, v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetConsent(%q): err = %v, want ErrNotFound", v, err)
			}
			if _, err := s.FindObjection(ctx, alice, v, v); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindObjection(%q): err = %v, want ErrNotFound", v, err)
			}
			if _, err := s.RevokeConsent(ctx, v, v, base); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("RevokeConsent(%q): err = %v, want ErrNotFound", v, err)
			}
			if _, err := s.SearchTransfers(ctx, store.Filter{Official: v, After: &store.Cursor{Time: base, ID: v}}); err != nil {
				t.Errorf("search for %q: %v", v, err)
			}
		}
	})
	t.Run("citizens' records with unstorable values", func(t *testing.T) {
		c := openConsent(900, "X\x00", base)
		c.Services = []string{"padro", "x\xff"}
		mustCreateConsent(t, s, c)
		got := getConsent(t, s, id(900))
		eq(t, "consent subject", got.Subject, `X\x00`)
		if len(got.Services) != 2 || got.Services[1] != `x\xff` {
			t.Errorf("consent services %q, want [padro x\\xff]", got.Services)
		}
		if cs := listConsents(t, s, "X\x00"); len(cs) != 1 {
			t.Errorf("ListConsents with the raw subject: %d consents, want 1", len(cs))
		}
		o := mustCreateObjection(t, s, objection(901, alice, "x\x00", "", base))
		eq(t, "objection service", o.Service, `x\x00`)
		if _, err := s.FindObjection(ctx, alice, "x\x00", "DEMO"); err != nil {
			t.Errorf("FindObjection with the raw service: %v", err)
		}
	})
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
