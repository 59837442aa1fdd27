package citizens_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/store/sqlite"
)

var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// newService runs the service on a real embedded store, with a clock that
// the test moves.
func newService(t *testing.T) (*citizens.Service, *time.Time) {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := now
	s, err := citizens.New(citizens.Config{Catalog: cat, Store: st, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return s, &clock
}

func validConsent() citizens.ConsentRequest {
	return citizens.ConsentRequest{
		Requester: "P0801900B", Procedure: "DEMO", Services: []string{"padro"}, Purpose: "demo",
		ExpiresAt: now.Add(30 * 24 * time.Hour).Format(time.RFC3339),
	}
}

func TestCreateConsentNamesEveryWrongField(t *testing.T) {
	s, _ := newService(t)
	cases := []struct {
		name   string
		edit   func(*citizens.ConsentRequest)
		code   fault.Code
		fields []string
	}{
		{"valid", func(*citizens.ConsentRequest) {}, "", nil},
		{"another's name", func(r *citizens.ConsentRequest) { r.Subject = "12345678Z" }, fault.Forbidden, nil},
		{"nothing", func(r *citizens.ConsentRequest) { *r = citizens.ConsentRequest{} }, fault.InvalidRequest,
			[]string{"expires_at", "procedure", "purpose", "requester", "services"}},
		{"unknown organisation", func(r *citizens.ConsentRequest) { r.Requester = "Q0000000J" }, fault.InvalidRequest, []string{"requester"}},
		{"procedure of another organisation", func(r *citizens.ConsentRequest) { r.Procedure = "RGC" }, fault.InvalidRequest, []string{"procedure"}},
		{"unknown and repeated services", func(r *citizens.ConsentRequest) { r.Services = []string{"padro", "cadastre", "padro"} }, fault.InvalidRequest, []string{"services[1]", "services[2]"}},
		{"too many services", func(r *citizens.ConsentRequest) {
			r.Services = slices.Repeat([]string{"padro"}, citizens.MaxServices+1)
		}, fault.InvalidRequest, []string{"services"}},
		{"unknown purpose", func(r *citizens.ConsentRequest) { r.Purpose = "curiosity" }, fault.InvalidRequest, []string{"purpose"}},
		{"a purpose the procedure does not have", func(r *citizens.ConsentRequest) { r.Purpose = "social-benefits" }, fault.InvalidRequest, []string{"purpose"}},
		{"a service the procedure does not consult", func(r *citizens.ConsentRequest) {
			r.Procedure, r.Purpose, r.Services = "BONIF-IBI", "tax-reduction", []string{"padro", "prestacions"}
		}, fault.InvalidRequest, []string{"services[1]"}},
		{"procedure in another case", func(r *citizens.ConsentRequest) { r.Procedure = "demo" }, "", nil},
		{"expiry in the past by the service's clock", func(r *citizens.ConsentRequest) { r.ExpiresAt = now.Add(-time.Second).Format(time.RFC3339) }, fault.InvalidRequest, []string{"expires_at"}},
		{"expiry too far", func(r *citizens.ConsentRequest) {
			r.ExpiresAt = now.Add(citizens.MaxConsentLife + time.Hour).Format(time.RFC3339)
		}, fault.InvalidRequest, []string{"expires_at"}},
		{"expiry not a time", func(r *citizens.ConsentRequest) { r.ExpiresAt = "next year" }, fault.InvalidRequest, []string{"expires_at"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := validConsent()
			c.edit(&req)
			got, err := s.CreateConsent(context.Background(), "67890123B", req)
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Subject != "67890123B" || !got.CreatedAt.Equal(now) || got.ID == "" || got.Procedure != strings.ToUpper(req.Procedure) {
					t.Errorf("consent %+v: not hers, or not stamped by the service's clock", got)
				}
				return
			}
			fe, ok := fault.As(err)
			if !ok || fe.Code != c.code {
				t.Fatalf("CreateConsent: %v, want %s", err, c.code)
			}
			var names []string
			for _, f := range fe.Fields {
				names = append(names, f.Field)
			}
			if !slices.Equal(names, c.fields) {
				t.Errorf("fields %v, want %v", names, c.fields)
			}
		})
	}
}

func TestRevokeStampsTheServiceClock(t *testing.T) {
	s, clock := newService(t)
	ctx := context.Background()
	c, err := s.CreateConsent(ctx, "67890123B", validConsent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeConsent(ctx, "12345678Z", c.ID); fault.CodeOf(err) != fault.NotFound {
		t.Errorf("another citizen revoked her consent: %v", err)
	}
	*clock = now.Add(time.Hour)
	got, err := s.RevokeConsent(ctx, "67890123B", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(now.Add(time.Hour)) {
		t.Errorf("revoked at %v, want the service's clock %v", got.RevokedAt, now.Add(time.Hour))
	}
}

func TestObjections(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	long := strings.Repeat("A", 21)
	cases := []struct {
		name  string
		req   citizens.ObjectionRequest
		code  fault.Code
		field string
	}{
		{"every procedure", citizens.ObjectionRequest{Service: "padro"}, "", ""},
		{"one procedure", citizens.ObjectionRequest{Service: "padro", Procedure: "AJUT-MENJADOR"}, "", ""},
		{"procedure in another case", citizens.ObjectionRequest{Service: "padro", Procedure: "demo"}, "", ""},
		{"procedure not in the catalog", citizens.ObjectionRequest{Service: "padro", Procedure: "NOPE"}, fault.InvalidRequest, "procedure"},
		{"procedure with a newline", citizens.ObjectionRequest{Service: "padro", Procedure: "DE\nMO"}, fault.InvalidRequest, "procedure"},
		{"procedure as a formula", citizens.ObjectionRequest{Service: "padro", Procedure: "=1+1"}, fault.InvalidRequest, "procedure"},
		{"procedure that does not consult the service", citizens.ObjectionRequest{Service: "titulacions", Procedure: "AJUT-MENJADOR"}, fault.InvalidRequest, "procedure"},
		{"another's name", citizens.ObjectionRequest{Subject: "12345678Z", Service: "padro"}, fault.Forbidden, ""},
		{"no service", citizens.ObjectionRequest{}, fault.InvalidRequest, "service"},
		{"unknown service", citizens.ObjectionRequest{Service: "cadastre"}, fault.InvalidRequest, "service"},
		{"procedure too long", citizens.ObjectionRequest{Service: "padro", Procedure: long}, fault.InvalidRequest, "procedure"},
		{"procedure with a NUL byte", citizens.ObjectionRequest{Service: "padro", Procedure: "A\x00B"}, fault.InvalidRequest, "procedure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := s.CreateObjection(ctx, "67890123B", c.req)
			if c.code == "" {
				if err != nil || o.Subject != "67890123B" || !o.CreatedAt.Equal(now) {
					t.Fatalf("CreateObjection: %+v, %v", o, err)
				}
				if c.req.Procedure != "" && o.Procedure != strings.ToUpper(c.req.Procedure) {
					t.Errorf("procedure stored as %q, not in the catalog's spelling", o.Procedure)
				}
				return
			}
			fe, ok := fault.As(err)
			if !ok || fe.Code != c.code || (c.field != "" && (len(fe.Fields) != 1 || fe.Fields[0].Field != c.field)) {
				t.Fatalf("CreateObjection: %v, want %s naming %q", err, c.code, c.field)
			}
		})
	}
	for _, id := range []string{"", "no-such-id", "bad\x00id", strings.Repeat("x", 1000), "\xff"} {
		if err := s.DeleteObjection(ctx, "67890123B", id); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("DeleteObjection(%q): %v, want not_found", id, err)
		}
	}
}
