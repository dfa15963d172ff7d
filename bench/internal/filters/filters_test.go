package filters

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

func defaultSpec(t *testing.T) (seccomp.Spec, []byte) {
	t.Helper()
	b, _, _, err := policy.Open("builtin:default", nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := SpecOf(b)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := b.Syscalls.ProgramFor(seccomp.X86_64.Name)
	if !ok {
		t.Fatal("no x86_64 program")
	}
	return spec, p.Code
}

// The spec rebuilt from a bundle lowers to the bundle's own program, so
// what bench/syscall assembles linearly is the same policy.
func TestSpecOfRebuildsTheBundlesProgram(t *testing.T) {
	spec, code := defaultSpec(t)
	f, err := seccomp.Lower(spec, seccomp.X86_64)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seccomp.Marshal(prog), code) {
		t.Fatal("the rebuilt spec assembles to another program than the bundle's")
	}
}

// The linear program decides every call as Paddock's does, but for the
// errno of a refusal (always EPERM there).
func TestLinearizableKeepsDecisions(t *testing.T) {
	if seccomp.X86_64 != native(t) {
		t.Skip("the linear assembler targets the native architecture only")
	}
	spec, code := defaultSpec(t)
	ls, notes, err := Linearizable(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) == 0 {
		t.Fatal("the default policy needs rewrites (socket's errnos and its masked type)")
	}
	linear, err := seccomp.Reference(ls)
	if err != nil {
		t.Fatal(err)
	}
	if len(linear) > MaxInsns {
		t.Fatalf("%d instructions", len(linear))
	}
	ours, err := seccomp.Unmarshal(code)
	if err != nil {
		t.Fatal(err)
	}
	arch := seccomp.X86_64
	nr := func(name string) uint32 {
		n, ok := syscalls.Number(arch.Name, name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return uint32(n)
	}
	var cases []seccomp.Data
	for _, fam := range []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET, unix.AF_VSOCK} {
		for _, typ := range []uint64{unix.SOCK_STREAM, unix.SOCK_DGRAM | unix.SOCK_CLOEXEC, unix.SOCK_RAW | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC, unix.SOCK_PACKET} {
			for _, proto := range []uint64{0, unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_SCTP, unix.IPPROTO_MPTCP} {
				cases = append(cases, seccomp.Data{Nr: nr("socket"), Arch: arch.AuditArch, Args: [6]uint64{fam, typ, proto}})
			}
		}
	}
	for _, n := range []uint32{nr("getpid"), nr("keyctl"), nr("mount"), nr("openat")} {
		cases = append(cases, seccomp.Data{Nr: n, Arch: arch.AuditArch})
	}
	for _, cmd := range []uint64{unix.TIOCSTI, unix.TIOCLINUX, 0x541b} {
		cases = append(cases, seccomp.Data{Nr: nr("ioctl"), Arch: arch.AuditArch, Args: [6]uint64{3, cmd}})
	}
	for _, d := range cases {
		a, _, err := seccomp.Run(ours, d)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := seccomp.Run(linear, d)
		if err != nil {
			t.Fatal(err)
		}
		if a.Blocks() != b.Blocks() {
			t.Errorf("nr %d args %x: Paddock %v, linear %v", d.Nr, d.Args[:3], a, b)
		}
		if b.Blocks() && b != seccomp.Errno(unix.EPERM) {
			t.Errorf("nr %d: the linear program refuses with %v", d.Nr, b)
		}
	}
}

func native(t *testing.T) *seccomp.Arch {
	a, err := seccomp.NativeArch()
	if err != nil {
		t.Skip(err)
	}
	return a
}

func TestLinearizableRefusesWhatItCannotExpress(t *testing.T) {
	spec := seccomp.Spec{Deny: seccomp.Errno(unix.EPERM), Allowed: map[string][]seccomp.Check{
		"ioctl": {{Arg: 1, Bits: 32, Mask: 0xff, Op: seccomp.In, Values: []uint64{1, 2}}},
	}}
	if _, _, err := Linearizable(spec); err == nil {
		t.Fatal("a masked comparison with no known flag bits was rewritten")
	}
}

func TestFloor(t *testing.T) {
	f := Floor()
	if len(f) != 1 || seccomp.Verify(f) != nil {
		t.Fatalf("%v", f)
	}
	for _, nr := range []uint32{0, 39, 1000} {
		if !seccomp.ConstAllow(f, seccomp.X86_64.AuditArch, nr) {
			t.Errorf("nr %d is not cached as allowed", nr)
		}
	}
}

func TestSubsets(t *testing.T) {
	got := subsets(0b1010)
	slices.Sort(got)
	if !slices.Equal(got, []uint64{0, 0b10, 0b1000, 0b1010}) {
		t.Fatalf("%v", got)
	}
}
