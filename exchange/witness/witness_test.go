package witness_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/witness"
)

const origin = "pont.example/transfer-log"

// tree is a Merkle tree built with x/mod's tlog, as the sealer builds it.
// Its records are "<seed> <index>", so that two trees of different seeds
// are forks of each other from their first leaf.
type tree struct {
	seed   string
	n      int64
	hashes []tlog.Hash // stored hashes, tlog.StoredHashIndex order
}

func (tr *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x >= int64(len(tr.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = tr.hashes[x]
	}
	return out, nil
}

// grow appends leaves until the tree has n.
func (tr *tree) grow(t *testing.T, n int64) *tree {
	t.Helper()
	for ; tr.n < n; tr.n++ {
		hs, err := tlog.StoredHashes(tr.n, fmt.Appendf(nil, "%s %d", tr.seed, tr.n), tr)
		if err != nil {
			t.Fatal(err)
		}
		tr.hashes = append(tr.hashes, hs...)
	}
	return tr
}

func (tr *tree) root(t *testing.T, n int64) tlog.Hash {
	t.Helper()
	h, err := tlog.TreeHash(n, tr)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// proof is the consistency proof from old to n.
func (tr *tree) proof(t *testing.T, old, n int64) tlog.TreeProof {
	t.Helper()
	if old == 0 || old == n {
		return nil
	}
	p, err := tlog.ProveTree(n, old, tr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testLog is a log's key: it signs checkpoints of trees.
type testLog struct {
	origin string
	signer note.Signer
	vkey   string
}

func newLog(t *testing.T, origin string) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{origin: origin, signer: s, vkey: vkey}
}

// checkpoint is the signed checkpoint of the first n leaves of tr.
func (l *testLog) checkpoint(t *testing.T, tr *tree, n int64) []byte {
	t.Helper()
	c := torchwood.Checkpoint{Origin: l.origin, Tree: tlog.Tree{N: n, Hash: tr.root(t, n)}}
	signed, err := note.Sign(&note.Note{Text: c.String()}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func (l *testLog) config() witness.Log { return witness.Log{Origin: l.origin, Keys: []string{l.vkey}} }

// testWitness is a witness served on a loopback port.
type testWitness struct {
	w   *witness.Witness
	srv *httptest.Server
	url string
}

func witnessKey(t *testing.T, name string) string {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return skey
}

func startWitness(t *testing.T, skey, state string, logs ...witness.Log) *testWitness {
	t.Helper()
	w, err := witness.New(witness.Config{Key: skey, StatePath: state, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	tw := &testWitness{w: w, srv: srv, url: srv.URL}
	t.Cleanup(tw.stop)
	return tw
}

func (tw *testWitness) stop() {
	if tw.srv == nil {
		return
	}
	tw.srv.Close()
	tw.w.Close()
	tw.srv = nil
}

// add asks the witness to cosign, through the client.
func (tw *testWitness) add(t *testing.T, old int64, proof tlog.TreeProof, cp []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return witness.AddCheckpoint(ctx, tw.url, old, proof, cp)
}

// mustAdd asks the witness to cosign and checks the cosignature.
func (tw *testWitness) mustAdd(t *testing.T, l *testLog, old int64, proof tlog.TreeProof, cp []byte) []byte {
	t.Helper()
	cosig, err := tw.add(t, old, proof, cp)
	if err != nil {
		t.Fatalf("add-checkpoint old %d: %v", old, err)
	}
	tw.verify(t, l, cp, cosig)
	return cosig
}

// verify checks that cosig is the witness's valid cosignature of cp.
func (tw *testWitness) verify(t *testing.T, l *testLog, cp, cosig []byte) {
	t.Helper()
	merged, err := witness.MergeCosignatures(cp, cosig)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := note.NewVerifier(l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := witness.ParseWitnessKey(tw.w.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	_, sigs, err := witness.VerifyCheckpoint(merged, logV, []note.Verifier{wv}, 1)
	if err != nil {
		t.Fatalf("the cosigned checkpoint does not verify: %v\n%s", err, merged)
	}
	ts, err := torchwood.CosignatureTimestamp(sigs[0])
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("cosignature time %d (%v), want about now", ts, err)
	}
}

// post sends body to add-checkpoint and answers the status, the content
// type and the body.
func post(t *testing.T, url string, body []byte) (int, string, string) {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func request(old int64, proof tlog.TreeProof, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&b, "%s\n", h)
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

func wantStatus(t *testing.T, err error, status int, inBody string) {
	t.Helper()
	var re *witness.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || !strings.Contains(re.Body, inBody) {
		t.Fatalf("error %v; want a %d naming %q", err, status, inBody)
	}
}

func TestFirstCheckpointAndGrowth(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 20)
	tw := startWitness(t, witnessKey(t, "witness.example/w1"), filepath.Join(t.TempDir(), "state.json"), l.config())

	cosig := tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 3))
	if !strings.HasPrefix(string(cosig), "— witness.example/w1 ") || strings.Count(string(cosig), "\n") != 1 {
		t.Errorf("cosignature %q: want one line of witness.example/w1", cosig)
	}
	tw.mustAdd(t, l, 3, tr.proof(t, 3, 8), l.checkpoint(t, tr, 8))
	tw.mustAdd(t, l, 8, tr.proof(t, 8, 20), l.checkpoint(t, tr, 20))
	// The same checkpoint again is cosigned again.
	tw.mustAdd(t, l, 20, nil, l.checkpoint(t, tr, 20))
}

func TestBadProofIsRefused(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 20)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 5))

	proof := tr.proof(t, 5, 13)
	proof[1][0] ^= 1
	_, err := tw.add(t, 5, proof, l.checkpoint(t, tr, 13))
	wantStatus(t, err, http.StatusUnprocessableEntity, "does not verify")
	_, err = tw.add(t, 5, tr.proof(t, 5, 12), l.checkpoint(t, tr, 13)) // a proof to another size
	wantStatus(t, err, http.StatusUnprocessableEntity, "does not verify")
	_, err = tw.add(t, 5, nil, l.checkpoint(t, tr, 13))
	wantStatus(t, err, http.StatusUnprocessableEntity, "does not verify")
	_, err = tw.add(t, 5, tr.proof(t, 5, 13), l.checkpoint(t, tr, 5)) // a proof between equal sizes
	wantStatus(t, err, http.StatusUnprocessableEntity, "between equal sizes is empty")

	// Nothing of it was recorded: the witness is still at 5.
	tw.mustAdd(t, l, 5, tr.proof(t, 5, 13), l.checkpoint(t, tr, 13))
}

func TestWrongOldSizeAnswersTheWitnessSize(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 30)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())

	// A log that never asked gets a 409 with size 0 for any other old size.
	_, err := tw.add(t, 4, tr.proof(t, 4, 9), l.checkpoint(t, tr, 9))
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || conflict.Size != 0 {
		t.Fatalf("error %v; want a ConflictError of size 0", err)
	}
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 9))

	status, ctype, body := post(t, tw.url, request(4, tr.proof(t, 4, 17), l.checkpoint(t, tr, 17)))
	if status != http.StatusConflict || ctype != "text/x.tlog.size" || body != "9\n" {
		t.Fatalf("old 4 against 9: %d %q %q; want 409 text/x.tlog.size \"9\\n\"", status, ctype, body)
	}
	// The sealer's way: ask, learn the size from the error, prove from it.
	_, err = tw.add(t, 0, nil, l.checkpoint(t, tr, 17))
	if !errors.As(err, &conflict) || conflict.Size != 9 {
		t.Fatalf("error %v; want a ConflictError of size 9", err)
	}
	tw.mustAdd(t, l, conflict.Size, tr.proof(t, conflict.Size, 17), l.checkpoint(t, tr, 17))
}

