// Package pgtest gives integration tests a fresh PostgreSQL database of
// their own, so that test packages can run in parallel against one server.
// It changes when the way tests find PostgreSQL (PONT_TEST_DATABASE_URL,
// PONT_REQUIRE_POSTGRES) changes.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables read by NewDatabase.
const (
	// EnvURL names the server, as a postgres:// URL of any database on it.
	EnvURL = "PONT_TEST_DATABASE_URL"
	// EnvRequire, when "1", makes a missing EnvURL a failure instead of a skip (CI sets it).
	EnvRequire = "PONT_REQUIRE_POSTGRES"
)

// NewDatabase creates an empty database on the server that
// PONT_TEST_DATABASE_URL names, drops it (WITH (FORCE)) when the test ends,
// and returns its URL. Without the variable it skips the test loudly, or
// fails it when PONT_REQUIRE_POSTGRES=1.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(EnvURL + " not set and " + EnvRequire + "=1: PostgreSQL tests cannot run")
		}
		t.Skip(EnvURL + " not set: PostgreSQL tests SKIPPED")
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, got %q", EnvURL, admin)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "pont_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", u.Redacted(), err)
	}
	defer conn.Close(ctx)
	// CREATE DATABASE copies template1 and fails while another session is
	// connected to it, as another package's CREATE may briefly be.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || attempt == 20 {
			break
		}
		time.Sleep(time.Duration(50+attempt*25) * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
