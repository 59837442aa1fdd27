//go:build !wasip1

package sdktest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/sdktest"
)

// padro is a small adapter: it asks its source for the subject's
// registration and answers it, or subject_not_found.
func padro(r *sdk.Request) (any, error) {
	base, ok := sdk.Config("source_url")
	if !ok {
		return nil, sdk.SourceUnavailable("source_url is not configured")
	}
	if r.Param("municipality") == "" {
		return nil, sdk.InvalidParams("municipality: is required")
	}
	resp, err := sdk.Get(base + "/habitants/" + r.Subject.ID)
	if err != nil {
		return nil, err
	}
	switch resp.Status {
	case http.StatusOK:
		sdk.Log(sdk.LevelInfo, "found")
		return json.RawMessage(resp.Body), nil
	case http.StatusNotFound:
		return nil, sdk.SubjectNotFound("no inhabitant with this id")
	default:
		return nil, sdk.SourceUnavailable("the source answered %d", resp.Status)
	}
}

func source() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/habitants/12345678Z":
			fmt.Fprint(w, `{"municipality":"08019","since":"2015-03-02"}`)
		case "/habitants/00000000T":
			http.Redirect(w, r, "http://elsewhere.test/steal", http.StatusFound)
		case "/habitants/11111111H":
			time.Sleep(300 * time.Millisecond)
		default:
			http.NotFound(w, r)
		}
	}))
}

func TestKit(t *testing.T) {
	src := source()
	defer src.Close()
	sdk.Handle(padro)

	tests := []struct {
		name    string
		opts    sdktest.Options
		id      string
		params  map[string]any
		want    string
		wantErr string
	}{
		{"found", sdktest.Options{}, "12345678Z", nil, `{"data":{"municipality":"08019","since":"2015-03-02"}}`, ""},
		{"not found", sdktest.Options{}, "99999999R", nil, "", "subject_not_found"},
		{"missing param", sdktest.Options{}, "12345678Z", map[string]any{"municipality": ""}, "", "invalid_params"},
		{"no config", sdktest.Options{Config: map[string]string{}}, "12345678Z", nil, "", "source_unavailable"},
		{"host not allowed", sdktest.Options{AllowedHosts: []string{"http://other.test"}}, "12345678Z", nil, "", "host_not_allowed"},
		{"redirect off the allowed hosts", sdktest.Options{}, "00000000T", nil, "", "host_not_allowed"},
		// The host's own limit on one request, while the call has time:
		// the adapter gets timeout and answers.
		{"request over the host's limit", sdktest.Options{Client: &http.Client{Timeout: 50 * time.Millisecond}}, "11111111H", nil, "", "timeout"},
		{"too large", sdktest.Options{MaxHTTPResponseBytes: 10}, "12345678Z", nil, "", "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Config == nil {
				opts.Config = map[string]string{"source_url": src.URL}
			}
			if opts.AllowedHosts == nil {
				opts.AllowedHosts = []string{src.URL}
			}
			kit := sdktest.New(t, opts)
			params := tt.params
			if params == nil {
				params = map[string]any{"municipality": "08019"}
			}
			got := kit.Call(sdktest.Input{Service: "padro", Subject: sdk.Subject{IDType: "DNI", ID: tt.id}, Params: params})
			a, err := sdktest.ParseAnswer(got)
			if err != nil {
				t.Fatalf("ParseAnswer(%s): %v", got, err)
			}
			if tt.wantErr == "" {
				if string(got) != tt.want {
					t.Errorf("answer = %s, want %s", got, tt.want)
				}
				return
			}
			if a.Error == nil || !strings.Contains(a.Error.Code+" "+a.Error.Message, tt.wantErr) {
				t.Errorf("answer = %s, want an error mentioning %s", got, tt.wantErr)
			}
		})
	}
}

