package registry

import (
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/store"
)

// TestPreviousOf: an activation pushes its version, a rollback pops one;
// a rollback goes back to the version under the current one.
func TestPreviousOf(t *testing.T) {
	acts := func(kinds ...string) []store.Activation {
		var out []store.Activation
		for _, k := range kinds {
			kind, version, _ := strings.Cut(k, " ")
			out = append(out, store.Activation{Kind: kind, Version: version})
		}
		return out
	}
	for _, c := range []struct {
		acts []store.Activation
		want string
	}{
		{nil, ""},
		{acts("activate 1"), ""},
		{acts("activate 1", "activate 2"), "1"},
		{acts("activate 1", "activate 2", "rollback 1"), ""},
		{acts("activate 1", "activate 2", "activate 3", "rollback 2"), "1"},
	} {
		if got := PreviousOf(c.acts); got != c.want {
			t.Errorf("%v: %q, want %q", c.acts, got, c.want)
		}
	}
}
