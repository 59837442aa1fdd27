package query

import "github.com/pontexchange/pont/exchange/store"

// Texts returns args with every string passed through Text, for the
// arguments of a statement; the same slice when none changes.
func Texts(args []any) []any {
	out := args
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			continue
		}
		v, ch := store.StorableText(s)
		if ch == 0 {
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any(nil), args...)
		}
		out[i] = v
	}
	return out
}
