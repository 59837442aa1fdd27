// Package interrupt rewrites a WebAssembly module so that the host can stop
// its code within a bounded time, from another goroutine, at almost no cost
// to the code while it is not stopped. It changes when the WebAssembly
// features the broker runs change.
//
// The rewritten module defines three more globals: the flag, a mutable i32
// exported as [Export] and initially 0, a countdown and the call depth. The
// entry of every function and the head of every loop count down, and every
// [Period] such events the code checks the flag and calls into the host:
// when the host has set the flag to a non-zero value, the guest executes
// unreachable, a trap. Code can only run long by looping or by calling
// (a body without loops or calls is run through once), so once the flag is
// set every call stops after at most Period more loop iterations and
// function entries: recursion, however it is nested, is stopped like a loop.
// The entry of every function also counts the depth up, and every exit
// (the end of the body, return, a branch to the function's label) counts it
// down; past [MaxDepth] nested calls (checked with the flag, so give or take
// Period) the guest traps as well, long before the runtime's stack for it
// grows large.
//
// The call into the host (memory.grow by 0 pages, which the runtime serves
// in Go) matters as much as the flag: compiled guest code cannot be preempted
// by the Go scheduler, so a guest that never leaves it would hold up every
// stop-the-world pause of the garbage collector, and with it the whole
// process, the timer that sets the flag included. A module without a memory
// gets an empty one for this.
//
// A start function would run inside instantiation, before the host holds the
// flag; the rewrite removes the start section and exports its function as
// [StartExport] instead, for the host to call right after instantiation, as
// the start section would have, under the same interrupt.
//
// The rewrite reads every instruction, so it refuses any opcode outside
// WebAssembly 2.0 (the features the broker's runtime enables). It keeps the
// module's validity: a module that the runtime would refuse is still refused,
// with the runtime's message, after the rewrite. It also refuses a module that
// refers to globals past its own, which after the rewrite would reach the flag,
// and one that declares more than it holds (see [MaxLocals]).
package interrupt

import (
	"fmt"
	"strings"

	"github.com/pontexchange/pont/exchange/internal/wasmbin"
)

// Export is the name under which a rewritten module exports its interrupt
// flag, a mutable i32 global.
const Export = "pont.interrupt"

// Period is how many loop iterations and function calls a guest runs
// between two checks of the flag: the check costs a call into the host, and
// the period bounds how long a guest can keep the Go runtime from stopping it
// (a few microseconds for tight loops).
const Period = 1024

// MaxDepth is the deepest call nesting a guest may reach (give or take
// Period, see [Instrument]): a call past it traps. The Go runtime and the
// reference adapters need fewer than 100 levels; a guest that recurses on
// its input may need thousands. Without a bound, infinite recursion would
// grow the runtime's stack for the guest on the Go heap up to its own
// ceiling, some 100 MiB for every instance that does it at once.
const MaxDepth = 20000

// StartExport is the name under which a rewritten module exports the
// function of its former start section.
const StartExport = "pont.start"

// Section ids of the binary format.
const (
	sectionCustom    = wasmbin.CustomID
	sectionType      = 1
	sectionImport    = 2
	sectionFunction  = 3
	sectionMemory    = 5
	sectionGlobal    = 6
	sectionExport    = 7
	sectionStart     = 8
	sectionElement   = 9
	sectionCode      = 10
	sectionData      = 11
	sectionDataCount = 12
	sectionTag       = 13
)

// sectionOrder is each known section's rank in the order the binary format
// requires; custom sections may appear anywhere.
var sectionOrder = map[byte]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, sectionTag: 6, 6: 7, 7: 8, 8: 9, 9: 10, sectionDataCount: 11, 10: 12, 11: 13}

