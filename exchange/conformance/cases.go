// Package conformance checks an adapter module before it is published, with
// no broker, no database and no real source: it runs the module in the real
// Wasm host (package wasmhost, the code the broker runs) against a source's
// recorded answers, and compares what the requester would get with each
// case's expectation, data checked against the service's answer schema from
// the catalog. docs/adapter-cases.md describes the case files for the data
// owners who write them; this package reads them, serves the recorded
// answers and runs the cases. It changes when the case format or what a
// case can expect changes.
package conformance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// ConfigFile is the optional file of a cases directory that holds the
// adapter's configuration values; every other *.json file is a case.
const ConfigFile = "config.json"

// maxDelayMS bounds a recorded answer's delay: a slow source is simulated by a
// delay beyond the call's deadline, and the runner stops waiting when the
// adapter gives up, so a longer one only hides a typing mistake.
const maxDelayMS = 10 * 60 * 1000

// Suite is a cases directory: the adapter's configuration and its cases,
// sorted by name.
type Suite struct {
	// Dir is the directory read.
	Dir string
	// Config holds the adapter's configuration values (config.json), by
	// key; nil when the directory has no config.json.
	Config map[string]string
	// Cases are the cases, sorted by name.
	Cases []Case
}

// Case is one query, the source's recorded answers to the adapter's
// requests, and what the requester must get.
type Case struct {
	// Name is the file's name without .json.
	Name string
	// File is the path the case was read from.
	File string
	// Description says what the case shows, for the people who read it.
	Description string
	// Query is what the broker passes to the adapter.
	Query Query
	// Source are the recorded answers, each served once (see Answer.Request).
	Source []Answer
	// TimeoutMS, when positive, is the call's deadline, as the time a
	// requester has left would be; the adapter's own limit still applies
	// when it is shorter.
	TimeoutMS int
	// Expect is the outcome the requester must get.
	Expect Expect
}

// Query is the query the adapter is asked: the members of the ABI's input
// (ABI.md 3.1) that a requester decides.
type Query struct {
	Service   string
	Purpose   string
	Requester string
	Procedure string
	Subject   abi.Subject
	// Params is a JSON object; nil is {}.
	Params json.RawMessage
}

// Answer is one recorded answer of the source.
type Answer struct {
	// Request, when set, is "METHOD /path" or "METHOD /path?query": the
	// answer is served only to a request with that method and path (and
	// that query, in any order, when it names one). Without it the answer
	// is served to whichever request comes while it is the first unused
	// one.
	Request string
	method  string
	path    string
	query   url.Values // nil when Request names no query
	// Status is the HTTP status, 200 when the case does not say.
	Status int
	// Headers are the answer's headers, sent as given.
	Headers map[string]string
	// Body is the answer's body, exactly these bytes.
	Body []byte
	// DelayMS is how long the source waits before answering; it stops
	// waiting when the adapter gives up.
	DelayMS int
	// Outage resets the connection instead of answering, as a source that
	// is down would: the adapter's http_call fails with network.
	Outage bool
}

// Expect is a case's expected outcome: exactly one of Data, ValidData and
// Error.
type Expect struct {
	// Data, when set, is the exact data object the adapter must answer
	// (JSON-equal: member order and number spelling aside); it must also
	// pass the service's answer schema.
	Data json.RawMessage
	// ValidData asks for any data that passes the schema.
	ValidData bool
	// Error is the problem code the requester must get.
	Error fault.Code
	// MessageContains, with Error, is a text the problem's message must
	// contain.
	MessageContains string
	// Violations, with Error adapter_failed, are the JSON pointers at
	// which the data must break the schema: all of them, and no other.
	Violations []string
}

// expectableCodes are the problem codes a call of one adapter can end in
// (adapter_busy aside: the cases run one at a time).
var expectableCodes = []fault.Code{
	fault.SubjectNotFound, fault.SourceUnavailable, fault.InvalidRequest,
	fault.AdapterFailed, fault.AdapterTimeout,
}

// LoadDir reads a cases directory: config.json, if any, and every other
// *.json file as a case. Other files (a README) and subdirectories are
// left alone. A directory without cases is an error.
func LoadDir(dir string) (*Suite, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cases: %w", err)
	}
	s := &Suite{Dir: dir}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("cases: %w", err)
		}
		if name == ConfigFile {
			if s.Config, err = ParseConfig(b); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			continue
		}
		c, err := ParseCase(strings.TrimSuffix(name, ".json"), b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.File = path
		s.Cases = append(s.Cases, c)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("cases: %s holds no case (*.json besides %s)", dir, ConfigFile)
	}
	sort.Slice(s.Cases, func(i, j int) bool { return s.Cases[i].Name < s.Cases[j].Name })
	return s, nil
}

