// Command launch measures what it costs to start a command inside Paddock's
// fence: the wall time and peak memory of `agentctl run -- /bin/true` with
// the default policy, through agentd (an ephemeral sandbox of the daemon:
// its cgroup, hooks, proxy and stub, plus Landlock and seccomp) and
// standalone (--agentd=never), each as root and as uid 65534, next to a
// bare /bin/true and to the peers (bubblewrap, firejail's default profile,
// a Docker-default-like libseccomp loader); and the round trip of agentd's
// Sandboxes.Create, against its Events.Info on the same connection. The
// rows that need no agentd are timed again with hyperfine as a
// cross-check.
//
// agentd, agentctl and paddock-shim are built from this checkout into a
// temporary directory, and agentd runs as a process of its own with a
// state directory, socket, pins and cgroup subtree of its own.
//
// The launches are interleaved, one of each per iteration in an order that
// rotates, and every row is also reported as the median of its
// per-iteration ratio to the bare launch made in the same iteration. On a
// shared VM the host's load drifts over the seconds a run takes; drift
// moves both sides of a pair alike, so the paired ratio stays put where
// absolute times wander from one run to the next.
//
// It needs root: agentd does, and so does running agentctl as uid 65534.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/bench/internal/peers"
	"github.com/paddock-sh/paddock/bench/internal/report"
	"github.com/paddock-sh/paddock/bench/internal/rig"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
)

//go:embed csrc/spawn.c
var spawnC []byte

// The targets.
const (
	targetRSSMiB   = 20  // agentctl's peak RSS strictly under this
	targetCreateMS = 2.0 // median Create round trip, at most
	targetVsBwrap  = 1.5 // agentctl through agentd over bwrap, median of paired ratios, at most
	nobody         = 65534
	// The benchmark keeps root's calls to agentd under this, so the load
	// of a run stays steady (agentd does not limit local root).
	callsPerSecond = 40
)

// A row is one kind of launch and what was measured for it.
type row struct {
	name  string
	argv  []string // argv[0] is the program
	shown string   // the command as the report prints it
	dir   string   // working directory, "" for the benchmark's own
	env   []string
	cred  *syscall.Credential // nil: as root
	skip  string              // why the row is not measured, "" when it is
	peer  bool                // another tool's launch: where it cannot run, the row is skipped
	// agentd: the row runs its workload in a sandbox of the benchmark's
	// agentd, making this many API calls as root (rootCalls) per launch.
	agentd    bool
	rootCalls int

	wall   []time.Duration // one per timed iteration
	ratio  []float64       // wall over the same iteration's bare wall
	maxRSS int64           // largest ru_maxrss seen, KiB
}

// floorRow is the yardstick of a Go client of agentd: start, one call on a
// fresh connection, exit (bench/launch/grpcfloor); no launch through agentd
// can take less than it plus the workload's exec.
const floorRow = "Go gRPC client: start, one Events.Info, exit (no launch), as uid 65534"

// rpcs is the Create round trip and what it is compared with.
type rpcs struct {
	info, create, destroy []time.Duration
}

func main() {
	n := flag.Int("n", 200, "timed iterations (each launches every row once and times one Create)")
	warmup := flag.Int("warmup", 10, "untimed iterations first, to fill the page cache")
	gap := flag.Duration("gap", 0, "idle time before every launch and the Create, the same for all")
	out := flag.String("o", "bench/results/launch.md", "write the markdown report to this file (\"\": stdout only)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file, for bench/report (default: -o's name with .json)")
	hfRuns := flag.Int("hyperfine-runs", 30, "runs per command of the hyperfine cross-check of the rows that need no agentd (0: none)")
	flag.Parse()
	if *n < 1 || *warmup < 0 || *gap < 0 {
		fmt.Fprintln(os.Stderr, "launch: -n must be at least 1, -warmup and -gap at least 0")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "launch: needs root (agentd does, and so do the launches as uid 65534); nothing measured")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	b := &bench{ctx: ctx, n: *n, warmup: *warmup, gap: *gap, hfRuns: *hfRuns, machine: report.ThisMachine()}
	rep, err := b.run()
	if cerr := b.cleanup(); cerr != nil {
		fmt.Fprintln(os.Stderr, "launch: cleaning up:", cerr)
		if err == nil {
			err = cerr
		}
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		if b.agentdLog != "" {
			if tail := rig.TailOf(b.agentdLog, 2048); tail != "" {
				fmt.Fprintf(os.Stderr, "launch: agentd's log ends with:\n%s\n", tail)
			}
		}
		os.Exit(1)
	}
	if err := report.Publish(*out, *jsonOut, rep, b.result()); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
}