// Instrument returns module rewritten as the package describes. It does not
// change module. An error names what in the module could not be read or
// would defeat the interrupt.
func Instrument(module []byte) ([]byte, error) {
	sections, err := wasmbin.Sections(module)
	if err != nil {
		return nil, err
	}
	for _, s := range sections {
		if err := checkSizes(s); err != nil {
			return nil, err
		}
	}
	m := &rewrite{}
	for _, s := range sections {
		if err := m.read(s); err != nil {
			return nil, err
		}
	}
	m.flag = m.importedGlobals + m.localGlobals
	// The code first: rewriting it tells which types the type section,
	// which comes before it, must gain.
	var code []byte
	for _, s := range sections {
		if s.ID == sectionCode {
			if code, err = m.codeSection(s.Body); err != nil {
				return nil, err
			}
		}
	}

	out := make([]wasmbin.Section, 0, len(sections)+3)
	var haveGlobal, haveExport, haveMemorySection bool
	emptyMemory := []byte{1, 0x00, 0} // one memory of 0 pages, no maximum
	for _, s := range sections {
		switch s.ID {
		case sectionMemory:
			haveMemorySection = true
			if !m.hasMemory { // a section that defines no memory
				s.Body = emptyMemory
			}
		case sectionStart:
			continue // exported as StartExport instead
		case sectionCustom:
			if strings.HasPrefix(s.Name, ".debug_") {
				continue // DWARF points at code offsets that the rewrite moves
			}
		case sectionGlobal:
			haveGlobal = true
			s.Body = m.globalSection(s.Body)
		case sectionExport:
			haveExport = true
			s.Body = m.exportSection(s.Body)
		case sectionType:
			if len(m.added) > 0 {
				s.Body = m.typeSection(s.Body)
			}
		case sectionCode:
			s.Body = code
		}
		out = append(out, s)
	}
	if !m.hasMemory && !haveMemorySection {
		out = insertSection(out, wasmbin.Section{ID: sectionMemory, Body: emptyMemory})
	}
	if !haveGlobal {
		out = insertSection(out, wasmbin.Section{ID: sectionGlobal, Body: m.globalSection([]byte{0})})
	}
	if !haveExport {
		out = insertSection(out, wasmbin.Section{ID: sectionExport, Body: m.exportSection([]byte{0})})
	}

	size := len(wasmbin.Header)
	for _, s := range out {
		size += 1 + 5 + len(s.Body)
	}
	b := append(make([]byte, 0, size), wasmbin.Header...)
	for _, s := range out {
		b = wasmbin.AppendSection(b, s.ID, s.Body)
	}
	return b, nil
}

// insertSection puts s before the first known section that must follow it.
func insertSection(sections []wasmbin.Section, s wasmbin.Section) []wasmbin.Section {
	rank := sectionOrder[s.ID]
	for i, o := range sections {
		if o.ID != sectionCustom && sectionOrder[o.ID] > rank {
			return append(sections[:i], append([]wasmbin.Section{s}, sections[i:]...)...)
		}
	}
	return append(sections, s)
}

// rewrite holds what the rewrite learns of the module before changing it.
type rewrite struct {
	importedGlobals, localGlobals uint32
	start                         uint32
	hasStart, hasMemory           bool
	// flag is the interrupt flag's global index; the countdown and the
	// call depth follow it.
	flag uint32
	// types are the module's function types; funcs the type index of each
	// function the module defines, in the order of the code section.
	types []funcType
	funcs []uint32
	// added are the types () -> results that the rewrite appends to the
	// type section, for the blocks that wrap functions of several results.
	added []funcType
}

// funcType is a function type: its parameter count and its result types.
type funcType struct {
	params  uint32
	results string
}

// read learns from one section what the rewrite needs.
func (m *rewrite) read(s wasmbin.Section) error {
	r := newReader(s.Body)
	var err error
	switch s.ID {
	case sectionType:
		m.types, err = readTypes(r)
	case sectionFunction:
		m.funcs, err = readFunctions(r, len(m.types))
	case sectionImport:
		err = m.readImports(s.Body)
	case sectionMemory:
		var n uint32
		n, err = r.U32()
		m.hasMemory = m.hasMemory || n > 0
	case sectionGlobal:
		m.localGlobals, err = r.U32()
	case sectionExport:
		err = m.readExports(r)
	case sectionStart:
		m.start, err = r.U32()
		m.hasStart = true
	}
	if err != nil {
		return fmt.Errorf("section %d: %w", s.ID, err)
	}
	return nil
}

