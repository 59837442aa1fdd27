package postgres

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

// The log's readers (an auditor's entry bundles, the sealer) scan every
// record; pgx's Scan spends a reflection check and an allocation on each of
// a record's thirty columns. scanTransfers decodes such rows from their raw
// values instead, with one allocation for all of a record's text, when the
// columns are of the types and formats it knows; otherwise, as a safety
// net, with pgx's Scan and query.Scan.

// PostgreSQL type OIDs of the transfers table's columns and the prefixes.
const (
	oidBytea       = 17
	oidInt8        = 20
	oidInt4        = 23
	oidText        = 25
	oidVarchar     = 1043
	oidTimestamptz = 1184
	oidJSONB       = 3802
	oidXID8        = 5069
)

// rawKind is how a column of query.Columns is decoded.
type rawKind uint8

const (
	rawText rawKind = iota
	rawTime
	rawJSON
	rawInt4
	rawInt8
	rawBytes
)

// rawColumn is a column of query.Columns: how it is decoded and, for text,
// where it goes.
type rawColumn struct {
	kind rawKind
	text func(t *store.Transfer) *string
}

var rawColumns = func() []rawColumn {
	text := map[string]func(t *store.Transfer) *string{
		"id": func(t *store.Transfer) *string { return &t.ID }, "node": func(t *store.Transfer) *string { return &t.Node },
		"kind":            func(t *store.Transfer) *string { return &t.Kind },
		"requester":       func(t *store.Transfer) *string { return &t.RequesterOrg },
		"official_id":     func(t *store.Transfer) *string { return &t.OfficialID },
		"official_name":   func(t *store.Transfer) *string { return &t.OfficialName },
		"procedure_code":  func(t *store.Transfer) *string { return &t.ProcedureCode },
		"procedure_name":  func(t *store.Transfer) *string { return &t.ProcedureName },
		"purpose":         func(t *store.Transfer) *string { return &t.Purpose },
		"legal_basis":     func(t *store.Transfer) *string { return &t.LegalBasis },
		"law_reference":   func(t *store.Transfer) *string { return &t.LawReference },
		"consent_id":      func(t *store.Transfer) *string { return &t.ConsentID },
		"case_id":         func(t *store.Transfer) *string { return &t.CaseID },
		"subject_id_type": func(t *store.Transfer) *string { return &t.SubjectIDType },
		"subject_id":      func(t *store.Transfer) *string { return &t.SubjectID },
		"service":         func(t *store.Transfer) *string { return &t.Service },
		"adapter":         func(t *store.Transfer) *string { return &t.Adapter },
		"adapter_version": func(t *store.Transfer) *string { return &t.AdapterVersion },
		"module_sha256":   func(t *store.Transfer) *string { return &t.ModuleSHA256 },
		"decision":        func(t *store.Transfer) *string { return &t.Decision },
		"policy_revision": func(t *store.Transfer) *string { return &t.PolicyRevision },
		"outcome":         func(t *store.Transfer) *string { return &t.Outcome },
		"scsp_code":       func(t *store.Transfer) *string { return &t.SCSPCode },
		"data_sha256":     func(t *store.Transfer) *string { return &t.DataSHA256 },
		"personal_sha256": func(t *store.Transfer) *string { return &t.PersonalSHA256 },
		"job_id":          func(t *store.Transfer) *string { return &t.JobID },

		"scsp_request_id":   func(t *store.Transfer) *string { return &t.SCSPRequestID },
		"scsp_solicitud_id": func(t *store.Transfer) *string { return &t.SCSPSolicitudID },
	}
	other := map[string]rawKind{"at": rawTime, "reasons": rawJSON, "http_status": rawInt4, "latency_us": rawInt8, "salt": rawBytes}
	cols := make([]rawColumn, len(query.Columns))
	for i, name := range query.Columns {
		if k, ok := other[name]; ok {
			cols[i] = rawColumn{kind: k}
		} else if f, ok := text[name]; ok {
			cols[i] = rawColumn{kind: rawText, text: f}
		} else {
			panic("postgres: no raw decoding of transfers column " + name)
		}
	}
	return cols
}()

// rawDecodable reports whether the rows' columns, a bigint or xid8 prefix
// and query.Columns, have the types and formats the raw decoding reads.
func rawDecodable(fds []pgconn.FieldDescription) bool {
	if len(fds) != 1+len(rawColumns) {
		return false
	}
	binaryOf := func(fd pgconn.FieldDescription, oids ...uint32) bool {
		for _, oid := range oids {
			if fd.DataTypeOID == oid {
				return fd.Format == pgx.BinaryFormatCode
			}
		}
		return false
	}
	if !binaryOf(fds[0], oidInt8, oidXID8) {
		return false
	}
	for i, c := range rawColumns {
		fd := fds[i+1]
		ok := false
		switch c.kind {
		case rawText: // the same bytes in either format
			ok = fd.DataTypeOID == oidText || fd.DataTypeOID == oidVarchar
		case rawJSON: // binary is a version byte before the text
			ok = fd.DataTypeOID == oidJSONB
		case rawTime:
			ok = binaryOf(fd, oidTimestamptz)
		case rawInt4:
			ok = binaryOf(fd, oidInt4)
		case rawInt8:
			ok = binaryOf(fd, oidInt8)
		case rawBytes:
			ok = binaryOf(fd, oidBytea)
		}
		if !ok {
			return false
		}
	}
	return true
}

