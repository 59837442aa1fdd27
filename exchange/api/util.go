package api

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pontexchange/pont/exchange/fault"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sortFields orders field errors by name, so that answers are stable.
func sortFields(fs []fault.FieldError) {
	slices.SortStableFunc(fs, func(a, b fault.FieldError) int { return strings.Compare(a.Field, b.Field) })
}
