// Package manifest reads, validates and embeds an adapter's manifest: the
// JSON payload of the `pont.manifest` custom section of its WebAssembly
// module (sdk-wasm/ABI.md). It changes only when the manifest's fields or
// their rules change.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

// SectionName is the name of the custom section that holds the manifest.
const SectionName = "pont.manifest"

// ABI is the adapter ABI version this package understands.
const ABI = 1

// Manifest describes an adapter: who owns it, what it serves, what it may
// reach and what it may use.
type Manifest struct {
	// ABI is the adapter ABI version; only 1 exists.
	ABI int `json:"abi"`
	// Name identifies the adapter in the catalog, e.g. "padro-08019".
	Name string `json:"name"`
	// Version is the adapter's version, e.g. "1.0.0".
	Version string `json:"version"`
	// Owner is the data owner's id (its NIF or DIR3 code).
	Owner string `json:"owner"`
	// Services are the catalog services the adapter answers.
	Services []string `json:"services"`
	// Scope is the routing-key value the adapter serves, or "*" for all.
	Scope string `json:"scope"`
	// AllowedHosts are the origins (scheme://host[:port]) http_call may reach.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
	// Config are the configuration keys the adapter reads with config_get.
	Config []string `json:"config,omitempty"`
	// ConfigDefaults are the owner's values of some Config keys (a
	// source's URL), used where the operator's catalog sets none: a
	// source the catalog does not list yet still reaches its system.
	ConfigDefaults map[string]string `json:"config_defaults,omitempty"`
	// Limits are the adapter's wishes; the host caps them at its maxima.
	Limits Limits `json:"limits,omitzero"`
}

// Limits are an adapter's requested resource limits. A zero field takes the
// host's default.
type Limits struct {
	// MemoryPages caps the instance's linear memory, in 64 KiB pages.
	MemoryPages uint32 `json:"memory_pages,omitempty"`
	// TimeoutMS is each call's deadline, in milliseconds.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// MaxAnswerBytes caps the size of the answer JSON.
	MaxAnswerBytes int `json:"max_answer_bytes,omitempty"`
	// PoolMin is how many instances the broker keeps warm.
	PoolMin int `json:"pool_min,omitempty"`
	// PoolMax is the most instances the broker runs at once.
	PoolMax int `json:"pool_max,omitempty"`
}

