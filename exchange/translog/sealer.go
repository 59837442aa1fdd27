package translog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store"
)

// SealerConfig configures the sealer.
type SealerConfig struct {
	// Store keeps the records and the tree.
	Store store.Log
	// Signer signs checkpoints; its name is the log's origin, the first
	// line of every checkpoint.
	Signer note.Signer
	// Interval is the least time between two checkpoints: the sealer
	// seals what arrived, at most once an Interval. Defaults to 1 s.
	Interval time.Duration
	// MaxBatch bounds the leaves one checkpoint adds; a longer backlog
	// takes several. Defaults to 100,000.
	MaxBatch int
	// Verifier is the log's public key, Signer's: the cosignatures
	// witnesses answer are checked with it before they are published.
	// Required with Witnesses.
	Verifier note.Verifier
	// Witnesses cosign each new checkpoint; their cosignatures are added to
	// the stored checkpoint as they come. A witness that is down delays
	// nothing.
	Witnesses []Witness
	// WitnessRetry is how often a witness that failed is asked again.
	// Defaults to 10 s.
	WitnessRetry time.Duration
	// Retention is how long records keep their personal fields; the
	// sealing process prunes older ones once an hour (Prune). Zero keeps
	// them for ever.
	Retention time.Duration
	// Node names this node in the pruning leaves it writes.
	Node string
	// Logger receives the sealer's progress and failures (sizes and
	// errors, never records). Defaults to slog.Default().
	Logger *slog.Logger
}

// ErrMoved is returned when the store's tree is not the one this sealer
// grew: another sealer sealed in between. Only a lost role explains it.
var ErrMoved = errors.New("translog: another sealer moved the tree")

// Sealer turns committed records into leaves and signs checkpoints. One
// runs in every node; the store lets one at a time hold the role.
type Sealer struct {
	cfg      SealerConfig
	cosigner *cosigner   // nil without witnesses
	holding  atomic.Bool // this process holds the role: only it asks witnesses
	syncs    chan chan error
}

// NewSealer checks cfg and answers a Sealer; Run starts it.
func NewSealer(cfg SealerConfig) (*Sealer, error) {
	if cfg.Store == nil || cfg.Signer == nil {
		return nil, fmt.Errorf("translog: a sealer needs a store and a signer")
	}
	if err := CheckOrigin(cfg.Signer.Name()); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WitnessRetry <= 0 {
		cfg.WitnessRetry = 10 * time.Second
	}
	s := &Sealer{cfg: cfg, syncs: make(chan chan error)}
	if len(cfg.Witnesses) > 0 {
		if cfg.Verifier == nil || cfg.Verifier.Name() != cfg.Signer.Name() {
			return nil, fmt.Errorf("translog: witnesses need the log's verifier key, named as its signer %s", cfg.Signer.Name())
		}
		for _, w := range cfg.Witnesses {
			if w.URL == "" || w.Key == nil {
				return nil, fmt.Errorf("translog: a witness needs a URL and a key")
			}
		}
		s.cosigner = newCosigner(cfg.Store, cfg.Verifier, cfg.Witnesses, cfg.Logger, s.holding.Load)
	}
	return s, nil
}

// CheckOrigin checks a log origin as checkpoints need it: a non-empty
// line of printable ASCII without spaces, schema-less URL style
// ("pont.example.org/transfer-log").
func CheckOrigin(origin string) error {
	if origin == "" {
		return fmt.Errorf("translog: the log's origin (its key's name) is empty")
	}
	for i := 0; i < len(origin); i++ {
		if c := origin[i]; c <= ' ' || c >= 0x7f || c == '+' {
			return fmt.Errorf("translog: the log's origin %q holds %q: printable ASCII without spaces or '+' only", origin, c)
		}
	}
	return nil
}

