package storetest

import (
	"encoding/base64"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
)

// TileHeight is the height of the log's hash tiles (docs/transfer-log.md).
const TileHeight = 8

// Tree computes what a sealer commits, as package translog's sealer does
// it, so that the suite and the benchmarks seal real leaves with real
// tiles: it keeps every stored hash of the tree in memory (the tlog
// layout) and answers, for the records Unsealed gave, the Seal that adds
// them. The zero value is the empty tree.
type Tree struct {
	hashes []tlog.Hash // by stored hash index
	size   int64
}

// ReadHashes makes the Tree a tlog.HashReader.
func (tr *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(tr.hashes)) {
			return nil, fmt.Errorf("storetest: hash %d of a tree with %d stored", x, len(tr.hashes))
		}
		out[i] = tr.hashes[x]
	}
	return out, nil
}

// Size answers the number of leaves.
func (tr *Tree) Size() int64 { return tr.size }

// Root answers the tree's root hash.
func (tr *Tree) Root() (tlog.Hash, error) { return tlog.TreeHash(tr.size, tr) }

// Next adds leaves (as Unsealed answered them, with cursor) to the tree and
// answers the Seal that commits them: the tiles they changed, the new root
// and a checkpoint of it (unsigned: the store keeps it as given).
func (tr *Tree) Next(leaves []store.Leaf, cursor string) (store.Seal, error) {
	from := tr.size
	s := store.Seal{From: from, To: from + int64(len(leaves)), Cursor: cursor, IDs: make([]string, len(leaves))}
	for i, l := range leaves {
		entry, err := translog.Entry(l.Transfer, l.Event)
		if err != nil {
			return store.Seal{}, err
		}
		hs, err := tlog.StoredHashes(from+int64(i), entry, tr)
		if err != nil {
			return store.Seal{}, err
		}
		tr.hashes = append(tr.hashes, hs...)
		s.IDs[i] = l.ID
	}
	tr.size = s.To
	root, err := tr.Root()
	if err != nil {
		return store.Seal{}, err
	}
	s.Root = root
	for _, t := range tlog.NewTiles(TileHeight, from, s.To) {
		data, err := tlog.ReadTileData(t, tr)
		if err != nil {
			return store.Seal{}, err
		}
		s.Tiles = append(s.Tiles, store.Tile{Level: t.L, Index: t.N, Data: data})
	}
	s.Checkpoint = Checkpoint(s.To, root)
	return s, nil
}

// Checkpoint answers the body of a checkpoint of the tree of size with
// root, under the suite's origin.
func Checkpoint(size int64, root tlog.Hash) []byte {
	return fmt.Appendf(nil, "pont.test/storetest\n%d\n%s\n", size, base64.StdEncoding.EncodeToString(root[:]))
}

// RootOf answers the root of the tree whose leaves are the entries of
// leaves, computed afresh: what a verifier who reads the log computes.
func RootOf(leaves []store.Leaf) (tlog.Hash, error) {
	var tr Tree
	for i, l := range leaves {
		if l.Transfer == nil && l.Event == nil {
			return tlog.Hash{}, fmt.Errorf("storetest: leaf %d (%s) has no record", l.Index, l.ID)
		}
		entry, err := translog.Entry(l.Transfer, l.Event)
		if err != nil {
			return tlog.Hash{}, err
		}
		hs, err := tlog.StoredHashes(int64(i), entry, &tr)
		if err != nil {
			return tlog.Hash{}, err
		}
		tr.hashes = append(tr.hashes, hs...)
		tr.size++
	}
	return tr.Root()
}
