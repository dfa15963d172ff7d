// Command connect measures what Paddock's cgroup socket hooks add to a TCP
// connect: a small C program (csrc/loop.c, compiled at run time with the
// system's C compiler, so that no runtime of ours sits in the loop) times
// N iterations of socket + connect + close to a listener on 127.0.0.1, in
// three cgroups:
//
//	(a) a cgroup no hook is attached to;
//	(b) a sandbox cgroup under the hooks of package bpf, whose policy
//	    allows the listener's loopback port directly (a loopback port rule);
//	(c) the same sandbox connecting to a TEST-NET address, which the hooks
//	    redirect to a second listener standing in for the egress proxy.
//
// This process loads and attaches the hooks and drains their ring buffer
// the whole time, as the daemon does. The cases are interleaved over
// rounds, and (b) and (c) are reported as the median of their per-round
// ratio to (a): on a shared VM the host's load drifts over a run, and it
// moves the runs of one round alike.
//
// It needs root: it creates cgroups, loads BPF programs and pins them. It
// removes them all at the end, on error and on interrupt too.
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
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/bench/internal/report"
	"github.com/paddock-sh/paddock/bench/internal/rig"
	"github.com/paddock-sh/paddock/bpf"
	"github.com/paddock-sh/paddock/internal/kernfs"
)

//go:embed csrc/loop.c
var loopC []byte

// The target: the hooks add at most 5% to an allowed connect.
const targetRatio = 1.05

// redirectDst is where case (c) connects: TEST-NET-1 (RFC 5737), which is
// routed nowhere; only the redirect makes the connect succeed.
const redirectDst = "192.0.2.1"

// ruleID is the loopback port rule's number, as events carry it back.
const ruleID = 1

