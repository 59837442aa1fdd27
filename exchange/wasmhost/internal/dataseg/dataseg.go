// Package dataseg rewrites a module's data section into fewer segments, with
// the same memory after instantiation. It changes when the way toolchains
// lay out data, or the runtime's cost per segment, changes.
//
// Go's linker writes one data segment per run of non-zero bytes: about 39 000
// segments for the 1 MB of data of a Go guest. The runtime keeps a record of
// every segment in the compiled module and a slot for each in every
// instance, and evaluates each offset again at every instantiation: about
// 4 MB a Go module and 1 MB an instance, in the broker's heap. Joined across
// their small gaps, the gaps filled with the zeros the fresh memory holds
// there anyway, they are a handful.
package dataseg

import (
	"cmp"
	"slices"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

// MaxGap is the longest run of zeros that Merge writes to join two segments:
// a segment costs the runtime about a hundred bytes a module and an instance,
// while a filled gap costs its length once a module and touches at most the
// pages it spans, which a segment on each side touches already when the gap
// is shorter than a page.
const MaxGap = 4096

// Section ids of the binary format.
const (
	sectionImport    = 2
	sectionData      = 11
	sectionDataCount = 12
)

// segment is one active data segment of memory 0 at a constant offset.
type segment struct {
	offset uint64
	init   []byte
}

// Merge returns module with its data segments merged, or module itself
// when merging would change what the module means or there is nothing to
// merge:
//   - a data count section says that code may name segments (memory.init,
//     data.drop), whose numbers merging would change;
//   - an imported memory holds other bytes than zeros in the gaps;
//   - a segment is passive, has an offset other than an i32.const, or
//     overlaps another (the later one's bytes would win);
//   - the joined segments would hold more than twice the section's bytes
//     (small segments far apart: the zeros would cost more than they save).
//
// Merge does not validate the module: what it cannot read it leaves to the
// runtime, which refuses it with its own message.
func Merge(module []byte) []byte {
	sections, err := wasmbin.Sections(module)
	if err != nil {
		return module
	}
	data := -1
	for i, s := range sections {
		switch s.ID {
		case sectionDataCount:
			return module
		case sectionImport:
			imports, err := wasmbin.Imports(s.Body)
			if err != nil {
				return module
			}
			for _, im := range imports {
				if im.Kind == wasmbin.KindMemory {
					return module
				}
			}
		case sectionData:
			data = i
		}
	}
	if data < 0 {
		return module
	}
	segments, ok := read(sections[data].Body)
	if !ok {
		return module
	}
	merged, ok := merge(segments, 2*len(sections[data].Body)+MaxGap)
	if !ok || len(merged) == len(segments) {
		return module
	}
	body := wasmbin.AppendU32(nil, uint32(len(merged)))
	for _, s := range merged {
		body = append(body, 0x00, 0x41) // active in memory 0, offset i32.const
		body = wasmbin.AppendS32(body, int32(uint32(s.offset)))
		body = append(body, 0x0b) // end
		body = wasmbin.AppendU32(body, uint32(len(s.init)))
		body = append(body, s.init...)
	}
	out := make([]byte, 0, len(module)-len(sections[data].Raw)+len(body)+6)
	out = append(out, wasmbin.Header...)
	for i, s := range sections {
		if i == data {
			out = wasmbin.AppendSection(out, sectionData, body)
		} else {
			out = append(out, s.Raw...)
		}
	}
	return out
}

// read reads a data section whose segments are all mergeable, and returns
// them in the order of their offsets.
func read(body []byte) ([]segment, bool) {
	all, err := wasmbin.DataSegments(body)
	if err != nil {
		return nil, false
	}
	segments := make([]segment, 0, len(all))
	for _, d := range all {
		// Active in memory 0, at exactly i32.const n, end.
		if d.Passive || d.Memory != 0 || len(d.Offset) < 3 || d.Offset[0] != 0x41 {
			return nil, false
		}
		offset, w, err := wasmbin.ReadS32(d.Offset[1:])
		if err != nil || 1+w != len(d.Offset)-1 {
			return nil, false
		}
		segments = append(segments, segment{offset: uint64(uint32(offset)), init: d.Init})
	}
	// Segments that do not overlap write to disjoint bytes, in any order.
	slices.SortStableFunc(segments, func(a, b segment) int { return cmp.Compare(a.offset, b.offset) })
	for i := 1; i < len(segments); i++ {
		if segments[i].offset < end(segments[i-1]) {
			return nil, false
		}
	}
	return segments, true
}

// merge joins each segment to the previous one when the gap between them is
// at most MaxGap. The segments are in order and do not overlap. It refuses,
// with ok false, to write more than limit bytes: gaps in a hostile module
// could otherwise turn a small data section into gigabytes.
func merge(segments []segment, limit int) (out []segment, ok bool) {
	type run struct{ first, last int }
	var runs []run
	total := 0
	for i := 0; i < len(segments); {
		j := i + 1
		for j < len(segments) && segments[j].offset-end(segments[j-1]) <= MaxGap {
			j++
		}
		runs = append(runs, run{i, j - 1})
		total += int(end(segments[j-1]) - segments[i].offset)
		if total > limit {
			return nil, false
		}
		i = j
	}
	out = make([]segment, 0, len(runs))
	for _, r := range runs {
		if r.first == r.last {
			out = append(out, segments[r.first])
			continue
		}
		start := segments[r.first].offset
		init := make([]byte, end(segments[r.last])-start)
		for _, s := range segments[r.first : r.last+1] {
			copy(init[s.offset-start:], s.init)
		}
		out = append(out, segment{offset: start, init: init})
	}
	return out, true
}

func end(s segment) uint64 { return s.offset + uint64(len(s.init)) }
