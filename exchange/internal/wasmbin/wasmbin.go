// Package wasmbin reads and writes the parts of the WebAssembly binary
// format that Pont reads or edits itself: the header, the sections, LEB128
// numbers, names, the import and data sections and constant expressions.
// It changes when the binary format does; what a module means is wazero's
// business.
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

// ReadS32 decodes the signed LEB128 i32 at the start of b (an i32.const's
// immediate) and returns it with its length in bytes.
func ReadS32(b []byte) (v int32, n int, err error) {
	var result int64
	var shift uint
	for i := 0; i < 5; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: truncated LEB128 number", ErrNotWasm)
		}
		c := b[i]
		result |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				result |= -1 << shift // sign-extend
			}
			if result < -1<<31 || result > 1<<31-1 {
				break
			}
			return int32(result), i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: signed LEB128 number overflows 32 bits", ErrNotWasm)
}

// AppendS32 appends v as a signed LEB128 number.
func AppendS32(b []byte, v int32) []byte { return AppendS64(b, int64(v)) }

// AppendS64 appends v as a signed LEB128 number.
func AppendS64(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// Reader reads the format's primitives from the front of B, which each
// read shortens. Its errors wrap ErrNotWasm.
type Reader struct{ B []byte }

// ErrTruncated is the error of a read past the end of a Reader's bytes.
var ErrTruncated = fmt.Errorf("%w: unexpected end", ErrNotWasm)

// Byte reads one byte.
func (r *Reader) Byte() (byte, error) {
	if len(r.B) == 0 {
		return 0, ErrTruncated
	}
	c := r.B[0]
	r.B = r.B[1:]
	return c, nil
}

// Bytes reads n bytes; they share the Reader's memory.
func (r *Reader) Bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.B) {
		return nil, ErrTruncated
	}
	b := r.B[:n]
	r.B = r.B[n:]
	return b, nil
}

// U32 reads an unsigned LEB128 u32.
func (r *Reader) U32() (uint32, error) {
	v, n, err := ReadU32(r.B)
	if err != nil {
		return 0, err
	}
	r.B = r.B[n:]
	return v, nil
}

// SkipU32s reads n unsigned LEB128 u32s and drops them.
func (r *Reader) SkipU32s(n int) error {
	for range n {
		if _, err := r.U32(); err != nil {
			return err
		}
	}
	return nil
}

