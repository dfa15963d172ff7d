package main

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// Arguments of the timed calls as the filter sees them (csrc/loop.c).
const (
	atFDCWD           = 0xffffffffffffff9c // AT_FDCWD, an int sign-extended
	oRdonlyCloexec    = unix.O_RDONLY | unix.O_CLOEXEC
	afInet            = unix.AF_INET
	sockStreamCloexec = unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	fionread          = 0x541b // FIONREAD (TIOCINQ) on x86_64 and aarch64
)

// A probeCase is one of the loop's probes (csrc/loop.c, probes()), with
// the syscall and arguments it makes.
type probeCase struct {
	name string
	sys  string
	args [6]uint64
}

var probeCases = []probeCase{
	{"keyctl", "keyctl", [6]uint64{0, 0xfffffffffffffffd}}, // KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING
	{"unshare_newuser", "unshare", [6]uint64{unix.CLONE_NEWUSER}},
	{"ioctl_tiocsti", "ioctl", [6]uint64{0, unix.TIOCSTI}},
	{"socket_packet", "socket", [6]uint64{unix.AF_PACKET, unix.SOCK_RAW}},
	{"getpid_arg1", "getpid", [6]uint64{1}},
}

func seccompNumber(arch *seccomp.Arch, name string) (uint32, bool) {
	n, ok := syscalls.Number(arch.Name, name)
	return uint32(n), ok && n >= 0
}

// stackAction is what a stack of programs answers: every program runs and
// the action of highest precedence wins (the kernel compares the action
// bits as a signed number, so kill-process, 0x80000000, comes first); among
// equals the most recently installed program's.
func stackAction(progs [][]bpf.RawInstruction, d seccomp.Data) (seccomp.Action, error) {
	var best seccomp.Action
	for i := len(progs) - 1; i >= 0; i-- {
		a, _, err := seccomp.Run(progs[i], d)
		if err != nil {
			return 0, err
		}
		if i == len(progs)-1 || int32(uint32(a)&unix.SECCOMP_RET_ACTION_FULL) < int32(uint32(best)&unix.SECCOMP_RET_ACTION_FULL) {
			best = a
		}
	}
	return best, nil
}

// predict is the probe's outcome under progs, as the loop prints it: the
// errno's name when they refuse it, bare (the outcome with no filter)
// when they allow it.
func predict(arch *seccomp.Arch, progs [][]bpf.RawInstruction, p probeCase, bare string) string {
	nr, ok := seccompNumber(arch, p.sys)
	if !ok {
		return "no syscall " + p.sys
	}
	act, err := stackAction(progs, seccomp.Data{Nr: nr, Arch: arch.AuditArch, Args: p.args})
	if err != nil {
		return err.Error()
	}
	if !act.Blocks() {
		return bare
	}
	if e, ok := act.IsErrno(); ok {
		return unix.ErrnoName(e)
	}
	return act.String()
}

// path says what the kernel does for one timed call under progs:
// "cached" when its action cache allows the syscall without running any
// program (it caches a syscall only when every program of the stack
// allows it whatever the arguments), else the instructions each program
// runs, since then the kernel runs all of them. Empty when the variant's
// programs are not known.
func path(arch *seccomp.Arch, progs [][]bpf.RawInstruction, c call) string {
	if len(progs) == 0 {
		return ""
	}
	var parts []string
	for _, s := range c.sys {
		nr, ok := seccompNumber(arch, s.name)
		if !ok {
			return ""
		}
		cached := true
		for _, p := range progs {
			cached = cached && seccomp.ConstAllow(p, arch.AuditArch, nr)
		}
		p := "cached"
		if !cached {
			var steps []string
			for _, prog := range progs {
				_, n, err := seccomp.Run(prog, seccomp.Data{Nr: nr, Arch: arch.AuditArch, Args: s.args})
				if err != nil {
					return err.Error()
				}
				steps = append(steps, fmt.Sprint(n))
			}
			p = strings.Join(steps, "+") + " insns"
		}
		if len(c.sys) > 1 {
			p = s.name + " " + p
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// runOut is what one run of the loop printed.
type runOut struct {
	status map[string]string    // from the status line
	probes map[string]string    // probe name: "ok" or an errno name
	ns     map[string][]float64 // call: ns per call, per block
}

func parseOutput(s string) (*runOut, error) {
	r := &runOut{status: map[string]string{}, probes: map[string]string{}, ns: map[string][]float64{}}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "status":
			for _, kv := range f[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return nil, fmt.Errorf("bad status field %q", kv)
				}
				r.status[k] = v
			}
		case "probe":
			if len(f) != 3 {
				return nil, fmt.Errorf("bad probe line %q", line)
			}
			r.probes[f[1]] = f[2]
		case "ns":
			if len(f) < 3 {
				return nil, fmt.Errorf("bad ns line %q", line)
			}
			for _, x := range f[2:] {
				v, err := strconv.ParseFloat(x, 64)
				if err != nil || v <= 0 {
					return nil, fmt.Errorf("bad figure in %q", line)
				}
				r.ns[f[1]] = append(r.ns[f[1]], v)
			}
		default:
			return nil, fmt.Errorf("unexpected line %q", line)
		}
	}
	if _, ok := r.status["Seccomp_filters"]; !ok {
		return nil, fmt.Errorf("no status line with Seccomp_filters in %q", s)
	}
	return r, nil
}