// bench is one run and everything it set up.
type bench struct {
	ctx              context.Context
	n, warmup        int
	gap              time.Duration
	cleanups         rig.Undo
	load             string
	bin, ws          string
	spawn            *spawner
	cc               string // the compiler that built the spawner
	sock             string
	cg2, cgroupRoot  string
	agentd           *exec.Cmd
	agentdLog        string
	conn             *grpc.ClientConn
	bundle           []byte // builtin:default, as agentctl sends it
	rows             []*row
	rpc              rpcs
	startSeq         uint64
	created          map[uint32]int // lifecycle "created" events by owner uid
	destroyed        int
	leftOver         uint32 // sandboxes agentd still had at the end
	inSandbox        string // /proc/self/cgroup of a workload run through agentd
	standaloneCgroup string // and of one run standalone

	machine   report.Machine
	hfRuns    int
	hyperfine []hfResult // the cross-check, when run
	hfVersion string
}

func (b *bench) onCleanup(f func() error) { b.cleanups.Push(f) }

// cleanup undoes everything in reverse order and reports what failed.
func (b *bench) cleanup() error { return b.cleanups.Run() }

func (b *bench) run() ([]byte, error) {
	b.load = report.Loadavg()
	tmp, err := os.MkdirTemp("", "paddock-bench-launch-")
	if err != nil {
		return nil, err
	}
	b.onCleanup(func() error { return os.RemoveAll(tmp) })
	// uid 65534 runs the binaries and reaches agentd's socket below it.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	b.bin = filepath.Join(tmp, "bin")
	if err := rig.GoBuild(b.bin, "./tools/agentctl", "./agentd/cmd/paddock-shim", "./agentd/cmd/agentd", "./bench/launch/grpcfloor"); err != nil {
		return nil, err
	}
	if err := b.startSpawner(tmp); err != nil {
		return nil, err
	}
	// A fresh, empty workspace: the default policy grants the working
	// directory, and an empty one keeps the launch from depending on what
	// this checkout holds. Homes of their own for both users.
	b.ws = filepath.Join(tmp, "ws")
	homeRoot, homeNobody := filepath.Join(tmp, "home-root"), filepath.Join(tmp, "home-nobody")
	for _, dir := range []string{b.ws, homeRoot, homeNobody} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
	}
	for _, dir := range []string{b.ws, homeNobody} {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			return nil, err
		}
	}
	if err := b.startAgentd(tmp); err != nil {
		return nil, err
	}
	bdl, _, _, err := policy.Open("builtin:default", nil)
	if err != nil {
		return nil, err
	}
	if b.bundle, err = bundle.Encode(bdl); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	info, err := apiv1.NewEventsClient(b.conn).Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		return nil, err
	}
	b.startSeq = info.GetLastSeq()

	env := func(home string) []string {
		return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + home, "LANG=C.UTF-8", "PADDOCK_SOCKET=" + b.sock}
	}
	asNobody := &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	agentctl := func(name string, daemon bool, cred *syscall.Credential, home string) *row {
		mode := "never"
		if daemon {
			mode = "always"
		}
		r := &row{name: name, argv: []string{filepath.Join(b.bin, "agentctl"), "run", "--quiet", "--agentd", mode, "--", "/bin/true"},
			dir: b.ws, env: env(home), cred: cred, agentd: daemon}
		r.shown = "agentctl run --quiet --agentd " + mode + " -- /bin/true"
		if daemon && cred == nil {
			r.rootCalls = 1 // Create (Destroy only when a process is left)
		}
		return r
	}
	b.rows = []*row{
		{name: "bare /bin/true", argv: []string{"/bin/true"}, shown: "/bin/true", env: env(homeRoot)},
		bwrapRow("bwrap, minimal, as root", minimalArgs(), nil, env(homeRoot), b.ws),
		bwrapRow("bwrap, minimal, as uid 65534", minimalArgs(), asNobody, env(homeNobody), b.ws),
		bwrapRow("bwrap, agent profile, as root", profileArgs(b.ws), nil, env(homeRoot), b.ws),
		firejailRow(env(homeRoot)),
		b.dockerLikeRow(tmp, env(homeRoot)),
		agentctl("agentctl run standalone, as root", false, nil, homeRoot),
		agentctl("agentctl run standalone, as uid 65534", false, asNobody, homeNobody),
		agentctl("agentctl run through agentd, as root", true, nil, homeRoot),
		agentctl("agentctl run through agentd, as uid 65534", true, asNobody, homeNobody),
		{name: floorRow, argv: []string{filepath.Join(b.bin, "grpcfloor")}, shown: "grpcfloor (bench/launch/grpcfloor)",
			env: env(homeNobody), cred: asNobody},
	}
	// agentctl is what is under test: if it cannot launch, the run is
	// void. bwrap is only the yardstick: where it cannot run, say why and
	// go on.
	for _, r := range b.rows {
		if r.skip != "" {
			continue
		}
		out, err := check(r, r.argv)
		if err == nil {
			continue
		}
		if r.peer {
			r.skip = "cannot run here: " + firstLine(out, err)
			continue
		}
		os.Stderr.Write(out)
		return nil, fmt.Errorf("%s does not exit 0 (%v); nothing timed", r.name, err)
	}
	if err := b.checkCgroups(); err != nil {
		return nil, err
	}

	var live []*row
	for _, r := range b.rows {
		if r.skip == "" {
			live = append(live, r)
		}
	}
	fmt.Fprintf(os.Stderr, "launch: %d warm-up and %d timed iterations of %d launches and one Create\n", b.warmup, b.n, len(live))
	if err := b.measure(live); err != nil {
		return nil, err
	}
	if err := b.tally(); err != nil {
		return nil, err
	}
	if err := b.crossCheck(tmp); err != nil {
		return nil, err
	}
	return b.render(), nil
}

