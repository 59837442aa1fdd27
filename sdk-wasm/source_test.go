//go:build !wasip1

package sdk_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/jsonread"
	"github.com/pontexchange/pont/sdk-wasm/sdktest"
)

// register is the source of the tests and the example: the path's last
// segment is the status it answers, 200 with a record, or "broken" for a
// record cut short.
func register() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		last := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		status, err := strconv.Atoi(last)
		switch {
		case last == "broken":
			fmt.Fprint(w, `{"grado": `)
		case err != nil:
			http.Error(w, "no such path", http.StatusBadRequest)
		case status == http.StatusOK:
			fmt.Fprint(w, `{"grado": 45}`)
		default:
			w.WriteHeader(status)
		}
	}))
}

// disability is an adapter that reads its register's record with
// sdk.Source.
func disability(r *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	src := sdk.Source{Name: "the disability register", NotFound: "no disability is recorded for the subject"}
	body, err := src.Get(base + "/reconocimientos/" + r.Param("status"))
	if err != nil {
		return nil, err
	}
	rd := jsonread.New(body)
	var degree int64
	rd.Object(func(key []byte) {
		if string(key) == "grado" {
			degree = rd.Int()
			return
		}
		rd.Skip()
	})
	if err := rd.End(); err != nil {
		return nil, src.Unreadable(err)
	}
	return (&sdk.Object{}).Int("degree", degree), nil
}

