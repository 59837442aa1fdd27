package types

import "time"

// AdapterV1 is an adapter as GET /v1/adapters and GET /v1/adapters/{name}
// answer it.
type AdapterV1 struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	// Active is the version every node is to serve from ("" when none);
	// Loaded the one this node serves from.
	Active      string             `json:"active"`
	Loaded      string             `json:"loaded"`
	Versions    []AdapterVersionV1 `json:"versions"`
	Activations []ActivationV1     `json:"activations,omitempty"`
	// RollbackTo is the version a rollback would go back to, "" when none
	// (GET /v1/adapters/{name} only).
	RollbackTo string `json:"rollback_to,omitempty"`
}

// AdapterVersionV1 is one published version of an adapter.
type AdapterVersionV1 struct {
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Owner        string    `json:"owner"`
	Services     []string  `json:"services"`
	Scope        string    `json:"scope"`
	ModuleSHA256 string    `json:"module_sha256"`
	KeyID        string    `json:"key_id"`
	Signed       bool      `json:"signed"`
	PublishedAt  time.Time `json:"published_at"`
	PublishedBy  string    `json:"published_by"`
	Active       bool      `json:"active"`
}

// ActivationV1 is one activation or rollback of an adapter.
type ActivationV1 struct {
	Seq     int64     `json:"seq"`
	Adapter string    `json:"adapter"`
	Version string    `json:"version"`
	Kind    string    `json:"kind"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
}

// AdapterActivityV1 is an adapter's activity as GET
// /v1/adapters/{name}/activity answers it: its calls over the window, from
// the transfer log that every node writes to, and the pool of the version
// this node serves from, this node's only, since it loaded that version.
type AdapterActivityV1 struct {
	Adapter string `json:"adapter"`
	// Window is the window's length as a Go duration ("1h0m0s"); From
	// (inclusive) and To (exclusive) its bounds.
	Window string    `json:"window"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Calls counts the records of the log that name the adapter; ByOutcome
	// counts them by outcome ("ok" or the problem code), without zeros.
	Calls     int64            `json:"calls"`
	ByOutcome map[string]int64 `json:"by_outcome"`
	// LatencyUS is over the answered calls ("ok") only.
	LatencyUS LatencyV1 `json:"latency_us"`
	// Pool is nil when this node serves no version of the adapter.
	Pool *AdapterPoolV1 `json:"pool"`
}

// LatencyV1 are the answered calls' latencies, in microseconds (the
// records' latency_us): discrete percentiles and the largest.
type LatencyV1 struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	Max int64 `json:"max"`
}

// AdapterPoolV1 is the live pool of the version a node serves from, and
// the calls it ran since the node loaded it.
type AdapterPoolV1 struct {
	Node      string            `json:"node"`
	Version   string            `json:"version"`
	LoadedAt  time.Time         `json:"loaded_at"`
	InUse     int               `json:"in_use"`
	Idle      int               `json:"idle"`
	Created   uint64            `json:"created"`
	Discarded uint64            `json:"discarded"`
	Calls     map[string]uint64 `json:"calls"`
}
