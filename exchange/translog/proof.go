package translog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store"
)

// ErrNotSealed is returned for a record that is not a leaf yet: it is
// sealed within a second or so of its commit.
var ErrNotSealed = errors.New("translog: the record is not sealed yet")

// Receipt is a record's inclusion proof: everything needed to check,
// offline, that the record is in the log as it is shown. docs/transfer-log.md
// describes its members.
type Receipt struct {
	TransferID string          `json:"transfer_id"`
	LeafIndex  int64           `json:"leaf_index"`
	LeafHash   []byte          `json:"leaf_hash"`
	Entry      []byte          `json:"entry"`
	Personal   json.RawMessage `json:"personal,omitempty"`
	Salt       []byte          `json:"salt,omitempty"`
	TreeSize   int64           `json:"tree_size"`
	Proof      [][]byte        `json:"proof"`
	Checkpoint string          `json:"checkpoint"`
}

// Prove answers the receipt of the record with id against the latest
// checkpoint, or ErrNotSealed. The record's personal fields are in it,
// with the salt: only give it to whoever may see them.
func Prove(ctx context.Context, st store.Log, id string) (Receipt, error) {
	index, err := st.LeafIndex(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Receipt{}, fmt.Errorf("%w: %s", ErrNotSealed, id)
	}
	if err != nil {
		return Receipt{}, err
	}
	state, err := st.TreeState(ctx)
	if err != nil {
		return Receipt{}, err
	}
	if index >= state.Size { // sealed after the state was read: cannot be, but never prove past the tree
		return Receipt{}, fmt.Errorf("%w: %s", ErrNotSealed, id)
	}
	leaves, err := st.Leaves(ctx, index, index+1)
	if err != nil {
		return Receipt{}, err
	}
	if len(leaves) != 1 || (leaves[0].Transfer == nil && leaves[0].Event == nil) {
		return Receipt{}, fmt.Errorf("translog: leaf %d: its record is missing from the store", index)
	}
	l := leaves[0]
	entry, err := Entry(l.Transfer, l.Event)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{TransferID: id, LeafIndex: index, Entry: entry, TreeSize: state.Size, Checkpoint: string(state.Checkpoint)}
	lh := LeafHash(entry)
	r.LeafHash = lh[:]
	switch {
	case l.Transfer != nil && !l.Transfer.Pruned():
		r.Personal, r.Salt = TransferPersonal(l.Transfer), l.Transfer.Salt
	case l.Event != nil && !l.Event.Pruned():
		r.Personal, r.Salt = EventPersonal(l.Event), l.Event.Salt
	}
	proof, err := tlog.ProveRecord(state.Size, index, Reader(ctx, st, state.Size))
	if err != nil {
		return Receipt{}, fmt.Errorf("translog: prove leaf %d in tree %d: %w", index, state.Size, err)
	}
	for _, h := range proof {
		r.Proof = append(r.Proof, h[:])
	}
	return r, nil
}

// Consistency answers the consistency proof from the tree of size from to
// the tree of size to, both at most the sealed size.
func Consistency(ctx context.Context, st store.Log, from, to int64) ([][]byte, error) {
	state, err := st.TreeState(ctx)
	if err != nil {
		return nil, err
	}
	if from < 0 || from > to || to > state.Size {
		return nil, fmt.Errorf("translog: no consistency proof from %d to %d in a tree of %d: need 0 ≤ from ≤ to ≤ %d", from, to, state.Size, state.Size)
	}
	proof, err := tlog.ProveTree(to, from, Reader(ctx, st, to))
	if err != nil {
		return nil, fmt.Errorf("translog: prove %d..%d: %w", from, to, err)
	}
	out := make([][]byte, len(proof))
	for i, h := range proof {
		out[i] = append([]byte(nil), h[:]...)
	}
	return out, nil
}

// Bundle answers the entry bundle n of width w (C2SP tlog-tiles): the
// entries of leaves [256n, 256n+w), each as a big-endian uint16 length and
// its bytes; those leaves must be sealed. A leaf whose record is missing
// from the store, or whose leaf row is (only tampering removes either), is
// answered as an empty entry, which cannot match its leaf hash: the bundle
// shows the damage, at its index, instead of hiding it.
func Bundle(ctx context.Context, st store.Log, n int64, w int, logger *slog.Logger) ([]byte, error) {
	return AppendBundle(ctx, nil, st, n, w, logger)
}