func TestSource(t *testing.T) {
	srv := register()
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	sdk.Handle(disability)
	tests := []struct {
		name   string
		status string
		// base is the configured source_url; "" configures none.
		base    string
		allowed string
		// want is the answer, or its start when it ends with a space.
		want string
	}{
		{"200 answers the record", "200", srv.URL + "/", srv.URL,
			`{"data":{"degree":45}}`},
		{"404 is subject_not_found", "404", srv.URL, srv.URL,
			`{"error":{"code":"subject_not_found","message":"no disability is recorded for the subject"}}`},
		{"5xx: the source is down", "503", srv.URL, srv.URL,
			`{"error":{"code":"source_unavailable","message":"the disability register answered HTTP 503"}}`},
		{"other statuses: the source refused", "403", srv.URL, srv.URL,
			`{"error":{"code":"source_unavailable","message":"the disability register refused the query with HTTP 403"}}`},
		{"another 2xx is no record", "204", srv.URL, srv.URL,
			`{"error":{"code":"source_unavailable","message":"the disability register refused the query with HTTP 204"}}`},
		{"a body the adapter cannot read", "broken", srv.URL, srv.URL,
			`{"error":{"code":"source_unavailable","message":"the disability register answered something unreadable: at byte `},
		{"unreachable", "200", closed.URL, closed.URL,
			`{"error":{"code":"source_unavailable","message":"the disability register could not be reached: http network: `},
		{"refused by the host", "200", srv.URL, "http://elsewhere.test",
			`{"error":{"code":"source_unavailable","message":"the disability register could not be reached: http host_not_allowed: `},
		{"no source_url", "200", "", srv.URL,
			`{"error":{"code":"misconfigured","message":"the adapter has no source_url configured"}}`},
		{"a source_url that is no URL", "200", "padro.example.org/api", srv.URL,
			`{"error":{"code":"misconfigured","message":"source_url is not an absolute http(s) URL"}}`},
		{"a source_url of another scheme", "200", "ftp://padro.example.org", srv.URL,
			`{"error":{"code":"misconfigured","message":"source_url is not an absolute http(s) URL"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kit := sdktest.New(t, sdktest.Options{
				Config:       map[string]string{"source_url": tt.base},
				AllowedHosts: []string{tt.allowed},
			})
			got := string(kit.Call(sdktest.Input{Service: "discapacitat", Params: map[string]any{"status": tt.status}}))
			if got != tt.want && !(strings.HasSuffix(tt.want, " ") && strings.HasPrefix(got, tt.want)) {
				t.Errorf("answer\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// street is an adapter that answers the street name of its source's record.
func street(r *sdk.Request) (any, error) {
	base, err := sdk.BaseURL("source_url")
	if err != nil {
		return nil, err
	}
	src := sdk.Source{Name: "the padró system", NotFound: "not registered"}
	body, err := src.Get(base + "/" + r.Param("encoding"))
	if err != nil {
		return nil, err
	}
	rd := jsonread.New(body)
	var name string
	rd.Object(func(key []byte) {
		if string(key) == "nom_via" {
			name = rd.String()
			return
		}
		rd.Skip()
	})
	if err := rd.End(); err != nil {
		return nil, src.Unreadable(err)
	}
	return (&sdk.Object{}).String("street_name", name), nil
}

// Source.Get hands the adapter its source's record as UTF-8, whatever
// charset the source declared, through the same http_call JSON as in the
// broker (sdktest encodes it with the host's code).
func TestSourceGetDecodesTheCharset(t *testing.T) {
	record := func(charset, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ct := "application/json"
			if charset != "" {
				ct += "; charset=" + charset
			}
			w.Header().Set("Content-Type", ct)
			fmt.Fprint(w, body)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/utf-8", record("", `{"nom_via":"Plaça de Sant Jaume"}`))
	mux.Handle("/latin1", record("ISO-8859-1", "{\"nom_via\":\"Pla\xe7a de Sant Jaume\"}"))
	mux.Handle("/cp1252", record("windows-1252", "{\"nom_via\":\"Pla\xe7a d\x92en \x80\"}"))
	mux.Handle("/latin9", record("iso-8859-15", "{\"nom_via\":\"Pla\xe7a \xa4\"}"))
	mux.Handle("/undeclared", record("", "{\"nom_via\":\"Pla\xe7a\"}"))
	mux.Handle("/sjis", record("Shift_JIS", `{"nom_via":"x"}`))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sdk.Handle(street)
	tests := []struct{ encoding, want string }{
		{"utf-8", `{"data":{"street_name":"Plaça de Sant Jaume"}}`},
		{"latin1", `{"data":{"street_name":"Plaça de Sant Jaume"}}`},
		{"cp1252", `{"data":{"street_name":"Plaça d’en €"}}`},
		{"latin9", `{"data":{"street_name":"Plaça €"}}`},
		{"undeclared", `{"error":{"code":"source_unavailable","message":"the padró system answered text the adapter cannot read: the body is not valid UTF-8, and the source declared no charset"}}`},
		{"sjis", `{"error":{"code":"source_unavailable","message":"the padró system answered text the adapter cannot read: the source's charset \"shift_jis\" is not one the SDK decodes (utf-8, us-ascii, iso-8859-1, windows-1252, iso-8859-15)"}}`},
	}
	kit := sdktest.New(t, sdktest.Options{Config: map[string]string{"source_url": srv.URL}, AllowedHosts: []string{srv.URL}})
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			got := string(kit.Call(sdktest.Input{Service: "padro", Params: map[string]any{"encoding": tt.encoding}}))
			if got != tt.want {
				t.Errorf("answer\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestSourceUnreadable(t *testing.T) {
	src := sdk.Source{Name: "the padró system"}
	err := src.Unreadable(fmt.Errorf("at byte 3: want a string"))
	e, ok := err.(*sdk.Error)
	if !ok || e.Code != sdk.CodeSourceUnavailable || e.Message != "the padró system answered something unreadable: at byte 3: want a string" {
		t.Errorf("Unreadable = %#v", err)
	}
	// A % in a message is text, not a verb.
	src.NotFound = "100% sure: nobody"
	if e, ok := src.SubjectNotFound().(*sdk.Error); !ok || e.Code != sdk.CodeSubjectNotFound || e.Message != src.NotFound {
		t.Errorf("SubjectNotFound = %#v", e)
	}
}

// printer is a TB for the example, which has no *testing.T.
type printer struct{}

func (printer) Helper()                           {}
func (printer) Logf(format string, args ...any)   {}
func (printer) Errorf(format string, args ...any) { fmt.Printf("error: "+format+"\n", args...) }
func (printer) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// An adapter GETs its source's record with Source.Get and returns any error
// as it is: a 404 answers subject_not_found with the Source's message,
// other failures source_unavailable naming the source. The handler here is
// disability, above:
//
//	src := sdk.Source{Name: "the disability register", NotFound: "no disability is recorded for the subject"}
//	body, err := src.Get(base + "/reconocimientos/" + id)
//	if err != nil {
//		return nil, err
//	}
func ExampleSource_Get() {
	srv := register()
	defer srv.Close()
	sdk.Handle(disability)
	kit := sdktest.New(printer{}, sdktest.Options{
		Config:       map[string]string{"source_url": srv.URL},
		AllowedHosts: []string{srv.URL},
	})
	for _, status := range []string{"200", "404", "502"} {
		fmt.Printf("%s\n", kit.Call(sdktest.Input{Service: "discapacitat", Params: map[string]any{"status": status}}))
	}
	// Output:
	// {"data":{"degree":45}}
	// {"error":{"code":"subject_not_found","message":"no disability is recorded for the subject"}}
	// {"error":{"code":"source_unavailable","message":"the disability register answered HTTP 502"}}
}
