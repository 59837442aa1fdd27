// Package query holds the SQL that both SQL backends share: the transfer
// log's columns, how a Filter becomes a WHERE clause and how a row becomes a
// store.Transfer; and the statements of consents and objections (see
// citizens.go). It changes when a record, the Filter or the Citizens
// contract changes, so that the two backends cannot drift apart.
package query

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// Limits of a search page (store.Filter.Limit).
const (
	DefaultLimit = store.DefaultPageSize
	MaxLimit     = store.MaxPageSize
)

// Limit returns the page size for f: DefaultLimit when f.Limit is zero or
// negative, at most MaxLimit.
func Limit(f store.Filter) int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// Columns are the transfer table's columns in the order of Args and Scan.
var Columns = []string{
	"id", "at", "node", "kind", "requester", "official_id", "official_name",
	"procedure_code", "procedure_name", "purpose", "legal_basis", "law_reference",
	"consent_id", "case_id", "subject_id_type", "subject_id", "service", "adapter",
	"adapter_version", "module_sha256", "decision", "reasons", "policy_revision",
	"outcome", "scsp_code", "http_status", "latency_us", "data_sha256",
	"salt", "personal_sha256", "job_id", "scsp_request_id", "scsp_solicitud_id",
}

// ColumnList is Columns joined for a SELECT or INSERT.
var ColumnList = strings.Join(Columns, ", ")

// Dialect is what differs between the backends in the shared SQL.
type Dialect struct {
	// Placeholder returns the n-th (1-based) parameter marker: "?" or "$n".
	Placeholder func(n int) string
	// Time converts a time to the value a time column ("at", "created_at"...)
	// holds and compares with.
	Time func(time.Time) any
	// TimeDest returns a scan destination for a time column, which may be
	// NULL, and a function that answers, once scanned, the time in UTC or
	// nil for NULL.
	TimeDest func() (dest any, value func() *time.Time)
}

// SQLite is the dialect of the embedded store: "at" holds Unix microseconds.
var SQLite = Dialect{
	Placeholder: func(int) string { return "?" },
	Time:        func(t time.Time) any { return t.UnixMicro() },
	TimeDest: func() (any, func() *time.Time) {
		var v sql.NullInt64
		return &v, func() *time.Time {
			if !v.Valid {
				return nil
			}
			t := time.UnixMicro(v.Int64).UTC()
			return &t
		}
	},
}

// Postgres is the dialect of the production store: "at" is a timestamptz.
var Postgres = Dialect{
	Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
	Time:        func(t time.Time) any { return t.UTC() },
	TimeDest: func() (any, func() *time.Time) {
		var v *time.Time // pgx scans NULL as nil
		return &v, func() *time.Time {
			if v == nil {
				return nil
			}
			t := v.UTC().Truncate(time.Microsecond)
			return &t
		}
	},
}

