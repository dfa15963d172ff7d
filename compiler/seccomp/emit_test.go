package seccomp

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// testSpec is shaped like a real agent policy: a large allowlist with the
// argument rules Paddock's default policy uses, 32- and 64-bit, masked and not,
// with custom and default failure errnos.
func testSpec(testing.TB) Spec {
	names, err := syscalls.Expand("@system-service")
	if err != nil {
		panic(err)
	}
	allowed := map[string][]Check{}
	for _, n := range names {
		allowed[n] = nil
	}
	allowed["socket"] = []Check{
		{Arg: 0, Bits: 32, Mask: math.MaxUint64, Op: In, Values: []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6}, Fail: Errno(unix.EAFNOSUPPORT)},
		{Arg: 1, Bits: 32, Mask: 0xf, Op: In, Values: []uint64{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET}},
		{Arg: 2, Bits: 32, Mask: math.MaxUint64, Op: NotIn, Values: []uint64{unix.IPPROTO_MPTCP}, Fail: Errno(unix.EPROTONOSUPPORT)},
	}
	allowed["ioctl"] = []Check{{Arg: 1, Bits: 32, Mask: math.MaxUint64, Op: NotIn, Values: []uint64{unix.TIOCSTI, unix.TIOCLINUX}}}
	allowed["clone"] = []Check{{Arg: 0, Bits: 32, Mask: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET, Op: In, Values: []uint64{0}}}
	allowed["prlimit64"] = []Check{{Arg: 0, Bits: 32, Mask: math.MaxUint64, Op: In, Values: []uint64{0}}}
	// A 64-bit argument with values that differ in the high word.
	allowed["unshare"] = []Check{{Arg: 0, Bits: 64, Mask: math.MaxUint64, Op: In, Values: []uint64{0, unix.CLONE_FILES, 1 << 40, 1<<40 | 7}}}
	allowed["madvise"] = []Check{{Arg: 2, Bits: 64, Mask: math.MaxUint64, Op: NotIn, Values: []uint64{1 << 33, 9}}}
	delete(allowed, "ptrace")
	return Spec{Allowed: allowed, Deny: Errno(unix.EPERM)}
}

