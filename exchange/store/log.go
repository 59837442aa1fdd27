package store

import (
	"context"
	"time"
)

// Kinds of the log's leaves that are not transfers (a Transfer's Kind is
// "query" or "self_access"). docs/transfer-log.md gives each kind's members.
const (
	EventConsentCreated     = "consent_created"
	EventConsentRevoked     = "consent_revoked"
	EventObjectionRecorded  = "objection_recorded"
	EventObjectionWithdrawn = "objection_withdrawn"
	// EventLogRead is an auditor's read of the log: a search, an export, a
	// record, an entry bundle or a proof. Reading the log is itself an
	// access to personal data.
	EventLogRead = "log_read"
	// EventLogPruned records that the personal fields of every record
	// sealed before a time were removed.
	EventLogPruned = "log_pruned"
)

// SaltSize is the length of a record's salt: the random bytes hashed with
// its personal fields, so that the leaf's commitment to them cannot be
// reversed by trying every identity number.
const SaltSize = 16

// Event is a leaf of the log that is not a transfer: a citizen's consent or
// objection changing, an auditor reading the log, a pruning. Fields a kind
// does not use are empty.
type Event struct {
	ID   string    // unique; a consent or objection event's id is its Ref, ':' and its kind
	Time time.Time // UTC, microsecond precision
	Node string    // the node that wrote it; empty for events the database writes itself
	Kind string

	// Not personal: kept for ever.
	Ref       string     // the consent, objection or job concerned
	Requester string     // a consent's or job's requesting organisation
	Procedure string     // a consent's or objection's procedure code
	Purpose   string     // a consent's purpose
	Service   string     // an objection's or job's service
	Services  []string   // a consent's services
	ExpiresAt *time.Time // a consent's expiry
	Operation string     // log_read: search, export, record, entries, proof
	Count     int64      // log_read: records answered; log_pruned: records pruned; job_results_deleted: results deleted
	Before    *time.Time // log_pruned: records sealed before this time were pruned

	// The adapter events (EventAdapterPublished, EventAdapterActivated,
	// EventAdapterRolledBack); Ref is "name@version", Services the
	// published manifest's services.
	Owner        string // the adapter's owner (NIF or DIR3)
	Adapter      string // the adapter's name
	Version      string // the version published, or served from after the change
	Scope        string // adapter_published: the manifest's scope
	ModuleSHA256 string // the module's lowercase hex SHA-256
	KeyID        string // adapter_published: the kid of the key that signed it
	Signature    string // adapter_published: the signature (compact JWS)

	// Personal: removed when the event is pruned.
	Subject string // the citizen the event concerns
	Actor   string // who acted, when not the subject (an auditor, a publisher)
	Filter  string // log_read: what was asked, as the query string
	Salt    []byte // SaltSize random bytes; empty once pruned

	// PersonalSHA256 is the commitment to the personal fields (hex), kept
	// when they are pruned; empty before.
	PersonalSHA256 string
}

// Pruned reports whether the event's personal fields were removed.
func (e Event) Pruned() bool { return len(e.Salt) == 0 }

// Leaf is one record of the log at its place in the tree: exactly one of
// Transfer and Event is set, or neither when the record the leaf was sealed
// from is missing from the store (which only tampering causes: pruning
// keeps a record's non-personal fields).
type Leaf struct {
	Index    int64
	ID       string // the record's id, as sealed
	Transfer *Transfer
	Event    *Event
}

// Tile is a tile of the tree's hashes in the C2SP tlog-tiles layout, tiles
// of height 8: Level L holds the hashes of tree level 8·L; Index counts
// tiles from the left; Data is 32 bytes a hash, up to 256 hashes. A partial
// tile (fewer than 256 hashes) is replaced by a longer one as the tree
// grows.
type Tile struct {
	Level int
	Index int64
	Data  []byte
}

// TreeState is the sealed tree: its size, its root hash and the latest
// signed checkpoint of that size, as served (witnesses' cosignatures
// included once they have come).
type TreeState struct {
	Size       int64
	Root       [32]byte
	Checkpoint []byte
	// PrunedBefore: records sealed before this time have had their personal
	// fields removed; zero when nothing was pruned.
	PrunedBefore time.Time
}

