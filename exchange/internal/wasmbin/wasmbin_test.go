package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
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

func TestS32RoundTrip(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, 64, -64, -65, 0x3fff, -0x4000, 1 << 30, -1 << 31, 1<<31 - 1} {
		b := AppendS32(nil, v)
		got, n, err := ReadS32(append(b, 0xaa))
		if err != nil || got != v || n != len(b) {
			t.Errorf("ReadS32(AppendS32(%d)) = %d, %d, %v; want %d, %d", v, got, n, err, v, len(b))
		}
	}
	for _, b := range [][]byte{nil, {0x80}, {0xff, 0xff, 0xff, 0xff, 0x0f}, {0x80, 0x80, 0x80, 0x80, 0x70}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x00}} {
		if _, _, err := ReadS32(b); !errors.Is(err, ErrNotWasm) {
			t.Errorf("ReadS32(% x) = %v, want ErrNotWasm", b, err)
		}
	}
}

func TestImports(t *testing.T) {
	body := []byte{4}
	for _, im := range []struct {
		module, name string
		desc         []byte
	}{
		{"env", "f", []byte{KindFunc, 0}},
		{"env", "t", []byte{KindTable, 0x70, 0x00, 1}},
		{"env", "memory", []byte{KindMemory, 0x01, 1, 2}},
		{"env", "g", []byte{KindGlobal, 0x7f, 0}},
	} {
		body = AppendName(AppendName(body, im.module), im.name)
		body = append(body, im.desc...)
	}
	got, err := Imports(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []Import{{"env", "f", KindFunc}, {"env", "t", KindTable}, {"env", "memory", KindMemory}, {"env", "g", KindGlobal}}
	if len(got) != len(want) {
		t.Fatalf("Imports = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("import %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range [][]byte{{1}, {1, 1, 'e', 1, 'f', 9}, {1, 1, 'e', 1, 'm', KindMemory, 0x02, 1}, {0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := Imports(bad); !errors.Is(err, ErrNotWasm) {
			t.Errorf("Imports(% x) = %v, want ErrNotWasm", bad, err)
		}
	}
}

func TestAppendS64(t *testing.T) {
	for _, tt := range []struct {
		v    int64
		want []byte
	}{
		{0, []byte{0x00}}, {-1, []byte{0x7f}}, {63, []byte{0x3f}}, {64, []byte{0xc0, 0x00}},
		{-65, []byte{0xbf, 0x7f}}, {1 << 41, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0xc0, 0x00}},
	} {
		if got := AppendS64(nil, tt.v); !bytes.Equal(got, tt.want) {
			t.Errorf("AppendS64(%d) = % x, want % x", tt.v, got, tt.want)
		}
	}
}

func TestDataSegments(t *testing.T) {
	body := []byte{3,
		0x00, 0x41, 0x0a, 0x0b, 2, 'a', 'b', // active, memory 0, i32.const 10
		0x01, 1, 'c', // passive
		0x02, 0x01, 0x23, 0x00, 0x0b, 0} // active, memory 1, global.get 0, empty
	got, err := DataSegments(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []DataSegment{
		{Offset: []byte{0x41, 0x0a, 0x0b}, Init: []byte("ab")},
		{Passive: true, Init: []byte("c")},
		{Memory: 1, Offset: []byte{0x23, 0x00, 0x0b}, Init: []byte{}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("DataSegments = %v, want %v", got, want)
	}
	for name, bad := range map[string][]byte{
		"more segments than bytes": {0xff, 0x01},
		"a mode of 3":              {1, 0x03, 0},
		"data past the end":        {1, 0x01, 0x80, 0x80, 0x80, 0x80, 0x08},
		"an i32.add offset":        {1, 0x00, 0x6a, 0x0b, 0},
		"bytes after the last":     {1, 0x01, 0, 0xff},
	} {
		if _, err := DataSegments(bad); !errors.Is(err, ErrNotWasm) {
			t.Errorf("%s: DataSegments = %v, want ErrNotWasm", name, err)
		}
	}
}
