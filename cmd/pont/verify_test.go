package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// TestAuditVerifyNamesTheTamperedLeaf runs pont audit verify against a
// node on PostgreSQL: it verifies the log, then, once the leaf of the
// eighth query has had its record changed in the database behind the
// node's back, exits 1 naming that leaf, and verifies again once the
// record is put back.
func TestAuditVerifyNamesTheTamperedLeaf(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	st, err := postgres.New(ctx, postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	n := startDevNodeOn(t, st)
	req := n.token(t, auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"})
	const queries = 12
	for range queries {
		if status, out := query(t, n.base, req, "padro", "12345678Z", map[string]any{"municipality": "08019"}, nil); status != http.StatusOK {
			t.Fatalf("padro: %d %v", status, out)
		}
	}
	// On PostgreSQL a record is sealed once every older transaction of the
	// cluster, where other tests write too, has ended.
	// The tree's size counts the adapters' leaves too: wait for the
	// queries' own.
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	for deadline := time.Now().Add(20 * time.Second); ; {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := n.b.Seal(sctx)
		cancel()
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		var sealed int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM log_leaves l JOIN transfers t ON t.id = l.record_id`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if sealed >= queries {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d queries sealed in 20 s", sealed, queries)
		}
		time.Sleep(20 * time.Millisecond)
	}

	auditor := n.token(t, auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-1"})
	verify := []string{"audit", "verify", "--server", n.base, "--token", auditor,
		"--log-key", filepath.Join(n.dir, "log.vkey"), "--state", filepath.Join(t.TempDir(), "state")}
	if code, out, errs := pontRun(t, verify...); code != 0 || !strings.Contains(out, "verified: ") {
		t.Fatalf("the genuine log: exit %d\n%s%s", code, out, errs)
	}

	// The eighth query's record: the node's start published and activated
	// its adapters, whose leaves come first.
	var id, subject string
	var index int64
	if err := db.QueryRow(ctx, `SELECT t.id, t.subject_id, l.leaf_index FROM log_leaves l JOIN transfers t ON t.id = l.record_id
		ORDER BY l.leaf_index OFFSET 7 LIMIT 1`).Scan(&id, &subject, &index); err != nil {
		t.Fatal(err)
	}
	leaf := fmt.Sprintf("leaf %d", index)
	setSubject := func(s string) {
		t.Helper()
		if _, err := db.Exec(ctx, "UPDATE transfers SET subject_id = $2 WHERE id = $1", id, s); err != nil {
			t.Fatal(err)
		}
	}
	setSubject("00000000T")
	code, out, errs := pontRun(t, verify...)
	setSubject(subject)
	if code != 1 || !strings.Contains(errs, "FAILED: "+leaf+": ") {
		t.Errorf("with %s changed: exit %d, want 1 naming it\n%s%s", leaf, code, out, errs)
	}
	if strings.Contains(out, "verified: ") {
		t.Errorf("with %s changed, it says it verified:\n%s", leaf, out)
	}
	if code, out, errs := pontRun(t, verify...); code != 0 {
		t.Errorf("once %s is put back: exit %d\n%s%s", leaf, code, out, errs)
	}
	t.Logf("the failure: %s", strings.TrimSpace(errs))
}
