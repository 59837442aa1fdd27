package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/exchange/witness"
)

const keygenUsage = `usage: pont keygen --name NAME --out PREFIX [--witness]

Writes a new Ed25519 key pair in the signed-note format of
golang.org/x/mod/sumdb/note: PREFIX.key, the private key (mode 0600: keep it
on the machine that signs, give it to nobody), and PREFIX.vkey, the verifier
key to publish, which is also printed. Existing files are never overwritten.

  A log's key (the sealer's, without --witness): NAME is usually the log's
  origin. Give PREFIX.vkey to every witness (pont witness --log ORIGIN=VKEY)
  and to auditors (pont audit verify --log-key).

  A witness's key (--witness): NAME is the witness's name (witness.example.org).
  PREFIX.vkey is then the cosignature/v1 verifier key (c2sp.org/tlog-cosignature),
  which is not the plain Ed25519 one: another key type and key hash, for the
  same key. Give it to the log's operator (the sealer's witnesses) and to
  auditors (pont audit verify --witness-key).

`

func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keygenUsage); fs.PrintDefaults() }
	name := fs.String("name", "", "the key's name: the log's origin, or the witness's name")
	out := fs.String("out", "", "the files' prefix: PREFIX.key and PREFIX.vkey")
	forWitness := fs.Bool("witness", false, "a witness's key: PREFIX.vkey is its cosignature/v1 verifier key")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *name == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, *name)
	if err == nil {
		_, err = note.NewSigner(skey) // GenerateKey does not check the name; NewSigner does
	}
	if err != nil {
		return fmt.Errorf("--name %q: %w (a key name is not empty and has no spaces and no '+')", *name, err)
	}
	if *forWitness {
		if vkey, err = witness.CosignatureVerifierKey(skey); err != nil {
			return err
		}
	}
	keyPath, vkeyPath := *out+".key", *out+".vkey"
	if err := writeNewFile(keyPath, skey+"\n", 0o600); err != nil {
		return err
	}
	if err := writeNewFile(vkeyPath, vkey+"\n", 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintln(stdout, vkey)
	return nil
}

// writeNewFile writes content to path, which must not exist yet.
func writeNewFile(path, content string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: pont keygen never overwrites a key", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
