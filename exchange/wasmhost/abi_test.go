package wasmhost

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
)

// The tests of this file hold the host to what sdk-wasm/ABI.md says of
// http_call, read, config_get and pont_alloc, with the test adapter (a Go
// guest, through the SDK and around it) and hand-built modules.

// A source's body reaches the guest byte for byte, whatever its charset,
// with the charset it declared; the SDK's Text decodes it.
func TestHTTPCallKeepsTheBodysBytes(t *testing.T) {
	h, _ := newHost(t, Config{})
	a := load(t, h, nil)
	tests := []struct {
		path     string
		raw      string
		charset  string
		text     string
		textFail string // a part of Text's error
	}{
		{"/latin1", "{\"nom_via\":\"Pla\xe7a de Sant Jaume\"}", "iso-8859-1", `{"nom_via":"Plaça de Sant Jaume"}`, ""},
		{"/utf8", "Plaça \xef\xbf\xbd", "utf-8", "Plaça \ufffd", ""},
		{"/json", `{"host":"source.pont.test","accept":"application/json"}`, "", `{"host":"source.pont.test","accept":"application/json"}`, ""},
		{"/undeclared", "\x1f\x8b\x08\x00\xff\xfe", "", "", "declared no charset"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			params, _ := json.Marshal(map[string]string{"behave": "fetch", "url": sourceOrigin + tt.path})
			got := call(t, a, string(params))
			if got["http_error"] != nil {
				t.Fatalf("http_error %v: %v", got["http_error"], got["message"])
			}
			if got["body_hex"] != hex.EncodeToString([]byte(tt.raw)) {
				raw, _ := hex.DecodeString(got["body_hex"].(string))
				t.Errorf("the guest read %q, the source sent %q", raw, tt.raw)
			}
			if got["charset"] != tt.charset {
				t.Errorf("charset = %q, want %q", got["charset"], tt.charset)
			}
			if tt.textFail != "" {
				if msg, _ := got["text_error"].(string); !strings.Contains(msg, tt.textFail) {
					t.Errorf("Text() error = %q, want one containing %q", msg, tt.textFail)
				}
				return
			}
			if got["text"] != tt.text || got["text_error"] != nil {
				t.Errorf("Text() = %q (error %v), want %q", got["text"], got["text_error"], tt.text)
			}
		})
	}
}

// ABI.md 4.2: the guest's headers go as given, but Host is always the
// URL's (a guest must not reach another virtual host than the one its
// manifest allows), and User-Agent is the client's unless the guest sets
// one.
func TestHTTPCallHeaders(t *testing.T) {
	h, _ := newHost(t, Config{})
	a := load(t, h, nil)
	tests := []struct {
		headers map[string]string
		want    map[string]string
	}{
		{map[string]string{"X-Test": "1"}, map[string]string{"host": "source.pont.test", "user_agent": "Go-http-client/1.1", "x_test": "1"}},
		{map[string]string{"Host": "evil.pont.test", "User-Agent": "padro-adapter/1.0"}, map[string]string{"host": "source.pont.test", "user_agent": "padro-adapter/1.0"}},
	}
	for _, tt := range tests {
		hdr, _ := json.Marshal(tt.headers)
		params, _ := json.Marshal(map[string]any{"behave": "fetch", "url": sourceOrigin + "/headers", "headers": json.RawMessage(hdr)})
		got := call(t, a, string(params))
		var seen map[string]string
		if err := json.Unmarshal([]byte(got["text"].(string)), &seen); err != nil {
			t.Fatalf("the source's echo %v: %v", got, err)
		}
		for k, v := range tt.want {
			if seen[k] != v {
				t.Errorf("headers %v: the source saw %s %q, want %q", tt.headers, k, seen[k], v)
			}
		}
	}
}

