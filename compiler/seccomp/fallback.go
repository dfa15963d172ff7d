package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// Fallbacks are the calls every Paddock program answers with ENOSYS so that
// libc falls back to an older call (clone3 to clone). They are not denials,
// yet a program loaded with SECCOMP_FILTER_FLAG_LOG logs every ERRNO it
// returns, ENOSYS or not (the kernel clears the errno in the record).
var Fallbacks = []string{"clone3"}

// SplitFallbacks separates a program's fallback answers from its decisions,
// so that the decisions can be loaded with SECCOMP_FILTER_FLAG_LOG and the
// fallbacks without it. quiet answers the fallback calls with ENOSYS and
// allows everything else; logged is prog with the fallback calls allowed.
// Installed together, in either order, they decide every call as prog does:
// the kernel takes the action of highest precedence, and ERRNO outranks
// ALLOW. Install quiet first anyway: then prog's seccomp() rule cannot keep
// it out.
//
// When prog does not answer a fallback call with ENOSYS whatever its
// arguments, that call stays in logged; when none does, quiet is nil and
// logged is prog.
func SplitFallbacks(prog []bpf.RawInstruction, arch *Arch) (logged, quiet []bpf.RawInstruction, err error) {
	var nrs []uint32
	f := &Filter{Arch: arch, BadArch: Allow, X32: Allow, Newer: Allow, Default: Allow, Syscalls: map[uint32]Syscall{}}
	if m := syscalls.MaxNumber(arch.Name); m > 0 {
		f.MaxNr = uint32(m)
	}
	for _, name := range Fallbacks {
		nr, ok := syscalls.Number(arch.Name, name)
		if !ok {
			continue
		}
		if a, ok := constAction(prog, arch.AuditArch, uint32(nr)); !ok || a != Errno(unix.ENOSYS) {
			continue
		}
		nrs = append(nrs, uint32(nr))
		f.Syscalls[uint32(nr)] = Syscall{Name: name, Action: Errno(unix.ENOSYS)}
		f.MaxNr = max(f.MaxNr, uint32(nr))
	}
	if len(nrs) == 0 {
		return prog, nil, nil
	}
	if quiet, err = f.Assemble(); err != nil {
		return nil, nil, err
	}
	// A prefix allows the fallback calls of the native architecture and
	// falls through to prog, untouched, for everything else:
	//
	//	ld arch; jeq native ? next : prog; ld nr;
	//	jeq nr_i ? allow : next (each i); ja prog; allow: ret ALLOW; prog: ...
	//
	// Only constant loads, jumps and returns: calls the kernel's action
	// cache could prove allowed stay provable.
	k := len(nrs)
	pre := []bpf.RawInstruction{ldAbs(offArch), jeq(arch.AuditArch, 0, uint8(k+3)), ldAbs(offNr)}
	for i, nr := range nrs {
		pre = append(pre, jeq(nr, uint8(k-i), 0))
	}
	pre = append(pre, ja(1), ret(Allow))
	logged = append(pre, prog...)
	if len(logged) > maxInsns {
		return nil, nil, fmt.Errorf("%s: the program with its fallbacks split off has %d instructions, more than %d", arch.Name, len(logged), maxInsns)
	}
	if err := Verify(logged); err != nil {
		return nil, nil, fmt.Errorf("%s: splitting the fallbacks off: %w", arch.Name, err)
	}
	return logged, quiet, nil
}
