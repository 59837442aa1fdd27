package sqlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/migrate"
)

var _ store.ReadinessChecker = (*Store)(nil)

// schemaVersion is the version of the latest migration this binary carries.
var schemaVersion = sync.OnceValues(func() (int, error) {
	return migrate.Latest(migrationFiles, "migrations")
})

// Ready reports whether the store can take the transfer log's next record:
// the schema is at the version of this binary's migrations, the transfers
// table is there, and a transaction that writes commits on the writer
// connection, the one appends use. The write is a heartbeat on the
// migrations' bookkeeping: the latest migration's row is updated to the
// value it holds and the transaction commits (a synced WAL frame), so that
// a file that cannot be written is found out as an append would find it.
func (s *Store) Ready(ctx context.Context) (err error) {
	want, err := schemaVersion()
	if err != nil {
		return fmt.Errorf("sqlite: ready: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return unavailable("ready: begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var version, transfers int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(version), 0) FROM schema_migrations),
			(SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'transfers')`).Scan(&version, &transfers); err != nil {
		return unavailable("ready", fmt.Errorf("read the schema: %w", err))
	}
	switch {
	case version != want:
		return unavailable("ready", fmt.Errorf("the schema is at version %d, this binary needs %d", version, want))
	case transfers != 1:
		return unavailable("ready", fmt.Errorf("the transfers table is missing"))
	}
	res, err := tx.ExecContext(ctx, `UPDATE schema_migrations SET applied_at = applied_at WHERE version = ?`, want)
	if err != nil {
		return unavailable("ready", fmt.Errorf("write the heartbeat: %w", err))
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return unavailable("ready", fmt.Errorf("the migration %d is not recorded", want))
	}
	if err := tx.Commit(); err != nil {
		return unavailable("ready: commit", err)
	}
	return nil
}