func TestForkIsRefused(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 12)
	fork := (&tree{seed: "b"}).grow(t, 12)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 7))

	// The same size with another root.
	_, err := tw.add(t, 7, nil, l.checkpoint(t, fork, 7))
	wantStatus(t, err, http.StatusConflict, "fork")
	var conflict *witness.ConflictError
	if errors.As(err, &conflict) {
		t.Fatal("a fork is not a ConflictError: retrying from the witness's size would not help")
	}
	status, ctype, _ := post(t, tw.url, request(7, nil, l.checkpoint(t, fork, 7)))
	if status != http.StatusConflict || strings.HasPrefix(ctype, "text/x.tlog.size") {
		t.Errorf("fork: %d %q; want 409 without a size", status, ctype)
	}
	// A larger fork, with the fork's own (valid) proof.
	_, err = tw.add(t, 7, fork.proof(t, 7, 12), l.checkpoint(t, fork, 12))
	wantStatus(t, err, http.StatusUnprocessableEntity, "does not verify")
	// The real tree still grows.
	tw.mustAdd(t, l, 7, tr.proof(t, 7, 12), l.checkpoint(t, tr, 12))
}

func TestRollbackIsRefused(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 12)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 12))

	// Old size above the checkpoint's: 400.
	_, err := tw.add(t, 12, nil, l.checkpoint(t, tr, 6))
	wantStatus(t, err, http.StatusBadRequest, "old size 12 is larger than the checkpoint's size 6")
	// A consistent-looking request from the smaller size: 409, the witness is at 12.
	_, err = tw.add(t, 6, nil, l.checkpoint(t, tr, 6))
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || conflict.Size != 12 {
		t.Fatalf("error %v; want a ConflictError of size 12", err)
	}
	// And from 0 too.
	_, err = tw.add(t, 0, nil, l.checkpoint(t, tr, 6))
	if !errors.As(err, &conflict) || conflict.Size != 12 {
		t.Fatalf("error %v; want a ConflictError of size 12", err)
	}
}

