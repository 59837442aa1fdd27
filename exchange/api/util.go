package api

import (
	"bytes"
	"sort"
	"strconv"

	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/fault"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sortFields orders field errors by name, so that answers are stable.
func sortFields(fs []fault.FieldError) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Field < fs[j].Field })
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// newID is the id of a record the API creates (consents, objections).
func newID() string { return audit.NewID() }
