// Command launch measures what it costs to start a command inside Paddock's
// fence: the wall time and peak memory of `agentctl run -- /bin/true` with the
// default policy, next to a bare /bin/true and to bubblewrap with a profile
// comparable to an agent sandbox (every namespace unshared, a read-only /usr
// and /etc, a private /tmp, the workspace bound read-write, capabilities
// dropped, the environment cleared).
//
// The launches are interleaved, one of each per iteration, and every row is
// also reported as the median of its per-iteration ratio to the bare launch
// made in the same iteration. On a shared VM the host's load drifts over the
// seconds a run takes; drift moves both sides of a pair alike, so the paired
// ratio stays put where absolute times wander from one run to the next.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/bench/internal/report"
)

// The targets for agentctl.
const (
	targetRSSMiB = 20 // peak RSS strictly under this
)

// A row is one kind of launch and what was measured for it.
type row struct {
	name  string
	argv  []string // argv[0] is the program
	shown string   // the command as the report prints it (workspace as WS)
	dir   string   // working directory, "" for the benchmark's own
	skip  string   // why the row is not measured, "" when it is

	wall   []time.Duration // one per timed iteration
	ratio  []float64       // wall over the same iteration's bare wall
	maxRSS int64           // largest ru_maxrss seen, KiB
}

func main() {
	n := flag.Int("n", 200, "timed iterations (each launches every row once)")
	warmup := flag.Int("warmup", 10, "untimed iterations first, to fill the page cache")
	bin := flag.String("bin", "./bin", "directory holding agentctl and paddock-shim (make build)")
	out := flag.String("o", "bench/results/launch.md", "write the markdown report to this file (\"\": stdout only)")
	flag.Parse()
	if *n < 1 || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "launch: -n must be at least 1 and -warmup at least 0")
		os.Exit(2)
	}
	rep, err := run(*n, *warmup, *bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
	if err := report.Write(*out, rep); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
}