func TestUnknownLogAndOtherKeys(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 4)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())

	other := newLog(t, "other.example/log")
	_, err := tw.add(t, 0, nil, other.checkpoint(t, tr, 4))
	wantStatus(t, err, http.StatusNotFound, `unknown log "other.example/log"`)

	// The right origin, signed by another key (of the same name).
	impostor := newLog(t, origin)
	_, err = tw.add(t, 0, nil, impostor.checkpoint(t, tr, 4))
	wantStatus(t, err, http.StatusForbidden, "no signature of a key of log")

	// The log's key, but its signature on another text.
	cp := l.checkpoint(t, tr, 4)
	tampered := bytes.Replace(cp, []byte("\n4\n"), []byte("\n5\n"), 1) // the log's signature on another text
	_, err = tw.add(t, 0, nil, tampered)
	wantStatus(t, err, http.StatusForbidden, "does not verify")

	// Other signatures are ignored: the log's is enough.
	merged, err := witness.MergeCosignatures(cp, []byte("— someone.else AAAAAAAAAAAAAAAA\n"))
	if err != nil {
		t.Fatal(err)
	}
	tw.mustAdd(t, l, 0, nil, merged)
}

func TestKeyRotation(t *testing.T) {
	old, next := newLog(t, origin), newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 9)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"),
		witness.Log{Origin: origin, Keys: []string{old.vkey, next.vkey}})
	tw.mustAdd(t, old, 0, nil, old.checkpoint(t, tr, 4))
	tw.mustAdd(t, next, 4, tr.proof(t, 4, 9), next.checkpoint(t, tr, 9))
}

