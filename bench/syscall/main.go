// Command syscall measures what Paddock's seccomp filter costs on the hot
// syscall path, next to the peers: the per-call time of getpid (through
// syscall(2)), openat+close, a 1-byte read, socket+close and an ioctl, in C
// loops, with no filter, with the one-instruction allow filter (the floor
// any filter costs), with Paddock's default policy (its program alone, and
// the stack of three programs a launch installs), with the same policy
// assembled linearly by go-seccomp-bpf, with a Docker-default-like
// allowlist built by libseccomp, inside `agentctl run` (the whole fence),
// inside bubblewrap and inside firejail's default profile; and how the cost
// of one call grows with the size of the policy, 10 to 1000 rules, in
// Paddock's layout and the linear one, for a call the kernel's action
// cache can skip and for one whose argument the filter must check.
//
// Every variant runs the same program (csrc/loop.c, compiled at run time):
// it installs the programs this command writes for it (raw struct
// sock_filter arrays), checks Seccomp_filters in /proc/self/status against
// what the variant expects and refuses to measure otherwise. The peers'
// sandboxes start it instead. Every variant's loop stays running and times
// one block of calls when asked. A round takes each call in turn and, for
// every variant, times a block of it next to a block of the bare loop and
// one of the floor's (the three in an order that rotates), so every
// figure is compared with baselines measured milliseconds before or after
// it. Every ratio is the median over the rounds of those paired ratios,
// with their p10–p90. Where it may, it runs the loops under SCHED_FIFO so
// that a shared machine's other load does not preempt a block.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/bpf"

	"github.com/paddock-sh/paddock/agentd/launch"
	"github.com/paddock-sh/paddock/bench/internal/filters"
	"github.com/paddock-sh/paddock/bench/internal/peers"
	"github.com/paddock-sh/paddock/bench/internal/report"
	"github.com/paddock-sh/paddock/bench/internal/rig"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/compiler/seccomp"
)

//go:embed csrc/loop.c
var loopC []byte

