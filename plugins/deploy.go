package plugins

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/signing"
)

// Deployment is a production node's adapters as a test or a benchmark
// deploys them: the embedded catalog with a key of its own making for
// every owner, the reference adapters signed with those keys, and the
// keys.
type Deployment struct {
	CatalogDir string // the catalog, owners.json with the owners' public keys
	ModulesDir string // the signed modules, for pont serve's modules_dir
	KeysDir    string // each owner's private key, <owner>.jwk
}

// Deploy writes a Deployment into dir from the modules of modulesDir
// (make build's bin/adapters): pont serve publishes only signed modules,
// and the embedded catalog has no owner's key, since owners keep their
// own.
func Deploy(dir, modulesDir string) (Deployment, error) {
	d := Deployment{
		CatalogDir: filepath.Join(dir, "catalog"),
		ModulesDir: filepath.Join(dir, "modules"),
		KeysDir:    filepath.Join(dir, "owner-keys"),
	}
	if err := os.CopyFS(d.CatalogDir, catalog.Files); err != nil {
		return d, fmt.Errorf("plugins: deploy: catalog: %w", err)
	}
	for _, sub := range []string{d.ModulesDir, d.KeysDir} {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return d, fmt.Errorf("plugins: deploy: %w", err)
		}
	}
	cat, err := catalog.Default()
	if err != nil {
		return d, err
	}
	type ownerFile struct {
		Name   string              `json:"name"`
		Keys   json.RawMessage     `json:"keys,omitempty"`
		Serves map[string][]string `json:"serves"`
	}
	owners := map[string]ownerFile{}
	keys := map[string]jwk.Key{}
	for id, o := range cat.Owners {
		key, err := signing.GenerateKey()
		if err != nil {
			return d, err
		}
		pub, err := signing.PublicJWKS(key)
		if err != nil {
			return d, err
		}
		priv, err := json.Marshal(key)
		if err != nil {
			return d, err
		}
		if err := os.WriteFile(filepath.Join(d.KeysDir, id+".jwk"), priv, 0o600); err != nil {
			return d, fmt.Errorf("plugins: deploy: %w", err)
		}
		owners[id] = ownerFile{Name: o.Name, Keys: pub, Serves: o.Serves}
		keys[id] = key
	}
	raw, err := json.MarshalIndent(owners, "", "  ")
	if err != nil {
		return d, err
	}
	if err := os.WriteFile(filepath.Join(d.CatalogDir, "owners.json"), raw, 0o644); err != nil {
		return d, fmt.Errorf("plugins: deploy: %w", err)
	}
	paths, err := filepath.Glob(filepath.Join(modulesDir, "*.wasm"))
	if err != nil {
		return d, err
	}
	if len(paths) == 0 {
		return d, fmt.Errorf("plugins: deploy: no modules in %s (run make build)", modulesDir)
	}
	sort.Strings(paths)
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return d, err
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			return d, fmt.Errorf("plugins: deploy: %s: %w", p, err)
		}
		key, ok := keys[m.Owner]
		if !ok {
			return d, fmt.Errorf("plugins: deploy: %s: owner %s is not in the catalog", p, m.Owner)
		}
		signed, err := signing.Sign(wasm, key)
		if err != nil {
			return d, fmt.Errorf("plugins: deploy: %s: %w", p, err)
		}
		if err := os.WriteFile(filepath.Join(d.ModulesDir, filepath.Base(p)), signed, 0o644); err != nil {
			return d, fmt.Errorf("plugins: deploy: %w", err)
		}
	}
	return d, nil
}

// OwnerKey reads an owner's private key from a Deployment.
func (d Deployment) OwnerKey(owner string) (jwk.Key, error) {
	raw, err := os.ReadFile(filepath.Join(d.KeysDir, owner+".jwk"))
	if err != nil {
		return nil, err
	}
	return signing.ParsePrivateKey(raw)
}