// checkCgroups runs `cat /proc/self/cgroup` through agentd and standalone,
// as uid 65534: through agentd the workload must be in a sandbox below the
// daemon's cgroup subtree, standalone outside it.
func (b *bench) checkCgroups() error {
	rel, err := filepath.Rel(b.cg2, b.cgroupRoot)
	if err != nil {
		return err
	}
	subtree := "/" + rel + "/"
	for _, r := range b.rows {
		if r.cred == nil || !strings.HasPrefix(r.name, "agentctl") {
			continue
		}
		argv := append(append([]string{}, r.argv[:len(r.argv)-1]...), "/bin/cat", "/proc/self/cgroup")
		out, err := check(r, argv)
		if err != nil {
			return fmt.Errorf("%s: cat /proc/self/cgroup: %v\n%s", r.name, err, out)
		}
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "0::") {
				line = strings.TrimPrefix(l, "0::")
			}
		}
		switch in := strings.HasPrefix(line, subtree); {
		case r.agentd && !in:
			return fmt.Errorf("%s: the workload's cgroup %q is not below agentd's %s", r.name, line, subtree)
		case !r.agentd && in:
			return fmt.Errorf("%s: the workload's cgroup %q is below agentd's %s", r.name, line, subtree)
		case r.agentd:
			b.inSandbox = strings.Replace(line, subtree, "AGENTD_ROOT/", 1)
		default:
			b.standaloneCgroup = line
		}
	}
	return nil
}

// startAgentd runs agentd with state, socket, pins, unix directory and
// cgroup subtree of its own, and connects to it.
func (b *bench) startAgentd(tmp string) error {
	a, err := rig.StartAgentd(&b.cleanups, filepath.Join(b.bin, "agentd"), tmp, "launch")
	if a != nil {
		b.agentdLog = a.Log
	}
	if err != nil {
		return err
	}
	b.cg2, b.cgroupRoot, b.sock, b.agentd, b.conn = filepath.Dir(a.CgroupRoot), a.CgroupRoot, a.Socket, a.Cmd, a.Conn
	return nil
}

// profileArgs is a bubblewrap profile as strict as an agent sandbox
// would use, so that the comparison is not with an empty box.
func profileArgs(ws string) []string {
	return []string{
		"--die-with-parent", "--new-session", "--unshare-all",
		"--ro-bind", "/usr", "/usr",
		"--symlink", "usr/bin", "/bin",
		"--symlink", "usr/lib", "/lib",
		"--symlink", "usr/lib64", "/lib64",
		"--symlink", "usr/sbin", "/sbin",
		"--ro-bind", "/etc", "/etc",
		"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
		"--bind", ws, ws, "--chdir", ws,
		"--cap-drop", "ALL", "--clearenv",
		"--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", ws,
		"/bin/true",
	}
}