func main() {
	n := flag.Int("n", 2000, "timed iterations per case and round")
	warmup := flag.Int("warmup", 200, "untimed iterations before each timed block, after the move into the case's cgroup")
	rounds := flag.Int("rounds", 60, "rounds; each runs every case once")
	diag := flag.Int("diag-rounds", 20, "rounds of the diagnostic phase, run after the measurement with nothing reading the hooks' ring buffer (0: none)")
	out := flag.String("o", "bench/results/connect.md", "write the markdown report to this file (\"\": stdout only)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file, for bench/report (default: -o's name with .json)")
	flag.Parse()
	if *n < 1 || *warmup < 0 || *rounds < 1 || *diag < 0 {
		fmt.Fprintln(os.Stderr, "connect: -n and -rounds must be at least 1, -warmup and -diag-rounds at least 0")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "connect: needs root (it creates cgroups and loads BPF programs); nothing measured")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	b := &bench{ctx: ctx, n: *n, warmup: *warmup, rounds: *rounds, diagRounds: *diag, machine: report.ThisMachine()}
	rep, err := b.run()
	if cerr := b.cleanup(); cerr != nil {
		fmt.Fprintln(os.Stderr, "connect: cleaning up:", cerr)
		if err == nil {
			err = cerr
		}
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	if err := report.Publish(*out, *jsonOut, rep, b.result()); err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
}

// bench is one run and everything it set up.
type bench struct {
	ctx                  context.Context
	n, warmup, rounds    int
	cleanups             rig.Undo
	prog, cc             string
	h                    *bpf.Hooks
	sandboxID            uint64
	listenPort           uint16 // the allowed loopback listener
	proxyPort            uint16 // the stand-in proxy
	diagRounds           int
	rd                   *bpf.Reader
	drain                *drainer
	events               delta // what the drainer counted over the measurement
	cases, diag          []*kase
	lostBefore, lostLast uint64
	lostDiag             uint64 // events dropped in the diagnostic phase
	load                 string
	machine              report.Machine
}

// kase is one of the three cases and what was measured for it.
type kase struct {
	name   string
	cgroup string // directory
	dst    string
	port   uint16

	ns    []float64 // ns per iteration, one per round
	ratio []float64 // ns over the same round's (a)
}

func (b *bench) onCleanup(f func() error) { b.cleanups.Push(f) }

// cleanup undoes everything in reverse order and reports what failed.
func (b *bench) cleanup() error { return b.cleanups.Run() }

func (b *bench) run() ([]byte, error) {
	b.load = report.Loadavg()
	tmp, err := os.MkdirTemp("", "paddock-bench-connect-")
	if err != nil {
		return nil, err
	}
	b.onCleanup(func() error { return os.RemoveAll(tmp) })
	if err := b.compile(tmp); err != nil {
		return nil, err
	}

	// The listeners run in this process's cgroup, outside every hook.
	if b.listenPort, err = b.serve(); err != nil {
		return nil, err
	}
	if b.proxyPort, err = b.serve(strconv.Itoa(bpf.Mark)); err != nil {
		return nil, err
	}
	dns, err := net.ListenPacket("udp4", "127.0.0.1:0") // the policy needs a DNS stub port; nothing is resolved
	if err != nil {
		return nil, err
	}
	b.onCleanup(dns.Close)

	// Two sibling subtrees at the same depth: the hooks are attached to
	// one of them only.
	root, err := kernfs.Cgroup2Root()
	if err != nil {
		return nil, err
	}
	top := filepath.Join(root, fmt.Sprintf("paddock-bench-connect-%d", os.Getpid()))
	plain := filepath.Join(top, "nohooks", "sbx")
	hooked := filepath.Join(top, "hooks")
	sandbox := filepath.Join(hooked, "sbx")
	for _, dir := range []string{top, filepath.Dir(plain), plain, hooked, sandbox} {
		if err := b.mkcgroup(dir); err != nil {
			return nil, err
		}
	}

	pins, err := b.bpffs()
	if err != nil {
		return nil, err
	}
	h, err := bpf.Load(pins)
	if err != nil {
		return nil, err
	}
	b.h = h
	b.onCleanup(func() error {
		return errors.Join(h.Detach(), h.Unpin(), h.Close())
	})
	if err := h.Attach(hooked); err != nil {
		return nil, err
	}
	if err := h.Configure(bpf.Settings{ProxyPort: b.proxyPort}); err != nil {
		return nil, err
	}
	if b.sandboxID, err = bpf.CgroupID(sandbox); err != nil {
		return nil, err
	}
	pol := bpf.Policy{
		DNSPort:  uint16(dns.LocalAddr().(*net.UDPAddr).Port),
		Loopback: map[uint16]bpf.PortRule{b.listenPort: {Rule: ruleID, Allow: true}},
	}
	if err := h.PutSandbox(b.sandboxID, 1, pol); err != nil {
		return nil, err
	}
	rd, err := h.Events()
	if err != nil {
		return nil, err
	}
	b.rd = rd
	b.drain = startDrain(rd, b.sandboxID)
	b.onCleanup(b.drain.stop)
	if b.lostBefore, err = rd.Lost(); err != nil {
		return nil, err
	}

	cases := func() []*kase {
		return []*kase{
			{name: "(a) no hooks", cgroup: plain, dst: "127.0.0.1", port: b.listenPort},
			{name: "(b) hooks, allowed loopback port", cgroup: sandbox, dst: "127.0.0.1", port: b.listenPort},
			{name: "(c) hooks, redirected to the stand-in proxy", cgroup: sandbox, dst: redirectDst, port: 80},
		}
	}
	b.cases = cases()
	if err := b.measure(b.cases, b.rounds, true); err != nil {
		return nil, err
	}
	if b.lostLast, err = b.rd.Lost(); err != nil {
		return nil, err
	}
	// The diagnosis: the same with the reader stopped. The ring buffer
	// fills within the first round; from then on the hooks find no room,
	// count the event as lost and wake no one.
	if b.diagRounds > 0 {
		if err := b.drain.stop(); err != nil {
			return nil, err
		}
		b.diag = cases()
		if err := b.measure(b.diag, b.diagRounds, false); err != nil {
			return nil, err
		}
		lost, err := b.rd.Lost()
		if err != nil {
			return nil, err
		}
		b.lostDiag = lost - b.lostLast
	}
	return b.render(), nil
}

// compile builds csrc/loop.c.
func (b *bench) compile(tmp string) (err error) {
	b.prog, b.cc, err = rig.CompileC(tmp, "loop", loopC)
	return err
}

// serve starts a listener process and returns its port. It runs in this
// process's cgroup, which no hook is attached to.
func (b *bench) serve(args ...string) (uint16, error) {
	cmd := exec.Command(b.prog, append([]string{"serve"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	b.onCleanup(func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return nil
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	var port uint16
	if _, serr := fmt.Sscanf(line, "port %d", &port); err != nil || serr != nil || port == 0 {
		return 0, fmt.Errorf("the listener did not start: %q %v", line, err)
	}
	return port, nil
}

// mkcgroup creates a cgroup and registers its removal, which waits for
// the processes that ran in it to be gone.
func (b *bench) mkcgroup(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	b.onCleanup(func() error { return kernfs.RemoveCgroup(dir, 5*time.Second) })
	return nil
}

// bpffs returns a fresh directory on a bpf filesystem for the pins,
// mounting one at /sys/fs/bpf when none is (and unmounting it after).
func (b *bench) bpffs() (string, error) {
	mounted, err := kernfs.MountBPF("/sys/fs/bpf")
	if err != nil {
		return "", err
	}
	if mounted {
		b.onCleanup(func() error { return unix.Unmount("/sys/fs/bpf", 0) })
	}
	dir, err := os.MkdirTemp("/sys/fs/bpf", "paddock-bench-")
	if err != nil {
		return "", err
	}
	b.onCleanup(func() error { return os.RemoveAll(dir) })
	return dir, nil
}

// delta counts the events one run produced. proc counts the sandbox's
// process events (exec, exit): the loop's own exit from the last case's
// cgroup is one.
type delta struct {
	total, allowRule, redirect, other, proc int64
}

func (d *delta) add(e delta) {
	d.total += e.total
	d.allowRule += e.allowRule
	d.redirect += e.redirect
	d.other += e.other
	d.proc += e.proc
}

// drainer reads the hooks' ring buffer until stopped, counting events of
// the sandbox by kind; events of other cgroups (none are expected) count
// as other.
type drainer struct {
	rd   *bpf.Reader
	mu   sync.Mutex
	c    delta
	err  error
	done chan struct{}
	once sync.Once
	cerr error
}

func startDrain(rd *bpf.Reader, sandbox uint64) *drainer {
	d := &drainer{rd: rd, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		for {
			ev, err := rd.Read()
			if err != nil {
				if !errors.Is(err, bpf.ErrClosed) {
					d.mu.Lock()
					d.err = err
					d.mu.Unlock()
				}
				return
			}
			d.mu.Lock()
			d.c.total++
			switch {
			case ev.Cgroup != sandbox:
				d.c.other++
			case ev.Hook == bpf.HookExec || ev.Hook == bpf.HookExit:
				d.c.proc++
			case ev.Action == bpf.Allow && ev.Reason == bpf.ReasonLoopRule && ev.Rule == ruleID:
				d.c.allowRule++
			case ev.Action == bpf.Redirect && ev.Reason == bpf.ReasonEgress && ev.Dst.Addr().String() == redirectDst:
				d.c.redirect++
			default:
				d.c.other++
			}
			d.mu.Unlock()
		}
	}()
	return d
}

func (d *drainer) counts() (delta, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.c, d.err
}

// stop closes the reader and waits for the loop to end; again, it does
// nothing.
func (d *drainer) stop() error {
	d.once.Do(func() {
		d.cerr = d.rd.Close()
		<-d.done
	})
	return d.cerr
}

// since waits until the events of a run that emitted want events have
// been read (a second at most) and returns what came in since before.
func (d *drainer) since(before delta, want int64) (delta, error) {
	deadline := time.Now().Add(time.Second)
	for {
		now, err := d.counts()
		if err != nil {
			return delta{}, err
		}
		got := delta{now.total - before.total, now.allowRule - before.allowRule, now.redirect - before.redirect, now.other - before.other, now.proc - before.proc}
		if got.total >= want || time.Now().After(deadline) {
			return got, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// measure runs every round in one process started in (a)'s cgroup. It
// moves itself from case to case (a socket belongs to the cgroup of the
// task that creates it), so that the cases of one round run within a few
// hundred milliseconds of each other and the host's drift hardly reaches
// between them. Round 0 is untimed: page cache, the listeners' first
// accepts, the maps' first entries.
func (b *bench) measure(cases []*kase, rounds int, drained bool) error {
	args := []string{"alt", strconv.Itoa(rounds + 1), strconv.Itoa(b.n), strconv.Itoa(b.warmup)}
	for _, k := range cases {
		args = append(args, filepath.Join(k.cgroup, "cgroup.procs"), k.dst, strconv.Itoa(int(k.port)))
	}
	fd, err := unix.Open(cases[0].cgroup, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var before delta
	if drained {
		if before, err = b.drain.counts(); err != nil {
			return err
		}
	}
	what := "with the hooks' events read"
	if !drained {
		what = "diagnosis, nothing reading the events"
	}
	fmt.Fprintf(os.Stderr, "connect: %d rounds of %d cases, %d timed iterations each (%s)\n", rounds, len(cases), b.n, what)
	cmd := exec.CommandContext(b.ctx, b.prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd, Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	ns := make([]float64, len(cases))
	seen := 0
	var failure string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		var r, c int
		var v float64
		if _, err := fmt.Sscanf(line, "t %d %d %g", &r, &c, &v); err != nil || c < 0 || c >= len(cases) {
			failure = line
			continue
		}
		if r == 0 {
			continue
		}
		ns[c] = v
		if seen++; seen%len(cases) != 0 {
			continue
		}
		for i, k := range cases {
			k.ns = append(k.ns, ns[i])
			k.ratio = append(k.ratio, ns[i]/ns[0])
		}
		if r%10 == 0 || r == rounds {
			fmt.Fprintf(os.Stderr, "connect: round %d/%d: a %.0f ns, b %.0f ns (%.3f×), c %.0f ns\n", r, rounds, ns[0], ns[1], ns[1]/ns[0], ns[2])
		}
	}
	err = cmd.Wait()
	if b.ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if err != nil || failure != "" || len(cases[0].ns) != rounds {
		return fmt.Errorf("the loop failed: %v %q %s", err, failure, strings.TrimSpace(stderr.String()))
	}
	if !drained {
		return nil
	}
	// Every case's connects, the untimed round and warm-ups included, and
	// nothing else: (a) emits nothing.
	per := int64(rounds+1) * int64(b.n+b.warmup)
	got, err := b.drain.since(before, 2*per)
	if err != nil {
		return err
	}
	b.events = got
	if got.allowRule != per || got.redirect != per || got.other != 0 {
		lost := ""
		if n, err := b.rd.Lost(); err == nil && n > b.lostBefore {
			lost = fmt.Sprintf(" (the ring buffer lost %d events: the reader did not keep up)", n-b.lostBefore)
		}
		return fmt.Errorf("events: %d allows by rule %d, %d redirects of %s and %d others, for %d connects of (b) and of (c) and none from (a)%s",
			got.allowRule, ruleID, got.redirect, redirectDst, got.other, per, lost)
	}
	return nil
}

// table writes one phase's results.
func table(w io.Writer, cases []*kase) {
	fmt.Fprintln(w, "| case | median ns per iteration | p10–p90 ns | ratio to (a), median | p10–p90 ratio | min–max ratio | added ns, median |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|---:|---:|---:|")
	for i, k := range cases {
		ratio, p, rng, added := "1", "–", "–", "0"
		if i > 0 {
			ratio = fmt.Sprintf("%.3f×", report.Quantile(k.ratio, 0.5))
			p = fmt.Sprintf("%.3f–%.3f", report.Quantile(k.ratio, 0.1), report.Quantile(k.ratio, 0.9))
			rng = fmt.Sprintf("%.3f–%.3f", slices.Min(k.ratio), slices.Max(k.ratio))
			added = fmt.Sprintf("%.0f", addedNS(cases, i))
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f–%.0f | %s | %s | %s | %s |\n", k.name, report.Quantile(k.ns, 0.5),
			report.Quantile(k.ns, 0.1), report.Quantile(k.ns, 0.9), ratio, p, rng, added)
	}
	fmt.Fprintln(w)
}

// addedNS is the median over rounds of case i's ns less (a)'s.
func addedNS(cases []*kase, i int) float64 {
	diff := make([]float64, len(cases[i].ns))
	for r := range diff {
		diff[r] = cases[i].ns[r] - cases[0].ns[r]
	}
	return report.Quantile(diff, 0.5)
}

func (b *bench) render() []byte {
	var buf bytes.Buffer
	w := io.Writer(&buf)
	var u unix.Utsname
	kernel := "unknown"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	fmt.Fprintln(w, "# connect(): what Paddock's cgroup hooks cost")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Produced by %s on %s; kernel %s, %d CPUs, as root, %s/%s; loop built with %s.\n\n",
		report.Command("connect"), time.Now().UTC().Format("2006-01-02"), kernel, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, b.cc)

	fmt.Fprintln(w, "## Method")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "A C program (bench/connect/csrc/loop.c, compiled at run time) times blocks of %d iterations of "+
		"`socket` + `setsockopt(SO_LINGER {1,0})` + `connect` + `close` with CLOCK_MONOTONIC and prints ns per iteration; "+
		"the linger setting makes close send a reset, so no TIME_WAIT builds up. The cases differ only in the cgroup the program is in "+
		"when it creates its sockets, and in the destination:\n\n", b.n)
	fmt.Fprintln(w, "- (a) a cgroup no program is attached to, connecting to a listener on 127.0.0.1;")
	fmt.Fprintln(w, "- (b) a sandbox cgroup below the hooks of package bpf (sock_create, connect4/6, sockops and the rest, attached to its parent), "+
		"whose policy allows that listener's port directly (a loopback port rule): the hooks look the sandbox and the port up, allow, "+
		"and write an event to the ring buffer;")
	fmt.Fprintf(w, "- (c) the same sandbox connecting to %s:80 (TEST-NET-1, routed nowhere), which the hooks record and redirect to a second "+
		"listener on 127.0.0.1 standing in for the egress proxy. For information: the proxy's own work is not in it, and no target applies.\n\n", redirectDst)
	fmt.Fprintf(w, "The listeners are the same program accepting and closing in a loop, in the benchmark's own cgroup, outside the hooks. "+
		"The benchmark process loaded and attached the hooks and reads their ring buffer throughout (a goroutine calling the bpf package's "+
		"Reader.Read in a loop), as the daemon does; the hooks wake that reader only once 64 KiB of events are pending, and it also looks every %s. "+
		"The program is started in (a)'s cgroup and moves itself from case to case by writing to the next cgroup's cgroup.procs "+
		"(a socket belongs to the cgroup of the task that creates it); after each move it makes %d untimed iterations, then times its block. "+
		"After one untimed round, each of %d rounds times every case once, in an order that rotates from round to round, "+
		"so that the cases of one round run within a fraction of a second of each other. "+
		"(b) and (c) are given as the median of their per-round ratio to (a), with its p10–p90 and min–max ranges. "+
		"The host is shared and its load drifts (load average before the run: %s); the drift moves the blocks of one round alike, "+
		"so the paired ratio is the figure to compare.\n\n",
		bpf.PollInterval, b.warmup, b.rounds, b.load)

	table(w, b.cases)
	rb := report.Quantile(b.cases[1].ratio, 0.5)
	fmt.Fprintf(w, "Target: an allowed connect under the hooks at most %.2f× one without: %s (%.3f×; p10–p90 of the per-round ratios %.3f–%.3f).\n\n",
		targetRatio, report.Verdict(rb <= targetRatio), rb, report.Quantile(b.cases[1].ratio, 0.1), report.Quantile(b.cases[1].ratio, 0.9))

	if len(b.diag) > 0 {
		fmt.Fprintln(w, "## Diagnosis: the same with nothing reading the events")
		fmt.Fprintln(w)
		emitted := 2 * int64(b.diagRounds+1) * int64(b.n+b.warmup)
		fmt.Fprintf(w, "After the measurement the benchmark stopped its reader and ran %d more rounds the same way. Of the %d events of this phase "+
			"the hooks wrote the first %d, until the ring buffer was full; for the other %d they found no room, counted the event as lost and woke no one. "+
			"So this phase has the hooks' decisions without the delivery of their events (the ring buffer write, the reader's wake-up and its work, "+
			"which on %d CPUs competes with the loop and the listener). It is not how the daemon runs.\n\n",
			b.diagRounds, emitted, emitted-int64(b.lostDiag), b.lostDiag, runtime.NumCPU())
		table(w, b.diag)
		fmt.Fprintf(w, "Added ns per allowed connect, (b) less (a): %.0f with the events read, %.0f without. "+
			"The difference, %.0f ns of the %.0f, is what delivering the events costs (the two phases ran seconds apart, so a difference of a few hundred ns either way is noise).\n\n",
			addedNS(b.cases, 1), addedNS(b.diag, 1), addedNS(b.cases, 1)-addedNS(b.diag, 1), addedNS(b.cases, 1))
	}

	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	per := int64(b.rounds+1) * int64(b.n+b.warmup)
	fmt.Fprintf(w, "- The events read back from the ring buffer matched the connects exactly: one allow by the loopback rule for each of (b)'s %d connects "+
		"(untimed ones included), one redirect of %s for each of (c)'s %d, nothing from (a) and nothing else "+
		"but the sandbox's process events (%d: the loop's exit from the sandbox's cgroup). "+
		"A mismatch would have stopped the benchmark.\n", per, redirectDst, per, b.events.proc)
	fmt.Fprintf(w, "- Events the hooks could not write to the ring buffer while they were read (its lost counter): %d.\n", b.lostLast-b.lostBefore)
	fmt.Fprintln(w, "- (c) connects to an address routed nowhere: each of its connects succeeded only because the hooks redirected it.")
	fmt.Fprintln(w, "- Each iteration makes four system calls and a full loopback handshake plus reset, so the hooks' cost shows diluted in it; "+
		"the added ns column is the median of the per-round differences from (a).")
	fmt.Fprintln(w, "- At the end the benchmark detached the hooks, removed their pins and its cgroups, and stopped the listeners.")
	return buf.Bytes()
}

// result is the report in machine-readable form, for bench/report.
func (b *bench) result() *report.Result {
	m := b.machine
	m.Load = b.load
	res := &report.Result{Bench: "connect", Title: "connect(): what Paddock's cgroup hooks cost", Command: report.Command("connect"),
		Date: time.Now().UTC(), Machine: m, Tools: map[string]string{"cc": b.cc}}
	a := b.cases[0]
	table := report.Table{Caption: "ns per socket + setsockopt + connect + close iteration; ratios paired with (a) in the same round",
		Header: []string{"case", "median ns", "× (a), median", "p10–p90", "added ns"}}
	for i, k := range b.cases {
		ratio, spread, added := "1", "–", "0"
		if i > 0 {
			s := report.Summarize(k.ratio)
			ratio, spread, added = fmt.Sprintf("%.3f×", s.Median), fmt.Sprintf("%.3f–%.3f", s.P10, s.P90), fmt.Sprintf("%.0f", addedNS(b.cases, i))
		}
		table.Rows = append(table.Rows, []string{k.name, fmt.Sprintf("%.0f", report.Quantile(k.ns, 0.5)), ratio, spread, added})
	}
	res.Tables = append(res.Tables, table)
	allowed := b.cases[1]
	res.Claims = append(res.Claims, report.NewClaim(fmt.Sprintf("An allowed connect under the cgroup hooks: at most %.2f× one without", targetRatio),
		report.Summarize(allowed.ratio), "×", "no hooks", "<=", targetRatio,
		fmt.Sprintf("%.0f ns against %.0f ns per iteration of four syscalls and a loopback handshake; %.0f ns added", report.Quantile(allowed.ns, 0.5), report.Quantile(a.ns, 0.5), addedNS(b.cases, 1))))
	if len(b.cases) > 2 {
		red := b.cases[2]
		res.Claims = append(res.Claims, report.Claim{Claim: "A connect the hooks redirect to the proxy (the stand-in proxy's own work not included)",
			Value: report.Quantile(red.ratio, 0.5), P10: report.Quantile(red.ratio, 0.1), P90: report.Quantile(red.ratio, 0.9), Unit: "×", Of: "no hooks",
			Detail: fmt.Sprintf("%.0f ns added", addedNS(b.cases, 2))})
	}
	return res
}
