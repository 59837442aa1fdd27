package api

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
)

// logRoutes serves the tamper-evident log (docs/transfer-log.md): the
// checkpoint, hash tiles and consistency proofs to anyone, since they carry
// no personal data; entry bundles to auditors; inclusion proofs to auditors
// and to the organisation that made the transfer.
func (s *server) logRoutes(r chi.Router) {
	r.Get("/audit/log/checkpoint", s.checkpoint)
	r.Get("/audit/log/tile/*", s.hashTile)
	r.Get("/audit/proofs/consistency", s.consistencyProof)
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/audit/proofs/inclusion", s.inclusionProof)
		r.With(requireRole(s.log, auth.RoleAuditor), s.withinQuota(quota.Auditor)).
			Get("/audit/log/tile/entries/*", s.entryBundle)
	})
}

// checkpoint answers the latest signed checkpoint, witnesses' cosignatures
// included.
func (s *server) checkpoint(w http.ResponseWriter, r *http.Request) {
	state, err := s.cfg.Log.TreeState(r.Context())
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	s.sawTree(state.Size)
	if state.Size == 0 || len(state.Checkpoint) == 0 {
		writeProblem(w, r, s.log, fault.New(fault.NotFound, "the log has no checkpoint yet: nothing has been sealed"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(state.Checkpoint)
}

// hashTile answers a hash tile, tile/<L>/<N>[.p/<W>]: a full tile never
// changes; a partial one is served while the tree is at least that wide.
func (s *server) hashTile(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tile(w, r)
	if !ok {
		return
	}
	if t.L < 0 {
		// tile/entries/… is routed to entryBundle, before this pattern;
		// anything else parsed as a data tile is not one.
		writeProblem(w, r, s.log, notFound("no such tile"))
		return
	}
	data, err := s.cfg.Log.ReadTile(r.Context(), t.L, t.N)
	if errors.Is(err, store.ErrNotFound) || err == nil && len(data) < t.W*32 {
		writeProblem(w, r, s.log, notFound("the tree has no such tile yet"))
		return
	}
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	writeTile(w, t.W, data[:t.W*32])
}

// entryBundle answers an entry bundle, tile/entries/<N>[.p/<W>], to an
// auditor, and records the read first.
func (s *server) entryBundle(w http.ResponseWriter, r *http.Request) {
	t, ok := s.tile(w, r)
	if !ok {
		return
	}
	if t.L != -1 {
		writeProblem(w, r, s.log, notFound("no such entry bundle"))
		return
	}
	if end := t.N<<translog.TileHeight + int64(t.W); end > s.sealed.Load() {
		state, err := s.cfg.Log.TreeState(r.Context())
		if err != nil {
			writeProblem(w, r, s.log, storeError(err))
			return
		}
		s.sawTree(state.Size)
		if end > state.Size {
			writeProblem(w, r, s.log, notFound("the tree has no such entry bundle yet"))
			return
		}
	}
	if err := s.recordRead(r, "entries", "", r.URL.Path, int64(t.W)); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	buf := bundleBuffers.Get().(*[]byte)
	defer bundleBuffers.Put(buf)
	data, err := translog.AppendBundle(r.Context(), (*buf)[:0], s.cfg.Log, t.N, t.W, s.log)
	if *buf = data[:0]; cap(data) > maxPooledBundle {
		*buf = nil // a bundle of entries cut at 64 kB: not worth keeping
	}
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	writeTile(w, t.W, data)
}

// bundleBuffers hold entry bundles while they are written out: an
// auditor reading the whole log asks for thousands of them, some 180 kB
// each.
var bundleBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBundle is the largest buffer bundleBuffers keeps.
const maxPooledBundle = 1 << 20

// sawTree notes that the log's tree has at least size leaves.
func (s *server) sawTree(size int64) {
	for {
		seen := s.sealed.Load()
		if size <= seen || s.sealed.CompareAndSwap(seen, size) {
			return
		}
	}
}

// tile parses the tile path of the request, answering a problem when it
// is not one.
func (s *server) tile(w http.ResponseWriter, r *http.Request) (t tileCoord, ok bool) {
	rest := chi.URLParam(r, "*")
	if strings.HasPrefix(r.URL.Path, "/v1/audit/log/tile/entries/") {
		rest = "entries/" + rest
	}
	parsed, err := torchwood.ParseTilePath("tile/" + rest)
	if err != nil || len(rest) > 64 {
		writeProblem(w, r, s.log, notFound("no such tile: a tile path is tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]"))
		return tileCoord{}, false
	}
	return tileCoord{L: parsed.L, N: parsed.N, W: parsed.W}, true
}

type tileCoord struct {
	L int
	N int64
	W int
}

func writeTile(w http.ResponseWriter, width int, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if width == 1<<translog.TileHeight {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// consistencyProof answers GET /v1/audit/proofs/consistency?from=N&to=M.
func (s *server) consistencyProof(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	var sizes [2]int64
	for i, name := range []string{"from", "to"} {
		v := q.Get(name)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeProblem(w, r, s.log, invalid(name, "%s must be a tree size, a whole number ≥ 0; got %q", name, fault.SafeText(v)))
			return
		}
		sizes[i] = n
	}
	for name := range q {
		if name != "from" && name != "to" {
			writeProblem(w, r, s.log, invalid(name, "unknown parameter %q: from and to only", fault.SafeText(name)))
			return
		}
	}
	proof, err := translog.Consistency(r.Context(), s.cfg.Log, sizes[0], sizes[1])
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			writeProblem(w, r, s.log, storeError(err))
			return
		}
		writeProblem(w, r, s.log, invalid("to", "%s", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": sizes[0], "to": sizes[1], "proof": proof})
}

// inclusionProof answers GET /v1/audit/proofs/inclusion?transfer_id=ID:
// the record's receipt, to an auditor (any record) or to the organisation
// that made the transfer.
func (s *server) inclusionProof(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	for name := range q {
		if name != "transfer_id" {
			writeProblem(w, r, s.log, invalid(name, "unknown parameter %q: transfer_id only", fault.SafeText(name)))
			return
		}
	}
	id := q.Get("transfer_id")
	if id == "" || len(id) > maxTransferID || fault.SafeText(id) != id {
		writeProblem(w, r, s.log, invalid("transfer_id", "transfer_id must name a record"))
		return
	}
	switch p.Role {
	case auth.RoleAuditor:
		if err := s.cfg.Quota.Check(quota.Auditor, p.Sub); err != nil {
			writeProblem(w, r, s.log, err)
			return
		}
	case auth.RoleRequester:
		// Only its own transfers; another organisation's is not found, so
		// that ids cannot be probed.
		t, err := s.cfg.Transfers.GetTransfer(r.Context(), id)
		if err == nil && (t.RequesterOrg != p.Org || t.Kind != "query") {
			err = store.ErrNotFound
		}
		if err != nil {
			writeProblem(w, r, s.log, storeError(err))
			return
		}
	default:
		writeProblem(w, r, s.log, fault.New(fault.Forbidden, "inclusion proofs are for auditors and for the organisation that made the transfer; a citizen's are at /v1/me/transfers/{id}/proof"))
		return
	}
	s.writeReceipt(w, r, id, p.Role == auth.RoleAuditor)
}

// myProof answers GET /v1/me/transfers/{id}/proof: the receipt of one of
// her own transfers.
func (s *server) myProof(w http.ResponseWriter, r *http.Request) {
	t, err := s.ownTransfer(r)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	s.writeReceipt(w, r, t.ID, false)
}

func (s *server) writeReceipt(w http.ResponseWriter, r *http.Request, id string, auditorRead bool) {
	receipt, err := translog.Prove(r.Context(), s.cfg.Log, id)
	switch {
	case errors.Is(err, translog.ErrNotSealed):
		fe := fault.New(fault.NotFound, "record %s is not sealed yet: its proof exists a second or so after its commit", id)
		fe.RetryAfter = time.Second
		writeProblem(w, r, s.log, fe)
		return
	case err != nil:
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	if auditorRead {
		if err := s.recordRead(r, "proof", "", "transfer_id="+id, 1); err != nil {
			writeProblem(w, r, s.log, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, receipt)
}

// recordRead writes an auditor's read of the log as a leaf before the
// answer leaves: reading the log is itself an access to personal data.
// subject is the citizen the read concerns, when one is named.
func (s *server) recordRead(r *http.Request, operation, subject, filter string, count int64) error {
	if s.cfg.Log == nil {
		return nil
	}
	p, _ := PrincipalFrom(r.Context())
	e := store.Event{
		ID: uuid.Must(uuid.NewV7()).String(), Time: time.Now().UTC().Truncate(time.Microsecond),
		Node: s.cfg.Node, Kind: store.EventLogRead, Operation: operation, Count: count,
		Subject: subject, Actor: p.Sub, Filter: filter, Salt: make([]byte, store.SaltSize),
	}
	_, _ = rand.Read(e.Salt)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	var err error
	if s.cfg.Events != nil {
		err = s.cfg.Events.AppendEvent(ctx, e)
	} else {
		err = s.cfg.Log.AppendEvents(ctx, []store.Event{e})
	}
	if err != nil {
		return storeError(err)
	}
	return nil
}
