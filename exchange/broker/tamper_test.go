package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/exchange/witness"
)

// tamperQueries fills the log past two full entry bundles (256 leaves
// each) into a third.
const tamperQueries = 600

// TestTamperingIsFound tampers with a node's PostgreSQL database the way an
// operator with write access to it could, one way at a time, and checks
// that an auditor's verification over HTTP (pont audit verify's
// translog.VerifyLog) fails naming the first leaf changed, removed, moved
// or inserted, or the checkpoint; that a fork re-signed with the log's own
// key is caught by the state kept from the last verification and by a
// witness; and, after each case is undone, that the log verifies again.
func TestTamperingIsFound(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	st, err := postgres.New(ctx, postgres.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}

	// The log's key, made before the node starts (which then keeps it), so
	// that the witness can be told it.
	dir := t.TempDir()
	skey, vkey, err := note.GenerateKey(rand.Reader, broker.DevLogOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.key"), []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.vkey"), []byte(vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wit := startWitness(t, vkey)

	// The node seals only when told (n.seal), so that the tree stays as it
	// is while it is tampered with; the auditors' reads that every
	// verification records stay unsealed.
	n := startDevWith(t, broker.Config{
		Store: st, DataDir: dir, SealInterval: time.Hour,
		Witnesses: []translog.Witness{{URL: wit.url, Key: wit.key}},
	})
	fillConcurrently(t, n, tamperQueries)
	fillLog(t, n, 0) // a consent, its revocation, an objection
	want := int64(tamperQueries + 3)
	n.sealed(fmt.Sprintf("%d leaves", want), func() bool { return n.size() >= want })
	n.cosigned(wit)

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })

	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
	state := filepath.Join(t.TempDir(), "state")
	cfg := translog.VerifyConfig{
		Server: n.base, Token: auditor, LogKey: n.logKey(),
		Witnesses: []note.Verifier{wit.key}, MinWitnesses: 1, StateFile: state,
	}
	res, err := translog.VerifyLog(ctx, cfg)
	if err != nil {
		t.Fatalf("the genuine log does not verify: %v", err)
	}
	size := res.Checkpoint.Tree.N
	if size < 2*translog.TileWidth+1 || res.Cosigners != 1 {
		t.Fatalf("verified %d leaves with %d cosignatures; want three entry bundles, cosigned", size, res.Cosigners)
	}
	for _, i := range []int64{50, 60, 100, 199, 200, 300, 400} {
		if src := (tamperer{t: t, db: db}).source(i); src != "transfer" {
			t.Fatalf("leaf %d is a %s, not a transfer: the cases below tamper with transfers", i, src)
		}
	}

	// whole checks, after each case, that the log verifies again, from the
	// state kept and with its cosignature, and is as big as before.
	whole := func(after string) {
		t.Helper()
		res, err := translog.VerifyLog(ctx, cfg)
		if err != nil {
			t.Fatalf("after %s was undone, the log does not verify: %v", after, err)
		}
		if res.Leaves != size || res.PreviousSize != size {
			t.Fatalf("after %s: verified %d leaves from %d, want %d: the tree moved under the test", after, res.Leaves, res.PreviousSize, size)
		}
	}

	cases := []struct {
		name  string
		index int64  // the first bad leaf VerifyLog must name; -1: none
		want  string // what its message must say
		// tamper changes the database and answers what undoes it.
		tamper func(tx tamperer) (undo func())
	}{
		{"a field of a record changed", 300, "does not match the log's leaf hash", func(tx tamperer) func() {
			id := tx.recordID(300)
			var was string
			tx.queryRow(&was, "SELECT requester FROM transfers WHERE id = $1", id)
			tx.exec("UPDATE transfers SET requester = 'S0800001E' WHERE id = $1", id)
			return func() { tx.exec("UPDATE transfers SET requester = $2 WHERE id = $1", id, was) }
		}},
		{"a record deleted", 100, "its record is missing", func(tx tamperer) func() {
			id := tx.recordID(100)
			tx.exec("CREATE TEMP TABLE tamper_deleted AS SELECT * FROM transfers WHERE id = '" + id + "'")
			tx.exec("DELETE FROM transfers WHERE id = $1", id)
			return func() {
				tx.exec("INSERT INTO transfers SELECT * FROM tamper_deleted")
				tx.exec("DROP TABLE tamper_deleted")
			}
		}},
		// Its leaf row too: the bundle keeps the leaf's place, empty.
		{"a record and its leaf deleted", 100, "its record is missing", func(tx tamperer) func() {
			id := tx.recordID(100)
			tx.exec("CREATE TEMP TABLE tamper_deleted AS SELECT * FROM transfers WHERE id = '" + id + "'")
			tx.exec("CREATE TEMP TABLE tamper_deleted_leaf AS SELECT * FROM log_leaves WHERE leaf_index = 100")
			tx.exec("DELETE FROM transfers WHERE id = $1", id)
			tx.exec("DELETE FROM log_leaves WHERE leaf_index = 100")
			return func() {
				tx.exec("INSERT INTO transfers SELECT * FROM tamper_deleted")
				tx.exec("INSERT INTO log_leaves SELECT * FROM tamper_deleted_leaf")
				tx.exec("DROP TABLE tamper_deleted, tamper_deleted_leaf")
			}
		}},
		{"a record deleted, the later leaves moved down", 100, "does not match the log's leaf hash", func(tx tamperer) func() {
			id := tx.recordID(100)
			tx.exec("CREATE TEMP TABLE tamper_deleted AS SELECT * FROM transfers WHERE id = '" + id + "'")
			tx.exec("CREATE TEMP TABLE tamper_deleted_leaf AS SELECT * FROM log_leaves WHERE leaf_index = 100")
			tx.exec("DELETE FROM transfers WHERE id = $1", id)
			tx.exec("DELETE FROM log_leaves WHERE leaf_index = 100")
			tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index + 1 WHERE leaf_index > 100")
			tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index WHERE leaf_index < 0")
			return func() {
				tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index - 1 WHERE leaf_index >= 100")
				tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index WHERE leaf_index < 0")
				tx.exec("INSERT INTO transfers SELECT * FROM tamper_deleted")
				tx.exec("INSERT INTO log_leaves SELECT * FROM tamper_deleted_leaf")
				tx.exec("DROP TABLE tamper_deleted, tamper_deleted_leaf")
			}
		}},
		{"two records swapped", 50, "does not match the log's leaf hash", func(tx tamperer) func() {
			swap := func() {
				tx.exec(`UPDATE log_leaves l SET record_id = o.record_id, record_at = o.record_at, source = o.source
					FROM log_leaves o WHERE (l.leaf_index, o.leaf_index) IN ((50, 60), (60, 50))`)
			}
			swap()
			return swap
		}},
		{"two records' contents swapped", 50, "does not match the log's leaf hash", func(tx tamperer) func() {
			// The rows keep their ids and times, and so their leaves;
			// what they say is exchanged.
			a, b := tx.recordID(50), tx.recordID(60)
			swap := func() {
				tx.exec(`UPDATE transfers t SET requester = o.requester, subject_id = o.subject_id, service = o.service,
					latency_us = o.latency_us, data_sha256 = o.data_sha256, salt = o.salt
					FROM transfers o WHERE (t.id, o.id) IN (($1, $2), ($2, $1))`, a, b)
			}
			swap()
			return swap
		}},
		{"a record inserted", 200, "does not match the log's leaf hash", func(tx tamperer) func() {
			forged := uuid.Must(uuid.NewV7()).String()
			// A copy of leaf 199's record under a new id, about another
			// citizen, given leaf 200; every later leaf moves up one. The
			// leaf indexes go through negative values, so that the primary
			// key holds at every row.
			tx.exec("CREATE TEMP TABLE tamper_inserted AS SELECT * FROM transfers WHERE id = '" + tx.recordID(199) + "'")
			tx.exec("UPDATE tamper_inserted SET id = $1, subject_id = '00000000T'", forged)
			tx.exec("INSERT INTO transfers SELECT * FROM tamper_inserted")
			tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index - 1 WHERE leaf_index >= 200")
			tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index WHERE leaf_index < 0")
			tx.exec("INSERT INTO log_leaves (leaf_index, record_id, record_at, source) SELECT 200, id, at, 'transfer' FROM tamper_inserted")
			return func() {
				tx.exec("DELETE FROM log_leaves WHERE leaf_index = 200")
				tx.exec("DELETE FROM transfers WHERE id = $1", forged)
				tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index + 1 WHERE leaf_index > 200")
				tx.exec("UPDATE log_leaves SET leaf_index = -leaf_index WHERE leaf_index < 0")
				tx.exec("DROP TABLE tamper_inserted")
			}
		}},
		// The node serves the checkpoint stored for log_state's size: the
		// same text, signed by another key named as the log's.
		{"the checkpoint signed by another key of the log's name", -1, "the checkpoint is not the log's", func(tx tamperer) func() {
			was := tx.checkpoint(size)
			tx.setCheckpoint(size, resign(tx.t, was, otherKey(tx.t), false))
			return func() { tx.setCheckpoint(size, was) }
		}},
		{"the checkpoint signed by another key, keeping the witness's cosignature", -1, "checkpoint is not signed by the log's key", func(tx tamperer) func() {
			was := tx.checkpoint(size)
			tx.setCheckpoint(size, resign(tx.t, was, otherKey(tx.t), true))
			return func() { tx.setCheckpoint(size, was) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			undo := c.tamper(tamperer{t: t, db: db})
			_, err := translog.VerifyLog(ctx, cfg)
			undo()
			checkVerifyError(t, err, c.index, c.want)
		})
		whole(c.name)
	}

	// The operator, who holds the log's key, serves a forked tree of the
	// same size: a record changed, the hash tiles, the root and the
	// checkpoint computed and signed again. The tree is consistent in
	// itself; the state kept from the last verification and the witness,
	// which cosigned the genuine tree, are what catch it.
	t.Run("a forked tree re-signed with the log's key", func(t *testing.T) {
		tx := tamperer{t: t, db: db}
		undo := tx.fork(st, dir, size)
		defer undo()

		status, forged := n.raw("GET", "/v1/audit/log/checkpoint", "", nil)
		if status != http.StatusOK {
			t.Fatalf("the forked checkpoint: %d %s", status, forged)
		}
		if _, err := translog.VerifyLog(ctx, translog.VerifyConfig{Server: n.base, Token: auditor, LogKey: n.logKey()}); err != nil {
			t.Fatalf("without memory nor witnesses, the fork should look like a log (that is why both exist): %v", err)
		}
		noWitness := cfg
		noWitness.Witnesses, noWitness.MinWitnesses = nil, 0
		_, err := translog.VerifyLog(ctx, noWitness)
		checkVerifyError(t, err, -1, "the log forked")

		_, err = witness.AddCheckpoint(ctx, wit.url, size, nil, forged)
		var refused *witness.ResponseError
		if !errors.As(err, &refused) || refused.StatusCode != http.StatusConflict || !strings.Contains(refused.Body, "fork") {
			t.Errorf("the witness, given the fork, answered %v; want 409 fork", err)
		}

		noState := cfg
		noState.StateFile = ""
		_, err = translog.VerifyLog(ctx, noState)
		checkVerifyError(t, err, -1, "0 of the 1 witness cosignatures")

		// The genuine checkpoint's cosignature copied onto the fork does
		// not verify: the witness signed another root.
		genuine, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		withCosig, err := witness.MergeCosignatures(forged, cosignatureLines(t, genuine, wit.key.Name()))
		if err != nil {
			t.Fatal(err)
		}
		tx.setCheckpoint(size, withCosig)
		_, err = translog.VerifyLog(ctx, noState)
		checkVerifyError(t, err, -1, "invalid signature")
	})
	whole("the fork")
}

