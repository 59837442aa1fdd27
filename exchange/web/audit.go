package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
)

// auditRoutes are the auditor's pages: the transfer log's search, one
// record, the CSV export of a selection, and the log's latest checkpoint.
// Every read goes through /v1/audit as the auditor, so that the API
// records it in the log as it records the same read made with a token.
func (p *Pages) auditRoutes(r chi.Router) {
	r.Get("/", p.auditSearch)
	r.Get("/transfers/{id}", p.auditTransfer)
	r.Get("/export.csv", p.auditExport)
}

// auditTextFilters are the search's filters that are free text, in the
// order the form shows them; each is the API's query parameter of the
// same name (GET /v1/audit/transfers).
var auditTextFilters = []string{"subject", "requester", "official", "procedure", "scsp_request_id"}

// auditPageSizes are the page sizes the form offers; the first is the
// default.
var auditPageSizes = []int{50, 25, 100, 250, 500}

// auditFilter is the search as the form shows it.
type auditFilter struct {
	Subject, Requester, Official, Procedure, SCSPRequestID string
	Service, Purpose, Decision                             string
	// From and To are dates (YYYY-MM-DD), both included, in Madrid's time.
	From, To string
	Limit    int
	Cursor   string
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

// auditRow is one record of the results.
type auditRow struct {
	types.TransferV1
	RequesterName string
}

type auditPage struct {
	Filter    auditFilter
	Services  []option
	Purposes  []option
	Decisions []option
	Limits    []option
	Items     []auditRow
	// Searched: the search ran (the table, or that it found nothing, is
	// shown).
	Searched bool
	// Next is the next page's link, First the first page's (on a later
	// page); Export the CSV export of the whole selection.
	Next, First, Export string
	Checkpoint          checkpointBox
}

// auditSearch answers GET /audit: the filters form, one page of the
// selection from GET /v1/audit/transfers (keyset paging, newest first),
// and the log's latest checkpoint.
func (p *Pages) auditSearch(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleAuditor)
	if !ok {
		return
	}
	v.Title = v.T("audit.title")
	q := r.URL.Query()
	f := readAuditFilter(q)
	page := auditPage{Filter: f}
	p.auditChoices(v, &page)
	page.Checkpoint = p.checkpoint(r.Context(), v)

	apiQ, bad := auditAPIQuery(f, true)
	if len(bad) > 0 {
		v.Problem = v.badFilters(bad)
		v.Data = page
		p.render(w, r, http.StatusBadRequest, "audit", v)
		return
	}
	res := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/audit/transfers?"+apiQ.Encode(), nil, "")
	if !res.OK() {
		pr := res.Problem()
		if res.Status == http.StatusBadRequest && len(pr.Errors) > 0 {
			fields := make([]string, 0, len(pr.Errors))
			for _, e := range pr.Errors {
				fields = append(fields, e.Field)
			}
			v.Problem = v.badFilters(fields)
		} else {
			v.Problem = v.refusal("audit", res)
		}
		v.Data = page
		p.render(w, r, res.Status, "audit", v)
		return
	}
	var out types.TransferPageV1
	if err := res.decode(&out); err != nil {
		v.Problem = problem{Detail: v.T("audit.unreadable")}
		v.Data = page
		p.render(w, r, http.StatusBadGateway, "audit", v)
		return
	}
	page.Searched = true
	page.Items = make([]auditRow, len(out.Items))
	for i, t := range out.Items {
		page.Items[i] = auditRow{TransferV1: t, RequesterName: p.cfg.Catalog.Authorisations[t.Requester].Name}
	}
	if out.NextCursor != nil {
		next := f
		next.Cursor = *out.NextCursor
		page.Next = "/audit?" + auditPageQuery(next, true).Encode()
	}
	if f.Cursor != "" {
		first := f
		first.Cursor = ""
		page.First = "/audit?" + auditPageQuery(first, true).Encode()
	}
	page.Export = "/audit/export.csv"
	if eq := auditPageQuery(f, false).Encode(); eq != "" {
		page.Export += "?" + eq
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "audit", v)
}

// readAuditFilter reads the form's fields from q; values are trimmed,
// unknown parameters ignored.
func readAuditFilter(q url.Values) auditFilter {
	get := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	f := auditFilter{
		Subject: get("subject"), Requester: get("requester"), Official: get("official"),
		Procedure: get("procedure"), SCSPRequestID: get("scsp_request_id"),
		Service: get("service"), Purpose: get("purpose"), Decision: get("decision"),
		From: get("from"), To: get("to"), Cursor: get("cursor"), Limit: auditPageSizes[0],
	}
	if n, err := strconv.Atoi(get("limit")); err == nil {
		f.Limit = n
	} else if get("limit") != "" {
		f.Limit = -1 // refused by auditAPIQuery, naming the field
	}
	return f
}

