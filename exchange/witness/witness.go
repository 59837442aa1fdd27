// Package witness is the witness of c2sp.org/tlog-witness, server and
// client side. A witness cosigns a log's checkpoint only if it is
// consistent with the last one it cosigned for that log, and remembers
// that one durably; a log that showed two different trees to two people
// would need a witness to cosign both, which it does not. Pont's transfer
// log (docs/transfer-log.md) asks witnesses to cosign its checkpoints;
// auditors check the cosignatures (VerifyCheckpoint).
//
// The server answers POST /add-checkpoint as the protocol says:
//
//   - 200 with the witness's cosignature/v1 line;
//   - 400 for a malformed request (the message names what is wrong), and
//     for an old size larger than the checkpoint's;
//   - 404 when the checkpoint's origin is not a log the witness knows;
//   - 403 when the checkpoint has no valid signature of that log's keys;
//   - 409 with Content-Type text/x.tlog.size and the size the witness last
//     cosigned, when the old size is not that size;
//   - 422 when the consistency proof does not verify;
//   - 409 (text/plain) for a checkpoint of the size last cosigned with
//     another root: a fork. The same checkpoint again is cosigned again.
package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Config is a witness's configuration.
type Config struct {
	// Key is the witness's private key, in the note.GenerateKey format
	// (pont keygen). Its name is the witness's name.
	Key string
	// StatePath is the file in which the witness keeps, per log, what it
	// last cosigned. It is created if absent; a corrupt one stops New.
	StatePath string
	// Logs are the logs the witness cosigns.
	Logs []Log
	// Logger gets a line for every checkpoint cosigned or refused; nil
	// discards them.
	Logger *slog.Logger
}

// Log is a log the witness cosigns: its checkpoints' origin line and the
// note verifier keys (name+hash+key, Ed25519) that may sign them. Several
// keys serve a key rotation: a checkpoint needs a signature of one.
type Log struct {
	Origin string
	Keys   []string
}

// Witness is the add-checkpoint server. It is an http.Handler.
type Witness struct {
	signer *torchwood.CosignatureSigner
	logs   map[string]note.Verifiers
	log    *slog.Logger
	mux    *http.ServeMux

	// mu serialises the check against the last cosigned tree and its
	// update: two requests from the same old size cannot both win, and a
	// slower one cannot roll back a faster one's larger tree.
	mu    sync.Mutex
	state *state
}

// New opens the witness's state and answers the witness. Close releases
// the state file.
func New(cfg Config) (*Witness, error) {
	signer, err := NewSigner(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	logs := make(map[string]note.Verifiers, len(cfg.Logs))
	for _, l := range cfg.Logs {
		if l.Origin == "" {
			return nil, errors.New("witness: a log without an origin")
		}
		if _, ok := logs[l.Origin]; ok {
			return nil, fmt.Errorf("witness: log %q is given twice (give both keys to one log)", l.Origin)
		}
		if len(l.Keys) == 0 {
			return nil, fmt.Errorf("witness: log %q has no key", l.Origin)
		}
		var vs []note.Verifier
		for _, k := range l.Keys {
			v, err := note.NewVerifier(k)
			if err != nil {
				return nil, fmt.Errorf("witness: log %q: key %q: %w (a log's key is a plain Ed25519 note verifier key)", l.Origin, cut(k), err)
			}
			vs = append(vs, v)
		}
		logs[l.Origin] = note.VerifierList(vs...)
	}
	st, err := openState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Witness{signer: signer, logs: logs, log: log, state: st, mux: http.NewServeMux()}
	w.mux.HandleFunc("POST /add-checkpoint", w.serveAddCheckpoint)
	return w, nil
}

// Name is the witness's name, that of its key.
func (w *Witness) Name() string { return w.signer.Name() }

// VerifierKey is the witness's cosignature/v1 verifier key, which whoever
// checks its cosignatures needs (ParseWitnessKey).
func (w *Witness) VerifierKey() string { return w.signer.Verifier().String() }

// Close releases the state file. Requests being served must have ended.
func (w *Witness) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.close()
}

func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.mux.ServeHTTP(rw, r) }

// refusal is an add-checkpoint request refused, with its status.
type refusal struct {
	status int
	msg    string
	// known is the size last cosigned, the body of a 409 for a wrong old
	// size (sized).
	known int64
	sized bool
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.writeRefusal(rw, r, refuse(http.StatusBadRequest, "the body is larger than %d bytes", MaxRequestBytes))
		} else {
			w.writeRefusal(rw, r, refuse(http.StatusBadRequest, "reading the body: %v", err))
		}
		return
	}
	cosig, err := w.addCheckpoint(r.Context(), body)
	if err != nil {
		var ref *refusal
		if !errors.As(err, &ref) {
			w.log.ErrorContext(r.Context(), "add-checkpoint failed", slog.String("error", err.Error()))
			http.Error(rw, "the witness failed; its log says why", http.StatusInternalServerError)
			return
		}
		w.writeRefusal(rw, r, ref)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(cosig)
}

