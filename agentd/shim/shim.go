// Package shim is the first process inside a sandbox. The launcher starts it
// (its own binary, re-executed) with a Spec on descriptor 3; the shim applies
// every restriction to itself, in the order of DESIGN.md D1, and then execs
// the workload, which inherits all of them from its first instruction:
//
//  1. mounts over denied entries (in the mount namespace the launcher made),
//     and loopback plus the launcher's listening sockets in the network
//     namespace it made;
//  2. resource limits;
//  3. capabilities out of the bounding and ambient sets, then the workload
//     user and groups, then every remaining capability (all five sets);
//  4. no_new_privs;
//  5. Landlock (every right the kernel's ABI has, both scopes);
//  6. every descriptor above 2 marked close-on-exec;
//  7. the seccomp programs, last, because they may forbid what the shim
//     itself needs (TSYNC; the logging flag on all but the program of
//     libc's ENOSYS fallbacks);
//  8. execve.
//
// The shim's goroutine stays locked to one thread from start to exec:
// Landlock domains and capability sets belong to a thread, and the thread
// that execs is the one whose credentials the workload inherits.
package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/fence"
	"github.com/paddock-sh/paddock/agentd/landlock"
	"github.com/paddock-sh/paddock/agentd/seccomp"
)

// Arg0 marks the binary's re-execution as the shim.
const Arg0 = "paddock-shim"

// SpecFD is the descriptor the Spec arrives on.
const SpecFD = 3

// Exit statuses of a launch that never reached the workload, as shells and
// container runtimes use them.
const (
	ExitSetup      = 125 // the sandbox could not be set up
	ExitCannotExec = 126 // the program exists but cannot run (not executable, or outside the fence)
	ExitNotFound   = 127 // no such program
)

// Spec is everything the shim applies. The launcher resolves it completely,
// so the shim decides nothing on its own.
type Spec struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`

	// Cgroup, when set, is the agentd sandbox the shim must be in (its
	// cgroup2 path as /proc/self/cgroup shows it) before anything else:
	// the network layer is that cgroup's hooks.
	Cgroup   string      `json:"cgroup,omitempty"`
	Fence    *fence.Plan `json:"fence"`
	Net      *Net        `json:"net"`      // nil: the launcher's network namespace
	Landlock *Landlock   `json:"landlock"` // nil: not applied (audit mode, or degraded)
	Seccomp  []Program   `json:"seccomp"`  // programs, installed in order
	// SeccompQuiet are programs installed before Seccomp and, unlike them,
	// without SECCOMP_FILTER_FLAG_LOG: the ENOSYS answers libc falls back
	// from (clone3), which are no denials and must not reach the audit log.
	SeccompQuiet []Program `json:"seccomp_quiet"`

	Creds   *Creds   `json:"creds"` // nil: keep the launcher's user
	Rlimits []Rlimit `json:"rlimits"`
	Caps    []int    `json:"caps"` // capabilities the workload keeps
}

// Landlock says what the ruleset handles; the grants come from the fence.
type Landlock struct {
	FS  uint64 `json:"fs"`
	Net uint64 `json:"net"` // handled TCP rights
	// ConnectPorts are the TCP ports the workload may connect to (when
	// connect is handled): the egress proxy and forwarded loopback ports.
	ConnectPorts []uint16 `json:"connect_ports"`
	Scoped       uint64   `json:"scoped"`
	Log          bool     `json:"log"` // log denials of the workload (ABI 7)
}

// Creds is the workload's user.
type Creds struct {
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups"`
}

// Rlimit is one resource limit, soft and hard alike.
type Rlimit struct {
	Resource int    `json:"resource"`
	Name     string `json:"name"`
	Value    uint64 `json:"value"`
}

// Program is a seccomp program as the kernel reads it: the struct
// sock_filter array compiler/seccomp's Marshal returns. In the spec's JSON
// it is one base64 string, which the shim decodes far faster than a list
// of numbers, and hands to the kernel as it is.
type Program []byte

// Main runs the shim and never returns. Call it first thing in main when
// os.Args[0] is Arg0.
func Main() {
	// The spec comes once agentd has made the sandbox, milliseconds from
	// now. Encoding an empty one meanwhile builds encoding/json's per-type
	// tables, which decoding the real one then finds ready: a third to a
	// half of its ~0.5 ms decode in a fresh process.
	go json.Marshal(&Spec{})
	runtime.LockOSThread()
	f := os.NewFile(SpecFD, "spec")
	var spec Spec
	err := json.NewDecoder(f).Decode(&spec)
	f.Close()
	if err != nil {
		fail(ExitSetup, "reading the launch spec: %v", err)
	}
	if len(spec.Argv) == 0 {
		fail(ExitSetup, "no command")
	}
	code, err := Apply(&spec)
	if err != nil {
		fail(code, "%v", err)
	}
	path, code, err := lookPath(spec.Argv[0], spec.Env)
	if err != nil {
		fail(code, "%v", err)
	}
	if err := installSeccomp(spec.SeccompQuiet, spec.Seccomp); err != nil {
		fail(ExitSetup, "%v", err)
	}
	err = syscall.Exec(path, spec.Argv, spec.Env)
	// Past seccomp the shim may not even be able to print much; try.
	code = ExitCannotExec
	if errors.Is(err, unix.ENOENT) {
		code = ExitNotFound
	}
	msg := err.Error()
	if errors.Is(err, unix.EACCES) {
		msg += " (the program is not executable, or not under a path the policy lets the sandbox execute)"
	}
	fail(code, "%s: %s", spec.Argv[0], msg)
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "agentctl: "+format+"\n", args...)
	os.Exit(code)
}