// auditPageQuery is the page's own query string for f: the filters, and
// with paging the page size and cursor.
func auditPageQuery(f auditFilter, paging bool) url.Values {
	q := url.Values{}
	for k, val := range map[string]string{
		"subject": f.Subject, "requester": f.Requester, "official": f.Official, "procedure": f.Procedure,
		"scsp_request_id": f.SCSPRequestID, "service": f.Service, "purpose": f.Purpose, "decision": f.Decision,
		"from": f.From, "to": f.To,
	} {
		if val != "" {
			q.Set(k, val)
		}
	}
	if paging {
		if f.Limit != auditPageSizes[0] {
			q.Set("limit", strconv.Itoa(f.Limit))
		}
		if f.Cursor != "" {
			q.Set("cursor", f.Cursor)
		}
	}
	return q
}

// auditAPIQuery is the API's query for f: the filters as given, the
// dates as the times they start and end in Madrid (the form's dates both
// included; the API's to is exclusive), and with paging the page size and
// cursor. bad names the fields the page itself refuses.
func auditAPIQuery(f auditFilter, paging bool) (q url.Values, bad []string) {
	q = auditPageQuery(f, false)
	for _, k := range []string{"from", "to"} {
		d := q.Get(k)
		if d == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, d, madrid)
		if err != nil {
			// A full time (RFC 3339) in a link is the API's to judge.
			if _, err := time.Parse(time.RFC3339Nano, d); err != nil {
				bad = append(bad, k)
			}
			continue
		}
		if k == "to" {
			t = t.AddDate(0, 0, 1)
		}
		q.Set(k, t.UTC().Format(time.RFC3339))
	}
	if paging {
		if f.Limit < 1 || f.Limit > store.MaxPageSize {
			bad = append(bad, "limit")
		}
		q.Set("limit", strconv.Itoa(f.Limit))
		if f.Cursor != "" {
			q.Set("cursor", f.Cursor)
		}
	}
	return q, bad
}

// auditChoices fills the selects of the form: the catalog's services and
// purposes (and a value the catalog does not have, when the search names
// one: the log keeps what requests named), decisions and page sizes.
func (p *Pages) auditChoices(v *view, page *auditPage) {
	f := page.Filter
	services := p.cfg.Catalog.ServiceNames()
	page.Services = choices(services, f.Service, func(s string) string { return v.Known("service."+s, s) })
	purposes := make([]string, 0, len(p.cfg.Catalog.Purposes))
	for code := range p.cfg.Catalog.Purposes {
		purposes = append(purposes, code)
	}
	sort.Strings(purposes)
	page.Purposes = choices(purposes, f.Purpose, func(s string) string { return v.Known("purpose."+s, s) + " (" + s + ")" })
	page.Decisions = []option{
		{Value: "allow", Label: v.T("audit.decision.allow"), Selected: f.Decision == "allow"},
		{Value: "deny", Label: v.T("audit.decision.deny"), Selected: f.Decision == "deny"},
	}
	sizes := auditPageSizes
	if f.Limit > 0 && !slices.Contains(sizes, f.Limit) {
		sizes = append(slices.Clone(sizes), f.Limit)
	}
	for _, n := range sizes {
		page.Limits = append(page.Limits, option{Value: strconv.Itoa(n), Label: strconv.Itoa(n), Selected: n == f.Limit})
	}
}

func choices(values []string, selected string, label func(string) string) []option {
	out := make([]option, 0, len(values)+1)
	found := selected == ""
	for _, s := range values {
		out = append(out, option{Value: s, Label: label(s), Selected: s == selected})
		found = found || s == selected
	}
	if !found {
		out = append(out, option{Value: selected, Label: selected, Selected: true})
	}
	return out
}

// badFilters is the problem of a search whose fields (the API's parameter
// names) are not valid.
func (v *view) badFilters(fields []string) problem {
	labels := make([]string, 0, len(fields))
	seen := map[string]bool{}
	for _, f := range fields {
		l := v.Known("audit.filter."+f, f)
		if !seen[l] {
			seen[l] = true
			labels = append(labels, l)
		}
	}
	return problem{Detail: v.T("audit.bad_filters", "Fields", strings.Join(labels, ", "))}
}

