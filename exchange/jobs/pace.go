package jobs

import (
	"context"
	"sync"
	"time"
)

// limiter bounds the elements running at once per key (a source, an
// organisation) on this node.
type limiter struct {
	n  int
	mu sync.Mutex
	// slots holds a semaphore per key, made on first use; keys are few
	// (the adapters, the organisations with jobs) and kept.
	slots map[string]chan struct{}
}

func newLimiter(n int) limiter { return limiter{n: n, slots: map[string]chan struct{}{}} }

func (l *limiter) slot(key string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[key]
	if !ok {
		s = make(chan struct{}, l.n)
		l.slots[key] = s
	}
	return s
}

func (l *limiter) acquire(ctx context.Context, key string) error {
	select {
	case l.slot(key) <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *limiter) release(key string) { <-l.slot(key) }

// rateMeter counts the elements done in the last minute, in one-second
// buckets, for the estimate of a new job's end.
type rateMeter struct {
	mu      sync.Mutex
	buckets [60]struct {
		second int64
		n      int
	}
}

func (m *rateMeter) add(now time.Time) {
	s := now.Unix()
	m.mu.Lock()
	b := &m.buckets[s%60]
	if b.second != s {
		b.second, b.n = s, 0
	}
	b.n++
	m.mu.Unlock()
}

// perSecond is the mean rate over the seconds of the last minute that saw
// any element done: a node idle for half a minute still estimates from
// what it did when it worked.
func (m *rateMeter) perSecond(now time.Time) float64 {
	s := now.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	total, seconds := 0, 0
	for _, b := range m.buckets {
		if b.n > 0 && s-b.second < 60 {
			total += b.n
			seconds++
		}
	}
	if seconds == 0 {
		return 0
	}
	return float64(total) / float64(seconds)
}
