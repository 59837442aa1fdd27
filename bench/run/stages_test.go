package main

import (
	"testing"

	"github.com/google/pprof/profile"
)

// sample builds a profile sample whose stack is frames, leaf first.
func sample(frames ...string) *profile.Sample {
	s := &profile.Sample{}
	for _, f := range frames {
		s.Location = append(s.Location, &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: f}}}})
	}
	return s
}

func TestStageOf(t *testing.T) {
	for _, c := range []struct {
		frames []string
		want   string
	}{
		{[]string{"runtime._ExternalCode", "runtime._System"}, "guest (Wasm compiled code)"},
		// The client's reads are http_call's, the server's the server's,
		// though both end in the same syscalls.
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.read", "net.(*conn).Read", "net/http.(*persistConn).Read", "net/http.(*persistConn).readLoop"}, "http_call (the host's HTTP client)"},
		{[]string{"internal/runtime/syscall/linux.Syscall6", "syscall.read", "net.(*conn).Read", "bufio.(*Reader).Read", "net/http.(*conn).serve"}, "HTTP server and API"},
		// An allocation is charged to the stage that made it.
		{[]string{"runtime.mallocgc", "runtime.newobject", "github.com/santhosh-tekuri/jsonschema/v6.(*Schema).validate", "github.com/pontexchange/pont/exchange/pipeline.(*Pipeline).call", "net/http.(*conn).serve"}, "answer checks (schemas)"},
		{[]string{"github.com/pontexchange/pont/exchange/wasmhost.(*Adapter).httpCall", "github.com/pontexchange/pont/exchange/wasmhost.hostHTTPCall", "github.com/tetratelabs/wazero/api.GoModuleFunc.Call"}, "http_call (the host's HTTP client)"},
		{[]string{"github.com/tetratelabs/wazero/internal/engine/wazevo.(*callEngine).callWithStack", "github.com/pontexchange/pont/exchange/wasmhost.(*Adapter).Call"}, "guest (Wasm adapter)"},
		{[]string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, "Go GC (background workers)"},
		{[]string{"runtime.futex", "runtime.findRunnable", "runtime.schedule", "runtime.mcall"}, "Go scheduler and network poller"},
		{[]string{"github.com/jackc/pgx/v5.(*Conn).Exec", "github.com/pontexchange/pont/exchange/audit.(*Writer).flush"}, "record and commit"},
	} {
		if got := stageOf(sample(c.frames...)); got != c.want {
			t.Errorf("%v: %q, want %q", c.frames, got, c.want)
		}
	}
}

// A location's lines are its inlined frames, the innermost first and the
// function they were inlined into last: the innermost names the stage.
func TestStageOfInlinedFrames(t *testing.T) {
	line := func(name string) profile.Line { return profile.Line{Function: &profile.Function{Name: name}} }
	s := &profile.Sample{Location: []*profile.Location{
		{Line: []profile.Line{line("github.com/pontexchange/pont/exchange/policy.(*Engine).Decide"), line("github.com/pontexchange/pont/exchange/pipeline.(*Pipeline).run")}},
		{Line: []profile.Line{line("net/http.(*conn).serve")}},
	}}
	if got, want := stageOf(s), "policy (OPA)"; got != want {
		t.Errorf("stage %q, want %q", got, want)
	}
}
