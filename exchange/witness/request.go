package witness

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// MaxRequestBytes bounds an add-checkpoint request's body. A request is an
// old size, at most MaxProofLines hashes and a checkpoint with its
// signatures: a few kilobytes.
const MaxRequestBytes = 64 << 10

// MaxProofLines is the most consistency proof hashes a request may carry
// (c2sp.org/tlog-witness).
const MaxProofLines = 63

// request is an add-checkpoint request's body, parsed.
type request struct {
	oldSize    int64
	proof      tlog.TreeProof
	checkpoint []byte // the signed note, as sent
}

// parseRequest reads an add-checkpoint body: a line "old <size>", zero or
// more lines each a base64 hash of the consistency proof, an empty line,
// then the signed checkpoint. Its errors name what is wrong; the
// checkpoint itself is left to note.Open and torchwood.ParseCheckpoint.
func parseRequest(body []byte) (request, error) {
	if i := bytes.IndexByte(body, 0); i >= 0 {
		return request{}, fmt.Errorf("the body has a NUL byte at offset %d", i)
	}
	head, checkpoint, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return request{}, errors.New(`no empty line: the body is "old <size>", the proof's lines, an empty line and the checkpoint`)
	}
	lines := strings.Split(string(head), "\n")
	size, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return request{}, fmt.Errorf(`the first line is %q, not "old <size>"`, cut(lines[0]))
	}
	oldSize, err := parseSize(size)
	if err != nil {
		return request{}, fmt.Errorf("old size: %w", err)
	}
	lines = lines[1:]
	if len(lines) > MaxProofLines {
		return request{}, fmt.Errorf("%d consistency proof lines: at most %d", len(lines), MaxProofLines)
	}
	proof := make(tlog.TreeProof, len(lines))
	for i, line := range lines {
		h, err := tlog.ParseHash(line)
		if err != nil || h.String() != line {
			return request{}, fmt.Errorf("consistency proof line %d is %q, not a base64 SHA-256 hash", i+1, cut(line))
		}
		proof[i] = h
	}
	if len(checkpoint) == 0 {
		return request{}, errors.New("no checkpoint after the empty line")
	}
	return request{oldSize: oldSize, proof: proof, checkpoint: checkpoint}, nil
}

// parseSize reads a tree size: ASCII decimal digits without leading zeroes
// (0 is "0"), at most 2⁶³−1.
func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("%q is not a decimal size without sign or leading zeroes", cut(s))
	}
	return n, nil
}

// formatRequest writes an add-checkpoint body.
func formatRequest(oldSize int64, proof tlog.TreeProof, signedCheckpoint []byte) []byte {
	var b bytes.Buffer
	b.Grow(32 + len(proof)*45 + len(signedCheckpoint))
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(h.String())
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signedCheckpoint)
	return b.Bytes()
}
