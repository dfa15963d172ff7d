// Package launch is the launcher's side of agentctl run: it resolves a bundle
// for one workload (user, workspace, private temporary directory,
// environment), checks what the kernel can enforce, plans the filesystem
// fence, and starts the shim (package shim) with everything decided, then
// relays the terminal and signals and returns the workload's exit status.
package launch

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/fence"
	"github.com/paddock-sh/paddock/agentd/landlock"
	"github.com/paddock-sh/paddock/agentd/shim"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/seccomp"
)

// Options describe one launch.
type Options struct {
	Bundle    *bundle.Bundle
	Argv      []string
	Workspace string   // "" means the current directory
	User      string   // run as this user (name or uid; root only); "" means the policy's process.user
	Environ   []string // the launching environment, the only source of passed variables
	// Shim is the paddock-shim binary; "" means beside the running executable.
	Shim string
	// Stdin, Stdout and Stderr default to the launcher's own.
	Stdin, Stdout, Stderr *os.File
	// Events receives the network decisions of the launcher's egress
	// proxy; nil discards them.
	Events events.Sink
	// Daemon, when set, runs the workload in a sandbox agentd makes, whose
	// cgroup hooks, proxy and DNS stub are the network layer; nil runs it
	// standalone, with a network namespace and a proxy of the launcher's.
	Daemon *Daemon
	// Ready, when set, is called once the plan is complete (with agentd,
	// once its sandbox exists) and before the workload gets its spec:
	// agentctl reports degraded layers there.
	Ready func(*Launch)
}

// Daemon is agentd's side of a launch.
type Daemon struct {
	// Create asks agentd for the sandbox, with pid, the shim (the
	// launcher's child, which has run nothing of the workload yet), moved
	// into it before Create returns. Run calls it once the shim has
	// started, so that the shim's start and the sandbox's making overlap.
	Create func(pid int) (*Sandbox, error)
	// CABundle is the file of CAs that trusts agentd's proxy on the
	// credentials' hosts, when the policy has credentials ("" otherwise):
	// the plan grants reading it before the sandbox exists, so it is
	// where agentd keeps it (apiv1.CABundleName beside its socket).
	CABundle string
}

// Sandbox is what agentd made for a launch.
type Sandbox struct {
	ID        string
	Cgroup    string // its cgroup2 path, as /proc/PID/cgroup shows it
	ProxyPort uint16 // agentd's egress proxy, on 127.0.0.1 and ::1
	// FileDeny is why agentd's BPF-LSM hooks do not hold the policy's
	// deny rules for this sandbox, "" when they do.
	FileDeny string
	// CABundle is the CA file agentd names for the sandbox, which must be
	// the one Daemon named; BaseURLs are the credentials' reverse
	// listener URLs by variable.
	CABundle string
	BaseURLs map[string]string
}

// caVariables are where common tools look for a CA bundle.
var caVariables = []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE"}

// Layer is one enforcement layer and what this launch does with it.
type Layer struct {
	Name   string `json:"name"`
	State  string `json:"state"` // Enforced, Degraded, Refused or Off
	Detail string `json:"detail"`
}

// Layer states.
const (
	Enforced = "enforced" // the layer holds
	Degraded = "degraded" // partly or not applied; the policy allowed it (best_effort) or the gap is inherent without the daemon
	Refused  = "refused"  // the capability is refused outright instead (stricter than the policy)
	Off      = "off"      // not applied, by the policy's mode
)

// Launch is a prepared launch. Run starts it; Close releases what Prepare
// created if Run is never called.
type Launch struct {
	Policy   string        `json:"policy"`
	Bundle   string        `json:"bundle"`
	Vars     PublicVars    `json:"vars"`
	Layers   []Layer       `json:"layers"`
	Fence    *fence.Plan   `json:"fence"`
	EnvNames []string      `json:"env"` // names only: values may hold placeholders the user should not have to see
	Rlimits  []shim.Rlimit `json:"rlimits"`
	UserNS   bool          `json:"user_namespace"`
	MountNS  bool          `json:"mount_namespace"`
	NetNS    bool          `json:"network_namespace"`
	Forwards []Forward     `json:"forwards"`
	Warnings []string      `json:"warnings"`
	opts     Options
	spec     shim.Spec
	// policyProg is the policy's logged seccomp program, the last of
	// spec.Seccomp; the socket allowlist is chained onto it (nil without
	// one).
	policyProg []bpf.RawInstruction
	tmp        string
	shim       string
	bestEffort map[string]bool
	netEnv     map[string]string
}

