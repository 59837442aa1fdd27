package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/pontexchange/pont/exchange/fault"
)

// AnyScope is the scope of a source that serves every routing-key value.
const AnyScope = "*"

// Service is one service of the catalog: what it answers, to which
// purposes, under which laws, and from which sources.
type Service struct {
	Name            string `json:"name"`
	Title           string `json:"title"`
	Description     string `json:"description"`
	SCSPCertificate string `json:"scsp_certificate"`
	// SCSPAlsoAnswers are further SCSP certificates the service answers a
	// part of its data for (titulacions: the non-university titles of
	// SVDTNUWS03 beside the university ones of SVDTUWS03).
	SCSPAlsoAnswers []string `json:"scsp_also_answers,omitempty"`
	// SpecialCategory marks GDPR art. 9 data, for which presumed
	// consultation is never enough.
	SpecialCategory bool `json:"special_category"`
	// RoutingKey names the param whose value picks the source; "" means
	// the service has one source for everything (scope "*").
	RoutingKey string `json:"routing_key"`
	// Params is the JSON Schema of the query's params object.
	Params json.RawMessage `json:"params"`
	// Answer is the JSON Schema of the data object an adapter returns.
	Answer json.RawMessage `json:"answer"`
	// Purposes maps each allowed purpose code to the answer fields it may see.
	Purposes map[string]PurposeRule `json:"purposes"`
	// Laws lists the laws that allow a query without the citizen's consent.
	Laws []Law `json:"laws"`
	// Sources configures the sources of some scopes (see Source); the
	// adapters that serve them are published by their owners.
	Sources []Source `json:"sources,omitempty"`

	params, answer *jsonschema.Schema
	policyView     map[string]any
}

// PurposeRule says which top-level answer fields a purpose may see. Nil
// Fields (written "*" in the catalog) means every field.
type PurposeRule struct {
	Fields []string
}

// All reports whether the purpose may see every field.
func (r PurposeRule) All() bool { return r.Fields == nil }

// MarshalJSON writes {"fields": "*"} or {"fields": [...]}.
func (r PurposeRule) MarshalJSON() ([]byte, error) {
	if r.All() {
		return []byte(`{"fields":"*"}`), nil
	}
	return json.Marshal(struct {
		Fields []string `json:"fields"`
	}{r.Fields})
}