// minimalArgs is close to the least bubblewrap can do, the command of the
// peers' baseline: every namespace, the host's root read-only.
func minimalArgs() []string {
	return []string{"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent", "/bin/true"}
}

// bwrapRow builds a bubblewrap row; it is skipped where bwrap is missing.
// The printed command says WS for the workspace, so the report does not
// carry a random temporary path.
func bwrapRow(name string, args []string, cred *syscall.Credential, env []string, ws string) *row {
	r := &row{name: name, shown: strings.ReplaceAll("bwrap "+strings.Join(args, " "), ws, "WS"), cred: cred, env: env, peer: true}
	path, err := exec.LookPath("bwrap")
	if err != nil {
		r.skip = "not installed (make deps installs bubblewrap)"
		return r
	}
	r.argv = append([]string{path}, args...)
	return r
}

// firejailRow launches through firejail's default profile, as root only:
// firejail refuses users not listed in /etc/firejail/firejail.users.
func firejailRow(env []string) *row {
	r := &row{name: "firejail --profile=default, as root", shown: "firejail --quiet --profile=default /bin/true", env: env, peer: true}
	if r.argv = peers.Firejail("/bin/true"); r.argv == nil {
		r.skip = "not installed (make deps installs firejail)"
	}
	return r
}

// dockerLikeRow launches through the Docker-default-like libseccomp
// loader: the cost of building and loading a ~300-rule filter.
func (b *bench) dockerLikeRow(tmp string, env []string) *row {
	r := &row{name: "Docker-default-like seccomp loader, as root", shown: "docker_like -- /bin/true (bench/internal/peers)", env: env, peer: true}
	prog, _, err := peers.BuildDockerLike(tmp)
	if err != nil {
		r.skip = "cannot build it (make deps installs libseccomp-dev)"
		return r
	}
	r.argv = []string{prog, "--", "/bin/true"}
	return r
}

func command(r *row, argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = r.dir, r.env
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	return cmd
}

// check launches r's argv once and returns its combined output.
func check(r *row, argv []string) ([]byte, error) {
	return command(r, argv).CombinedOutput()
}

func firstLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return err.Error()
	}
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// measure runs warmup+n iterations, each launching every row once and
// timing one Create, in an order that rotates from one iteration to the
// next so that no row always runs right after the same neighbour (and its
// freshly warmed caches). An iteration lasts long enough for root's calls
// to agentd to stay under callsPerSecond; -gap adds the same idle time
// before every launch and the Create.
func (b *bench) measure(rows []*row) error {
	walls := make([]time.Duration, len(rows))
	calls := 3 // the Create item: Info, Create, Destroy
	for _, r := range rows {
		calls += r.rootCalls
	}
	floor := time.Duration(calls) * time.Second / callsPerSecond
	items := len(rows) + 1 // the last is the Create
	for it := range b.warmup + b.n {
		if b.ctx.Err() != nil {
			return errors.New("interrupted")
		}
		start := time.Now()
		var info, create, destroy time.Duration
		for k := range items {
			i := (it + k) % items
			if b.gap > 0 {
				time.Sleep(b.gap)
			}
			if i == len(rows) {
				var err error
				if info, create, destroy, err = b.createOnce(it); err != nil {
					return fmt.Errorf("Create, iteration %d: %w", it, err)
				}
				continue
			}
			d, rss, err := b.spawn.launch(rows[i])
			if err != nil {
				return fmt.Errorf("%s, iteration %d: %w", rows[i].name, it, err)
			}
			walls[i] = d
			if it >= b.warmup {
				rows[i].maxRSS = max(rows[i].maxRSS, rss)
			}
		}
		if rest := floor - time.Since(start); rest > 0 {
			time.Sleep(rest)
		}
		if it < b.warmup {
			continue
		}
		bare := walls[0] // rows[0] is the bare launch
		for i, r := range rows {
			r.wall = append(r.wall, walls[i])
			r.ratio = append(r.ratio, float64(walls[i])/float64(bare))
		}
		b.rpc.info = append(b.rpc.info, info)
		b.rpc.create = append(b.rpc.create, create)
		b.rpc.destroy = append(b.rpc.destroy, destroy)
		if done := it - b.warmup + 1; done%50 == 0 {
			fmt.Fprintf(os.Stderr, "launch: %d/%d\n", done, b.n)
		}
	}
	return nil
}