// PublicVars are the resolved template variables.
type PublicVars struct {
	Workspace string `json:"workspace"`
	Home      string `json:"home"`
	Tmp       string `json:"tmp"`
	User      string `json:"user"`
	UID       int    `json:"uid"`
	GID       int    `json:"gid"`
}

// Error is a launch that cannot proceed; Layer names the layer at fault,
// when one is.
type Error struct {
	Layer string
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Prepare resolves everything a launch needs and fails, before anything
// runs, on whatever cannot be enforced.
func Prepare(o Options) (l *Launch, err error) {
	if len(o.Argv) == 0 {
		return nil, errors.New("no command given")
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	b := o.Bundle
	created := &Launch{Policy: b.Metadata.Policy, Bundle: b.Checksum, opts: o, Warnings: []string{}, bestEffort: map[string]bool{}}
	l = created
	for _, layer := range b.Metadata.BestEffort {
		l.bestEffort[layer] = true
	}
	defer func() {
		if err != nil {
			created.Close()
		}
	}()

	if l.shim = o.Shim; l.shim == "" {
		if l.shim, err = shimPath(); err != nil {
			return nil, err
		}
	}
	wl, err := workloadUser(o.User, b.Process.User, envLookup(o.Environ))
	if err != nil {
		return nil, err
	}
	ws, err := ResolveWorkspace(o.Workspace)
	if err != nil {
		return nil, err
	}
	l.tmp, err = os.MkdirTemp("", "paddock-")
	if err != nil {
		return nil, fmt.Errorf("creating the sandbox's temporary directory: %w", err)
	}
	if wl.creds != nil && wl.creds.UID != os.Geteuid() {
		if err := os.Chown(l.tmp, wl.creds.UID, wl.creds.GID); err != nil {
			return nil, fmt.Errorf("handing the temporary directory to uid %d: %w", wl.creds.UID, err)
		}
	}
	env := envLookup(o.Environ)
	vars := bundle.Vars{Workspace: ws, Home: wl.home, Tmp: l.tmp, User: wl.name, Env: env}
	l.Vars = PublicVars{Workspace: ws, Home: wl.home, Tmp: l.tmp, User: wl.name, UID: wl.uid, GID: wl.gid}

	rfs, err := b.Filesystem.Resolve(vars)
	if err != nil {
		return nil, fmt.Errorf("filesystem: %w", err)
	}
	if d := o.Daemon; d != nil && d.CABundle != "" {
		// The trust bundle for the proxy's certificates on credential hosts.
		rfs.Grants = append(rfs.Grants, bundle.ResolvedGrant{Path: d.CABundle, Access: bundle.ReadAccess,
			Rule: bundle.Rule{Field: "credentials (agentd's CA bundle)", Text: d.CABundle}})
	}
	if l.Fence, err = planFence(rfs, []string{wl.home, ws}, defaultLimits); err != nil {
		return nil, err
	}

	l.spec = shim.Spec{Argv: o.Argv, Dir: workdir(ws), Creds: wl.creds}
	if err := l.planSeccomp(); err != nil {
		return nil, err
	}
	if err := l.planLandlock(); err != nil {
		return nil, err
	}
	if err := l.planNetwork(); err != nil {
		return nil, err
	}
	if err := l.planProcess(wl, vars); err != nil {
		return nil, err
	}
	if wl.groupsKept {
		l.Warnings = append(l.Warnings, "supplementary groups are kept: dropping them needs root")
	}
	return l, nil
}

// need records a layer the kernel cannot provide: fatal unless the policy
// lists the layer under best_effort.
func (l *Launch) need(layer, missing string) error {
	if l.bestEffort[layer] {
		l.Layers = append(l.Layers, Layer{Name: layer, State: Degraded, Detail: missing + " (best_effort)"})
		return nil
	}
	return &Error{Layer: layer, Err: fmt.Errorf("%s: %s; the policy does not list %q under best_effort, so the launch stops", layer, missing, layer)}
}

func (l *Launch) planSeccomp() error {
	b := l.opts.Bundle
	arch, err := seccomp.NativeArch()
	if err != nil {
		return l.need("seccomp", err.Error())
	}
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return l.need("seccomp", "the kernel has no seccomp")
	}
	prog, ok := b.Syscalls.ProgramFor(arch.Name)
	if !ok {
		return l.need("seccomp", "the bundle has no program for "+arch.Name)
	}
	code, err := prog.Instructions()
	if err != nil {
		return fmt.Errorf("bundle: seccomp program for %s: %w", arch.Name, err)
	}
	if err := seccomp.Verify(code); err != nil {
		return fmt.Errorf("bundle: seccomp program for %s: %w", arch.Name, err)
	}
	// Denials are logged (SECCOMP_FILTER_FLAG_LOG); clone3's ENOSYS, which
	// only sends libc to clone, goes to a program of its own, unlogged.
	logged, quiet, err := seccomp.SplitFallbacks(code, arch)
	if err != nil {
		return fmt.Errorf("bundle: seccomp program for %s: %w", arch.Name, err)
	}
	l.spec.Seccomp = append(l.spec.Seccomp, shim.Program(seccomp.Marshal(logged)))
	l.policyProg = logged
	if quiet != nil {
		l.spec.SeccompQuiet = append(l.spec.SeccompQuiet, shim.Program(seccomp.Marshal(quiet)))
	}
	detail := fmt.Sprintf("%d syscalls allowed, the rest fail with %s; %d instructions for %s, logged denials", len(b.Syscalls.Allowed), b.Syscalls.Errno, len(code), arch.Name)
	state := Enforced
	if b.Metadata.Mode == bundle.ModeAudit {
		state, detail = Off, "audit mode: every call runs, and what enforcement would block is logged"
	}
	l.Layers = append(l.Layers, Layer{Name: "seccomp", State: state, Detail: detail})
	return nil
}

// Landlock ABI versions the layers need: every filesystem right up to
// ioctl_dev (5), TCP rules (4), scopes (6).
const (
	abiFS     = 5
	abiNet    = 4
	abiScopes = 6
)

func (l *Launch) planLandlock() error {
	b := l.opts.Bundle
	if b.Metadata.Mode == bundle.ModeAudit {
		l.Layers = append(l.Layers, Layer{Name: "landlock", State: Off, Detail: "audit mode: Landlock cannot log without denying, so it is not applied"})
		l.Fence.Mounts = nil
		return nil
	}
	abi := landlock.ABI()
	sup := landlock.SupportedBy(abi)
	ll := &shim.Landlock{FS: sup.FS, Scoped: sup.Scoped, Log: sup.Logging}
	switch {
	case abi == 0:
		if err := l.need("landlock", "the kernel has no Landlock (not built in, or not in the lsm= boot list)"); err != nil {
			return err
		}
		ll = nil
	case abi < abiFS:
		if err := l.need("landlock", fmt.Sprintf("Landlock ABI %d lacks rights this launch needs (truncate, ioctl_dev: ABI %d)", abi, abiFS)); err != nil {
			return err
		}
	default:
		l.Layers = append(l.Layers, Layer{Name: "landlock", State: Enforced, Detail: fmt.Sprintf("ABI %d, every filesystem right handled; %d grant roots", abi, len(l.Fence.Grants))})
	}
	if ll != nil {
		if abi >= abiScopes {
			l.Layers = append(l.Layers, Layer{Name: "landlock-scopes", State: Enforced, Detail: "signals and abstract unix sockets stop at the sandbox's edge"})
		} else if err := l.need("landlock-scopes", fmt.Sprintf("Landlock ABI %d has no scopes (ABI %d)", abi, abiScopes)); err != nil {
			return err
		}
		if abi >= abiNet {
			ll.Net = landlock.NetTCP
		} else if err := l.need("landlock-network", fmt.Sprintf("Landlock ABI %d has no TCP rules (ABI %d)", abi, abiNet)); err != nil {
			return err
		}
	}
	l.spec.Landlock = ll

	// Denied entries inside granted trees.
	if n := len(l.Fence.Mounts); n > 0 {
		l.MountNS = true
		l.UserNS = os.Geteuid() != 0
		how := "a private mount namespace"
		if l.UserNS {
			how += " (in a user namespace of its own)"
		}
		l.Layers = append(l.Layers, Layer{Name: "deny-at-launch", State: Enforced,
			Detail: fmt.Sprintf("%d existing entries denied inside granted trees are masked in %s", countKind(l.Fence.Mounts, fence.Hide, fence.ReadOnly), how)})
	}
	l.spec.Fence = l.Fence
	if len(b.Filesystem.Deny) > 0 && l.opts.Daemon == nil {
		l.Layers = append(l.Layers, Layer{Name: "bpf-lsm", State: Degraded, Detail: "needs agentd: deny rules cover what exists at launch, not names created later inside writable trees"})
	}
	return nil
}

func countKind(ms []fence.Mount, kinds ...string) int {
	n := 0
	for _, m := range ms {
		if slices.Contains(kinds, m.Kind) {
			n++
		}
	}
	return n
}

func (l *Launch) planProcess(wl *workload, vars bundle.Vars) error {
	p := l.opts.Bundle.Process
	env, err := buildEnv(l.opts.Bundle, vars, l.opts.Environ)
	if err != nil {
		return err
	}
	if wl.uid != os.Geteuid() {
		// Another user's session: its identity, not the launcher's.
		env = override(env, map[string]string{"HOME": wl.home, "USER": wl.name, "LOGNAME": wl.name})
	}
	l.setEnv(setAll(env, l.netEnv))
	for _, c := range p.Capabilities {
		n, ok := bundle.CapabilityNumber(c)
		if !ok {
			return fmt.Errorf("bundle: process.capabilities: unknown %q", c)
		}
		l.spec.Caps = append(l.spec.Caps, n)
	}
	lim := p.Limits
	add := func(res int, name string, v uint64) {
		if v > 0 {
			l.Rlimits = append(l.Rlimits, shim.Rlimit{Resource: res, Name: name, Value: v})
		}
	}
	// Without agentd's cgroup these are per process (memory as the data
	// segment) or per user (processes), not per sandbox.
	add(unix.RLIMIT_DATA, "memory", lim.MemoryBytes)
	add(unix.RLIMIT_NPROC, "pids", lim.Pids)
	add(unix.RLIMIT_NOFILE, "open_files", lim.OpenFiles)
	add(unix.RLIMIT_FSIZE, "file_size", lim.FileBytes)
	add(unix.RLIMIT_CPU, "cpu_time", lim.CPUSeconds)
	l.spec.Rlimits = l.Rlimits
	if lim.MilliCPUs > 0 && l.opts.Daemon == nil {
		if err := l.need("limits", "a CPU share (cpus) needs agentd's cgroup"); err != nil {
			return err
		}
	}
	switch {
	case l.opts.Daemon != nil:
		l.Layers = append(l.Layers, Layer{Name: "limits", State: Enforced, Detail: "memory, pids and CPU per sandbox by agentd's cgroup, and the rlimits besides"})
	case len(l.Rlimits) > 0:
		l.Layers = append(l.Layers, Layer{Name: "limits", State: Enforced, Detail: "as rlimits: memory per process (data segment), pids per user; agentd's cgroup makes them per sandbox"})
	}
	caps := "every capability dropped (all five sets)"
	if len(p.Capabilities) > 0 {
		caps = "capabilities dropped except " + strings.Join(p.Capabilities, ", ")
	}
	l.Layers = append(l.Layers, Layer{Name: "process", State: Enforced,
		Detail: caps + "; no_new_privs; new session; descriptors above 2 closed on exec; environment reduced to the policy's list"})
	return nil
}

// setEnv makes env the workload's environment.
func (l *Launch) setEnv(env []string) {
	l.spec.Env = env
	l.EnvNames = l.EnvNames[:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		l.EnvNames = append(l.EnvNames, name)
	}
}

// buildEnv is the workload's whole environment: the policy's pass list from
// the launching environment, its fixed values, and a placeholder for every
// credential, never the secret.
func buildEnv(b *bundle.Bundle, vars bundle.Vars, environ []string) ([]string, error) {
	lookup := envLookup(environ)
	out := []string{}
	set := map[string]int{}
	put := func(name, value string) {
		if i, ok := set[name]; ok {
			out[i] = name + "=" + value
			return
		}
		set[name] = len(out)
		out = append(out, name+"="+value)
	}
	for _, name := range b.Process.EnvPass {
		if v, ok := lookup(name); ok {
			put(name, v)
		}
	}
	for _, e := range b.Process.EnvSet {
		v, err := bundle.ExpandValue(e.Value, vars)
		if err != nil {
			return nil, fmt.Errorf("process.env.set %s: %w", e.Name, err)
		}
		put(e.Name, v)
	}
	for _, c := range b.Credentials {
		if c.Env != "" {
			put(c.Env, c.Placeholder)
		}
	}
	return out, nil
}

// setAll sets every variable of values in env, replacing or appending.
func setAll(env []string, values map[string]string) []string {
	env = override(env, values)
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") }) {
			env = append(env, name+"="+values[name])
		}
	}
	return env
}

