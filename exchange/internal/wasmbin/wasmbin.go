// Package wasmbin reads and writes the few parts of the WebAssembly binary
// format that Pont edits itself: the header, the sections, unsigned LEB128
// numbers and custom sections' names. It changes when the binary format
// does; what a module means is wazero's business.
package wasmbin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Header is the magic number and version 1 that start every module.
var Header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// ErrNotWasm marks every error about bytes that do not follow the binary
// format.
var ErrNotWasm = errors.New("not a WebAssembly module")

// CustomID is the id of a custom section.
const CustomID = 0

// maxID is the highest section id the format defines (13, tag).
const maxID = 13

// Section is one section of a module.
type Section struct {
	ID byte
	// Offset is where the section starts in the module, for messages.
	Offset int
	// Raw is the whole section: its id, size and body.
	Raw []byte
	// Body is what follows the size.
	Body []byte
	// Name and Data are a custom section's name and what follows it.
	Name string
	Data []byte
}

// Sections splits module into its sections, checking the header, that every
// section fits in the module, that its id is known and that a custom
// section's name fits in it. The sections share module's bytes.
func Sections(module []byte) ([]Section, error) {
	if len(module) < len(Header) || !bytes.Equal(module[:4], Header[:4]) {
		return nil, fmt.Errorf("%w (no \\0asm magic number)", ErrNotWasm)
	}
	if !bytes.Equal(module[4:8], Header[4:]) {
		return nil, fmt.Errorf("%w: binary version %d is not 1 (a component, or a future format?)", ErrNotWasm, binary.LittleEndian.Uint32(module[4:8]))
	}
	var out []Section
	rest := module[len(Header):]
	for off := len(Header); len(rest) > 0; {
		id := rest[0]
		size, n, err := ReadU32(rest[1:])
		if err != nil {
			return nil, fmt.Errorf("section at byte %d: size: %w", off, err)
		}
		end := 1 + n + int(size)
		if uint64(size) > uint64(len(rest)-1-n) {
			return nil, fmt.Errorf("%w: section %d at byte %d runs past the end of the module", ErrNotWasm, id, off)
		}
		if id > maxID {
			return nil, fmt.Errorf("%w: unknown section id %d at byte %d", ErrNotWasm, id, off)
		}
		s := Section{ID: id, Offset: off, Raw: rest[:end], Body: rest[1+n : end]}
		if id == CustomID {
			nameLen, m, err := ReadU32(s.Body)
			if err != nil || uint64(nameLen) > uint64(len(s.Body)-m) {
				return nil, fmt.Errorf("%w: custom section at byte %d has a malformed name", ErrNotWasm, off)
			}
			s.Name = string(s.Body[m : m+int(nameLen)])
			s.Data = s.Body[m+int(nameLen):]
		}
		out = append(out, s)
		rest = rest[end:]
		off += end
	}
	return out, nil
}

// ReadU32 decodes the unsigned LEB128 u32 at the start of b and returns it
// with its length in bytes.
func ReadU32(b []byte) (v uint32, n int, err error) {
	var shift uint
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated LEB128 number", ErrNotWasm)
		}
		c := b[i]
		if i == 4 && c&0xf0 != 0 {
			break
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		shift += 7
	}
	return 0, 0, fmt.Errorf("%w: LEB128 number overflows 32 bits", ErrNotWasm)
}

// AppendU32 appends v as an unsigned LEB128 number.
func AppendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// AppendName appends name as the format writes names: its length, then
// its bytes.
func AppendName(b []byte, name string) []byte {
	b = AppendU32(b, uint32(len(name)))
	return append(b, name...)
}

// AppendSection appends a section: its id, its body's size and its body.
func AppendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = AppendU32(b, uint32(len(body)))
	return append(b, body...)
}
