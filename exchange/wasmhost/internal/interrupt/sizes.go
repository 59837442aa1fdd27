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
		if _, err = r.Count(); err == nil {
			switch s.ID {
			case sectionElement:
				err = checkElements(newReader(s.Body))
			case sectionData:
				_, err = wasmbin.DataSegments(s.Body)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("section %d at byte %d: %w", s.ID, s.Offset, err)
	}
	return nil
}

// checkElements reads an element section's segments in their eight forms.
func checkElements(r *reader) error {
	n, _ := r.Count()
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
			_, err = r.ConstExpr()
		}
		if err == nil && flags&0b011 != 0 { // an element kind or a reference type
			err = r.elementType(flags&0b100 != 0)
		}
		var items uint32
		if err == nil {
			items, err = r.Count()
		}
		for j := uint32(0); err == nil && j < items; j++ {
			if flags&0b100 == 0 {
				_, err = r.U32() // a function index
			} else {
				_, err = r.ConstExpr()
			}
		}
		if err != nil {
			return fmt.Errorf("element segment %d: %w", i, err)
		}
	}
	return r.End()
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
			n, err = sub.Count()
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
	n, err := r.Count()
	for i := uint32(0); err == nil && i < n; i++ {
		if _, err = r.U32(); err == nil {
			_, err = r.ByteVec()
		}
	}
	return err
}
