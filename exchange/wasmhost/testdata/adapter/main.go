// Command adapter is the test adapter of package wasmhost: one module whose
// behaviour each call picks with params.behave, so that the tests compile a
// single module.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdk "github.com/pontexchange/pont/sdk-wasm"
)

func main() {}

func init() { sdk.Handle(handle) }

// initValue is read while the instance starts (_initialize), to show that
// config_get works there too.
var initValue, initFound = sdk.Config("source_url")

// initFetch is what an http_call made while the instance starts gets, when
// the config key init_fetch names a URL: the host refuses it.
var initFetch = fetchAtInit()

func fetchAtInit() string {
	u, ok := sdk.Config("init_fetch")
	if !ok {
		return ""
	}
	if _, err := sdk.Get(u); err != nil {
		var he *sdk.HTTPError
		if errors.As(err, &he) {
			return he.Code
		}
		return err.Error()
	}
	return "sent"
}

var (
	sink    [][]byte
	counter int
)

func handle(r *sdk.Request) (any, error) {
	switch b := r.Param("behave"); b {
	case "ok", "":
		o := &sdk.Object{}
		return o.String("transfer_id", r.TransferID).
			String("service", r.Service).
			String("purpose", r.Purpose).
			String("requester", r.Requester).
			String("procedure", r.Procedure).
			String("id_type", r.Subject.IDType).
			String("id", r.Subject.ID).
			String("name", r.Subject.Name).
			String("municipality", r.Param("municipality")), nil
	case "reflect":
		return map[string]any{"subject": r.Subject, "params": r.Params}, nil
	case "trap":
		panic("the test adapter panics on purpose")
	case "loop":
		for i := 0; ; i++ {
			counter += i
		}
	case "sleep":
		ms, _ := strconv.Atoi(r.Param("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return (&sdk.Object{}).String("slept", r.Param("ms")), nil
	case "garbage":
		return json.RawMessage(`{"data":`), nil
	case "array":
		return json.RawMessage(`[1,2,3]`), nil
	case "big":
		n, _ := strconv.Atoi(r.Param("size"))
		return (&sdk.Object{}).String("pad", strings.Repeat("x", n)), nil
	case "alloc":
		mb, _ := strconv.Atoi(r.Param("mb"))
		for range mb {
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
			sink = append(sink, b)
		}
		n := len(sink)
		sink = nil
		return (&sdk.Object{}).Int("allocated_mb", int64(n)), nil
	case "fetch":
		req := sdk.HTTPRequest{Method: r.Param("method"), URL: r.Param("url"), Header: map[string]string{"Accept": "application/json"}}
		if h := r.Param("headers"); h != "" {
			if err := json.Unmarshal([]byte(h), &req.Header); err != nil {
				return nil, sdk.InvalidParams("headers: %v", err)
			}
		}
		if body := r.Param("body"); body != "" {
			req.Body = []byte(body)
		}
		resp, err := sdk.Fetch(req)
		if err != nil {
			var he *sdk.HTTPError
			if errors.As(err, &he) {
				return (&sdk.Object{}).String("http_error", he.Code).String("message", he.Message), nil
			}
			return nil, err
		}
		o := (&sdk.Object{}).Int("status", int64(resp.Status)).
			String("content_type", resp.Header["Content-Type"]).
			String("body", string(resp.Body)).
			String("body_hex", hex.EncodeToString(resp.Body)).
			String("charset", resp.Charset)
		if text, err := resp.Text(); err != nil {
			o.String("text_error", err.Error())
		} else {
			o.String("text", text)
		}
		return o, nil
	case "source":
		// The usual adapter: its source's failures, a timeout included,
		// become its source_unavailable answer.
		src := sdk.Source{Name: "the test source", NotFound: "no record"}
		body, err := src.Get(r.Param("url"))
		if err != nil {
			return nil, err
		}
		return (&sdk.Object{}).String("body", string(body)), nil
	case "raw":
		return rawABI(r.Param("probe"))
	case "init_fetch":
		return (&sdk.Object{}).String("init_fetch", initFetch), nil
	case "config":
		v, ok := sdk.Config(r.Param("key"))
		return (&sdk.Object{}).String("value", v).Bool("found", ok).
			String("init_value", initValue).Bool("init_found", initFound), nil
	case "log":
		sdk.Log(sdk.LevelWarn, "warning from the adapter")
		fmt.Println("a line on stdout")
		return (&sdk.Object{}).Bool("logged", true), nil
	case "spam":
		n, _ := strconv.Atoi(r.Param("n"))
		for i := range n {
			if i%2 == 0 {
				sdk.Logf(sdk.LevelInfo, "spam line %d", i)
			} else {
				fmt.Printf("spam stdout %d\n", i)
			}
		}
		return (&sdk.Object{}).Int("lines", int64(n)), nil
	case "refused":
		// Calls a host the manifest does not allow, n times in one call.
		n, _ := strconv.Atoi(r.Param("n"))
		refused := 0
		for range n {
			_, err := sdk.Fetch(sdk.HTTPRequest{URL: "http://evil.pont.test/steal"})
			var he *sdk.HTTPError
			if errors.As(err, &he) && he.Code == sdk.HTTPHostNotAllowed {
				refused++
			}
		}
		return (&sdk.Object{}).Int("refused", int64(refused)), nil
	case "error":
		switch c := r.Param("code"); c {
		case "subject_not_found":
			return nil, sdk.SubjectNotFound("no record for this subject")
		case "source_unavailable":
			return nil, sdk.SourceUnavailable("the source answered 503")
		case "invalid_params":
			return nil, sdk.InvalidParams("municipality: %q is not served here", r.Param("municipality"))
		case "misconfigured":
			return nil, sdk.Misconfigured("the adapter has no source_url configured")
		case "plain":
			return nil, errors.New("a plain failure")
		default:
			return nil, &sdk.Error{Code: c, Message: "an invented code"}
		}
	default:
		return nil, sdk.InvalidParams("behave: unknown %q", b)
	}
}
