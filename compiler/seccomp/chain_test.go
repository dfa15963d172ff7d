package seccomp

import (
	"math/rand"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestChain: on every input, the chained program returns what the two
// programs installed separately would: the first's action where it does
// not allow, the second's where it does.
func TestChain(t *testing.T) {
	arch, err := NativeArch()
	if err != nil {
		t.Skip(err)
	}
	policy := &Filter{Arch: arch, BadArch: KillProcess, X32: KillProcess, Newer: Errno(unix.ENOSYS), Default: Errno(unix.EPERM), MaxNr: 500,
		Syscalls: map[uint32]Syscall{
			0: {Name: "a", Action: Allow},
			1: {Name: "b", Action: Allow, Checks: []Check{{Arg: 0, Bits: 32, Mask: 0xffffffff, Op: In, Values: []uint64{1, 2, 3}, Fail: Errno(unix.EACCES)}}},
			2: {Name: "c", Action: Allow},
			7: {Name: "d", Action: Allow},
		}}
	allowlist := &Filter{Arch: arch, BadArch: Allow, X32: Allow, Newer: Allow, Default: Allow, MaxNr: 500,
		Syscalls: map[uint32]Syscall{
			2: {Name: "c", Action: Allow, Checks: []Check{{Arg: 1, Bits: 32, Mask: 0xffffffff, Op: In, Values: []uint64{0, 9}, Fail: Errno(unix.EAFNOSUPPORT)}}},
			3: {Name: "e", Action: Errno(unix.EPERM)},
		}}
	first, err := policy.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	then, err := allowlist.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	both, err := Chain(first, then)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		d := Data{Nr: uint32(rng.Intn(10)), Arch: arch.AuditArch}
		if rng.Intn(50) == 0 {
			d.Arch = 0x1234
		}
		if rng.Intn(50) == 0 {
			d.Nr = 0x40000000 | d.Nr
		}
		for j := range d.Args {
			d.Args[j] = uint64(rng.Intn(12))
		}
		a1, _, err := Run(first, d)
		if err != nil {
			t.Fatal(err)
		}
		a2, _, err := Run(then, d)
		if err != nil {
			t.Fatal(err)
		}
		want := a1
		if a1 == Allow {
			want = a2
		}
		got, _, err := Run(both, d)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%+v: chained %#x, separately %#x then %#x", d, got, a1, a2)
		}
	}
	if _, err := Chain(first, make([]bpf.RawInstruction, maxInsns)); err == nil {
		t.Error("a chain over the kernel's limit was accepted")
	}
}
