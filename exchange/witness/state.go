package witness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"
)

// cosigned is what the witness last cosigned for a log.
type cosigned struct {
	size       int64
	root       tlog.Hash
	checkpoint string // the signed checkpoint as the log sent it
}

// stateJSON is the state file: per log origin, the last cosigned tree.
type stateJSON struct {
	Logs map[string]logJSON `json:"logs"`
}

type logJSON struct {
	Size       int64  `json:"size"`
	Root       string `json:"root"`       // base64
	Checkpoint string `json:"checkpoint"` // the signed checkpoint, as the log sent it
}

// state is the witness's durable memory. Every change is written to a new
// file, fsync'd and renamed over the old one (and the directory fsync'd)
// before it is used, so that a witness restarted after a crash remembers
// every checkpoint it answered with a cosignature. A lock file keeps a
// second process off the same state. Callers serialise record.
type state struct {
	path string
	lock io.Closer
	logs map[string]cosigned
}

// openState reads the state file at path, or creates an empty one if
// there is none. A file that cannot be read whole is an error naming it:
// starting from an empty state instead would let the witness cosign a
// fork of what it cosigned before.
func openState(path string) (*state, error) {
	if path == "" {
		return nil, errors.New("witness: no state file")
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("witness state %s: %w", path, err)
	}
	s := &state{path: path, lock: lock, logs: map[string]cosigned{}}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The first start: write the empty state now, so that a directory
		// the witness cannot write to stops it here and not at its first
		// cosignature.
		err = s.write(s.logs)
	case err == nil:
		if s.logs, err = decodeState(raw); err != nil {
			err = fmt.Errorf("witness state %s is corrupt: %w; restore it from a backup (starting from an empty state would let this witness cosign a fork of a log it has cosigned)", path, err)
		}
	}
	if err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

func decodeState(raw []byte) (map[string]cosigned, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f stateJSON
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if f.Logs == nil {
		return nil, errors.New(`no "logs" object`)
	}
	logs := make(map[string]cosigned, len(f.Logs))
	for origin, l := range f.Logs {
		root, err := tlog.ParseHash(l.Root)
		if origin == "" || strings.ContainsAny(origin, "\n") {
			return nil, fmt.Errorf("log origin %q", cut(origin))
		}
		if l.Size < 0 || err != nil {
			return nil, fmt.Errorf("log %q: size %d, root %q", cut(origin), l.Size, cut(l.Root))
		}
		if l.Checkpoint != "" {
			// The checkpoint must be the one the size and root come from.
			text := l.Checkpoint
			if i := strings.LastIndex(text, "\n\n"); i >= 0 {
				text = text[:i+1]
			}
			c, err := torchwood.ParseCheckpoint(text)
			if err != nil || c.Origin != origin || c.N != l.Size || c.Hash != root {
				return nil, fmt.Errorf("log %q: its checkpoint is not of size %d and root %s", cut(origin), l.Size, l.Root)
			}
		}
		logs[origin] = cosigned{size: l.Size, root: root, checkpoint: l.Checkpoint}
	}
	return logs, nil
}

// last answers what the witness last cosigned for origin: size 0 if
// nothing.
func (s *state) last(origin string) cosigned { return s.logs[origin] }

// record makes c the last cosigned tree of origin, durably, before it
// answers; on error the state is unchanged.
func (s *state) record(origin string, c cosigned) error {
	logs := maps.Clone(s.logs)
	logs[origin] = c
	if err := s.write(logs); err != nil {
		return err
	}
	s.logs = logs
	return nil
}

func (s *state) write(logs map[string]cosigned) error {
	f := stateJSON{Logs: make(map[string]logJSON, len(logs))}
	for origin, c := range logs {
		f.Logs[origin] = logJSON{Size: c.size, Root: c.root.String(), Checkpoint: c.checkpoint}
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, append(raw, '\n'))
}

func (s *state) close() error { return s.lock.Close() }

// writeFileAtomic replaces path with data: a temporary file beside it,
// written and fsync'd, renamed over path, and the directory fsync'd, so
// that after a crash path holds either the old bytes or the new ones.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