// refusal is a refusal of the API in the page's language: the message of
// area.refused.<code> when there is one, else a general one naming the
// code.
// read GETs path from the API as principal into out. When the API refuses,
// or answers what cannot be read, it sets v.Problem (the refusal in area's
// words, or area's unreadable message) and answers false with the status to
// show the page with.
func (p *Pages) read(ctx context.Context, v *view, principal auth.Principal, path, area string, out any) (int, bool) {
	res := p.call(ctx, principal, http.MethodGet, path, nil, "")
	if !res.OK() {
		v.Problem = v.refusal(area, res)
		return res.Status, false
	}
	if err := res.decode(out); err != nil {
		v.Problem = problem{Detail: v.T(area + ".unreadable")}
		return http.StatusBadGateway, false
	}
	return http.StatusOK, true
}

func (v *view) refusal(area string, res apiResult) problem {
	pr := res.Problem()
	if pr.Code != "" {
		if id := area + ".refused." + pr.Code; v.T(id) != id {
			return problem{Detail: v.T(id), Code: pr.Code}
		}
	}
	code := pr.Code
	if code == "" {
		code = strconv.Itoa(res.Status)
	}
	return problem{Detail: v.T(area+".refused.other", "Code", code), Code: pr.Code}
}

// Known answers message id, or fallback when there is none (a service or
// purpose the catalog does not have, as the log may hold).
func (v *view) Known(id, fallback string) string {
	if s := v.T(id); s != id {
		return s
	}
	return fallback
}

// Moment writes a time to the second, in Madrid's time and the page's
// language: auditors compare records by it.
func (v *view) Moment(t time.Time) string {
	t = t.In(madrid)
	return fmt.Sprintf("%s, %02d:%02d:%02d", v.Date(t), t.Hour(), t.Minute(), t.Second())
}

// checkpointBox is the transfer log's latest checkpoint, as the audit
// page shows it.
type checkpointBox struct {
	// Missing: the log has no checkpoint yet; Problem: the API did not
	// answer it (in the page's language); Malformed: it is not a
	// checkpoint.
	Missing   bool
	Problem   string
	Malformed bool
	Origin    string
	Size      int64
	Root      string
	Sigs      []checkpointSig
	// Checked: the node gave the pages the log's key, and the signature
	// was checked with it; Verified: it verifies; VerifyError why not.
	Checked     bool
	Verified    bool
	VerifyError string
	KeyName     string
	Raw         string
}

// checkpointSig is one signature line of the checkpoint: the signer's
// name and its key's hash (which names the key, and proves nothing by
// itself).
type checkpointSig struct {
	Name, KeyHash string
	// Verified: this signature was checked with the log's key.
	Verified bool
}

// checkpoint reads the log's latest checkpoint through GET
// /v1/audit/log/checkpoint, and checks its signature with the log's key
// when the node gave the pages one.
func (p *Pages) checkpoint(ctx context.Context, v *view) checkpointBox {
	res := p.call(ctx, v.Session.Principal, http.MethodGet, "/v1/audit/log/checkpoint", nil, "text/plain")
	switch {
	case res.Status == http.StatusNotFound:
		return checkpointBox{Missing: true}
	case !res.OK():
		return checkpointBox{Problem: v.refusal("audit", res).Detail}
	}
	return openCheckpoint(res.Body, p.cfg.LogKey)
}

// openCheckpoint parses a signed checkpoint (C2SP tlog-checkpoint) and,
// with logKey, checks that the log's key signed it; without, it says so
// and checks nothing.
func openCheckpoint(raw []byte, logKey note.Verifier) checkpointBox {
	box := checkpointBox{Raw: string(raw)}
	if logKey != nil {
		box.Checked, box.KeyName = true, logKey.Name()
		cp, err := translog.OpenCheckpoint(raw, logKey)
		if err == nil {
			box.Verified = true
			box.Origin, box.Size, box.Root = cp.Origin, cp.Tree.N, cp.Tree.Hash.String()
			for _, s := range cp.Note.Sigs {
				box.Sigs = append(box.Sigs, checkpointSig{Name: s.Name, KeyHash: fmt.Sprintf("%08x", s.Hash), Verified: true})
			}
			for _, s := range cp.Note.UnverifiedSigs {
				box.Sigs = append(box.Sigs, checkpointSig{Name: s.Name, KeyHash: fmt.Sprintf("%08x", s.Hash)})
			}
			return box
		}
		box.VerifyError = err.Error()
	}
	// Read without checking, to show what it claims.
	_, err := note.Open(raw, nil)
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		box.Malformed = true
		return box
	}
	n := unverified.Note
	for _, s := range n.UnverifiedSigs {
		box.Sigs = append(box.Sigs, checkpointSig{Name: s.Name, KeyHash: fmt.Sprintf("%08x", s.Hash)})
	}
	origin, tree, err := translog.ParseCheckpointText(n.Text)
	if err != nil {
		box.Malformed = true
		return box
	}
	box.Origin, box.Size, box.Root = origin, tree.N, tree.Hash.String()
	return box
}