// Apply performs steps 1 to 6 on the calling thread, which the caller has
// locked. It returns the exit status to use on failure.
func Apply(spec *Spec) (int, error) {
	if spec.Cgroup != "" {
		if err := inCgroup(spec.Cgroup); err != nil {
			return ExitSetup, err
		}
	}
	if spec.Fence != nil {
		if err := spec.Fence.Apply(); err != nil {
			return ExitSetup, fmt.Errorf("masking denied entries: %w", err)
		}
	}
	if spec.Net != nil {
		if err := setupNet(spec.Net); err != nil {
			return ExitSetup, err
		}
	}
	for _, r := range spec.Rlimits {
		lim := unix.Rlimit{Cur: r.Value, Max: r.Value}
		if err := unix.Setrlimit(r.Resource, &lim); err != nil {
			return ExitSetup, fmt.Errorf("limit %s=%d: %w", r.Name, r.Value, err)
		}
	}
	if err := dropPrivileges(spec.Creds, spec.Caps); err != nil {
		return ExitSetup, err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return ExitSetup, fmt.Errorf("no_new_privs: %w", err)
	}
	if spec.Landlock != nil {
		if err := applyLandlock(spec.Landlock, spec.Fence); err != nil {
			return ExitSetup, err
		}
	}
	if spec.Dir != "" {
		if err := unix.Chdir(spec.Dir); err != nil {
			return ExitSetup, fmt.Errorf("working directory %s: %w", spec.Dir, err)
		}
	}
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return ExitSetup, fmt.Errorf("marking inherited descriptors close-on-exec: %w", err)
	}
	return 0, nil
}

func applyLandlock(l *Landlock, plan *fence.Plan) error {
	rs, err := landlock.New(landlock.Supported{FS: l.FS, Net: l.Net, Scoped: l.Scoped, Logging: l.Log})
	if err != nil {
		return err
	}
	defer rs.Close()
	if plan != nil {
		if err := plan.Landlock(rs); err != nil {
			return err
		}
	}
	if l.Net&landlock.NetConnectTCP != 0 {
		for _, p := range l.ConnectPorts {
			if err := rs.AllowPort(p, landlock.NetConnectTCP); err != nil {
				return err
			}
		}
	}
	return rs.Restrict(l.Log)
}

// installSeccomp loads the quiet programs first: a logged program may
// refuse seccomp() itself. Which programs are logged matters beyond their
// own answers: the kernel logs an action by the flag of the filter that
// returned it.
func installSeccomp(quiet, logged []Program) error {
	for i, p := range quiet {
		if err := seccomp.Load(p, seccomp.TSync); err != nil {
			return fmt.Errorf("seccomp program %d (not logged): %w", i+1, err)
		}
	}
	for i, p := range logged {
		if err := seccomp.Load(p, seccomp.TSync|seccomp.LogActions); err != nil {
			return fmt.Errorf("seccomp program %d: %w", i+1, err)
		}
	}
	return nil
}

// lookPath finds the program as execvp would, in the workload's PATH.
func lookPath(name string, env []string) (string, int, error) {
	if strings.Contains(name, "/") {
		return name, 0, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	denied := false
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + name
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			continue
		}
		if err := unix.Access(p, unix.X_OK); err != nil {
			denied = true
			continue
		}
		return p, 0, nil
	}
	if denied {
		return "", ExitCannotExec, fmt.Errorf("%s: permission denied", name)
	}
	return "", ExitNotFound, fmt.Errorf("%s: command not found", name)
}

// inCgroup fails unless the calling process is in the cgroup2 cgroup
// path: without agentd's hooks on it, the workload would have no network
// layer at all, and it must not start.
func inCgroup(path string) error {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("checking the sandbox's cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if cg, ok := strings.CutPrefix(line, "0::"); ok {
			if cg == path {
				return nil
			}
			return fmt.Errorf("the sandbox is in cgroup %s, not in agentd's %s: refusing to start without its network layer", cg, path)
		}
	}
	return errors.New("no cgroup2 membership in /proc/self/cgroup: refusing to start without agentd's network layer")
}
