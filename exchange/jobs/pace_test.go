package jobs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiterBoundsEachKey(t *testing.T) {
	l := newLimiter(2)
	var inA, maxA, inB atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		key := "a"
		if i%4 == 0 {
			key = "b"
		}
		wg.Go(func() {
			if err := l.acquire(context.Background(), key); err != nil {
				t.Error(err)
				return
			}
			defer l.release(key)
			if key == "b" {
				inB.Add(1)
				defer inB.Add(-1)
				return
			}
			n := inA.Add(1)
			defer inA.Add(-1)
			for m := maxA.Load(); n > m && !maxA.CompareAndSwap(m, n); m = maxA.Load() {
			}
			time.Sleep(5 * time.Millisecond)
		})
	}
	wg.Wait()
	if got := maxA.Load(); got != 2 {
		t.Errorf("at most %d ran at once under one key, want 2", got)
	}
	// A full key gives way to a context that ends.
	_ = l.acquire(context.Background(), "c")
	_ = l.acquire(context.Background(), "c")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.acquire(ctx, "c"); err == nil {
		t.Error("a third acquire of a full key succeeded")
	}
}

func TestRateMeter(t *testing.T) {
	var m rateMeter
	now := time.Unix(1_800_000_000, 0)
	if got := m.perSecond(now); got != 0 {
		t.Fatalf("an idle meter: %v", got)
	}
	for s := range 10 {
		for range 30 {
			m.add(now.Add(time.Duration(s) * time.Second))
		}
	}
	if got := m.perSecond(now.Add(10 * time.Second)); got != 30 {
		t.Errorf("30 a second for 10 s: %v", got)
	}
	// A minute later, the old seconds no longer count.
	if got := m.perSecond(now.Add(2 * time.Minute)); got != 0 {
		t.Errorf("two minutes later: %v", got)
	}
}