// Bind returns q with each "?" replaced by d's parameter marker, numbered
// in order. The shared statements hold no "?" but parameters.
func (d Dialect) Bind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString(d.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Args returns t's column values in Columns order, the time converted by d
// and the reasons encoded as a JSON array text ("[]" when there are none).
// The values are store.Storable(t)'s: every backend writes the same text for the
// same record, whatever bytes it holds. The salt is written as given (the
// caller gives a record without one a fresh one, see Salts).
func Args(t store.Transfer, d Dialect) ([]any, error) {
	t = store.Storable(t)
	reasons := []store.Reason{}
	if len(t.Reasons) > 0 {
		reasons = t.Reasons
	}
	rj, err := json.Marshal(reasons)
	if err != nil {
		return nil, fmt.Errorf("encode reasons of %s: %w", t.ID, err)
	}
	return []any{
		t.ID, d.Time(t.Time), t.Node, t.Kind, t.RequesterOrg, t.OfficialID, t.OfficialName,
		t.ProcedureCode, t.ProcedureName, t.Purpose, t.LegalBasis, t.LawReference,
		t.ConsentID, t.CaseID, t.SubjectIDType, t.SubjectID, t.Service, t.Adapter,
		t.AdapterVersion, t.ModuleSHA256, t.Decision, string(rj), t.PolicyRevision,
		t.Outcome, t.SCSPCode, t.HTTPStatus, t.LatencyMicros, t.DataSHA256,
		salt(t.Salt), t.PersonalSHA256, t.JobID, t.SCSPRequestID, t.SCSPSolicitudID,
	}, nil
}

// salt is a salt as the columns hold it: never NULL, empty once pruned.
func salt(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Row is a result row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows all are.
type Row interface {
	Scan(dest ...any) error
}

// Scan reads one row selected with ColumnList. at is where the backend scans
// the "at" column, and when converts it to a time once scanned.
func Scan(row Row, at any, when func() time.Time) (store.Transfer, error) {
	var t store.Transfer
	var reasons []byte
	err := row.Scan(
		&t.ID, at, &t.Node, &t.Kind, &t.RequesterOrg, &t.OfficialID, &t.OfficialName,
		&t.ProcedureCode, &t.ProcedureName, &t.Purpose, &t.LegalBasis, &t.LawReference,
		&t.ConsentID, &t.CaseID, &t.SubjectIDType, &t.SubjectID, &t.Service, &t.Adapter,
		&t.AdapterVersion, &t.ModuleSHA256, &t.Decision, &reasons, &t.PolicyRevision,
		&t.Outcome, &t.SCSPCode, &t.HTTPStatus, &t.LatencyMicros, &t.DataSHA256,
		&t.Salt, &t.PersonalSHA256, &t.JobID, &t.SCSPRequestID, &t.SCSPSolicitudID,
	)
	if err != nil {
		return store.Transfer{}, err
	}
	if len(t.Salt) == 0 {
		t.Salt = nil // pruned: no salt, as a record without one reads
	}
	t.Time = when().UTC()
	// "[]", most records' reasons, reads back as no reasons without a
	// decoder: the log's readers scan every record.
	if len(reasons) > 0 && string(reasons) != "[]" {
		if err := json.Unmarshal(reasons, &t.Reasons); err != nil {
			return store.Transfer{}, fmt.Errorf("decode reasons of %s: %w", t.ID, err)
		}
		if len(t.Reasons) == 0 {
			t.Reasons = nil // "[]" reads back as no reasons, as it was written
		}
	}
	return t, nil
}

// Search returns the SELECT for one page of f, newest first, and its
// arguments. It asks for one row more than the page holds, so that the
// caller knows whether a next page exists without a second query.
func Search(table string, f store.Filter, d Dialect) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, vals ...any) {
		for range vals {
			args = append(args, nil)
			cond = strings.Replace(cond, "?", d.Placeholder(len(args)), 1)
		}
		copy(args[len(args)-len(vals):], vals)
		where = append(where, cond)
	}
	for _, eq := range []struct {
		column, value string
	}{
		{"subject_id", f.Subject},
		{"requester", f.Requester},
		{"official_id", f.Official},
		{"procedure_code", f.Procedure},
		{"service", f.Service},
		{"purpose", f.Purpose},
		{"decision", f.Decision},
		{"scsp_request_id", f.SCSPRequestID},
	} {
		if eq.value != "" {
			// As stored: a value with bytes a text column refuses finds
			// the record that was written for it, and fails no search.
			v, _ := store.StorableText(eq.value)
			add(eq.column+" = ?", v)
		}
	}
	if !f.From.IsZero() {
		add("at >= ?", d.Time(f.From))
	}
	if !f.To.IsZero() {
		add("at < ?", d.Time(f.To))
	}
	if f.After != nil {
		id, _ := store.StorableText(f.After.ID)
		add("(at, id) < (?, ?)", d.Time(f.After.Time), id)
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(ColumnList)
	b.WriteString(" FROM ")
	b.WriteString(table)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY at DESC, id DESC LIMIT ")
	b.WriteString(strconv.Itoa(Limit(f) + 1))
	return b.String(), args
}

// Page cuts the rows of a Search (at most Limit(f)+1) into a page: the extra
// row, if any, only says that there is a next page, which starts after the
// page's last item.
func Page(items []store.Transfer, f store.Filter) store.Page {
	n := Limit(f)
	if len(items) <= n {
		return store.Page{Items: items}
	}
	items = items[:n]
	last := items[n-1]
	return store.Page{Items: items, Next: &store.Cursor{Time: last.Time, ID: last.ID}}
}