// readTypes reads the function types. It checks that no function type
// claims more parameters or results than its section has bytes: the
// runtime's decoder allocates what a count promises before reading the
// values, so such a count would exhaust the broker's memory at load.
func readTypes(r *reader) ([]funcType, error) {
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	types := make([]funcType, 0, n)
	for i := range n {
		if form, err := r.Byte(); err != nil {
			return nil, fmt.Errorf("type %d: %w", i, err)
		} else if form != 0x60 {
			return nil, fmt.Errorf("type %d: %w: form 0x%02x is not a function type", i, wasmbin.ErrNotWasm, form)
		}
		var t funcType
		for _, what := range []string{"parameters", "results"} {
			count, err := r.U32()
			if err != nil {
				return nil, fmt.Errorf("type %d: %w", i, err)
			}
			b, err := r.Bytes(int(count))
			if err != nil {
				return nil, fmt.Errorf("type %d: %d %s: %w", i, count, what, err)
			}
			if what == "parameters" {
				t.params = count
			} else {
				t.results = string(b)
			}
		}
		types = append(types, t)
	}
	return types, nil
}

// readFunctions reads the function section: the type index of each
// function the module defines, each less than types. A type index past the
// type section is refused as malformed: the runtime's validator panics on
// a call to such a function.
func readFunctions(r *reader, types int) ([]uint32, error) {
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	funcs := make([]uint32, n)
	for i := range funcs {
		if funcs[i], err = r.U32(); err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		if int(funcs[i]) >= types {
			return nil, fmt.Errorf("function %d: %w: type %d; the module has %d", i, wasmbin.ErrNotWasm, funcs[i], types)
		}
	}
	return funcs, nil
}

func (m *rewrite) readImports(body []byte) error {
	imports, err := wasmbin.Imports(body)
	if err != nil {
		return err
	}
	for _, im := range imports {
		switch im.Kind {
		case wasmbin.KindMemory:
			m.hasMemory = true
		case wasmbin.KindGlobal:
			m.importedGlobals++
		}
	}
	return nil
}

func (m *rewrite) readExports(r *reader) error {
	n, err := r.U32()
	if err != nil {
		return err
	}
	for i := range n {
		name, err := r.Name()
		if err != nil {
			return fmt.Errorf("export %d: %w", i, err)
		}
		if name == Export || name == StartExport {
			return fmt.Errorf("the module exports %q, a name the broker reserves", name)
		}
		if _, err := r.Byte(); err != nil {
			return fmt.Errorf("export %q: %w", name, err)
		}
		if _, err := r.U32(); err != nil {
			return fmt.Errorf("export %q: %w", name, err)
		}
	}
	return nil
}

// globalSection returns the global section body with the flag (a mutable
// i32 initialised to 0), the countdown (initialised to Period) and the call
// depth (initialised to 0) appended.
func (m *rewrite) globalSection(body []byte) []byte {
	_, w, _ := wasmbin.ReadU32(body) // read already checked it
	b := wasmbin.AppendU32(nil, m.localGlobals+3)
	b = append(b, body[w:]...)
	b = append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
	b = append(b, 0x7f, 0x01, 0x41)
	b = wasmbin.AppendS32(b, Period)
	b = append(b, 0x0b)
	return append(b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
}

// exportSection returns the export section body with the flag and the
// former start function appended.
func (m *rewrite) exportSection(body []byte) []byte {
	n, w, _ := wasmbin.ReadU32(body)
	extra := uint32(1)
	if m.hasStart {
		extra++
	}
	b := wasmbin.AppendU32(nil, n+extra)
	b = append(b, body[w:]...)
	b = wasmbin.AppendName(b, Export)
	b = append(b, wasmbin.KindGlobal)
	b = wasmbin.AppendU32(b, m.flag)
	if m.hasStart {
		b = wasmbin.AppendName(b, StartExport)
		b = append(b, wasmbin.KindFunc)
		b = wasmbin.AppendU32(b, m.start)
	}
	return b
}

// codeSection rewrites every function body.
func (m *rewrite) codeSection(body []byte) ([]byte, error) {
	r := newReader(body)
	n, err := r.U32()
	if err != nil {
		return nil, fmt.Errorf("code section: %w", err)
	}
	if int(n) != len(m.funcs) {
		// The binary format requires them to match; the runtime's decoder
		// would panic on some modules that break the rule.
		return nil, fmt.Errorf("code section: %w: %d function bodies for %d functions", wasmbin.ErrNotWasm, n, len(m.funcs))
	}
	c := m.code()
	out := wasmbin.AppendU32(make([]byte, 0, len(body)+len(body)/8), n)
	var fn []byte
	for i := range n {
		size, err := r.U32()
		if err != nil {
			return nil, fmt.Errorf("code section: function body %d: %w", i, err)
		}
		code, err := r.Bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("code section: function body %d: %w", i, err)
		}
		bt, err := m.blockType(m.funcs[i])
		if err != nil {
			return nil, fmt.Errorf("code section: function body %d: %w", i, err)
		}
		if fn, err = m.function(fn[:0], code, bt, c); err != nil {
			return nil, fmt.Errorf("code section: function body %d: %w", i, err)
		}
		out = wasmbin.AppendU32(out, uint32(len(fn)))
		out = append(out, fn...)
	}
	if len(r.B) > 0 {
		return nil, fmt.Errorf("code section: %d bytes after the last function body", len(r.B))
	}
	return out, nil
}

