// Package translog makes the transfer log tamper-evident: it encodes every
// record as a leaf of an RFC 6962 Merkle tree, seals leaves into the tree
// and signs checkpoints of it, and answers tiles and proofs. The store
// keeps the records and the tree's state; this package decides their bytes.
// docs/transfer-log.md is the contract it implements.
package translog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store"
)

// Version is the leaf encoding's version, the "v" member of every entry.
const Version = 1

// timeLayout is the leaves' time format: UTC, exactly six fractional digits.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// Entry answers the leaf entry of a record: exactly one of t and e is
// non-nil. A pruned record's entry uses the commitment it kept; any other
// record's is computed from its personal fields and salt, so that changing
// one of them changes the entry.
func Entry(t *store.Transfer, e *store.Event) ([]byte, error) {
	entry, err := AppendEntry(make([]byte, 0, 768), t, e)
	if err != nil {
		return nil, err
	}
	return entry, nil
}

// AppendEntry appends the leaf entry of a record to dst, as Entry answers
// it, and answers the extended slice; on an error, dst as it was. It is
// Entry for callers that encode many entries into one buffer (an entry
// bundle) or reuse one (the sealer).
func AppendEntry(dst []byte, t *store.Transfer, e *store.Event) ([]byte, error) {
	start := len(dst)
	var enc encoder
	for {
		var err error
		switch {
		case t != nil && e == nil:
			dst = enc.transferEntry(dst, t)
		case e != nil && t == nil:
			dst, err = enc.eventEntry(dst, e)
		default:
			return dst, fmt.Errorf("translog: entry of a leaf that is neither one transfer nor one event")
		}
		if err != nil {
			return dst[:start], err
		}
		if len(dst)-start <= MaxEntry || enc.cut {
			return dst, nil
		}
		dst = dst[:start]
		enc.cut = true // rare: values full of escaped control characters
	}
}

// MaxEntry is the longest entry: tlog-tiles' entry bundles give each entry
// a 16-bit length.
const MaxEntry = 1<<16 - 1

// MaxMember is the most bytes of a string member's escaped form in an
// entry that would otherwise be longer than MaxEntry: such an entry is
// encoded again with every longer member cut there (at a character
// boundary, before an escape) and "…" appended inside the quotes.
const MaxMember = 2048

// encoder writes entries; cut is set for the rare second pass.
type encoder struct{ cut bool }

// LeafHash is the RFC 6962 hash of an entry: SHA-256(0x00 || entry).
func LeafHash(entry []byte) tlog.Hash { return tlog.RecordHash(entry) }

// Commit answers the commitment to a record's personal fields (lowercase
// hex SHA-256 of salt and the fields' canonical JSON): exactly one of t
// and e is non-nil. It is a store.Committer.
func Commit(t *store.Transfer, e *store.Event) string {
	return string(appendCommit(make([]byte, 0, 2*sha256.Size), t, e))
}

var _ store.Committer = Commit

// appendCommit appends Commit's answer to dst.
func appendCommit(dst []byte, t *store.Transfer, e *store.Event) []byte {
	var buf [1024]byte // salt and personal fields, most records' at least
	b := buf[:0]
	if t != nil {
		b = appendTransferPersonal(append(b, t.Salt...), t)
	} else {
		b = appendEventPersonal(append(b, e.Salt...), e)
	}
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:])
}

