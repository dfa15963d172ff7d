package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Chain joins two programs into one that decides as the two installed as
// separate filters would, up to which denial is reported when both deny:
// first runs, and where it would allow, then decides; where first returns
// anything else, that stands. One program instead of two matters on the
// hot path: for a syscall the kernel's action cache cannot skip, it runs
// every filter of the task, at a fixed cost each beside the instructions.
//
// Every RET ALLOW of first becomes a jump to then's start. A program that
// returns the accumulator, whose action is known only at run time, is
// refused.
func Chain(first, then []bpf.RawInstruction) ([]bpf.RawInstruction, error) {
	if err := Verify(first); err != nil {
		return nil, fmt.Errorf("chain: first program: %w", err)
	}
	if err := Verify(then); err != nil {
		return nil, fmt.Errorf("chain: second program: %w", err)
	}
	if len(first)+len(then) > maxInsns {
		return nil, fmt.Errorf("chain: %d instructions, over the kernel's %d", len(first)+len(then), maxInsns)
	}
	out := make([]bpf.RawInstruction, 0, len(first)+len(then))
	for i, in := range first {
		if class(in.Op) == clsRET {
			if in.Op&0x18 != retK {
				return nil, fmt.Errorf("chain: instruction %d returns the accumulator", i)
			}
			if Action(in.K) == Allow {
				in = bpf.RawInstruction{Op: clsJMP | jmpJA, K: uint32(len(first) - i - 1)}
			}
		}
		out = append(out, in)
	}
	out = append(out, then...)
	if err := Verify(out); err != nil {
		return nil, fmt.Errorf("chain: %w", err)
	}
	return out, nil
}