// SkipLEB reads a signed or unsigned LEB128 number of up to 64 bits and
// drops it.
func (r *Reader) SkipLEB() error {
	for i := 0; i < 10; i++ {
		c, err := r.Byte()
		if err != nil {
			return err
		}
		if c&0x80 == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: LEB128 number longer than 10 bytes", ErrNotWasm)
}

// Name reads a name: its length, then its bytes.
func (r *Reader) Name() (string, error) {
	n, err := r.U32()
	if err != nil {
		return "", err
	}
	b, err := r.Bytes(int(n))
	return string(b), err
}

// Count reads a vector's length and refuses one longer than the bytes left,
// as every element takes at least one: a decoder that allocates what a
// count promises would otherwise take its word.
func (r *Reader) Count() (uint32, error) {
	n, err := r.U32()
	if err == nil && uint64(n) > uint64(len(r.B)) {
		err = fmt.Errorf("%w: %d elements in %d bytes", ErrNotWasm, n, len(r.B))
	}
	return n, err
}

// ByteVec reads a vector of bytes (a name's, a data segment's); they share
// the Reader's memory.
func (r *Reader) ByteVec() ([]byte, error) {
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	return r.Bytes(int(n))
}

// End refuses bytes after a section's last entry.
func (r *Reader) End() error {
	if len(r.B) > 0 {
		return fmt.Errorf("%w: %d bytes after the last entry", ErrNotWasm, len(r.B))
	}
	return nil
}

// ConstExpr reads a constant expression of WebAssembly 2.0 and returns its
// bytes, its end included.
func (r *Reader) ConstExpr() ([]byte, error) {
	start := r.B
	for {
		op, err := r.Byte()
		if err != nil {
			return nil, err
		}
		switch op {
		case 0x0b: // end
			return start[:len(start)-len(r.B)], nil
		case 0x41, 0x42: // i32.const, i64.const
			err = r.SkipLEB()
		case 0x43: // f32.const
			_, err = r.Bytes(4)
		case 0x44: // f64.const
			_, err = r.Bytes(8)
		case 0xd0: // ref.null
			_, err = r.Byte()
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.U32()
		case 0xfd: // v128.const
			var sub uint32
			if sub, err = r.U32(); err == nil && sub != 12 {
				err = fmt.Errorf("%w: 0xfd %d in a constant expression", ErrNotWasm, sub)
			}
			if err == nil {
				_, err = r.Bytes(16)
			}
		default:
			err = fmt.Errorf("%w: opcode 0x%02x in a constant expression", ErrNotWasm, op)
		}
		if err != nil {
			return nil, err
		}
	}
}

// DataSegment is one entry of the data section.
type DataSegment struct {
	// Passive segments have no memory and no offset.
	Passive bool
	Memory  uint32
	// Offset is the constant expression of an active segment's offset,
	// its end included.
	Offset []byte
	// Init is the segment's bytes; it shares the section's memory.
	Init []byte
}

// DataSegments reads the body of a data section, refusing counts and sizes
// larger than the bytes that follow them and bytes after the last segment.
func DataSegments(body []byte) ([]DataSegment, error) {
	r := &Reader{B: body}
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	out := make([]DataSegment, 0, min(n, uint32(len(r.B)/3))) // a segment takes at least 3 bytes
	for i := range n {
		var s DataSegment
		mode, err := r.U32()
		switch {
		case err != nil:
		case mode == 1:
			s.Passive = true
		case mode == 0 || mode == 2:
			if mode == 2 {
				s.Memory, err = r.U32()
			}
			if err == nil {
				s.Offset, err = r.ConstExpr()
			}
		default:
			err = fmt.Errorf("%w: mode %d", ErrNotWasm, mode)
		}
		if err == nil {
			s.Init, err = r.ByteVec()
		}
		if err != nil {
			return nil, fmt.Errorf("data segment %d: %w", i, err)
		}
		out = append(out, s)
	}
	return out, r.End()
}

// SkipLimits reads a table's or a memory's limits and drops them.
func (r *Reader) SkipLimits() error {
	flags, err := r.Byte()
	if err != nil {
		return err
	}
	switch flags {
	case 0x00:
		_, err = r.U32()
	case 0x01, 0x03: // with a maximum; 0x03 is shared
		err = r.SkipU32s(2)
	default:
		err = fmt.Errorf("%w: limits flags 0x%02x", ErrNotWasm, flags)
	}
	return err
}

// External kinds: what an import or an export is.
const (
	KindFunc   = 0
	KindTable  = 1
	KindMemory = 2
	KindGlobal = 3
)

// Import is one entry of the import section.
type Import struct {
	Module, Name string
	Kind         byte
}

// Imports reads the body of an import section.
func Imports(body []byte) ([]Import, error) {
	r := &Reader{B: body}
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	out := make([]Import, 0, min(n, uint32(len(r.B)))) // every import takes bytes: never trust the count
	for i := range n {
		var im Import
		if im.Module, err = r.Name(); err != nil {
			return nil, fmt.Errorf("import %d: module name: %w", i, err)
		}
		if im.Name, err = r.Name(); err != nil {
			return nil, fmt.Errorf("import %d: name: %w", i, err)
		}
		if im.Kind, err = r.Byte(); err != nil {
			return nil, fmt.Errorf("import %d: %w", i, err)
		}
		switch im.Kind {
		case KindFunc:
			_, err = r.U32()
		case KindTable:
			if _, err = r.Byte(); err == nil {
				err = r.SkipLimits()
			}
		case KindMemory:
			err = r.SkipLimits()
		case KindGlobal:
			_, err = r.Bytes(2) // value type, mutability
		default:
			err = fmt.Errorf("%w: unknown import kind %d", ErrNotWasm, im.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("import %d: %w", i, err)
		}
		out = append(out, im)
	}
	return out, nil
}