// UnmarshalJSON reads {"fields": "*"} or {"fields": [...]}; an empty list or
// a missing "fields" is an error, since a purpose that sees nothing, or
// everything by omission, is a mistake.
func (r *PurposeRule) UnmarshalJSON(b []byte) error {
	var raw struct {
		Fields json.RawMessage `json:"fields"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("purpose rule: %w", err)
	}
	if len(raw.Fields) == 0 {
		return errors.New(`purpose rule: "fields" is required ("*" or a list of answer fields)`)
	}
	var star string
	if err := json.Unmarshal(raw.Fields, &star); err == nil {
		if star != "*" {
			return fmt.Errorf(`purpose rule: fields %q: want "*" or a list`, star)
		}
		r.Fields = nil
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw.Fields, &list); err != nil {
		return fmt.Errorf(`purpose rule: fields: want "*" or a list of strings: %w`, err)
	}
	if len(list) == 0 {
		return errors.New("purpose rule: fields is an empty list")
	}
	r.Fields = list
	return nil
}

// Law is a legal provision that allows a query without consent.
type Law struct {
	Reference string `json:"reference"`
	Title     string `json:"title"`
}

// Source is the operator's configuration of one scope's source: the
// values the adapter that serves the scope reads with config_get (its
// manifest declares the keys), such as the source's URL or an API key.
// Which adapter serves a scope is not the catalog's to say: the scope's
// owner publishes and activates it. A scope with no Source is served
// with the adapter's own defaults (its manifest's config_defaults).
type Source struct {
	// Scope is the routing-key value configured, or AnyScope.
	Scope string `json:"scope"`
	// Config holds the configuration values, by key.
	Config map[string]string `json:"config,omitempty"`
}

// SourceConfig answers the operator's configuration of the source of
// scope, nil when the catalog has none.
func (s *Service) SourceConfig(scope string) map[string]string {
	for _, src := range s.Sources {
		if src.Scope == scope {
			return src.Config
		}
	}
	return nil
}

// prepare checks the service against itself and the purposes, compiles its
// schemas and builds its policy view.
func (s *Service) prepare(purposes map[string]Purpose) error {
	switch {
	case s.Name == "":
		return errors.New("name is required")
	case strings.TrimSpace(s.Title) == "":
		return fmt.Errorf("service %s: title is required", s.Name)
	case s.SCSPCertificate == "":
		return fmt.Errorf("service %s: scsp_certificate is required", s.Name)
	case len(s.Params) == 0:
		return fmt.Errorf("service %s: params schema is required", s.Name)
	case len(s.Answer) == 0:
		return fmt.Errorf("service %s: answer schema is required", s.Name)
	}

	var err error
	if s.params, err = compileSchema("pont:catalog/services/"+s.Name+"/params.json", s.Params); err != nil {
		return fmt.Errorf("service %s: params schema: %w", s.Name, err)
	}
	if s.answer, err = compileSchema("pont:catalog/services/"+s.Name+"/answer.json", s.Answer); err != nil {
		return fmt.Errorf("service %s: answer schema: %w", s.Name, err)
	}
	paramsProps, paramsRequired, err := objectShape(s.Params)
	if err != nil {
		return fmt.Errorf("service %s: params schema: %w", s.Name, err)
	}
	answerProps, _, err := objectShape(s.Answer)
	if err != nil {
		return fmt.Errorf("service %s: answer schema: %w", s.Name, err)
	}
	for _, kv := range []struct {
		what string
		raw  json.RawMessage
	}{{"params", s.Params}, {"answer", s.Answer}} {
		if p := openObject(kv.raw); p != "" {
			return fmt.Errorf("service %s: %s schema: the object at %s must set additionalProperties to false, so that a stray field is caught", s.Name, kv.what, p)
		}
	}

	if s.RoutingKey != "" {
		if !paramsProps[s.RoutingKey] || !slices.Contains(paramsRequired, s.RoutingKey) {
			return fmt.Errorf("service %s: routing_key %q must be a required property of the params schema", s.Name, s.RoutingKey)
		}
	}

	if len(s.Purposes) == 0 {
		return fmt.Errorf("service %s: no purposes", s.Name)
	}
	for _, code := range sortedKeys(s.Purposes) {
		if _, ok := purposes[code]; !ok {
			return fmt.Errorf("service %s: unknown purpose %q (not in purposes.json)", s.Name, code)
		}
		for _, f := range s.Purposes[code].Fields {
			if !answerProps[f] {
				return fmt.Errorf("service %s: purpose %s: field %q is not a top-level property of the answer schema", s.Name, code, f)
			}
		}
	}

	seenLaw := map[string]bool{}
	for i, l := range s.Laws {
		if strings.TrimSpace(l.Reference) == "" {
			return fmt.Errorf("service %s: laws[%d]: reference is required", s.Name, i)
		}
		if seenLaw[l.Reference] {
			return fmt.Errorf("service %s: laws[%d]: duplicate reference %q", s.Name, i, l.Reference)
		}
		seenLaw[l.Reference] = true
	}

	if err := s.checkSources(); err != nil {
		return err
	}
	s.policyView = s.buildPolicyView()
	return nil
}

func (s *Service) checkSources() error {
	scopes := map[string]bool{}
	for i, src := range s.Sources {
		switch {
		case src.Scope == "":
			return fmt.Errorf("service %s: sources[%d]: scope is required (%q for all)", s.Name, i, AnyScope)
		case scopes[src.Scope]:
			return fmt.Errorf("service %s: sources[%d]: duplicate scope %q", s.Name, i, src.Scope)
		case s.RoutingKey == "" && src.Scope != AnyScope:
			return fmt.Errorf("service %s: sources[%d]: scope %q needs a routing_key; a service without one has a single %q source", s.Name, i, src.Scope, AnyScope)
		}
		for k := range src.Config {
			if k == "" {
				return fmt.Errorf("service %s: sources[%d] (%s): config: an empty key", s.Name, i, src.Scope)
			}
		}
		scopes[src.Scope] = true
	}
	return nil
}

// PolicyView returns what the policy sees as input.service:
//
//	{"name", "special_category", "purposes": {code: {"fields": [...] | "*"}}, "laws": {reference: true}}
//
// It is built once at load and shared; do not modify it.
func (s *Service) PolicyView() map[string]any {
	return s.policyView
}

func (s *Service) buildPolicyView() map[string]any {
	purposes := make(map[string]any, len(s.Purposes))
	for code, r := range s.Purposes {
		var fields any = "*"
		if !r.All() {
			list := make([]any, len(r.Fields))
			for i, f := range r.Fields {
				list[i] = f
			}
			fields = list
		}
		purposes[code] = map[string]any{"fields": fields}
	}
	laws := make(map[string]any, len(s.Laws))
	for _, l := range s.Laws {
		laws[l.Reference] = true
	}
	return map[string]any{
		"name":             s.Name,
		"special_category": s.SpecialCategory,
		"purposes":         purposes,
		"laws":             laws,
	}
}

// ValidateParams checks a query's decoded params object (numbers as
// json.Number; nil is {}) against the service's params schema and names
// every wrong field as params.<name> (or params for the object itself).
func (s *Service) ValidateParams(params map[string]any) []fault.FieldError {
	if params == nil {
		params = map[string]any{}
	}
	return fieldErrors("params", s.params.Validate(params))
}

// maxAnswerViolations is how many violations an answer error names: enough
// to fix an adapter, few enough for a log line.
const maxAnswerViolations = 3

// ValidateAnswer checks the data object an adapter returned against the
// service's answer schema; the error names the first few violations.
func (s *Service) ValidateAnswer(data json.RawMessage) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("service %s: the answer is not valid JSON: %w", s.Name, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("service %s: the answer data must be a JSON object", s.Name)
	}
	fields := fieldErrors("data", s.answer.Validate(v))
	if len(fields) == 0 {
		return nil
	}
	msgs := make([]string, 0, maxAnswerViolations)
	for i, f := range fields {
		if i == maxAnswerViolations {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(fields)-i))
			break
		}
		msgs = append(msgs, f.Field+" "+f.Message)
	}
	return fmt.Errorf("service %s: the answer breaks the schema: %s", s.Name, strings.Join(msgs, "; "))
}

var printer = message.NewPrinter(language.English)

// fieldErrors turns a validation error into one FieldError per violated
// keyword, named by JSON path under root, sorted by field.
func fieldErrors(root string, err error) []fault.FieldError {
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []fault.FieldError{{Field: root, Message: err.Error()}}
	}
	var out []fault.FieldError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		out = append(out, leafErrors(fieldPath(root, e.InstanceLocation), e.ErrorKind)...)
	}
	walk(ve)
	slices.SortStableFunc(out, func(a, b fault.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return slices.CompactFunc(out, func(a, b fault.FieldError) bool { return a == b })
}

func leafErrors(field string, k jsonschema.ErrorKind) []fault.FieldError {
	switch k := k.(type) {
	case *kind.Required:
		out := make([]fault.FieldError, len(k.Missing))
		for i, m := range k.Missing {
			out[i] = fault.FieldError{Field: field + "." + m, Message: "is required"}
		}
		return out
	case *kind.AdditionalProperties:
		out := make([]fault.FieldError, len(k.Properties))
		for i, p := range k.Properties {
			out[i] = fault.FieldError{Field: field + "." + p, Message: "is not allowed here (unknown field)"}
		}
		return out
	case *kind.Pattern:
		return []fault.FieldError{{Field: field, Message: fmt.Sprintf("%q does not have the expected format (pattern %s)", k.Got, k.Want)}}
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			b, _ := json.Marshal(w)
			want[i] = string(b)
		}
		return []fault.FieldError{{Field: field, Message: "must be one of " + strings.Join(want, ", ")}}
	case *kind.Type:
		return []fault.FieldError{{Field: field, Message: fmt.Sprintf("must be of type %s, not %s", strings.Join(k.Want, " or "), k.Got)}}
	default:
		return []fault.FieldError{{Field: field, Message: k.LocalizedString(printer)}}
	}
}

// fieldPath writes an instance location as root.a.b[0].c.
func fieldPath(root string, loc []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		b.WriteString("." + tok)
	}
	return b.String()
}

// objectShape reads a schema's top-level properties and required list; the
// schema must describe an object.
func objectShape(raw json.RawMessage) (props map[string]bool, required []string, err error) {
	var top struct {
		Type       string                     `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, nil, fmt.Errorf("read top level: %w", err)
	}
	if top.Type != "object" {
		return nil, nil, fmt.Errorf(`top-level "type" must be "object", not %q`, top.Type)
	}
	props = make(map[string]bool, len(top.Properties))
	for p := range top.Properties {
		props[p] = true
	}
	return props, top.Required, nil
}

// openObject returns the JSON pointer of the first object schema (one with
// "properties") that does not close itself with additionalProperties false,
// or "" when every one does.
func openObject(raw json.RawMessage) string {
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return ""
	}
	var walk func(v any, ptr string) string
	walk = func(v any, ptr string) string {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["properties"]; ok {
				if ap, ok := v["additionalProperties"].(bool); !ok || ap {
					if ptr == "" {
						return "/"
					}
					return ptr
				}
			}
			for _, k := range sortedKeys(v) {
				if p := walk(v[k], ptr+"/"+k); p != "" {
					return p
				}
			}
		case []any:
			for i, x := range v {
				if p := walk(x, ptr+"/"+strconv.Itoa(i)); p != "" {
					return p
				}
			}
		}
		return ""
	}
	return walk(doc, "")
}