func (enc encoder) transferEntry(b []byte, t *store.Transfer) []byte {
	b = enc.header(b, t.Kind, t.ID, t.Time, t.Node)
	b = enc.str(b, "requester", t.RequesterOrg)
	b = enc.str(b, "procedure", t.ProcedureCode)
	b = enc.str(b, "procedure_name", t.ProcedureName)
	b = enc.str(b, "purpose", t.Purpose)
	b = enc.str(b, "legal_basis", t.LegalBasis)
	b = enc.str(b, "law_reference", t.LawReference)
	b = enc.str(b, "service", t.Service)
	b = enc.str(b, "adapter", t.Adapter)
	b = enc.str(b, "adapter_version", t.AdapterVersion)
	b = enc.str(b, "module_sha256", t.ModuleSHA256)
	b = enc.str(b, "decision", t.Decision)
	b = enc.str(b, "policy_revision", t.PolicyRevision)
	b = enc.str(b, "outcome", t.Outcome)
	b = enc.str(b, "scsp_code", t.SCSPCode)
	b = integer(b, "http_status", int64(t.HTTPStatus))
	b = integer(b, "latency_us", t.LatencyMicros)
	// Written only for a job's element, so that every entry written
	// before jobs existed keeps its bytes.
	if t.JobID != "" {
		b = enc.str(b, "job", t.JobID)
	}
	// Written only for an answer to an SCSP request, each when set, so
	// that every entry written before the SCSP door existed keeps its
	// bytes.
	if t.SCSPRequestID != "" {
		b = enc.str(b, "scsp_request", t.SCSPRequestID)
	}
	if t.SCSPSolicitudID != "" {
		b = enc.str(b, "scsp_solicitud", t.SCSPSolicitudID)
	}
	b = enc.personal(b, t, nil)
	b[len(b)-1] = '}'
	return b
}

// personal appends the "personal" member, with its comma: the kept
// commitment once pruned, else computed afresh.
func (enc encoder) personal(b []byte, t *store.Transfer, e *store.Event) []byte {
	b = key(b, "personal")
	switch {
	case t != nil && t.Pruned():
		b = enc.quote(b, t.PersonalSHA256)
	case e != nil && e.Pruned():
		b = enc.quote(b, e.PersonalSHA256)
	default:
		b = append(b, '"')
		b = appendCommit(b, t, e)
		b = append(b, '"')
	}
	return append(b, ',')
}

// TransferPersonal answers the canonical JSON of a transfer's personal
// fields, P in docs/transfer-log.md.
func TransferPersonal(t *store.Transfer) []byte {
	return appendTransferPersonal(make([]byte, 0, 256), t)
}

func appendTransferPersonal(b []byte, t *store.Transfer) []byte {
	b = append(b, '{')
	b = str(b, "subject_id_type", t.SubjectIDType)
	b = str(b, "subject_id", t.SubjectID)
	b = str(b, "official_id", t.OfficialID)
	b = str(b, "official_name", t.OfficialName)
	b = str(b, "case_id", t.CaseID)
	b = str(b, "consent_id", t.ConsentID)
	b = append(b, `"reasons":[`...)
	for i, r := range t.Reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = str(b, "code", r.Code)
		b = str(b, "message", r.Message)
		b[len(b)-1] = '}'
	}
	b = append(b, "],"...)
	b = str(b, "data_sha256", t.DataSHA256)
	b[len(b)-1] = '}'
	return b
}

func (enc encoder) eventEntry(b []byte, e *store.Event) ([]byte, error) {
	b = enc.header(b, e.Kind, e.ID, e.Time, e.Node)
	switch e.Kind {
	case store.EventConsentCreated, store.EventConsentRevoked:
		b = enc.str(b, "ref", e.Ref)
		b = enc.str(b, "requester", e.Requester)
		b = enc.str(b, "procedure", e.Procedure)
		b = enc.str(b, "purpose", e.Purpose)
		if e.Kind == store.EventConsentCreated {
			b = enc.array(b, "services", e.Services)
			b = optTime(b, "expires_at", e.ExpiresAt)
		}
	case store.EventObjectionRecorded, store.EventObjectionWithdrawn:
		b = enc.str(b, "ref", e.Ref)
		b = enc.str(b, "service", e.Service)
		b = enc.str(b, "procedure", e.Procedure)
	case store.EventLogRead:
		b = enc.str(b, "operation", e.Operation)
		b = integer(b, "count", e.Count)
	case store.EventLogPruned:
		b = optTime(b, "before", e.Before)
		b = integer(b, "count", e.Count)
	case store.EventJobResultsDeleted:
		b = enc.str(b, "ref", e.Ref)
		b = enc.str(b, "requester", e.Requester)
		b = enc.str(b, "service", e.Service)
		b = integer(b, "count", e.Count)
	case store.EventAdapterPublished:
		b = enc.str(b, "ref", e.Ref)
		b = enc.str(b, "owner", e.Owner)
		b = enc.str(b, "adapter", e.Adapter)
		b = enc.str(b, "version", e.Version)
		b = enc.array(b, "services", e.Services)
		b = enc.str(b, "scope", e.Scope)
		b = enc.str(b, "module_sha256", e.ModuleSHA256)
		b = enc.str(b, "key_id", e.KeyID)
		b = enc.str(b, "signature", e.Signature)
	case store.EventAdapterActivated, store.EventAdapterRolledBack:
		b = enc.str(b, "ref", e.Ref)
		b = enc.str(b, "owner", e.Owner)
		b = enc.str(b, "adapter", e.Adapter)
		b = enc.str(b, "version", e.Version)
		b = enc.str(b, "module_sha256", e.ModuleSHA256)
	default:
		return b, fmt.Errorf("translog: event %s has an unknown kind %q", e.ID, e.Kind)
	}
	b = enc.personal(b, nil, e)
	b[len(b)-1] = '}'
	return b, nil
}

