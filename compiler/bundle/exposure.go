package bundle

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/paddock-sh/paddock/compiler/hostpattern"
	"github.com/paddock-sh/paddock/compiler/seccomp"
)

// Factor is one reason a policy is open, with its weight.
type Factor struct {
	Points float64 `json:"points"`
	What   string  `json:"what"`
}

// SampleVars are the stand-in values exposure scoring resolves templates
// with: a user "agent" working in ~/work.
var SampleVars = Vars{Workspace: "/home/agent/repo", Home: "/home/agent", Tmp: "/tmp/paddock-agent", User: "agent",
	Env: func(string) (string, bool) { return "/home/agent/env", true }}

// Exposure scores how open a bundle is, from 0 (nothing reachable beyond
// the workspace) to 10, and lists why. It asks the bundle's own decision
// functions about things an attacker wants (credential files, files that
// run code later, arbitrary destinations, dangerous syscalls), so the score
// follows what enforcement would do, not how the policy is worded.
func Exposure(b *Bundle) (float64, []Factor) {
	var fs []Factor
	add := func(p float64, format string, args ...any) {
		fs = append(fs, Factor{Points: p, What: fmt.Sprintf(format, args...)})
	}
	if b.Metadata.Mode == ModeAudit {
		add(4, "audit mode: nothing is blocked, only reported")
	}
	exposureFS(b, add)
	exposureNet(b, add)
	exposureSyscalls(b, add)
	if u := b.Process.User; u == "root" || u == "0" {
		add(1, "the workload runs as root")
	}
	for _, c := range b.Process.Capabilities {
		p := 0.5
		if c == "CAP_SYS_ADMIN" || c == "CAP_SYS_PTRACE" || c == "CAP_DAC_OVERRIDE" || c == "CAP_SYS_MODULE" {
			p = 3
		}
		add(p, "keeps capability %s", c)
	}
	total := 0.0
	for _, f := range fs {
		total += f.Points
	}
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Points > fs[j].Points })
	return math.Min(10, math.Round(total*10)/10), fs
}

// Things no agent should read, or change, in the sample layout.
var (
	secretPaths = []string{
		"/home/agent/.ssh/id_ed25519", "/home/agent/.aws/credentials", "/home/agent/.config/gcloud/credentials.db",
		"/home/agent/.kube/config", "/home/agent/.docker/config.json", "/home/agent/.git-credentials",
		"/home/agent/.netrc", "/home/agent/.gnupg/private-keys-v1.d/key", "/home/agent/repo/.env",
		"/home/agent/repo/deploy/server.pem", "/home/agent/repo/certs/tls.key", "/etc/shadow",
	}
	laterPaths = []string{
		"/home/agent/.bashrc", "/home/agent/.profile", "/home/agent/.zshrc", "/home/agent/.local/bin/git",
		"/home/agent/repo/.git/hooks/pre-commit", "/home/agent/repo/.git/config", "/home/agent/.gitconfig",
		"/home/agent/repo/.vscode/tasks.json", "/home/agent/repo/.claude/settings.json", "/home/agent/.claude.json", "/home/agent/.config/systemd/user/x.service",
	}
)

func exposureFS(b *Bundle, add func(float64, string, ...any)) {
	r, err := b.Filesystem.Resolve(SampleVars)
	if err != nil {
		add(1, "filesystem rules do not resolve for a sample user: %v", err)
		return
	}
	for _, p := range secretPaths {
		if r.Decide(p, false).Verdict == VerdictAllow {
			add(0.8, "can read %s", p)
		}
	}
	for _, p := range laterPaths {
		if r.Decide(p, true).Verdict == VerdictAllow {
			add(0.6, "can write %s (runs code outside the sandbox later)", p)
		}
	}
	for _, p := range []string{"/home/agent/notes.txt", "/var/tmp/x", "/etc/hosts", "/usr/local/lib/x"} {
		if r.Decide(p, true).Verdict == VerdictAllow {
			add(0.5, "can write %s, outside the workspace", p)
		}
	}
	if r.Decide("/home/agent/Documents/private.txt", false).Verdict == VerdictAllow {
		add(0.5, "can read the home directory beyond the workspace")
	}
}

func exposureNet(b *Bundle, add func(float64, string, ...any)) {
	n := &b.Network
	if n.OnUnknown == VerdictAsk {
		add(1, "unknown destinations are offered for approval instead of denied")
	}
	if d, _ := n.Decide("exfil.example", 443); d.Verdict != VerdictDeny && d.Verdict != VerdictAsk {
		add(3, "an arbitrary destination is reachable")
	}
	for _, a := range n.Allow {
		p, err := hostpattern.ParsePattern(a.Pattern)
		if err != nil {
			continue
		}
		if w := p.Broad(); w >= 0.5 {
			add(math.Round(w*5)/10, "broad destination %s", a.Pattern)
		}
		if p.Loopback() {
			add(0.5, "reaches loopback destination %s directly", a.Pattern)
		}
	}
	for _, g := range []string{"169.254.169.254", "127.0.0.1", "::1"} {
		if d, _ := n.Decide(g, 80); d.Verdict != VerdictDeny {
			add(1, "%s is reachable", g)
		}
	}
	switch n.Listen {
	case ListenAny:
		add(1, "may listen on every address")
	}
	for _, u := range n.UnixSockets {
		add(0.7, "may connect to unix socket %s", u.Path)
	}
}

// Syscalls that widen what a sandboxed process can reach, by group of risk.
var riskySyscalls = []struct {
	names  []string
	points float64
	what   string
}{
	{[]string{"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd"}, 1.5, "may inspect or control other processes"},
	{[]string{"mount", "fsopen", "move_mount", "pivot_root", "chroot"}, 2, "may mount filesystems"},
	{[]string{"bpf", "perf_event_open"}, 2, "may load BPF programs or open perf events"},
	{[]string{"init_module", "finit_module", "kexec_load", "reboot"}, 3, "may change the kernel"},
	{[]string{"io_uring_setup"}, 1, "may use io_uring, which bypasses seccomp for the operations it submits"},
	{[]string{"unshare", "setns"}, 1, "may create or join namespaces"},
	{[]string{"keyctl", "add_key", "request_key"}, 0.5, "may use kernel keyrings"},
	{[]string{"userfaultfd"}, 0.5, "may use userfaultfd"},
}

func exposureSyscalls(b *Bundle, add func(float64, string, ...any)) {
	arch := seccomp.X86_64
	allowed := func(name string, args [6]uint64) bool {
		d, _, err := b.Syscalls.Decide(arch, name, args)
		return err == nil && d.Verdict == VerdictAllow
	}
	for _, r := range riskySyscalls {
		if slices.ContainsFunc(r.names, func(n string) bool { return allowed(n, [6]uint64{}) }) {
			add(r.points, "%s", r.what)
		}
	}
	const afPacket, sockRaw, tiocsti, cloneNewUser = 17, 3, 0x5412, 0x10000000
	if allowed("socket", [6]uint64{afPacket, sockRaw}) {
		add(1, "may open packet sockets")
	}
	if allowed("ioctl", [6]uint64{0, tiocsti}) {
		add(1, "may push input into a terminal (TIOCSTI)")
	}
	if allowed("clone", [6]uint64{cloneNewUser}) {
		add(1, "may create user namespaces through clone")
	}
	if allowed("chmod", [6]uint64{}) {
		add(0.3, "may change file modes by path (Landlock does not see it)")
	}
}
