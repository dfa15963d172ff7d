package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Classic BPF opcode parts (linux/filter.h).
const (
	clsLD, clsLDX, clsST, clsSTX, clsALU, clsJMP, clsRET, clsMISC = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
	szW                                                           = 0x00
	modeIMM, modeABS, modeMEM, modeLEN                            = 0x00, 0x20, 0x60, 0x80
	srcK, srcX                                                    = 0x00, 0x08
	jmpJA, jmpJEQ, jmpJGT, jmpJGE, jmpJSET                        = 0x00, 0x10, 0x20, 0x30, 0x40
	aluADD, aluSUB, aluMUL, aluDIV, aluOR, aluAND, aluLSH, aluRSH = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70
	aluNEG, aluMOD, aluXOR                                        = 0x80, 0x90, 0xa0
	retK, retA                                                    = 0x00, 0x10
	miscTAX, miscTXA                                              = 0x00, 0x80

	seccompDataSize = 64
	maxInsns        = 4096 // BPF_MAXINSNS
)

func class(op uint16) uint16 { return op & 0x07 }

// Marshal encodes a program as the kernel's struct sock_filter array.
func Marshal(prog []bpf.RawInstruction) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = binary.LittleEndian.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return b
}

// Unmarshal decodes a sock_filter array and checks it as the kernel would.
func Unmarshal(b []byte) ([]bpf.RawInstruction, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("program is %d bytes, not a whole number of 8-byte instructions", len(b))
	}
	prog := make([]bpf.RawInstruction, len(b)/8)
	for i := range prog {
		w := b[8*i:]
		prog[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(w), Jt: w[2], Jf: w[3], K: binary.LittleEndian.Uint32(w[4:])}
	}
	return prog, Verify(prog)
}

// Verify applies the static rules the kernel enforces on a seccomp program
// (bpf_check_classic and seccomp_check_filter), so a broken program is refused
// here with a reason rather than by the kernel with EINVAL.
func Verify(prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > maxInsns {
		return fmt.Errorf("program has %d instructions; the kernel accepts 1..%d", len(prog), maxInsns)
	}
	for pc, in := range prog {
		bad := func(why string) error { return fmt.Errorf("instruction %d (%#04x): %s", pc, in.Op, why) }
		switch class(in.Op) {
		case clsLD:
			switch in.Op {
			case clsLD | szW | modeABS:
				if in.K%4 != 0 || in.K >= seccompDataSize {
					return bad("load outside seccomp_data or unaligned")
				}
			case clsLD | szW | modeLEN, clsLD | modeIMM, clsLD | modeMEM:
			default:
				return bad("load mode not allowed in seccomp")
			}
		case clsLDX:
			switch in.Op {
			case clsLDX | szW | modeLEN, clsLDX | modeIMM, clsLDX | modeMEM:
			default:
				return bad("load mode not allowed in seccomp")
			}
		case clsST, clsSTX:
		case clsALU:
			if op := in.Op & 0xf0; (op == aluDIV || op == aluMOD) && in.Op&srcX == 0 && in.K == 0 {
				return bad("division by constant zero")
			}
		case clsJMP:
			next := pc + 1
			if in.Op&0xf0 == jmpJA {
				if uint64(next)+uint64(in.K) >= uint64(len(prog)) {
					return bad("jump past the end")
				}
				continue
			}
			if next+int(in.Jt) >= len(prog) || next+int(in.Jf) >= len(prog) {
				return bad("jump past the end")
			}
		case clsRET:
		case clsMISC:
		}
		if (in.Op&0xff == clsST || in.Op&0xff == clsSTX || in.Op == clsLD|modeMEM || in.Op == clsLDX|modeMEM) && in.K >= 16 {
			return bad("scratch memory index out of range")
		}
	}
	if class(prog[len(prog)-1].Op) != clsRET {
		return errors.New("program does not end with a return")
	}
	return nil
}