// ABI.md 4.2: when the call's deadline passes during http_call, the host
// stops the call and the requester gets adapter_timeout, whatever the guest
// would have answered; a request that exceeds the host's own limit for one
// request while the call has time left gets the timeout code, and the
// guest answers.
func TestDeadlineDuringHTTPCall(t *testing.T) {
	slow := func(behave string) string {
		p, _ := json.Marshal(map[string]string{"behave": behave, "url": sourceOrigin + "/slow"})
		return string(p)
	}

	t.Run("the call's deadline stops the call", func(t *testing.T) {
		const deadline = 300 * time.Millisecond
		h, logs := newHost(t, Config{Defaults: Limits{Timeout: deadline, PoolMin: 1, PoolMax: 1}})
		a := load(t, h, nil)
		// "source" answers source_unavailable on any failure of its
		// source; "fetch" answers the failure as data.
		for _, behave := range []string{"source", "fetch"} {
			start := time.Now()
			data, err := a.Call(context.Background(), query(slow(behave)))
			elapsed := time.Since(start)
			if fault.CodeOf(err) != fault.AdapterTimeout {
				t.Fatalf("%s: Call = %s, %v; want adapter_timeout", behave, data, err)
			}
			if elapsed > deadline+time.Second {
				t.Errorf("%s: the call took %s with a %s deadline", behave, elapsed, deadline)
			}
			call(t, a, `{"behave":"ok"}`) // the instance was replaced
		}
		if s := a.Stats(); s.Calls["source_unavailable"] != 0 || s.Calls["adapter_timeout"] != 2 {
			t.Errorf("calls by outcome %v, want 2 adapter_timeout and no source_unavailable", s.Calls)
		}
		if !strings.Contains(logs.String(), `"msg":"adapter http_call stopped: the call's deadline passed"`) ||
			!strings.Contains(logs.String(), `"origin":"http://source.pont.test:80"`) {
			t.Errorf("the log does not say which origin the call was stopped on:\n%s", logs)
		}
	})

	t.Run("the host's limit for one request", func(t *testing.T) {
		client := devClient()
		client.Timeout = 100 * time.Millisecond
		h, _ := newHost(t, Config{HTTPClient: client, Defaults: Limits{Timeout: 5 * time.Second}})
		a := load(t, h, nil)
		start := time.Now()
		got := call(t, a, slow("fetch"))
		if got["http_error"] != "timeout" {
			t.Errorf("fetch = %v, want http_error timeout", got)
		}
		_, err := a.Call(context.Background(), query(slow("source")))
		if fe, ok := fault.As(err); !ok || fe.Code != fault.SourceUnavailable || !strings.Contains(fe.Message, "http timeout") {
			t.Errorf("source = %v, want the adapter's source_unavailable naming the timeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("two requests limited to 100ms took %s", d)
		}
	})
}

// ABI.md 4.2 and 4.4: what http_call, read and config_get return for what
// the SDK never sends.
func TestImportResults(t *testing.T) {
	h, logs := newHost(t, Config{})
	a := load(t, h, map[string]string{"source_url": "http://source.pont.test"})
	tests := []struct {
		probe string
		want  map[string]any
		// bytes is a part of the result http_call gave, read back.
		bytes string
	}{
		{"http_call outside memory", map[string]any{}, `{"error":{"code":"bad_request","message":"the request is outside the module's memory"}}`},
		{"http_call not json", map[string]any{}, `{"error":{"code":"bad_request","message":"the request is not the ABI's JSON`},
		{"read twice", map[string]any{"read_again": float64(-1)}, ""},
		{"read outside memory", map[string]any{"read": float64(-1), "read_again": float64(-1)}, ""},
		{"read unknown handle", map[string]any{"read": float64(-1)}, ""},
		{"config_get undeclared", map[string]any{"result": float64(-1)}, ""},
		{"config_get outside memory", map[string]any{"result": float64(-1)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.probe, func(t *testing.T) {
			got := call(t, a, fmt.Sprintf(`{"behave":"raw","probe":%q}`, tt.probe))
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
			if strings.HasPrefix(tt.probe, "http_call") || (strings.HasPrefix(tt.probe, "read ") && tt.probe != "read unknown handle") {
				// http_call always answers a handle: never -1, never
				// handle 0, never an empty result.
				if r, _ := got["result"].(float64); r <= 0 || got["handle"] == float64(0) || got["length"] == float64(0) {
					t.Errorf("http_call returned %v (handle %v, length %v), want a handle to a result", got["result"], got["handle"], got["length"])
				}
			}
			if tt.bytes != "" {
				if b, _ := got["bytes"].(string); !strings.HasPrefix(b, tt.bytes) || float64(len(b)) != got["length"] || got["read"] != got["length"] {
					t.Errorf("read %q (%v of %v bytes), want a result starting %s", b, got["read"], got["length"], tt.bytes)
				}
			}
		})
	}
	// The two refused requests are logged, without what the guest sent.
	if n := strings.Count(logs.String(), `"msg":"adapter http_call refused"`); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, logs)
	}
}

// read of a zero-length handle writes nothing, whatever the pointer, and
// releases the handle. No import of ABI 1 returns one (config_get answers
// -1 for an empty value, http_call's result is never empty), so the test
// holds one in the call's state itself.
func TestReadZeroLength(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{PoolMin: 1, PoolMax: 1}})
	a := load(t, h, nil)
	in, err := a.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer a.release(in)
	st := &callState{ctx: context.Background(), adapter: a}
	empty := st.put([]byte{})
	full := st.put([]byte("abc"))
	ctx := context.WithValue(context.Background(), stateKey{}, st)
	read := func(handle, ptr uint32) int32 {
		stack := []uint64{uint64(handle), uint64(ptr)}
		hostRead(ctx, in.mod, stack)
		return int32(uint32(stack[0]))
	}
	if n := read(empty, 0xffffff00); n != 0 {
		t.Errorf("read of a zero-length handle to a pointer outside memory = %d, want 0", n)
	}
	if n := read(empty, 0); n != -1 {
		t.Errorf("read of a released zero-length handle = %d, want -1", n)
	}
	if n := read(full, 0xffffff00); n != -1 {
		t.Errorf("read of 3 bytes outside memory = %d, want -1", n)
	}
	if n := read(full, 0); n != -1 {
		t.Errorf("read of a handle that failed once = %d, want -1: it is released either way", n)
	}
}

