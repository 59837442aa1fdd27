package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// BenchmarkQuery measures a whole query inside one process, on the
// production store: the HTTP handler (token check, envelope, policy,
// routing, the reference adapter in Wasm calling its simulated source over
// loopback, answer check, minimisation, group-committed record on
// PostgreSQL), without the client's network stack. Run with -cpuprofile to
// see which layer dominates a request.
func BenchmarkQuery(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := postgres.New(ctx, postgres.Config{URL: pgtest.NewDatabase(b)})
	if err != nil {
		b.Fatalf("postgres.New: %v", err)
	}
	cfg := withDevParts(b, broker.Config{Store: st})
	br, err := broker.New(ctx, cfg)
	if err != nil {
		b.Fatalf("broker.New: %v", err)
	}
	defer br.Close(context.Background())
	token, err := cfg.DevIssuer.Mint(auth.Principal{Role: auth.RoleRequester, Org: barcelona}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	type req struct {
		path string
		body []byte
	}
	build := func(subject string) []req {
		var out []req
		for _, q := range allFive {
			env := envelope(subject, q.params)
			if q.basis != nil {
				env["legal_basis"] = q.basis
			}
			raw, err := json.Marshal(env)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, req{"/v1/services/" + q.service + "/queries", raw})
		}
		return out
	}
	for _, c := range []struct {
		name    string
		subject string
		want    int
	}{
		{"found", "12345678Z", http.StatusOK},
		{"subject_not_found", "00000000T", http.StatusNotFound},
	} {
		b.Run(c.name, func(b *testing.B) {
			reqs := build(c.subject)
			h := br.Handler()
			var next atomic.Uint64
			b.SetParallelism(8) // requests in flight per core, as under load
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := reqs[(next.Add(1)-1)%uint64(len(reqs))]
					hr := httptest.NewRequest(http.MethodPost, r.path, bytes.NewReader(r.body))
					hr.Header.Set("Content-Type", "application/json")
					hr.Header.Set("Authorization", "Bearer "+token)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, hr)
					if rec.Code != c.want {
						b.Errorf("%s: status %d, want %d: %s", r.path, rec.Code, c.want, rec.Body)
						return
					}
				}
			})
		})
	}
}
