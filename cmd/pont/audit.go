package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pontexchange/pont/exchange/api/types"
)

const auditUsage = `usage:
  pont audit search [--server URL] [--token TOKEN] [--subject DNI] [--requester NIF] [--official ID]
                    [--procedure CODE] [--service NAME] [--purpose CODE] [--decision allow|deny]
                    [--scsp_request_id ID]
                    [--from TIME] [--to TIME] [--limit N] [--format table|json|csv]
  pont audit show   [--server URL] [--token TOKEN] ID
  pont audit verify [--server URL] [--token TOKEN] --log-key FILE [--witness-key FILE]...
                    [--min-witnesses N] [--state FILE] [--receipt FILE]

The server is --server, else $PONT_SERVER, else http://127.0.0.1:8080; the
token (an auditor's) is --token, else $PONT_TOKEN.
`

// searchFilters are the search flags, each sent as the query parameter of
// the same name (GET /v1/audit/transfers), so that the API's problems name
// the flag to fix.
var searchFilters = []struct{ name, usage string }{
	{"subject", "the citizen's DNI/NIE"},
	{"requester", "the requesting organisation's NIF"},
	{"official", "the official's id"},
	{"procedure", "the procedure code"},
	{"service", "the service (padro, titulacions, ...)"},
	{"purpose", "the purpose code"},
	{"decision", "allow or deny"},
	{"scsp_request_id", "the SCSP request's IdPeticion"},
	{"from", "from this time on (RFC 3339 or a date, inclusive)"},
	{"to", "before this time (RFC 3339 or a date, exclusive)"},
}

// pageSize is the page the search asks for: the largest the API serves.
var pageSize = 1000

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return errUsage
	}
	switch args[0] {
	case "search":
		return runAuditSearch(ctx, args[1:], stdout, stderr)
	case "show":
		return runAuditShow(ctx, args[1:], stdout, stderr)
	case "verify":
		return runAuditVerify(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, auditUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "pont audit: unknown command %q\n\n%s", args[0], auditUsage)
		return errUsage
	}
}

// clientFlags adds --server and --token to fs.
func clientFlags(fs *flag.FlagSet) (server, token *string) {
	def := os.Getenv("PONT_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	server = fs.String("server", def, "the node's base URL (default $PONT_SERVER or http://127.0.0.1:8080)")
	token = fs.String("token", "", "an auditor's token (default $PONT_TOKEN)")
	return server, token
}

func newAuditClient(server, token string) (*auditClient, error) {
	if token == "" {
		token = os.Getenv("PONT_TOKEN")
	}
	if token == "" {
		return nil, errors.New("no token: give --token or set PONT_TOKEN (an auditor's token)")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	return &auditClient{base: strings.TrimRight(server, "/"), token: token, http: &http.Client{}}, nil
}

func runAuditSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont audit search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := clientFlags(fs)
	values := make(map[string]*string, len(searchFilters))
	for _, f := range searchFilters {
		values[f.name] = fs.String(f.name, "", f.usage)
	}
	limit := fs.Int("limit", 0, "at most this many records (default: every record of the selection)")
	format := fs.String("format", "table", "table, json (one record per line) or csv")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "pont audit search: unexpected argument %q (filters are flags, such as --subject 12345678Z)\n", fs.Arg(0))
		return errUsage
	case *limit < 0:
		fmt.Fprintf(stderr, "pont audit search: --limit %d: must be positive\n", *limit)
		return errUsage
	case *format != "table" && *format != "json" && *format != "csv":
		fmt.Fprintf(stderr, "pont audit search: --format %q: must be table, json or csv\n", *format)
		return errUsage
	}
	c, err := newAuditClient(*server, *token)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, f := range searchFilters {
		if v := *values[f.name]; v != "" {
			q.Set(f.name, v)
		}
	}
	if *format == "csv" {
		// The node streams the whole selection, following its cursor.
		if *limit > 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
		return c.export(ctx, q, stdout)
	}

	var out pageWriter
	if *format == "json" {
		out = &jsonLines{enc: json.NewEncoder(stdout)}
	} else {
		out = newTable(stdout)
	}
	n, err := c.search(ctx, q, *limit, out.write)
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err == nil && n == 0 && *format == "table" {
		fmt.Fprintln(stderr, "no transfer matches")
	}
	return err
}

func runAuditShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pont audit show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server, token := clientFlags(fs)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	// Flags may come after the id too.
	var ids []string
	for fs.NArg() > 0 {
		ids = append(ids, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return errUsage
		}
	}
	if len(ids) != 1 {
		fmt.Fprintln(stderr, "usage: pont audit show [--server URL] [--token TOKEN] ID")
		return errUsage
	}
	c, err := newAuditClient(*server, *token)
	if err != nil {
		return err
	}
	var t types.TransferV1
	if err := c.getJSON(ctx, "/v1/audit/transfers/"+url.PathEscape(ids[0]), &t); err != nil {
		return err
	}
	var indented strings.Builder
	enc := json.NewEncoder(&indented)
	enc.SetIndent("", "  ")
	if err := enc.Encode(t); err != nil {
		return fmt.Errorf("transfer %s: %w", ids[0], err)
	}
	_, err = io.WriteString(stdout, indented.String())
	return err
}

// auditClient calls a node's audit API.
type auditClient struct {
	base  string
	token string
	http  *http.Client
}

// apiProblem is a problem+json answer of the API.
type apiProblem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Error is the problem as a person reads it: status, code and detail, then
// each field it names, as the flag that sets it.
func (p *apiProblem) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %s", p.Status, p.Code, p.Detail)
	for _, f := range p.Errors {
		fmt.Fprintf(&b, "\n  --%s: %s", f.Field, f.Message)
	}
	return b.String()
}

// get sends GET path with accept and answers the response when it is 200;
// otherwise the API's problem, or the status and the start of the body.
func (c *auditClient) get(ctx context.Context, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", accept)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.base+req.URL.EscapedPath(), err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p apiProblem
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && json.Unmarshal(body, &p) == nil && p.Code != "" {
		if p.Status == 0 {
			p.Status = resp.StatusCode
		}
		return nil, &p
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	return nil, fmt.Errorf("GET %s: %s: %s", c.base+req.URL.EscapedPath(), resp.Status, text)
}

func (c *auditClient) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.get(ctx, path, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: reading the answer: %w", path, err)
	}
	return nil
}

// search walks the selection q page by page, following the cursors, and
// hands each page to emit; limit > 0 stops after that many records. It
// answers how many records it handed on.
func (c *auditClient) search(ctx context.Context, q url.Values, limit int, emit func([]types.TransferV1) error) (int, error) {
	n := 0
	for {
		size := pageSize
		if limit > 0 {
			size = min(limit-n, pageSize)
		}
		q.Set("limit", strconv.Itoa(size))
		var page types.TransferPageV1
		if err := c.getJSON(ctx, "/v1/audit/transfers?"+q.Encode(), &page); err != nil {
			return n, err
		}
		if err := emit(page.Items); err != nil {
			return n, err
		}
		n += len(page.Items)
		if page.NextCursor == nil || (limit > 0 && n >= limit) {
			return n, nil
		}
		q.Set("cursor", *page.NextCursor)
	}
}

// export copies the node's CSV export of q to w.
func (c *auditClient) export(ctx context.Context, q url.Values, w io.Writer) error {
	resp, err := c.get(ctx, "/v1/audit/transfers?"+q.Encode(), "text/csv")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("the export broke off (the output is incomplete): %w", err)
	}
	return nil
}

// pageWriter prints pages of records as they come.
type pageWriter interface {
	write([]types.TransferV1) error
	flush() error
}

// jsonLines prints one record per line (JSON Lines).
type jsonLines struct{ enc *json.Encoder }

func (j *jsonLines) write(items []types.TransferV1) error {
	for _, t := range items {
		if err := j.enc.Encode(t); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
	}
	return nil
}

func (j *jsonLines) flush() error { return nil }

// table prints aligned columns, a page at a time, under a header printed
// with the first record.
type table struct {
	tw     *tabwriter.Writer
	header bool
}

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (t *table) write(items []types.TransferV1) error {
	if len(items) > 0 && !t.header {
		fmt.Fprintln(t.tw, "TIME\tID\tREQUESTER\tSUBJECT\tSERVICE\tPROCEDURE\tPURPOSE\tDECISION\tOUTCOME")
		t.header = true
	}
	for _, r := range items {
		fmt.Fprintf(t.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Time.UTC().Format(time.RFC3339), r.ID, dash(r.Requester), dash(r.Subject), r.Service,
			dash(r.Procedure), dash(r.Purpose), r.Decision, r.Outcome)
	}
	return t.flush()
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