// createOnce times an Info, then a Create of a sandbox like agentctl's
// (the default policy's bundle, the workspace, ephemeral), ready to be
// entered when the call returns, then its Destroy. It first waits until
// no sandbox cgroup is left below agentd's root: agentd removes an
// agentctl run's sandbox as agentctl exits, and that work is the
// launch's, not this Create's.
func (b *bench) createOnce(it int) (info, create, destroy time.Duration, err error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ents, err := os.ReadDir(b.cgroupRoot)
		if err != nil {
			return 0, 0, 0, err
		}
		if !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), "sbx-") }) {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, 0, fmt.Errorf("a sandbox cgroup is still below %s after 5s", b.cgroupRoot)
		}
	}
	t := time.Now()
	if _, err := apiv1.NewEventsClient(b.conn).Info(ctx, &apiv1.InfoRequest{}); err != nil {
		return 0, 0, 0, err
	}
	info = time.Since(t)
	t = time.Now()
	sbx, err := apiv1.NewSandboxesClient(b.conn).Create(ctx, &apiv1.CreateSandboxRequest{
		Policy:    &apiv1.CreateSandboxRequest_Bundle{Bundle: b.bundle},
		Name:      fmt.Sprintf("bench-launch-%d", it),
		Workspace: b.ws,
		Ephemeral: true,
	})
	create = time.Since(t)
	if err != nil {
		return 0, 0, 0, err
	}
	if sbx.GetState() != apiv1.State_STATE_READY {
		return 0, 0, 0, fmt.Errorf("sandbox %s is %v, not ready", sbx.GetId(), sbx.GetState())
	}
	t = time.Now()
	if _, err := apiv1.NewSandboxesClient(b.conn).Destroy(ctx, &apiv1.DestroySandboxRequest{Id: sbx.GetId()}); err != nil {
		return 0, 0, 0, err
	}
	destroy = time.Since(t)
	return info, create, destroy, nil
}

// spawner is the running csrc/spawn.c: it launches the rows, so that
// neither Go's start of a process nor this process's memory is in what
// is measured.
type spawner struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// compileSpawner builds csrc/spawn.c in dir with the first C compiler
// found; it returns the program and the compiler's name and version.
func compileSpawner(dir string) (prog, cc string, err error) {
	src := filepath.Join(dir, "spawn.c")
	if err := os.WriteFile(src, spawnC, 0o644); err != nil {
		return "", "", err
	}
	prog = filepath.Join(dir, "spawn")
	for _, name := range []string{"cc", "gcc", "clang"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if out, err := exec.Command(path, "-O2", "-Wall", "-o", prog, src).CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s -O2 spawn.c: %v\n%s", name, err, out)
		}
		v, _ := exec.Command(path, "--version").Output()
		first, _, _ := strings.Cut(string(v), "\n")
		return prog, name + " -O2 (" + strings.TrimSpace(first) + ")", nil
	}
	return "", "", errors.New("no C compiler (cc, gcc or clang) found; make deps installs clang")
}

// startSpawner compiles the spawner and starts it.
func (b *bench) startSpawner(tmp string) error {
	prog, cc, err := compileSpawner(tmp)
	if err != nil {
		return err
	}
	b.cc = cc
	cmd := exec.Command(prog)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	b.spawn = &spawner{cmd: cmd, in: in, out: bufio.NewReader(out)}
	b.onCleanup(func() error {
		in.Close()
		return cmd.Wait()
	})
	return nil
}

