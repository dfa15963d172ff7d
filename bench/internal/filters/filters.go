// Package filters builds the seccomp programs the benchmarks compare:
// Paddock's layout (compiler/seccomp: a balanced search on the syscall
// number, argument checks only on the paths of the syscalls that have
// them) and elastic/go-seccomp-bpf's linear layout of the same rules, plus
// the one-instruction program that allows everything, the floor any filter
// costs.
package filters

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/seccomp"
)

// Both assembles spec for arch in Paddock's layout and in go-seccomp-bpf's
// linear one. The linear program is for the architecture this binary runs
// on (the library's only target). A linear program the kernel would refuse
// (over 4096 instructions) is still returned; the caller decides.
func Both(spec seccomp.Spec, arch *seccomp.Arch) (paddock, linear []bpf.RawInstruction, err error) {
	f, err := seccomp.Lower(spec, arch)
	if err != nil {
		return nil, nil, err
	}
	if paddock, err = f.Assemble(); err != nil {
		return nil, nil, err
	}
	if linear, err = seccomp.Reference(spec); err != nil {
		return nil, nil, err
	}
	return paddock, linear, nil
}

// MaxInsns is the most instructions the kernel accepts in one program.
const MaxInsns = 4096

// Floor is the smallest program: allow every call. Installing it costs a
// task the slow syscall entry and the action cache's lookup, and nothing
// else: the floor every seccomp filter pays.
func Floor() []bpf.RawInstruction {
	return []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
}

// SpecOf is the spec a bundle's programs were emitted from: its allowed
// syscalls, each guarded by its restrictions, and its errno for the rest.
func SpecOf(b *bundle.Bundle) (seccomp.Spec, error) {
	s := &b.Syscalls
	errno, ok := errnoByName(s.Errno)
	if !ok {
		return seccomp.Spec{}, fmt.Errorf("unknown errno %q", s.Errno)
	}
	spec := seccomp.Spec{Allowed: map[string][]seccomp.Check{}, Deny: seccomp.Errno(errno), Audit: b.Metadata.Mode == bundle.ModeAudit}
	for _, r := range s.Allowed {
		spec.Allowed[r.Name] = nil
	}
	for _, r := range s.Restrictions {
		if _, ok := spec.Allowed[r.Syscall]; !ok {
			return seccomp.Spec{}, fmt.Errorf("restriction on %s, which the bundle does not allow", r.Syscall)
		}
		spec.Allowed[r.Syscall] = append(spec.Allowed[r.Syscall], r.Check())
	}
	return spec, nil
}

func errnoByName(name string) (unix.Errno, bool) {
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}

// flagBits are the flag bits a syscall's masked argument may carry beside
// the masked part, for the syscalls whose restrictions compare a masked
// value: socket's and socketpair's type holds SOCK_NONBLOCK and
// SOCK_CLOEXEC beside the type, and the kernel refuses any other bit.
var flagBits = map[string]uint64{
	"socket":     unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC,
	"socketpair": unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC,
}

// Linearizable rewrites spec into one go-seccomp-bpf can assemble, changing
// which calls are allowed nowhere and the errno of a refusal only:
//
//   - every check fails with the spec's Deny (the library returns one errno
//     for every refusal), and Deny becomes EPERM if it is not (the
//     library's only errno);
//   - a masked comparison other than "these bits clear" becomes an equality
//     on the whole argument, listing every value the mask would pass with
//     the flag bits the kernel accepts for that argument (socket's type
//     with SOCK_NONBLOCK and SOCK_CLOEXEC). The library can neither mask
//     nor compare part of an argument.
//
// It returns the rewritten spec and a note per rewrite, for the report.
func Linearizable(spec seccomp.Spec) (seccomp.Spec, []string, error) {
	out := seccomp.Spec{Allowed: map[string][]seccomp.Check{}, Deny: seccomp.Errno(unix.EPERM), Audit: spec.Audit}
	var notes []string
	if spec.Deny != out.Deny {
		notes = append(notes, fmt.Sprintf("refusals return EPERM, not %v", spec.Deny))
	}
	names := make([]string, 0, len(spec.Allowed))
	for n := range spec.Allowed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		var checks []seccomp.Check
		for _, c := range spec.Allowed[name] {
			if c.Fail != 0 && c.Fail != spec.Deny && c.Fail != out.Deny {
				notes = append(notes, fmt.Sprintf("%s: argument %d refused with EPERM, not %v", name, c.Arg, c.Fail))
			}
			c.Fail = 0
			full := c.Mask == math.MaxUint64 || c.Bits == 32 && uint32(c.Mask) == math.MaxUint32
			clear := c.Op == seccomp.In && len(c.Values) == 1 && c.Values[0] == 0
			if !full && !clear {
				extra, ok := flagBits[name]
				if !ok || c.Op != seccomp.In {
					return seccomp.Spec{}, nil, fmt.Errorf("%s: masked comparison %#x %v %v has no equivalent without a mask", name, c.Mask, c.Op, c.Values)
				}
				var vals []uint64
				for _, v := range c.Values {
					for _, f := range subsets(extra) {
						vals = append(vals, v|f)
					}
				}
				slices.Sort(vals)
				notes = append(notes, fmt.Sprintf("%s: argument %d masked with %#x, listed as %d whole values (with %#x's bits)", name, c.Arg, c.Mask, len(vals), extra))
				c.Mask, c.Values = math.MaxUint64, vals
				if c.Bits == 32 {
					c.Mask = math.MaxUint32
				}
			}
			checks = append(checks, c)
		}
		out.Allowed[name] = checks
	}
	return out, notes, nil
}

// subsets lists every combination of bits's set bits, 0 first.
func subsets(bits uint64) []uint64 {
	out := []uint64{0}
	for b := uint64(1); b != 0; b <<= 1 {
		if bits&b == 0 {
			continue
		}
		for _, s := range slices.Clone(out) {
			out = append(out, s|b)
		}
	}
	return out
}
