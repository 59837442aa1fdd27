package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/migrate"
)

var _ store.ReadinessChecker = (*Store)(nil)

// schemaVersion is the version of the latest migration this binary carries.
var schemaVersion = sync.OnceValues(func() (int, error) {
	return migrate.Latest(migrationFiles, "migrations")
})

// Ready reports whether the store can take the transfer log's next record:
// the schema is at the version of this binary's migrations, the database
// user may insert into transfers, and a transaction that writes commits.
// The write is a heartbeat on the migrations' bookkeeping: the latest
// migration's row is updated to the value it holds and the transaction
// commits, so that a database that cannot commit (a standby, a full disk, a
// revoked privilege) is found out as an append would find it, without a
// table of its own nor a row left behind. One transaction of two statements;
// the dead row version each heartbeat leaves is pruned in place.
func (s *Store) Ready(ctx context.Context) error {
	want, err := schemaVersion()
	if err != nil {
		return fmt.Errorf("postgres: ready: %w", err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var version int
		var mayInsert bool
		err := tx.QueryRow(ctx, `SELECT (SELECT COALESCE(MAX(version), 0) FROM schema_migrations),
				has_table_privilege('transfers', 'INSERT')`).Scan(&version, &mayInsert)
		switch {
		case err != nil:
			return fmt.Errorf("read the schema: %w", err)
		case version != want:
			return fmt.Errorf("the schema is at version %d, this binary needs %d", version, want)
		case !mayInsert:
			return errors.New("the database user may not insert into transfers")
		}
		tag, err := tx.Exec(ctx, `UPDATE schema_migrations SET applied_at = applied_at WHERE version = $1`, want)
		if err != nil {
			return fmt.Errorf("write the heartbeat: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("the migration %d is not recorded", want)
		}
		return nil
	})
	if err != nil {
		return unavailable("ready", err)
	}
	return nil
}
