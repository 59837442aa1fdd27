package translog

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store"
)

// TileHeight is the height of the log's tiles, as C2SP tlog-tiles fixes it.
const TileHeight = 8

// tileKey names a stored tile, whatever its width.
type tileKey struct {
	level int
	index int64
}

// hashes reads the tree's stored hashes (tlog's numbering) from the
// store's tiles, and, past the stored ones, from fresh: the hashes a
// sealing step is computing. It keeps the tiles it read, so that the right
// edge of the tree, which every step reads again, costs one read.
type hashes struct {
	ctx    context.Context
	st     store.Log
	tiles  map[tileKey][]byte
	stored int64       // how many stored hashes the store's tiles hold
	fresh  []tlog.Hash // stored hashes from index stored on
}

func newHashes(ctx context.Context, st store.Log, size int64) *hashes {
	return &hashes{ctx: ctx, st: st, tiles: map[tileKey][]byte{}, stored: tlog.StoredHashCount(size)}
}

// ReadHashes implements tlog.HashReader.
func (h *hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x >= h.stored {
			if x-h.stored >= int64(len(h.fresh)) {
				return nil, fmt.Errorf("translog: stored hash %d is not computed yet", x)
			}
			out[i] = h.fresh[x-h.stored]
			continue
		}
		t := tlog.TileForIndex(TileHeight, x)
		data, err := h.tile(t)
		if err != nil {
			return nil, err
		}
		if out[i], err = tlog.HashFromTile(t, data, x); err != nil {
			return nil, fmt.Errorf("translog: tile %d/%d: %w", t.L, t.N, err)
		}
	}
	return out, nil
}

// tile answers the stored data of t, at least t.W hashes wide.
func (h *hashes) tile(t tlog.Tile) ([]byte, error) {
	k := tileKey{t.L, t.N}
	if data, ok := h.tiles[k]; ok && len(data) >= t.W*tlog.HashSize {
		return data, nil
	}
	data, err := h.st.ReadTile(h.ctx, t.L, t.N)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(data) < t.W*tlog.HashSize {
		return nil, fmt.Errorf("translog: tile %d/%d is not stored %d hashes wide: the store lost part of the tree", t.L, t.N, t.W)
	}
	if err != nil {
		return nil, err
	}
	if len(h.tiles) > 256 { // the right edge needs a few; older ones are not read again
		clear(h.tiles)
	}
	h.tiles[k] = data
	return data, nil
}

// grow computes the stored hashes of leaves with the given leaf hashes,
// appended to a tree of size, and answers the tiles they change and the
// new tree's root. The hashes stay readable until commit or reset.
func (h *hashes) grow(size int64, leaves []tlog.Hash) ([]store.Tile, tlog.Hash, error) {
	h.fresh = h.fresh[:0]
	for i, lh := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(size+int64(i), lh, h)
		if err != nil {
			return nil, tlog.Hash{}, err
		}
		h.fresh = append(h.fresh, hs...)
	}
	newSize := size + int64(len(leaves))
	root, err := tlog.TreeHash(newSize, h)
	if err != nil {
		return nil, tlog.Hash{}, err
	}
	var tiles []store.Tile
	for _, t := range tlog.NewTiles(TileHeight, size, newSize) {
		data, err := tlog.ReadTileData(t, h)
		if err != nil {
			return nil, tlog.Hash{}, err
		}
		tiles = append(tiles, store.Tile{Level: t.L, Index: t.N, Data: data})
	}
	return tiles, root, nil
}

// commit makes the fresh hashes part of the stored ones, as they are once
// the store has the tiles grow answered.
func (h *hashes) commit(newSize int64, tiles []store.Tile) {
	for _, t := range tiles {
		h.tiles[tileKey{t.Level, t.Index}] = t.Data
	}
	h.stored = tlog.StoredHashCount(newSize)
	h.fresh = h.fresh[:0]
}

// reset forgets the fresh hashes and the tiles read: the store's tree is
// not what this reader thought (another sealer moved it).
func (h *hashes) reset(size int64) {
	clear(h.tiles)
	h.stored = tlog.StoredHashCount(size)
	h.fresh = h.fresh[:0]
}

// Reader answers tlog.HashReaders over the store's sealed tree, for proofs.
// A proof for a tree of size n only reads hashes that the tree of size n
// fixed, so the tiles' later growth does not change it.
func Reader(ctx context.Context, st store.Log, size int64) tlog.HashReader {
	return newHashes(ctx, st, size)
}
