package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/store"
)

// transferPage is the answer of a transfer search.
type transferPage struct {
	Items      []store.Transfer `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

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
	"from": func(f *store.Filter, v string) (err error) { f.From, err = parseTime(v); return err },
	"to":   func(f *store.Filter, v string) (err error) { f.To, err = parseTime(v); return err },
	"limit": func(f *store.Filter, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errors.New("must be a whole number from 1 to 1000")
		}
		f.Limit = n
		return nil
	},
	"cursor": func(f *store.Filter, v string) (err error) { f.After, err = decodeCursor(v); return err },
}

// parseFilter reads an audit search from the query string, naming every
// parameter that is unknown or malformed.
func parseFilter(r *http.Request) (store.Filter, error) {
	f := store.Filter{Limit: 100}
	var bad []fault.FieldError
	for name, values := range r.URL.Query() {
		set, ok := auditFilters[name]
		if !ok {
			bad = append(bad, fault.FieldError{Field: name, Message: "is not a filter of this search"})
			continue
		}
		if len(values) != 1 {
			bad = append(bad, fault.FieldError{Field: name, Message: "must be given once"})
			continue
		}
		if err := set(&f, values[0]); err != nil {
			bad = append(bad, fault.FieldError{Field: name, Message: err.Error()})
		}
	}
	if len(bad) == 0 && !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		bad = append(bad, fault.FieldError{Field: "to", Message: "must be after from"})
	}
	if len(bad) > 0 {
		sortFields(bad)
		return f, fault.Invalid(fault.InvalidRequest, bad...)
	}
	return f, nil
}

// searchTransfers answers GET /v1/audit/transfers, newest first.
func (s *server) searchTransfers(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	page, err := s.cfg.Transfers.SearchTransfers(r.Context(), f)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	out := transferPage{Items: page.Items}
	if out.Items == nil {
		out.Items = []store.Transfer{}
	}
	if page.Next != nil {
		c := encodeCursor(*page.Next)
		out.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
}

// getTransfer answers GET /v1/audit/transfers/{id}.
func (s *server) getTransfer(w http.ResponseWriter, r *http.Request) {
	t, err := s.cfg.Transfers.GetTransfer(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	writeJSON(w, http.StatusOK, t)
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

// cursorWire is the cursor's content; callers see it only base64url-encoded.
type cursorWire struct {
	T int64  `json:"t"` // Unix microseconds
	I string `json:"i"`
}

func encodeCursor(c store.Cursor) string {
	b, _ := json.Marshal(cursorWire{T: c.Time.UnixMicro(), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(v string) (*store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	var c cursorWire
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.I == "" || c.T <= 0 || len(c.I) > 64 {
		return nil, errors.New("is not a cursor this server issued")
	}
	return &store.Cursor{Time: time.UnixMicro(c.T).UTC(), ID: c.I}, nil
}
