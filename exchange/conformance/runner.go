package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// maxTimeout is the longest deadline a case may give its call: the host's
// own ceiling for an adapter's limit.
const maxTimeout = 30 * time.Second

// Config configures a Runner.
type Config struct {
	// Catalog holds the services and their schemas. Required.
	Catalog *catalog.Catalog
	// Values are the adapter's configuration values (a suite's Config);
	// a key the manifest does not declare is refused.
	Values map[string]string
	// Timeout, when positive, is the deadline of every call whose case
	// gives none; the adapter's own limit applies when it is shorter.
	Timeout time.Duration
	// CacheDir keeps the compiled module across runs; "" compiles anew.
	CacheDir string
}

// Runner runs cases against one adapter module: the module loaded once in
// a real wasmhost, with its pool, as a broker runs it, and one recorded
// source that every connection of the adapter reaches. Cases run one at a
// time.
type Runner struct {
	cfg     Config
	host    *wasmhost.Host
	adapter *wasmhost.Adapter
	src     *source
	logs    *logCapture
	schemas map[string]*jsonschema.Schema
	mu      sync.Mutex // one case at a time: the source serves one case
}

// New loads the module (with its manifest embedded) into a new host.
func New(ctx context.Context, wasm []byte, cfg Config) (*Runner, error) {
	if cfg.Catalog == nil {
		return nil, errors.New("conformance: no catalog")
	}
	if cfg.Timeout > maxTimeout {
		return nil, fmt.Errorf("conformance: a deadline of %s is over the host's ceiling of %s", cfg.Timeout, maxTimeout)
	}
	r := &Runner{cfg: cfg, src: startSource(), logs: &logCapture{}, schemas: map[string]*jsonschema.Schema{}}
	host, err := wasmhost.New(ctx, wasmhost.Config{
		CacheDir:   cfg.CacheDir,
		HTTPClient: r.src.client,
		Logger:     r.logs.logger(),
	})
	if err != nil {
		r.src.close()
		return nil, err
	}
	r.host = host
	if r.adapter, err = host.Load(ctx, wasm, cfg.Values); err != nil {
		_ = host.Close(ctx)
		r.src.close()
		return nil, err
	}
	return r, nil
}

// Manifest returns the module's manifest.
func (r *Runner) Manifest() manifest.Manifest { return r.adapter.Manifest() }

// Limits returns the limits the host applies to the module: the host's
// defaults, what the manifest asks for, within the host's maxima.
func (r *Runner) Limits() wasmhost.Limits { return r.adapter.Limits() }

// SHA256 returns the hex SHA-256 of the module, its manifest included.
func (r *Runner) SHA256() string { return r.adapter.SHA256() }

// Close unloads the module and stops the recorded source.
func (r *Runner) Close(ctx context.Context) error {
	err := r.adapter.Close(ctx)
	if herr := r.host.Close(ctx); err == nil {
		err = herr
	}
	r.src.close()
	return err
}

// Outcome is what the requester would get from one call.
type Outcome struct {
	// Data is the data the adapter answered, kept also when it breaks the
	// schema (Error is then adapter_failed).
	Data json.RawMessage
	// Error is the problem code, "" for data that passes the schema.
	Error fault.Code
	// Message is the problem's message, with the host's cause of a
	// failure.
	Message string
	// Violations are where the data breaks the schema.
	Violations []Violation
}

func (o Outcome) String() string {
	if o.Error == "" {
		return "data " + show(o.Data)
	}
	return fmt.Sprintf("error %s: %s", o.Error, o.Message)
}

// Result is one case's run.
type Result struct {
	// Case is the case's name.
	Case string
	// Pass is true when the case passed.
	Pass bool
	// Problems say why it did not, one sentence each.
	Problems []string
	// Called is false when the case was refused before any call (a query
	// the broker would never pass to this adapter).
	Called bool
	// Got is the outcome of the call.
	Got Outcome
	// Requests are the requests the adapter made, in order.
	Requests []Request
	// Logs are the lines the adapter and the host logged during the call.
	Logs []string
	// Deadline is the call's deadline; Elapsed how long it took.
	Deadline, Elapsed time.Duration
}