// Run interprets a program on one input with seccomp's semantics (loads read
// seccomp_data in the native little-endian layout). It returns the action and
// the number of instructions executed.
func Run(prog []bpf.RawInstruction, d Data) (Action, int, error) {
	var buf [seccompDataSize]byte
	binary.LittleEndian.PutUint32(buf[0:], d.Nr)
	binary.LittleEndian.PutUint32(buf[4:], d.Arch)
	binary.LittleEndian.PutUint64(buf[8:], d.IP)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(buf[16+8*i:], a)
	}
	var a, x uint32
	var mem [16]uint32
	steps := 0
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		steps++
		switch class(in.Op) {
		case clsLD, clsLDX:
			var v uint32
			switch in.Op &^ 0x07 {
			case szW | modeABS:
				if in.K%4 != 0 || in.K >= seccompDataSize {
					return 0, steps, fmt.Errorf("pc %d: bad load offset %d", pc, in.K)
				}
				v = binary.LittleEndian.Uint32(buf[in.K:])
			case szW | modeLEN:
				v = seccompDataSize
			case modeIMM:
				v = in.K
			case modeMEM:
				v = mem[in.K&15]
			default:
				return 0, steps, fmt.Errorf("pc %d: unsupported load %#x", pc, in.Op)
			}
			if class(in.Op) == clsLD {
				a = v
			} else {
				x = v
			}
		case clsST:
			mem[in.K&15] = a
		case clsSTX:
			mem[in.K&15] = x
		case clsALU:
			operand := in.K
			if in.Op&srcX != 0 {
				operand = x
			}
			switch in.Op & 0xf0 {
			case aluADD:
				a += operand
			case aluSUB:
				a -= operand
			case aluMUL:
				a *= operand
			case aluDIV:
				if operand == 0 {
					return 0, steps, nil // the kernel returns 0 (kill) on division by zero
				}
				a /= operand
			case aluMOD:
				if operand == 0 {
					return 0, steps, nil
				}
				a %= operand
			case aluOR:
				a |= operand
			case aluAND:
				a &= operand
			case aluXOR:
				a ^= operand
			case aluLSH:
				a <<= operand & 31
			case aluRSH:
				a >>= operand & 31
			case aluNEG:
				a = -a
			default:
				return 0, steps, fmt.Errorf("pc %d: unsupported alu %#x", pc, in.Op)
			}
		case clsJMP:
			if in.Op&0xf0 == jmpJA {
				pc += int(in.K)
				continue
			}
			operand := in.K
			if in.Op&srcX != 0 {
				operand = x
			}
			var taken bool
			switch in.Op & 0xf0 {
			case jmpJEQ:
				taken = a == operand
			case jmpJGT:
				taken = a > operand
			case jmpJGE:
				taken = a >= operand
			case jmpJSET:
				taken = a&operand != 0
			default:
				return 0, steps, fmt.Errorf("pc %d: unsupported jump %#x", pc, in.Op)
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case clsRET:
			if in.Op&0x18 == retA {
				return Action(a), steps, nil
			}
			return Action(in.K), steps, nil
		case clsMISC:
			if in.Op&0xf8 == miscTAX {
				x = a
			} else {
				a = x
			}
		}
	}
	return 0, steps, errors.New("ran off the end of the program")
}

// ConstAllow emulates the kernel's seccomp_is_const_allow: it reports whether
// the kernel's action cache will allow (arch, nr) without running the program
// at all. Only loads of nr and arch, constant jumps, AND with a constant and
// returns are understood; anything else on the path makes the call uncached.
func ConstAllow(prog []bpf.RawInstruction, arch, nr uint32) bool {
	a, ok := constAction(prog, arch, nr)
	return ok && a == Allow
}

// constAction is ConstAllow's walk: the action every call (arch, nr) gets
// whatever its arguments, when the path to it reads nothing else.
func constAction(prog []bpf.RawInstruction, arch, nr uint32) (Action, bool) {
	var reg uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Op {
		case clsLD | szW | modeABS:
			switch in.K {
			case 0:
				reg = nr
			case 4:
				reg = arch
			default:
				return 0, false
			}
		case clsRET | retK:
			return Action(in.K), true
		case clsJMP | jmpJA:
			pc += int(in.K)
		case clsJMP | jmpJEQ | srcK, clsJMP | jmpJGE | srcK, clsJMP | jmpJGT | srcK, clsJMP | jmpJSET | srcK:
			var taken bool
			switch in.Op & 0xf0 {
			case jmpJEQ:
				taken = reg == in.K
			case jmpJGE:
				taken = reg >= in.K
			case jmpJGT:
				taken = reg > in.K
			case jmpJSET:
				taken = reg&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case clsALU | aluAND | srcK:
			reg &= in.K
		default:
			return 0, false
		}
	}
	return 0, false
}

// LongestPath is the worst-case number of instructions any input executes.
// Programs only jump forward, so it is a longest path in a DAG.
func LongestPath(prog []bpf.RawInstruction) int {
	longest := make([]int, len(prog)+1) // longest[pc]: instructions from pc to a return
	for pc := len(prog) - 1; pc >= 0; pc-- {
		in := prog[pc]
		next := func(off int) int {
			if t := pc + 1 + off; t < len(prog) {
				return longest[t]
			}
			return 0
		}
		switch {
		case class(in.Op) == clsRET:
			longest[pc] = 1
		case class(in.Op) == clsJMP && in.Op&0xf0 == jmpJA:
			longest[pc] = 1 + next(int(in.K))
		case class(in.Op) == clsJMP:
			longest[pc] = 1 + max(next(int(in.Jt)), next(int(in.Jf)))
		default:
			longest[pc] = 1 + next(0)
		}
	}
	return longest[0]
}
