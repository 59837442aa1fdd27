package translog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyConfig says which log to check and against which keys.
type VerifyConfig struct {
	// Server is the base URL of a Pont node ("https://pont.example.org").
	Server string
	// Token is an auditor's bearer token: entry bundles are for auditors.
	Token string
	// LogKey verifies the log's signature on checkpoints.
	LogKey note.Verifier
	// Witnesses verify witnesses' cosignatures; at least MinWitnesses of
	// them must have cosigned the checkpoint.
	Witnesses    []note.Verifier
	MinWitnesses int
	// StateFile keeps the last checkpoint verified, so that the next run
	// checks that the log only grew from it. Empty: no memory between runs.
	StateFile string
	// Client makes the requests. Defaults to a client that keeps a
	// connection for each request in flight (see NewVerifyClient).
	Client *http.Client
	// Concurrency bounds the requests in flight. Defaults to
	// DefaultConcurrency.
	Concurrency int
	// Report, when set, receives one line per check done.
	Report io.Writer
}

// DefaultConcurrency is VerifyConfig.Concurrency's default.
const DefaultConcurrency = 8

// NewVerifyClient answers an HTTP client for VerifyLog with concurrency
// requests in flight, each timing out after timeout (0: none): one that
// keeps an idle connection for each, where http.DefaultClient keeps two and
// would open a new connection for most of a log's thousands of requests.
func NewVerifyClient(timeout time.Duration, concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrency, DefaultConcurrency)
	return &http.Client{Timeout: timeout, Transport: t}
}

// VerifyResult is what a whole-log verification checked.
type VerifyResult struct {
	Checkpoint   Checkpoint
	Cosigners    int
	PreviousSize int64 // the size checked before (from StateFile), -1 when none
	Leaves       int64
}

// VerifyError names the first failure of a verification: Index is the first
// leaf found wrong, or -1 when the failure is not a leaf's (a checkpoint, a
// proof, the server).
type VerifyError struct {
	Index int64
	Err   error
}

func (e *VerifyError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("leaf %d: %v", e.Index, e.Err)
	}
	return e.Err.Error()
}

func (e *VerifyError) Unwrap() error { return e.Err }

// VerifyLog reads the whole log from cfg.Server and checks it: the
// checkpoint's signature and cosignatures, its consistency with the last
// checkpoint in StateFile, every entry against the log's leaf hashes, and
// the tree those leaves make against the checkpoint's root. On success the
// checkpoint is written to StateFile. The error is a *VerifyError naming
// the first failure.
func VerifyLog(ctx context.Context, cfg VerifyConfig) (VerifyResult, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Client == nil {
		cfg.Client = NewVerifyClient(0, cfg.Concurrency)
	}
	if cfg.Report == nil {
		cfg.Report = io.Discard
	}
	v := &verifier{cfg: cfg, base: strings.TrimSuffix(cfg.Server, "/")}
	res := VerifyResult{PreviousSize: -1}

	raw, err := v.get(ctx, "/v1/audit/log/checkpoint", false)
	if err != nil {
		return res, fail(-1, "checkpoint: %w", err)
	}
	cp, err := OpenCheckpoint(raw, cfg.LogKey, cfg.Witnesses...)
	if err != nil {
		return res, fail(-1, "the checkpoint is not the log's: %w", err)
	}
	res.Checkpoint = cp
	v.report("checkpoint: %d leaves, root %s, signed by %s", cp.Tree.N, cp.Tree.Hash, cfg.LogKey.Name())
	res.Cosigners = Cosigners(cp, cfg.Witnesses)
	if res.Cosigners < cfg.MinWitnesses {
		return res, fail(-1, "the checkpoint has %d of the %d witness cosignatures required", res.Cosigners, cfg.MinWitnesses)
	}
	if len(cfg.Witnesses) > 0 {
		v.report("cosignatures: %d of %d witnesses (at least %d required)", res.Cosigners, len(cfg.Witnesses), cfg.MinWitnesses)
	}

	if cfg.StateFile != "" {
		prev, err := readState(cfg.StateFile, cfg.LogKey)
		if err != nil {
			return res, fail(-1, "%w", err)
		}
		if prev != nil {
			res.PreviousSize = prev.N
			if err := v.consistent(ctx, *prev, cp.Tree); err != nil {
				return res, err
			}
			v.report("consistency: the tree of %d leaves contains the one of %d checked before", cp.Tree.N, prev.N)
		}
	}

	if err := v.leaves(ctx, cp.Tree); err != nil {
		return res, err
	}
	res.Leaves = cp.Tree.N
	v.report("leaves: all %d entries match the log's leaf hashes and lead to the checkpoint's root", cp.Tree.N)

	if cfg.StateFile != "" {
		if err := writeState(cfg.StateFile, raw); err != nil {
			return res, fail(-1, "%w", err)
		}
	}
	return res, nil
}

