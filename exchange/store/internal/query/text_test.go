package query

import (
	"reflect"
	"testing"
)

func TestTexts(t *testing.T) {
	args := []any{"ok", 7, "a\x00"}
	got := Texts(args)
	if !reflect.DeepEqual(got, []any{"ok", 7, `a\x00`}) || args[2] != "a\x00" {
		t.Errorf("Texts = %q, args now %q", got, args)
	}
	if clean := []any{"ok", 7}; &Texts(clean)[0] != &clean[0] {
		t.Error("Texts copied arguments that need nothing")
	}
}