// inputs enumerates what a program is checked on: every syscall number and
// some beyond, x32 forms, foreign architectures, and for each checked syscall
// the values its checks name, their neighbours, and the same with garbage in
// the high word or outside the mask.
func inputs(f *Filter) []Data {
	var out []Data
	archesToTry := []uint32{f.Arch.AuditArch, f.Arch.Compat, unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_AARCH64, 0, 0xffffffff}
	numbers := []uint32{f.MaxNr + 1, f.MaxNr + 2, 1000, 0x3fffffff, 0x7fffffff, 0x80000000, math.MaxUint32}
	for nr := uint32(0); nr <= f.MaxNr+64; nr++ {
		numbers = append(numbers, nr)
		if f.Arch.X32Bit != 0 {
			numbers = append(numbers, nr|f.Arch.X32Bit)
		}
	}
	for _, arch := range archesToTry {
		for _, nr := range numbers {
			out = append(out, Data{Nr: nr, Arch: arch})
			if arch != f.Arch.AuditArch {
				continue
			}
			s, ok := f.Syscalls[nr]
			if !ok {
				continue
			}
			for _, c := range s.Checks {
				for _, v := range c.Values {
					for _, a := range []uint64{v, v + 1, v - 1, v | 0xdead_beef_0000_0000, v | ^c.Mask, v ^ 1<<40} {
						d := Data{Nr: nr, Arch: arch}
						d.Args[c.Arg] = a
						out = append(out, d)
						// Also with every other check of the syscall satisfied.
						for _, o := range s.Checks {
							if o.Arg != c.Arg && o.Op == In {
								d.Args[o.Arg] = o.Values[0]
							}
						}
						out = append(out, d)
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		d := Data{Nr: uint32(r.IntN(int(f.MaxNr) + 10)), Arch: f.Arch.AuditArch}
		for i := range d.Args {
			d.Args[i] = r.Uint64() >> r.IntN(64)
		}
		out = append(out, d)
	}
	return out
}

func lowerAll(t *testing.T, spec Spec) map[*Arch]*Filter {
	out := map[*Arch]*Filter{}
	for _, a := range Arches() {
		f, err := Lower(spec, a)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		out[a] = f
	}
	return out
}

func TestProgramAgreesWithDecide(t *testing.T) {
	for _, audit := range []bool{false, true} {
		spec := testSpec(t)
		spec.Audit = audit
		for arch, f := range lowerAll(t, spec) {
			prog, err := f.Assemble()
			if err != nil {
				t.Fatalf("%s: %v", arch.Name, err)
			}
			longest := LongestPath(prog)
			n := 0
			for _, d := range inputs(f) {
				got, steps, err := Run(prog, d)
				if err != nil {
					t.Fatalf("%s %+v: %v", arch.Name, d, err)
				}
				if want := f.Decide(d); got != want {
					t.Fatalf("%s audit=%v nr=%d arch=%#x args=%#x: program says %v, filter means %v", arch.Name, audit, d.Nr, d.Arch, d.Args, got, want)
				}
				if steps > longest {
					t.Fatalf("%s: ran %d instructions, longer than the longest path %d", arch.Name, steps, longest)
				}
				n++
			}
			t.Logf("%s audit=%v: %d instructions, longest path %d, %d inputs agree", arch.Name, audit, len(prog), longest, n)
		}
	}
}

func TestInvariants(t *testing.T) {
	f, prog := mustAssemble(t, testSpec(t), X86_64)
	nr := func(name string) uint32 {
		n, ok := syscalls.Number("x86_64", name)
		if !ok {
			t.Fatalf("no %s", name)
		}
		return uint32(n)
	}
	run := func(d Data) Action {
		a, _, err := Run(prog, d)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	native := uint32(unix.AUDIT_ARCH_X86_64)
	cases := []struct {
		name string
		d    Data
		want Action
	}{
		{"i386 getpid is killed, not defaulted", Data{Nr: 20, Arch: unix.AUDIT_ARCH_I386}, KillProcess},
		{"x32 getpid", Data{Nr: nr("getpid") | 0x40000000, Arch: native}, Errno(unix.ENOSYS)},
		{"clone3", Data{Nr: nr("clone3"), Arch: native}, Errno(unix.ENOSYS)},
		{"newer than the catalogue", Data{Nr: f.MaxNr + 1, Arch: native}, Errno(unix.ENOSYS)},
		{"io_uring_setup", Data{Nr: nr("io_uring_setup"), Arch: native}, Errno(unix.EPERM)},
		{"ptrace", Data{Nr: nr("ptrace"), Arch: native}, Errno(unix.EPERM)},
		{"getpid", Data{Nr: nr("getpid"), Arch: native}, Allow},
		{"seccomp NEW_LISTENER", Data{Nr: nr("seccomp"), Arch: native, Args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC}}, Errno(unix.EPERM)},
		{"seccomp TSYNC", Data{Nr: nr("seccomp"), Arch: native, Args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC}}, Allow},
		{"AF_PACKET with garbage high bits", Data{Nr: nr("socket"), Arch: native, Args: [6]uint64{0xffff_0000_0000_0000 | unix.AF_PACKET, unix.SOCK_RAW}}, Errno(unix.EAFNOSUPPORT)},
		{"AF_INET with garbage high bits is AF_INET", Data{Nr: nr("socket"), Arch: native, Args: [6]uint64{0xffff_0000_0000_0000 | unix.AF_INET, unix.SOCK_STREAM | unix.SOCK_CLOEXEC}}, Allow},
		{"MPTCP", Data{Nr: nr("socket"), Arch: native, Args: [6]uint64{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP}}, Errno(unix.EPROTONOSUPPORT)},
		{"raw inet socket", Data{Nr: nr("socket"), Arch: native, Args: [6]uint64{unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}}, Errno(unix.EPERM)},
		{"TIOCSTI", Data{Nr: nr("ioctl"), Arch: native, Args: [6]uint64{0, unix.TIOCSTI}}, Errno(unix.EPERM)},
		{"TIOCSTI with garbage high bits", Data{Nr: nr("ioctl"), Arch: native, Args: [6]uint64{0, 1<<63 | unix.TIOCSTI}}, Errno(unix.EPERM)},
		{"clone with CLONE_NEWUSER", Data{Nr: nr("clone"), Arch: native, Args: [6]uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}}, Errno(unix.EPERM)},
		{"prlimit64 on another pid", Data{Nr: nr("prlimit64"), Arch: native, Args: [6]uint64{1234}}, Errno(unix.EPERM)},
		{"prlimit64 on self", Data{Nr: nr("prlimit64"), Arch: native, Args: [6]uint64{0}}, Allow},
	}
	for _, c := range cases {
		if got := run(c.d); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// Every syscall allowed without argument checks must be provably constant to
// the kernel's action cache; nothing else may be.
func TestActionCache(t *testing.T) {
	for arch, f := range lowerAll(t, testSpec(t)) {
		prog, err := f.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		cached := 0
		for nr := uint32(0); nr <= f.MaxNr; nr++ {
			s, ok := f.Syscalls[nr]
			want := ok && s.Action == Allow && len(s.Checks) == 0
			if got := ConstAllow(prog, arch.AuditArch, nr); got != want {
				t.Errorf("%s nr %d (%s): cacheable=%v, want %v", arch.Name, nr, s.Name, got, want)
			}
			if want {
				cached++
			}
			if ConstAllow(prog, arch.Compat, nr) {
				t.Errorf("%s: compat nr %d would be cached as allowed", arch.Name, nr)
			}
		}
		if cached < 200 {
			t.Errorf("%s: only %d syscalls cacheable", arch.Name, cached)
		}
	}
}

// The worst path must grow with log2 of the rule count (the bound:
// 2*log2(N)+10), where a linear layout grows with N.
func TestPathLengthBound(t *testing.T) {
	for _, n := range []int{10, 50, 100, 300, 1000} {
		for _, withArgs := range []bool{false, true} {
			f, err := Lower(SyntheticSpec(X86_64, n, withArgs), X86_64)
			if err != nil {
				t.Fatal(err)
			}
			prog, err := f.Assemble()
			if err != nil {
				t.Fatal(err)
			}
			bound := 2*math.Log2(float64(n)) + 10
			got := LongestPath(prog)
			if float64(got) > bound {
				t.Errorf("N=%d args=%v: longest path %d > 2*log2(N)+10 = %.1f", n, withArgs, got, bound)
			}
			t.Logf("N=%d args=%v: %d instructions, longest path %d (bound %.1f)", n, withArgs, len(prog), got, bound)
		}
	}
}

func TestVerifyRejectsBrokenPrograms(t *testing.T) {
	cases := map[string][]bpf.RawInstruction{
		"empty":             nil,
		"no return at end":  {ldAbs(0)},
		"jump past end":     {jeq(1, 5, 0), ret(Allow)},
		"ja past end":       {ja(3), ret(Allow)},
		"load outside data": {ldAbs(64), ret(Allow)},
		"unaligned load":    {ldAbs(2), ret(Allow)},
		"byte load":         {{Op: clsLD | 0x10 | modeABS, K: 0}, ret(Allow)},
		"divide by zero":    {{Op: clsALU | aluDIV | srcK, K: 0}, ret(Allow)},
	}
	for name, prog := range cases {
		if err := Verify(prog); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Unmarshal([]byte{1, 2, 3}); err == nil {
		t.Error("a 3-byte program was accepted")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	_, prog := mustAssemble(t, testSpec(t), X86_64)
	back, err := Unmarshal(Marshal(prog))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(prog) {
		t.Fatalf("%d instructions back, %d out", len(back), len(prog))
	}
	for i := range prog {
		if back[i] != prog[i] {
			t.Fatalf("instruction %d: %+v != %+v", i, back[i], prog[i])
		}
	}
}

func TestValidateRejectsBadChecks(t *testing.T) {
	bad := []Check{
		{Arg: 6, Bits: 32, Mask: math.MaxUint64, Op: In, Values: []uint64{1}},
		{Arg: 0, Bits: 16, Mask: math.MaxUint64, Op: In, Values: []uint64{1}},
		{Arg: 0, Bits: 32, Mask: math.MaxUint64, Op: In},
		{Arg: 0, Bits: 32, Mask: 0xf, Op: In, Values: []uint64{0x10}},
		{Arg: 0, Bits: 32, Mask: math.MaxUint64, Op: In, Values: []uint64{1 << 32}},
		{Arg: 0, Bits: 32, Mask: math.MaxUint64, Op: 9, Values: []uint64{1}},
	}
	for i, c := range bad {
		spec := Spec{Allowed: map[string][]Check{"socket": {c}}, Deny: Errno(unix.EPERM)}
		if _, err := Lower(spec, X86_64); err == nil {
			t.Errorf("case %d (%+v) accepted", i, c)
		}
	}
}

// The emitted program and go-seccomp-bpf's linear program of the same rules
// must agree wherever both are meant to agree: native calls with known
// numbers, arguments whose 32-bit values carry no high bits.
func TestAgreesWithReference(t *testing.T) {
	spec := testSpec(t)
	// Keep only what the library can express (EPERM everywhere, simple masks).
	for name, checks := range spec.Allowed {
		var kept []Check
		for _, c := range checks {
			if c.Fail == 0 && (c.Mask == math.MaxUint64 || c.Op == In && len(c.Values) == 1 && c.Values[0] == 0) {
				kept = append(kept, c)
			}
		}
		spec.Allowed[name] = kept
	}
	native, err := NativeArch()
	if err != nil {
		t.Skip(err)
	}
	ref, err := Reference(spec)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Lower(spec, native)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	clone3, _ := syscalls.Number(native.Name, "clone3")
	compared := 0
	for _, d := range inputs(f) {
		if d.Arch != native.AuditArch || d.Nr > f.MaxNr || d.Nr == uint32(clone3) {
			continue // the documented differences
		}
		if s, ok := f.Syscalls[d.Nr]; ok && hasHighGarbage(s, d) {
			continue
		}
		got, _, err := Run(prog, d)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := Run(ref, d)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("nr=%d (%s) args=%#x: ours %v, go-seccomp-bpf %v", d.Nr, f.Syscalls[d.Nr].Name, d.Args, got, want)
		}
		compared++
	}
	t.Logf("%d inputs agree; ours %d instructions (longest path %d), reference %d (longest path %d)",
		compared, len(prog), LongestPath(prog), len(ref), LongestPath(ref))
}

func hasHighGarbage(s Syscall, d Data) bool {
	for _, c := range s.Checks {
		if c.Bits == 32 && d.Args[c.Arg]>>32 != 0 {
			return true
		}
	}
	return false
}

func mustAssemble(t *testing.T, spec Spec, arch *Arch) (*Filter, []bpf.RawInstruction) {
	t.Helper()
	f, err := Lower(spec, arch)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := f.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	return f, prog
}
