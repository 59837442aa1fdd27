package wasmhost_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

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
		for _, subject := range []struct{ name, id string }{{"found", "12345678Z"}, {"not_found", "00000000T"}} {
			in := abi.Input{
				TransferID: "7c1e0a52-0000-4000-8000-000000000001", Service: c.service, Purpose: "demo",
				Requester: "P0801900B", Procedure: "DEMO",
				Subject: abi.Subject{IDType: "DNI", ID: subject.id},
				Params:  json.RawMessage(c.params),
			}
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
