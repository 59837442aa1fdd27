package api

import (
	"sort"
	"strconv"

	"github.com/pontexchange/pont/exchange/fault"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sortFields orders field errors by name, so that answers are stable.
func sortFields(fs []fault.FieldError) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Field < fs[j].Field })
}
