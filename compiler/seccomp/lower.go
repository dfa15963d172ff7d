package seccomp

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// Spec is a policy's syscall section once groups and argument names are
// resolved: what is allowed, under which checks, and how the rest fails.
type Spec struct {
	// Allowed maps a syscall name to the checks guarding it (none: allowed
	// outright). A check whose Fail is zero fails with Deny.
	Allowed map[string][]Check
	// Deny answers every syscall that is not allowed.
	Deny Action
	// Audit turns every decision that would block into Log: the program
	// reports what enforcement would do and lets the call run.
	Audit bool
}

// Lower builds the filter for one architecture. It also adds what every
// Paddock program holds regardless of policy:
//
//   - calls through another ABI are killed (logged in audit mode);
//   - x32 numbers, numbers newer than the catalogue and clone3 get ENOSYS,
//     which libc treats as "not implemented, fall back" (clone3 passes its
//     flags behind a pointer no filter can read; glibc falls back to clone,
//     whose flags the policy can check);
//   - seccomp() cannot create a user-notification listener, so nothing inside
//     a sandbox can make itself a supervisor of its own children's syscalls.
func Lower(spec Spec, arch *Arch) (*Filter, error) {
	maxNr := syscalls.MaxNumber(arch.Name)
	if maxNr < 0 {
		return nil, fmt.Errorf("no syscall table for %s", arch.Name)
	}
	block := func(a Action) Action {
		if spec.Audit && a.Blocks() {
			return Log
		}
		return a
	}
	f := &Filter{
		Arch:     arch,
		BadArch:  block(KillProcess),
		X32:      Errno(unix.ENOSYS),
		MaxNr:    uint32(maxNr),
		Newer:    Errno(unix.ENOSYS),
		Default:  block(spec.Deny),
		Syscalls: map[uint32]Syscall{},
	}
	names := make([]string, 0, len(spec.Allowed))
	for name := range spec.Allowed {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic output
	for _, name := range names {
		nr, ok := syscalls.Number(arch.Name, name)
		if !ok {
			continue // the syscall does not exist on this architecture
		}
		var checks []Check
		if name == "seccomp" {
			checks = append(checks, noNewListener)
		}
		for _, c := range spec.Allowed[name] {
			if c.Fail == 0 {
				c.Fail = spec.Deny
			}
			checks = append(checks, c)
		}
		for i := range checks {
			checks[i].Fail = block(checks[i].Fail)
		}
		f.Syscalls[uint32(nr)] = Syscall{Name: name, Action: Allow, Checks: checks}
	}
	if nr, ok := syscalls.Number(arch.Name, "clone3"); ok {
		f.Syscalls[uint32(nr)] = Syscall{Name: "clone3", Action: Errno(unix.ENOSYS)}
	}
	return f, f.Validate()
}

// noNewListener refuses seccomp(SECCOMP_SET_MODE_FILTER) with the
// NEW_LISTENER flag; every other use of seccomp() keeps working.
var noNewListener = Check{
	Arg:    1, // flags
	Bits:   32,
	Mask:   unix.SECCOMP_FILTER_FLAG_NEW_LISTENER,
	Op:     In,
	Values: []uint64{0},
	Fail:   Errno(unix.EPERM),
}
