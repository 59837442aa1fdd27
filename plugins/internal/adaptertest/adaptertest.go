// Package adaptertest is the one test suite every reference adapter runs:
// the adapter, natively under sdktest (Go adapters) or as a Wasm module in
// the real wasmhost (any adapter, whatever its language), against its real
// simulated source on an httptest server, with its answers checked against
// the real catalog schema. It changes when the fixtures' contract
// (plugins/README.md) or the adapters' expected behaviour changes.
package adaptertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/plugins/internal/simsource"
	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/abi"
	"github.com/pontexchange/pont/sdk-wasm/sdktest"
)

// Fixture subjects shared by every source (plugins/README.md).
const (
	// Known has a record in every source.
	Known = "12345678Z"
	// Unknown is a valid DNI that no source knows.
	Unknown = "00000000T"
)

// Suite describes one adapter deployment under test.
type Suite struct {
	// Service is the catalog service the adapter answers.
	Service string
	// Source is the simulated source, already built for the scope.
	Source http.Handler
	// Params are valid params of the service for this scope.
	Params map[string]any
	// Found is a subject the source knows; defaults to Known.
	Found string
	// WantFound is the exact data the adapter must answer for Found.
	WantFound string
	// Module, when set, is the adapter's Wasm module with its manifest: the
	// suite then runs it in the real wasmhost instead of running the Go
	// handler natively. Each case's allowed hosts are embedded in a copy of
	// its manifest, its config is the module's config and its deadline the
	// host's.
	Module []byte

	// cacheDir is the compilation cache that the hosts of one Run share,
	// so that a module is compiled once for its cases, not once a case.
	cacheDir string
}

// options are one case's capabilities: what sdktest.Options say natively.
type options struct {
	Config       map[string]string
	AllowedHosts []string
	Timeout      time.Duration
}

// caller runs one query and returns the answer, or the host's failure for a
// module (adapter_timeout, adapter_failed).
type caller func(t *testing.T, opts options, in sdktest.Input) (sdktest.Answer, error)

// Run runs every case of the suite as a subtest.
func (s Suite) Run(t *testing.T) {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatalf("catalog: %v", err)
	}
	svc, ok := cat.Service(s.Service)
	if !ok {
		t.Fatalf("the catalog has no service %s", s.Service)
	}
	if s.Found == "" {
		s.Found = Known
	}
	srv := httptest.NewServer(s.Source)
	t.Cleanup(srv.Close)
	var run caller = native
	if s.Module != nil {
		s.cacheDir = t.TempDir()
		run = s.inHost
	}
	type kitT struct{ opts options }
	kit := func(opts options) kitT {
		if opts.Config == nil {
			opts.Config = map[string]string{"source_url": srv.URL}
		}
		if opts.AllowedHosts == nil {
			opts.AllowedHosts = []string{srv.URL}
		}
		return kitT{opts}
	}
	callErr := func(t *testing.T, k kitT, id string) (sdktest.Answer, error) {
		t.Helper()
		return run(t, k.opts, sdktest.Input{
			Service: s.Service, Purpose: "demo", Procedure: "DEMO",
			Subject: sdk.Subject{IDType: idType(id), ID: id},
			Params:  s.Params,
		})
	}
	call := func(t *testing.T, k kitT, id string) sdktest.Answer {
		t.Helper()
		a, err := callErr(t, k, id)
		if err != nil {
			t.Fatalf("call for %s: %v", id, err)
		}
		return a
	}
	wantError := func(t *testing.T, a sdktest.Answer, code, mention string) {
		t.Helper()
		if a.Error == nil {
			t.Fatalf("answer data %s, want error %s", a.Data, code)
		}
		if a.Error.Code != code || !strings.Contains(a.Error.Message, mention) {
			t.Fatalf("error = %s: %q, want %s mentioning %q", a.Error.Code, a.Error.Message, code, mention)
		}
	}

	t.Run("found", func(t *testing.T) {
		a := call(t, kit(options{}), s.Found)
		if a.Error != nil {
			t.Fatalf("error %s: %s", a.Error.Code, a.Error.Message)
		}
		if err := svc.ValidateAnswer(a.Data); err != nil {
			t.Fatalf("the answer breaks the catalog schema: %v\n%s", err, a.Data)
		}
		if s.WantFound != "" {
			assertJSONEqual(t, a.Data, s.WantFound)
		}
	})
	t.Run("not found", func(t *testing.T) {
		wantError(t, call(t, kit(options{}), Unknown), sdk.CodeSubjectNotFound, "")
	})
	t.Run("broken record fails the schema", func(t *testing.T) {
		a := call(t, kit(options{}), simsource.BrokenSubject)
		if a.Error != nil {
			t.Fatalf("error %s: %s; want the record passed through", a.Error.Code, a.Error.Message)
		}
		if err := svc.ValidateAnswer(a.Data); err == nil {
			t.Fatalf("the broken record passes the catalog schema: %s", a.Data)
		}
	})
	t.Run("source in maintenance", func(t *testing.T) {
		wantError(t, call(t, kit(options{}), simsource.DownSubject), sdk.CodeSourceUnavailable, "503")
	})
	t.Run("slow source hits the deadline", func(t *testing.T) {
		start := time.Now()
		k := kit(options{Timeout: 300 * time.Millisecond})
		// The host ends the whole call at the deadline (ABI.md 4.2), as
		// sdktest does natively: the adapter gets no chance to answer.
		if a, err := callErr(t, k, simsource.SlowSubject); fault.CodeOf(err) != fault.AdapterTimeout {
			t.Fatalf("call = %+v, %v; want adapter_timeout", a, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the call took %v; the deadline is 300ms", d)
		}
	})
	t.Run("source down", func(t *testing.T) {
		down := httptest.NewServer(s.Source)
		down.Close()
		k := kit(options{Config: map[string]string{"source_url": down.URL}, AllowedHosts: []string{down.URL}})
		wantError(t, call(t, k, s.Found), sdk.CodeSourceUnavailable, sdk.HTTPNetwork)
	})
	t.Run("host not allowed", func(t *testing.T) {
		k := kit(options{AllowedHosts: []string{"http://elsewhere.sources.pont.test"}})
		wantError(t, call(t, k, s.Found), sdk.CodeSourceUnavailable, sdk.HTTPHostNotAllowed)
	})
	t.Run("no source_url", func(t *testing.T) {
		k := kit(options{Config: map[string]string{}})
		wantError(t, call(t, k, s.Found), sdk.CodeMisconfigured, "source_url")
	})
	t.Run("source_url not a URL", func(t *testing.T) {
		k := kit(options{Config: map[string]string{"source_url": "padro.example.org/api"}})
		wantError(t, call(t, k, s.Found), sdk.CodeMisconfigured, "source_url")
	})
}