// The host calls pont_alloc once a call, with the input's length, which is
// never 0: a hand-built module whose pont_alloc stores its size at address
// 0 and whose pont_handle traps unless its length is that size, and not 0,
// answers (an empty answer, broken) rather than trapping.
func TestPontAllocGetsTheInputsLength(t *testing.T) {
	const I32, I64 = 0x7f, 0x7e
	alloc := fn{"pont_alloc", []byte{I32}, []byte{I32}, []byte{
		0x41, 0x00, 0x20, 0x00, 0x36, 0x02, 0x00, // i32.store (0) size
		0x41, 0x80, 0x20, // i32.const 4096
	}}
	handle := fn{"pont_handle", []byte{I32, I32}, []byte{I64}, []byte{
		0x20, 0x01, 0x41, 0x00, 0x28, 0x02, 0x00, 0x47, // len != i32.load (0)
		0x20, 0x01, 0x45, 0x72, // or len == 0
		0x04, 0x40, 0x00, 0x0b, // if: unreachable
		0x42, 0x00, // i64.const 0: an empty answer
	}}
	wasm, err := manifest.Embed(module([]fn{alloc, handle}, nil, false), testManifest)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHost(t, Config{})
	a, err := h.Load(context.Background(), wasm, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	for _, params := range []string{`{}`, `{"municipality":"08019"}`} {
		_, err := a.Call(context.Background(), query(params))
		if fe, ok := fault.As(err); !ok || fe.Code != fault.AdapterFailed || !strings.Contains(fe.Message, "broken answer") {
			t.Errorf("Call = %v, want the empty answer's adapter_failed, not a trap", err)
		}
	}
}

// http_call while the instance starts (_initialize) is refused: no query is
// under way, so nothing would record what the adapter asked its source.
func TestHTTPCallRefusedWhileStarting(t *testing.T) {
	h, logs := newHost(t, Config{})
	a := load(t, h, map[string]string{"init_fetch": sourceOrigin + "/json"})
	if got := call(t, a, `{"behave":"init_fetch"}`); got["init_fetch"] != "bad_request" {
		t.Errorf("http_call during _initialize gave %v, want bad_request", got["init_fetch"])
	}
	if !strings.Contains(logs.String(), `"msg":"adapter http_call refused"`) {
		t.Errorf("the refusal is not logged:\n%s", logs)
	}
}

// ABI.md 3.2: misconfigured is the requester's adapter_misconfigured, an
// error in the log with the adapter and the guest's message, and no reason
// to drop the instance.
func TestMisconfigured(t *testing.T) {
	h, logs := newHost(t, Config{Defaults: Limits{PoolMin: 1, PoolMax: 1}})
	a := load(t, h, nil)
	_, err := a.Call(context.Background(), query(`{"behave":"error","code":"misconfigured"}`))
	fe, ok := fault.As(err)
	if !ok || fe.Code != fault.AdapterMisconfigured || !strings.Contains(fe.Message, "the adapter has no source_url configured") {
		t.Fatalf("Call = %v, want adapter_misconfigured with the adapter's message", err)
	}
	if s := fault.SpecOf(fe.Code); s.Status != http.StatusServiceUnavailable || fault.RetryLater(fe.Code) {
		t.Errorf("adapter_misconfigured is answered %d, retry later %v; want 503, not to be retried", s.Status, fault.RetryLater(fe.Code))
	}
	var logged bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "adapter misconfigured") {
			logged = true
			if rec["level"] != "ERROR" || rec["adapter"] != "test-adapter" || !strings.Contains(rec["error"].(string), "source_url") {
				t.Errorf("the line %s does not say it at error level with the adapter and its message", line)
			}
		}
	}
	if !logged {
		t.Errorf("the log does not say the adapter is misconfigured:\n%s", logs)
	}
	call(t, a, `{"behave":"ok"}`)
	if s := a.Stats(); s.Discarded != 0 || s.Created != 1 || s.Calls["adapter_misconfigured"] != 1 {
		t.Errorf("stats %+v: want the one instance kept and the call counted as adapter_misconfigured", s)
	}
}