// auditTransfer answers GET /audit/transfers/{id}: every field of one
// record (GET /v1/audit/transfers/{id}) and its receipt from the log (GET
// /v1/audit/proofs/inclusion), checked against the log's key when the
// node gave the pages one. Both reads are recorded by the API.
func (p *Pages) auditTransfer(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleAuditor)
	if !ok {
		return
	}
	v.Title = v.T("audit.record.title")
	id := chi.URLParam(r, "id")
	var t types.TransferV1
	if status, ok := p.read(r.Context(), v, v.Session.Principal, "/v1/audit/transfers/"+url.PathEscape(id), "audit", &t); !ok {
		p.render(w, r, status, "error", v)
		return
	}
	page := auditRecordPage{Transfer: t, Rows: v.transferRows(p, t)}
	if t.Subject != "" {
		page.SubjectLink = "/audit?" + url.Values{"subject": {t.Subject}}.Encode()
	}
	if t.SCSPRequestID != "" {
		page.SCSPLink = "/audit?" + url.Values{"scsp_request_id": {t.SCSPRequestID}}.Encode()
	}
	proof := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/audit/proofs/inclusion?"+url.Values{"transfer_id": {t.ID}}.Encode(), nil, "")
	switch {
	case proof.OK():
		var rc translog.Receipt
		if err := proof.decode(&rc); err != nil {
			page.ReceiptProblem = v.T("audit.unreadable")
			break
		}
		page.Receipt = &rc
		if p.cfg.LogKey != nil {
			page.Checked = true
			if _, err := rc.Verify(p.cfg.LogKey, nil, 0); err != nil {
				page.VerifyError = err.Error()
			} else {
				page.Verified = true
			}
		}
	case proof.Status == http.StatusNotFound:
		page.Pending = true
	default:
		page.ReceiptProblem = v.refusal("audit", proof).Detail
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "audit_transfer", v)
}

type auditRecordPage struct {
	Transfer types.TransferV1
	Rows     []recordRow
	// SubjectLink and SCSPLink search the other records of the subject
	// and of the SCSP request.
	SubjectLink, SCSPLink string
	Receipt               *translog.Receipt
	Pending               bool
	ReceiptProblem        string
	Checked, Verified     bool
	VerifyError           string
}

// recordRow is one field of a record: its name in the API, its label, and
// its value as text (Code: shown as code), as a list, or absent.
type recordRow struct {
	Name, Label, Value string
	Code               bool
	List               []string
	Empty              bool
}

// transferRows are every field of a record, in the order of the CSV
// export's columns, each labelled in the page's language.
func (v *view) transferRows(p *Pages, t types.TransferV1) []recordRow {
	named := func(label, code string) string {
		if label == "" || label == code {
			return code
		}
		return label + " (" + code + ")"
	}
	text := func(name, value string) recordRow { return recordRow{Name: name, Value: value} }
	code := func(name, value string) recordRow { return recordRow{Name: name, Value: value, Code: true} }
	rows := []recordRow{
		code("id", t.ID),
		text("time", v.Moment(t.Time)+" · "+t.Time.UTC().Format(time.RFC3339Nano)),
		code("node", t.Node),
		text("kind", v.Known("audit.kind."+t.Kind, t.Kind)),
		text("requester", ""),
		code("official_id", t.OfficialID),
		text("official_name", t.OfficialName),
		code("procedure", t.Procedure),
		text("procedure_name", t.ProcedureName),
		text("purpose", ""),
		text("legal_basis", ""),
		text("law_reference", t.LawReference),
		code("consent_id", t.ConsentID),
		code("case_id", t.CaseID),
		code("subject_id_type", t.SubjectIDType),
		code("subject", t.Subject),
		text("service", ""),
		code("adapter", t.Adapter),
		code("adapter_version", t.AdapterVersion),
		code("module_sha256", t.ModuleSHA256),
		text("decision", v.Known("audit.decision."+t.Decision, t.Decision)),
		{Name: "reasons"},
		code("policy_revision", t.PolicyRevision),
		code("outcome", t.Outcome),
		code("scsp_code", t.SCSPCode),
		text("latency_us", v.T("audit.micros", "N", strconv.FormatInt(t.LatencyMicros, 10))),
		code("data_sha256", t.DataSHA256),
		code("http_status", ""),
		code("job_id", t.JobID),
		code("scsp_request_id", t.SCSPRequestID),
		code("scsp_solicitud_id", t.SCSPSolicitudID),
	}
	for i := range rows {
		row := &rows[i]
		switch row.Name {
		case "requester":
			if t.Requester != "" {
				row.Value = named(p.cfg.Catalog.Authorisations[t.Requester].Name, t.Requester)
			}
		case "purpose":
			if t.Purpose != "" {
				row.Value = named(v.Known("purpose."+t.Purpose, ""), t.Purpose)
			}
		case "legal_basis":
			if t.LegalBasis != "" {
				row.Value = named(v.Known("audit.basis."+t.LegalBasis, ""), t.LegalBasis)
			}
		case "service":
			if t.Service != "" {
				row.Value = named(v.Known("service."+t.Service, ""), t.Service)
			}
		case "reasons":
			for _, rs := range t.Reasons {
				row.List = append(row.List, rs.Code+": "+rs.Message)
			}
		case "http_status":
			if t.HTTPStatus != 0 {
				row.Value = strconv.Itoa(t.HTTPStatus)
			}
		}
		row.Label = v.T("audit.field." + row.Name)
		row.Empty = row.Value == "" && len(row.List) == 0
	}
	return rows
}

