package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Violation is one way an adapter's data breaks its service's answer
// schema, named by where and by which rule, and never by the value there:
// an answer's values are personal data (an address, a degree), and a
// violation is logged, shown to the requester and recorded in the transfer
// log.
type Violation struct {
	// Pointer is the JSON pointer (RFC 6901) of the value in the data; for
	// a missing member, of the member. "" is the data object itself.
	Pointer string
	// Keyword is the schema keyword broken ("pattern", "required", "type",
	// "format", "additionalProperties"…).
	Keyword string
}

func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = "the data object"
	}
	return p + " (" + v.Keyword + ")"
}

// ErrNotAnObject is AnswerViolations' error for data that is not a JSON
// object.
var ErrNotAnObject = errors.New("the answer data is not a JSON object")

// AnswerViolations checks the data object an adapter returned against the
// service's answer schema, as ValidateAnswer does, and returns every
// violation, sorted by pointer; none when the data is valid. Unlike
// ValidateAnswer's message, a Violation quotes nothing of the data.
func (s *Service) AnswerViolations(data json.RawMessage) ([]Violation, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, ErrNotAnObject
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, ErrNotAnObject
	}
	err = s.answer.Validate(v)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("service %s: validating the answer: %w", s.Name, err)
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
		at := pointer(e.InstanceLocation)
		keyword := strings.Join(e.ErrorKind.KeywordPath(), "/")
		if keyword == "" {
			keyword = "false" // a false schema, which nothing passes
		}
		// A missing member is named by its own pointer: its name comes
		// from the schema.
		if r, ok := e.ErrorKind.(*kind.Required); ok {
			for _, m := range r.Missing {
				out = append(out, Violation{Pointer: at + "/" + escapePointer(m), Keyword: keyword})
			}
			return
		}
		out = append(out, Violation{Pointer: at, Keyword: keyword})
	}
	walk(ve)
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Keyword, b.Keyword)
	})
	return slices.Compact(out), nil
}

// pointer writes an instance location as a JSON pointer.
func pointer(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		b.WriteString("/" + escapePointer(tok))
	}
	return b.String()
}

func escapePointer(tok string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(tok)
}
