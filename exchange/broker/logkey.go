package broker

import (
	"crypto/rand"
	"errors"
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
	keyPath, vkeyPath := filepath.Join(dataDir, "log.key"), filepath.Join(dataDir, "log.vkey")
	raw, err := os.ReadFile(keyPath)
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, gerr := note.GenerateKey(rand.Reader, DevLogOrigin)
		if gerr != nil {
			return nil, nil, fmt.Errorf("broker: log key: %w", gerr)
		}
		if err := os.WriteFile(keyPath, []byte(skey+"\n"), 0o600); err != nil {
			return nil, nil, fmt.Errorf("broker: log key: %w", err)
		}
		if err := os.WriteFile(vkeyPath, []byte(vkey+"\n"), 0o644); err != nil {
			return nil, nil, fmt.Errorf("broker: log key: %w", err)
		}
		raw, err = []byte(skey), nil
	}
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