// auditExport answers GET /audit/export.csv?<the search's filters>: the
// whole selection as CSV, a download, streamed from GET
// /v1/audit/transfers with Accept: text/csv as it is written (the API
// records the export, and its end with the rows sent). Page size and
// cursor are not filters: the export holds every record of the selection.
func (p *Pages) auditExport(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleAuditor)
	if !ok {
		return
	}
	f := readAuditFilter(r.URL.Query())
	apiQ, bad := auditAPIQuery(f, false)
	if len(bad) > 0 {
		v.Title = v.T("error.title")
		v.Problem = v.badFilters(bad)
		p.render(w, r, http.StatusBadRequest, "error", v)
		return
	}
	path := "/v1/audit/transfers"
	if enc := apiQ.Encode(); enc != "" {
		path += "?" + enc
	}
	ctx := context.WithValue(api.AsPrincipal(r.Context(), v.Session.Principal), chi.RouteCtxKey, nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	req.Header.Set("Accept", "text/csv")
	out := &csvDownload{w: w, header: http.Header{}}
	p.cfg.API.ServeHTTP(out, req)
	if out.passing {
		return
	}
	// The API refused before the first row: its problem, as a page.
	status := out.status
	if status == 0 || status < 400 {
		status = http.StatusBadGateway
	}
	res := apiResult{Status: status, Header: out.header, Body: out.body.Bytes()}
	v.Title = v.T("error.title")
	if pr := res.Problem(); status == http.StatusBadRequest && len(pr.Errors) > 0 {
		fields := make([]string, 0, len(pr.Errors))
		for _, e := range pr.Errors {
			fields = append(fields, e.Field)
		}
		v.Problem = v.badFilters(fields)
	} else {
		v.Problem = v.refusal("audit", res)
	}
	p.render(w, r, status, "error", v)
}

// csvDownload is the ResponseWriter of the export's in-process call: a
// CSV answer passes through to the auditor's browser as it is written, as
// a download; anything else (a problem) is kept for the page to show.
type csvDownload struct {
	w       http.ResponseWriter
	header  http.Header
	status  int
	passing bool
	body    bytes.Buffer
}

func (d *csvDownload) Header() http.Header { return d.header }

func (d *csvDownload) WriteHeader(status int) {
	if d.status != 0 {
		return
	}
	d.status = status
	ct := d.header.Get("Content-Type")
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/csv") {
		return
	}
	d.passing = true
	h := d.w.Header()
	h.Set("Content-Type", ct)
	disposition := d.header.Get("Content-Disposition")
	if !strings.HasPrefix(disposition, "attachment") {
		disposition = `attachment; filename="transfers.csv"`
	}
	h.Set("Content-Disposition", disposition)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	d.w.WriteHeader(http.StatusOK)
}

func (d *csvDownload) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.WriteHeader(http.StatusOK)
	}
	if d.passing {
		return d.w.Write(b)
	}
	return d.body.Write(b)
}

// Flush sends what the API wrote so far, page by page of the export.
func (d *csvDownload) Flush() {
	if d.passing {
		_ = http.NewResponseController(d.w).Flush()
	}
}

// Unwrap lets the API's http.ResponseController renew the connection's
// write deadline for each page of a long export.
func (d *csvDownload) Unwrap() http.ResponseWriter {
	if d.passing {
		return d.w
	}
	return nil
}
