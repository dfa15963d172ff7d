package seccomp

import (
	"fmt"
	"slices"
)

// Filter is the decision table of one program for one architecture.
type Filter struct {
	Arch *Arch
	// BadArch answers calls made through any other architecture's ABI.
	BadArch Action
	// X32 answers x86_64 calls with the x32 bit set.
	X32 Action
	// MaxNr is the highest number the policy knows. Newer numbers get Newer,
	// so a libc probing a syscall this policy predates falls back cleanly.
	MaxNr uint32
	Newer Action
	// Default answers known numbers that have no entry in Syscalls.
	Default Action
	// Syscalls maps a number to its outcome.
	Syscalls map[uint32]Syscall
}

// Syscall is the outcome of one syscall number: Action once every check has
// passed. Checks run in order; the first that fails decides.
type Syscall struct {
	Name   string // for listings and messages only
	Action Action
	Checks []Check
}

// Op says how a Check compares an argument with its values.
type Op uint8

const (
	In    Op = iota + 1 // passes when the masked argument equals one of Values
	NotIn               // passes when it equals none of them
)

func (o Op) String() string {
	switch o {
	case In:
		return "in"
	case NotIn:
		return "not in"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Check is one argument condition.
type Check struct {
	Arg    int    // 0..5
	Bits   int    // 32 or 64: a 32-bit argument is compared on its low word only, as the kernel reads it
	Mask   uint64 // applied before comparing; all ones when the rule names none
	Op     Op
	Values []uint64
	Fail   Action // the outcome when the check does not pass
}

// MaxValues bounds the values of one check so every jump of its block fits
// classic BPF's 8-bit offsets.
const MaxValues = 200

// Data is the seccomp_data the kernel hands a filter.
type Data struct {
	Nr   uint32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

// Decide is the meaning of the filter, written as plainly as possible. The
// emitted program must agree with it on every input.
func (f *Filter) Decide(d Data) Action {
	if d.Arch != f.Arch.AuditArch {
		return f.BadArch
	}
	if f.Arch.X32Bit != 0 && d.Nr&f.Arch.X32Bit != 0 {
		return f.X32
	}
	if d.Nr > f.MaxNr {
		return f.Newer
	}
	s, ok := f.Syscalls[d.Nr]
	if !ok {
		return f.Default
	}
	for _, c := range s.Checks {
		if !c.Passes(d.Args[c.Arg]) {
			return c.Fail
		}
	}
	return s.Action
}

// Passes reports whether an argument value satisfies the check.
func (c Check) Passes(arg uint64) bool {
	v := arg & c.effectiveMask()
	found := slices.Contains(c.Values, v)
	return found == (c.Op == In)
}

func (c Check) effectiveMask() uint64 {
	if c.Bits == 32 {
		return c.Mask & 0xffffffff
	}
	return c.Mask
}

// Validate reports the first malformed part of the filter.
func (f *Filter) Validate() error {
	if f.Arch == nil {
		return fmt.Errorf("filter has no architecture")
	}
	if f.Arch.X32Bit != 0 && f.MaxNr >= f.Arch.X32Bit {
		return fmt.Errorf("%s: highest syscall number %d overlaps the x32 bit", f.Arch.Name, f.MaxNr)
	}
	for nr, s := range f.Syscalls {
		if nr > f.MaxNr {
			return fmt.Errorf("%s: syscall %s (%d) is above the highest known number %d", f.Arch.Name, s.Name, nr, f.MaxNr)
		}
		for i, c := range s.Checks {
			if err := c.validate(); err != nil {
				return fmt.Errorf("%s: %s check %d: %w", f.Arch.Name, s.Name, i+1, err)
			}
		}
	}
	return nil
}

func (c Check) validate() error {
	switch {
	case c.Arg < 0 || c.Arg > 5:
		return fmt.Errorf("argument index %d is not 0..5", c.Arg)
	case c.Bits != 32 && c.Bits != 64:
		return fmt.Errorf("argument width %d is not 32 or 64", c.Bits)
	case c.Op != In && c.Op != NotIn:
		return fmt.Errorf("unknown comparison %v", c.Op)
	case len(c.Values) == 0:
		return fmt.Errorf("no values to compare with")
	case len(c.Values) > MaxValues:
		return fmt.Errorf("%d values; at most %d fit one check", len(c.Values), MaxValues)
	}
	m := c.effectiveMask()
	for _, v := range c.Values {
		if v&^m != 0 {
			return fmt.Errorf("value %#x has bits outside the mask %#x, so it can never match", v, m)
		}
	}
	return nil
}
