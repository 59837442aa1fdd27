package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/google/pprof/profile"
)

// Stage is one stage of a query inside pont serve and its share of the
// process's CPU in a profiled phase.
type Stage struct {
	Name  string  `json:"name"`
	Share float64 `json:"share"` // of pont serve's CPU samples
	// MicrosPerAnswer is Share of pont serve's CPU per answer in the
	// profiled phase.
	MicrosPerAnswer float64 `json:"us_per_answer"`
}

// stageRules name a stage by the functions that do its work, as the
// profile's frames name them (package path and function). A sample goes to
// the stage of the frame nearest its leaf that matches a rule, so that an
// allocation (runtime.mallocgc) or a GC assist is charged to the stage
// that made it, and a host function called from the guest (http_call) to
// http_call rather than to the guest around it. The first rule a frame
// matches names its stage (httpCall is wasmhost's too, and http_call's).
var stageRules = []struct {
	stage    string
	prefixes []string
}{
	{"http_call (the host's HTTP client)", []string{"github.com/pontexchange/pont/exchange/wasmhost.(*Adapter).httpCall", "github.com/pontexchange/pont/exchange/wasmhost.hostHTTPCall", "net/http.(*persistConn)", "net/http.(*Transport)", "net/http.(*Client)"}},
	{"guest (Wasm adapter)", []string{"github.com/tetratelabs/wazero", "github.com/pontexchange/pont/exchange/wasmhost."}},
	{"answer checks (schemas)", []string{"github.com/santhosh-tekuri/jsonschema", "github.com/pontexchange/pont/catalog."}},
	{"minimisation", []string{"github.com/pontexchange/pont/exchange/pipeline.minimise", "github.com/pontexchange/pont/exchange/pipeline.compact"}},
	{"policy (OPA)", []string{"github.com/open-policy-agent/opa", "github.com/pontexchange/pont/exchange/policy.", "github.com/pontexchange/pont/exchange/pipeline.(*Pipeline).decide"}},
	{"record and commit", []string{"github.com/pontexchange/pont/exchange/audit.", "github.com/pontexchange/pont/exchange/store", "github.com/jackc/pgx", "github.com/jackc/puddle", "github.com/pontexchange/pont/exchange/pipeline.(*Pipeline).commit", "github.com/pontexchange/pont/exchange/translog."}},
	{"token", []string{"github.com/pontexchange/pont/exchange/auth.", "github.com/lestrrat-go/"}},
	{"envelope", []string{"github.com/pontexchange/pont/exchange/envelope."}},
	{"answer writing", []string{"github.com/pontexchange/pont/exchange/pipeline.encodeAnswer", "github.com/pontexchange/pont/exchange/pipeline.Answer.withReceipt", "github.com/pontexchange/pont/exchange/pipeline.withReceipt", "github.com/pontexchange/pont/exchange/api.writeAnswer"}},
	{"routing, guard, quota", []string{"github.com/pontexchange/pont/exchange/router.", "github.com/pontexchange/pont/exchange/guard.", "github.com/pontexchange/pont/exchange/quota."}},
	{"pipeline (the rest)", []string{"github.com/pontexchange/pont/exchange/pipeline."}},
	// Not net, internal/poll or syscall: their frames are the server's
	// and the client's alike, and the frames above them say whose.
	{"HTTP server and API", []string{"net/http.", "github.com/go-chi/chi", "github.com/pontexchange/pont/exchange/api."}},
}

// stagesOf reads a CPU profile of pont serve and splits its samples by
// stage; what no rule names is the Go runtime's own work (the garbage
// collector's background workers, the scheduler) or "other".
func stagesOf(path string, microsPerAnswer float64) ([]Stage, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	cpu := len(p.SampleType) - 1 // the cpu nanoseconds column
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[cpu]
		total += v
		by[stageOf(s)] += v
	}
	if total == 0 {
		return nil, fmt.Errorf("profile %s: no samples", path)
	}
	out := make([]Stage, 0, len(by))
	for name, v := range by {
		share := float64(v) / float64(total)
		out = append(out, Stage{Name: name, Share: share, MicrosPerAnswer: share * microsPerAnswer})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Share > out[j].Share })
	return out, nil
}

// runtimeStages name the Go runtime's own work by the function the
// sample's stack ends in (its root): the garbage collector's background
// workers, the scheduler and the network poller. A sample whose leaf is
// runtime._ExternalCode was taken in code outside Go, which in pont serve
// (no cgo) is the guests' compiled Wasm: the profiler cannot walk a stack
// through it and records _ExternalCode alone (stageOf).
var runtimeStages = []struct{ stage, name string }{
	{"Go GC (background workers)", "runtime.gcBgMarkWorker"},
	{"Go GC (background workers)", "runtime._GC"},
	{"Go GC (background workers)", "runtime.bgsweep"},
	{"Go GC (background workers)", "runtime.bgscavenge"},
	{"Go scheduler and network poller", "runtime.mcall"},
	{"Go scheduler and network poller", "runtime.morestack"},
	{"Go scheduler and network poller", "runtime.mstart"},
	{"Go scheduler and network poller", "runtime._System"},
}

func stageOf(s *profile.Sample) string {
	if len(s.Location) > 0 && len(s.Location[0].Line) > 0 && s.Location[0].Line[0].Function != nil &&
		s.Location[0].Line[0].Function.Name == "runtime._ExternalCode" {
		return "guest (Wasm compiled code)"
	}
	runtime := false
	for _, loc := range s.Location { // leaf first
		for _, line := range loc.Line { // inlined frames: innermost first, the caller last
			fn := line.Function
			if fn == nil {
				continue
			}
			for _, r := range stageRules {
				for _, pre := range r.prefixes {
					if strings.HasPrefix(fn.Name, pre) {
						return r.stage
					}
				}
			}
			if strings.HasPrefix(fn.Name, "runtime.") {
				runtime = true
			}
		}
	}
	if runtime {
		root := ""
		if n := len(s.Location); n > 0 {
			if lines := s.Location[n-1].Line; len(lines) > 0 && lines[0].Function != nil {
				root = lines[0].Function.Name
			}
		}
		for _, r := range runtimeStages {
			if root == r.name {
				return r.stage
			}
		}
		return "Go runtime (other): " + root
	}
	return "other"
}