// As in the broker, a deadline that passes during a Fetch stops the call:
// the handler gets no result to answer with.
func TestKitStopsTheCallAtItsDeadline(t *testing.T) {
	src := source()
	defer src.Close()
	answered := false
	sdk.Handle(func(r *sdk.Request) (any, error) {
		_, err := sdk.Get(src.URL + "/habitants/11111111H")
		answered = true
		return nil, sdk.SourceUnavailable("the source did not answer: %v", err)
	})
	opts := sdktest.Options{Config: map[string]string{"source_url": src.URL}, AllowedHosts: []string{src.URL}, Timeout: 50 * time.Millisecond}
	start := time.Now()
	out, err := sdktest.New(t, opts).CallErr(sdktest.Input{Service: "padro"})
	if !errors.Is(err, sdktest.ErrDeadline) || out != nil {
		t.Fatalf("CallErr = %s, %v; want ErrDeadline", out, err)
	}
	if answered {
		t.Error("the handler went on after its deadline")
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("the call took %s with a 50ms deadline", d)
	}

	// Call reports the stop as a failure of the test.
	rec := &recorder{TB: t}
	if out := sdktest.New(rec, opts).Call(sdktest.Input{Service: "padro"}); out != nil || len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "adapter_timeout") {
		t.Errorf("Call = %s, reported %q; want nil and one failure naming adapter_timeout", out, rec.errors)
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		answer string
		ok     bool
	}{
		{`{"data":{}}`, true},
		{`{"error":{"code":"invalid_params","message":"x"}}`, true},
		{`{"error":{"code":"misconfigured","message":"the adapter has no source_url configured"}}`, true},
		{`{"data":[]}`, false},
		{`{"data":{},"error":{}}`, false},
		{`{"error":{"code":"oops","message":"x"}}`, false},
		{`{}`, false},
		{`nope`, false},
	}
	for _, tt := range tests {
		t.Run(tt.answer, func(t *testing.T) {
			_, err := sdktest.ParseAnswer([]byte(tt.answer))
			if (err == nil) != tt.ok {
				t.Errorf("ParseAnswer = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// recorder is a TB that records failures instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestKitReportsBrokenAnswersAndPanics(t *testing.T) {
	tests := []struct {
		name    string
		handler func(*sdk.Request) (any, error)
		want    string
	}{
		{"array data", func(*sdk.Request) (any, error) { return json.RawMessage(`[1]`), nil }, "not a JSON object"},
		{"invented code", func(*sdk.Request) (any, error) { return nil, &sdk.Error{Code: "nope"} }, `"nope"`},
		{"panic", func(*sdk.Request) (any, error) { panic("boom") }, "panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdk.Handle(tt.handler)
			rec := &recorder{TB: t}
			sdktest.New(rec, sdktest.Options{}).Call(sdktest.Input{})
			if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], tt.want) {
				t.Errorf("kit reported %q, want one failure mentioning %q", rec.errors, tt.want)
			}
		})
	}
}

// printer is a TB for the example, which has no *testing.T.
type printer struct{}

func (printer) Helper()                           {}
func (printer) Logf(format string, args ...any)   {}
func (printer) Errorf(format string, args ...any) { fmt.Printf("error: "+format+"\n", args...) }
func (printer) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// An adapter's test runs its handler against a simulated source. In a real
// test, pass the *testing.T to sdktest.New, and register the handler once in
// the adapter's init.
func Example() {
	src := source()
	defer src.Close()
	sdk.Handle(padro)

	kit := sdktest.New(printer{}, sdktest.Options{
		Config:       map[string]string{"source_url": src.URL},
		AllowedHosts: []string{src.URL},
	})
	subject := sdk.Subject{IDType: "DNI", ID: "12345678Z"}
	fmt.Printf("%s\n", kit.Call(sdktest.Input{Service: "padro", Subject: subject, Params: map[string]any{"municipality": "08019"}}))
	fmt.Println(kit.Logs())

	subject.ID = "99999999R"
	fmt.Printf("%s\n", kit.Call(sdktest.Input{Service: "padro", Subject: subject, Params: map[string]any{"municipality": "08019"}}))
	// Output:
	// {"data":{"municipality":"08019","since":"2015-03-02"}}
	// [INFO found]
	// {"error":{"code":"subject_not_found","message":"no inhabitant with this id"}}
}
