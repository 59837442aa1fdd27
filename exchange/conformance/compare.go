package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// maxDifferences is how many differences a failed data comparison names:
// enough to see what is wrong, few enough to read.
const maxDifferences = 12

// Violation is one place where data breaks the answer schema.
type Violation struct {
	// Pointer is the JSON pointer (RFC 6901) of the offending value, or of
	// the missing or unexpected member.
	Pointer string
	Message string
}

func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = "(the data)"
	}
	return p + ": " + v.Message
}

// decode reads JSON keeping numbers as written, so that no number is
// rounded on its way to a comparison.
func decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("something follows the JSON value")
	}
	return v, nil
}

// differences lists where got differs from want, each as "pointer: got …,
// want …", at most maxDifferences and a count of the rest. Member order
// does not matter; numbers are equal when their values are (1.0 is 1).
func differences(got, want any) []string {
	var out []string
	n := 0
	add := func(ptr, format string, args ...any) {
		n++
		if len(out) < maxDifferences {
			if ptr == "" {
				ptr = "(the data)"
			}
			out = append(out, ptr+": "+fmt.Sprintf(format, args...))
		}
	}
	var walk func(ptr string, g, w any)
	walk = func(ptr string, g, w any) {
		switch w := w.(type) {
		case map[string]any:
			gm, ok := g.(map[string]any)
			if !ok {
				add(ptr, "got %s, want an object", show(g))
				return
			}
			g := gm
			for _, k := range sortedKeys(w) {
				at := ptr + "/" + escapePointer(k)
				if gv, ok := g[k]; ok {
					walk(at, gv, w[k])
				} else {
					add(at, "missing, want %s", show(w[k]))
				}
			}
			for _, k := range sortedKeys(g) {
				if _, ok := w[k]; !ok {
					add(ptr+"/"+escapePointer(k), "got %s, which is not expected", show(g[k]))
				}
			}
		case []any:
			gl, ok := g.([]any)
			if !ok {
				add(ptr, "got %s, want a list", show(g))
				return
			}
			g := gl
			for i := range max(len(g), len(w)) {
				at := fmt.Sprintf("%s/%d", ptr, i)
				switch {
				case i >= len(g):
					add(at, "missing, want %s", show(w[i]))
				case i >= len(w):
					add(at, "got %s, which is not expected", show(g[i]))
				default:
					walk(at, g[i], w[i])
				}
			}
		case json.Number:
			if gn, ok := g.(json.Number); !ok || !sameNumber(gn, w) {
				add(ptr, "got %s, want %s", show(g), show(w))
			}
		default: // a string, a boolean or null
			if g != w {
				add(ptr, "got %s, want %s", show(g), show(w))
			}
		}
	}
	walk("", got, want)
	if n > len(out) {
		out = append(out, fmt.Sprintf("and %d more differences", n-len(out)))
	}
	return out
}

func sameNumber(a, b json.Number) bool {
	x, ok1 := new(big.Rat).SetString(string(a))
	y, ok2 := new(big.Rat).SetString(string(b))
	if !ok1 || !ok2 {
		return a == b
	}
	return x.Cmp(y) == 0
}

// maxShown is how much of a value a difference shows.
const maxShown = 120

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > maxShown {
		return string(b[:maxShown]) + "…"
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// escapePointer escapes a member name as a JSON pointer token.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// compileAnswer compiles a service's answer schema as the catalog does
// (draft 2020-12 unless it says otherwise, formats asserted), for naming
// every violation by its JSON pointer; the verdict stays the catalog's.
func compileAnswer(service string, raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("service %s: the answer schema is not JSON: %w", service, err)
	}
	url := "pont:catalog/services/" + service + "/answer.json"
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft2020)
	comp.AssertFormat()
	if err := comp.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("service %s: the answer schema: %w", service, err)
	}
	sch, err := comp.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("service %s: the answer schema: %w", service, err)
	}
	return sch, nil
}

var printer = message.NewPrinter(language.English)

// violations lists every place where data breaks sch, sorted by pointer.
func violations(sch *jsonschema.Schema, data []byte) []Violation {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return []Violation{{Message: "not JSON: " + err.Error()}}
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []Violation{{Message: err.Error()}}
	}
	var out []Violation
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		ptr := ""
		for _, tok := range e.InstanceLocation {
			ptr += "/" + escapePointer(tok)
		}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, m := range k.Missing {
				out = append(out, Violation{ptr + "/" + escapePointer(m), "is required"})
			}
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				out = append(out, Violation{ptr + "/" + escapePointer(p), "is not in the schema"})
			}
		default:
			out = append(out, Violation{ptr, k.LocalizedString(printer)})
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	// One value can break a keyword reached by two paths of the schema.
	dedup := out[:0]
	for i, v := range out {
		if i == 0 || v != out[i-1] {
			dedup = append(dedup, v)
		}
	}
	return dedup
}
