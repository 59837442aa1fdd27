package interrupt

import (
	"errors"
	"fmt"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

// The runtime's decoder allocates what a module declares before it reads
// it: a vector's element count, a data segment's size, a function's locals.
// A module of a few bytes that declares four billion of something would
// exhaust the broker's memory at load, so the rewrite, which reads the
// module first, refuses every count larger than the bytes that must follow
// it.

// MaxLocals is the most locals a function may declare, as in the limits of
// the WebAssembly JavaScript API; the runtime allocates them at load.
const MaxLocals = 50000

// ErrLimit marks the refusal of a valid module that exceeds a limit of the
// broker's, such as MaxLocals.
var ErrLimit = errors.New("beyond the broker's limits")

// checkSizes refuses a section that declares more elements than it has
// bytes, at the top level and in the nested vectors the runtime's decoder
// allocates up front (element segments, data segments, the name section).
func checkSizes(s wasmbin.Section) error {
	var err error
	switch s.ID {
	case sectionCustom:
		if s.Name == "name" {
			err = checkNames(s.Data)
		}
	case sectionStart, sectionDataCount: // no vector
	default:
		r := newReader(s.Body)
		if _, err = r.count(); err == nil {
			switch s.ID {
			case sectionElement:
				err = checkElements(newReader(s.Body))
			case sectionData:
				err = checkData(newReader(s.Body))
			}
		}
	}
	if err != nil {
		return fmt.Errorf("section %d at byte %d: %w", s.ID, s.Offset, err)
	}
	return nil
}

// count reads a vector's length and refuses one longer than the bytes left,
// as every element takes at least one.
func (r *reader) count() (uint32, error) {
	n, err := r.U32()
	if err == nil && uint64(n) > uint64(len(r.B)) {
		err = fmt.Errorf("%w: %d elements in %d bytes", wasmbin.ErrNotWasm, n, len(r.B))
	}
	return n, err
}

// checkElements reads an element section's segments in their eight forms.
func checkElements(r *reader) error {
	n, _ := r.count()
	for i := range n {
		flags, err := r.U32()
		if err != nil {
			return fmt.Errorf("element segment %d: %w", i, err)
		}
		if flags > 7 {
			return fmt.Errorf("element segment %d: %w: flags %d", i, wasmbin.ErrNotWasm, flags)
		}
		if flags&0b011 == 0b010 { // a table index
			_, err = r.U32()
		}
		if err == nil && flags&0b001 == 0 { // active: an offset
			err = r.constExpr()
		}
		if err == nil && flags&0b011 != 0 { // an element kind or a reference type
			err = r.elementType(flags&0b100 != 0)
		}
		var items uint32
		if err == nil {
			items, err = r.count()
		}
		for j := uint32(0); err == nil && j < items; j++ {
			if flags&0b100 == 0 {
				_, err = r.U32() // a function index
			} else {
				err = r.constExpr()
			}
		}
		if err != nil {
			return fmt.Errorf("element segment %d: %w", i, err)
		}
	}
	return r.end()
}

// elementType reads an element segment's element kind (0x00, functions) or,
// for segments of expressions, its reference type: in WebAssembly 2.0 one
// byte, funcref or externref. The runtime's decoder also takes the GC
// proposal's longer forms, which would leave this reader out of step with it.
func (r *reader) elementType(expressions bool) error {
	c, err := r.Byte()
	switch {
	case err != nil:
		return err
	case !expressions && c == 0x00, expressions && (c == 0x70 || c == 0x6f):
		return nil
	}
	return fmt.Errorf("%w: element type 0x%02x is not one of WebAssembly 2.0", wasmbin.ErrNotWasm, c)
}

// end refuses bytes after a section's last entry.
func (r *reader) end() error {
	if len(r.B) > 0 {
		return fmt.Errorf("%w: %d bytes after the last entry", wasmbin.ErrNotWasm, len(r.B))
	}
	return nil
}

// checkData reads a data section's segments, checking that each one's bytes
// are there.
func checkData(r *reader) error {
	n, _ := r.count()
	for i := range n {
		mode, err := r.U32()
		switch {
		case err != nil:
		case mode == 0:
			err = r.constExpr()
		case mode == 2:
			if _, err = r.U32(); err == nil {
				err = r.constExpr()
			}
		case mode != 1:
			err = fmt.Errorf("%w: mode %d", wasmbin.ErrNotWasm, mode)
		}
		if err == nil {
			err = r.skipBytes()
		}
		if err != nil {
			return fmt.Errorf("data segment %d: %w", i, err)
		}
	}
	return r.end()
}

// checkNames reads the function and local names of a name section; the
// runtime sizes its maps by their counts.
func checkNames(data []byte) error {
	r := newReader(data)
	for len(r.B) > 0 {
		id, err := r.Byte()
		if err != nil {
			return err
		}
		size, err := r.U32()
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
		body, err := r.Bytes(int(size))
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
		sub := newReader(body)
		switch id {
		case 1: // function names
			err = sub.nameMap()
		case 2: // local names: a name map for each function
			var n uint32
			n, err = sub.count()
			for i := uint32(0); err == nil && i < n; i++ {
				if _, err = sub.U32(); err == nil {
					err = sub.nameMap()
				}
			}
		}
		if err != nil {
			return fmt.Errorf("name subsection %d: %w", id, err)
		}
	}
	return nil
}

func (r *reader) nameMap() error {
	n, err := r.count()
	for i := uint32(0); err == nil && i < n; i++ {
		if _, err = r.U32(); err == nil {
			err = r.skipBytes()
		}
	}
	return err
}

// skipBytes reads a vector of bytes (a name, a segment's data) and drops it.
func (r *reader) skipBytes() error {
	n, err := r.U32()
	if err == nil {
		_, err = r.Bytes(int(n))
	}
	return err
}

// constExpr reads a constant expression of WebAssembly 2.0, through its end.
func (r *reader) constExpr() error {
	for {
		op, err := r.Byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
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
				err = fmt.Errorf("%w: 0xfd %d in a constant expression", wasmbin.ErrNotWasm, sub)
			}
			if err == nil {
				_, err = r.Bytes(16)
			}
		default:
			err = fmt.Errorf("%w: opcode 0x%02x in a constant expression", wasmbin.ErrNotWasm, op)
		}
		if err != nil {
			return err
		}
	}
}