// EventPersonal answers the canonical JSON of an event's personal fields.
func EventPersonal(e *store.Event) []byte {
	return appendEventPersonal(make([]byte, 0, 128), e)
}

func appendEventPersonal(b []byte, e *store.Event) []byte {
	b = append(b, '{')
	b = str(b, "subject", e.Subject)
	b = str(b, "actor", e.Actor)
	b = str(b, "filter", e.Filter)
	b[len(b)-1] = '}'
	return b
}

// header opens an entry with the members every kind starts with.
func (enc encoder) header(b []byte, kind, id string, at time.Time, node string) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, ',')
	b = enc.str(b, "kind", kind)
	b = enc.str(b, "id", id)
	b = append(b, `"time":"`...)
	b = at.UTC().AppendFormat(b, timeLayout)
	b = append(b, `",`...)
	return enc.str(b, "node", node)
}

// str is str, cutting the value on the second pass.
func (enc encoder) str(b []byte, name, value string) []byte {
	b = key(b, name)
	b = enc.quote(b, value)
	return append(b, ',')
}

// array appends "name":[...], an array of strings, each cut like str's
// value on the second pass.
func (enc encoder) array(b []byte, name string, values []string) []byte {
	b = key(b, name)
	b = append(b, '[')
	for i, s := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = enc.quote(b, s)
	}
	return append(b, "],"...)
}

// key appends "name": for a member name of the encoding's own, which
// needs no escape.
func key(b []byte, name string) []byte {
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}

// quote is quote, cutting the escaped form at MaxMember on the second pass.
func (enc encoder) quote(b []byte, s string) []byte {
	start := len(b)
	b = quote(b, s)
	if !enc.cut || len(b)-start <= MaxMember {
		return b
	}
	// Cut before the first escape or character that would cross
	// MaxMember-len("…\"") bytes from the opening quote.
	limit := start + MaxMember - len("…\"")
	i := start + 1
	for i < limit {
		n := 1
		if b[i] == '\\' {
			n = 2
			if b[i+1] == 'u' {
				n = 6
			}
		} else if b[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRune(b[i:])
		}
		if i+n > limit {
			break
		}
		i += n
	}
	b = append(b[:i], "…"...)
	return append(b, '"')
}

// str appends "name":"value", (with the comma; the caller replaces the last).
func str(b []byte, name, value string) []byte {
	b = key(b, name)
	b = quote(b, value)
	return append(b, ',')
}

func integer(b []byte, name string, v int64) []byte {
	b = key(b, name)
	b = strconv.AppendInt(b, v, 10)
	return append(b, ',')
}

func optTime(b []byte, name string, t *time.Time) []byte {
	if t == nil {
		return str(b, name, "")
	}
	b = key(b, name)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timeLayout)
	return append(b, `",`...)
}

const hexDigits = "0123456789abcdef"

// quote appends s as a JSON string in RFC 8785's form. Bytes that are not
// UTF-8 cannot reach it from the store (which escapes them); should they,
// each is written as U+FFFD, so that the entry stays valid JSON, and the
// leaf no longer matches the record: the verifier names it.
func quote(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is appended as it is, in one copy
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\uFFFD"...)
				start = i + 1
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\f':
			b = append(b, `\f`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			b = append(b, `\u00`...)
			b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