func (w *Witness) writeRefusal(rw http.ResponseWriter, r *http.Request, ref *refusal) {
	if ref.sized {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", ref.known)
		return
	}
	http.Error(rw, ref.msg, ref.status)
}

// addCheckpoint checks a request and answers the witness's cosignature
// lines, or a *refusal, or another error (the witness's own failure).
func (w *Witness) addCheckpoint(ctx context.Context, body []byte) ([]byte, error) {
	req, err := parseRequest(body)
	if err != nil {
		w.log.InfoContext(ctx, "add-checkpoint: malformed request", slog.String("error", err.Error()))
		return nil, refuse(http.StatusBadRequest, "malformed request: %v", err)
	}
	origin, _, _ := bytes.Cut(req.checkpoint, []byte("\n"))
	verifiers, ok := w.logs[string(origin)]
	if !ok {
		w.log.WarnContext(ctx, "add-checkpoint: unknown log", slog.String("origin", cut(string(origin))))
		return nil, refuse(http.StatusNotFound, "unknown log %q: this witness does not cosign it", cut(string(origin)))
	}
	l := w.log.With(slog.String("origin", string(origin)), slog.Int64("old", req.oldSize))
	n, err := note.Open(req.checkpoint, verifiers)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			l.WarnContext(ctx, "add-checkpoint: no signature of the log's keys")
			return nil, refuse(http.StatusForbidden, "the checkpoint has no signature of a key of log %q", cut(string(origin)))
		case errors.As(err, &invalid):
			l.WarnContext(ctx, "add-checkpoint: invalid signature", slog.String("key", invalid.Name))
			return nil, refuse(http.StatusForbidden, "the checkpoint's signature by %s+%08x does not verify", invalid.Name, invalid.Hash)
		}
		return nil, refuse(http.StatusBadRequest, "malformed request: the checkpoint is not a signed note: %v", err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil || c.String() != n.Text {
		return nil, refuse(http.StatusBadRequest, "malformed request: the note is not a checkpoint (origin, size, base64 root hash, extension lines)")
	}
	l = l.With(slog.Int64("size", c.N))
	if req.oldSize > c.N {
		l.InfoContext(ctx, "add-checkpoint: old size larger than the checkpoint's")
		return nil, refuse(http.StatusBadRequest, "old size %d is larger than the checkpoint's size %d", req.oldSize, c.N)
	}
	if err := w.check(ctx, l, c, req); err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, fmt.Errorf("cosigning: %w", err)
	}
	l.InfoContext(ctx, "checkpoint cosigned")
	return signed[len(n.Text)+1:], nil // after the text and the empty line
}

// check compares c with the tree last cosigned for its log and, if it is
// consistent, records it before answering; all under w.mu.
func (w *Witness) check(ctx context.Context, l *slog.Logger, c torchwood.Checkpoint, req request) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.state.last(c.Origin)
	if req.oldSize != last.size {
		l.InfoContext(ctx, "add-checkpoint: old size is not the last cosigned", slog.Int64("last", last.size))
		return &refusal{status: http.StatusConflict, msg: "old size is not the size last cosigned", known: last.size, sized: true}
	}
	switch {
	case req.oldSize == 0:
		// Nothing cosigned yet (or an empty tree): nothing to be
		// consistent with, and a proof from an empty tree is empty.
		if len(req.proof) != 0 {
			return refuse(http.StatusUnprocessableEntity, "a consistency proof from size 0 is empty; got %d lines", len(req.proof))
		}
	case c.N == last.size:
		if c.Hash != last.root {
			l.ErrorContext(ctx, "add-checkpoint: FORK: a checkpoint of the size last cosigned with another root",
				slog.String("root", c.Hash.String()), slog.String("last_root", last.root.String()),
				slog.String("checkpoint", string(req.checkpoint)), slog.String("last_checkpoint", last.checkpoint))
			return refuse(http.StatusConflict, "fork: this witness cosigned size %d with root %s, not %s", last.size, last.root, c.Hash)
		}
		if len(req.proof) != 0 {
			return refuse(http.StatusUnprocessableEntity, "a consistency proof between equal sizes is empty; got %d lines", len(req.proof))
		}
		return nil // the same tree again: cosigned again, nothing to record
	default:
		if err := tlog.CheckTree(req.proof, c.N, c.Hash, last.size, last.root); err != nil {
			l.ErrorContext(ctx, "add-checkpoint: the consistency proof does not verify",
				slog.String("checkpoint", string(req.checkpoint)), slog.String("last_checkpoint", last.checkpoint))
			return refuse(http.StatusUnprocessableEntity, "the consistency proof from size %d to %d does not verify against the root this witness cosigned", last.size, c.N)
		}
	}
	if err := w.state.record(c.Origin, cosigned{size: c.N, root: c.Hash, checkpoint: string(req.checkpoint)}); err != nil {
		return fmt.Errorf("recording the checkpoint: %w", err)
	}
	return nil
}
