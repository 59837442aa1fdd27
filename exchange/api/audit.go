package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/store"
)

// reasonsV1 is a record's reasons on the wire; nil when there are none.
func reasonsV1(rs []store.Reason) []types.ReasonV1 {
	if len(rs) == 0 {
		return nil
	}
	out := make([]types.ReasonV1, len(rs))
	for i, r := range rs {
		out[i] = types.ReasonV1{Code: r.Code, Message: r.Message}
	}
	return out
}

// transferV1 is a record of the transfer log as the audit API serves it,
// in JSON and in CSV. It is the only place where the storage row meets the
// wire type, so that a column renamed in the store is a compile error here
// rather than a field silently renamed in the API.
func transferV1(t store.Transfer) types.TransferV1 {
	reasons := reasonsV1(t.Reasons)
	return types.TransferV1{
		ID:             t.ID,
		Time:           t.Time.UTC(),
		Node:           t.Node,
		Kind:           t.Kind,
		Requester:      t.RequesterOrg,
		OfficialID:     t.OfficialID,
		OfficialName:   t.OfficialName,
		Procedure:      t.ProcedureCode,
		ProcedureName:  t.ProcedureName,
		Purpose:        t.Purpose,
		LegalBasis:     t.LegalBasis,
		LawReference:   t.LawReference,
		ConsentID:      t.ConsentID,
		CaseID:         t.CaseID,
		JobID:          t.JobID,
		SubjectIDType:  t.SubjectIDType,
		Subject:        t.SubjectID,
		Service:        t.Service,
		Adapter:        t.Adapter,
		AdapterVersion: t.AdapterVersion,
		ModuleSHA256:   t.ModuleSHA256,
		Decision:       t.Decision,
		Reasons:        reasons,
		PolicyRevision: t.PolicyRevision,
		Outcome:        t.Outcome,
		HTTPStatus:     t.HTTPStatus,
		SCSPCode:       t.SCSPCode,
		LatencyMicros:  t.LatencyMicros,
		DataSHA256:     t.DataSHA256,

		SCSPRequestID:   t.SCSPRequestID,
		SCSPSolicitudID: t.SCSPSolicitudID,
	}
}

// Limits of a search's limit parameter: a JSON page holds at most
// maxPageLimit records; a CSV export, which pages internally, at most
// maxExportLimit rows (and the whole selection when no limit is given).
const (
	maxPageLimit   = store.MaxPageSize
	maxExportLimit = 10_000_000
)

// auditFilters are the query parameters GET /v1/audit/transfers accepts.
var auditFilters = map[string]func(f *store.Filter, v string) error{
	"subject":   func(f *store.Filter, v string) error { f.Subject = v; return nil },
	"requester": func(f *store.Filter, v string) error { f.Requester = v; return nil },
	"official":  func(f *store.Filter, v string) error { f.Official = v; return nil },
	"procedure": func(f *store.Filter, v string) error { f.Procedure = v; return nil },
	"service":   func(f *store.Filter, v string) error { f.Service = v; return nil },
	"purpose":   func(f *store.Filter, v string) error { f.Purpose = v; return nil },
	"decision": func(f *store.Filter, v string) error {
		if v != store.Allow && v != store.Deny {
			return errors.New("must be allow or deny")
		}
		f.Decision = v
		return nil
	},
	// The records of one SCSP request, by its IdPeticion.
	"scsp_request_id": func(f *store.Filter, v string) error { f.SCSPRequestID = v; return nil },

	"from":   func(f *store.Filter, v string) (err error) { f.From, err = parseTime(v); return err },
	"to":     func(f *store.Filter, v string) (err error) { f.To, err = parseTime(v); return err },
	"limit":  func(f *store.Filter, v string) (err error) { f.Limit, err = parseLimit(v, maxPageLimit); return err },
	"cursor": nil, // read by parseFilter with the server's cursor key
}

