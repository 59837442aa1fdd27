package wasmbin

import (
	"errors"
	"strings"
	"testing"
)

func TestU32RoundTrip(t *testing.T) {
	for _, v := range []uint32{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 1 << 28, 0xffffffff} {
		b := AppendU32(nil, v)
		got, n, err := ReadU32(append(b, 0xaa))
		if err != nil || got != v || n != len(b) {
			t.Errorf("ReadU32(AppendU32(%d)) = %d, %d, %v; want %d, %d", v, got, n, err, v, len(b))
		}
	}
	for _, b := range [][]byte{nil, {0x80}, {0xff, 0xff, 0xff, 0xff, 0x1f}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x00}} {
		if _, _, err := ReadU32(b); !errors.Is(err, ErrNotWasm) {
			t.Errorf("ReadU32(% x) = %v, want ErrNotWasm", b, err)
		}
	}
}

func TestSections(t *testing.T) {
	module := AppendSection(append([]byte(nil), Header...), 1, []byte{1, 0x60, 0, 0})
	module = AppendSection(module, CustomID, append(AppendName(nil, "name"), "data"...))
	secs, err := Sections(module)
	if err != nil {
		t.Fatal(err)
	}
	if len(secs) != 2 || secs[0].ID != 1 || string(secs[0].Body) != "\x01\x60\x00\x00" || secs[0].Offset != len(Header) ||
		secs[1].Name != "name" || string(secs[1].Data) != "data" || string(secs[0].Raw)+string(secs[1].Raw) != string(module[len(Header):]) {
		t.Fatalf("Sections = %+v", secs)
	}

	tests := []struct {
		name   string
		module []byte
		want   string
	}{
		{"text", []byte("(module)"), "no \\0asm magic number"},
		{"version 2", []byte{0, 'a', 's', 'm', 2, 0, 0, 0}, "binary version 2 is not 1"},
		{"past the end", append(append([]byte(nil), Header...), 1, 10, 0), "runs past the end"},
		{"unknown id", AppendSection(append([]byte(nil), Header...), 14, nil), "unknown section id 14"},
		{"custom name past its section", AppendSection(append([]byte(nil), Header...), CustomID, []byte{5, 'a'}), "malformed name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sections(tt.module)
			if !errors.Is(err, ErrNotWasm) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sections = %v, want ErrNotWasm with %q", err, tt.want)
			}
		})
	}
}
