// Package adaptertest is the one test suite every reference adapter runs:
// the adapter, natively under sdktest, against its real simulated source on
// an httptest server, with its answers checked against the real catalog
// schema. It changes when the fixtures' contract (plugins/README.md) or the
// adapters' expected behaviour changes.
package adaptertest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/plugins/internal/simsource"
	sdk "github.com/pontexchange/pont/sdk-wasm"
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
}

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
	kit := func(opts sdktest.Options) *sdktest.Kit {
		if opts.Config == nil {
			opts.Config = map[string]string{"source_url": srv.URL}
		}
		if opts.AllowedHosts == nil {
			opts.AllowedHosts = []string{srv.URL}
		}
		return sdktest.New(t, opts)
	}
	call := func(k *sdktest.Kit, id string) sdktest.Answer {
		t.Helper()
		out := k.Call(sdktest.Input{
			Service: s.Service, Purpose: "demo", Procedure: "DEMO",
			Subject: sdk.Subject{IDType: idType(id), ID: id},
			Params:  s.Params,
		})
		a, err := sdktest.ParseAnswer(out)
		if err != nil {
			t.Fatalf("answer %s: %v", out, err)
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
		a := call(kit(sdktest.Options{}), s.Found)
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
		wantError(t, call(kit(sdktest.Options{}), Unknown), sdk.CodeSubjectNotFound, "")
	})
	t.Run("broken record fails the schema", func(t *testing.T) {
		a := call(kit(sdktest.Options{}), simsource.BrokenSubject)
		if a.Error != nil {
			t.Fatalf("error %s: %s; want the record passed through", a.Error.Code, a.Error.Message)
		}
		if err := svc.ValidateAnswer(a.Data); err == nil {
			t.Fatalf("the broken record passes the catalog schema: %s", a.Data)
		}
	})
	t.Run("source in maintenance", func(t *testing.T) {
		wantError(t, call(kit(sdktest.Options{}), simsource.DownSubject), sdk.CodeSourceUnavailable, "503")
	})
	t.Run("slow source hits the deadline", func(t *testing.T) {
		start := time.Now()
		wantError(t, call(kit(sdktest.Options{Timeout: 300 * time.Millisecond}), simsource.SlowSubject), sdk.CodeSourceUnavailable, sdk.HTTPTimeout)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the call took %v; the deadline is 300ms", d)
		}
	})
	t.Run("source down", func(t *testing.T) {
		down := httptest.NewServer(s.Source)
		down.Close()
		k := kit(sdktest.Options{Config: map[string]string{"source_url": down.URL}, AllowedHosts: []string{down.URL}})
		wantError(t, call(k, s.Found), sdk.CodeSourceUnavailable, sdk.HTTPNetwork)
	})
	t.Run("host not allowed", func(t *testing.T) {
		k := kit(sdktest.Options{AllowedHosts: []string{"http://elsewhere.sources.pont.test"}})
		wantError(t, call(k, s.Found), sdk.CodeSourceUnavailable, sdk.HTTPHostNotAllowed)
	})
	t.Run("no source_url", func(t *testing.T) {
		k := kit(sdktest.Options{Config: map[string]string{}})
		wantError(t, call(k, s.Found), sdk.CodeSourceUnavailable, "source_url")
	})
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