// postgresEpoch is the zero of PostgreSQL's binary timestamps.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// scanTransfers reads each row of rows, a bigint or xid8 prefix and
// query.Columns, as query.Scan would, and hands it to each with its
// prefix. It closes rows.
func scanTransfers(rows pgx.Rows, each func(prefix uint64, t store.Transfer) error) error {
	return scanTransfersRaw(rows, rawDecodable(rows.FieldDescriptions()), each)
}

// scanTransfersRaw is scanTransfers, decoding the raw values when raw is
// true (rawDecodable must have accepted the columns).
func scanTransfersRaw(rows pgx.Rows, raw bool, each func(prefix uint64, t store.Transfer) error) error {
	defer rows.Close()
	fds := rows.FieldDescriptions()
	for rows.Next() {
		var prefix uint64
		var t store.Transfer
		var err error
		if raw {
			prefix, t, err = decodeTransfer(fds, rows.RawValues())
		} else {
			t, err = scan(prefixed{rows, []any{&prefix}})
		}
		if err != nil {
			return err
		}
		if err := each(prefix, t); err != nil {
			return err
		}
	}
	return rows.Err()
}

// decodeTransfer decodes one row that rawDecodable accepted.
func decodeTransfer(fds []pgconn.FieldDescription, values [][]byte) (uint64, store.Transfer, error) {
	var t store.Transfer
	if len(values) != len(fds) {
		return 0, t, fmt.Errorf("a row of %d values for %d columns", len(values), len(fds))
	}
	if len(values[0]) != 8 {
		return 0, t, fmt.Errorf("column 1: %d bytes, not a bigint", len(values[0]))
	}
	prefix := binary.BigEndian.Uint64(values[0])
	values = values[1:]
	n := 0
	for i, c := range rawColumns {
		if values[i] == nil {
			return 0, t, fmt.Errorf("column %s is NULL", query.Columns[i])
		}
		if c.kind == rawText {
			n += len(values[i])
		}
	}
	// All of the record's text in one string; each field is a part of it.
	var text strings.Builder
	text.Grow(n)
	for i, c := range rawColumns {
		if c.kind == rawText {
			text.Write(values[i])
		}
	}
	all := text.String()
	at := 0
	var reasons []byte
	for i, c := range rawColumns {
		v := values[i]
		switch c.kind {
		case rawText:
			*c.text(&t) = all[at : at+len(v)]
			at += len(v)
		case rawTime:
			if len(v) != 8 {
				return 0, t, fmt.Errorf("column %s: %d bytes, not a timestamptz", query.Columns[i], len(v))
			}
			us := int64(binary.BigEndian.Uint64(v))
			if us == 1<<63-1 || us == -1<<63 {
				return 0, t, fmt.Errorf("column %s is infinite", query.Columns[i])
			}
			t.Time = time.UnixMicro(us + postgresEpoch).UTC()
		case rawJSON:
			reasons = v
			if fds[i+1].Format == pgx.BinaryFormatCode {
				if len(v) == 0 || v[0] != 1 {
					return 0, t, fmt.Errorf("column %s: not jsonb version 1", query.Columns[i])
				}
				reasons = v[1:]
			}
		case rawInt4:
			if len(v) != 4 {
				return 0, t, fmt.Errorf("column %s: %d bytes, not an integer", query.Columns[i], len(v))
			}
			t.HTTPStatus = int(int32(binary.BigEndian.Uint32(v)))
		case rawInt8:
			if len(v) != 8 {
				return 0, t, fmt.Errorf("column %s: %d bytes, not a bigint", query.Columns[i], len(v))
			}
			t.LatencyMicros = int64(binary.BigEndian.Uint64(v))
		case rawBytes:
			if len(v) > 0 { // empty: pruned, no salt, as query.Scan reads it
				t.Salt = append([]byte(nil), v...)
			}
		}
	}
	// As query.Scan: "[]" is no reasons, without a decoder.
	if len(reasons) > 0 && string(reasons) != "[]" {
		if err := json.Unmarshal(reasons, &t.Reasons); err != nil {
			return 0, t, fmt.Errorf("decode reasons of %s: %w", t.ID, err)
		}
		if len(t.Reasons) == 0 {
			t.Reasons = nil
		}
	}
	return prefix, t, nil
}
