package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/registry"
	"github.com/pontexchange/pont/exchange/signing"
	"github.com/pontexchange/pont/exchange/store"
)

// BootstrapSubject is the subject the node records for the versions it
// publishes and activates at start from ModulesDir and UnsignedModules.
const BootstrapSubject = "pont:modules_dir"

// devOwnerKeys gives every owner of cat without keys a development key,
// kept in dataDir/owner-keys/<owner>.jwk (made on the first start, reused
// after, so that the versions it signed stay valid): a development node
// signs the modules it publishes with them, through the same checks as a
// data owner's. It answers the catalog with those keys and the private
// keys by owner.
func devOwnerKeys(cat *catalog.Catalog, dataDir string) (*catalog.Catalog, map[string]jwk.Key, error) {
	dir := filepath.Join(dataDir, "owner-keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("broker: owner keys: %w", err)
	}
	owners := map[string]*catalog.Owner{}
	keys := map[string]jwk.Key{}
	for id, o := range cat.Owners {
		cp := *o
		owners[id] = &cp
		if len(o.KeyIDs()) > 0 {
			continue
		}
		key, err := devOwnerKey(filepath.Join(dir, id+".jwk"))
		if err != nil {
			return nil, nil, err
		}
		set, err := signing.PublicJWKS(key)
		if err != nil {
			return nil, nil, err
		}
		cp.Keys = set
		keys[id] = key
	}
	withKeys, err := cat.WithOwners(owners)
	if err != nil {
		return nil, nil, err
	}
	return withKeys, keys, nil
}

func devOwnerKey(path string) (jwk.Key, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return signing.ParsePrivateKey(raw)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("broker: owner key: %w", err)
	}
	key, err := signing.GenerateKey()
	if err != nil {
		return nil, err
	}
	raw, err = json.MarshalIndent(key, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("broker: owner key: %w", err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("broker: owner key: %w", err)
	}
	return key, nil
}

// bootstrap publishes the modules of ModulesDir (signing them first with
// the owners' development keys, on a development node) and the
// UnsignedModules, and activates each whose adapter has no active version,
// or, on a development node, whose active version is another: pont dev
// then serves what make build just built. A module published before with
// the same bytes is not published again.
func (b *Broker) bootstrap(ctx context.Context, reg *registry.Registry, devKeys map[string]jwk.Key) error {
	if b.cfg.ModulesDir != "" {
		paths, err := filepath.Glob(filepath.Join(b.cfg.ModulesDir, "*.wasm"))
		if err != nil {
			return fmt.Errorf("broker: modules: %w", err)
		}
		type module struct {
			path, name string
			wasm       []byte
		}
		var modules []module
		for _, p := range paths {
			wasm, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("broker: module %s: %w", p, err)
			}
			m, err := manifest.Read(wasm)
			if err != nil {
				return fmt.Errorf("broker: module %s: %w", p, err)
			}
			modules = append(modules, module{p, m.Name, wasm})
		}
		// In the order of the adapters' names, so that of two modules for
		// one scope (prestacions and its twin prestacions-as) the same one
		// is activated on every start.
		sort.Slice(modules, func(i, j int) bool { return modules[i].name < modules[j].name })
		for _, mod := range modules {
			if err := b.bootstrapOne(ctx, reg, mod.path, mod.wasm, devKeys, false); err != nil {
				return err
			}
		}
	}
	for _, p := range b.cfg.UnsignedModules {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("broker: extra module: %w", err)
		}
		if err := b.bootstrapOne(ctx, reg, p, wasm, nil, true); err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) bootstrapOne(ctx context.Context, reg *registry.Registry, path string, wasm []byte, devKeys map[string]jwk.Key, unsigned bool) error {
	m, err := manifest.Read(wasm)
	if err != nil {
		return fmt.Errorf("broker: module %s: %w", path, err)
	}
	dev := b.cfg.DevIssuer != nil
	// A development node signs with its owners' keys (Ed25519 signs the
	// same bytes the same way, so an unchanged module is the same module),
	// and gives a rebuilt module published under its version a version of
	// its own: versions never change, even there.
	prepare := func(wasm []byte) ([]byte, error) {
		if key, ok := devKeys[m.Owner]; ok && dev && !unsigned {
			return signing.Sign(wasm, key)
		}
		return wasm, nil
	}
	out, err := prepare(wasm)
	if err != nil {
		return fmt.Errorf("broker: module %s: %w", path, err)
	}
	info, err := reg.Get(ctx, m.Name)
	if err != nil && fault.CodeOf(err) != fault.NotFound {
		return fmt.Errorf("broker: module %s: %w", path, err)
	}
	published := false
	for _, v := range info.Versions {
		if v.Version != m.Version {
			continue
		}
		if v.ModuleSHA256 == sha256Hex(out) {
			published = true
			break
		}
		if !dev {
			return fmt.Errorf("broker: module %s: %s %s is published with other bytes (module_sha256 %s): versions never change; publish this one under a new version", path, m.Name, m.Version, v.ModuleSHA256)
		}
		code, err := signing.Digest(wasm)
		if err != nil {
			return fmt.Errorf("broker: module %s: %w", path, err)
		}
		m.Version += "+dev." + code[:12]
		if wasm, err = manifest.Embed(wasm, m); err != nil {
			return fmt.Errorf("broker: module %s: %w", path, err)
		}
		if out, err = prepare(wasm); err != nil {
			return fmt.Errorf("broker: module %s: %w", path, err)
		}
		published = slices.ContainsFunc(info.Versions, func(v store.AdapterVersion) bool { return v.Version == m.Version })
		break
	}
	who := registry.Who{Owner: m.Owner, Subject: BootstrapSubject}
	now := time.Now()
	if !published {
		publish := reg.Publish
		if unsigned {
			publish = reg.PublishUnsigned
		}
		if _, err := publish(ctx, out, who, now); err != nil {
			return fmt.Errorf("broker: module %s: %w", path, describe(err))
		}
	}
	if info.Active == m.Version || (info.Active != "" && !dev) {
		return nil
	}
	opts := registry.ActivateOptions{TakeOver: unsigned}
	_, err = reg.ActivateWith(ctx, m.Name, m.Version, who, now, opts)
	if fault.CodeOf(err) == fault.ScopeTaken {
		b.log.Info("adapter published, not activated: another adapter serves its scope", slog.String("module", path),
			slog.String("adapter", m.Name), slog.String("version", m.Version), slog.String("why", describe(err).Error()))
		return nil
	}
	if err != nil {
		return fmt.Errorf("broker: module %s: activating %s %s: %w", path, m.Name, m.Version, describe(err))
	}
	b.log.Info("adapter published and activated at start", slog.String("module", path),
		slog.String("adapter", m.Name), slog.String("version", m.Version))
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// describe answers err with its fields, for a start-up error.
func describe(err error) error {
	f, ok := fault.As(err)
	if !ok || len(f.Fields) == 0 {
		return err
	}
	msg := f.Message
	if len(f.Fields) > 1 {
		for _, fe := range f.Fields {
			msg += "; " + fe.Field + ": " + fe.Message
		}
	}
	return fmt.Errorf("%s: %s", f.Code, msg)
}
