package seccomp

import (
	"fmt"
	"math"
	"slices"

	"golang.org/x/net/bpf"
)

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// Assemble emits the program for f.
//
// Every piece of code below ends in returns only: a leaf of the search is a
// return or an argument block ending in returns. So a subtree is a
// self-contained slice whose jumps stay inside it, and a search node is its
// compare followed by its two subtrees. No global label resolution is needed;
// the one long-jump case (a left subtree longer than an 8-bit offset) is
// bridged with a JA, which the action cache also understands.
func (f *Filter) Assemble() ([]bpf.RawInstruction, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	prog := []bpf.RawInstruction{
		ldAbs(offArch),
		jeq(f.Arch.AuditArch, 1, 0),
		ret(f.BadArch),
		ldAbs(offNr),
	}
	if f.Arch.X32Bit != 0 {
		prog = append(prog, jset(f.Arch.X32Bit, 0, 1), ret(f.X32))
	}
	ranges := f.ranges()
	tree, err := f.search(ranges)
	if err != nil {
		return nil, err
	}
	prog = append(prog, tree...)
	if err := Verify(prog); err != nil {
		return nil, fmt.Errorf("%s: emitted program is malformed: %w", f.Arch.Name, err)
	}
	return prog, nil
}

// span is a run of consecutive syscall numbers with one outcome.
type span struct {
	lo, hi uint32
	nr     uint32 // the number whose Syscall gives the outcome; only when checked
	act    Action // when not checked
	check  bool
}

// ranges cuts 0..2^32-1 into spans. Numbers without argument checks merge with
// their neighbours when the action is the same; checked numbers stand alone.
func (f *Filter) ranges() []span {
	var out []span
	add := func(s span) {
		if n := len(out); n > 0 && !s.check && !out[n-1].check && out[n-1].act == s.act && out[n-1].hi+1 == s.lo {
			out[n-1].hi = s.hi
			return
		}
		out = append(out, s)
	}
	for nr := uint32(0); nr <= f.MaxNr; nr++ {
		s, ok := f.Syscalls[nr]
		switch {
		case !ok:
			add(span{lo: nr, hi: nr, act: f.Default})
		case len(s.Checks) == 0:
			add(span{lo: nr, hi: nr, act: s.Action})
		default:
			add(span{lo: nr, hi: nr, nr: nr, check: true})
		}
	}
	add(span{lo: f.MaxNr + 1, hi: math.MaxUint32, act: f.Newer})
	return out
}

// search emits a balanced binary search over spans. The accumulator holds nr.
func (f *Filter) search(spans []span) ([]bpf.RawInstruction, error) {
	if len(spans) == 1 {
		return f.leaf(spans[0])
	}
	mid := len(spans) / 2
	left, err := f.search(spans[:mid])
	if err != nil {
		return nil, err
	}
	right, err := f.search(spans[mid:])
	if err != nil {
		return nil, err
	}
	pivot := spans[mid].lo
	var node []bpf.RawInstruction
	if len(left) <= math.MaxUint8 {
		node = []bpf.RawInstruction{jge(pivot, uint8(len(left)), 0)}
	} else {
		node = []bpf.RawInstruction{jge(pivot, 0, 1), ja(uint32(len(left)))}
	}
	return slices.Concat(node, left, right), nil
}

func (f *Filter) leaf(s span) ([]bpf.RawInstruction, error) {
	if !s.check {
		return []bpf.RawInstruction{ret(s.act)}, nil
	}
	sc := f.Syscalls[s.nr]
	var out []bpf.RawInstruction
	for i, c := range sc.Checks {
		block, err := checkBlock(c)
		if err != nil {
			return nil, fmt.Errorf("%s check %d: %w", sc.Name, i+1, err)
		}
		out = append(out, block...)
	}
	return append(out, ret(sc.Action)), nil
}

// checkBlock emits one argument check. It falls through when the check
// passes and returns c.Fail when it does not.
func checkBlock(c Check) ([]bpf.RawInstruction, error) {
	var b block
	pass, fail := b.label(), b.label()
	mask := c.effectiveMask()
	lo := uint32(offArgs + 8*c.Arg) // little-endian: low word first
	hi := lo + 4

	// compareWord tests the A register against vals: on a hit it goes to hit,
	// otherwise to miss.
	compareWord := func(vals []uint32, hit, miss label) {
		for i, v := range vals {
			if i == len(vals)-1 {
				b.jeq(v, hit, miss)
			} else {
				b.jeq(v, hit, next)
			}
		}
	}
	onMatch, onNoMatch := pass, fail
	if c.Op == NotIn {
		onMatch, onNoMatch = fail, pass
	}
	values := slices.Clone(c.Values)
	slices.Sort(values)
	values = slices.Compact(values)

	if c.Bits == 32 || mask>>32 == 0 {
		b.ld(lo, uint32(mask))
		compareWord(low(values), onMatch, onNoMatch)
	} else {
		// Group the values by their high word: test the high word once,
		// then the low words of that group.
		b.ld(hi, uint32(mask>>32))
		groups := groupByHigh(values)
		targets := make([]label, len(groups))
		for i := range groups {
			targets[i] = b.label()
		}
		for i, g := range groups {
			b.jeq(g.high, targets[i], next)
		}
		b.ja(onNoMatch)
		for i, g := range groups {
			b.mark(targets[i])
			b.ld(lo, uint32(mask))
			compareWord(g.lows, onMatch, onNoMatch)
		}
	}
	b.mark(fail)
	b.ret(c.Fail)
	b.mark(pass)
	return b.resolve()
}

type highGroup struct {
	high uint32
	lows []uint32
}

func groupByHigh(sorted []uint64) []highGroup {
	var gs []highGroup
	for _, v := range sorted {
		h := uint32(v >> 32)
		if n := len(gs); n > 0 && gs[n-1].high == h {
			gs[n-1].lows = append(gs[n-1].lows, uint32(v))
			continue
		}
		gs = append(gs, highGroup{high: h, lows: []uint32{uint32(v)}})
	}
	return gs
}

func low(vals []uint64) []uint32 {
	out := make([]uint32, len(vals))
	for i, v := range vals {
		out[i] = uint32(v)
	}
	return out
}

// block is a tiny forward-only assembler for argument checks.
type block struct {
	ins    []pending
	labels []int // label -> instruction index, -1 until marked
}

type label int

const next label = -1 // fall through to the following instruction

type pending struct {
	raw    bpf.RawInstruction
	jt, jf label // for conditional jumps
	to     label // for JA
	kind   int   // 0 plain, 1 conditional, 2 ja
}

func (b *block) label() label { b.labels = append(b.labels, -1); return label(len(b.labels) - 1) }
func (b *block) mark(l label) { b.labels[l] = len(b.ins) }

func (b *block) ld(off, mask uint32) {
	b.ins = append(b.ins, pending{raw: ldAbs(off)})
	if mask != math.MaxUint32 {
		b.ins = append(b.ins, pending{raw: bpf.RawInstruction{Op: clsALU | aluAND | srcK, K: mask}})
	}
}
func (b *block) jeq(k uint32, t, f label) {
	b.ins = append(b.ins, pending{raw: bpf.RawInstruction{Op: clsJMP | jmpJEQ | srcK, K: k}, jt: t, jf: f, kind: 1})
}
func (b *block) ja(to label)    { b.ins = append(b.ins, pending{raw: ja(0), to: to, kind: 2}) }
func (b *block) ret(act Action) { b.ins = append(b.ins, pending{raw: ret(act)}) }

func (b *block) resolve() ([]bpf.RawInstruction, error) {
	off := func(pc int, l label) (int, error) {
		if l == next {
			return 0, nil
		}
		t := b.labels[l]
		if t < 0 {
			return 0, fmt.Errorf("internal: unmarked label")
		}
		// A label marked at the very end means "after this block": the
		// caller appends the next piece there.
		return t - (pc + 1), nil
	}
	out := make([]bpf.RawInstruction, len(b.ins))
	for pc, p := range b.ins {
		out[pc] = p.raw
		switch p.kind {
		case 1:
			jt, err := off(pc, p.jt)
			if err != nil {
				return nil, err
			}
			jf, err := off(pc, p.jf)
			if err != nil {
				return nil, err
			}
			if jt < 0 || jf < 0 || jt > math.MaxUint8 || jf > math.MaxUint8 {
				return nil, fmt.Errorf("argument check too long for a jump (%d, %d)", jt, jf)
			}
			out[pc].Jt, out[pc].Jf = uint8(jt), uint8(jf)
		case 2:
			k, err := off(pc, p.to)
			if err != nil {
				return nil, err
			}
			out[pc].K = uint32(k)
		}
	}
	return out, nil
}

func ldAbs(off uint32) bpf.RawInstruction {
	return bpf.RawInstruction{Op: clsLD | szW | modeABS, K: off}
}
func jeq(k uint32, t, f uint8) bpf.RawInstruction {
	return bpf.RawInstruction{Op: clsJMP | jmpJEQ | srcK, Jt: t, Jf: f, K: k}
}
func jge(k uint32, t, f uint8) bpf.RawInstruction {
	return bpf.RawInstruction{Op: clsJMP | jmpJGE | srcK, Jt: t, Jf: f, K: k}
}
func jset(k uint32, t, f uint8) bpf.RawInstruction {
	return bpf.RawInstruction{Op: clsJMP | jmpJSET | srcK, Jt: t, Jf: f, K: k}
}
func ja(k uint32) bpf.RawInstruction  { return bpf.RawInstruction{Op: clsJMP | jmpJA, K: k} }
func ret(a Action) bpf.RawInstruction { return bpf.RawInstruction{Op: clsRET | retK, K: uint32(a)} }