// parseFilter reads an audit search from the query string, naming every
// parameter that is unknown or malformed.
func parseFilter(r *http.Request, cursors cursorCodec) (store.Filter, error) {
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		return store.Filter{}, err
	}
	f, _, err := parseSearch(q, maxPageLimit, cursors)
	return f, err
}

// parseSearch reads a search from q. limit may go up to maxLimit; total is
// the limit as given, 0 when q has none (f.Limit is then the default page).
func parseSearch(q url.Values, maxLimit int, cursors cursorCodec) (f store.Filter, total int, err error) {
	f = store.Filter{Limit: store.DefaultPageSize}
	var bad []fault.FieldError
	for name, values := range q {
		set, ok := auditFilters[name]
		if !ok {
			bad = append(bad, fault.FieldError{Field: name, Message: "is not a filter of this search"})
			continue
		}
		if len(values) != 1 {
			bad = append(bad, fault.FieldError{Field: name, Message: "must be given once"})
			continue
		}
		switch name {
		case "limit":
			if total, err = parseLimit(values[0], maxLimit); err == nil {
				f.Limit = min(total, maxPageLimit)
			}
		case "cursor":
			f.After, err = cursors.decode(values[0])
		default:
			err = set(&f, values[0])
		}
		if err != nil {
			bad = append(bad, fault.FieldError{Field: name, Message: err.Error()})
		}
	}
	if len(bad) == 0 && !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		bad = append(bad, fault.FieldError{Field: "to", Message: "must be after from"})
	}
	if len(bad) > 0 {
		sortFields(bad)
		return f, 0, fault.Invalid(fault.InvalidRequest, bad...)
	}
	return f, total, nil
}

func parseLimit(v string, maxLimit int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, fmt.Errorf("must be a whole number from 1 to %d", maxLimit)
	}
	return n, nil
}

// searchTransfers answers GET /v1/audit/transfers, newest first: one page
// of JSON, or, when the caller prefers text/csv, the whole selection as CSV.
func (s *server) searchTransfers(w http.ResponseWriter, r *http.Request) {
	if prefersCSV(r.Header.Get("Accept")) {
		s.exportTransfers(w, r)
		return
	}
	f, err := parseFilter(r, s.cursors)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	page, err := s.cfg.Transfers.SearchTransfers(r.Context(), f)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	if err := s.recordRead(r, "search", f.Subject, r.URL.RawQuery, int64(len(page.Items))); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	out := types.TransferPageV1{Items: make([]types.TransferV1, len(page.Items))}
	for i, t := range page.Items {
		out.Items[i] = transferV1(t)
	}
	if page.Next != nil {
		c := s.cursors.encode(*page.Next)
		out.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
}

// maxTransferID is the longest transfer id looked up (ids are UUIDv7 text).
const maxTransferID = 64

// exportPageSize is how many records the CSV export reads per page.
const exportPageSize = maxPageLimit

// exportWriteWindow is the time each page of the export has to reach the
// client: it renews the server's write deadline, so that a long export is
// not cut by the deadline meant for one answer.
const exportWriteWindow = time.Minute

// csvHeader names the CSV export's columns, as the JSON names the fields.
// Columns are only ever added at the end, so that a spreadsheet that reads
// them by position keeps working.
var csvHeader = []string{
	"id", "time", "node", "kind", "requester", "official_id", "official_name",
	"procedure", "procedure_name", "purpose", "legal_basis", "law_reference", "consent_id",
	"case_id", "subject_id_type", "subject", "service", "adapter", "adapter_version",
	"module_sha256", "decision", "reasons", "policy_revision", "outcome", "scsp_code",
	"latency_us", "data_sha256", "http_status", "job_id", "scsp_request_id", "scsp_solicitud_id",
}

// exportTransfers streams the selection of a search as CSV, newest first,
// following the keyset cursor page by page and flushing each page. limit,
// when given (up to 10 000 000), caps the total number of rows; without it
// the whole selection is exported. A cursor starts the export after that
// position. Problems found before the first byte are answered as
// problem+json; a store failure in the middle aborts the response, so that
// the client sees a broken transfer rather than a short file that looks
// complete.
func (s *server) exportTransfers(w http.ResponseWriter, r *http.Request) {
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	f, total, err := parseSearch(q, maxExportLimit, s.cursors)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	f.Limit = exportPageSize
	if total > 0 {
		f.Limit = min(total, exportPageSize)
	}
	page, err := s.cfg.Transfers.SearchTransfers(r.Context(), f)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	// The export is a read of the log: written before the first row, with
	// the most rows asked (0: all), and once it ends with the rows sent.
	if err := s.recordRead(r, "export", f.Subject, r.URL.RawQuery, int64(total)); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	written := 0
	defer func() {
		if err := s.recordRead(r, "export_done", f.Subject, r.URL.RawQuery, int64(written)); err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelError, "the end of a CSV export could not be recorded",
				slog.Int("rows", written), slog.String("error", err.Error()))
		}
	}()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="transfers.csv"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for {
		_ = rc.SetWriteDeadline(time.Now().Add(exportWriteWindow))
		for _, t := range page.Items {
			if total > 0 && written == total {
				break
			}
			_ = cw.Write(csvRecord(transferV1(t)))
			written++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return // the client went away
		}
		_ = rc.Flush()
		if page.Next == nil || (total > 0 && written >= total) {
			return
		}
		f.After = page.Next
		if total > 0 {
			f.Limit = min(total-written, exportPageSize)
		}
		if page, err = s.cfg.Transfers.SearchTransfers(r.Context(), f); err != nil {
			if r.Context().Err() == nil {
				s.log.LogAttrs(r.Context(), slog.LevelWarn, "CSV export aborted: the transfer log could not be read",
					slog.Int("rows", written), slog.String("error", err.Error()))
			}
			panic(http.ErrAbortHandler)
		}
	}
}