// ParseConfig reads config.json: an object of string values, one per
// configuration key of the manifest.
func ParseConfig(b []byte) (map[string]string, error) {
	d := &decoder{}
	members, err := d.object(b, "", nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(members))
	for k, raw := range members {
		v, err := d.string(raw, k)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// ParseCase reads one case file. Every member is checked: an unknown or
// misspelt member, a value of the wrong type and a contradiction (two
// bodies, an expectation of both data and an error) are errors naming the
// member.
func ParseCase(name string, b []byte) (Case, error) {
	c := Case{Name: name}
	d := &decoder{}
	top, err := d.object(b, "", []string{"description", "query", "source", "timeout_ms", "expect"})
	if err != nil {
		return c, err
	}
	if raw, ok := top["description"]; ok {
		if c.Description, err = d.string(raw, "description"); err != nil {
			return c, err
		}
	}
	raw, ok := top["query"]
	if !ok {
		return c, errors.New("query: is required")
	}
	if c.Query, err = d.query(raw); err != nil {
		return c, err
	}
	if raw, ok := top["source"]; ok {
		if c.Source, err = d.answers(raw); err != nil {
			return c, err
		}
	}
	if raw, ok := top["timeout_ms"]; ok {
		if c.TimeoutMS, err = d.int(raw, "timeout_ms", 1, int(maxTimeout.Milliseconds())); err != nil {
			return c, err
		}
	}
	raw, ok = top["expect"]
	if !ok {
		return c, errors.New(`expect: is required ({"data": {...}}, {"valid_data": true} or {"error": "<code>"})`)
	}
	if c.Expect, err = d.expect(raw); err != nil {
		return c, err
	}
	return c, nil
}

func (d *decoder) query(raw json.RawMessage) (Query, error) {
	var q Query
	m, err := d.object(raw, "query", []string{"service", "purpose", "requester", "procedure", "subject", "params"})
	if err != nil {
		return q, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"service", &q.Service}, {"purpose", &q.Purpose}, {"requester", &q.Requester}, {"procedure", &q.Procedure}} {
		if *f.dst, err = d.required(m, "query", f.name); err != nil {
			return q, err
		}
	}
	sraw, ok := m["subject"]
	if !ok {
		return q, errors.New(`query.subject: is required ({"id_type": "DNI", "id": "..."})`)
	}
	sm, err := d.object(sraw, "query.subject", []string{"id_type", "id", "name", "surname1", "surname2"})
	if err != nil {
		return q, err
	}
	if q.Subject.IDType, err = d.required(sm, "query.subject", "id_type"); err != nil {
		return q, err
	}
	if q.Subject.ID, err = d.required(sm, "query.subject", "id"); err != nil {
		return q, err
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"name", &q.Subject.Name}, {"surname1", &q.Subject.Surname1}, {"surname2", &q.Subject.Surname2}} {
		if raw, ok := sm[f.name]; ok {
			if *f.dst, err = d.string(raw, "query.subject."+f.name); err != nil {
				return q, err
			}
		}
	}
	if raw, ok := m["params"]; ok {
		if _, err := d.object(raw, "query.params", nil); err != nil {
			return q, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return q, fmt.Errorf("query.params: %w", err)
		}
		q.Params = buf.Bytes()
	}
	return q, nil
}