func main() {
	rounds := flag.Int("rounds", 150, "rounds; each times one block of every call in every variant, next to bare and floor blocks")
	warmup := flag.Int("warmup", 2, "untimed rounds first")
	iters := flag.Float64("iters", 1, "scales the calls per block (getpid: 5,000 at 1)")
	scaling := flag.Bool("scaling", true, "also measure policies of 10 to 1000 rules")
	fifo := flag.Bool("fifo", true, "run every loop under SCHED_FIFO (chrt -f), where allowed, so other load on the machine does not preempt a block")
	out := flag.String("o", "bench/results/syscall.md", "write the markdown report to this file (\"\": stdout only)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file (default: -o's name with .json)")
	flag.Parse()
	if *rounds < 1 || *warmup < 0 || *iters <= 0 {
		fmt.Fprintln(os.Stderr, "syscall: -rounds at least 1, -warmup at least 0, -iters above 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	b := &bench{ctx: ctx, rounds: *rounds, warmup: *warmup, iters: *iters, scaling: *scaling, fifo: *fifo}
	md, res, err := b.run()
	if cerr := b.undo.Run(); cerr != nil {
		fmt.Fprintln(os.Stderr, "syscall: cleaning up:", cerr)
		if err == nil {
			err = cerr
		}
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "syscall:", err)
		os.Exit(1)
	}
	if err := report.Publish(*out, *jsonOut, md, res); err != nil {
		fmt.Fprintln(os.Stderr, "syscall:", err)
		os.Exit(1)
	}
}

// The targets.
const (
	// Paddock's default policy over the floor, for syscalls it allows
	// without an argument rule.
	targetCached = 1.05
	// Over the floor at 300 rules, for a syscall with an argument rule.
	targetArgs = 1.15
	// The policy size the argument target is stated at.
	targetRules = 300
)

// ruleCounts are the policy sizes of the scaling measurement.
var ruleCounts = []int{10, 50, 100, 300, 1000}

// A call is one of the loop's timed operations.
type call struct {
	key  string // the loop's name for it
	name string // the report's
	// per block, at -iters 1: about 1 ms on the dev VM, short enough that
	// a variant's block and the baselines next to it see the same state
	// of a shared host (whose other load moves a call's cost by 30%)
	iters int
	// sys are the syscalls one iteration makes, with the arguments the
	// filter sees (descriptors and pointers as 0: no rule reads them).
	sys []sysCall
}

type sysCall struct {
	name string
	args [6]uint64
}

var calls = []call{
	{"getpid", "getpid", 5000, []sysCall{{"getpid", [6]uint64{}}}},
	{"openat", "openat+close", 400, []sysCall{{"openat", [6]uint64{atFDCWD, 0, oRdonlyCloexec}}, {"close", [6]uint64{}}}},
	{"read", "read 1 byte", 4000, []sysCall{{"read", [6]uint64{0, 0, 1}}}},
	{"socket", "socket+close", 160, []sysCall{{"socket", [6]uint64{afInet, sockStreamCloexec, 0}}, {"close", [6]uint64{}}}},
	{"ioctl", "ioctl FIONREAD", 4000, []sysCall{{"ioctl", [6]uint64{0, fionread, 0}}}},
}

// harness are the syscalls the loop makes besides the measured ones once
// its filters are in: reading /proc/self/status and its requests, writing
// its output, reporting its scheduling policy, exiting, and clock_gettime
// should the vDSO fall back to it. The
// synthetic policies allow them outright and give them no other rule.
var harness = []string{"openat", "read", "close", "write", "exit_group", "clock_gettime", "sched_getscheduler"}

// A variant is one way of running the loop.
type variant struct {
	key  string // short, unique: "paddock", "scale-linear-args-300"
	name string // for the report
	// what it installs, for the report
	what string
	// wrap is the command that starts the loop (bwrap, firejail,
	// agentctl), empty for none; dir its working directory.
	wrap []string
	dir  string
	// filters are the loop's -f/-F arguments.
	filters []string
	// expect is the loop's -e/-m argument: what Seccomp_filters must be.
	expect []string
	// progs are the programs installed, as far as this command knows them:
	// for predicting the probes and the paths; nil for a peer's.
	progs [][]bpf.RawInstruction
	calls []call
	skip  string // why it is not measured; "" when it is

	// scaling variants
	rules  int
	layout string // "paddock" or "linear"
	args   bool   // getpid has an argument rule

	status  map[string]string
	probes  map[string]string
	samples map[string][]sample // per call key, one per round
	proc    *proc               // its running loop
}

// A sample is one round's block of a variant and the bare and floor blocks
// measured right next to it, in ns per call.
type sample struct{ ns, bare, floor float64 }

// bench is one run and what it set up.
type bench struct {
	ctx     context.Context
	rounds  int
	warmup  int
	iters   float64
	scaling bool
	fifo    bool
	undo    rig.Undo

	// chrt is the prefix that runs a loop under SCHED_FIFO, nil for the
	// normal policy; sched is the policy the loops must report, and
	// schedNote says why for the report.
	chrt      []string
	sched     string
	schedNote string

	machine  report.Machine
	arch     *seccomp.Arch
	loop     string
	docker   string
	cc       string
	tmp      string
	ws       string
	variants []*variant
	notes    []string // what the setup found, for the report
	linNotes []string
	insns    map[string]int // program sizes by variant key
	allowed  int            // syscalls the default policy allows
}

func (b *bench) run() ([]byte, *report.Result, error) {
	b.machine = report.ThisMachine()
	var err error
	if b.arch, err = seccomp.NativeArch(); err != nil {
		return nil, nil, err
	}
	if b.tmp, err = os.MkdirTemp("", "paddock-bench-syscall-"); err != nil {
		return nil, nil, err
	}
	b.undo.Push(func() error { return os.RemoveAll(b.tmp) })
	// The workspace of the agentctl variant holds the loop, so the
	// sandbox can run it.
	b.ws = filepath.Join(b.tmp, "ws")
	if err := os.Mkdir(b.ws, 0o755); err != nil {
		return nil, nil, err
	}
	if b.loop, b.cc, err = rig.CompileC(b.ws, "loop", loopC); err != nil {
		return nil, nil, err
	}
	b.scheduling()
	if err := b.setup(); err != nil {
		return nil, nil, err
	}
	if err := b.check(); err != nil {
		return nil, nil, err
	}
	b.undo.Push(b.stopAll)
	if err := b.measure(); err != nil {
		return nil, nil, err
	}
	return b.render()
}

// setup writes every variant's programs and builds its command.
func (b *bench) setup() error {
	b.insns = map[string]int{}
	write := func(key string, prog []bpf.RawInstruction) (string, error) {
		path := filepath.Join(b.tmp, key+".bpf")
		b.insns[key] = len(prog)
		return path, os.WriteFile(path, seccomp.Marshal(prog), 0o644)
	}
	single := func(key, name, what string, prog []bpf.RawInstruction) (*variant, error) {
		path, err := write(key, prog)
		if err != nil {
			return nil, err
		}
		return &variant{key: key, name: name, what: what, filters: []string{"-f", path}, expect: []string{"-e", "1"},
			progs: [][]bpf.RawInstruction{prog}, calls: calls}, nil
	}

	bare := &variant{key: "bare", name: "bare (no filter)", what: "nothing", expect: []string{"-e", "0"}, calls: calls}
	floor, err := single("floor", "one-instruction floor", "one program: `ret ALLOW`", filters.Floor())
	if err != nil {
		return err
	}

	bdl, _, _, err := policy.Open("builtin:default", nil)
	if err != nil {
		return err
	}
	bp, ok := bdl.Syscalls.ProgramFor(b.arch.Name)
	if !ok {
		return fmt.Errorf("the default policy's bundle has no program for %s", b.arch.Name)
	}
	ours, err := bp.Instructions()
	if err != nil {
		return err
	}
	b.allowed = len(bdl.Syscalls.Allowed)
	spec, err := filters.SpecOf(bdl)
	if err != nil {
		return err
	}
	// The linear variant must be the same policy: rebuilding the spec
	// from the bundle and lowering it again must give the bundle's program.
	f, err := seccomp.Lower(spec, b.arch)
	if err != nil {
		return err
	}
	again, err := f.Assemble()
	if err != nil {
		return err
	}
	if !slices.Equal(again, ours) {
		return errors.New("the default policy's spec, rebuilt from its bundle, does not assemble to the bundle's program")
	}
	lspec, notes, err := filters.Linearizable(spec)
	if err != nil {
		return err
	}
	b.linNotes = notes
	linear, err := seccomp.Reference(lspec)
	if err != nil {
		return err
	}
	if len(linear) > filters.MaxInsns {
		return fmt.Errorf("the default policy's linear program has %d instructions, more than the kernel takes", len(linear))
	}
	paddock, err := single("paddock", "Paddock default policy", fmt.Sprintf("one program: builtin:default's, %d instructions (binary search, %d syscalls allowed, %d argument rules)",
		len(ours), len(bdl.Syscalls.Allowed), len(bdl.Syscalls.Restrictions)), ours)
	if err != nil {
		return err
	}
	lin, err := single("linear", "same policy, go-seccomp-bpf linear", fmt.Sprintf("one program: builtin:default's rules assembled by go-seccomp-bpf, %d instructions (linear)", len(linear)), linear)
	if err != nil {
		return err
	}

	stack, err := b.stackVariant(ours)
	if err != nil {
		return err
	}
	docker, err := b.dockerVariant()
	if err != nil {
		return err
	}
	agentctl, err := b.agentctlVariant(ours, stack)
	if err != nil {
		return err
	}
	bwrap := &variant{key: "bwrap", name: "bubblewrap", calls: calls, expect: []string{"-e", "0"},
		what: "no seccomp filter (bwrap installs one only with --seccomp); user, mount, pid, net, ipc, uts and cgroup namespaces"}
	if path, err := exec.LookPath("bwrap"); err != nil {
		bwrap.skip = "not installed (make deps installs bubblewrap)"
	} else {
		bwrap.wrap = []string{path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent"}
	}
	firejail := &variant{key: "firejail", name: "firejail --profile=default", calls: calls, expect: []string{"-m", "1"},
		what: "firejail's default profile: its seccomp filters, caps.drop all, nonewprivs, protocol unix,inet,inet6, namespaces"}
	if firejail.wrap = peers.Firejail(); firejail.wrap == nil {
		firejail.skip = "not installed (make deps installs firejail)"
	}
	b.variants = []*variant{bare, floor, paddock, stack, lin, docker, agentctl, bwrap, firejail}
	if b.scaling {
		if err := b.scalingVariants(); err != nil {
			return err
		}
	}
	return nil
}

// stackVariant installs the default policy as a launch does, without the
// launch's other layers: the program SplitFallbacks makes for clone3's
// ENOSYS (not logged), then the policy's program with that call split off
// and the socket allowlist chained onto it (logged), as agentd/launch
// plans them and agentd/shim's installSeccomp loads them.
func (b *bench) stackVariant(policyProg []bpf.RawInstruction) (*variant, error) {
	logged, quiet, err := seccomp.SplitFallbacks(policyProg, b.arch)
	if err != nil {
		return nil, err
	}
	sockets, err := launch.SocketAllowlist()
	if err != nil {
		return nil, err
	}
	v := &variant{key: "stack", name: "Paddock default policy, as a launch installs it", calls: calls}
	var progs [][]bpf.RawInstruction
	var sizes []string
	add := func(key, flag string, prog []bpf.RawInstruction) error {
		path := filepath.Join(b.tmp, key+".bpf")
		if err := os.WriteFile(path, seccomp.Marshal(prog), 0o644); err != nil {
			return err
		}
		v.filters = append(v.filters, flag, path)
		progs = append(progs, prog)
		sizes = append(sizes, fmt.Sprint(len(prog)))
		return nil
	}
	if quiet != nil {
		if err := add("stack-quiet", "-f", quiet); err != nil {
			return nil, err
		}
	}
	chained, err := seccomp.Chain(logged, sockets)
	if err != nil {
		return nil, err
	}
	if err := add("stack-policy", "-F", chained); err != nil {
		return nil, err
	}
	v.progs = progs
	v.expect = []string{"-e", strconv.Itoa(len(progs))}
	v.what = fmt.Sprintf("%d programs of %s instructions, as agentd/launch plans them: clone3's ENOSYS on its own (not logged), the policy's program with that split off and the socket allowlist chained onto it (SECCOMP_FILTER_FLAG_LOG)",
		len(progs), strings.Join(sizes, ", "))
	return v, nil
}

// dockerVariant builds the Docker-default-like allowlist with libseccomp
// and exports its program for the loop to install like any other.
func (b *bench) dockerVariant() (*variant, error) {
	v := &variant{key: "docker", name: "Docker-default-like (libseccomp)", calls: calls, expect: []string{"-e", "1"}}
	prog, _, err := peers.BuildDockerLike(b.tmp)
	if err != nil {
		v.skip = "cannot build the libseccomp loader (make deps installs libseccomp-dev): " + firstLine(err.Error())
		return v, nil
	}
	b.docker = prog
	path := filepath.Join(b.tmp, "docker.bpf")
	out, err := exec.Command(prog, "-o", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("docker_like -o: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	insns, err := seccomp.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("libseccomp's program: %w", err)
	}
	b.insns["docker"] = len(insns)
	v.filters = []string{"-f", path}
	v.progs = [][]bpf.RawInstruction{insns}
	v.what = fmt.Sprintf("one program built by libseccomp (bench/internal/peers/csrc/docker_like.c: %s), %d instructions", strings.TrimPrefix(strings.TrimSpace(string(out)), "docker_like: "), len(insns))
	return v, nil
}

// agentctlVariant runs the loop inside `agentctl run` with the default
// policy, standalone: the whole fence (Landlock, a network namespace, the
// seccomp programs a launch installs), built from this checkout.
func (b *bench) agentctlVariant(policyProg []bpf.RawInstruction, stack *variant) (*variant, error) {
	v := &variant{key: "agentctl", name: "agentctl run (whole fence)", calls: calls, dir: b.ws}
	bin := filepath.Join(b.tmp, "bin")
	if err := rig.GoBuild(bin, "./tools/agentctl", "./agentd/cmd/paddock-shim"); err != nil {
		return nil, err
	}
	v.wrap = []string{filepath.Join(bin, "agentctl"), "run", "--quiet", "--agentd", "never", "--"}
	// How many programs the launch installs: the policy's, the fallback
	// program SplitFallbacks makes of it, and the socket allowlist when
	// the plan has that layer.
	cmd := exec.Command(v.wrap[0], "run", "--agentd", "never", "--explain", "--json", "--", "/bin/true")
	cmd.Dir = b.ws
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("agentctl run --explain: %w", err)
	}
	var plan struct {
		Layers []struct{ Name, State string }
	}
	if err := json.Unmarshal(out, &plan); err != nil {
		return nil, fmt.Errorf("agentctl run --explain --json: %w", err)
	}
	n := 1
	if _, quiet, err := seccomp.SplitFallbacks(policyProg, b.arch); err != nil {
		return nil, err
	} else if quiet != nil {
		n++
	}
	var layers []string
	for _, l := range plan.Layers {
		if l.State == "enforced" {
			layers = append(layers, l.Name)
		}

	}
	if n != len(stack.progs) {
		return nil, fmt.Errorf("agentctl's plan installs %d seccomp programs, the stack variant has %d: bench/syscall no longer matches the launcher", n, len(stack.progs))
	}
	v.expect = []string{"-e", strconv.Itoa(n)}
	v.progs = stack.progs
	v.what = fmt.Sprintf("`agentctl run --agentd never` with builtin:default: %d seccomp programs (its clone3 fallback, and the policy's with the socket allowlist chained on); enforced layers: %s", n, strings.Join(layers, ", "))
	return v, nil
}

// scalingVariants are the synthetic policies: for each rule count, each
// layout, getpid allowed outright (the action cache skips the filter) or
// only when its first argument is 0 (the filter runs and checks it).
func (b *bench) scalingVariants() error {
	getpid := []call{calls[0]}
	for _, args := range []bool{false, true} {
		for _, layout := range []string{"paddock", "linear"} {
			for _, n := range ruleCounts {
				spec := seccomp.SyntheticSpec(b.arch, n, args, append(slices.Clone(harness), "getpid")...)
				for _, h := range harness {
					spec.Allowed[h] = nil
				}
				spec.Allowed["getpid"] = nil
				if args {
					spec.Allowed["getpid"] = []seccomp.Check{{Arg: 0, Bits: 32, Mask: 0xffffffff, Op: seccomp.In, Values: []uint64{0}}}
				}
				paddock, linear, err := filters.Both(spec, b.arch)
				if err != nil {
					return err
				}
				prog := paddock
				if layout == "linear" {
					prog = linear
				}
				kind := "cached"
				if args {
					kind = "args"
				}
				key := fmt.Sprintf("scale-%s-%s-%d", layout, kind, n)
				v := &variant{key: key, calls: getpid, rules: n, layout: layout, args: args, expect: []string{"-e", "1"}, progs: [][]bpf.RawInstruction{prog}}
				v.name = fmt.Sprintf("%d rules, %s, %s", n, layoutName(layout), kindName(args))
				v.what = fmt.Sprintf("%d instructions", len(prog))
				b.insns[key] = len(prog)
				nr := b.nr("getpid")
				cached := seccomp.ConstAllow(prog, b.arch.AuditArch, nr)
				if cached == args {
					return fmt.Errorf("%s: the action cache would skip getpid: %v; the variant needs %v", key, cached, !args)
				}
				if len(prog) > filters.MaxInsns {
					v.skip = fmt.Sprintf("%d instructions: the kernel refuses programs over %d", len(prog), filters.MaxInsns)
				} else {
					path := filepath.Join(b.tmp, key+".bpf")
					if err := os.WriteFile(path, seccomp.Marshal(prog), 0o644); err != nil {
						return err
					}
					v.filters = []string{"-f", path}
				}
				b.variants = append(b.variants, v)
			}
		}
	}
	return nil
}

func layoutName(layout string) string {
	if layout == "linear" {
		return "go-seccomp-bpf linear"
	}
	return "Paddock"
}

func kindName(args bool) string {
	if args {
		return "getpid with an argument rule"
	}
	return "getpid allowed outright"
}

func (b *bench) nr(name string) uint32 {
	n, ok := seccompNumber(b.arch, name)
	if !ok {
		panic("no syscall " + name)
	}
	return n
}

// scheduling decides the policy every loop runs under: SCHED_FIFO at a
// low real-time priority when this process may set it (root, or an
// RLIMIT_RTPRIO), so that the rest of a shared machine's load cannot
// preempt a block; the normal policy otherwise. Real-time priority changes
// no syscall's cost, only who else may run on the CPU meanwhile. A loop
// serves one block at a time and then waits, and the kernel's real-time
// throttling (95% of each second by default) bounds it regardless.
func (b *bench) scheduling() {
	b.sched, b.schedNote = "OTHER", "the normal policy (SCHED_OTHER): -fifo=false"
	if !b.fifo {
		return
	}
	path, err := exec.LookPath("chrt")
	if err != nil {
		b.schedNote = "the normal policy (SCHED_OTHER): chrt (util-linux) is not installed"
		return
	}
	prefix := []string{path, "-f", "10"}
	if out, err := exec.Command(path, "-f", "10", "true").CombinedOutput(); err != nil {
		b.schedNote = "the normal policy (SCHED_OTHER): this user may not use SCHED_FIFO (" + firstLine(string(out)) + "), so blocks may be preempted by other load"
		return
	}
	b.chrt, b.sched = prefix, "FIFO"
	b.schedNote = "SCHED_FIFO at priority 10 (`chrt -f 10`, inherited through the sandboxes: every loop reported it), so other load on the machine cannot preempt a block"
}

// argv is the loop's command line for v.
func (b *bench) argv(v *variant) []string {
	argv := append(slices.Clone(b.chrt), v.wrap...)
	argv = append(argv, b.loop)
	argv = append(argv, v.filters...)
	argv = append(argv, v.expect...)
	probes := "all"
	if v.rules > 0 {
		probes = "getpid_arg1" // the synthetic policies allow no fork
	}
	argv = append(argv, "-p", probes)
	for _, c := range v.calls {
		argv = append(argv, fmt.Sprintf("%s=%d", c.key, b.itersOf(c)))
	}
	return argv
}

func (b *bench) itersOf(c call) int { return max(1, int(float64(c.iters)*b.iters)) }

// check starts every variant's loop and checks what it printed before
// "ready": its filters loaded and counted as expected (the loop itself
// refuses to go on otherwise), and where this command knows the programs,
// the kernel answered the probes as the interpreter predicts, which shows
// the programs in force are the ones written. A peer that cannot run here
// is skipped with the reason; a variant of Paddock's own that fails stops
// the run.
func (b *bench) check() error {
	var bare map[string]string
	for _, v := range b.variants {
		if v.skip != "" {
			continue
		}
		p, err := b.start(v)
		if err != nil {
			if len(v.wrap) > 0 && v.key != "agentctl" {
				v.skip = "cannot run here: " + firstLine(err.Error())
				continue
			}
			return err
		}
		v.proc = p
		if got := v.status["Sched"]; got != b.sched {
			return fmt.Errorf("%s: the loop runs under %s scheduling, the others under %s: the comparison would not be fair", v.name, got, b.sched)
		}
		if v.key == "bare" {
			bare = v.probes
		}
		if v.progs == nil {
			continue
		}
		for _, pc := range probeCases {
			got, ok := v.probes[pc.name]
			if !ok {
				continue // not run for this variant
			}
			want := predict(b.arch, v.progs, pc, bare[pc.name])
			if got != want {
				return fmt.Errorf("%s: probe %s answered %s; its programs say %s", v.name, pc.name, got, want)
			}
		}
	}
	return nil
}

// measure runs the warm-up and timed rounds. A round takes each call in
// turn and, for every variant that measures it (in an order that rotates
// from round to round and call to call), times one block of it between
// blocks of the bare loop and of the floor's, the three in an order that
// rotates too.
func (b *bench) measure() error {
	var live []*variant
	for _, v := range b.variants {
		if v.skip == "" {
			live = append(live, v)
			v.samples = map[string][]sample{}
		}
	}
	bare, floor := b.find("bare"), b.find("floor")
	fmt.Fprintf(os.Stderr, "syscall: %d warm-up and %d timed rounds over %d variants\n", b.warmup, b.rounds, len(live))
	start := time.Now()
	for round := -b.warmup; round < b.rounds; round++ {
		r := max(round, 0)
		for ci, c := range calls {
			var vs []*variant
			for _, v := range live {
				if slices.ContainsFunc(v.calls, func(x call) bool { return x.key == c.key }) {
					vs = append(vs, v)
				}
			}
			for k := range vs {
				v := vs[(k+ci+r)%len(vs)]
				seq := []*variant{v}
				if v != bare {
					seq = append(seq, bare)
				}
				if v != floor {
					seq = append(seq, floor)
				}
				got := map[*variant]float64{}
				for j := range seq {
					x := seq[(j+r+k)%len(seq)]
					idx := slices.IndexFunc(x.calls, func(y call) bool { return y.key == c.key })
					ns, err := x.proc.block(b.ctx, idx, round < 0)
					if err != nil {
						return fmt.Errorf("%s, round %d: %w", x.name, round+1, err)
					}
					got[x] = ns
				}
				if round >= 0 {
					v.samples[c.key] = append(v.samples[c.key], sample{ns: got[v], bare: got[bare], floor: got[floor]})
				}
			}
		}
		if done := round + 1; done > 0 && (done%20 == 0 || done == b.rounds) {
			fmt.Fprintf(os.Stderr, "syscall: round %d/%d (%.0fs)\n", done, b.rounds, time.Since(start).Seconds())
		}
	}
	for _, v := range live {
		if err := v.proc.stop(); err != nil {
			return fmt.Errorf("%s: %w", v.name, err)
		}
	}
	return nil
}

func (b *bench) find(key string) *variant {
	for _, v := range b.variants {
		if v.key == key {
			return v
		}
	}
	return nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
