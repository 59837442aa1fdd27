package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/exchange/witness"
)

// logKey reads the node's log verifier key, as pont dev writes it.
func (n *node) logKey() note.Verifier {
	n.t.Helper()
	raw, err := os.ReadFile(filepath.Join(n.dir, "log.vkey"))
	if err != nil {
		n.t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(raw)))
	if err != nil {
		n.t.Fatal(err)
	}
	return v
}

// seal has the node seal what committed.
func (n *node) seal() {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.b.Seal(ctx); err != nil {
		n.t.Fatalf("seal: %v", err)
	}
}

// sealed seals until done answers true: on PostgreSQL a record is sealed
// once every transaction older than its own has ended, in the whole
// cluster, where other tests write too.
func (n *node) sealed(what string, done func() bool) {
	n.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		n.seal()
		if done() {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("not sealed in 20 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// size answers the size of the log's latest checkpoint (0 without one).
func (n *node) size() int64 {
	n.t.Helper()
	status, raw := n.raw("GET", "/v1/audit/log/checkpoint", "", nil)
	if status == 404 {
		return 0
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	if status != 200 || len(lines) < 3 {
		n.t.Fatalf("checkpoint: %d %s", status, raw)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		n.t.Fatalf("checkpoint: %v", err)
	}
	return size
}

// receipt fetches a receipt at path with token.
func (n *node) receipt(path, token string) (int, translog.Receipt, []byte) {
	n.t.Helper()
	status, raw := n.raw("GET", path, token, nil)
	var r translog.Receipt
	if status == 200 {
		if err := json.Unmarshal(raw, &r); err != nil {
			n.t.Fatalf("%s: %v: %s", path, err, raw)
		}
	}
	return status, r, raw
}

// TestReceiptVerifiesOffline: a query's answer carries the leaf hash of
// its record; once sealed, the requester and the citizen get a receipt that
// checks offline against the log's key, and nobody else gets it.
func TestReceiptVerifiesOffline(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { receiptVerifiesOffline(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func receiptVerifiesOffline(t *testing.T, n *node) {
	requester := n.requester(barcelona)
	status, raw := n.raw("POST", "/v1/services/padro/queries", requester, mustJSON(t, envelope("12345678Z", map[string]any{"municipality": "08019"})))
	if status != 200 {
		t.Fatalf("query: %d %s", status, raw)
	}
	var ans struct {
		TransferID string `json:"transfer_id"`
		Receipt    struct {
			TransferID string `json:"transfer_id"`
			LeafHash   []byte `json:"leaf_hash"`
		} `json:"receipt"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil || ans.Receipt.TransferID != ans.TransferID || len(ans.Receipt.LeafHash) != 32 {
		t.Fatalf("answer without a receipt: %v %s", err, raw)
	}
	path := "/v1/audit/proofs/inclusion?transfer_id=" + ans.TransferID

	// Before the seal there is no proof yet, and the answer says when to ask.
	if status, _, raw := n.receipt(path, requester); status != 404 || !bytes.Contains(raw, []byte("not sealed")) {
		t.Errorf("before sealing: %d %s", status, raw)
	}
	n.sealed("the query", func() bool { status, _, _ := n.receipt(path, requester); return status == 200 })

	status, r, raw := n.receipt(path, requester)
	if status != 200 {
		t.Fatalf("the requester's receipt: %d %s", status, raw)
	}
	if !bytes.Equal(r.LeafHash, ans.Receipt.LeafHash) {
		t.Errorf("the receipt's leaf hash %x is not the answer's %x", r.LeafHash, ans.Receipt.LeafHash)
	}
	if _, err := r.Verify(n.logKey(), nil, 0); err != nil {
		t.Fatalf("the receipt does not verify: %v", err)
	}
	// What a requester would keep on disk and check with pont audit verify.
	file := filepath.Join(t.TempDir(), "receipt.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	if status, r2, raw := n.receipt("/v1/me/transfers/"+ans.TransferID+"/proof", citizen); status != 200 || !bytes.Equal(r2.LeafHash, r.LeafHash) {
		t.Errorf("her receipt: %d %s", status, raw)
	}
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
	if status, _, raw := n.receipt(path, auditor); status != 200 {
		t.Errorf("the auditor's receipt: %d %s", status, raw)
	}
	for who, tok := range map[string]string{
		"another citizen":      n.token(map[string]string{"role": "citizen", "sub": "00000000T"}),
		"another organisation": n.requester("P1708500B"),
	} {
		p := path
		if strings.Contains(who, "citizen") {
			p = "/v1/me/transfers/" + ans.TransferID + "/proof"
		}
		if status, _, raw := n.receipt(p, tok); status != 404 {
			t.Errorf("%s got %d %s, want 404", who, status, raw)
		}
	}

	// Tampered receipts fail, each naming what is wrong.
	for name, change := range map[string]func(r *translog.Receipt){
		"another leaf hash": func(r *translog.Receipt) { r.LeafHash[0] ^= 1 },
		"another subject": func(r *translog.Receipt) {
			r.Personal = bytes.Replace(r.Personal, []byte("12345678Z"), []byte("00000000T"), 1)
		},
		"a shorter proof": func(r *translog.Receipt) {
			if len(r.Proof) > 0 {
				r.Proof = r.Proof[1:]
			} else {
				r.LeafIndex++
			}
		},
		"another index": func(r *translog.Receipt) { r.LeafIndex ^= 1; r.TreeSize = max(r.TreeSize, r.LeafIndex+1) },
	} {
		var bad translog.Receipt
		_ = json.Unmarshal(raw, &bad)
		change(&bad)
		if _, err := bad.Verify(n.logKey(), nil, 0); err == nil {
			t.Errorf("a receipt with %s verifies", name)
		}
	}
	_, vkey, _ := note.GenerateKey(rand.Reader, broker.DevLogOrigin)
	otherKey, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(otherKey, nil, 0); err == nil {
		t.Error("the receipt verifies with another key of the same name")
	}
}

// TestWholeLogVerifies: queries, a consent, an objection and the auditor's
// own reads all become leaves, and the whole log verifies over HTTP, then
// again after it grew, from the checkpoint kept in the state file. A
// standard tlog-tiles client reads it too.
func TestWholeLogVerifies(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			n := startDevWith(t, broker.Config{Store: open(t)})
			fillLog(t, n, 300)
			n.sealed("303 leaves", func() bool { return n.size() >= 303 })
			auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
			state := filepath.Join(t.TempDir(), "state")
			cfg := translog.VerifyConfig{Server: n.base, Token: auditor, LogKey: n.logKey(), StateFile: state}
			res, err := translog.VerifyLog(context.Background(), cfg)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			standardClientReads(t, n)
			if res.Leaves < 303 {
				t.Errorf("%d leaves, want the 300 queries, the consent, its revocation and the objection at least", res.Leaves)
			}
			// The verification read the log: its reads are leaves too.
			fillLog(t, n, 20)
			n.sealed("the next 23 leaves", func() bool { return n.size() >= res.Leaves+23 })
			res2, err := translog.VerifyLog(context.Background(), cfg)
			if err != nil {
				t.Fatalf("verify again: %v", err)
			}
			if res2.PreviousSize != res.Leaves || res2.Leaves <= res.Leaves+20 {
				t.Errorf("second run: %+v after %+v", res2, res)
			}
			// The first run's reads of the entry bundles are leaves after it.
			k := res.Leaves / 256
			width := min(res2.Leaves-k*256, 256)
			status, bundle := n.raw("GET", fmt.Sprintf("/v1/audit/log/tile/entries/%03d.p/%d", k, width), auditor, nil)
			if width == 256 {
				status, bundle = n.raw("GET", fmt.Sprintf("/v1/audit/log/tile/entries/%03d", k), auditor, nil)
			}
			if status != 200 || !bytes.Contains(bundle, []byte(`"kind":"log_read"`)) || !bytes.Contains(bundle, []byte(`"operation":"entries"`)) {
				t.Errorf("the auditor's reads of the log are not leaves: %d", status)
			}
			// A key that is not the log's is refused, naming the checkpoint.
			_, vkey, _ := note.GenerateKey(rand.Reader, broker.DevLogOrigin)
			wrong, _ := note.NewVerifier(vkey)
			cfg.LogKey = wrong
			var ve *translog.VerifyError
			if _, err := translog.VerifyLog(context.Background(), cfg); !errors.As(err, &ve) || ve.Index != -1 || !strings.Contains(err.Error(), "checkpoint") {
				t.Errorf("with another key: %v", err)
			}
		})
	}
}

// fillLog makes n queries, a consent created and revoked and an objection.
func fillLog(t *testing.T, n *node, queries int) {
	t.Helper()
	requester := n.requester(barcelona)
	for i := range queries {
		subject := "12345678Z"
		if i%3 == 1 {
			subject = "67890123B"
		}
		if status, raw := n.raw("POST", "/v1/services/padro/queries", requester, mustJSON(t, envelope(subject, map[string]any{"municipality": "08019"}))); status != 200 && status != 404 {
			t.Fatalf("query %d: %d %s", i, status, raw)
		}
	}
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	status, out, _ := n.do("POST", "/v1/me/consents", citizen, consentBody("padro"))
	if status != 201 {
		t.Fatalf("consent: %d %v", status, out)
	}
	if status, out, _ := n.do("DELETE", "/v1/me/consents/"+out["id"].(string), citizen, nil); status != 200 {
		t.Fatalf("revoke: %d %v", status, out)
	}
	if status, out, _ := n.do("POST", "/v1/me/objections", citizen, map[string]any{"service": "prestacions"}); status != 201 && status != 200 {
		t.Fatalf("objection: %d %v", status, out)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPrunedLogStillVerifies: once the retention has passed, records lose
// their personal fields and salts, the pruning is a leaf of its own, and
// the whole log and an old receipt still verify.
func TestPrunedLogStillVerifies(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			n := startDevWith(t, broker.Config{Store: st})
			requester := n.requester(barcelona)
			status, raw := n.raw("POST", "/v1/services/padro/queries", requester, mustJSON(t, envelope("12345678Z", map[string]any{"municipality": "08019"})))
			if status != 200 {
				t.Fatalf("query: %d %s", status, raw)
			}
			var ans struct {
				TransferID string `json:"transfer_id"`
			}
			_ = json.Unmarshal(raw, &ans)
			fillLog(t, n, 40)
			n.sealed("the records", func() bool { return n.size() >= 43 })
			auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
			state := filepath.Join(t.TempDir(), "state")
			cfg := translog.VerifyConfig{Server: n.base, Token: auditor, LogKey: n.logKey(), StateFile: state}
			if _, err := translog.VerifyLog(context.Background(), cfg); err != nil {
				t.Fatalf("before pruning: %v", err)
			}
			path := "/v1/audit/proofs/inclusion?transfer_id=" + ans.TransferID
			_, before, _ := n.receipt(path, requester)

			// A retention that ends two months ahead covers every record
			// (PostgreSQL prunes whole months).
			pruned, err := translog.Prune(context.Background(), st, time.Now().AddDate(0, 2, 0), "test")
			if err != nil {
				t.Fatal(err)
			}
			if pruned < 43 {
				t.Fatalf("pruned %d records, want the 43 sealed at least", pruned)
			}
			// The pruning is a leaf: an auditor finds it in the log's entries.
			n.sealed("the pruning's leaf", func() bool {
				size := n.size()
				if size > 256 {
					t.Fatalf("%d leaves: the test reads the first bundle only", size)
				}
				status, bundle := n.raw("GET", "/v1/audit/log/tile/entries/000.p/"+strconv.FormatInt(size, 10), auditor, nil)
				return status == 200 && bytes.Contains(bundle, []byte(`"kind":"log_pruned"`))
			})

			if _, err := translog.VerifyLog(context.Background(), cfg); err != nil {
				t.Fatalf("after pruning: %v", err)
			}
			status, after, raw := n.receipt(path, requester)
			if status != 200 {
				t.Fatalf("receipt after pruning: %d %s", status, raw)
			}
			if after.Personal != nil || after.Salt != nil || !bytes.Equal(after.LeafHash, before.LeafHash) || !bytes.Equal(after.Entry, before.Entry) {
				t.Errorf("pruned receipt %s, want the same entry without personal fields", raw)
			}
			if _, err := after.Verify(n.logKey(), nil, 0); err != nil {
				t.Errorf("the pruned receipt does not verify: %v", err)
			}
			rec := n.transfer(auditor, ans.TransferID)
			if rec["subject"] != nil && rec["subject"] != "" {
				t.Errorf("the pruned record still names its subject: %v", rec)
			}
		})
	}
}

// TestWitnessesCosign: a node configured with two witnesses has each new
// checkpoint cosigned by both, and publishes the cosignatures; the log
// then verifies with --min-witnesses 2, and not with a witness that did
// not cosign.
func TestWitnessesCosign(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
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
			var ws []translog.Witness
			var keys []note.Verifier
			for _, name := range []string{"witness-a.test", "witness-b.test", "witness-c.test"} {
				wkey, _, err := note.GenerateKey(rand.Reader, name)
				if err != nil {
					t.Fatal(err)
				}
				w, err := witness.New(witness.Config{Key: wkey, StatePath: filepath.Join(t.TempDir(), "state.json"),
					Logs: []witness.Log{{Origin: broker.DevLogOrigin, Keys: []string{vkey}}}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = w.Close() })
				srv := httptest.NewServer(w)
				t.Cleanup(srv.Close)
				key, err := witness.ParseWitnessKey(w.VerifierKey())
				if err != nil {
					t.Fatal(err)
				}
				keys = append(keys, key)
				if name != "witness-c.test" { // c runs, but the node does not ask it
					ws = append(ws, translog.Witness{URL: srv.URL, Key: key})
				}
			}
			signer, verifier, err := broker.ParseLogKey(skey)
			if err != nil {
				t.Fatal(err)
			}
			n := startDevWith(t, broker.Config{Store: open(t), DataDir: dir, LogSigner: signer, LogVerifier: verifier,
				Witnesses: ws, SealInterval: 50 * time.Millisecond})
			fillLog(t, n, 10)
			auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
			cfg := translog.VerifyConfig{Server: n.base, Token: auditor, LogKey: n.logKey(), Witnesses: keys[:2], MinWitnesses: 2}
			var res translog.VerifyResult
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if res, err = translog.VerifyLog(context.Background(), cfg); err == nil && res.Leaves >= 13 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not cosigned by both witnesses in 20 s: %v", err)
				}
			}
			if res.Cosigners != 2 {
				t.Errorf("%d cosigners, want 2", res.Cosigners)
			}
			// The log keeps growing (the verification's reads are leaves), so
			// the checkpoint read now may be a newer one that only one
			// witness has cosigned yet: never the third's.
			cfg.Witnesses, cfg.MinWitnesses = keys, 3
			_, err = translog.VerifyLog(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), "of the 3 witness cosignatures required") || strings.Contains(err.Error(), "has 3 of") {
				t.Errorf("with a third witness required: %v", err)
			}
		})
	}
}

// bearer adds a token to every request: how a standard tiles client is
// given an auditor's token for the entry bundles.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// standardClientReads: a tlog-tiles client that Pont did not write
// (torchwood's) reads n's log under /v1/audit/log/, checks every entry it
// yields against the tiles and the signed tree, and sees Pont's entries.
// The log must hold a full bundle.
func standardClientReads(t *testing.T, n *node) {
	t.Helper()
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})

	status, raw := n.raw("GET", "/v1/audit/log/checkpoint", "", nil)
	if status != 200 {
		t.Fatalf("checkpoint: %d %s", status, raw)
	}
	signed, err := note.Open(raw, note.VerifierList(n.logKey()))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := torchwood.ParseCheckpoint(signed.Text)
	if err != nil {
		t.Fatalf("torchwood cannot parse the checkpoint: %v", err)
	}
	if cp.Origin != broker.DevLogOrigin || cp.N < 303 {
		t.Fatalf("checkpoint %+v", cp)
	}
	fetcher, err := torchwood.NewTileFetcher(n.base+"/v1/audit/log/",
		torchwood.WithHTTPClient(&http.Client{Transport: bearer{auditor, http.DefaultTransport}, Timeout: 10 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	var kinds = map[string]int{}
	next := int64(0)
	for i, entry := range client.Entries(context.Background(), cp.Tree, 0) {
		if i != next {
			t.Fatalf("entry %d after %d", i, next)
		}
		next++
		var e struct {
			V    int    `json:"v"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(entry, &e); err != nil || e.V != translog.Version {
			t.Fatalf("entry %d: %v %s", i, err, entry)
		}
		kinds[e.Kind]++
	}
	if err := client.Err(); err != nil {
		t.Fatalf("the client refused the log: %v", err)
	}
	// The node's start published and activated the reference adapters:
	// their leaves come first.
	if next < 256 || kinds["query"]+kinds["adapter_published"]+kinds["adapter_activated"] < 250 || kinds["adapter_activated"] == 0 {
		t.Errorf("read %d entries (%v), want at least the first full bundle", next, kinds)
	}
}
