package wasmhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/plugins"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// BenchmarkReferenceAdapter measures one call of each reference adapter as
// the broker makes it: a pooled instance of the real module, whose
// http_call reaches its simulated source over loopback, for a subject the
// source knows (the adapter decodes and maps the source's record) and one
// it does not (a 404, no record). This is the per-call adapter cost that
// make bench reports; BenchmarkCall is the same path with a minimal test
// adapter and no HTTP.
//
// Those calls run back to back, each finding the guest's code and memory
// in the processor's caches as the last call left them. The broker under
// load does not: between two calls of one adapter come the other adapters
// and its own work. The cold sub-benchmark measures that: see coldCalls.
func BenchmarkReferenceAdapter(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	if _, err := plugins.Build(ctx, dir); err != nil {
		b.Fatalf("building the reference adapters: %v", err)
	}
	cat, err := catalog.Default()
	if err != nil {
		b.Fatal(err)
	}
	h, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: filepath.Join(dir, "cache"), HTTPClient: sourcesClient(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	cases := []struct {
		service, adapter, params string
	}{
		{"padro", "padro-08019", `{"municipality":"08019"}`},
		{"titulacions", "titulacions", `{}`},
		{"discapacitat", "discapacitat-09", `{"region":"09"}`},
		{"familia-nombrosa", "familia-nombrosa-09", `{"region":"09"}`},
		{"prestacions", "prestacions", `{}`},
	}
	// The C port of the padró adapter, where clang built it, warm and in
	// the cold case: a guest without the Go runtime beside the others.
	if _, err := os.Stat(filepath.Join(dir, "padro-c-08019.wasm")); err == nil {
		cases = append(cases, struct{ service, adapter, params string }{"padro", "padro-c-08019", `{"municipality":"08019"}`})
	}
	var loaded []coldAdapter
	for _, c := range cases {
		svc, ok := cat.Service(c.service)
		if !ok {
			b.Fatalf("no service %s in the catalog", c.service)
		}
		wasm, err := os.ReadFile(filepath.Join(dir, c.adapter+".wasm"))
		if err != nil {
			b.Fatal(err)
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			b.Fatal(err)
		}
		config := svc.SourceConfig(m.Scope)
		a, err := h.Load(ctx, wasm, config)
		if err != nil {
			b.Fatalf("load %s: %v", c.adapter, err)
		}
		loaded = append(loaded, coldAdapter{name: c.adapter, adapter: a, found: referenceInput(c.service, c.params, "12345678Z"), notFound: referenceInput(c.service, c.params, "00000000T")})
		for _, subject := range []struct{ name, id string }{{"found", "12345678Z"}, {"not_found", "00000000T"}} {
			in := referenceInput(c.service, c.params, subject.id)
			b.Run(c.adapter+"/"+subject.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					_, err := a.Call(ctx, in)
					var f *fault.Error
					switch {
					case subject.name == "found" && err != nil:
						b.Fatalf("Call: %v", err)
					case subject.name == "not_found" && !(errors.As(err, &f) && f.Code == fault.SubjectNotFound):
						b.Fatalf("Call for an unknown subject: err = %v, want subject_not_found", err)
					}
				}
			})
		}
	}
	b.Run("cold", func(b *testing.B) { coldCalls(b, loaded) })
}

func referenceInput(service, params, subject string) abi.Input {
	return abi.Input{
		TransferID: "7c1e0a52-0000-4000-8000-000000000001", Service: service, Purpose: "demo",
		Requester: "P0801900B", Procedure: "DEMO",
		Subject: abi.Subject{IDType: "DNI", ID: subject},
		Params:  json.RawMessage(params),
	}
}

// coldAdapter is one adapter of the cold sub-benchmark, with the time its
// calls took.
type coldAdapter struct {
	name            string
	adapter         *wasmhost.Adapter
	found, notFound abi.Input
	calls           int
	took            time.Duration
}

// coldEviction is how much memory coldCalls writes over before each call:
// more than the processor's last-level cache here (32 MiB shared by the
// machine's cores, of which a process sees a part), and about what the
// broker's other work touches between two calls of one adapter under load.
const coldEviction = 8 << 20

// coldCalls calls the adapters in turn, the next one each time, for a
// subject its source does not know five times in six (the mix of make
// bench), and before each call, off the clock, writes over coldEviction
// bytes, so that the guest starts with little of its code and memory in the
// caches, as in the broker under load. ns/op is a call of the mix; each
// adapter's own mean goes out as a metric (<adapter>-µs/call). With warm
// caches (the sub-benchmarks above) a Go adapter's not-found call took a
// third of what it takes here: this is the figure that matches the guest's
// share of pont serve's CPU under load.
func coldCalls(b *testing.B, adapters []coldAdapter) {
	ctx := context.Background()
	evict := make([]byte, coldEviction)
	for i := range adapters {
		adapters[i].calls, adapters[i].took = 0, 0
	}
	n := 0
	for b.Loop() {
		b.StopTimer()
		for j := 0; j < len(evict); j += 64 {
			evict[j]++
		}
		a := &adapters[n%len(adapters)]
		in, wantFound := a.notFound, false
		if (n/len(adapters))%6 == 0 {
			in, wantFound = a.found, true
		}
		n++
		b.StartTimer()
		start := time.Now()
		_, err := a.adapter.Call(ctx, in)
		a.took += time.Since(start)
		a.calls++
		var f *fault.Error
		switch {
		case wantFound && err != nil:
			b.Fatalf("%s: Call: %v", a.name, err)
		case !wantFound && !(errors.As(err, &f) && f.Code == fault.SubjectNotFound):
			b.Fatalf("%s: Call for an unknown subject: err = %v, want subject_not_found", a.name, err)
		}
	}
	for _, a := range adapters {
		if a.calls > 0 {
			b.ReportMetric(float64(a.took.Microseconds())/float64(a.calls), a.name+"-µs/call")
		}
	}
}

// sourcesClient serves the simulated sources on a loopback port and
// answers a client that sends every *.sources.pont.test host there.
func sourcesClient(b *testing.B) *http.Client {
	devnet, err := plugins.StartDevNetwork()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnet.Close() })
	return devnet.Client
}
