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
// the same bytes is not published again. The activations are made
// together, so that the node loads the adapters two at a time.
func (b *Broker) bootstrap(ctx context.Context, reg *registry.Registry, devKeys map[string]jwk.Key) error {
	type module struct {
		path     string
		wasm     []byte
		m        manifest.Manifest
		unsigned bool
	}
	var modules []module
	if b.cfg.ModulesDir != "" {
		paths, err := filepath.Glob(filepath.Join(b.cfg.ModulesDir, "*.wasm"))
		if err != nil {
			return fmt.Errorf("broker: modules: %w", err)
		}
		for _, p := range paths {
			wasm, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("broker: module %s: %w", p, err)
			}
			m, err := manifest.Read(wasm)
			if err != nil {
				return fmt.Errorf("broker: module %s: %w", p, err)
			}
			modules = append(modules, module{p, wasm, m, false})
		}
		// In the order of the adapters' names, so that of two modules for
		// one scope (prestacions and its twin prestacions-as) the same one
		// is activated on every start.
		sort.Slice(modules, func(i, j int) bool { return modules[i].m.Name < modules[j].m.Name })
	}
	for _, p := range b.cfg.UnsignedModules {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("broker: extra module: %w", err)
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			return fmt.Errorf("broker: extra module %s: %w", p, err)
		}
		modules = append(modules, module{p, wasm, m, true})
	}
	// What is published already, read once: each Get would read it again.
	infos := map[string]registry.AdapterInfo{}
	list, err := reg.List(ctx, "")
	if err != nil {
		return fmt.Errorf("broker: the adapters published: %w", err)
	}
	for _, info := range list {
		infos[info.Name] = info
	}
	var reqs []registry.ActivationRequest
	var paths []string
	for _, mod := range modules {
		req, activate, err := b.publishAtStart(ctx, reg, infos[mod.m.Name], mod.path, mod.wasm, mod.m, devKeys, mod.unsigned)
		if err != nil {
			return err
		}
		// A module given twice (in modules_dir and as an extra one) finds
		// what the first published.
		if info, err := reg.Get(ctx, mod.m.Name); err == nil {
			infos[mod.m.Name] = info
		}
		if activate {
			reqs, paths = append(reqs, req), append(paths, mod.path)
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	who := registry.Who{Subject: BootstrapSubject, Operator: true}
	for i, err := range reg.ActivateAll(ctx, reqs, who, time.Now()) {
		req := reqs[i]
		switch {
		case fault.CodeOf(err) == fault.ScopeTaken:
			b.log.Info("adapter published, not activated: another adapter serves its scope", slog.String("module", paths[i]),
				slog.String("adapter", req.Name), slog.String("version", req.Version), slog.String("why", describe(err).Error()))
		case err != nil:
			return fmt.Errorf("broker: module %s: activating %s %s: %w", paths[i], req.Name, req.Version, describe(err))
		default:
			b.log.Info("adapter activated at start", slog.String("module", paths[i]),
				slog.String("adapter", req.Name), slog.String("version", req.Version))
		}
	}
	return nil
}

// publishAtStart publishes one module of bootstrap unless it is published
// already, and answers whether (and which version) to activate.
func (b *Broker) publishAtStart(ctx context.Context, reg *registry.Registry, info registry.AdapterInfo, path string, wasm []byte, m manifest.Manifest, devKeys map[string]jwk.Key, unsigned bool) (registry.ActivationRequest, bool, error) {
	fail := func(err error) (registry.ActivationRequest, bool, error) {
		return registry.ActivationRequest{}, false, fmt.Errorf("broker: module %s: %w", path, err)
	}
	dev := b.cfg.DevIssuer != nil
	// A development node signs with its owners' keys (Ed25519 signs the
	// same bytes the same way, so an unchanged module is the same module).
	key, hasKey := devKeys[m.Owner]
	sign := func(wasm []byte) ([]byte, error) {
		if dev && hasKey {
			return signing.Sign(wasm, key)
		}
		return wasm, nil
	}
	same := func(wasm []byte, version string) bool {
		for _, v := range info.Versions {
			if v.Version == version && v.ModuleSHA256 == sha256Hex(wasm) {
				return true
			}
		}
		return false
	}
	out, err := sign(wasm)
	if err != nil {
		return fail(err)
	}
	published := same(out, m.Version)
	if !published && unsigned && same(wasm, m.Version) {
		out, published = wasm, true
	}
	if !published && slices.ContainsFunc(info.Versions, func(v store.AdapterVersion) bool { return v.Version == m.Version }) {
		if !dev {
			return fail(fmt.Errorf("%s %s is published with other bytes: versions never change; publish this module under a new version", m.Name, m.Version))
		}
		// A rebuilt module under a published version: a version of its
		// own, even on a development node.
		code, err := signing.Digest(wasm)
		if err != nil {
			return fail(err)
		}
		m.Version += "+dev." + code[:12]
		if wasm, err = manifest.Embed(wasm, m); err != nil {
			return fail(err)
		}
		if out, err = sign(wasm); err != nil {
			return fail(err)
		}
		if unsigned {
			out = wasm
		}
		published = slices.ContainsFunc(info.Versions, func(v store.AdapterVersion) bool { return v.Version == m.Version })
	}
	if !published {
		who := registry.Who{Owner: m.Owner, Subject: BootstrapSubject}
		publish := reg.Publish
		if unsigned {
			publish, out = reg.PublishUnsigned, wasm
		}
		if _, err := publish(ctx, out, who, time.Now()); err != nil {
			return fail(describe(err))
		}
	}
	req := registry.ActivationRequest{Name: m.Name, Version: m.Version, TakeOver: unsigned}
	switch {
	case info.Active == m.Version && !unsigned:
		return req, false, nil
	case info.Active != "" && !dev:
		return req, false, nil
	}
	return req, true, nil
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
