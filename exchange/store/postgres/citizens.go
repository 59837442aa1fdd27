package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// citizenSQL are the shared statements of store.Citizens in PostgreSQL's dialect.
var citizenSQL = query.Citizens(query.Postgres)

// CreateConsent stores c. An id already stored is refused with
// store.ErrUnavailable wrapped, as any failed write.
func (s *Store) CreateConsent(ctx context.Context, c store.Consent) error {
	args, err := query.ConsentArgs(c, query.Postgres)
	if err != nil {
		return unavailable("create consent", err)
	}
	if _, err := s.pool.Exec(ctx, citizenSQL.InsertConsent, args...); err != nil {
		return unavailable("create consent", err)
	}
	return nil
}

// GetConsent answers the consent with id, whoever's it is, or store.ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, id string) (store.Consent, error) {
	c, err := query.ScanConsent(s.pool.QueryRow(ctx, citizenSQL.GetConsent, id), query.Postgres)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Consent{}, fmt.Errorf("postgres: consent %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, unavailable("get consent", err)
	}
	return c, nil
}

// ListConsents answers subject's consents, newest first, revoked ones
// included; none is an empty slice.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]store.Consent, error) {
	rows, err := s.pool.Query(ctx, citizenSQL.ListConsents, subject)
	if err != nil {
		return nil, unavailable("list consents", err)
	}
	defer rows.Close()
	out := []store.Consent{}
	for rows.Next() {
		c, err := query.ScanConsent(rows, query.Postgres)
		if err != nil {
			return nil, unavailable("list consents: scan", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list consents", err)
	}
	return out, nil
}

// RevokeConsent marks subject's consent id revoked at at, unless it was
// revoked before, and answers it; store.ErrNotFound when subject has no such
// consent.
func (s *Store) RevokeConsent(ctx context.Context, subject, id string, at time.Time) (store.Consent, error) {
	row := s.pool.QueryRow(ctx, citizenSQL.RevokeConsent, query.Postgres.Time(at), subject, id)
	c, err := query.ScanConsent(row, query.Postgres)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Consent{}, fmt.Errorf("postgres: consent %s of %s: %w", id, subject, store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, unavailable("revoke consent", err)
	}
	return c, nil
}

// CreateObjection stores o, or answers the existing objection of o's
// subject, service and procedure.
func (s *Store) CreateObjection(ctx context.Context, o store.Objection) (store.Objection, error) {
	row := s.pool.QueryRow(ctx, citizenSQL.CreateObjection, query.ObjectionArgs(o, query.Postgres)...)
	got, err := query.ScanObjection(row, query.Postgres)
	if err != nil {
		return store.Objection{}, unavailable("create objection", err)
	}
	// This node sees it at once; the others when the notification comes.
	s.objections.add(got.Subject)
	return got, nil
}

// ListObjections answers subject's objections, newest first; none is an
// empty slice.
func (s *Store) ListObjections(ctx context.Context, subject string) ([]store.Objection, error) {
	rows, err := s.pool.Query(ctx, citizenSQL.ListObjections, subject)
	if err != nil {
		return nil, unavailable("list objections", err)
	}
	defer rows.Close()
	out := []store.Objection{}
	for rows.Next() {
		o, err := query.ScanObjection(rows, query.Postgres)
		if err != nil {
			return nil, unavailable("list objections: scan", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list objections", err)
	}
	return out, nil
}

// DeleteObjection removes subject's objection id; store.ErrNotFound when
// subject has none with that id.
func (s *Store) DeleteObjection(ctx context.Context, subject, id string) error {
	tag, err := s.pool.Exec(ctx, citizenSQL.DeleteObjection, subject, id)
	if err != nil {
		return unavailable("delete objection", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: objection %s of %s: %w", id, subject, store.ErrNotFound)
	}
	return nil
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
		return store.Objection{}, fmt.Errorf("postgres: objection of %s to %s for %q: %w", subject, service, procedure, store.ErrNotFound)
	}
	row := s.pool.QueryRow(ctx, citizenSQL.FindObjection, subject, service, procedure)
	o, err := query.ScanObjection(row, query.Postgres)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Objection{}, fmt.Errorf("postgres: objection of %s to %s for %q: %w", subject, service, procedure, store.ErrNotFound)
	}
	if err != nil {
		return store.Objection{}, unavailable("find objection", err)
	}
	return o, nil
}