var (
	// ErrNotWasm means the bytes are not a WebAssembly binary module.
	ErrNotWasm = wasmbin.ErrNotWasm
	// ErrNoManifest means the module has no pont.manifest section.
	ErrNoManifest = errors.New("the module has no " + SectionName + " custom section")
)

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Read returns the validated manifest embedded in a WebAssembly module.
func Read(wasm []byte) (Manifest, error) {
	secs, err := sections(wasm)
	if err != nil {
		return Manifest{}, err
	}
	var payload []byte
	found := 0
	for _, s := range secs {
		if isManifest(s) {
			payload = s.Data
			found++
		}
	}
	switch found {
	case 0:
		return Manifest{}, fmt.Errorf("manifest: %w", ErrNoManifest)
	case 1:
	default:
		return Manifest{}, fmt.Errorf("manifest: the module has %d %s sections; it must have one", found, SectionName)
	}
	m, err := Parse(payload)
	if err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Parse decodes and validates a manifest's JSON payload. Unknown fields are
// refused so that a misspelt limit or host list does not pass silently.
func Parse(payload []byte) (Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("manifest: the %s section is not valid manifest JSON: %w", SectionName, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("manifest: the %s section has data after the JSON object", SectionName)
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// Embed returns a copy of the module whose pont.manifest section holds m:
// every existing pont.manifest section is removed and one is appended. m is
// validated first.
func Embed(wasm []byte, m Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("manifest: encoding: %w", err)
	}
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(wasm)+len(payload)+32)
	out = append(out, wasmbin.Header...)
	for _, s := range secs {
		if !isManifest(s) {
			out = append(out, s.Raw...)
		}
	}
	body := append(wasmbin.AppendName(nil, SectionName), payload...)
	out = wasmbin.AppendSection(out, wasmbin.CustomID, body)
	return out, nil
}

// SignatureSection is the name of the custom section that holds the
// module's signature (package signing makes and checks it).
const SignatureSection = "pont.signature"

// Strip returns the module without its pont.manifest and pont.signature
// sections: the code alone, so that modules that differ only in their
// manifest or their signature (one program deployed for several sources,
// each signed) compare, hash and compile alike. A module with no such
// section is returned as it is, not copied.
func Strip(wasm []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	pont := func(s wasmbin.Section) bool {
		return isManifest(s) || (s.ID == wasmbin.CustomID && s.Name == SignatureSection)
	}
	if !slices.ContainsFunc(secs, pont) {
		return wasm, nil
	}
	out := make([]byte, 0, len(wasm))
	out = append(out, wasmbin.Header...)
	for _, s := range secs {
		if !pont(s) {
			out = append(out, s.Raw...)
		}
	}
	return out, nil
}

// Validate reports every rule of the ABI that m breaks, naming the fields.
func (m Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if m.ABI != ABI {
		bad("abi: is %d; this broker supports abi %d", m.ABI, ABI)
	}
	if m.Name == "" {
		bad("name: is empty")
	} else if !namePattern.MatchString(m.Name) {
		bad("name: %q must be letters, digits, '.', '_' or '-' (at most 128)", m.Name)
	}
	if strings.TrimSpace(m.Version) == "" {
		bad("version: is empty")
	}
	if len(m.Services) == 0 {
		bad("services: is empty; name at least one service")
	}
	for i, s := range m.Services {
		if !namePattern.MatchString(s) {
			bad("services[%d]: %q is not a service name", i, s)
		}
	}
	if strings.TrimSpace(m.Scope) == "" {
		bad(`scope: is empty; give the routing-key value the adapter serves, or "*"`)
	}
	for i, h := range m.AllowedHosts {
		if _, err := ParseOrigin(h); err != nil {
			bad("allowed_hosts[%d]: %v", i, err)
		}
	}
	seen := map[string]bool{}
	for i, k := range m.Config {
		switch {
		case k == "":
			bad("config[%d]: is empty", i)
		case seen[k]:
			bad("config[%d]: %q is declared twice", i, k)
		}
		seen[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(m.ConfigDefaults)) {
		if !seen[k] {
			bad("config_defaults.%s: the key is not declared in config", k)
		}
	}
	if m.Limits.TimeoutMS < 0 {
		bad("limits.timeout_ms: is negative")
	}
	if m.Limits.MaxAnswerBytes < 0 {
		bad("limits.max_answer_bytes: is negative")
	}
	if m.Limits.PoolMin < 0 {
		bad("limits.pool_min: is negative")
	}
	if m.Limits.PoolMax < 0 {
		bad("limits.pool_max: is negative")
	}
	if m.Limits.PoolMax > 0 && m.Limits.PoolMin > m.Limits.PoolMax {
		bad("limits.pool_min: %d exceeds pool_max %d", m.Limits.PoolMin, m.Limits.PoolMax)
	}
	if m.Limits.MemoryPages > 65536 {
		bad("limits.memory_pages: %d exceeds the 65536 pages of a 32-bit memory", m.Limits.MemoryPages)
	}
	if len(errs) > 0 {
		return fmt.Errorf("manifest: %w", errors.Join(errs...))
	}
	return nil
}

// Declares reports whether key is one of the manifest's config keys.
func (m Manifest) Declares(key string) bool {
	for _, k := range m.Config {
		if k == key {
			return true
		}
	}
	return false
}

// ParseOrigin parses an allowed_hosts entry, scheme://host[:port] with no
// path, query or user, and returns it in the canonical form of Origin.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q is not scheme://host[:port]: %w", s, err)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q must be scheme://host[:port] alone, without user, path, query or fragment", s)
	}
	return Origin(u)
}

// Origin returns the canonical origin of u, "scheme://host:port" with the
// scheme and host in lower case and the port made explicit, so that an
// allowed host and a requested URL compare equal exactly when they name the
// same endpoint. Only http and https are accepted.
func Origin(u *url.URL) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	var port string
	switch scheme {
	case "http":
		port = "80"
	case "https":
		port = "443"
	default:
		return "", fmt.Errorf("%q: the scheme must be http or https", u.String())
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", fmt.Errorf("%q: the host is empty", u.String())
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%q: the port %q is not 1-65535", u.String(), p)
		}
		port = strconv.Itoa(n)
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// sections splits a module into its sections.
func sections(wasm []byte) ([]wasmbin.Section, error) {
	secs, err := wasmbin.Sections(wasm)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return secs, nil
}

// isManifest reports whether s is a pont.manifest section.
func isManifest(s wasmbin.Section) bool {
	return s.ID == wasmbin.CustomID && s.Name == SectionName
}
