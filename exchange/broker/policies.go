package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pontexchange/pont/exchange/policy"
)

// policyWatchInterval is how often a policy directory is looked at for
// changes. Policies change by hand, rarely: a second is prompt enough and
// costs a few small reads.
const policyWatchInterval = time.Second

// policyReloader rebuilds the policy engine from a directory when its
// files change, or on demand (SIGHUP). A policy set that fails to compile
// is refused and logged; the engine that was serving keeps serving.
type policyReloader struct {
	dir     string
	data    map[string]any
	install func(*policy.Engine)
	opts    []policy.Option // the node's, so that reloaded engines share its metrics
	log     *slog.Logger

	mu      sync.Mutex
	current string // content hash of the files the serving engine came from, or of a refused set
}

// Reload rebuilds the engine from the directory now, whether or not its
// files changed. It answers the new revision, or why the files were refused.
func (r *policyReloader) Reload(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sum, err := dirHash(r.dir)
	if err != nil {
		return "", err
	}
	return r.load(ctx, sum)
}

// load compiles the directory's policies; r.mu is held.
func (r *policyReloader) load(ctx context.Context, sum string) (string, error) {
	r.current = sum
	engine, err := policy.New(ctx, os.DirFS(r.dir), r.data, r.opts...)
	if err != nil {
		r.log.Error("policies refused; the previous ones keep serving", slog.String("dir", r.dir), slog.String("error", err.Error()))
		return "", fmt.Errorf("broker: policies in %s: %w", r.dir, err)
	}
	r.install(engine)
	r.log.Info("policies loaded", slog.String("dir", r.dir), slog.String("revision", engine.Revision()))
	return engine.Revision(), nil
}

// watch reloads whenever the directory's policy files change, until ctx is done.
func (r *policyReloader) watch(ctx context.Context) {
	t := time.NewTicker(policyWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sum, err := dirHash(r.dir)
		if err != nil {
			r.log.Warn("policy directory unreadable", slog.String("dir", r.dir), slog.String("error", err.Error()))
			continue
		}
		r.mu.Lock()
		if sum != r.current {
			_, _ = r.load(ctx, sum) // load logs a refusal
		}
		r.mu.Unlock()
	}
}

// dirHash is a hash of the names and contents of the .rego files in dir.
func dirHash(dir string) (string, error) {
	fsys := os.DirFS(dir)
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", errors.New("broker: no .rego files in " + dir)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "", fmt.Errorf("broker: policies: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", strings.TrimSpace(name), len(raw))
		h.Write(raw)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