func (d *decoder) answers(raw json.RawMessage) ([]Answer, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, errors.New("source: must be a list of recorded answers")
	}
	out := make([]Answer, len(list))
	for i, raw := range list {
		a, err := d.answer(raw, fmt.Sprintf("source[%d]", i))
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// requestLine is "METHOD /path[?query]".
var requestLine = regexp.MustCompile(`^([A-Z]+) (/\S*)$`)

func (d *decoder) answer(raw json.RawMessage, at string) (Answer, error) {
	a := Answer{Status: 200}
	m, err := d.object(raw, at, []string{"request", "status", "headers", "body", "body_json", "body_base64", "delay_ms", "outage"})
	if err != nil {
		return a, err
	}
	if raw, ok := m["request"]; ok {
		if a.Request, err = d.string(raw, at+".request"); err != nil {
			return a, err
		}
		sub := requestLine.FindStringSubmatch(a.Request)
		if sub == nil {
			return a, fmt.Errorf(`%s.request: %q is not "METHOD /path" (e.g. "GET /padro/v1/habitants/12345678Z")`, at, a.Request)
		}
		u, err := url.ParseRequestURI(sub[2])
		if err != nil {
			return a, fmt.Errorf("%s.request: the path %q: %w", at, sub[2], err)
		}
		a.method, a.path = sub[1], u.EscapedPath()
		if strings.Contains(sub[2], "?") {
			if a.query, err = url.ParseQuery(u.RawQuery); err != nil {
				return a, fmt.Errorf("%s.request: the query %q: %w", at, u.RawQuery, err)
			}
		}
	}
	if raw, ok := m["outage"]; ok {
		if a.Outage, err = d.bool(raw, at+".outage"); err != nil {
			return a, err
		}
	}
	if raw, ok := m["delay_ms"]; ok {
		if a.DelayMS, err = d.int(raw, at+".delay_ms", 0, maxDelayMS); err != nil {
			return a, err
		}
	}
	if a.Outage {
		for _, k := range []string{"status", "headers", "body", "body_json", "body_base64"} {
			if _, ok := m[k]; ok {
				return a, fmt.Errorf("%s.%s: an outage answers nothing; drop %s or outage", at, k, k)
			}
		}
		return a, nil
	}
	if raw, ok := m["status"]; ok {
		// A recorded answer is a final one: 1xx are interim answers.
		if a.Status, err = d.int(raw, at+".status", 200, 599); err != nil {
			return a, err
		}
	}
	if raw, ok := m["headers"]; ok {
		hm, err := d.object(raw, at+".headers", nil)
		if err != nil {
			return a, err
		}
		a.Headers = make(map[string]string, len(hm))
		for k, raw := range hm {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				return a, fmt.Errorf("%s.headers: %q is not a header name", at, k)
			}
			v, err := d.string(raw, at+".headers."+k)
			if err != nil {
				return a, err
			}
			if strings.ContainsAny(v, "\r\n") {
				return a, fmt.Errorf("%s.headers.%s: a header value cannot hold a line break", at, k)
			}
			a.Headers[k] = v
		}
	}
	var bodies []string
	for _, k := range []string{"body", "body_json", "body_base64"} {
		if _, ok := m[k]; ok {
			bodies = append(bodies, k)
		}
	}
	if len(bodies) > 1 {
		return a, fmt.Errorf("%s: %s: an answer has one body; keep one of them", at, strings.Join(bodies, " and "))
	}
	if raw, ok := m["body"]; ok {
		s, err := d.string(raw, at+".body")
		if err != nil {
			return a, err
		}
		a.Body = []byte(s)
	}
	if raw, ok := m["body_json"]; ok {
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return a, fmt.Errorf("%s.body_json: %w", at, err)
		}
		a.Body = buf.Bytes()
		if !hasHeader(a.Headers, "Content-Type") {
			if a.Headers == nil {
				a.Headers = map[string]string{}
			}
			a.Headers["Content-Type"] = "application/json"
		}
	}
	if (a.Status == 204 || a.Status == 304) && len(bodies) > 0 {
		return a, fmt.Errorf("%s.%s: a %d answer has no body", at, bodies[0], a.Status)
	}
	if raw, ok := m["body_base64"]; ok {
		s, err := d.string(raw, at+".body_base64")
		if err != nil {
			return a, err
		}
		if a.Body, err = base64.StdEncoding.DecodeString(s); err != nil {
			return a, fmt.Errorf("%s.body_base64: not standard base64: %w", at, err)
		}
	}
	return a, nil
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func (d *decoder) expect(raw json.RawMessage) (Expect, error) {
	var e Expect
	m, err := d.object(raw, "expect", []string{"data", "valid_data", "error", "message_contains", "violations"})
	if err != nil {
		return e, err
	}
	var kinds []string
	for _, k := range []string{"data", "valid_data", "error"} {
		if _, ok := m[k]; ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		return e, fmt.Errorf(`expect: want exactly one of data, valid_data and error, not %d (%s)`, len(kinds), strings.Join(kinds, ", "))
	}
	if raw, ok := m["data"]; ok {
		if _, err := d.object(raw, "expect.data", nil); err != nil {
			return e, err
		}
		e.Data = raw
	}
	if raw, ok := m["valid_data"]; ok {
		if e.ValidData, err = d.bool(raw, "expect.valid_data"); err != nil {
			return e, err
		}
		if !e.ValidData {
			return e, errors.New("expect.valid_data: false expects nothing; expect an error instead")
		}
	}
	if raw, ok := m["error"]; ok {
		code, err := d.string(raw, "expect.error")
		if err != nil {
			return e, err
		}
		// The adapter answers invalid_params; the requester gets
		// invalid_request. An owner writes either.
		if code == abi.CodeInvalidParams {
			code = string(fault.InvalidRequest)
		}
		e.Error = fault.Code(code)
		if !slices.Contains(expectableCodes, e.Error) {
			names := make([]string, len(expectableCodes))
			for i, c := range expectableCodes {
				names[i] = string(c)
			}
			return e, fmt.Errorf("expect.error: %q is not a code a call of the adapter can end in (%s, or invalid_params)", code, strings.Join(names, ", "))
		}
	}
	if raw, ok := m["message_contains"]; ok {
		if e.Error == "" {
			return e, errors.New("expect.message_contains: only an expected error has a message")
		}
		if e.MessageContains, err = d.string(raw, "expect.message_contains"); err != nil {
			return e, err
		}
	}
	if raw, ok := m["violations"]; ok {
		if e.Error != fault.AdapterFailed {
			return e, errors.New("expect.violations: only data that breaks the schema has violations; expect error adapter_failed with them")
		}
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
			return e, errors.New(`expect.violations: must be a non-empty list of JSON pointers (e.g. ["/municipality/code"])`)
		}
		for i, raw := range list {
			p, err := d.string(raw, fmt.Sprintf("expect.violations[%d]", i))
			if err != nil {
				return e, err
			}
			if p != "" && !strings.HasPrefix(p, "/") {
				return e, fmt.Errorf("expect.violations[%d]: %q is not a JSON pointer (it starts with /, or is empty for the whole data)", i, p)
			}
			e.Violations = append(e.Violations, p)
		}
		slices.Sort(e.Violations)
	}
	return e, nil
}

