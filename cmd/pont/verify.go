package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/exchange/witness"
)

const verifyUsage = `usage:
  pont audit verify [--server URL] [--token TOKEN] --log-key FILE
                    [--witness-key FILE]... [--min-witnesses N] [--state FILE]
  pont audit verify --receipt FILE --log-key FILE [--witness-key FILE]... [--min-witnesses N]

The first form reads the whole transfer log from the server and checks it:
the checkpoint's signature (the log's public key, a .vkey file) and the
witnesses' cosignatures, its consistency with the checkpoint verified last
time (kept in --state), every entry against the log's leaf hashes, and the
tree they make against the checkpoint's root. Entry bundles need an
auditor's token.

The second checks one receipt offline, as GET /v1/audit/proofs/inclusion or
GET /v1/me/transfers/{id}/proof answer it.

Each prints what it checked and exits 1 on the first failure, naming it: the
first wrong leaf's index, or the checkpoint.
`

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, verifyUsage) }
	server, token := clientFlags(fs)
	logKeyFile := fs.String("log-key", "", "the log's public key (a .vkey file)")
	var witnessKeys multiFlag
	fs.Var(&witnessKeys, "witness-key", "a witness's cosignature key (a .vkey file); repeat for each")
	minWitnesses := fs.Int("min-witnesses", -1, "cosignatures required (default: every --witness-key)")
	stateFile := fs.String("state", "", "where the last verified checkpoint is kept (default: in the user's config directory, by log)")
	receiptFile := fs.String("receipt", "", "check this receipt offline instead of the whole log")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pont audit verify: unexpected argument %q\n\n%s", fs.Arg(0), verifyUsage)
		return errUsage
	}
	if *logKeyFile == "" {
		fmt.Fprintf(stderr, "pont audit verify: --log-key is required\n\n%s", verifyUsage)
		return errUsage
	}
	logKey, err := readVerifierKey(*logKeyFile, note.NewVerifier)
	if err != nil {
		return err
	}
	var witnesses []note.Verifier
	for _, f := range witnessKeys {
		v, err := readVerifierKey(f, witness.ParseWitnessKey)
		if err != nil {
			return err
		}
		witnesses = append(witnesses, v)
	}
	if *minWitnesses < 0 {
		*minWitnesses = len(witnesses)
	}
	if *minWitnesses > len(witnesses) {
		return fmt.Errorf("--min-witnesses %d, but only %d --witness-key given", *minWitnesses, len(witnesses))
	}

	if *receiptFile != "" {
		return verifyReceipt(*receiptFile, logKey, witnesses, *minWitnesses, stdout)
	}

	base, err := translog.ParseServer(*server)
	if err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv("PONT_TOKEN")
	}
	if *stateFile == "" {
		if *stateFile, err = defaultStateFile(logKey.Name()); err != nil {
			return err
		}
	}
	start := time.Now()
	res, err := translog.VerifyLog(ctx, translog.VerifyConfig{
		Server: base, Token: *token, LogKey: logKey, Witnesses: witnesses, MinWitnesses: *minWitnesses,
		StateFile: *stateFile, Client: translog.NewVerifyClient(time.Minute, translog.DefaultConcurrency), Report: stdout,
	})
	if err != nil {
		return fmt.Errorf("FAILED: %w", err)
	}
	fmt.Fprintf(stdout, "verified: %d leaves in %s; state kept in %s\n", res.Leaves, time.Since(start).Round(time.Millisecond), *stateFile)
	return nil
}

func verifyReceipt(path string, logKey note.Verifier, witnesses []note.Verifier, minWitnesses int, stdout io.Writer) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r translog.Receipt
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("FAILED: %s is not a receipt: %w", path, err)
	}
	cp, err := r.Verify(logKey, witnesses, minWitnesses)
	if err != nil {
		return fmt.Errorf("FAILED: %w", err)
	}
	fmt.Fprintf(stdout, "entry: hashes to the leaf hash %x\n", r.LeafHash)
	if r.Personal != nil {
		fmt.Fprintf(stdout, "personal fields: match the entry's commitment\n")
	} else {
		fmt.Fprintf(stdout, "personal fields: pruned; only the commitment remains\n")
	}
	fmt.Fprintf(stdout, "checkpoint: %d leaves, signed by %s, %d of %d witnesses\n", cp.Tree.N, logKey.Name(), translog.Cosigners(cp, witnesses), len(witnesses))
	fmt.Fprintf(stdout, "verified: record %s is leaf %d of the log\n", r.TransferID, r.LeafIndex)
	return nil
}

// readVerifierKey reads a .vkey file (one line) with parse.
func readVerifierKey(path string, parse func(string) (note.Verifier, error)) (note.Verifier, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := parse(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a verifier key: %w", path, err)
	}
	return v, nil
}

// defaultStateFile is where the checkpoint of the log named origin is kept
// between runs: one file a log, in the user's configuration directory.
func defaultStateFile(origin string) (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", errors.New("no configuration directory for the state file: give --state FILE")
	}
	dir = filepath.Join(dir, "pont", "verify")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	name := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' {
			return '_'
		}
		return r
	}, origin)
	return filepath.Join(dir, name+".checkpoint"), nil
}