// Seal is what one sealing step commits, in one transaction: the leaves
// [From, To) and the tiles and checkpoint of the tree of size To.
type Seal struct {
	From, To int64
	// IDs are the records sealed, in leaf order: IDs[i] is leaf From+i.
	IDs []string
	// Tiles are the hash tiles that the new leaves changed, each whole as
	// it now is.
	Tiles      []Tile
	Root       [32]byte
	Checkpoint []byte
	// Cursor is what Unsealed answered with these records: the next call
	// starts after them.
	Cursor string
}

// Log is the store's side of the tamper-evident log (package translog
// computes the hashes, signs and serves). Every record the store holds, a
// Transfer or an Event, becomes a leaf once sealed.
type Log interface {
	// AppendEvents writes events in one transaction, as AppendTransfers
	// writes transfers. Consent and objection events are not written
	// through it: the store writes them itself, in the transaction that
	// changes the consent or the objection.
	AppendEvents(ctx context.Context, events []Event) error
	// TreeState answers the sealed tree; Size 0 before the first seal.
	TreeState(ctx context.Context) (TreeState, error)
	// LeafIndex answers the leaf index of the record with id, or
	// ErrNotFound while it is not sealed (or does not exist).
	LeafIndex(ctx context.Context, id string) (int64, error)
	// Leaves answers the sealed leaves [from, to), in index order, one for
	// every index even when its record is missing. An index whose leaf row
	// is gone (only tampering removes one) is not answered: a caller must
	// place leaves by their Index, not by their position.
	Leaves(ctx context.Context, from, to int64) ([]Leaf, error)
	// ReadTile answers the stored hash tile (level, index), as long as it
	// has grown so far, or ErrNotFound.
	ReadTile(ctx context.Context, level int, index int64) ([]byte, error)
	// Checkpoint answers the signed checkpoint stored for tree size, or
	// ErrNotFound: every checkpoint the sealer signed is kept, so that
	// proofs can be given against any of them.
	Checkpoint(ctx context.Context, size int64) ([]byte, error)
	// UpdateCheckpoint replaces the stored checkpoint of size by one that
	// carries more signatures (witnesses' cosignatures); the caller checks
	// that it signs the same tree.
	UpdateCheckpoint(ctx context.Context, size int64, checkpoint []byte) error
	// AcquireSealer waits until this process is the deployment's only
	// sealer (an advisory lock on PostgreSQL, the single node on SQLite),
	// or ctx ends. The Sealer keeps the role until Release or until its
	// connection is lost; Seal fails once it has lost it.
	AcquireSealer(ctx context.Context) (Sealer, error)
	// Prune removes the personal fields (and salt) of every sealed record
	// whose time is before, keeping for each the commitment computed by
	// commit from the record as it was, so that its leaf can still be
	// rebuilt. It answers how many records it pruned and records the time
	// up to which it pruned as TreeState.PrunedBefore. A backend may prune
	// in coarser steps, leaving records shortly before before for a later
	// run: PostgreSQL prunes whole months, so PrunedBefore is then the
	// first instant of before's month (UTC). Records not yet sealed are
	// left alone.
	Prune(ctx context.Context, before time.Time, commit Committer) (int64, error)
}

// Committer computes a record's commitment to its personal fields (hex
// SHA-256), as the leaf encoding does; exactly one argument is non-nil.
type Committer func(t *Transfer, e *Event) string

// Sealer is the deployment's sealing role, held by one process at a time.
type Sealer interface {
	// Unsealed answers up to limit records that are committed for good
	// and not yet sealed, in the order they are to be sealed (each Leaf's
	// Index is the leaf it is to become), and the cursor to give Seal with
	// them. Records committed later come after: a record is never answered
	// before one that committed ahead of it, so that nothing is skipped.
	// It starts after the stored tree's cursor: until Seal commits them,
	// another call answers the same records again (and maybe more).
	Unsealed(ctx context.Context, limit int) ([]Leaf, string, error)
	// Seal commits s in one transaction if the stored tree's size is still
	// s.From; otherwise nothing is written and the error says so (another
	// sealer moved the tree: this one must stop). s.IDs and s.Cursor must
	// be exactly what one call of this Sealer's Unsealed answered since
	// the tree was last sealed; a stored tile's hashes never change (a
	// tile only grows).
	Seal(ctx context.Context, s Seal) error
	// Release gives the role up. Calling it again is harmless.
	Release() error
}