// Run takes the sealer's role when it is free and seals until ctx ends.
// When the role is lost (the store's connection dropped, another node
// took it) it waits to take it again. It returns ctx's error.
func (s *Sealer) Run(ctx context.Context) error {
	if s.cosigner != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			s.cosigner.run(ctx, s.cfg.WitnessRetry)
		}()
	}
	for ctx.Err() == nil {
		role, err := s.cfg.Store.AcquireSealer(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.cfg.Logger.Error("translog: sealer: cannot take the role", "err", err)
				sleep(ctx, s.cfg.Interval)
			}
			continue
		}
		s.cfg.Logger.Info("translog: this node seals the log")
		s.holding.Store(true)
		err = s.hold(ctx, role)
		s.holding.Store(false)
		_ = role.Release()
		if ctx.Err() == nil {
			s.cfg.Logger.Error("translog: sealer: gave the role up", "err", err)
			sleep(ctx, s.cfg.Interval)
		}
	}
	return ctx.Err()
}

// hold seals once an Interval while the role lasts.
func (s *Sealer) hold(ctx context.Context, role store.Sealer) error {
	state, err := s.cfg.Store.TreeState(ctx)
	if err != nil {
		return err
	}
	h := newHashes(ctx, s.cfg.Store, state.Size)
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		if s.cfg.Retention > 0 && time.Since(lastPrune) >= time.Hour {
			lastPrune = time.Now()
			if _, err := Prune(ctx, s.cfg.Store, time.Now().Add(-s.cfg.Retention), s.cfg.Node); err != nil {
				s.cfg.Logger.Error("translog: pruning failed; the next try is in an hour", "err", err)
			}
		}
		n, err := s.step(ctx, role, h, &state)
		if err != nil {
			return err
		}
		if n == s.cfg.MaxBatch {
			continue // a backlog: the next batch at once
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		case reply := <-s.syncs:
			// Seal what committed before the call, then answer.
			var err error
			for n := s.cfg.MaxBatch; n == s.cfg.MaxBatch && err == nil; {
				n, err = s.step(ctx, role, h, &state)
			}
			reply <- err
			if err != nil {
				return err
			}
		}
	}
}

// Sync has the running sealer of this process (Run) seal at once what has
// committed, and waits until it has. It waits for the role when another
// process holds it, until ctx ends. For tests and tools; the sealer seals
// once an Interval without it.
func (s *Sealer) Sync(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.syncs <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Step seals, once, what has arrived, when this process can take the role
// at once; it is how tests and tools seal without waiting for a tick. It
// answers how many leaves it added.
func (s *Sealer) Step(ctx context.Context) (int, error) {
	role, err := s.cfg.Store.AcquireSealer(ctx)
	if err != nil {
		return 0, err
	}
	defer role.Release()
	state, err := s.cfg.Store.TreeState(ctx)
	if err != nil {
		return 0, err
	}
	h := newHashes(ctx, s.cfg.Store, state.Size)
	total := 0
	for {
		n, err := s.step(ctx, role, h, &state)
		total += n
		if err != nil || n < s.cfg.MaxBatch {
			return total, err
		}
	}
}

// step seals one batch and answers its length.
func (s *Sealer) step(ctx context.Context, role store.Sealer, h *hashes, state *store.TreeState) (int, error) {
	leaves, cursor, err := role.Unsealed(ctx, s.cfg.MaxBatch)
	if err != nil || len(leaves) == 0 {
		return 0, err
	}
	ids := make([]string, len(leaves))
	leafHashes := make([]tlog.Hash, len(leaves))
	var entry []byte
	for i, l := range leaves {
		if entry, err = AppendEntry(entry[:0], l.Transfer, l.Event); err != nil {
			return 0, fmt.Errorf("translog: seal %s: %w", l.ID, err)
		}
		ids[i] = l.ID
		leafHashes[i] = LeafHash(entry)
	}
	tiles, root, err := h.grow(state.Size, leafHashes)
	if err != nil {
		h.reset(state.Size)
		return 0, err
	}
	to := state.Size + int64(len(leaves))
	checkpoint, err := SignCheckpoint(s.cfg.Signer, to, root)
	if err != nil {
		return 0, err
	}
	seal := store.Seal{From: state.Size, To: to, IDs: ids, Tiles: tiles, Root: root, Checkpoint: checkpoint, Cursor: cursor}
	if err := role.Seal(ctx, seal); err != nil {
		h.reset(state.Size)
		return 0, err
	}
	h.commit(to, tiles)
	state.Size, state.Root, state.Checkpoint = to, root, checkpoint
	s.cfg.Logger.Debug("translog: sealed", "leaves", len(leaves), "size", to)
	if s.cosigner != nil {
		s.cosigner.poke()
	}
	return len(leaves), nil
}

// Prune removes the personal fields of the sealed records older than
// before (the store keeps each one's commitment, so that every leaf stays
// as it was) and, when it pruned any, writes a log_pruned leaf saying so.
// It answers how many records it pruned.
func Prune(ctx context.Context, st store.Log, before time.Time, node string) (int64, error) {
	n, err := st.Prune(ctx, before, Commit)
	if err != nil || n == 0 {
		return n, err
	}
	state, err := st.TreeState(ctx)
	if err != nil {
		return n, err
	}
	at := state.PrunedBefore.UTC()
	if at.IsZero() {
		at = before.UTC()
	}
	e := store.Event{
		ID: uuid.Must(uuid.NewV7()).String(), Time: time.Now().UTC().Truncate(time.Microsecond), Node: node,
		Kind: store.EventLogPruned, Before: &at, Count: n, Salt: make([]byte, store.SaltSize),
	}
	_, _ = rand.Read(e.Salt)
	if err := st.AppendEvents(ctx, []store.Event{e}); err != nil {
		return n, fmt.Errorf("translog: pruned %d records, but could not record it: %w", n, err)
	}
	return n, nil
}

// SignCheckpoint answers the signed note of the checkpoint of a tree:
// C2SP tlog-checkpoint's origin, size and base64 root lines, signed.
func SignCheckpoint(signer note.Signer, size int64, root tlog.Hash) ([]byte, error) {
	text := signer.Name() + "\n" + strconv.FormatInt(size, 10) + "\n" + root.String() + "\n"
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, fmt.Errorf("translog: sign checkpoint %d: %w", size, err)
	}
	return signed, nil
}