// override replaces the values of variables already in env.
func override(env []string, values map[string]string) []string {
	for i, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if v, ok := values[name]; ok {
			env[i] = name + "=" + v
		}
	}
	return env
}

func envLookup(environ []string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := len(environ) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(environ[i], name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
}

type workload struct {
	name, home string
	uid, gid   int
	creds      *shim.Creds // nil: keep the launcher's user and groups
	groupsKept bool
}

// workloadUser resolves who the workload runs as, and its home: the
// launching user's $HOME when the workload is that user, else the password
// database's. Only root can choose another user; root itself always sheds
// its supplementary groups.
func workloadUser(flag, policyUser string, env func(string) (string, bool)) (*workload, error) {
	want := flag
	if want == "" && policyUser != "inherit" {
		want = policyUser
	}
	euid := os.Geteuid()
	var u *user.User
	var err error
	if want == "" {
		u, err = user.LookupId(strconv.Itoa(euid))
	} else if _, numErr := strconv.Atoi(want); numErr == nil {
		u, err = user.LookupId(want)
	} else {
		u, err = user.Lookup(want)
	}
	if err != nil {
		return nil, fmt.Errorf("workload user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	w := &workload{name: u.Username, home: u.HomeDir, uid: uid, gid: gid}
	if h, ok := env("HOME"); ok && filepath.IsAbs(h) && uid == euid {
		// The launching user's own HOME, as every tool they run sees it.
		w.home = filepath.Clean(h)
	}
	if w.home != "" {
		if real, err := filepath.EvalSymlinks(w.home); err == nil {
			w.home = real
		}
	}
	switch {
	case euid == 0:
		w.creds = &shim.Creds{UID: uid, GID: gid, Groups: []int{}}
	case uid != euid:
		return nil, fmt.Errorf("running the workload as %s (uid %d) needs root", u.Username, uid)
	default:
		groups, _ := unix.Getgroups()
		w.groupsKept = len(groups) > 0 && !(len(groups) == 1 && groups[0] == os.Getegid())
		w.gid = os.Getegid()
	}
	return w, nil
}

// ResolveWorkspace resolves the workspace the user named (or the current
// directory). The user's own symlinks are followed here, before the sandbox
// exists; the fence never follows one.
func ResolveWorkspace(dir string) (string, error) {
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return "", fmt.Errorf("workspace: %w", err)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("workspace: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("workspace: %w", err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("workspace: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("workspace: %s is not a directory", real)
	}
	if real == "/" {
		return "", errors.New("workspace: / cannot be a workspace; name a project directory")
	}
	return real, nil
}

// workdir is where the workload starts: the current directory when it lies
// in the workspace, else the workspace.
func workdir(ws string) string {
	wd, err := os.Getwd()
	if err == nil {
		if real, err := filepath.EvalSymlinks(wd); err == nil && (real == ws || strings.HasPrefix(real, ws+"/")) {
			return real
		}
	}
	return ws
}

// ShimName is the shim's binary, installed beside agentctl.
const ShimName = "paddock-shim"

// shimPath finds the shim beside the running executable.
func shimPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding %s: %w", ShimName, err)
	}
	p := filepath.Join(filepath.Dir(exe), ShimName)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not installed beside %s (make build puts both in bin/)", ShimName, exe)
	}
	return p, nil
}

// Close removes what Prepare created.
func (l *Launch) Close() error {
	if l.tmp == "" {
		return nil
	}
	err := os.RemoveAll(l.tmp)
	l.tmp = ""
	return err
}
