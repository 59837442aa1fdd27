package broker

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
)

// DevLogOrigin is the origin of a development node's log.
const DevLogOrigin = "pont.localhost/dev-transfer-log"

// devLogKey answers the signing key of a development node's log, kept in
// dataDir/log.key (and its public key in log.vkey, for pont audit verify),
// made on the first start: a log keeps its key, or its checkpoints stop
// verifying.
func devLogKey(dataDir string) (note.Signer, note.Verifier, error) {
	raw, err := devFile(dataDir, "log.key", func() ([]byte, error) {
		skey, vkey, err := note.GenerateKey(rand.Reader, DevLogOrigin)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dataDir, "log.vkey"), []byte(vkey+"\n"), 0o644); err != nil {
			return nil, err
		}
		return []byte(skey + "\n"), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("broker: log key: %w", err)
	}
	return ParseLogKey(strings.TrimSpace(string(raw)))
}

// ParseLogKey reads a log's private key (note.GenerateKey's format, as
// pont keygen writes it) and answers its signer and verifier.
func ParseLogKey(skey string) (note.Signer, note.Verifier, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, nil, fmt.Errorf("broker: log key: %w", err)
	}
	verifier, err := torchwood.NewVerifierFromSigner(skey)
	if err != nil {
		return nil, nil, fmt.Errorf("broker: log key: %w", err)
	}
	return signer, verifier, nil
}