// native runs the registered Go handler under sdktest; a call that its
// deadline stopped is the broker's adapter_timeout.
func native(t *testing.T, opts options, in sdktest.Input) (sdktest.Answer, error) {
	t.Helper()
	k := sdktest.New(t, sdktest.Options{Config: opts.Config, AllowedHosts: opts.AllowedHosts, Timeout: opts.Timeout})
	out, err := k.CallErr(in)
	if errors.Is(err, sdktest.ErrDeadline) {
		return sdktest.Answer{}, fault.Wrap(fault.AdapterTimeout, err, "the call's deadline passed during Fetch")
	}
	a, err := sdktest.ParseAnswer(out)
	if err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	return a, nil
}

// inHost loads the module, its manifest's allowed hosts replaced by the
// case's, in a real wasmhost and makes one call. The adapter's own error
// answers come back as the Answer's error, with the ABI's code; the host's
// failures as the error.
func (s Suite) inHost(t *testing.T, opts options, in sdktest.Input) (sdktest.Answer, error) {
	t.Helper()
	ctx := context.Background()
	m, err := manifest.Read(s.Module)
	if err != nil {
		t.Fatalf("the module's manifest: %v", err)
	}
	m.AllowedHosts = opts.AllowedHosts
	wasm, err := manifest.Embed(s.Module, m)
	if err != nil {
		t.Fatalf("embedding the case's allowed hosts: %v", err)
	}
	h, err := wasmhost.New(ctx, wasmhost.Config{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Defaults: wasmhost.Limits{Timeout: opts.Timeout},
		CacheDir: s.cacheDir,
	})
	if err != nil {
		t.Fatalf("wasmhost: %v", err)
	}
	defer h.Close(ctx)
	a, err := h.Load(ctx, wasm, opts.Config)
	if err != nil {
		t.Fatalf("loading the module: %v", err)
	}
	defer a.Close(ctx)
	params := json.RawMessage("{}")
	if in.Params != nil {
		if params, err = json.Marshal(in.Params); err != nil {
			t.Fatal(err)
		}
	}
	data, err := a.Call(ctx, abi.Input{
		TransferID: "0199a000-0000-7000-8000-000000000001", Service: in.Service, Purpose: in.Purpose,
		Requester: "P0801900B", Procedure: in.Procedure,
		Subject: in.Subject,
		Params:  params,
	})
	if err == nil {
		return sdktest.Answer{Data: data}, nil
	}
	codes := map[fault.Code]string{
		fault.SubjectNotFound:   sdk.CodeSubjectNotFound,
		fault.SourceUnavailable: sdk.CodeSourceUnavailable,
		fault.InvalidRequest:    sdk.CodeInvalidParams,
		// The host's message is "adapter <name> is misconfigured: <the
		// adapter's>", which still names the key.
		fault.AdapterMisconfigured: sdk.CodeMisconfigured,
	}
	var fe *fault.Error
	if errors.As(err, &fe) {
		if code, ok := codes[fe.Code]; ok {
			return sdktest.Answer{Error: &sdk.Error{Code: code, Message: fe.Message}}, nil
		}
	}
	return sdktest.Answer{}, err
}

func idType(id string) string {
	if strings.ContainsAny(id[:1], "XYZ") {
		return "NIE"
	}
	return "DNI"
}

func assertJSONEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got: %v", err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("data\n got %s\nwant %s", gb, wb)
	}
}
