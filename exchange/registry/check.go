package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/signing"
)

// DefaultMaxModuleBytes is Config.MaxModuleBytes's default: the reference
// adapters, built with Go's runtime inside, are 3 to 4 MiB.
const DefaultMaxModuleBytes = 32 << 20

// Checked is what a module's checks found: its manifest, its signature
// (empty for a development module) and its hash.
type Checked struct {
	Manifest  manifest.Manifest
	Signature signing.Signature
	// SHA256 is the lowercase hex SHA-256 of the module as published.
	SHA256 string
}

// Check runs the checks that need no Wasm runtime on a module about to be
// published or loaded: its size, its manifest, its owner in cat, the
// owner's right to serve each of its services at its scope, and its
// signature by one of the owner's current keys. The error is a
// *fault.Error (ModuleRefused) whose fields name each failed check.
func Check(wasm []byte, cat *catalog.Catalog, maxBytes int) (Checked, error) {
	m, err := readModule(wasm, maxBytes)
	if err != nil {
		return Checked{}, err
	}
	if err := checkRights(m, cat); err != nil {
		return Checked{}, err
	}
	owner := cat.Owners[m.Owner]
	if len(owner.KeyIDs()) == 0 {
		return Checked{}, refused("signature", "owner %s has no keys in the catalog: nothing it signs can be checked (its operator adds its public keys to owners.json)", m.Owner)
	}
	sig, err := signing.Verify(wasm, m, owner)
	if err != nil {
		return Checked{}, refused("signature", "%s", strings.TrimPrefix(err.Error(), "signing: "))
	}
	return Checked{Manifest: m, Signature: sig, SHA256: sha256Hex(wasm)}, nil
}

// CheckUnsigned runs Check's checks but the owner's and the signature's,
// for a development node's modules (pont dev --adapter): any owner, any
// scope of a service the catalog has.
func CheckUnsigned(wasm []byte, cat *catalog.Catalog, maxBytes int) (Checked, error) {
	m, err := readModule(wasm, maxBytes)
	if err != nil {
		return Checked{}, err
	}
	if err := checkServices(m, cat); err != nil {
		return Checked{}, err
	}
	return Checked{Manifest: m, SHA256: sha256Hex(wasm)}, nil
}

// readModule checks a module's size against maxBytes (DefaultMaxModuleBytes
// when not positive) and answers its manifest.
func readModule(wasm []byte, maxBytes int) (manifest.Manifest, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxModuleBytes
	}
	if len(wasm) > maxBytes {
		return manifest.Manifest{}, refused("module", "is %d bytes, over the limit of %d", len(wasm), maxBytes)
	}
	m, err := manifest.Read(wasm)
	if err != nil {
		return manifest.Manifest{}, refused("manifest", "%s", strings.TrimPrefix(err.Error(), "manifest: "))
	}
	return m, nil
}

// checkRights checks that the manifest's owner is in the catalog and may
// serve every service of the manifest at its scope.
func checkRights(m manifest.Manifest, cat *catalog.Catalog) error {
	owner, ok := cat.Owners[m.Owner]
	if !ok {
		if err := catalog.ValidOwnerID(m.Owner); err != nil {
			return refused("manifest.owner", "%v", err)
		}
		return refused("manifest.owner", "%s is not an owner in the catalog (owners.json)", m.Owner)
	}
	if err := checkServices(m, cat); err != nil {
		return err
	}
	var errs []fault.FieldError
	for i, svc := range m.Services {
		if !owner.MayServe(svc, m.Scope) {
			may := owner.Serves[svc]
			what := "serves no scope of it"
			if len(may) > 0 {
				what = "may serve " + strings.Join(may, ", ")
			}
			errs = append(errs, fault.FieldError{Field: fmt.Sprintf("manifest.services[%d]", i),
				Message: fmt.Sprintf("owner %s (%s) may not serve %s at scope %q: it %s", m.Owner, owner.Name, svc, m.Scope, what)})
		}
	}
	if len(errs) > 0 {
		return fault.Invalid(fault.ModuleRefused, errs...)
	}
	return nil
}

// checkServices checks that every service of the manifest is in the
// catalog, and that its scope fits each one's routing key.
func checkServices(m manifest.Manifest, cat *catalog.Catalog) error {
	var errs []fault.FieldError
	for i, name := range m.Services {
		svc, ok := cat.Service(name)
		switch {
		case !ok:
			errs = append(errs, fault.FieldError{Field: fmt.Sprintf("manifest.services[%d]", i),
				Message: fmt.Sprintf("%q is not a service of the catalog (%s)", name, strings.Join(cat.ServiceNames(), ", "))})
		case svc.RoutingKey == "" && m.Scope != catalog.AnyScope:
			errs = append(errs, fault.FieldError{Field: "manifest.scope",
				Message: fmt.Sprintf("%q: service %s has no routing key, so its only scope is %q", m.Scope, name, catalog.AnyScope)})
		}
	}
	if len(errs) > 0 {
		return fault.Invalid(fault.ModuleRefused, errs...)
	}
	return nil
}

// SourceConfig answers the configuration an adapter with manifest m gets:
// its manifest's defaults, overridden by the catalog's configuration of
// the source of each service it serves at its scope, kept to the keys the
// manifest declares. Two services that configure one key differently are
// an error.
func SourceConfig(m manifest.Manifest, cat *catalog.Catalog) (map[string]string, error) {
	config := maps.Clone(m.ConfigDefaults)
	if config == nil {
		config = map[string]string{}
	}
	from := map[string]string{} // key -> the service that set it
	for _, name := range m.Services {
		svc, ok := cat.Service(name)
		if !ok {
			continue
		}
		src := svc.SourceConfig(m.Scope)
		for _, k := range slices.Sorted(maps.Keys(src)) {
			if !m.Declares(k) {
				continue
			}
			if other, set := from[k]; set && config[k] != src[k] {
				return nil, fmt.Errorf("registry: adapter %s: services %s and %s configure %s differently at scope %s", m.Name, other, name, k, m.Scope)
			}
			config[k], from[k] = src[k], name
		}
	}
	return config, nil
}

func refused(field, format string, args ...any) *fault.Error {
	return fault.Invalid(fault.ModuleRefused, fault.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
