package sqlite

import (
	"database/sql"
	"fmt"
)

// OpenDB opens another writing handle on the store's file, with the
// store's pragmas and one connection (SQLite has one writer at a time;
// the busy timeout makes the handles take turns), for a component that
// keeps its own tables in the same file (the job queue's). The caller
// closes it, before the store.
func (s *Store) OpenDB() (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+s.path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}
