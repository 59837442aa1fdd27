package sqlite

import (
	"context"
	"database/sql"

	"github.com/pontexchange/pont/exchange/store/internal/citizens"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// records is the store's store.Citizens on its writer and readers.
func records(w, r *sql.DB) citizens.Records {
	return citizens.New(citizens.Config{
		Read: conn{r}, Write: conn{w}, Dialect: query.SQLite,
		NoRows: sql.ErrNoRows, Name: "sqlite", Unavailable: unavailable,
	})
}

// conn runs the citizens' statements through database/sql.
type conn struct{ db *sql.DB }

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) query.Row {
	return c.db.QueryRowContext(ctx, q, args...)
}

func (c conn) Query(ctx context.Context, q string, args ...any) (citizens.Rows, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// sqlRows drops Close's error, which Rows.Err reports.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }
