package store

import (
	"context"
	"errors"
	"time"
)

// ErrExists: the record is already stored and may not be replaced (an
// adapter version is immutable once published; a requester's idempotency
// key names one job).
var ErrExists = errors.New("store: already exists")

// ErrNoEarlier: a rollback found no version active before the current one.
var ErrNoEarlier = errors.New("store: no earlier active version")

// Kinds of the log's leaves written when the adapters change
// (docs/transfer-log.md gives their members).
const (
	EventAdapterPublished  = "adapter_published"
	EventAdapterActivated  = "adapter_activated"
	EventAdapterRolledBack = "adapter_rolled_back"
)

// Activation kinds.
const (
	Activate = "activate"
	Rollback = "rollback"
)

// AdapterVersion is one published version of an adapter: the module as
// its owner signed it, and what the broker read from it when it accepted
// it. Once stored it never changes.
type AdapterVersion struct {
	Name     string // the manifest's name
	Version  string // the manifest's version
	Owner    string // the manifest's owner, who signed it
	Services []string
	Scope    string
	// ModuleSHA256 is the lowercase hex SHA-256 of Module, as published
	// (manifest and signature sections included).
	ModuleSHA256 string
	// KeyID is the kid of the owner's key that signed the module.
	KeyID string
	// Signature is the compact JWS of the module's signature section.
	Signature string
	// Module is the .wasm module; listings leave it nil.
	Module      []byte
	PublishedAt time.Time // UTC, microsecond precision
	PublishedBy string    // the publisher's token subject
}

// Activation is one change of the version an adapter serves from.
type Activation struct {
	Seq     int64 // assigned by the store, increasing
	Name    string
	Version string
	Kind    string    // Activate or Rollback
	At      time.Time // UTC, microsecond precision
	Actor   string    // who asked: a publisher's token subject
}

// Adapters is the registry of published adapters: every version ever
// published and the history of which one each adapter serves from. Every
// publication and every activation is also a leaf of the log (kinds
// EventAdapterPublished, EventAdapterActivated, EventAdapterRolledBack),
// written in the same transaction.
type Adapters interface {
	// PublishAdapter stores v (with its Module). ErrExists when v.Name
	// and v.Version are already published, whatever their module.
	PublishAdapter(ctx context.Context, v AdapterVersion) error
	// ListAdapters answers every published version of every adapter,
	// without modules, by name and then by publication.
	ListAdapters(ctx context.Context) ([]AdapterVersion, error)
	// AdapterVersion answers one version with its module, or ErrNotFound.
	AdapterVersion(ctx context.Context, name, version string) (AdapterVersion, error)
	// ActivateAdapter records a.Kind == Activate of a.Name at a.Version and
	// answers it with its Seq. ErrNotFound when that version is not
	// published.
	ActivateAdapter(ctx context.Context, a Activation) (Activation, error)
	// RollbackAdapter makes the adapter serve again from the version it
	// served from before its current activation, and answers the rollback
	// recorded. The history is a stack: an activation pushes its version,
	// a rollback pops the current one, so that two rollbacks go two
	// versions back. ErrNotFound when the adapter was never activated,
	// ErrNoEarlier when nothing is under the current version.
	RollbackAdapter(ctx context.Context, name, actor string, at time.Time) (Activation, error)
	// Activations answers the adapter's activations and rollbacks, oldest
	// first (empty when none).
	Activations(ctx context.Context, name string) ([]Activation, error)
	// ActiveAdapters answers, with its module, the version each adapter
	// serves from now, for every adapter that was activated, by name.
	ActiveAdapters(ctx context.Context) ([]AdapterVersion, error)
	// WatchAdapters answers a channel that receives (without blocking the
	// store: a full channel drops the value, one pending is enough) soon
	// after any publication, activation or rollback commits, on this node
	// or any other that shares the store, until ctx ends; it is then
	// closed. A receiver reloads ActiveAdapters. After a lost connection
	// the channel receives once it is back, since changes may have been
	// missed.
	WatchAdapters(ctx context.Context) <-chan struct{}
}
