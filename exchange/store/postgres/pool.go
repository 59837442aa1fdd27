package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Pool is the store's connection pool, for a component that keeps its own
// tables in the same database (the job queue's): its transactions are
// the store's database's.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
