// Package catalog holds what Pont knows about its services: for each one the
// JSON Schema of its params and of its answer, the purposes it may serve and
// the fields each purpose needs, the laws that allow it without consent and
// the sources that answer it; beside them the purposes and the authorisation
// matrix of requesting organisations. It changes when what Pont offers, or to
// whom, changes.
//
// A catalog is loaded and checked once (Default for the embedded files, Load
// for another directory of the same layout) and then only read: every value
// it hands out is shared and must not be modified.
package catalog

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed services/*.json authorisations.json purposes.json owners.json scsp_purposes.json
var embedded embed.FS

// Files are the catalog embedded in the binary, in the layout Load reads:
// copy them to start a catalog directory of one's own.
var Files fs.FS = embedded

// Catalog is the loaded, checked set of services, purposes and
// authorisations.
type Catalog struct {
	// Services by name.
	Services map[string]*Service
	// Purposes by code.
	Purposes map[string]Purpose
	// Authorisations by the requesting organisation's NIF.
	Authorisations map[string]Organisation
	// Owners by their id (NIF or DIR3): who may publish adapters for
	// which services and scopes, with which keys.
	Owners map[string]*Owner

	policyData map[string]any
	// scspPurposes are the rows of scsp_purposes.json (PurposeForFinalidad).
	scspPurposes []scspPurpose
}

// Purpose describes one purpose code that queries may give.
type Purpose struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Organisation is one requesting organisation's row of the authorisation
// matrix: the procedures it runs and, for each, what it may ask.
type Organisation struct {
	Name       string               `json:"name"`
	Procedures map[string]Procedure `json:"procedures"`
	// Callbacks are the URLs under which the organisation's jobs may ask
	// to be notified (CallbackAllowed): Pont posts nowhere else for it.
	Callbacks []string `json:"callbacks,omitempty"`
}

// Procedure is what an organisation may ask within one procedure.
type Procedure struct {
	Name     string   `json:"name,omitempty"`
	Services []string `json:"services"`
	Purposes []string `json:"purposes"`
}

// orgIDPattern is SCSP's IdentificadorSolicitante: a public body's NIF.
var orgIDPattern = regexp.MustCompile(`^[A-Za-z][0-9]{7}[0-9A-Za-z]$`)

// Default returns the catalog embedded in the binary.
func Default() (*Catalog, error) {
	c, err := Load(embedded)
	if err != nil {
		return nil, fmt.Errorf("catalog: embedded files: %w", err)
	}
	return c, nil
}

// Load reads and checks a catalog from fsys, which holds services/*.json
// (one file per service, named after it), purposes.json,
// authorisations.json and, optionally, owners.json and scsp_purposes.json. Every schema is compiled here, once; any
// inconsistency (an unknown purpose or service, a duplicate scope, an
// owner's key that is not an Ed25519 public key, a schema that does not
// compile) is an error naming the file and the field.
func Load(fsys fs.FS) (*Catalog, error) {
	c := &Catalog{Services: map[string]*Service{}}
	if err := decodeFile(fsys, "purposes.json", &c.Purposes); err != nil {
		return nil, err
	}
	for code, p := range c.Purposes {
		if code == "" || strings.TrimSpace(p.Title) == "" {
			return nil, fmt.Errorf("purposes.json: purpose %q: a code and a title are required", code)
		}
	}

	files, err := fs.Glob(fsys, "services/*.json")
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("services/: no service files")
	}
	for _, file := range files {
		var s Service
		if err := decodeFile(fsys, file, &s); err != nil {
			return nil, err
		}
		if want := strings.TrimSuffix(path.Base(file), ".json"); s.Name != want {
			return nil, fmt.Errorf("%s: name %q does not match the file name (want %q)", file, s.Name, want)
		}
		if err := s.prepare(c.Purposes); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		c.Services[s.Name] = &s
	}

	if err := c.checkCertificates(); err != nil {
		return nil, err
	}
	if err := decodeFile(fsys, "authorisations.json", &c.Authorisations); err != nil {
		return nil, err
	}
	if err := c.checkAuthorisations(); err != nil {
		return nil, fmt.Errorf("authorisations.json: %w", err)
	}
	if err := c.loadOwners(fsys); err != nil {
		return nil, err
	}
	if err := c.loadSCSPPurposes(fsys); err != nil {
		return nil, err
	}
	c.policyData = c.buildPolicyData()
	return c, nil
}

// loadOwners reads owners.json, when the catalog has one: a catalog
// without owners serves nothing published.
func (c *Catalog) loadOwners(fsys fs.FS) error {
	c.Owners = map[string]*Owner{}
	if _, err := fs.Stat(fsys, "owners.json"); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := decodeFile(fsys, "owners.json", &c.Owners); err != nil {
		return err
	}
	if err := c.checkOwners(); err != nil {
		return fmt.Errorf("owners.json: %w", err)
	}
	return nil
}

// Service returns the service called name.
func (c *Catalog) Service(name string) (*Service, bool) {
	s, ok := c.Services[name]
	return s, ok
}

// ServiceNames returns the names of every service, sorted.
func (c *Catalog) ServiceNames() []string {
	names := make([]string, 0, len(c.Services))
	for name := range c.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// PolicyData returns the OPA data document drawn from the catalog, keyed so
// that every rule is a lookup and never a scan:
//
//	{"authorisations": {org: {"procedures": {proc: {"services": {svc: true}, "purposes": {p: true}}}}},
//	 "purposes": {code: {"title", "description"}},
//	 "laws": {service: {reference: true}}}
//
// The document is built once at load and shared; do not modify it.
func (c *Catalog) PolicyData() map[string]any {
	return c.policyData
}

func (c *Catalog) buildPolicyData() map[string]any {
	auth := map[string]any{}
	for org, o := range c.Authorisations {
		procs := map[string]any{}
		for code, p := range o.Procedures {
			procs[code] = map[string]any{
				"services": setOf(p.Services),
				"purposes": setOf(p.Purposes),
			}
		}
		auth[org] = map[string]any{"name": o.Name, "procedures": procs}
	}
	purposes := map[string]any{}
	for code, p := range c.Purposes {
		purposes[code] = map[string]any{"title": p.Title, "description": p.Description}
	}
	laws := map[string]any{}
	for name, s := range c.Services {
		laws[name] = s.policyView["laws"]
	}
	return map[string]any{"authorisations": auth, "purposes": purposes, "laws": laws}
}

func (c *Catalog) checkAuthorisations() error {
	for org, o := range c.Authorisations {
		if !orgIDPattern.MatchString(org) {
			return fmt.Errorf("organisation %q: not a public body's NIF (want a letter, 7 digits and a check character)", org)
		}
		if strings.TrimSpace(o.Name) == "" {
			return fmt.Errorf("organisation %s: name is required", org)
		}
		if len(o.Procedures) == 0 {
			return fmt.Errorf("organisation %s: no procedures", org)
		}
		for _, cb := range o.Callbacks {
			if err := checkCallbackBase(cb); err != nil {
				return fmt.Errorf("organisation %s: callback %q: %w", org, cb, err)
			}
		}
		for code, p := range o.Procedures {
			if code == "" || len(code) > 20 {
				return fmt.Errorf("organisation %s: procedure code %q must have 1 to 20 characters", org, code)
			}
			if len(p.Services) == 0 || len(p.Purposes) == 0 {
				return fmt.Errorf("organisation %s: procedure %s: services and purposes are required", org, code)
			}
			for _, svc := range p.Services {
				if _, ok := c.Services[svc]; !ok {
					return fmt.Errorf("organisation %s: procedure %s: unknown service %q", org, code, svc)
				}
			}
			for _, pur := range p.Purposes {
				if _, ok := c.Purposes[pur]; !ok {
					return fmt.Errorf("organisation %s: procedure %s: unknown purpose %q", org, code, pur)
				}
			}
		}
	}
	return nil
}

// decodeFile decodes one JSON file strictly: an unknown field is a typo that
// would otherwise be ignored silently.
func decodeFile(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: data after the JSON document", name)
	}
	return nil
}

func setOf(list []string) map[string]any {
	set := make(map[string]any, len(list))
	for _, s := range list {
		set[s] = true
	}
	return set
}

// sortedKeys returns m's keys in order, for stable error messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// compileSchema compiles one JSON Schema (draft 2020-12 unless it says
// otherwise), asserting formats so that "date" means a date.
func compileSchema(url string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	sch, err := comp.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	return sch, nil
}