func TestStateSurvivesRestart(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 16)
	fork := (&tree{seed: "b"}).grow(t, 16)
	key, state := witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json")

	tw := startWitness(t, key, state, l.config())
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 5))
	tw.mustAdd(t, l, 5, tr.proof(t, 5, 10), l.checkpoint(t, tr, 10))
	tw.stop()

	tw = startWitness(t, key, state, l.config())
	_, err := tw.add(t, 10, nil, l.checkpoint(t, fork, 10))
	wantStatus(t, err, http.StatusConflict, "fork")
	_, err = tw.add(t, 0, nil, l.checkpoint(t, fork, 16))
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || conflict.Size != 10 {
		t.Fatalf("after a restart, old 0: %v; want a ConflictError of size 10", err)
	}
	tw.mustAdd(t, l, 10, tr.proof(t, 10, 16), l.checkpoint(t, tr, 16))

	raw, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"size": 16`)) || !bytes.Contains(raw, []byte(tr.root(t, 16).String())) {
		t.Errorf("state file:\n%s", raw)
	}
}

func TestCorruptStateStopsTheWitness(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 5)
	key := witnessKey(t, "w")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	tw := startWitness(t, key, good, l.config())
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, 5))
	tw.stop()
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}

	for name, content := range map[string]string{
		"empty":       "",
		"truncated":   string(raw[:len(raw)/2]),
		"not JSON":    "size=5\n",
		"no logs":     "{}",
		"unknown key": `{"logs":{},"extra":1}`,
		"bad root":    `{"logs":{"o":{"size":1,"root":"xyz","checkpoint":""}}}`,
		"negative":    strings.Replace(string(raw), `"size": 5`, `"size": -5`, 1),
		"size edited": strings.Replace(string(raw), `"size": 5`, `"size": 4`, 1),
		"trailing":    string(raw) + "{}",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := witness.New(witness.Config{Key: key, StatePath: path, Logs: []witness.Log{l.config()}})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s: New: %v; want an error naming %s as corrupt", name, err, path)
		}
	}
}

func TestOneProcessPerStateFile(t *testing.T) {
	l := newLog(t, origin)
	key, state := witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json")
	tw := startWitness(t, key, state, l.config())
	_, err := witness.New(witness.Config{Key: key, StatePath: state, Logs: []witness.Log{l.config()}})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second witness on the same state: %v; want it refused", err)
	}
	tw.stop()
	w, err := witness.New(witness.Config{Key: key, StatePath: state, Logs: []witness.Log{l.config()}})
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	w.Close()
}

// TestConcurrentRequestsSerialise: many sealers race from the same old
// size. Exactly one wins each round; the others learn its size and prove
// from it, or give up when their tree is smaller; the largest tree ends up
// cosigned, and no cosignature is of a tree older than one cosigned before
// it was asked for.
func TestConcurrentRequestsSerialise(t *testing.T) {
	l := newLog(t, origin)
	const first, last = 3, 40
	tr := (&tree{seed: "a"}).grow(t, last)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())
	tw.mustAdd(t, l, 0, nil, l.checkpoint(t, tr, first))

	cps := map[int64][]byte{}
	for n := int64(first + 1); n <= last; n++ {
		cps[n] = l.checkpoint(t, tr, n)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		firstWins int
		cosigned  []int64
	)
	start := make(chan struct{})
	for n := int64(first + 1); n <= last; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			old, tries := int64(first), 0
			for {
				cosig, err := tw.add(t, old, tr.proof(t, old, n), cps[n])
				var conflict *witness.ConflictError
				switch {
				case err == nil:
					tw.verify(t, l, cps[n], cosig)
					mu.Lock()
					cosigned = append(cosigned, n)
					if tries == 0 {
						firstWins++
					}
					mu.Unlock()
					return
				case errors.As(err, &conflict) && conflict.Size < n:
					old, tries = conflict.Size, tries+1
				case errors.As(err, &conflict):
					return // the witness is past this tree
				default:
					var re *witness.ResponseError
					if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(re.Body, "larger than the checkpoint") {
						return
					}
					t.Errorf("size %d from %d: %v", n, old, err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if firstWins != 1 {
		t.Errorf("%d requests from the first old size won; want exactly 1", firstWins)
	}
	if len(cosigned) == 0 || cosigned[len(cosigned)-1] != last {
		t.Errorf("cosigned %v; want %d last", cosigned, last)
	}
	for i := 1; i < len(cosigned); i++ {
		if cosigned[i] <= cosigned[i-1] {
			t.Errorf("cosigned %v: not increasing", cosigned)
			break
		}
	}
	_, err := tw.add(t, 0, nil, cps[last])
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || conflict.Size != last {
		t.Errorf("the witness's size: %v; want %d", err, last)
	}
}

func TestMalformedRequests(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 8)
	tw := startWitness(t, witnessKey(t, "w"), filepath.Join(t.TempDir(), "state.json"), l.config())
	cp := l.checkpoint(t, tr, 8)
	text, _, _ := bytes.Cut(cp, []byte("\n\n"))
	hash := tr.root(t, 3).String()

	for _, c := range []struct {
		name, body, want string
	}{
		{"no blank line", "old 0\n" + string(cp[:bytes.Index(cp, []byte("\n\n"))]), "no empty line"},
		{"empty", "", "no empty line"},
		{"no old line", "\n" + string(cp), `the first line is "", not "old <size>"`},
		{"new instead of old", "new 0\n\n" + string(cp), `the first line is "new 0"`},
		{"negative old", "old -1\n\n" + string(cp), `old size: "-1" is not a decimal`},
		{"leading zero", "old 08\n\n" + string(cp), `old size: "08" is not a decimal`},
		{"hex", "old 0x10\n\n" + string(cp), `old size: "0x10" is not a decimal`},
		{"too large", "old 9223372036854775808\n\n" + string(cp), `is not a decimal`},
		{"bad base64", "old 3\n" + hash + "\n!!not*base64!!\n\n" + string(cp), `consistency proof line 2 is "!!not*base64!!"`},
		{"short hash", "old 3\nAAAA\n\n" + string(cp), `consistency proof line 1 is "AAAA"`},
		{"CRLF", "old 3\r\n" + hash + "\r\n\r\n" + string(cp), `old size: "3\r" is not a decimal`},
		{"too many proof lines", "old 3\n" + strings.Repeat(hash+"\n", 64) + "\n" + string(cp), "64 consistency proof lines: at most 63"},
		{"NUL", "old 0\n\n" + strings.Replace(string(cp), "\n8\n", "\n8\x00\n", 1), "NUL byte at offset"},
		{"no checkpoint", "old 0\n\n", "no checkpoint after the empty line"},
		{"unsigned", "old 0\n\n" + string(text) + "\n", "not a signed note"},
		{"huge", "old 0\n\n" + string(cp) + strings.Repeat("— x AAAAAAAAAAAAAAAA\n", witness.MaxRequestBytes/20), "larger than 65536 bytes"},
	} {
		status, _, body := post(t, tw.url, []byte(c.body))
		if status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %q; want 400 naming %q", c.name, status, body, c.want)
		}
	}

	resp, err := http.Get(tw.url + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d; want 405", resp.StatusCode)
	}
	// None of it moved the witness.
	tw.mustAdd(t, l, 0, nil, cp)
}

func TestMergeAndVerifyCosignatures(t *testing.T) {
	l := newLog(t, origin)
	tr := (&tree{seed: "a"}).grow(t, 6)
	dir := t.TempDir()
	w1 := startWitness(t, witnessKey(t, "witness.example/one"), filepath.Join(dir, "1.json"), l.config())
	w2 := startWitness(t, witnessKey(t, "witness.example/two"), filepath.Join(dir, "2.json"), l.config())
	w3 := startWitness(t, witnessKey(t, "witness.example/three"), filepath.Join(dir, "3.json"), l.config())
	cp := l.checkpoint(t, tr, 6)

	c1 := w1.mustAdd(t, l, 0, nil, cp)
	c2 := w2.mustAdd(t, l, 0, nil, cp)
	merged, err := witness.MergeCosignatures(cp, c1)
	if err != nil {
		t.Fatal(err)
	}
	if merged, err = witness.MergeCosignatures(merged, c2); err != nil {
		t.Fatal(err)
	}
	again := w1.mustAdd(t, l, 6, nil, cp) // a newer cosignature replaces the older
	if merged, err = witness.MergeCosignatures(merged, again); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(merged, []byte("\n— ")); n != 3 || !bytes.Contains(merged, again) || (!bytes.Equal(c1, again) && bytes.Contains(merged, c1)) {
		t.Fatalf("merged:\n%s", merged)
	}

	logV, _ := note.NewVerifier(l.vkey)
	var keys []note.Verifier
	for _, w := range []*testWitness{w1, w2, w3} {
		v, err := witness.ParseWitnessKey(w.w.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, v)
	}
	c, sigs, err := witness.VerifyCheckpoint(merged, logV, keys, 2)
	if err != nil || c.N != 6 || c.Origin != origin || len(sigs) != 2 {
		t.Fatalf("VerifyCheckpoint: %v, %d cosignatures, %+v", err, len(sigs), c)
	}
	if _, _, err := witness.VerifyCheckpoint(merged, logV, keys, 3); err == nil || !strings.Contains(err.Error(), "2 valid cosignatures of the given witnesses, 3 required") {
		t.Errorf("3 of 2: %v", err)
	}
	if _, _, err := witness.VerifyCheckpoint(merged, logV, keys[:1], 2); err == nil {
		t.Error("2 required of 1 key: no error")
	}
	other := newLog(t, origin)
	otherV, _ := note.NewVerifier(other.vkey)
	if _, _, err := witness.VerifyCheckpoint(merged, otherV, keys, 1); err == nil || !strings.Contains(err.Error(), "no signature of the log's key") {
		t.Errorf("another log key: %v", err)
	}
	// A cosignature on another checkpoint does not verify.
	forged, _ := witness.MergeCosignatures(l.checkpoint(t, tr, 5), c2)
	if _, _, err := witness.VerifyCheckpoint(forged, logV, keys, 1); err == nil {
		t.Error("a cosignature moved to another checkpoint verified")
	}

	// A witness key must be a cosignature/v1 key.
	if _, err := witness.ParseWitnessKey(l.vkey); err == nil || !strings.Contains(err.Error(), "not cosignature/v1") {
		t.Errorf("ParseWitnessKey(a log's Ed25519 key): %v", err)
	}
	vk := w1.w.VerifierKey()
	if _, err := witness.ParseWitnessKey("other" + vk); err == nil || !strings.Contains(err.Error(), "hash does not match") {
		t.Errorf("ParseWitnessKey(renamed): %v", err)
	}
}