// launch starts r once through the spawner and returns its wall time and
// peak RSS (KiB), wait4's ru_maxrss: the process and the descendants it
// reaped, the largest single process of the tree, not their sum.
func (s *spawner) launch(r *row) (time.Duration, int64, error) {
	uid, gid := -1, -1
	if r.cred != nil {
		uid, gid = int(r.cred.Uid), int(r.cred.Gid)
	}
	fields := []string{strconv.Itoa(uid), strconv.Itoa(gid), r.dir, strconv.Itoa(len(r.env))}
	fields = append(fields, r.env...)
	fields = append(fields, strconv.Itoa(len(r.argv)))
	fields = append(fields, r.argv...)
	var req bytes.Buffer
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return 0, 0, fmt.Errorf("a NUL in %q", f)
		}
		req.WriteString(f)
		req.WriteByte(0)
	}
	if _, err := s.in.Write(req.Bytes()); err != nil {
		return 0, 0, err
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		return 0, 0, fmt.Errorf("the spawner: %w", err)
	}
	var ns, rss int64
	var status int
	if _, err := fmt.Sscanf(line, "ok %d %d %d", &ns, &rss, &status); err != nil {
		return 0, 0, fmt.Errorf("the spawner: %s", strings.TrimSpace(line))
	}
	if ws := syscall.WaitStatus(status); !ws.Exited() || ws.ExitStatus() != 0 {
		return 0, 0, fmt.Errorf("exit status %d, signal %v", ws.ExitStatus(), ws.Signal())
	}
	return time.Duration(ns), rss, nil
}

// tally reads agentd's log back: a sandbox created and destroyed for
// every launch through it and every Create, and none left.
func (b *bench) tally() error {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// agentd removes an ephemeral sandbox as its agentctl exits (or
	// agentctl destroys it first, when a process is left in it); give the
	// log a moment.
	time.Sleep(200 * time.Millisecond)
	st, err := apiv1.NewEventsClient(b.conn).Subscribe(ctx, &apiv1.SubscribeRequest{SinceSeq: b.startSeq,
		Filter: &apiv1.Filter{Layers: []apiv1.Layer{apiv1.Layer_LAYER_DAEMON}}})
	if err != nil {
		return err
	}
	b.created = map[uint32]int{}
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if g := ev.GetGap(); g != nil {
			return fmt.Errorf("agentd's log has a gap: %d (%s)", g.Count, g.Cause)
		}
		switch ev.GetLifecycle().GetPhase() {
		case "created":
			b.created[ev.SandboxOwnerUid]++
		case "destroyed":
			b.destroyed++
		}
	}
	info, err := apiv1.NewEventsClient(b.conn).Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		return err
	}
	b.leftOver = info.GetSandboxes()
	// Every launch through agentd and every Create, warm-up and checks
	// included, made one sandbox.
	want := map[uint32]int{0: b.warmup + b.n}
	for _, r := range b.rows {
		if r.agentd && r.skip == "" {
			uid := uint32(0)
			if r.cred != nil {
				uid = r.cred.Uid
			}
			want[uid] += b.warmup + b.n + 1
			if r.cred != nil {
				want[uid]++ // checkCgroups
			}
		}
	}
	for uid, n := range want {
		if b.created[uid] != n {
			return fmt.Errorf("agentd's log has %d sandboxes created by uid %d, not %d", b.created[uid], uid, n)
		}
	}
	total := 0
	for _, n := range b.created {
		total += n
	}
	if b.destroyed != total {
		return fmt.Errorf("agentd's log has %d sandboxes created and %d destroyed", total, b.destroyed)
	}
	if b.leftOver != 0 {
		return fmt.Errorf("agentd still has %d sandboxes after every launch ended", b.leftOver)
	}
	return nil
}

