package witness

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signed-note key type of cosignature/v1 verifier
// keys (c2sp.org/tlog-cosignature): the first byte of their key.
const algCosignatureV1 = 4

// NewSigner answers the cosignature/v1 signer of a private key in the
// note.GenerateKey format (PRIVATE+KEY+name+hash+key). The key's name is
// the witness's name. The same key signs a log's checkpoints as a plain
// Ed25519 note signer; a witness's cosignatures carry a timestamp and
// another key hash, so their verifier key is another string
// (CosignatureVerifierKey).
func NewSigner(skey string) (*torchwood.CosignatureSigner, error) {
	skey = strings.TrimSpace(skey)
	if _, err := note.NewSigner(skey); err != nil { // checks the form, the algorithm and the key hash
		return nil, fmt.Errorf("not a note private key (PRIVATE+KEY+name+hash+key): %w", err)
	}
	// PRIVATE+KEY+name+hash+key, where only the key (base64) may hold a "+".
	rest := strings.TrimPrefix(skey, "PRIVATE+KEY+")
	name, rest, _ := strings.Cut(rest, "+")
	_, key64, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return nil, errors.New("not a note Ed25519 private key")
	}
	return torchwood.NewCosignatureSigner(name, ed25519.NewKeyFromSeed(raw[1:]))
}

// CosignatureVerifierKey answers the cosignature/v1 verifier key of a
// private key in the note.GenerateKey format: what a witness publishes, and
// what ParseWitnessKey reads.
func CosignatureVerifierKey(skey string) (string, error) {
	s, err := NewSigner(skey)
	if err != nil {
		return "", err
	}
	return s.Verifier().String(), nil
}

// ParseWitnessKey reads a witness's cosignature/v1 verifier key
// (name+hash+base64 of 0x04 and the Ed25519 public key), as
// CosignatureVerifierKey writes it, into a verifier of its cosignatures.
// A plain Ed25519 note verifier key is refused: it verifies a log's
// signatures, never a witness's cosignatures.
func ParseWitnessKey(vkey string) (note.Verifier, error) {
	vkey = strings.TrimSpace(vkey)
	name, rest, _ := strings.Cut(vkey, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if name == "" || len(hash16) != 8 || err1 != nil || err2 != nil || len(key) == 0 {
		return nil, fmt.Errorf("witness key %q: not a verifier key (name+hash+key)", cut(vkey))
	}
	if key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("witness key %q: key type %d, not cosignature/v1 (%d): give the witness's cosignature key (pont keygen --witness)", cut(vkey), key[0], algCosignatureV1)
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, fmt.Errorf("witness key %q: not an Ed25519 public key", cut(vkey))
	}
	// torchwood builds cosignature verifiers only from signers: a signer
	// that holds the public key alone gives the verifier, and cannot sign.
	s, err := torchwood.NewCosignatureSigner(name, publicKeyOnly(key[1:]))
	if err != nil {
		return nil, fmt.Errorf("witness key %q: %w", cut(vkey), err)
	}
	v := s.Verifier()
	if v.KeyHash() != uint32(hash) {
		return nil, fmt.Errorf("witness key %q: its hash does not match its name and key", cut(vkey))
	}
	return v, nil
}

// publicKeyOnly is an Ed25519 public key as a crypto.Signer that cannot sign.
type publicKeyOnly ed25519.PublicKey

func (k publicKeyOnly) Public() crypto.PublicKey { return ed25519.PublicKey(k) }

func (publicKeyOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("witness: a verifier key cannot sign")
}

// cut shortens s, a value from outside, for a message.
func cut(s string) string {
	n := 80
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