// blockType returns the encoded block type of the block that wraps a
// function of type index typ: no parameters, the function's results. A
// function of several results needs a type () -> results, which is
// appended to the type section unless the module has one.
func (m *rewrite) blockType(typ uint32) ([]byte, error) {
	results := m.types[typ].results
	switch len(results) {
	case 0:
		return []byte{0x40}, nil
	case 1:
		return []byte{results[0]}, nil
	}
	want := funcType{results: results}
	index := -1
	for i, t := range m.types {
		if t == want {
			index = i
			break
		}
	}
	for i, t := range m.added {
		if index < 0 && t == want {
			index = len(m.types) + i
		}
	}
	if index < 0 {
		index = len(m.types) + len(m.added)
		m.added = append(m.added, want)
	}
	return wasmbin.AppendS64(nil, int64(index)), nil
}

// typeSection returns the type section body with the added types appended.
func (m *rewrite) typeSection(body []byte) []byte {
	_, w, _ := wasmbin.ReadU32(body) // read already checked it
	b := wasmbin.AppendU32(nil, uint32(len(m.types)+len(m.added)))
	b = append(b, body[w:]...)
	for _, t := range m.added {
		b = append(b, 0x60, 0)
		b = wasmbin.AppendU32(b, uint32(len(t.results)))
		b = append(b, t.results...)
	}
	return b
}

// snippets is the code the rewrite inserts.
type snippets struct {
	// check goes after every loop instruction and at every function's
	// entry (after enter).
	check []byte
	// enter and leave count the call depth up at a function's entry and
	// down at its exit.
	enter, leave []byte
}

// code returns the inserted code. check is
//
//	global.get countdown, i32.const 1, i32.sub, global.set countdown
//	global.get countdown, i32.const 0, i32.le_s
//	if
//	  i32.const 0, memory.grow 0, drop    ;; a call into the host
//	  global.get flag
//	  global.get depth, i32.const MaxDepth, i32.gt_u
//	  i32.or, if, unreachable, end
//	  i32.const Period, global.set countdown
//	end
//
// The depth is checked only every Period events, with the flag, since
// between two checks it grows by at most Period: the bound holds, at
// MaxDepth+Period, and the common path pays for no second test.
func (m *rewrite) code() snippets {
	countdown, depth := m.flag+1, m.flag+2
	get := func(b []byte, g uint32) []byte { return wasmbin.AppendU32(append(b, 0x23), g) }
	set := func(b []byte, g uint32) []byte { return wasmbin.AppendU32(append(b, 0x24), g) }

	b := get(nil, countdown)
	b = append(b, 0x41, 1, 0x6b)
	b = set(b, countdown)
	b = get(b, countdown)
	b = append(b, 0x41, 0, 0x4c, 0x04, 0x40)
	b = append(b, 0x41, 0, 0x40, 0, 0x1a)
	b = get(b, m.flag)
	b = get(b, depth)
	b = wasmbin.AppendS32(append(b, 0x41), MaxDepth)
	b = append(b, 0x4b, 0x72) // i32.gt_u, i32.or
	b = append(b, 0x04, 0x40, 0x00, 0x0b)
	b = wasmbin.AppendS32(append(b, 0x41), Period)
	b = set(b, countdown)
	check := append(b, 0x0b)

	enter := get(nil, depth)
	enter = set(append(enter, 0x41, 1, 0x6a), depth) // i32.add
	leave := get(nil, depth)
	leave = set(append(leave, 0x41, 1, 0x6b), depth) // i32.sub
	return snippets{check: check, enter: enter, leave: leave}
}

