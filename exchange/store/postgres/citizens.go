package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/citizens"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// records is the store's store.Citizens on its pool.
func records(pool *pgxpool.Pool) citizens.Records {
	return citizens.New(citizens.Config{
		Read: conn{pool}, Write: conn{pool}, Dialect: query.Postgres,
		NoRows: pgx.ErrNoRows, Name: "postgres", Unavailable: unavailable,
	})
}

// CreateObjection stores o, or answers the existing objection of o's
// subject, service and procedure.
func (s *Store) CreateObjection(ctx context.Context, o store.Objection) (store.Objection, error) {
	got, err := s.Records.CreateObjection(ctx, o)
	if err == nil {
		// This node sees it at once; the others when the notification comes.
		s.objections.add(got.Subject)
	}
	return got, err
}

// FindObjection answers subject's objection to service for procedure, or
// for every procedure when there is none for procedure alone;
// store.ErrNotFound when neither exists.
//
// A subject that no objection has named since this node started listening
// is answered from memory (see objectionIndex): an objection made on
// another node counts here once PostgreSQL delivers its notification,
// milliseconds after its commit.
func (s *Store) FindObjection(ctx context.Context, subject, service, procedure string) (store.Objection, error) {
	if !s.objections.mayHave(subject) {
		return store.Objection{}, s.NoObjection(subject, service, procedure)
	}
	return s.Records.FindObjection(ctx, subject, service, procedure)
}

// conn runs the citizens' statements through pgx.
type conn struct{ pool *pgxpool.Pool }

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.pool.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) query.Row {
	return c.pool.QueryRow(ctx, q, args...)
}

func (c conn) Query(ctx context.Context, q string, args ...any) (citizens.Rows, error) {
	return c.pool.Query(ctx, q, args...)
}