type verifier struct {
	cfg  VerifyConfig
	base string
}

func fail(index int64, format string, args ...any) error {
	return &VerifyError{Index: index, Err: fmt.Errorf(format, args...)}
}

func (v *verifier) report(format string, args ...any) {
	fmt.Fprintf(v.cfg.Report, format+"\n", args...)
}

// get fetches a path of the server; a 404 is errNotServed.
func (v *verifier) get(ctx context.Context, path string, auth bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
	if err != nil {
		return nil, err
	}
	if auth && v.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+v.cfg.Token)
	}
	resp, err := v.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := readBody(resp, 1<<24)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		detail := body
		if len(detail) > 300 {
			detail = detail[:300]
		}
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(detail))
	}
	return body, nil
}

// readBody reads resp's body, at most limit bytes, into a buffer of its
// announced length when it has one: an entry bundle is some 180 kB, which
// io.ReadAll would reach by copying it a dozen times.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	r := io.LimitReader(resp.Body, limit)
	if n := resp.ContentLength; n > 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(r)
}

// consistent checks that tree extends prev, with the server's proof.
func (v *verifier) consistent(ctx context.Context, prev, tree tlog.Tree) error {
	if tree.N < prev.N {
		return fail(-1, "the log went back: it has %d leaves, %d were checked before", tree.N, prev.N)
	}
	if tree.N == prev.N {
		if tree.Hash != prev.Hash {
			return fail(-1, "the log forked: a tree of %d leaves with root %s, where %s was checked before", tree.N, tree.Hash, prev.Hash)
		}
		return nil
	}
	raw, err := v.get(ctx, "/v1/audit/proofs/consistency?from="+strconv.FormatInt(prev.N, 10)+"&to="+strconv.FormatInt(tree.N, 10), false)
	if err != nil {
		return fail(-1, "consistency proof: %w", err)
	}
	var out struct {
		Proof [][]byte `json:"proof"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return fail(-1, "consistency proof: %w", err)
	}
	proof := make(tlog.TreeProof, len(out.Proof))
	for i, h := range out.Proof {
		if len(h) != tlog.HashSize {
			return fail(-1, "consistency proof: hash %d is %d bytes", i, len(h))
		}
		copy(proof[i][:], h)
	}
	if err := tlog.CheckTree(proof, tree.N, tree.Hash, prev.N, prev.Hash); err != nil {
		return fail(-1, "the log forked: the tree of %d leaves does not contain the one of %d checked before: %w", tree.N, prev.N, err)
	}
	return nil
}

// leaves fetches every entry bundle and level-0 hash tile, checks each
// entry's hash against the tile, and the whole tree against tree's root.
func (v *verifier) leaves(ctx context.Context, tree tlog.Tree) error {
	bundles := (tree.N + TileWidth - 1) / TileWidth
	type result struct {
		hashes []tlog.Hash // the entries' leaf hashes
		err    error
	}
	results := make([]result, bundles)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan int64)
	for range v.cfg.Concurrency {
		wg.Go(func() {
			for k := range next {
				results[k].hashes, results[k].err = v.bundle(ctx, tree, k)
			}
		})
	}
	// Every bundle is checked, and the failures read in index order, so
	// that the failure named is the first wrong leaf's.
	for k := int64(0); k < bundles; k++ {
		select {
		case next <- k:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()

	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for k, res := range results {
		if res.err != nil {
			return res.err
		}
		for _, h := range res.hashes {
			if err := r.Append(h[:], nil); err != nil {
				return fail(int64(k)*TileWidth, "%w", err)
			}
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return fail(-1, "%w", err)
	}
	if !bytes.Equal(root, tree.Hash[:]) {
		return fail(-1, "the %d leaves lead to root %s, not to the checkpoint's %s: the hash tiles were rewritten with the entries", tree.N, base64.StdEncoding.EncodeToString(root), tree.Hash)
	}
	return nil
}

// TileWidth is the number of leaves of a full entry bundle.
const TileWidth = 1 << TileHeight

// bundle fetches entry bundle k and the level-0 hash tile beside it, and
// answers the entries' leaf hashes once each matches the tile's.
func (v *verifier) bundle(ctx context.Context, tree tlog.Tree, k int64) ([]tlog.Hash, error) {
	width := min(tree.N-k*TileWidth, TileWidth)
	t := tlog.Tile{H: TileHeight, L: 0, N: k, W: int(width)}
	hashTile, err := v.get(ctx, "/v1/audit/log/"+torchwood.TilePath(t), false)
	if err != nil {
		return nil, fail(k*TileWidth, "hash tile: %w", err)
	}
	if len(hashTile) != int(width)*tlog.HashSize {
		return nil, fail(k*TileWidth, "hash tile %d is %d bytes, not %d", k, len(hashTile), width*tlog.HashSize)
	}
	t.L = -1
	data, err := v.get(ctx, "/v1/audit/log/"+torchwood.TilePath(t), true)
	if err != nil {
		return nil, fail(k*TileWidth, "entry bundle: %w", err)
	}
	out := make([]tlog.Hash, 0, width)
	for i := int64(0); i < width; i++ {
		index := k*TileWidth + i
		if len(data) == 0 {
			return nil, fail(index, "the entry bundle ends after %d entries of %d: a record is missing", i, width)
		}
		entry, rest, err := torchwood.ReadTileEntry(data)
		if err != nil {
			return nil, fail(index, "the entry bundle is malformed: %w", err)
		}
		data = rest
		h := LeafHash(entry)
		if !bytes.Equal(h[:], hashTile[i*tlog.HashSize:(i+1)*tlog.HashSize]) {
			what := "the record was changed, removed, moved or inserted"
			if len(entry) == 0 {
				what = "its record is missing"
			}
			return nil, fail(index, "the entry does not match the log's leaf hash: %s", what)
		}
		out = append(out, h)
	}
	if len(data) != 0 {
		return nil, fail(k*TileWidth+width, "the entry bundle has entries after its %d", width)
	}
	return out, nil
}

// readState answers the tree of the checkpoint last verified, nil when the
// file does not exist yet.
func readState(path string, logKey note.Verifier) (*tlog.Tree, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	n, err := note.Open(raw, note.VerifierList(logKey))
	if err != nil {
		return nil, fmt.Errorf("state file %s: not a checkpoint of this log: %w", path, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 3 {
		return nil, fmt.Errorf("state file %s: not a checkpoint", path)
	}
	tree, err := tlog.ParseTree([]byte("go.sum database tree\n" + lines[1] + "\n" + lines[2] + "\n"))
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &tree, nil
}

// writeState keeps checkpoint in path, atomically: a crash leaves the old
// state or the new one.
func writeState(path string, checkpoint []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pont-verify-*")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(checkpoint); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// ParseServer checks a server URL for VerifyConfig.
func ParseServer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--server %q is not an http(s) URL", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}