// AppendBundle is Bundle appending to dst, for a server that reuses its
// buffers: on an error, dst as it was. The caller has checked that the
// leaves are sealed (the tree holds 256n+w leaves).
func AppendBundle(ctx context.Context, dst []byte, st store.Log, n int64, w int, logger *slog.Logger) ([]byte, error) {
	if n < 0 || w <= 0 || w > TileWidth {
		return dst, fmt.Errorf("translog: no bundle %d of width %d", n, w)
	}
	from, to := n<<TileHeight, n<<TileHeight+int64(w)
	leaves, err := st.Leaves(ctx, from, to)
	if err != nil {
		return dst, err
	}
	// Leaves answers a leaf for each leaf row it holds: a removed row
	// leaves a gap, which must not move the later entries up.
	at := make([]*store.Leaf, w)
	for i := range leaves {
		l := &leaves[i]
		if l.Index < from || l.Index >= to || at[l.Index-from] != nil {
			return dst, fmt.Errorf("translog: bundle %d: the store answered leaf %d twice or out of [%d, %d)", n, l.Index, from, to)
		}
		at[l.Index-from] = l
	}
	start := len(dst)
	out := slices.Grow(dst, w*800)
	for i, l := range at {
		mark := len(out)
		out = append(out, 0, 0) // the entry's length, once known
		switch {
		case l == nil:
			if logger != nil {
				logger.Error("translog: a sealed leaf is missing from the store", "index", from+int64(i))
			}
		case l.Transfer != nil || l.Event != nil:
			if out, err = AppendEntry(out, l.Transfer, l.Event); err != nil {
				return out[:start], err
			}
		case logger != nil:
			logger.Error("translog: a sealed leaf's record is missing from the store", "index", l.Index, "id", l.ID)
		}
		binary.BigEndian.PutUint16(out[mark:], uint16(len(out)-mark-2))
	}
	return out, nil
}

// Verify checks a receipt offline, as docs/transfer-log.md says: the entry
// hashes to the leaf hash, the personal fields and salt to the entry's
// commitment, the proof leads to the checkpoint's root, and the checkpoint
// is signed by the log's key and cosigned by at least minWitnesses of
// witnesses. It answers the opened checkpoint, or the first check that
// failed.
func (r Receipt) Verify(logKey note.Verifier, witnesses []note.Verifier, minWitnesses int) (Checkpoint, error) {
	lh := LeafHash(r.Entry)
	if !bytes.Equal(lh[:], r.LeafHash) {
		return Checkpoint{}, fmt.Errorf("receipt: the entry does not hash to the leaf hash")
	}
	var entry struct {
		ID       string `json:"id"`
		Personal string `json:"personal"`
	}
	if err := json.Unmarshal(r.Entry, &entry); err != nil {
		return Checkpoint{}, fmt.Errorf("receipt: the entry is not JSON: %w", err)
	}
	if entry.ID != r.TransferID {
		return Checkpoint{}, fmt.Errorf("receipt: the entry is record %q, not %q", entry.ID, r.TransferID)
	}
	if r.Personal != nil {
		sum := sha256.Sum256(append(append([]byte(nil), r.Salt...), r.Personal...))
		if hex.EncodeToString(sum[:]) != entry.Personal {
			return Checkpoint{}, fmt.Errorf("receipt: the personal fields and salt do not match the entry's commitment")
		}
	}
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), logKey, witnesses...)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("receipt: %w", err)
	}
	if n := Cosigners(cp, witnesses); n < minWitnesses {
		return Checkpoint{}, fmt.Errorf("receipt: the checkpoint has %d of the %d witness cosignatures required", n, minWitnesses)
	}
	if cp.Tree.N != r.TreeSize {
		return Checkpoint{}, fmt.Errorf("receipt: the proof is for a tree of %d leaves, the checkpoint for %d", r.TreeSize, cp.Tree.N)
	}
	proof := make(tlog.RecordProof, len(r.Proof))
	for i, h := range r.Proof {
		if len(h) != tlog.HashSize {
			return Checkpoint{}, fmt.Errorf("receipt: proof hash %d is %d bytes, not %d", i, len(h), tlog.HashSize)
		}
		copy(proof[i][:], h)
	}
	if err := tlog.CheckRecord(proof, cp.Tree.N, cp.Tree.Hash, r.LeafIndex, lh); err != nil {
		return Checkpoint{}, fmt.Errorf("receipt: leaf %d is not in the checkpoint's tree: %w", r.LeafIndex, err)
	}
	return cp, nil
}

// Cosigners counts the witnesses among witnesses whose verified signature
// the checkpoint carries.
func Cosigners(cp Checkpoint, witnesses []note.Verifier) int {
	n := 0
	for _, w := range witnesses {
		for _, sig := range cp.Note.Sigs {
			if sig.Name == w.Name() && sig.Hash == w.KeyHash() {
				n++
				break
			}
		}
	}
	return n
}