// Checkpoint is an opened checkpoint: its tree, and the note that signed it.
type Checkpoint struct {
	Origin string
	Tree   tlog.Tree
	Note   *note.Note
}

// OpenCheckpoint checks a checkpoint's signatures against the known
// verifiers (the log's key, witnesses' keys) and parses it. It fails when
// the log's key has not signed it, naming the signers it found.
func OpenCheckpoint(signed []byte, logKey note.Verifier, witnesses ...note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(append([]note.Verifier{logKey}, witnesses...)...))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint: %w", err)
	}
	signedByLog := false
	for _, sig := range n.Sigs {
		if sig.Name == logKey.Name() && sig.Hash == logKey.KeyHash() {
			signedByLog = true
		}
	}
	if !signedByLog {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint is not signed by the log's key %s", logKey.Name())
	}
	origin, tree, err := ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != logKey.Name() {
		return Checkpoint{}, fmt.Errorf("translog: checkpoint's origin %q is not the log's %q", origin, logKey.Name())
	}
	return Checkpoint{Origin: origin, Tree: tree, Note: n}, nil
}

// ParseCheckpointText reads a checkpoint's text (a note's, signatures
// apart): its origin, size and root. It checks no signature: OpenCheckpoint
// does, and only what it answers may be trusted.
func ParseCheckpointText(text string) (origin string, tree tlog.Tree, err error) {
	origin, rest, ok := strings.Cut(text, "\n")
	if !ok {
		return "", tlog.Tree{}, fmt.Errorf("translog: checkpoint has no origin line")
	}
	// tlog.ParseTree reads the go.sum database's three lines; C2SP's
	// checkpoint has the same size and hash lines after the origin, and
	// may add extension lines, which Pont does not write and ignores.
	lines := strings.SplitN(rest, "\n", 3)
	if len(lines) < 3 {
		return "", tlog.Tree{}, fmt.Errorf("translog: checkpoint has no size and root lines")
	}
	tree, err = tlog.ParseTree([]byte("go.sum database tree\n" + lines[0] + "\n" + lines[1] + "\n"))
	if err != nil {
		return "", tlog.Tree{}, fmt.Errorf("translog: checkpoint: %w", err)
	}
	return origin, tree, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