func millis(ds []time.Duration) []float64 {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	return ms
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func (b *bench) find(name string) *row {
	for _, r := range b.rows {
		if r.name == name {
			return r
		}
	}
	panic("no row " + name)
}

// paired is the median and p10–p90 of a's per-iteration ratio to c.
func paired(a, c *row) (median, p10, p90 float64) {
	xs := make([]float64, len(a.wall))
	for i := range xs {
		xs[i] = float64(a.wall[i]) / float64(c.wall[i])
	}
	return report.Quantile(xs, 0.5), report.Quantile(xs, 0.1), report.Quantile(xs, 0.9)
}

func (b *bench) render() []byte {
	var buf bytes.Buffer
	w := io.Writer(&buf)
	var u unix.Utsname
	kernel := "unknown"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	fmt.Fprintln(w, "# Launch cost: agentctl and agentd against bare exec and the peers")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Produced by %s on %s; kernel %s, %d CPUs, as root, %s/%s.\n\n",
		report.Command("launch"), time.Now().UTC().Format("2006-01-02"), kernel, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)

	fmt.Fprintln(w, "## Method")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The benchmark builds agentd, agentctl and paddock-shim from this checkout (`go build`) and runs agentd as a process of its own, "+
		"with a state directory, socket, bpffs pin directory and cgroup2 subtree of its own. `agentctl run` uses the default policy in a fresh, empty "+
		"workspace owned by uid 65534, with a home directory of its own per user; through agentd (`--agentd always`) it asks the daemon for an ephemeral "+
		"sandbox (Sandboxes.Create, which moves its shim in before it returns; agentd removes the sandbox as agentctl exits, and agentctl destroys it first when a process is left in it), so every layer is on: "+
		"the sandbox's cgroup with the hooks, the egress proxy and the DNS stub, and Landlock and seccomp applied by the shim. "+
		"Standalone (`--agentd never`) it applies Landlock and seccomp and gives the command a network namespace of its own with its own proxy. "+
		"The last row launches nothing: a Go program linking grpc and the API as agentctl does starts, dials agentd's socket, makes one Events.Info call and exits. "+
		"It is the floor of any Go client of agentd, so of `agentctl run` through agentd before its workload's own exec.\n\n")
	fmt.Fprintf(w, "Each of %d iterations (after %d untimed ones) launches every row once, in an order that rotates per iteration, "+
		"and times it from exec to exit with output discarded; the same iteration also times one Sandboxes.Create from the benchmark, "+
		"a sandbox like agentctl's (the default policy's bundle, the workspace, ephemeral) that is ready to enter when the call returns, "+
		"between an Events.Info on the same connection (the API's floor: a unary call through the same interceptors) and the sandbox's Destroy; "+
		"it starts once no sandbox cgroup is left below agentd's root, since agentd removes an agentctl run's sandbox as agentctl exits and that work belongs to the launch. "+
		"An iteration lasts at least as long as keeps root's calls to agentd under %d a second (agentd does not limit local root, but this keeps the load of a run steady): "+
		"it idles at its end when it was quicker, and the rotation spreads that idle time over the rows. "+
		"Besides the wall-time percentiles, each row reports the median of its per-iteration ratio to the bare launch of the same iteration, with its p10–p90. "+
		"This VM shares its host: load drifts over a run and shifts absolute times from run to run (load average before the run: %s), "+
		"but it shifts both launches of a pair alike, so the paired ratios are what to compare across runs. "+
		"The launches are made by a small C program (bench/launch/csrc/spawn.c, built with %s), which forks, sets the child's user and working "+
		"directory, execs the command and times it from before the fork to the return of wait4; "+
		"peak RSS is the largest ru_maxrss wait4 returned for the row: the biggest single process of the launched tree, not their sum. "+
		"It cannot read below the spawner's own size (the bare row's figure), since Linux carries the forked copy's high-water mark into the child's; "+
		"a row at that floor is marked so.\n\n",
		b.n, b.warmup, callsPerSecond, b.load, b.cc)

	fmt.Fprintln(w, "## Launches")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| launch | median ms | p10 ms | p90 ms | ratio to bare, median | p10–p90 | peak RSS MiB |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|---:|---:|---:|")
	floor := b.rows[0].maxRSS // bare /bin/true needs less than this process
	for _, r := range b.rows {
		if r.skip != "" {
			fmt.Fprintf(w, "| %s | %s | – | – | – | – | – |\n", r.name, r.skip)
			continue
		}
		rss := fmt.Sprintf("%.1f", mib(r.maxRSS))
		if r.maxRSS <= floor {
			rss = "≤ " + rss + " (floor)"
		}
		ms := millis(r.wall)
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f× | %.2f–%.2f |  %s |\n", r.name,
			report.Quantile(ms, 0.5), report.Quantile(ms, 0.1), report.Quantile(ms, 0.9),
			report.Quantile(r.ratio, 0.5), report.Quantile(r.ratio, 0.1), report.Quantile(r.ratio, 0.9), rss)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Paired ratios (median of the per-iteration ratios, p10–p90):")
	fmt.Fprintln(w)
	pairs := [][2]string{
		{"agentctl run through agentd, as uid 65534", "bwrap, minimal, as uid 65534"},
		{"agentctl run through agentd, as root", "bwrap, minimal, as root"},
		{"agentctl run through agentd, as uid 65534", "agentctl run standalone, as uid 65534"},
		{"agentctl run through agentd, as root", "agentctl run standalone, as root"},
		{"agentctl run standalone, as uid 65534", "bwrap, minimal, as uid 65534"},
		{floorRow, "bwrap, minimal, as uid 65534"},
	}
	for _, p := range pairs {
		a, c := b.find(p[0]), b.find(p[1])
		if a.skip != "" || c.skip != "" {
			continue
		}
		m, lo, hi := paired(a, c)
		fmt.Fprintf(w, "- %s ÷ %s: %.2f× (%.2f–%.2f)\n", p[0], p[1], m, lo, hi)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Sandboxes.Create")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| call | median ms | p10 ms | p90 ms |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|")
	for _, c := range []struct {
		name string
		ds   []time.Duration
	}{{"Events.Info (the floor)", b.rpc.info}, {"Sandboxes.Create, default policy, ephemeral", b.rpc.create}, {"Sandboxes.Destroy of it", b.rpc.destroy}} {
		ms := millis(c.ds)
		fmt.Fprintf(w, "| %s | %.3f | %.3f | %.3f |\n", c.name, report.Quantile(ms, 0.5), report.Quantile(ms, 0.1), report.Quantile(ms, 0.9))
	}
	fmt.Fprintln(w)
	added := make([]float64, len(b.rpc.create))
	for i := range added {
		added[i] = float64(b.rpc.create[i]-b.rpc.info[i]) / float64(time.Millisecond)
	}
	fmt.Fprintf(w, "Create less the same iteration's Info, median: %.3f ms (p10–p90 %.3f–%.3f): what making the sandbox costs beyond a call to the API.\n\n",
		report.Quantile(added, 0.5), report.Quantile(added, 0.1), report.Quantile(added, 0.9))

	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	cm := report.Quantile(millis(b.rpc.create), 0.5)
	fmt.Fprintf(w, "- Sandbox creation through agentd, median Create round trip at most %.0f ms: %s (%.2f ms).\n", targetCreateMS, report.Verdict(cm <= targetCreateMS), cm)
	head, box := b.find("agentctl run through agentd, as uid 65534"), b.find("bwrap, minimal, as uid 65534")
	if box.skip == "" {
		m, lo, hi := paired(head, box)
		fmt.Fprintf(w, "- `agentctl run -- /bin/true` through agentd at most %.1f× bubblewrap's launch: %s (%.2f×, p10–p90 %.2f–%.2f; %.2f ms against %.2f ms). "+
			"The headline is uid 65534 against bwrap as uid 65534: an unprivileged user starting an agent is what `agentctl run` is for, and agentd "+
			"serves that user from its own root process; the root rows are above for comparison.\n",
			targetVsBwrap, report.Verdict(m <= targetVsBwrap), m, lo, hi, report.Quantile(millis(head.wall), 0.5), report.Quantile(millis(box.wall), 0.5))
	} else {
		fmt.Fprintf(w, "- `agentctl run -- /bin/true` through agentd at most %.1f× bubblewrap's launch: not measured, bwrap %s.\n", targetVsBwrap, box.skip)
	}
	var rss int64
	for _, r := range b.rows {
		if strings.HasPrefix(r.name, "agentctl") {
			rss = max(rss, r.maxRSS)
		}
	}
	fmt.Fprintf(w, "- agentctl's peak RSS under %d MiB: %s (%.1f MiB, the largest of its rows).\n\n", targetRSSMiB, report.Verdict(mib(rss) < targetRSSMiB), mib(rss))

	b.renderCrossCheck(w)

	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "- Every launch exited 0 (one that did not would have stopped the benchmark); a bwrap row that could not run at all is marked so instead.")
	fmt.Fprintf(w, "- Before the timed runs, `cat /proc/self/cgroup` run as uid 65534 through agentd was in the sandbox cgroup `%s`, below agentd's subtree; "+
		"standalone it was in `%s`, outside it.\n", b.inSandbox, b.standaloneCgroup)
	fmt.Fprintf(w, "- agentd's log records a sandbox created for every launch through it and every Create, warm-up and checks included: %d by root, %d by uid 65534, "+
		"and %d destroyed; none was left at the end.\n", b.created[0], b.created[nobody], b.destroyed)
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Commands")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "WS is the fresh workspace the benchmark creates and removes, the working directory of the agentctl rows; PADDOCK_SOCKET names the benchmark's agentd.")
	fmt.Fprintln(w)
	for _, r := range b.rows {
		fmt.Fprintf(w, "- %s: `%s`\n", r.name, r.shown)
	}
	return buf.Bytes()
}