// Run runs one case: it checks that the broker would pass the query to this
// adapter, calls the adapter with the case's recorded answers behind its
// http_call, classifies the answer as the broker does (data checked against
// the service's answer schema) and compares the outcome, and the requests
// made, with the case.
func (r *Runner) Run(ctx context.Context, c Case) Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := Result{Case: c.Name}
	svc, params, problems := r.admit(c.Query)
	if len(problems) > 0 {
		res.Problems = problems
		return res
	}
	res.Called = true
	res.Deadline = r.adapter.Limits().Timeout
	if d := r.deadline(c); d > 0 && d < res.Deadline {
		res.Deadline = d
	}
	callCtx, cancel := context.WithTimeout(ctx, res.Deadline)
	defer cancel()

	r.src.start(c.Source)
	r.logs.reset()
	start := time.Now()
	data, err := r.adapter.Call(callCtx, abi.Input{
		TransferID: uuid.Must(uuid.NewV7()).String(),
		Service:    c.Query.Service,
		Purpose:    c.Query.Purpose,
		Requester:  c.Query.Requester,
		Procedure:  c.Query.Procedure,
		Subject:    c.Query.Subject,
		Params:     params,
	})
	res.Elapsed = time.Since(start)
	var unused []int
	res.Requests, unused = r.src.finish()
	res.Got = r.classify(svc, data, err)
	if late := callCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil; late && answered(res.Got) {
		// ABI.md 4.2: when the deadline passes during http_call, the host
		// ends the call and the requester gets adapter_timeout; a host
		// that still lets the adapter answer (as it did before that
		// rule) must not make the case pass or fail on a race.
		res.Got = Outcome{Error: fault.AdapterTimeout, Message: fmt.Sprintf(
			"the call's deadline of %s passed before the adapter answered (ABI.md 4.2: the host ends such a call); the host let it answer %s",
			res.Deadline, res.Got)}
	}
	res.Logs = r.logs.take()

	res.Problems = append(res.Problems, compare(c.Expect, res.Got)...)
	for _, q := range res.Requests {
		if q.Answer < 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("the adapter asked %s %s, and the case has no recorded answer left for it", q.Method, q.URL))
		}
	}
	for _, i := range unused {
		what := fmt.Sprintf("source[%d]", i)
		if req := c.Source[i].Request; req != "" {
			what += " (" + req + ")"
		}
		res.Problems = append(res.Problems, fmt.Sprintf("%s was never served: the adapter made %d request(s)", what, len(res.Requests)))
	}
	res.Pass = len(res.Problems) == 0
	return res
}

// answered reports whether o is the adapter's own answer (data, or an
// error answer), rather than a failure the host decided.
func answered(o Outcome) bool {
	switch o.Error {
	case "", fault.SubjectNotFound, fault.SourceUnavailable, fault.InvalidRequest:
		return true
	}
	return o.Data != nil // data the schema check refused
}

// deadline is the case's own deadline, or the runner's.
func (r *Runner) deadline(c Case) time.Duration {
	if c.TimeoutMS > 0 {
		return time.Duration(c.TimeoutMS) * time.Millisecond
	}
	return r.cfg.Timeout
}

// admit checks the query as the broker would before calling the adapter:
// a service of the catalog and of the manifest, a purpose the service
// allows, params that pass its schema and a routing key that leads to this
// adapter's scope. It returns the service and the params to pass.
func (r *Runner) admit(q Query) (*catalog.Service, json.RawMessage, []string) {
	m := r.adapter.Manifest()
	svc, ok := r.cfg.Catalog.Service(q.Service)
	if !ok {
		return nil, nil, []string{fmt.Sprintf("query.service: the catalog has no service %q (it has %s)", q.Service, strings.Join(r.cfg.Catalog.ServiceNames(), ", "))}
	}
	var problems []string
	if !slices.Contains(m.Services, q.Service) {
		problems = append(problems, fmt.Sprintf("query.service: the adapter's manifest does not serve %s (it serves %s)", q.Service, strings.Join(m.Services, ", ")))
	}
	if _, ok := svc.Purposes[q.Purpose]; !ok {
		allowed := make([]string, 0, len(svc.Purposes))
		for p := range svc.Purposes {
			allowed = append(allowed, p)
		}
		slices.Sort(allowed)
		problems = append(problems, fmt.Sprintf("query.purpose: service %s does not serve purpose %q (it serves %s)", q.Service, q.Purpose, strings.Join(allowed, ", ")))
	}
	params := q.Params
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	obj, err := decode(params)
	if err != nil {
		return nil, nil, append(problems, "query.params: "+err.Error())
	}
	pm, _ := obj.(map[string]any) // ParseCase checked it is an object
	for _, f := range svc.ValidateParams(pm) {
		problems = append(problems, fmt.Sprintf("query.%s: %s (the broker refuses such a query before any adapter sees it)", f.Field, f.Message))
	}
	if key := svc.RoutingKey; key != "" && m.Scope != catalog.AnyScope {
		if v, _ := pm[key].(string); v != m.Scope {
			problems = append(problems, fmt.Sprintf("query.params.%s: %s, and the adapter's scope is %s: the broker would route the query to another adapter", key, show(pm[key]), m.Scope))
		}
	}
	return svc, params, problems
}

