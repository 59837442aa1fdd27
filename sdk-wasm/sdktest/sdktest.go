//go:build !wasip1

package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// Options configure a Kit.
type Options struct {
	// Config are the values of the manifest's config keys; config_get of any
	// other key finds nothing, as in the broker.
	Config map[string]string
	// AllowedHosts are the manifest's allowed_hosts (scheme://host[:port]);
	// Fetch to any other origin, or a redirect to one, fails with
	// host_not_allowed.
	AllowedHosts []string
	// Timeout is each call's deadline for Fetch. Defaults to 2 s, the
	// broker's default. As in the broker, a deadline that passes during a
	// Fetch stops the call: Call fails the test, CallErr returns
	// ErrDeadline.
	Timeout time.Duration
	// MaxHTTPResponseBytes caps a response body. Defaults to 4 MiB, the
	// broker's default.
	MaxHTTPResponseBytes int
	// Client sends the requests. Defaults to a client with no timeout of
	// its own (the call's deadline bounds it). A client's Timeout stands
	// for the broker's own limit on one request: a request that exceeds it
	// while the call has time left fails with HTTPTimeout, and the handler
	// goes on.
	Client *http.Client
}

// Input is one query. Empty context fields take test values.
type Input struct {
	TransferID string
	Service    string
	Purpose    string
	Requester  string
	Procedure  string
	Subject    sdk.Subject
	// Params are encoded with encoding/json.
	Params map[string]any
}

// TB is the part of testing.TB a Kit uses; a *testing.T is one.
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

var _ TB = testing.TB(nil)

// Kit runs the registered handler.
type Kit struct {
	t       TB
	opts    Options
	allowed map[string]bool
	client  *http.Client

	mu   sync.Mutex
	logs []string
	ctx  context.Context // the call under way
}

// New returns a Kit for the test t. A malformed allowed host fails the test.
func New(t TB, opts Options) *Kit {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.MaxHTTPResponseBytes <= 0 {
		opts.MaxHTTPResponseBytes = 4 << 20
	}
	k := &Kit{t: t, opts: opts, allowed: map[string]bool{}}
	for _, h := range opts.AllowedHosts {
		u, err := url.Parse(h)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
			t.Fatalf("sdktest: allowed host %q is not scheme://host[:port]", h)
		}
		o, err := origin(u)
		if err != nil {
			t.Fatalf("sdktest: allowed host %q: %v", h, err)
		}
		k.allowed[o] = true
	}
	base := opts.Client
	if base == nil {
		base = &http.Client{}
	}
	c := *base
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if !k.allows(req.URL) {
			return &refusal{url: req.URL.String()}
		}
		return nil
	}
	k.client = &c
	return k
}

// ErrDeadline is CallErr's error for a call whose deadline passed while the
// handler waited in Fetch. The broker stops such a call there (ABI.md 4.2):
// the handler gets no result and no chance to answer, and the requester
// gets adapter_timeout.
var ErrDeadline = errors.New("sdktest: the call's deadline passed during Fetch; the broker stops the call there (adapter_timeout)")

// deadlineStop is the panic that ends the handler at its deadline, as the
// broker's host ends the guest's call.
type deadlineStop struct{}

// Call runs the handler on the query and returns the answer JSON. An answer
// that the broker would refuse as broken (adapter_failed) fails the test; a
// panic of the handler, or a deadline that passes during a Fetch, fails it
// too and Call returns nil.
func (k *Kit) Call(in Input) []byte {
	k.t.Helper()
	out, err := k.CallErr(in)
	if err != nil {
		k.t.Errorf("%v", err)
		return nil
	}
	return out
}