// csvRecord is one transfer as a CSV row, in csvHeader's order, with
// reasons as "code: message; ...", http_status empty when unknown, and
// every cell guarded by csvCell.
func csvRecord(t types.TransferV1) []string {
	reasons := make([]string, len(t.Reasons))
	for i, r := range t.Reasons {
		reasons[i] = r.Code + ": " + r.Message
	}
	httpStatus := ""
	if t.HTTPStatus != 0 {
		httpStatus = strconv.Itoa(t.HTTPStatus)
	}
	row := []string{
		t.ID, t.Time.UTC().Format(time.RFC3339Nano), t.Node, t.Kind, t.Requester, t.OfficialID, t.OfficialName,
		t.Procedure, t.ProcedureName, t.Purpose, t.LegalBasis, t.LawReference, t.ConsentID,
		t.CaseID, t.SubjectIDType, t.Subject, t.Service, t.Adapter, t.AdapterVersion,
		t.ModuleSHA256, t.Decision, strings.Join(reasons, "; "), t.PolicyRevision, t.Outcome, t.SCSPCode,
		strconv.FormatInt(t.LatencyMicros, 10), t.DataSHA256, httpStatus, t.JobID, t.SCSPRequestID, t.SCSPSolicitudID,
	}
	for i := range row {
		row[i] = csvCell(row[i])
	}
	return row
}

// csvCell guards a cell against CSV (formula) injection: a spreadsheet
// runs a cell that starts with = + - @ (or a tab or carriage return, which
// some strip first) as a formula, so such a cell gets a leading apostrophe.
// The recorded values (names, case ids, messages) come from requesters.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// prefersCSV reports whether an Accept header prefers text/csv to JSON.
// JSON wins ties and is the default.
func prefersCSV(accept string) bool {
	if accept == "" {
		return false
	}
	csvQ, jsonQ := -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		switch mt {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json", "application/*", "*/*":
			jsonQ = max(jsonQ, q)
		}
	}
	return csvQ > 0 && csvQ > jsonQ
}