// checkVerifyError checks that err is a *translog.VerifyError naming
// index (-1: no leaf) and saying want.
func checkVerifyError(t *testing.T, err error, index int64, want string) {
	t.Helper()
	var ve *translog.VerifyError
	switch {
	case err == nil:
		t.Errorf("the tampered log verifies; want a failure at index %d", index)
	case !errors.As(err, &ve):
		t.Errorf("the failure is %T, not a *translog.VerifyError: %v", err, err)
	case ve.Index != index:
		t.Errorf("the failure names index %d, want %d: %v", ve.Index, index, err)
	case index >= 0 && !strings.HasPrefix(err.Error(), fmt.Sprintf("leaf %d: ", index)):
		t.Errorf("the message does not start with leaf %d: %v", index, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("the message does not say %q: %v", want, err)
	default:
		t.Logf("found: %v", err)
	}
}

// fillConcurrently makes n queries from eight clients at once: the group
// commit then writes them in a few transactions, and the fill takes
// seconds instead of a commit's latency per query.
func fillConcurrently(t *testing.T, nd *node, n int) {
	t.Helper()
	requester := nd.requester(barcelona)
	var bodies [3][]byte
	for i, subject := range []string{"12345678Z", "67890123B", "12345678Z"} {
		bodies[i] = mustJSON(t, envelope(subject, map[string]any{"municipality": "08019"}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				a := nd.rawQuery(http.DefaultClient, requester, "padro", bodies[i%3])
				if a.err == nil && a.status != http.StatusOK && a.status != http.StatusNotFound { // as fillLog: one subject is not in the padró
					a.err = fmt.Errorf("status %d %s", a.status, a.Code)
				}
				if a.err != nil {
					select {
					case errs <- fmt.Errorf("query %d: %w", i, a.err):
					default:
					}
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// testWitness is a witness server on a loopback port.
type testWitness struct {
	url string
	key note.Verifier // its cosignature key
}

// startWitness starts a witness of the log whose verifier key is logVKey,
// with its state in a file of the test's.
func startWitness(t *testing.T, logVKey string) testWitness {
	t.Helper()
	wkey, _, err := note.GenerateKey(rand.Reader, "witness.test")
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{
		Key: wkey, StatePath: filepath.Join(t.TempDir(), "witness.json"),
		Logs: []witness.Log{{Origin: broker.DevLogOrigin, Keys: []string{logVKey}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(func() {
		srv.Close()
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	key, err := witness.ParseWitnessKey(w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	return testWitness{url: srv.URL, key: key}
}

// cosigned waits until the checkpoint the node serves carries w's
// cosignature: the sealer asks the witness after each seal.
func (n *node) cosigned(w testWitness) {
	n.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		status, raw := n.raw("GET", "/v1/audit/log/checkpoint", "", nil)
		if status == http.StatusOK {
			cp, err := translog.OpenCheckpoint(raw, n.logKey(), w.key)
			if err == nil && translog.Cosigners(cp, []note.Verifier{w.key}) == 1 {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("the checkpoint is not cosigned in 20 s: %d %s", status, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// otherKey is a signer named as the log, with a key that is not the log's.
func otherKey(t *testing.T) note.Signer {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, broker.DevLogOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// resign answers the checkpoint's text signed by signer, with the
// witnesses' cosignature lines of the original when keepCosigs.
func resign(t *testing.T, signed []byte, signer note.Signer, keepCosigs bool) []byte {
	t.Helper()
	text, sigs, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		t.Fatalf("not a signed note: %q", signed)
	}
	out, err := note.Sign(&note.Note{Text: string(text) + "\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if !keepCosigs {
		return out
	}
	var cosigs []byte
	for line := range strings.Lines(string(sigs)) {
		if !strings.HasPrefix(line, "— "+signer.Name()+" ") {
			cosigs = append(cosigs, line...)
		}
	}
	if len(cosigs) == 0 {
		t.Fatalf("the checkpoint has no cosignature to keep: %q", signed)
	}
	if out, err = witness.MergeCosignatures(out, cosigs); err != nil {
		t.Fatal(err)
	}
	return out
}

// cosignatureLines answers the signature lines of the signed note by name.
func cosignatureLines(t *testing.T, signed []byte, name string) []byte {
	t.Helper()
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	var out []byte
	for line := range strings.Lines(string(sigs)) {
		if strings.HasPrefix(line, "— "+name+" ") {
			out = append(out, line...)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no signature by %s in %q", name, signed)
	}
	return out
}

// tamperer changes a node's database behind its back, on a connection of
// its own.
type tamperer struct {
	t  *testing.T
	db *pgx.Conn
}

func (x tamperer) exec(sql string, args ...any) {
	x.t.Helper()
	if _, err := x.db.Exec(context.Background(), sql, args...); err != nil {
		x.t.Fatalf("%s: %v", sql, err)
	}
}

func (x tamperer) queryRow(dest any, sql string, args ...any) {
	x.t.Helper()
	if err := x.db.QueryRow(context.Background(), sql, args...).Scan(dest); err != nil {
		x.t.Fatalf("%s: %v", sql, err)
	}
}

// recordID answers the id of leaf i's record.
func (x tamperer) recordID(i int64) string {
	x.t.Helper()
	var id string
	x.queryRow(&id, "SELECT record_id FROM log_leaves WHERE leaf_index = $1", i)
	return id
}

// source answers the table of leaf i's record.
func (x tamperer) source(i int64) string {
	x.t.Helper()
	var src string
	x.queryRow(&src, "SELECT source FROM log_leaves WHERE leaf_index = $1", i)
	return src
}

func (x tamperer) checkpoint(size int64) []byte {
	x.t.Helper()
	var cp []byte
	x.queryRow(&cp, "SELECT checkpoint FROM log_checkpoints WHERE size = $1", size)
	return cp
}

// setCheckpoint replaces the stored checkpoint of size, which the node
// serves while the tree has that size.
func (x tamperer) setCheckpoint(size int64, cp []byte) {
	x.t.Helper()
	x.exec("UPDATE log_checkpoints SET checkpoint = $2 WHERE size = $1", size, cp)
}

// fork changes leaf 400's record and makes the tree of size match it
// again: every hash tile, the root and the checkpoint, signed with the
// log's key from dir/log.key, as the operator holding it could. It
// answers what puts the genuine log back.
func (x tamperer) fork(st *postgres.Store, dir string, size int64) (undo func()) {
	x.t.Helper()
	ctx := context.Background()
	id := x.recordID(400)
	var subject string
	x.queryRow(&subject, "SELECT subject_id FROM transfers WHERE id = $1", id)
	var root []byte
	x.queryRow(&root, "SELECT root FROM log_state")
	checkpoint := x.checkpoint(size)
	x.exec("CREATE TEMP TABLE tamper_tiles AS SELECT * FROM log_tiles")
	undo = func() {
		x.exec("UPDATE transfers SET subject_id = $2 WHERE id = $1", id, subject)
		x.exec("DELETE FROM log_tiles")
		x.exec("INSERT INTO log_tiles SELECT * FROM tamper_tiles")
		x.exec("DROP TABLE tamper_tiles")
		x.exec("UPDATE log_state SET root = $1", root)
		x.setCheckpoint(size, checkpoint)
	}

	x.exec("UPDATE transfers SET subject_id = '00000000T' WHERE id = $1", id)
	leaves, err := st.Leaves(ctx, 0, size)
	if err != nil || int64(len(leaves)) != size {
		x.t.Fatalf("leaves: %d of %d: %v", len(leaves), size, err)
	}
	var hashes storedHashes
	for i, l := range leaves {
		entry, err := translog.Entry(l.Transfer, l.Event)
		if err != nil {
			x.t.Fatal(err)
		}
		hs, err := tlog.StoredHashesForRecordHash(int64(i), translog.LeafHash(entry), hashes)
		if err != nil {
			x.t.Fatal(err)
		}
		hashes = append(hashes, hs...)
	}
	forkRoot, err := tlog.TreeHash(size, hashes)
	if err != nil {
		x.t.Fatal(err)
	}
	if bytes.Equal(forkRoot[:], root) {
		x.t.Fatal("the changed record left the root as it was")
	}
	x.exec("DELETE FROM log_tiles")
	for _, tile := range tlog.NewTiles(translog.TileHeight, 0, size) {
		data, err := tlog.ReadTileData(tile, hashes)
		if err != nil {
			x.t.Fatal(err)
		}
		x.exec("INSERT INTO log_tiles (level, idx, data) VALUES ($1, $2, $3)", tile.L, tile.N, data)
	}
	var stored, fresh int
	x.queryRow(&stored, "SELECT count(*) FROM tamper_tiles")
	x.queryRow(&fresh, "SELECT count(*) FROM log_tiles")
	if stored != fresh {
		x.t.Fatalf("the fork has %d tiles, the genuine tree %d", fresh, stored)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "log.key"))
	if err != nil {
		x.t.Fatal(err)
	}
	signer, _, err := broker.ParseLogKey(strings.TrimSpace(string(raw)))
	if err != nil {
		x.t.Fatal(err)
	}
	signed, err := translog.SignCheckpoint(signer, size, forkRoot)
	if err != nil {
		x.t.Fatal(err)
	}
	x.exec("UPDATE log_state SET root = $1", forkRoot[:])
	x.setCheckpoint(size, signed)
	return undo
}

// storedHashes is a tree's stored hashes in tlog's order, a tlog.HashReader.
type storedHashes []tlog.Hash

func (s storedHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = s[x]
	}
	return out, nil
}
