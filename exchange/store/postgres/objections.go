package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// objectionChannel is the channel on which migration 0003's trigger names
// the subject of every objection created, changed or deleted.
const objectionChannel = "pont_objections"

// objectionIndex is the set of subjects that have, or may have, an
// objection. While it is synced (its listener holds a LISTEN connection and
// has loaded the table), a subject outside it has none, and FindObjection
// answers so without a round trip. It only grows: a subject that no longer
// has an objection costs a lookup, never a wrong answer. Unsynced (at start,
// or after the listener lost its connection), every lookup goes to the
// database.
type objectionIndex struct {
	mu       sync.RWMutex
	synced   bool
	subjects map[string]struct{}
}

// mayHave reports whether FindObjection must look subject up.
func (x *objectionIndex) mayHave(subject string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.synced {
		return true
	}
	_, ok := x.subjects[subject]
	return ok
}

func (x *objectionIndex) add(subjects ...string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.subjects == nil {
		x.subjects = map[string]struct{}{}
	}
	for _, s := range subjects {
		x.subjects[s] = struct{}{}
	}
}

func (x *objectionIndex) setSynced(synced bool) {
	x.mu.Lock()
	x.synced = synced
	x.mu.Unlock()
}

// followObjections keeps s.objections current until ctx ends, listening
// again (after a pause that grows to 5 s) whenever the connection is lost.
func (s *Store) followObjections(ctx context.Context) {
	defer close(s.followDone)
	pause := 100 * time.Millisecond
	for {
		err := s.listenObjections(ctx)
		s.objections.setSynced(false)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("postgres: lost the objection notifications; objections are looked up in the database until they are back",
			slog.String("error", err.Error()), slog.Duration("retry_in", pause))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// listenObjections listens on its own connection, loads the subjects that
// have objections and then adds each notified one, until the connection
// fails or ctx ends. LISTEN comes before the load, so that no change
// committed in between is missed.
func (s *Store) listenObjections(ctx context.Context) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// The connection leaves the pool: it must not serve queries while it
	// listens.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+objectionChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT subject FROM objections")
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	var subjects []string
	for rows.Next() {
		var subject string
		if err := rows.Scan(&subject); err != nil {
			rows.Close()
			return fmt.Errorf("load: %w", err)
		}
		subjects = append(subjects, subject)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	s.objections.add(subjects...)
	s.objections.setSynced(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait: %w", err)
		}
		s.objections.add(n.Payload)
	}
}
