package seccomp

import (
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// stacked is what the kernel returns for a call under several filters:
// the action of highest precedence (lowest SECCOMP_RET_ACTION_FULL, signed),
// and on a tie the most recently installed filter's. progs are in install
// order; it also says which program won.
func stacked(t *testing.T, d Data, progs ...[]bpf.RawInstruction) (Action, int) {
	t.Helper()
	var best Action
	won := -1
	for i := len(progs) - 1; i >= 0; i-- {
		a, _, err := Run(progs[i], d)
		if err != nil {
			t.Fatal(err)
		}
		if won < 0 || int32(uint32(a)&retAction) < int32(uint32(best)&retAction) {
			best, won = a, i
		}
	}
	return best, won
}

// TestSplitFallbacks: quiet then logged decide every input as the program
// did; only clone3's ENOSYS comes from quiet, every other answer from
// logged (whose flag decides what is logged); allowed calls stay provable
// for the action cache.
func TestSplitFallbacks(t *testing.T) {
	for _, audit := range []bool{false, true} {
		spec := testSpec(t)
		spec.Audit = audit
		for arch, f := range lowerAll(t, spec) {
			prog, err := f.Assemble()
			if err != nil {
				t.Fatal(err)
			}
			logged, quiet, err := SplitFallbacks(prog, arch)
			if err != nil || quiet == nil {
				t.Fatalf("%s: %v (quiet %d instructions)", arch.Name, err, len(quiet))
			}
			clone3, _ := syscalls.Number(arch.Name, "clone3")
			for _, d := range inputs(f) {
				want, _, _ := Run(prog, d)
				got, won := stacked(t, d, quiet, logged)
				if got != want {
					t.Fatalf("%s audit=%v nr=%d arch=%#x: split answers %v, the program %v", arch.Name, audit, d.Nr, d.Arch, got, want)
				}
				fallback := d.Arch == arch.AuditArch && d.Nr == uint32(clone3)
				if fallback != (won == 0 && got != Allow) {
					t.Fatalf("%s nr=%d arch=%#x: answered %v by program %d", arch.Name, d.Nr, d.Arch, got, won)
				}
			}
			for nr := uint32(0); nr <= f.MaxNr; nr++ {
				if ConstAllow(prog, arch.AuditArch, nr) && !(ConstAllow(logged, arch.AuditArch, nr) && ConstAllow(quiet, arch.AuditArch, nr)) {
					t.Fatalf("%s: nr %d lost the action cache", arch.Name, nr)
				}
			}
		}
	}
}

func TestSplitFallbacksLeavesOtherPrograms(t *testing.T) {
	// A program that allows clone3 (not one of ours) has nothing to split.
	f := &Filter{Arch: X86_64, BadArch: KillProcess, X32: Errno(unix.ENOSYS), MaxNr: uint32(syscalls.MaxNumber("x86_64")), Newer: Errno(unix.ENOSYS), Default: Allow, Syscalls: map[uint32]Syscall{}}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	logged, quiet, err := SplitFallbacks(prog, X86_64)
	if err != nil || quiet != nil || len(logged) != len(prog) {
		t.Fatalf("got %d and %d instructions, %v", len(logged), len(quiet), err)
	}
}