func run(n, warmup int, bin string) ([]byte, error) {
	// agentctl is started from the workspace, so a relative -bin would no
	// longer point at it.
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	// A fresh, empty workspace: the default policy grants the working
	// directory, and an empty one keeps the launch from depending on what
	// this checkout happens to hold.
	ws, err := os.MkdirTemp("", "paddock-launch-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(ws)

	rows := []*row{
		{name: "bare /bin/true", argv: []string{"/bin/true"}, shown: "/bin/true"},
		agentctlRow(bin, ws),
		bwrapRow("bwrap, agent profile", profileArgs(ws), "WS", ws),
		bwrapRow("bwrap, minimal", minimalArgs(), "", ""),
	}
	// agentctl is what is under test: if it cannot launch, the run is void.
	if out, err := check(rows[1]); err != nil {
		os.Stderr.Write(out)
		return nil, fmt.Errorf("%s does not exit 0 (%v); nothing timed", rows[1].argv[0], err)
	}
	// bwrap is only the yardstick: where it cannot run, say why and go on.
	for _, r := range rows[2:] {
		if r.skip != "" {
			continue
		}
		if out, err := check(r); err != nil {
			r.skip = "cannot run here: " + firstLine(out, err)
		}
	}

	var live []*row
	for _, r := range rows {
		if r.skip == "" {
			live = append(live, r)
		}
	}
	fmt.Fprintf(os.Stderr, "launch: %d warm-up and %d timed iterations of %d launches\n", warmup, n, len(live))
	if err := measure(live, n, warmup); err != nil {
		return nil, err
	}
	return render(rows, n), nil
}

func agentctlRow(bin, ws string) *row {
	return &row{
		name:  "agentctl run, default policy",
		argv:  []string{filepath.Join(bin, "agentctl"), "run", "--quiet", "--", "/bin/true"},
		shown: "agentctl run --quiet -- /bin/true  (in WS)",
		dir:   ws,
	}
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

// minimalArgs is close to the least bubblewrap can do: it shows how much of
// the profile's cost is the namespaces themselves.
func minimalArgs() []string {
	return []string{"--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "/bin/true"}
}

// bwrapRow builds a bubblewrap row; it is skipped where bwrap is missing.
// placeholder replaces ws in the printed command, so the report does not
// carry a random temporary path.
func bwrapRow(name string, args []string, placeholder, ws string) *row {
	shown := "bwrap " + strings.Join(args, " ")
	if ws != "" {
		shown = strings.ReplaceAll(shown, ws, placeholder)
	}
	r := &row{name: name, shown: shown}
	path, err := exec.LookPath("bwrap")
	if err != nil {
		r.skip = "not installed (make deps installs bubblewrap)"
		return r
	}
	r.argv = append([]string{path}, args...)
	return r
}

// check launches r once and returns its combined output if it fails.
func check(r *row) ([]byte, error) {
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	cmd.Dir = r.dir
	return cmd.CombinedOutput()
}

func firstLine(out []byte, err error) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return err.Error()
	}
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// measure runs warmup+n iterations, each launching every row once. The
// order rotates from one iteration to the next so that no row always runs
// right after the same neighbour (and its freshly warmed caches).
func measure(rows []*row, n, warmup int) error {
	walls := make([]time.Duration, len(rows))
	for it := range warmup + n {
		// Collect the last iteration's garbage outside the timed launches:
		// left to grow to the collector's default goal, this process's heap
		// would raise the floor under every row's peak RSS (see launch).
		runtime.GC()
		for k := range rows {
			i := (it + k) % len(rows)
			d, rss, err := launch(rows[i])
			if err != nil {
				return fmt.Errorf("%s, iteration %d: %w", rows[i].name, it, err)
			}
			walls[i] = d
			if it >= warmup {
				rows[i].maxRSS = max(rows[i].maxRSS, rss)
			}
		}
		if it < warmup {
			continue
		}
		bare := walls[0] // rows[0] is the bare launch
		for i, r := range rows {
			r.wall = append(r.wall, walls[i])
			r.ratio = append(r.ratio, float64(walls[i])/float64(bare))
		}
	}
	return nil
}

// launch starts r once and returns its wall time and peak RSS (KiB). The
// RSS is wait4's ru_maxrss, which covers the process and the descendants it
// reaped: the largest single process of the tree, not their sum. It includes
// this process's own high-water mark too, since exec records the mm it
// leaves and Go's vfork child leaves ours; the bare row measures that floor.
func launch(r *row) (time.Duration, int64, error) {
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	cmd.Dir = r.dir
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, errors.New("no rusage from wait4")
	}
	return d, ru.Maxrss, nil
}

func millis(ds []time.Duration) []float64 {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	return ms
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func render(rows []*row, n int) []byte {
	var b bytes.Buffer
	w := io.Writer(&b)
	agent, box := rows[1], rows[2]

	var u unix.Utsname
	kernel := "unknown"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	who := "unprivileged"
	if os.Geteuid() == 0 {
		who = "as root"
	}
	fmt.Fprintln(w, "# Launch cost: agentctl against bare exec and bubblewrap")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Produced by %s on %s; kernel %s, %d CPUs, %s, %s/%s.\n\n",
		report.Command("launch"), time.Now().UTC().Format("2006-01-02"), kernel, runtime.NumCPU(), who, runtime.GOOS, runtime.GOARCH)

	fmt.Fprintln(w, "## Method")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Each of %d iterations (after untimed warm-up ones) launches every row once, in an order that rotates per iteration, "+
		"and times it from exec to exit with output discarded. Besides the wall-time percentiles, each row reports the median of its "+
		"per-iteration ratio to the bare launch of the same iteration. This VM shares its host: load drifts over a run and shifts "+
		"absolute times from run to run, but it shifts both launches of a pair alike, so the paired ratios are what to compare across runs. "+
		"Peak RSS is the largest ru_maxrss wait4 returned for the row: the biggest single process of the launched tree, not their sum. "+
		"It cannot read below the benchmark's own peak (the bare row): Go starts a command from a vfork child that shares the benchmark's memory, "+
		"and at exec Linux carries that memory's high-water mark into the child's ru_maxrss. A row at that floor, marked so, used no more than the benchmark; "+
		"the benchmark collects its garbage between iterations to keep the floor low.\n\n", n)

	fmt.Fprintln(w, "| launch | median ms | p10 ms | p90 ms | median ratio to bare | peak RSS MiB |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|---:|---:|")
	floor := rows[0].maxRSS // bare /bin/true needs less than this process
	for _, r := range rows {
		if r.skip != "" {
			fmt.Fprintf(w, "| %s | %s | – | – | – | – |\n", r.name, r.skip)
			continue
		}
		rss := fmt.Sprintf("%.1f", mib(r.maxRSS))
		if r.maxRSS <= floor {
			rss = "≤ " + rss + " (floor)"
		}
		ms := millis(r.wall)
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f× | %s |\n", r.name,
			report.Quantile(ms, 0.5), report.Quantile(ms, 0.1), report.Quantile(ms, 0.9), report.Quantile(r.ratio, 0.5), rss)
	}
	fmt.Fprintln(w)
	if box.skip == "" {
		pair := make([]float64, len(agent.wall))
		for i := range pair {
			pair[i] = float64(agent.wall[i]) / float64(box.wall[i])
		}
		fmt.Fprintf(w, "agentctl ÷ bwrap (agent profile), median of per-iteration ratios: %.2f×\n\n", report.Quantile(pair, 0.5))
	}

	fmt.Fprintln(w, "Commands (WS is a fresh empty directory the benchmark creates and removes):")
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "- %s: `%s`\n", r.name, r.shown)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Targets: "+targets(agent, box))
	return b.Bytes()
}

// targets states the two targets and whether this run met them.
func targets(agent, box *row) string {
	am := report.Quantile(millis(agent.wall), 0.5)
	speed := "not measured, bwrap " + box.skip
	if box.skip == "" {
		bm := report.Quantile(millis(box.wall), 0.5)
		speed = fmt.Sprintf("%s (%.2f ms against %.2f ms)", report.Verdict(am <= bm), am, bm)
	}
	rss := mib(agent.maxRSS)
	return fmt.Sprintf("agentctl median launch at most bwrap's: %s; agentctl peak RSS under %d MiB: %s (%.1f MiB).",
		speed, targetRSSMiB, report.Verdict(rss < targetRSSMiB), rss)
}
