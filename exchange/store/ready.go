package store

import "context"

// ReadinessChecker is implemented by a store that can tell whether it is
// fit to serve, beyond answering a ping: its schema is the one the binary
// expects, and the transfer log can commit. A node answers ready only when
// Ready returns nil. The error is for the node's own log: it may name the
// database, its user or its tables, and must never be shown to callers.
type ReadinessChecker interface {
	Ready(ctx context.Context) error
}
