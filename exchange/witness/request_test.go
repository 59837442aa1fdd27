package witness

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestRequestRoundTrip(t *testing.T) {
	proof := tlog.TreeProof{tlog.RecordHash([]byte("a")), tlog.RecordHash([]byte("b"))}
	cp := []byte("o\n3\n" + tlog.RecordHash(nil).String() + "\n\n— o AAAAAAAAAAAA\n")
	body := formatRequest(17, proof, cp)
	want := "old 17\n" + proof[0].String() + "\n" + proof[1].String() + "\n\n" + string(cp)
	if string(body) != want {
		t.Fatalf("formatRequest =\n%s\nwant\n%s", body, want)
	}
	req, err := parseRequest(body)
	if err != nil || req.oldSize != 17 || len(req.proof) != 2 || req.proof[1] != proof[1] || !bytes.Equal(req.checkpoint, cp) {
		t.Fatalf("parseRequest: %+v, %v", req, err)
	}
}

// FuzzParseRequest: the parser never panics, and what it takes is in the
// one canonical form: formatting it again gives the same bytes.
func FuzzParseRequest(f *testing.F) {
	h := tlog.RecordHash([]byte("x")).String()
	cp := "pont.example/log\n3\n" + h + "\n\n— pont.example/log AAAAAAAAAAAA\n"
	for _, seed := range []string{
		"old 0\n\n" + cp,
		"old 3\n" + h + "\n" + h + "\n\n" + cp,
		"old 3\n\n",
		"old 03\n\n" + cp,
		"old -0\n\n" + cp,
		"old 3\n" + h[:40] + "\n\n" + cp,
		"old 3\r\n\r\n" + cp,
		"\n\n",
		"old 1\n" + strings.Repeat(h+"\n", 64) + "\n" + cp,
		"old 0\n\n\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := parseRequest(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if req.oldSize < 0 || len(req.proof) > MaxProofLines || len(req.checkpoint) == 0 || bytes.IndexByte(req.checkpoint, 0) >= 0 {
			t.Fatalf("parseRequest(%q) = %+v", body, req)
		}
		if again := formatRequest(req.oldSize, req.proof, req.checkpoint); !bytes.Equal(again, body) {
			t.Fatalf("parseRequest(%q) formats again as %q", body, again)
		}
	})
}
