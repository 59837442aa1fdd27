package translog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/witness"
)

// Witness is a witness the sealer sends its checkpoints to: the prefix of
// its C2SP tlog-witness endpoint, and its cosignature key, to check what
// it answers before the cosignature is published.
type Witness struct {
	URL string
	Key note.Verifier
}

// cosigner has the latest checkpoint cosigned by each witness, and merges
// their cosignatures into the stored checkpoint, which GET
// /v1/audit/log/checkpoint then serves. A witness that is down or refuses
// delays nothing: the checkpoint is served with the cosignatures it has.
type cosigner struct {
	st        store.Log
	logKey    note.Verifier
	witnesses []Witness
	logger    *slog.Logger

	sizes  []int64 // what each witness last cosigned; -1 unknown
	wake   chan struct{}
	active func() bool // whether this process seals: only the sealer asks
}

func newCosigner(st store.Log, logKey note.Verifier, ws []Witness, logger *slog.Logger, active func() bool) *cosigner {
	c := &cosigner{st: st, logKey: logKey, witnesses: ws, logger: logger, sizes: make([]int64, len(ws)), wake: make(chan struct{}, 1), active: active}
	for i := range c.sizes {
		c.sizes[i] = -1
	}
	return c
}

// poke asks for a round soon; it never blocks.
func (c *cosigner) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run sends each new checkpoint to the witnesses until ctx ends, and
// retries those that failed every retry interval.
func (c *cosigner) run(ctx context.Context, retry time.Duration) {
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
		}
		c.round(ctx)
	}
}

// round has the latest checkpoint cosigned by every witness that has not
// cosigned it yet, one after the other.
func (c *cosigner) round(ctx context.Context) {
	if !c.active() {
		return
	}
	state, err := c.st.TreeState(ctx)
	if err != nil || state.Size == 0 {
		return
	}
	for i, w := range c.witnesses {
		if c.sizes[i] == state.Size {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.cosign(cctx, i, w, state.Size)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.logger.Warn("translog: a witness did not cosign", "witness", w.Key.Name(), "size", state.Size, "err", err)
		}
	}
}

// cosign has witness i cosign the checkpoint of size, starting from what
// it last cosigned (asking it, through its 409, when that is not known).
func (c *cosigner) cosign(ctx context.Context, i int, w Witness, size int64) error {
	old := max(c.sizes[i], 0)
	for attempt := 0; ; attempt++ {
		signed, err := c.st.Checkpoint(ctx, size)
		if err != nil {
			return err
		}
		var proof tlog.TreeProof
		if old > 0 && old < size {
			hashes, err := Consistency(ctx, c.st, old, size)
			if err != nil {
				return err
			}
			proof = make(tlog.TreeProof, len(hashes))
			for j, h := range hashes {
				copy(proof[j][:], h)
			}
		}
		cosig, err := witness.AddCheckpoint(ctx, w.URL, old, proof, signed)
		var conflict *witness.ConflictError
		if errors.As(err, &conflict) && attempt == 0 && conflict.Size <= size {
			old = conflict.Size
			continue
		}
		if err != nil {
			return err
		}
		merged, err := witness.MergeCosignatures(signed, cosig)
		if err != nil {
			return err
		}
		// Publish only what verifies: a witness answering garbage must not
		// spoil the checkpoint everyone reads.
		if _, _, err := witness.VerifyCheckpoint(merged, c.logKey, []note.Verifier{w.Key}, 1); err != nil {
			return fmt.Errorf("the cosignature does not verify with the witness's key: %w", err)
		}
		if err := c.st.UpdateCheckpoint(ctx, size, merged); err != nil {
			return err
		}
		c.sizes[i] = size
		return nil
	}
}
