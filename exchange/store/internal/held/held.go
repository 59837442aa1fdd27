// Package held keeps the roles a store has handed out and not yet had back
// (its Sealers), so that closing the store releases them: a role held by a
// closed store would otherwise stay taken until the process ends.
package held

import "sync"

// Releaser is a role that can be given back.
type Releaser interface {
	Release() error
}

// Set is the roles handed out and not released. The zero value is ready.
type Set[T interface {
	comparable
	Releaser
}] struct {
	mu     sync.Mutex
	closed bool
	live   map[T]struct{}
}

// Add keeps x, unless the set is closed: then it answers false and the
// caller gives x up itself.
func (s *Set[T]) Add(x T) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.live == nil {
		s.live = map[T]struct{}{}
	}
	s.live[x] = struct{}{}
	return true
}

// Remove forgets x, released by its holder.
func (s *Set[T]) Remove(x T) {
	s.mu.Lock()
	delete(s.live, x)
	s.mu.Unlock()
}

// Close releases every role still held and refuses new ones.
func (s *Set[T]) Close() {
	s.mu.Lock()
	s.closed = true
	live := make([]T, 0, len(s.live))
	for x := range s.live {
		live = append(live, x)
	}
	s.mu.Unlock()
	for _, x := range live {
		_ = x.Release()
	}
}