// CallErr is Call for a test that expects the deadline to stop the call: it
// returns ErrDeadline then, instead of failing the test. A broken answer or
// a panic fails the test as with Call.
func (k *Kit) CallErr(in Input) ([]byte, error) {
	k.t.Helper()
	input, err := k.encode(in)
	if err != nil {
		k.t.Fatalf("sdktest: encoding the input: %v", err)
	}
	out, stopped := k.invoke(input)
	if stopped {
		return nil, ErrDeadline
	}
	if out == nil {
		return nil, nil
	}
	if _, err := ParseAnswer(out); err != nil {
		k.t.Errorf("sdktest: the broker would refuse this answer (adapter_failed): %v\nanswer: %s", err, out)
	}
	return out, nil
}

// CallRaw runs the handler on an input JSON, as the broker passes it, and
// returns the answer JSON unchecked; nil when the handler panicked or the
// deadline stopped it during a Fetch, which fails the test.
func (k *Kit) CallRaw(input []byte) []byte {
	k.t.Helper()
	out, stopped := k.invoke(input)
	if stopped {
		k.t.Errorf("%v", ErrDeadline)
	}
	return out
}

// invoke runs the handler on input with the call's deadline; stopped
// reports a deadline that passed during a Fetch.
func (k *Kit) invoke(input []byte) (out []byte, stopped bool) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), k.opts.Timeout)
	defer cancel()
	k.mu.Lock()
	k.ctx = ctx
	k.mu.Unlock()
	defer func() {
		r := recover()
		switch r.(type) {
		case nil:
		case deadlineStop:
			out, stopped = nil, true
		default:
			k.t.Errorf("sdktest: the handler panicked (in the broker: a trap, adapter_failed): %v", r)
			out = nil
		}
	}()
	return sdk.Invoke(host{k}, input), false
}

// Logs returns the messages logged so far, each "LEVEL message".
func (k *Kit) Logs() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.logs...)
}

