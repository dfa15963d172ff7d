package seccomp

import (
	"slices"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// SyntheticSpec is an allowlist of n rules over the syscalls arch knows, for
// measuring how programs grow with policy size. Without args, a rule is one
// syscall allowed outright (n is capped at the number of syscalls). With
// args, a rule is one allowed value of a syscall's first argument; past one
// rule per syscall, further rules add values to the same syscalls, which is
// how a large argument policy looks (and how a linear layout ORs them).
//
// The syscalls named in except get no rule, so a caller can add rules of
// its own for them (a benchmark's own calls, say) without the synthetic
// ones interfering.
func SyntheticSpec(arch *Arch, n int, args bool, except ...string) Spec {
	var names []string
	all, _ := syscalls.Expand("@known")
	for _, name := range all {
		if _, ok := syscalls.Number(arch.Name, name); ok && name != "clone3" && name != "seccomp" && !slices.Contains(except, name) {
			names = append(names, name)
		}
	}
	spec := Spec{Allowed: map[string][]Check{}, Deny: Errno(unix.EPERM)}
	for i := 0; i < n; i++ {
		name := names[i%len(names)]
		if !args {
			if i >= len(names) {
				break
			}
			spec.Allowed[name] = nil
			continue
		}
		checks := spec.Allowed[name]
		if len(checks) == 0 {
			checks = []Check{{Arg: 0, Bits: 32, Mask: 0xffffffff, Op: In}}
		}
		checks[0].Values = append(checks[0].Values, uint64(i))
		spec.Allowed[name] = checks
	}
	return spec
}