// function appends to out the body code rewritten: the depth counted up
// and the check at its entry, the check after every loop instruction, and
// the depth counted down at every exit. The exits are the end of the body,
// return, and any branch to the function's own label; rather than find
// each branch, the rewrite wraps the body in a block of the function's
// results (block type bt), which then takes the function's label index,
// and counts down after it; a return becomes a branch to that block.
func (m *rewrite) function(out, code, bt []byte, c snippets) ([]byte, error) {
	r := newReader(code)
	groups, err := r.U32()
	if err != nil {
		return nil, fmt.Errorf("locals: %w", err)
	}
	var locals uint64
	for range groups {
		n, err := r.U32()
		if err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		if locals += uint64(n); locals > MaxLocals {
			return nil, fmt.Errorf("%w: more than %d locals", ErrLimit, MaxLocals)
		}
		t, err := r.Byte()
		if err != nil {
			return nil, fmt.Errorf("locals: %w", err)
		}
		if !valueType(t) {
			// The runtime also takes the GC proposal's longer reference
			// types, and would read past the body to do so.
			return nil, fmt.Errorf("locals: %w: type 0x%02x is not a value type of WebAssembly 2.0", wasmbin.ErrNotWasm, t)
		}
	}
	copied := len(code) - len(r.B)
	out = append(out, code[:copied]...)
	out = append(out, c.enter...)
	out = append(out, c.check...)
	out = append(out, 0x02)
	out = append(out, bt...)
	// nesting counts the blocks, loops and ifs open around an instruction,
	// not counting the wrapping block: a branch to label nesting leaves the
	// wrapping block.
	nesting := uint32(0)
	for len(r.B) > 0 {
		at := len(code) - len(r.B)
		op, _ := r.Byte()
		loop, err := m.skipImmediates(r, op)
		if err != nil {
			return nil, fmt.Errorf("instruction 0x%02x at byte %d: %w", op, at, err)
		}
		end := len(code) - len(r.B)
		switch {
		case loop:
			nesting++
			out = append(out, code[copied:end]...)
			out = append(out, c.check...)
			copied = end
		case op == 0x02 || op == 0x04: // block, if
			nesting++
		case op == 0x0f: // return
			out = append(out, code[copied:at]...)
			out = wasmbin.AppendU32(append(out, 0x0c), nesting) // br
			copied = end
		case op == 0x0b && nesting > 0: // the end of a block, loop or if
			nesting--
		case op == 0x0b: // the end of the body
			if len(r.B) > 0 {
				return nil, fmt.Errorf("%d bytes after the end of the function", len(r.B))
			}
			out = append(out, code[copied:end]...) // ends the wrapping block
			out = append(out, c.leave...)
			return append(out, 0x0b), nil
		}
	}
	return nil, fmt.Errorf("the function's code has no end: %w", wasmbin.ErrTruncated)
}

// immediates is the kind of immediates an instruction has.
type immediates uint8

const (
	invalid     immediates = iota // not a WebAssembly 2.0 instruction
	none                          // no immediates
	blockType                     // block, if
	loopType                      // loop: a block type, and the check goes after it
	index                         // one u32 (labels, functions, locals, tables, memory)
	twoIndices                    // two u32: call_indirect, and loads and stores (a memarg)
	globalIndex                   // global.get, global.set
	brTable                       // a vector of labels and a default
	selectTypes                   // a vector of value types
	signedLEB                     // i32.const, i64.const
	fourBytes                     // f32.const
	eightBytes                    // f64.const
	oneByte                       // ref.null's reference type
	misc                          // the 0xfc prefix
	simd                          // the 0xfd prefix
)

// opcodes is the kind of immediates of every one-byte opcode: a table, as
// the rewrite reads every instruction of a module that may hold millions.
var opcodes = func() (t [256]immediates) {
	set := func(k immediates, ops ...byte) {
		for _, op := range ops {
			t[op] = k
		}
	}
	set(none, 0x00, 0x01, 0x05, 0x0b, 0x0f, 0x1a, 0x1b, 0xd1) // unreachable nop else end return drop select ref.is_null
	for op := 0x45; op <= 0xc4; op++ {                        // numeric
		t[op] = none
	}
	set(blockType, 0x02, 0x04)
	set(loopType, 0x03)
	set(index, 0x0c, 0x0d, 0x10, 0xd2, 0x20, 0x21, 0x22, 0x25, 0x26, 0x3f, 0x40) // br br_if call ref.func locals table.get/set memory.size/grow
	set(globalIndex, 0x23, 0x24)
	set(brTable, 0x0e)
	set(twoIndices, 0x11)              // call_indirect
	for op := 0x28; op <= 0x3e; op++ { // loads and stores: a memarg
		t[op] = twoIndices
	}
	set(selectTypes, 0x1c)
	set(signedLEB, 0x41, 0x42)
	set(fourBytes, 0x43)
	set(eightBytes, 0x44)
	set(oneByte, 0xd0)
	set(misc, 0xfc)
	set(simd, 0xfd)
	return t
}()