func (k *Kit) encode(in Input) ([]byte, error) {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	params := json.RawMessage("{}")
	if in.Params != nil {
		var err error
		if params, err = json.Marshal(in.Params); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	return json.Marshal(abi.Input{
		ABI:        abi.Version,
		TransferID: def(in.TransferID, "00000000-0000-0000-0000-000000000001"),
		Service:    in.Service,
		Purpose:    def(in.Purpose, "test"),
		Requester:  def(in.Requester, "P0801900B"),
		Procedure:  def(in.Procedure, "TEST"),
		Subject:    in.Subject,
		Params:     params,
	})
}

func (k *Kit) allows(u *url.URL) bool {
	o, err := origin(u)
	return err == nil && k.allowed[o]
}

// Answer is a decoded answer JSON.
type Answer struct {
	// Data is the data object; nil for an error answer.
	Data json.RawMessage
	// Error is the error; nil for a data answer.
	Error *sdk.Error
}

// ParseAnswer decodes an answer JSON with the broker's rules: exactly one of
// data (an object) or error (with one of the ABI's codes, misconfigured
// included).
func ParseAnswer(answer []byte) (Answer, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(answer, &top); err != nil {
		return Answer{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if len(top) != 1 {
		return Answer{}, fmt.Errorf("has %d members; want exactly one, data or error", len(top))
	}
	if d, ok := top["data"]; ok {
		if t := bytes.TrimSpace(d); len(t) == 0 || t[0] != '{' {
			return Answer{}, errors.New("data is not a JSON object")
		}
		return Answer{Data: d}, nil
	}
	e, ok := top["error"]
	if !ok {
		return Answer{}, errors.New("has neither data nor error")
	}
	var ae sdk.Error
	if err := json.Unmarshal(e, &ae); err != nil {
		return Answer{}, fmt.Errorf("error is not {code, message}: %w", err)
	}
	switch ae.Code {
	case sdk.CodeSubjectNotFound, sdk.CodeSourceUnavailable, sdk.CodeInvalidParams, sdk.CodeMisconfigured:
		return Answer{Error: &ae}, nil
	}
	return Answer{}, fmt.Errorf("error code %q is not one of the ABI's (message: %s)", ae.Code, ae.Message)
}

// host is the Kit as an sdk.Host.
type host struct{ k *Kit }

var levels = map[sdk.Level]string{sdk.LevelDebug: "DEBUG", sdk.LevelInfo: "INFO", sdk.LevelWarn: "WARN", sdk.LevelError: "ERROR"}

func (h host) Log(level sdk.Level, msg string) {
	name, ok := levels[level]
	if !ok {
		name = "LEVEL" + strconv.Itoa(int(level))
	}
	h.k.mu.Lock()
	h.k.logs = append(h.k.logs, name+" "+msg)
	h.k.mu.Unlock()
	h.k.t.Logf("adapter log: %s %s", name, msg)
}

func (h host) ConfigGet(key string) (string, bool) {
	v, ok := h.k.opts.Config[key]
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

type refusal struct{ url string }

func (r *refusal) Error() string { return "redirect to " + r.url + " is not to an allowed host" }

func (h host) HTTPCall(request []byte) []byte {
	k := h.k
	var req abi.HTTPRequest
	if err := json.Unmarshal(request, &req); err != nil {
		return httpError(sdk.HTTPBadRequest, "the request is not JSON: "+err.Error())
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Host == "" {
		return httpError(sdk.HTTPBadRequest, fmt.Sprintf("%q is not an absolute URL", req.URL))
	}
	if !k.allows(u) {
		return httpError(sdk.HTTPHostNotAllowed, fmt.Sprintf("%s is not in the manifest's allowed_hosts", u.Redacted()))
	}
	var body io.Reader
	if req.Body != nil {
		body = strings.NewReader(*req.Body)
	}
	k.mu.Lock()
	ctx := k.ctx
	k.mu.Unlock()
	hr, err := http.NewRequestWithContext(ctx, req.Method, u.String(), body)
	if err != nil {
		return httpError(sdk.HTTPBadRequest, err.Error())
	}
	for name, v := range req.Headers {
		hr.Header.Set(name, v)
	}
	resp, err := k.client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			panic(deadlineStop{})
		}
		var ref *refusal
		var ne net.Error
		switch {
		case errors.As(err, &ref):
			return httpError(sdk.HTTPHostNotAllowed, ref.Error())
		case errors.As(err, &ne) && ne.Timeout():
			return httpError(sdk.HTTPTimeout, "the request took longer than the host allows one request (the call still had time)")
		default:
			return httpError(sdk.HTTPNetwork, err.Error())
		}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(k.opts.MaxHTTPResponseBytes)+1))
	if err != nil {
		if ctx.Err() != nil {
			panic(deadlineStop{})
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return httpError(sdk.HTTPTimeout, "the request took longer than the host allows one request (the call still had time)")
		}
		return httpError(sdk.HTTPNetwork, err.Error())
	}
	if len(data) > k.opts.MaxHTTPResponseBytes {
		return httpError(sdk.HTTPTooLarge, fmt.Sprintf("the response body exceeds %d bytes", k.opts.MaxHTTPResponseBytes))
	}
	headers := make(map[string]string, len(resp.Header))
	for name, vs := range resp.Header {
		if len(vs) > 0 {
			headers[name] = vs[0]
		}
	}
	// The broker's own encoding: the body's bytes unchanged, in body or
	// body_base64, and the declared charset.
	out, _ := json.Marshal(abi.NewHTTPResponse(resp.StatusCode, headers, data))
	return out
}

func httpError(code, msg string) []byte {
	out, _ := json.Marshal(abi.HTTPFailure{Error: abi.Error{Code: code, Message: msg}})
	return out
}

// origin is the canonical scheme://host:port of u, the broker's rule.
func origin(u *url.URL) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	port := map[string]string{"http": "80", "https": "443"}[scheme]
	if port == "" {
		return "", fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("port %q is not 1-65535", p)
		}
		port = strconv.Itoa(n)
	}
	if u.Hostname() == "" {
		return "", errors.New("no host")
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}
