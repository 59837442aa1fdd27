package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// maxResponseBytes bounds what the client reads of a witness's answer.
const maxResponseBytes = 64 << 10

// ConflictError is a witness's 409 answer with its size: oldSize was not
// the size it last cosigned for the log, which is Size. The caller asks
// again with Size as the old size and a proof from it.
type ConflictError struct {
	Size int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: 409 Conflict: the witness last cosigned size %d", e.Size)
}

// ResponseError is any other answer than 200 or a sized 409: Body is the
// start of what the witness said. A 409 here (without a size) is a fork:
// a checkpoint of the size the witness cosigned with another root.
type ResponseError struct {
	StatusCode int
	Body       string
}

func (e *ResponseError) Error() string {
	return fmt.Sprintf("witness: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// AddCheckpoint asks the witness whose submission prefix is url (the
// request goes to url + "/add-checkpoint") to cosign signedCheckpoint,
// given proof, the consistency proof from oldSize (the size the witness
// last cosigned; 0 the first time) to the checkpoint's size. It answers the
// witness's cosignature lines ("— name signature\n"), to be merged into the
// checkpoint (MergeCosignatures). A 409 with the witness's size is a
// *ConflictError; other refusals are *ResponseError.
func AddCheckpoint(ctx context.Context, url string, oldSize int64, proof tlog.TreeProof, signedCheckpoint []byte) ([]byte, error) {
	body := formatRequest(oldSize, proof, signedCheckpoint)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("witness: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("witness: reading its %d answer: %w", resp.StatusCode, err)
	}
	if len(answer) > maxResponseBytes {
		return nil, fmt.Errorf("witness: its %d answer is longer than %d bytes", resp.StatusCode, maxResponseBytes)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := checkSignatureLines(answer); err != nil {
			return nil, fmt.Errorf("witness: malformed cosignature: %w", err)
		}
		return answer, nil
	case http.StatusConflict:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/x.tlog.size" {
			line, ok := strings.CutSuffix(string(answer), "\n")
			size, err := parseSize(line)
			if !ok || err != nil {
				return nil, fmt.Errorf("witness: 409 Conflict with a malformed size %q", cut(string(answer)))
			}
			return nil, &ConflictError{Size: size}
		}
	}
	return nil, &ResponseError{StatusCode: resp.StatusCode, Body: cut(strings.TrimSpace(string(answer)))}
}

// sigPrefix starts every signature line of a signed note.
const sigPrefix = "— "

// checkSignatureLines checks that b is one or more note signature lines:
// "— name base64\n", the signature at least a key hash and a byte.
func checkSignatureLines(b []byte) error {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return errors.New("not newline-terminated signature lines")
	}
	for line := range strings.Lines(string(b)) {
		if _, _, err := parseSignatureLine(line); err != nil {
			return err
		}
	}
	return nil
}

// parseSignatureLine reads one note signature line and answers its name
// and key hash.
func parseSignatureLine(line string) (string, uint32, error) {
	rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), sigPrefix)
	name, b64, _ := strings.Cut(rest, " ")
	sig, err := base64.StdEncoding.DecodeString(b64)
	if !ok || name == "" || strings.ContainsAny(name, "+ ") || err != nil || len(sig) < 5 {
		return "", 0, fmt.Errorf("%q is not a signature line", cut(line))
	}
	return name, uint32(sig[0])<<24 | uint32(sig[1])<<16 | uint32(sig[2])<<8 | uint32(sig[3]), nil
}

// MergeCosignatures adds a witness's signature lines (AddCheckpoint's
// answer) to a signed note. A line by a key (name and key hash) the note
// already has a signature of replaces it: a witness's newer cosignature
// of the same checkpoint is kept.
func MergeCosignatures(signedNote, cosignatures []byte) ([]byte, error) {
	i := bytes.LastIndex(signedNote, []byte("\n\n"))
	if i < 0 || len(signedNote) == i+2 || signedNote[len(signedNote)-1] != '\n' {
		return nil, errors.New("witness: not a signed note (text, an empty line, signature lines)")
	}
	if err := checkSignatureLines(cosignatures); err != nil {
		return nil, fmt.Errorf("witness: cosignatures: %w", err)
	}
	text, sigs := signedNote[:i+2], string(signedNote[i+2:])
	type key struct {
		name string
		hash uint32
	}
	fresh := map[key]bool{}
	for line := range strings.Lines(string(cosignatures)) {
		name, hash, _ := parseSignatureLine(line)
		fresh[key{name, hash}] = true
	}
	out := bytes.Clone(text)
	for line := range strings.Lines(sigs) {
		name, hash, err := parseSignatureLine(line)
		if err != nil {
			return nil, fmt.Errorf("witness: the note's signatures: %w", err)
		}
		if !fresh[key{name, hash}] {
			out = append(out, line...)
		}
	}
	seen := map[key]bool{}
	for line := range strings.Lines(string(cosignatures)) {
		name, hash, _ := parseSignatureLine(line)
		if !seen[key{name, hash}] {
			seen[key{name, hash}] = true
			out = append(out, line...)
		}
	}
	return out, nil
}

// VerifyCheckpoint opens a signed checkpoint, requires a signature of the
// log's key (a note verifier) and at least minWitnesses cosignatures by
// distinct keys among witnesses (ParseWitnessKey), and answers the
// checkpoint and the witnesses' cosignatures that verified (their times:
// torchwood.CosignatureTimestamp). A signature by one of those keys that
// does not verify is an error; signatures by other keys are ignored.
func VerifyCheckpoint(signedCheckpoint []byte, log note.Verifier, witnesses []note.Verifier, minWitnesses int) (torchwood.Checkpoint, []note.Signature, error) {
	if minWitnesses < 0 || minWitnesses > len(witnesses) {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: %d cosignatures required of %d witness keys", minWitnesses, len(witnesses))
	}
	type key struct {
		name string
		hash uint32
	}
	known := []note.Verifier{log}
	isWitness := map[key]bool{}
	for _, v := range witnesses {
		k := key{v.Name(), v.KeyHash()}
		if k == (key{log.Name(), log.KeyHash()}) {
			return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: the log's key %s is also given as a witness's", log.Name())
		}
		if !isWitness[k] { // a key given twice counts once
			isWitness[k] = true
			known = append(known, v)
		}
	}
	if minWitnesses > len(isWitness) {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: %d cosignatures required of %d distinct witness keys", minWitnesses, len(isWitness))
	}
	n, err := note.Open(signedCheckpoint, note.VerifierList(known...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: the checkpoint has no signature of the log's key %s", log.Name())
		}
		return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: checkpoint: %w", err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: checkpoint: %w", err)
	}
	logSigned := false
	var cosigs []note.Signature
	for _, s := range n.Sigs {
		switch k := (key{s.Name, s.Hash}); {
		case k == key{log.Name(), log.KeyHash()}:
			logSigned = true
		case isWitness[k]:
			cosigs = append(cosigs, s)
		}
	}
	if !logSigned {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: the checkpoint has no signature of the log's key %s, only of witnesses", log.Name())
	}
	if len(cosigs) < minWitnesses {
		return torchwood.Checkpoint{}, nil, fmt.Errorf("witness: the checkpoint has %d valid cosignatures of the given witnesses, %d required", len(cosigs), minWitnesses)
	}
	return c, cosigs, nil
}