// decoder reads the members of a case strictly, naming the member (by its
// path in the file) in every error.
type decoder struct{}

// object reads raw as a JSON object and returns its members, refusing a
// duplicate member and, when known is not nil, any member not in it.
func (d *decoder) object(raw []byte, at string, known []string) (map[string]json.RawMessage, error) {
	where := at
	if where == "" {
		where = "the file"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", where, err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		return nil, fmt.Errorf("%s: must be a JSON object, not %s", where, kindOf(tok))
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", where, err)
		}
		key := tok.(string) // an object's member names are strings
		path := key
		if at != "" {
			path = at + "." + key
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s: appears twice", path)
		}
		if known != nil && !slices.Contains(known, key) {
			return nil, fmt.Errorf("%s: unknown member (%s has %s)", path, where, strings.Join(known, ", "))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: not JSON: %w", path, err)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", where, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: something follows the object", where)
	}
	return out, nil
}

func kindOf(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "a list"
		}
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func (d *decoder) string(raw json.RawMessage, at string) (string, error) {
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil || s == nil {
		return "", fmt.Errorf("%s: must be a string", at)
	}
	return *s, nil
}

// required reads the member name of m, a non-empty string.
func (d *decoder) required(m map[string]json.RawMessage, at, name string) (string, error) {
	raw, ok := m[name]
	if !ok {
		return "", fmt.Errorf("%s.%s: is required", at, name)
	}
	s, err := d.string(raw, at+"."+name)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s.%s: is empty", at, name)
	}
	return s, nil
}

func (d *decoder) int(raw json.RawMessage, at string, lo, hi int) (int, error) {
	var n *int
	if err := json.Unmarshal(raw, &n); err != nil || n == nil {
		return 0, fmt.Errorf("%s: must be a whole number", at)
	}
	if *n < lo || *n > hi {
		return 0, fmt.Errorf("%s: %d is not within %d to %d", at, *n, lo, hi)
	}
	return *n, nil
}

func (d *decoder) bool(raw json.RawMessage, at string) (bool, error) {
	var b *bool
	if err := json.Unmarshal(raw, &b); err != nil || b == nil {
		return false, fmt.Errorf("%s: must be true or false", at)
	}
	return *b, nil
}