// skipImmediates reads the immediates of the instruction op. It reports
// whether op is loop.
func (m *rewrite) skipImmediates(r *reader, op byte) (loop bool, err error) {
	switch opcodes[op] {
	case none:
		return false, nil
	case blockType:
		return false, r.blockType()
	case loopType:
		return true, r.blockType()
	case index:
		_, err = r.U32()
		return false, err
	case twoIndices:
		return false, r.SkipU32s(2)
	case globalIndex:
		g, err := r.U32()
		if err == nil && g >= m.flag {
			err = fmt.Errorf("refers to global %d; the module has %d", g, m.flag)
		}
		return false, err
	case brTable:
		n, err := r.U32()
		for i := uint32(0); err == nil && i <= n; i++ {
			_, err = r.U32()
		}
		return false, err
	case selectTypes:
		n, err := r.U32()
		if err == nil {
			_, err = r.Bytes(int(n))
		}
		return false, err
	case signedLEB:
		return false, r.SkipLEB()
	case fourBytes:
		_, err = r.Bytes(4)
		return false, err
	case eightBytes:
		_, err = r.Bytes(8)
		return false, err
	case oneByte:
		_, err = r.Byte()
		return false, err
	case misc:
		return false, r.miscImmediates()
	case simd:
		return false, r.simdImmediates()
	}
	return false, fmt.Errorf("not a WebAssembly 2.0 instruction (%s)", proposal(op))
}

// proposal names the later WebAssembly feature an opcode belongs to, for the
// error message.
func proposal(op byte) string {
	switch op {
	case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
		return "exception handling"
	case 0x12, 0x13:
		return "tail calls"
	case 0x14, 0x15, 0xd3, 0xd4, 0xd5, 0xd6:
		return "typed function references"
	case 0xfb:
		return "garbage collection"
	case 0xfe:
		return "threads"
	}
	return "unknown opcode"
}

// reader reads the binary format, and the immediates of the instructions
// the rewrite passes over.
type reader struct{ wasmbin.Reader }

func newReader(b []byte) *reader { return &reader{wasmbin.Reader{B: b}} }

// valueType reports whether t is a value type of WebAssembly 2.0: i32, i64,
// f32, f64, v128, funcref or externref.
func valueType(t byte) bool {
	switch t {
	case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		return true
	}
	return false
}

// blockType reads a block type: empty (0x40), one value type, or a type
// index (a non-negative signed LEB128).
func (r *reader) blockType() error {
	if len(r.B) == 0 {
		return wasmbin.ErrTruncated
	}
	switch c := r.B[0]; c {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.B = r.B[1:]
		return nil
	default:
		if c&0xc0 == 0x40 { // a one-byte negative number that is no value type
			return fmt.Errorf("block type 0x%02x", c)
		}
		return r.SkipLEB()
	}
}

// miscImmediates reads the immediates of a 0xfc instruction: saturating
// conversions, bulk memory and table instructions.
func (r *reader) miscImmediates() error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // trunc_sat
		return nil
	case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init memory.copy table.init table.copy
		return r.SkipU32s(2)
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17: // data.drop memory.fill elem.drop table.grow/size/fill
		return r.SkipU32s(1)
	}
	return fmt.Errorf("0xfc %d is not a WebAssembly 2.0 instruction", sub)
}

// simdImmediates reads the immediates of a 0xfd (128-bit SIMD) instruction.
func (r *reader) simdImmediates() error {
	sub, err := r.U32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11, sub == 92, sub == 93: // loads and stores: memarg
		return r.SkipU32s(2)
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		_, err = r.Bytes(16)
		return err
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		_, err = r.Bytes(1)
		return err
	case sub >= 84 && sub <= 91: // load_lane, store_lane: memarg, lane
		if err := r.SkipU32s(2); err != nil {
			return err
		}
		_, err = r.Bytes(1)
		return err
	case sub <= 255:
		return nil
	}
	return fmt.Errorf("0xfd %d is not a WebAssembly 2.0 instruction", sub)
}