// classify turns the adapter's answer into what the requester would get,
// as the broker's pipeline does: the host's fault codes as they are, data
// that breaks the answer schema as adapter_failed.
func (r *Runner) classify(svc *catalog.Service, data json.RawMessage, err error) Outcome {
	if err != nil {
		var fe *fault.Error
		if !errors.As(err, &fe) {
			return Outcome{Error: fault.Internal, Message: err.Error()}
		}
		msg := fe.Message
		if fe.Code == fault.AdapterFailed && fe.Err != nil {
			// The first line of the cause says what failed (a trap, an
			// exit); the rest is a stack trace of numbered functions.
			cause, _, _ := strings.Cut(fe.Err.Error(), "\n")
			msg += ": " + cause
		}
		return Outcome{Error: fe.Code, Message: msg}
	}
	out := Outcome{Data: data}
	verdict := svc.ValidateAnswer(data)
	if verdict == nil {
		return out
	}
	out.Error = fault.AdapterFailed
	out.Message = fmt.Sprintf("the data breaks the %s answer schema", svc.Name)
	sch, err := r.schema(svc)
	if err == nil {
		out.Violations = violations(sch, data)
	}
	if len(out.Violations) == 0 {
		// The catalog's verdict stands; its message names what it saw.
		out.Violations = []Violation{{Message: verdict.Error()}}
	}
	return out
}

func (r *Runner) schema(svc *catalog.Service) (*jsonschema.Schema, error) {
	if sch, ok := r.schemas[svc.Name]; ok {
		return sch, nil
	}
	sch, err := compileAnswer(svc.Name, svc.Answer)
	if err != nil {
		return nil, err
	}
	r.schemas[svc.Name] = sch
	return sch, nil
}

// compare lists how got falls short of want.
func compare(want Expect, got Outcome) []string {
	var problems []string
	switch {
	case want.Data != nil || want.ValidData:
		what := "data that passes the schema"
		if want.Data != nil {
			what = "the case's data"
		}
		switch {
		case got.Error == fault.AdapterFailed && got.Data != nil:
			problems = append(problems, fmt.Sprintf("want %s, got data that breaks the schema:", what))
			for _, v := range got.Violations {
				problems = append(problems, "  "+v.String())
			}
		case got.Error != "":
			problems = append(problems, fmt.Sprintf("want %s, got %s", what, got))
		}
		if want.Data != nil && got.Data != nil {
			w, _ := decode(want.Data) // ParseCase read it
			g, err := decode(got.Data)
			if err != nil {
				problems = append(problems, "the data is not JSON: "+err.Error())
				break
			}
			if diff := differences(g, w); len(diff) > 0 {
				problems = append(problems, "the data differs from the case's:")
				for _, d := range diff {
					problems = append(problems, "  "+d)
				}
			}
		}
	default:
		if got.Error != want.Error {
			problems = append(problems, fmt.Sprintf("want error %s, got %s", want.Error, got))
			if len(got.Violations) > 0 {
				for _, v := range got.Violations {
					problems = append(problems, "  "+v.String())
				}
			}
			return problems
		}
		if want.MessageContains != "" && !strings.Contains(got.Message, want.MessageContains) {
			problems = append(problems, fmt.Sprintf("want a message containing %q, got %q", want.MessageContains, got.Message))
		}
		if want.Violations != nil {
			var at []string
			for _, v := range got.Violations {
				at = append(at, v.Pointer)
			}
			at = slices.Compact(at)
			if !slices.Equal(at, want.Violations) {
				problems = append(problems, fmt.Sprintf("want the data to break the schema at %s, got:", strings.Join(quoted(want.Violations), ", ")))
				if len(got.Violations) == 0 {
					problems = append(problems, "  no violation: "+got.String())
				}
				for _, v := range got.Violations {
					problems = append(problems, "  "+v.String())
				}
			}
		}
	}
	return problems
}

func quoted(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// logCapture keeps the lines the host logs, the adapter's included, for
// the report of the case under way.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logCapture) logger() *slog.Logger {
	return slog.New(skipRequestLines{slog.NewTextHandler(l, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		// The report names the adapter once, and the time is the case's.
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "adapter", "adapter_version":
				return slog.Attr{}
			}
			return a
		},
	})})
}

// skipRequestLines drops the host's debug line about each http_call: the
// report lists the requests from the source's side already.
type skipRequestLines struct{ slog.Handler }

func (h skipRequestLines) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelDebug && r.Message == "adapter http_call" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h skipRequestLines) WithAttrs(attrs []slog.Attr) slog.Handler {
	return skipRequestLines{h.Handler.WithAttrs(attrs)}
}

func (h skipRequestLines) WithGroup(name string) slog.Handler {
	return skipRequestLines{h.Handler.WithGroup(name)}
}

func (l *logCapture) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}

func (l *logCapture) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimRight(l.buf.String(), "\n")
	l.buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
