// Package citizens implements store.Citizens once for the SQL stores. The
// statements and the reading of their rows are package query's; what the
// stores' drivers (database/sql, pgx) do differently is behind Conn. It
// changes when what a citizen can record, or how it is read, changes.
package citizens

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// Conn runs statements on a database handle.
type Conn interface {
	// Exec runs a statement that answers no rows and tells how many it
	// changed.
	Exec(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
	// QueryRow runs a statement that answers at most one row.
	QueryRow(ctx context.Context, sql string, args ...any) query.Row
	// Query runs a statement that answers rows.
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Rows are the rows of Conn.Query.
type Rows interface {
	query.Row
	Next() bool
	Err() error
	Close()
}

// Config says how Records reach a database.
type Config struct {
	// Read runs queries, Write runs statements that change rows (SQLite
	// keeps its single writer apart from its readers; PostgreSQL passes one
	// pool twice).
	Read, Write Conn
	Dialect     query.Dialect
	// NoRows is the driver's error for a QueryRow that found nothing.
	NoRows error
	// Name starts the store's error messages ("sqlite", "postgres").
	Name string
	// Unavailable wraps the failure of op as the store's ErrUnavailable.
	Unavailable func(op string, err error) error
}

// Records keeps citizens' consents and objections in a SQL database. It
// implements store.Citizens; a store embeds it.
type Records struct {
	cfg Config
	sql query.CitizenSQL
}

// New returns the Records of c, with the statements in c's dialect.
func New(c Config) Records {
	c.Read, c.Write = texts{c.Read}, texts{c.Write}
	return Records{cfg: c, sql: query.Citizens(c.Dialect)}
}

// texts passes every text argument through query.Text, in one place for
// every statement: a consent id or a subject with a NUL or bytes that are
// not UTF-8 is written, and looked up, as the transfer log writes it,
// instead of failing the statement as if the database were down.
type texts struct{ c Conn }

func (t texts) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	return t.c.Exec(ctx, sql, query.Texts(args)...)
}

func (t texts) QueryRow(ctx context.Context, sql string, args ...any) query.Row {
	return t.c.QueryRow(ctx, sql, query.Texts(args)...)
}

func (t texts) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	return t.c.Query(ctx, sql, query.Texts(args)...)
}

// CreateConsent stores c. An id already stored is refused with
// store.ErrUnavailable wrapped, as any failed write.
func (r *Records) CreateConsent(ctx context.Context, c store.Consent) error {
	args, err := query.ConsentArgs(c, r.cfg.Dialect)
	if err != nil {
		return r.cfg.Unavailable("create consent", err)
	}
	if _, err := r.cfg.Write.Exec(ctx, r.sql.InsertConsent, args...); err != nil {
		return r.cfg.Unavailable("create consent", err)
	}
	return nil
}

// GetConsent answers the consent with id, whoever's it is, or store.ErrNotFound.
func (r *Records) GetConsent(ctx context.Context, id string) (store.Consent, error) {
	c, err := query.ScanConsent(r.cfg.Read.QueryRow(ctx, r.sql.GetConsent, id), r.cfg.Dialect)
	if errors.Is(err, r.cfg.NoRows) {
		return store.Consent{}, fmt.Errorf("%s: consent %s: %w", r.cfg.Name, id, store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, r.cfg.Unavailable("get consent", err)
	}
	return c, nil
}

// ListConsents answers subject's consents, newest first, revoked ones
// included; none is an empty slice.
func (r *Records) ListConsents(ctx context.Context, subject string) ([]store.Consent, error) {
	return list(ctx, r, "list consents", r.sql.ListConsents, subject, query.ScanConsent)
}

// RevokeConsent marks subject's consent id revoked at at, unless it was
// revoked before, and answers it; store.ErrNotFound when subject has no such
// consent.
func (r *Records) RevokeConsent(ctx context.Context, subject, id string, at time.Time) (store.Consent, error) {
	row := r.cfg.Write.QueryRow(ctx, r.sql.RevokeConsent, r.cfg.Dialect.Time(at), subject, id)
	c, err := query.ScanConsent(row, r.cfg.Dialect)
	if errors.Is(err, r.cfg.NoRows) {
		return store.Consent{}, fmt.Errorf("%s: consent %s of %s: %w", r.cfg.Name, id, subject, store.ErrNotFound)
	}
	if err != nil {
		return store.Consent{}, r.cfg.Unavailable("revoke consent", err)
	}
	return c, nil
}

// CreateObjection stores o, or answers the existing objection of o's
// subject, service and procedure.
func (r *Records) CreateObjection(ctx context.Context, o store.Objection) (store.Objection, error) {
	row := r.cfg.Write.QueryRow(ctx, r.sql.CreateObjection, query.ObjectionArgs(o, r.cfg.Dialect)...)
	got, err := query.ScanObjection(row, r.cfg.Dialect)
	if err != nil {
		return store.Objection{}, r.cfg.Unavailable("create objection", err)
	}
	return got, nil
}

// ListObjections answers subject's objections, newest first; none is an
// empty slice.
func (r *Records) ListObjections(ctx context.Context, subject string) ([]store.Objection, error) {
	return list(ctx, r, "list objections", r.sql.ListObjections, subject, query.ScanObjection)
}

// DeleteObjection removes subject's objection id; store.ErrNotFound when
// subject has none with that id.
func (r *Records) DeleteObjection(ctx context.Context, subject, id string) error {
	n, err := r.cfg.Write.Exec(ctx, r.sql.DeleteObjection, subject, id)
	if err != nil {
		return r.cfg.Unavailable("delete objection", err)
	}
	if n == 0 {
		return fmt.Errorf("%s: objection %s of %s: %w", r.cfg.Name, id, subject, store.ErrNotFound)
	}
	return nil
}

// FindObjection answers subject's objection to service for procedure, or
// for every procedure when there is none for procedure alone;
// store.ErrNotFound when neither exists.
func (r *Records) FindObjection(ctx context.Context, subject, service, procedure string) (store.Objection, error) {
	o, err := query.ScanObjection(r.cfg.Read.QueryRow(ctx, r.sql.FindObjection, subject, service, procedure), r.cfg.Dialect)
	if errors.Is(err, r.cfg.NoRows) {
		return store.Objection{}, r.NoObjection(subject, service, procedure)
	}
	if err != nil {
		return store.Objection{}, r.cfg.Unavailable("find objection", err)
	}
	return o, nil
}

// NoObjection is FindObjection's store.ErrNotFound, for a store that knows
// the answer without asking the database.
func (r *Records) NoObjection(subject, service, procedure string) error {
	return fmt.Errorf("%s: objection of %s to %s for %q: %w", r.cfg.Name, subject, service, procedure, store.ErrNotFound)
}

// list runs a query for subject's rows and scans each; none is an empty
// slice.
func list[T any](ctx context.Context, r *Records, op, sql, subject string, scan func(query.Row, query.Dialect) (T, error)) ([]T, error) {
	rows, err := r.cfg.Read.Query(ctx, sql, subject)
	if err != nil {
		return nil, r.cfg.Unavailable(op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows, r.cfg.Dialect)
		if err != nil {
			return nil, r.cfg.Unavailable(op+": scan", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, r.cfg.Unavailable(op, err)
	}
	return out, nil
}