// getTransfer answers GET /v1/audit/transfers/{id}.
func (s *server) getTransfer(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if len(id) > maxTransferID || fault.SafeText(id) != id {
		// Ids are short printable text: anything else names no record, and
		// need not reach the store (PostgreSQL refuses a NUL byte outright).
		writeProblem(w, r, s.log, fault.New(fault.NotFound, "no such transfer"))
		return
	}
	t, err := s.cfg.Transfers.GetTransfer(r.Context(), id)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	if err := s.recordRead(r, "record", t.SubjectID, "id="+id, 1); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, transferV1(t))
}

func storeError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fault.New(fault.NotFound, "no such transfer")
	default:
		return fault.Wrap(fault.StoreUnavailable, err, "the transfer log could not be read")
	}
}

// parseTime accepts RFC 3339 times and plain dates (midnight UTC).
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("must be an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31)")
}

// Cursors are opaque to callers: base64url(JSON position) "." base64url(tag),
// the tag an HMAC-SHA-256 (truncated to 128 bits) of the position under the
// server's cursor key. A cursor that was not issued with the key — made by
// hand, edited, or issued by a node with another key — is refused with 400
// naming "cursor".
//
// The key is random per server unless Config.CursorSecret derives it from a
// secret: nodes behind one load balancer must share the secret, or a cursor
// is valid only on the node that issued it, until that node restarts.
type cursorCodec struct {
	key []byte
}

// cursorKeyLabel separates the cursor key from other uses of the secret.
const cursorKeyLabel = "pont/v1/audit-cursor"

// cursorTagSize is the length of a cursor's tag, in bytes.
const cursorTagSize = 16

// MinCursorSecret is the shortest Config.CursorSecret accepted, in bytes.
const MinCursorSecret = 16

// newCursorCodec derives the cursor key from secret, or makes a random one
// when secret is empty.
func newCursorCodec(secret []byte) (cursorCodec, error) {
	if len(secret) == 0 {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return cursorCodec{}, fmt.Errorf("api: cursor key: %w", err)
		}
		return cursorCodec{key: key}, nil
	}
	if len(secret) < MinCursorSecret {
		return cursorCodec{}, fmt.Errorf("api: the cursor secret has %d bytes, at least %d are needed", len(secret), MinCursorSecret)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(cursorKeyLabel))
	return cursorCodec{key: mac.Sum(nil)}, nil
}

// cursorWire is the cursor's content.
type cursorWire struct {
	T int64  `json:"t"` // Unix microseconds
	I string `json:"i"`
}

func (cc cursorCodec) tag(payload []byte) []byte {
	mac := hmac.New(sha256.New, cc.key)
	mac.Write(payload)
	return mac.Sum(nil)[:cursorTagSize]
}

func (cc cursorCodec) encode(c store.Cursor) string {
	payload, _ := json.Marshal(cursorWire{T: c.Time.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(cc.tag(payload))
}

// errForeignCursor is the refusal of every cursor this server did not issue.
var errForeignCursor = errors.New("is not a cursor this server issued")

func (cc cursorCodec) decode(v string) (*store.Cursor, error) {
	if len(v) > 512 {
		return nil, errForeignCursor
	}
	body, tag, ok := strings.Cut(v, ".")
	if !ok {
		return nil, errForeignCursor
	}
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, errForeignCursor
	}
	got, err := base64.RawURLEncoding.DecodeString(tag)
	if err != nil || !hmac.Equal(got, cc.tag(payload)) {
		return nil, errForeignCursor
	}
	var c cursorWire
	if err := json.Unmarshal(payload, &c); err != nil || c.I == "" || c.T <= 0 || len(c.I) > 64 {
		return nil, errForeignCursor
	}
	return &store.Cursor{Time: time.UnixMicro(c.T).UTC(), ID: c.I}, nil
}
