// Package guard stands in front of each adapter so that no caller can take
// service from another: circuit breakers on its source (one per citizen
// whose record keeps failing, one for the source as a whole) make a failing
// source answer source_unavailable at once instead of holding an instance
// until the call's deadline, and a fair share of the adapter's capacity
// keeps one organisation from queueing all of it. It wraps a router.Adapter
// and is one itself, so that the pipeline does not know it is there; it
// changes when the rules for refusing a call before it reaches the adapter
// change.
package guard

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/sony/gobreaker/v2"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// Config tunes a guard. A zero field takes its default.
type Config struct {
	// Capacity is how many calls the adapter runs at once
	// (wasmhost.Adapter.Capacity). Required for the fair share; below 1 it
	// is 1.
	Capacity int
	// Share is how many of the adapter's calls one organisation may have
	// under way, once the adapter is full and another organisation has
	// calls under way too; a call over it is refused with adapter_busy at
	// once instead of queueing in front of the others'. Defaults to
	// max(1, Capacity/2). Citizens reading their own data count as one
	// organisation.
	Share int
	// SubjectFailures is how many timeouts or source failures in a row for
	// one citizen's record open that record's breaker. Defaults to 3.
	SubjectFailures int
	// SubjectOpenFor is how long a citizen's open breaker refuses her
	// queries before one probe goes through. Defaults to 30 s.
	SubjectOpenFor time.Duration
	// Subjects bounds the citizens whose failures are remembered (the
	// least recently failing are forgotten first). Defaults to 4096.
	Subjects int
	// SourceWindow is the rolling window over which the source's failure
	// ratio is counted. Defaults to 10 s.
	SourceWindow time.Duration
	// SourceMinCalls is how many calls the window must hold before the
	// source's breaker may open. Defaults to 20.
	SourceMinCalls int
	// SourceFailureRatio is the share of failed calls in the window that
	// opens the source's breaker. Defaults to 0.5.
	SourceFailureRatio float64
	// SourceOpenFor is how long the source's open breaker refuses every
	// query before one probe goes through. Defaults to 10 s.
	SourceOpenFor time.Duration
	// Logger receives the breakers' changes of state. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Capacity = max(c.Capacity, 1)
	if c.Share <= 0 {
		c.Share = max(1, c.Capacity/2)
	}
	if c.SubjectFailures <= 0 {
		c.SubjectFailures = 3
	}
	if c.SubjectOpenFor <= 0 {
		c.SubjectOpenFor = 30 * time.Second
	}
	if c.Subjects <= 0 {
		c.Subjects = 4096
	}
	if c.SourceWindow <= 0 {
		c.SourceWindow = 10 * time.Second
	}
	if c.SourceMinCalls <= 0 {
		c.SourceMinCalls = 20
	}
	if c.SourceFailureRatio <= 0 {
		c.SourceFailureRatio = 0.5
	}
	if c.SourceOpenFor <= 0 {
		c.SourceOpenFor = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Adapter is a guarded adapter: a router.Adapter that answers as the one it
// wraps, or refuses a call before it reaches it.
type Adapter struct {
	inner router.Adapter
	cfg   Config
	name  string
	log   *slog.Logger

	source *breaker
	// subjects are the breakers of the citizens whose last call failed (or
	// whose breaker is not closed), by subject; a citizen whose call
	// succeeds leaves it, so that it holds only records that fail.
	subjects *lru.Cache[subjectKey, *breaker]

	mu sync.Mutex
	// running counts the calls under way by organisation, and total all
	// of them.
	running map[string]int
	total   int
}

// breaker is one gobreaker breaker and when it last opened, for the
// Retry-After of the calls it refuses.
type breaker struct {
	cb      *gobreaker.TwoStepCircuitBreaker[struct{}]
	openFor time.Duration
	mu      sync.Mutex
	opened  time.Time
}

// Wrap guards a.
func Wrap(a router.Adapter, cfg Config) *Adapter {
	cfg = cfg.withDefaults()
	g := &Adapter{inner: a, cfg: cfg, name: a.Manifest().Name, running: map[string]int{}}
	g.log = cfg.Logger.With(slog.String("adapter", g.name))
	g.source = g.newBreaker("source", cfg.SourceOpenFor, gobreaker.Settings{
		Interval:     cfg.SourceWindow,
		BucketPeriod: max(cfg.SourceWindow/10, time.Millisecond),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			n := c.TotalSuccesses + c.TotalFailures
			return int(n) >= cfg.SourceMinCalls && float64(c.TotalFailures) >= cfg.SourceFailureRatio*float64(n)
		},
	})
	// New never fails for a positive size.
	g.subjects, _ = lru.New[subjectKey, *breaker](cfg.Subjects)
	return g
}

// newBreaker makes a breaker that opens when trip says, stays open for
// openFor, and closes after one successful probe.
func (g *Adapter) newBreaker(kind string, openFor time.Duration, st gobreaker.Settings) *breaker {
	b := &breaker{openFor: openFor}
	st.Name = kind
	st.Timeout = openFor
	st.MaxRequests = 1
	st.IsSuccessful = func(err error) bool { return !failed(err) }
	st.IsExcluded = excluded
	st.OnStateChange = func(name string, from, to gobreaker.State) {
		if to == gobreaker.StateOpen {
			b.mu.Lock()
			b.opened = time.Now()
			b.mu.Unlock()
		}
		// Which citizen's breaker changed is personal data: never logged.
		g.log.Info("circuit breaker changed state", slog.String("breaker", name),
			slog.String("from", from.String()), slog.String("to", to.String()))
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](st)
	return b
}

// retryAfter is how long until b lets a probe through, at least a second.
func (b *breaker) retryAfter() time.Duration {
	b.mu.Lock()
	left := b.openFor - time.Since(b.opened)
	b.mu.Unlock()
	return max(left, time.Second).Round(time.Second)
}

// errNotCounted is reported to a breaker for a call that says nothing of
// the source: refused before it reached the adapter, or given up by its
// caller.
var errNotCounted = errors.New("guard: not counted")

// subjectKey names a citizen's record: her document, not the names a
// query spells.
type subjectKey struct{ idType, id string }

// excluded reports whether err says nothing of the source: a call refused
// before it reached the source, for want of an instance, or given up by its
// caller.
func excluded(err error) bool {
	return errors.Is(err, errNotCounted) || fault.CodeOf(err) == fault.AdapterBusy
}

// failed reports whether err is the source's failure: it did not answer
// in time, or answered that it is unavailable. A citizen the source does
// not know, a broken record, and the caller's own mistakes are answers.
func failed(err error) bool {
	switch fault.CodeOf(err) {
	case fault.AdapterTimeout, fault.SourceUnavailable:
		return !errors.Is(err, errNotCounted)
	}
	return false
}

// Manifest is the wrapped adapter's.
func (g *Adapter) Manifest() manifest.Manifest { return g.inner.Manifest() }

// SHA256 is the wrapped adapter's.
func (g *Adapter) SHA256() string { return g.inner.SHA256() }

// Unwrap returns the wrapped adapter.
func (g *Adapter) Unwrap() router.Adapter { return g.inner }

// Call passes the query to the wrapped adapter unless a breaker is open for
// its subject or its source (source_unavailable, with RetryAfter) or the
// requester is over its share of a full adapter (adapter_busy).
func (g *Adapter) Call(ctx context.Context, in abi.Input) (json.RawMessage, error) {
	key := subjectKey{in.Subject.IDType, in.Subject.ID}
	var subjectDone func(error)
	if sb, ok := g.subjects.Get(key); ok {
		done, err := sb.cb.Allow()
		if err != nil {
			return nil, g.refused(sb, "the source failed repeatedly for this subject")
		}
		subjectDone = done
	}
	sourceDone, err := g.source.cb.Allow()
	if err != nil {
		if subjectDone != nil {
			subjectDone(errNotCounted)
		}
		return nil, g.refused(g.source, "the source is failing")
	}
	if !g.admit(in.Requester) {
		sourceDone(errNotCounted)
		if subjectDone != nil {
			subjectDone(errNotCounted)
		}
		return nil, fault.New(fault.AdapterBusy, "adapter %s is full and the requester has its share of it (%d calls); retry later", g.name, g.cfg.Share)
	}
	data, err := g.inner.Call(ctx, in)
	g.leave(in.Requester)

	outcome := err
	if err != nil && ctx.Err() != nil {
		// The caller gave up, or set a deadline shorter than the
		// adapter's: that says nothing of the source.
		outcome = errNotCounted
	}
	switch {
	case subjectDone != nil:
		// The citizen's breaker knew this record: the source's breaker
		// counts only its first failure in a row, so that one record that
		// keeps failing cannot open the source for every citizen.
		prev := g.subjectFailures(key)
		subjectDone(outcome)
		if failed(outcome) && prev > 0 {
			sourceDone(errNotCounted)
		} else {
			sourceDone(outcome)
		}
		if !failed(outcome) && !excluded(outcome) {
			g.forget(key)
		}
	case failed(outcome):
		sourceDone(outcome)
		g.remember(key, outcome)
	default:
		sourceDone(outcome)
	}
	return data, err
}

// refused is the error of a call that a breaker refused.
func (g *Adapter) refused(b *breaker, why string) error {
	e := fault.New(fault.SourceUnavailable, "adapter %s: %s; calls are refused until a probe succeeds", g.name, why)
	e.RetryAfter = b.retryAfter()
	return e
}

// admit takes a place for a call of org, unless org is over its share of
// a full adapter that another organisation is using: a lone organisation
// may queue for the whole pool, as before, but not in front of others.
func (g *Adapter) admit(org string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	mine := g.running[org]
	if mine >= g.cfg.Share && g.total >= g.cfg.Capacity && g.total > mine {
		return false
	}
	g.running[org] = mine + 1
	g.total++
	return true
}

// leave gives back a place that admit took.
func (g *Adapter) leave(org string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.total--
	if g.running[org]--; g.running[org] <= 0 {
		delete(g.running, org)
	}
}

// subjectFailures is how many calls in a row failed for subject, as its
// breaker counts them (0 when it has none, or it is not closed).
func (g *Adapter) subjectFailures(subject subjectKey) uint32 {
	sb, ok := g.subjects.Peek(subject)
	if !ok {
		return 0
	}
	return sb.cb.Counts().ConsecutiveFailures
}

// remember records a failure for subject, whose breaker is made on its
// first one.
func (g *Adapter) remember(subject subjectKey, err error) {
	sb, ok := g.subjects.Get(subject)
	if !ok {
		threshold := uint32(g.cfg.SubjectFailures)
		sb = g.newBreaker("subject", g.cfg.SubjectOpenFor, gobreaker.Settings{
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		})
		if prev, found, _ := g.subjects.PeekOrAdd(subject, sb); found {
			sb = prev
		}
	}
	if done, aerr := sb.cb.Allow(); aerr == nil {
		done(err)
	}
}

// forget drops subject's breaker once it is closed again: the record
// answers.
func (g *Adapter) forget(subject subjectKey) {
	if sb, ok := g.subjects.Peek(subject); ok && sb.cb.State() == gobreaker.StateClosed {
		g.subjects.Remove(subject)
	}
}
