// Package quota shares a node's capacity between its callers: each caller
// (a requesting organisation, a citizen, an auditor, a data owner's
// publishers) has a rate and a burst
// of requests, and above them is refused until its bucket refills. It
// changes when how callers are counted changes.
//
// Buckets are token buckets (golang.org/x/time/rate), one per caller, kept
// in a bounded LRU so that a flood of distinct callers cannot grow the
// node's memory: a forgotten caller starts again with a full bucket, which
// is the generous side of the error.
package quota

import (
	"fmt"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/pontexchange/pont/exchange/fault"
)

// Limit is one caller's allowance: Rate requests a second on average, up to
// Burst at once. A zero Rate is no limit.
type Limit struct {
	Rate  float64 `json:"requests_per_second"`
	Burst int     `json:"burst"`
}

// Unlimited reports whether l limits nothing.
func (l Limit) Unlimited() bool { return l.Rate <= 0 }

// Config is the allowance of each kind of caller. The zero Config limits
// nothing.
type Config struct {
	// Requester is each requesting organisation's allowance, unless
	// Organisations names it.
	Requester Limit `json:"requester"`
	// Organisations overrides Requester for the organisations it names (by NIF).
	Organisations map[string]Limit `json:"organisations"`
	// Citizen is each citizen's allowance on /v1/me.
	Citizen Limit `json:"citizen"`
	// Auditor is each auditor's allowance on /v1/audit.
	Auditor Limit `json:"auditor"`
	// Publisher is each data owner's allowance on /v1/adapters, shared by
	// its publishers: a publication compiles a module.
	Publisher Limit `json:"publisher"`
	// MaxCallers bounds how many callers' buckets are kept. Defaults to 100 000.
	MaxCallers int `json:"max_callers"`
}

// Kinds of callers.
const (
	Requester = "requester"
	Citizen   = "citizen"
	Auditor   = "auditor"
	Publisher = "publisher"
)

// Limiter answers whether a caller may make one more request now. Safe for
// concurrent use.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex
	buckets *lru.Cache[string, *rate.Limiter]
	now     func() time.Time
}

// New checks cfg and returns its Limiter.
func New(cfg Config) (*Limiter, error) {
	check := func(what string, l Limit) error {
		if math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) || l.Rate < 0 || l.Burst < 0 {
			return fmt.Errorf("quota: %s: rate and burst must be positive numbers", what)
		}
		if l.Rate > 0 && l.Burst < 1 {
			return fmt.Errorf("quota: %s: a rate needs a burst of at least 1", what)
		}
		return nil
	}
	for what, l := range map[string]Limit{Requester: cfg.Requester, Citizen: cfg.Citizen, Auditor: cfg.Auditor, Publisher: cfg.Publisher} {
		if err := check(what, l); err != nil {
			return nil, err
		}
	}
	for org, l := range cfg.Organisations {
		if err := check("organisation "+org, l); err != nil {
			return nil, err
		}
	}
	if cfg.MaxCallers <= 0 {
		cfg.MaxCallers = 100_000
	}
	buckets, err := lru.New[string, *rate.Limiter](cfg.MaxCallers)
	if err != nil {
		return nil, fmt.Errorf("quota: %w", err)
	}
	return &Limiter{cfg: cfg, buckets: buckets, now: time.Now}, nil
}

// limitOf is the allowance of a caller of kind named id.
func (l *Limiter) limitOf(kind, id string) Limit {
	switch kind {
	case Requester:
		if o, ok := l.cfg.Organisations[id]; ok {
			return o
		}
		return l.cfg.Requester
	case Citizen:
		return l.cfg.Citizen
	case Auditor:
		return l.cfg.Auditor
	case Publisher:
		return l.cfg.Publisher
	}
	return Limit{}
}

// Allow takes one request from the bucket of the caller of kind named id.
// When the bucket is empty it answers false and how long until a request
// would be allowed. A nil Limiter allows everything.
func (l *Limiter) Allow(kind, id string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	lim := l.limitOf(kind, id)
	if lim.Unlimited() {
		return true, 0
	}
	key := kind + "\x00" + id
	l.mu.Lock()
	b, found := l.buckets.Get(key)
	if !found {
		b = rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst)
		l.buckets.Add(key, b)
	}
	l.mu.Unlock()
	now := l.now()
	r := b.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // refused: the request takes nothing from the bucket
		return false, d
	}
	return true, 0
}

// Check is Allow as an error: nil when the caller of kind named id may
// make one more request now, otherwise a fault.RateLimited that says when
// it may (RetryAfter). A nil Limiter allows everything.
func (l *Limiter) Check(kind, id string) error {
	ok, wait := l.Allow(kind, id)
	if ok {
		return nil
	}
	e := fault.New(fault.RateLimited, "this %s's quota is used up; retry in %s", kind, wait.Round(time.Millisecond))
	e.RetryAfter = wait
	return e
}
