package bundle

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
)

// Syscalls is the syscall section: the resolved rules, for review and for
// explaining decisions, and the programs that enforce them.
type Syscalls struct {
	Errno        string        `json:"errno"` // how calls outside the allowlist fail
	Allowed      []SyscallRule `json:"allowed"`
	Denied       []SyscallRule `json:"denied"` // named by a deny rule (they would otherwise be allowed or are listed for review)
	Restrictions []Restriction `json:"restrictions"`
	Programs     []Program     `json:"programs"`
}

// SyscallRule says which rule allowed or denied a syscall.
type SyscallRule struct {
	Name string `json:"name"`
	Rule Rule   `json:"rule"`
}

// Restriction is an argument condition on an allowed syscall; the call is
// refused with Errno when it does not hold.
type Restriction struct {
	Syscall string   `json:"syscall"`
	Arg     string   `json:"arg"`
	Index   int      `json:"index"`
	Bits    int      `json:"bits"`
	Mask    Hex      `json:"mask"`
	Op      string   `json:"op"` // "in" or "not_in"
	Values  []Hex    `json:"values"`
	Errno   string   `json:"errno"`
	Rule    Rule     `json:"rule"`
	Names   []string `json:"names"` // the values as written, for review
}

// Hex is a 64-bit value written as a hex string, so JSON readers that hold
// numbers in doubles do not round masks.
type Hex uint64

func (h Hex) MarshalText() ([]byte, error) {
	return []byte("0x" + strconv.FormatUint(uint64(h), 16)), nil
}

func (h *Hex) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 0, 64)
	*h = Hex(v)
	return err
}

// Program is the emitted seccomp program for one architecture.
type Program struct {
	Arch        string `json:"arch"`
	Code        []byte `json:"code"` // struct sock_filter array, little-endian
	LongestPath int    `json:"longest_path"`
}

// Instructions decodes and checks the program.
func (p Program) Instructions() ([]bpf.RawInstruction, error) {
	return seccomp.Unmarshal(p.Code)
}

// ProgramFor returns the program of an architecture.
func (s *Syscalls) ProgramFor(arch string) (Program, bool) {
	i := slices.IndexFunc(s.Programs, func(p Program) bool { return p.Arch == arch })
	if i < 0 {
		return Program{}, false
	}
	return s.Programs[i], true
}

func (s *Syscalls) validate() error {
	if _, ok := syscalls.Errno(s.Errno); !ok {
		return fmt.Errorf("errno: unknown errno %q", s.Errno)
	}
	for _, r := range s.Restrictions {
		if r.Op != "in" && r.Op != "not_in" {
			return fmt.Errorf("restrictions (%s): unknown op %q", r.Syscall, r.Op)
		}
		if _, ok := syscalls.Errno(r.Errno); !ok {
			return fmt.Errorf("restrictions (%s): unknown errno %q", r.Syscall, r.Errno)
		}
	}
	if len(s.Programs) == 0 {
		return fmt.Errorf("programs: none")
	}
	for _, p := range s.Programs {
		if _, err := seccomp.ArchByName(p.Arch); err != nil {
			return fmt.Errorf("programs: %w", err)
		}
		if _, err := p.Instructions(); err != nil {
			return fmt.Errorf("programs (%s): %w", p.Arch, err)
		}
	}
	return nil
}

// Check converts a restriction to the emitter's form.
func (r Restriction) Check() seccomp.Check {
	c := seccomp.Check{Arg: r.Index, Bits: r.Bits, Mask: uint64(r.Mask), Op: seccomp.In}
	if r.Op == "not_in" {
		c.Op = seccomp.NotIn
	}
	for _, v := range r.Values {
		c.Values = append(c.Values, uint64(v))
	}
	e, _ := syscalls.Errno(r.Errno)
	c.Fail = seccomp.Errno(unix.Errno(e))
	return c
}

// Decide runs the architecture's program on one call, in the interpreter,
// and names the rule behind the outcome: what explain shows is what the
// kernel will do.
func (s *Syscalls) Decide(arch *seccomp.Arch, name string, args [6]uint64) (Decision, seccomp.Action, error) {
	prog, ok := s.ProgramFor(arch.Name)
	if !ok {
		return Decision{}, 0, fmt.Errorf("the bundle has no program for %s", arch.Name)
	}
	insns, err := prog.Instructions()
	if err != nil {
		return Decision{}, 0, err
	}
	nr, ok := syscalls.Number(arch.Name, name)
	if !ok {
		return Decision{}, 0, fmt.Errorf("%s has no syscall %q", arch.Name, name)
	}
	act, _, err := seccomp.Run(insns, seccomp.Data{Nr: uint32(nr), Arch: arch.AuditArch, Args: args})
	if err != nil {
		return Decision{}, 0, err
	}
	d := Decision{Verdict: VerdictDeny}
	if !act.Blocks() {
		d.Verdict = VerdictAllow
	}
	var denied bool
	d.Rule, d.Reason, denied = s.why(name, args)
	if denied && act == seccomp.Log {
		d.Reason = "audit mode: " + d.Reason + "; the call is logged and runs"
	}
	return d, act, nil
}

// why states which rule decides a call, as enforcement would decide it.
func (s *Syscalls) why(name string, args [6]uint64) (rule *Rule, reason string, denied bool) {
	find := func(list []SyscallRule) *Rule {
		if i := slices.IndexFunc(list, func(r SyscallRule) bool { return r.Name == name }); i >= 0 {
			return &list[i].Rule
		}
		return nil
	}
	if name == "clone3" {
		return nil, "clone3 always fails with ENOSYS: its flags sit behind a pointer no filter can read, and libc falls back to clone, whose flags are checked", true
	}
	if allowed := find(s.Allowed); allowed != nil {
		for i, r := range s.Restrictions {
			if r.Syscall == name && !passes(r, args) {
				return &s.Restrictions[i].Rule, fmt.Sprintf("%s is allowed only when %s %s [%s]; otherwise it fails with %s", name, r.Arg, strings.ReplaceAll(r.Op, "_", " "), strings.Join(r.Names, ", "), r.Errno), true
			}
		}
		if name == "seccomp" && args[1]&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
			return nil, "seccomp() may not create a user-notification listener inside a sandbox; it fails with EPERM", true
		}
		return allowed, fmt.Sprintf("%s is allowed", name), false
	}
	if r := find(s.Denied); r != nil {
		return r, fmt.Sprintf("%s is denied by %q; it fails with %s", name, r.Text, s.Errno), true
	}
	return nil, fmt.Sprintf("%s is not in any allow rule, so it fails with %s", name, s.Errno), true
}

func passes(r Restriction, args [6]uint64) bool {
	return r.Check().Passes(args[r.Index])
}
