// Command events measures agentd's event pipeline end to end: a real
// agentd process (built from this checkout) runs a sandbox, a C program
// in the sandbox's cgroup makes decisions the hooks deny as fast as it can
// (connect() on a UDP socket to a port other than 53: one denial, one
// event each), and a gRPC subscriber of the Events service in block mode
// with follow counts what reaches it: every event the hooks wrote, through
// the ring buffer, agentd's queue and writer, the durable log and the
// stream.
//
// The subscriber checks that nothing was lost or reordered: sequence
// numbers contiguous from where it started, no gap, and exactly as many
// of the sandbox's denials as the program counted calls. agentd's CPU
// time, its peak RSS and the log's size on disk are read from /proc and
// the state directory.
//
// Each round also runs the same program, with the same calls, in a cgroup
// no hook is attached to (where the calls succeed and nothing is
// recorded), so that every round has a baseline taken seconds from it:
// the host is shared and its load drifts over a run.
//
// It needs root: agentd does. Everything it creates (agentd's state,
// pins, cgroups and socket) is removed at the end, on error and on
// interrupt too.
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
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/bench/internal/report"
	"github.com/paddock-sh/paddock/bench/internal/rig"
	"github.com/paddock-sh/paddock/internal/kernfs"
)

//go:embed csrc/gen.c
var genC []byte

// The target: events per second reaching a subscriber, with none
// lost.
const targetRate = 100_000

// dstPort is where the generator connects: the discard port. Nothing needs
// to listen: a UDP connect sends nothing.
const dstPort = 9

// policyHCL is the sandbox's policy: no destination allowed, so every UDP
// connect other than DNS is denied by the hooks.
const policyHCL = `policy "bench-events" {
  description = "bench/events: nothing allowed on the network"
  mode        = "enforce"
}

network {
  allow        = []
  unix_sockets = []
  listen       = "none"
  on_unknown   = "deny"
}
`

func main() {
	rounds := flag.Int("rounds", 5, "rounds; each runs the generator once per load, in an order that rotates from round to round")
	dur := flag.Duration("d", 2*time.Second, "how long the generator runs in each phase")
	ratesFlag := flag.String("rates", "50000,75000,100000,150000,0", "the loads to offer in the sandbox: calls per second, comma-separated; 0 is as fast as the generator can")
	agentdBin := flag.String("agentd", "", "measure this agentd binary instead of building one from the checkout")
	out := flag.String("o", "bench/results/events.md", "write the markdown report to this file (\"\": stdout only)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file, for bench/report (default: -o's name with .json)")
	flag.Parse()
	loads, err := parseRates(*ratesFlag)
	if err == nil && (*rounds < 1 || *dur < 100*time.Millisecond) {
		err = errors.New("-rounds must be at least 1, -d at least 100ms")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "events:", err)
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "events: needs root (agentd does); nothing measured")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	b := &bench{ctx: ctx, rounds: *rounds, dur: *dur, loads: loads, agentdBin: *agentdBin, machine: report.ThisMachine()}
	rep, err := b.run()
	if cerr := b.cleanup(); cerr != nil {
		fmt.Fprintln(os.Stderr, "events: cleaning up:", cerr)
		if err == nil {
			err = cerr
		}
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "events:", err)
		if b.agentdLog != "" {
			if tail := rig.TailOf(b.agentdLog, 2048); tail != "" {
				fmt.Fprintf(os.Stderr, "events: agentd's log ends with:\n%s\n", tail)
			}
		}
		os.Exit(1)
	}
	if err := report.Publish(*out, *jsonOut, rep, b.result()); err != nil {
		fmt.Fprintln(os.Stderr, "events:", err)
		os.Exit(1)
	}
}

// load is what one phase runs: the generator in the sandbox at an offered
// rate (0: as fast as it can), or the baseline outside any hook.
type load struct {
	sandbox bool
	rate    int
}

func (l load) String() string {
	switch {
	case !l.sandbox:
		return "baseline: no hooks, as fast as it can"
	case l.rate == 0:
		return "sandbox, as fast as it can"
	}
	return fmt.Sprintf("sandbox, %s calls/s offered", thousands(int64(l.rate)))
}

// parseRates reads -rates; the baseline comes first.
func parseRates(s string) ([]load, error) {
	loads := []load{{sandbox: false}}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-rates: %q is not a number of calls per second", f)
		}
		l := load{sandbox: true, rate: n}
		if slices.Contains(loads, l) {
			return nil, fmt.Errorf("-rates: %d twice", n)
		}
		loads = append(loads, l)
	}
	return loads, nil
}

// bench is one run and everything it set up.
type bench struct {
	ctx       context.Context
	rounds    int
	dur       time.Duration
	loads     []load // loads[0] is the baseline
	agentdBin string // "": build one
	built     bool   // agentdBin was built from the checkout
	cleanups  rig.Undo
	load      string

	gen, cc   string // the generator binary; the compiler that built it
	agentd    *exec.Cmd
	agentdLog string
	stateDir  string
	metrics   string // agentd's metrics address
	conn      *grpc.ClientConn
	sbx       *apiv1.Sandbox
	cg2       string // the cgroup2 mount
	plain     string // the baseline cgroup
	sub       *subscriber

	phases   []*phase
	warm     []*phase
	startSeq uint64 // the log's last seq when the subscriber started

	// at the end
	hwmKiB      int64
	logBytes    int64 // apparent size of the segments
	logDisk     int64 // blocks allocated
	logSegments int
	logFirst    uint64             // the first seq the segments hold
	lastSeq     uint64             // the log's last seq at the end
	lost        map[string]float64 // agentd's paddock_events_lost_total
	logged      float64            // paddock_events_logged_total
	version     string

	machine report.Machine
}

// phase is one run of the generator.
type phase struct {
	round int // -1: the untimed round
	load  load
	calls int64
	genNS int64 // the generator's own time for its calls

	// In the sandbox:
	delivered int64         // its events that reached the subscriber
	behind    int64         // its calls not yet at the subscriber when it stopped
	lost      int64         // events the gaps of this phase count
	deliver   time.Duration // from "go" to the last of its events at the subscriber
	cpu       time.Duration // agentd's user+system time over deliver
	subCPU    time.Duration // this process's (the subscriber's) over deliver
}

func (p *phase) callRate() float64 { return float64(p.calls) / (float64(p.genNS) / 1e9) }
func (p *phase) deliveredRate() float64 {
	return float64(p.delivered) / p.deliver.Seconds()
}
func (p *phase) cpuPercent() float64    { return 100 * p.cpu.Seconds() / p.deliver.Seconds() }
func (p *phase) subCPUPercent() float64 { return 100 * p.subCPU.Seconds() / p.deliver.Seconds() }
func (p *phase) cpuPerEvent() float64 {
	return p.cpu.Seconds() * 1e6 / float64(p.delivered)
}

func (b *bench) onCleanup(f func() error) { b.cleanups.Push(f) }

// cleanup undoes everything in reverse order and reports what failed.
func (b *bench) cleanup() error { return b.cleanups.Run() }

func (b *bench) run() ([]byte, error) {
	b.load = report.Loadavg()
	tmp, err := os.MkdirTemp("", "paddock-bench-events-")
	if err != nil {
		return nil, err
	}
	b.onCleanup(func() error { return os.RemoveAll(tmp) })
	if err := b.compile(tmp); err != nil {
		return nil, err
	}
	if b.agentdBin == "" {
		b.agentdBin, b.built = filepath.Join(tmp, "bin", "agentd"), true
		if err := rig.GoBuild(filepath.Dir(b.agentdBin), "./agentd/cmd/agentd"); err != nil {
			return nil, err
		}
	}
	if err := b.startAgentd(tmp, b.agentdBin); err != nil {
		return nil, err
	}

	b.plain = filepath.Join(b.cg2, fmt.Sprintf("paddock-bench-events-%d-plain", os.Getpid()))
	if err := os.Mkdir(b.plain, 0o755); err != nil {
		return nil, err
	}
	b.onCleanup(func() error { return kernfs.RemoveCgroup(b.plain, 5*time.Second) })

	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	info, err := apiv1.NewEventsClient(b.conn).Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		return nil, err
	}
	b.version = info.GetVersion()
	b.startSeq = info.GetLastSeq()
	if b.sub, err = subscribe(b.ctx, b.conn, b.startSeq); err != nil {
		return nil, err
	}
	b.onCleanup(b.sub.stop)
	sbx, err := apiv1.NewSandboxesClient(b.conn).Create(ctx, &apiv1.CreateSandboxRequest{
		Policy: &apiv1.CreateSandboxRequest_Source{Source: &apiv1.PolicySource{Filename: "bench-events.hcl", Hcl: []byte(policyHCL)}},
		Name:   "bench-events",
	})
	if err != nil {
		return nil, fmt.Errorf("creating the sandbox: %w", err)
	}
	b.sbx = sbx
	b.sub.sandbox.Store(&sbx.Id)
	b.onCleanup(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := apiv1.NewSandboxesClient(b.conn).Destroy(ctx, &apiv1.DestroySandboxRequest{Id: sbx.GetId()})
		return err
	})

	g, err := b.startGen()
	if err != nil {
		return nil, err
	}
	// One untimed round first: page cache, the maps' first entries, the
	// log's first segment, the Go runtimes' heaps.
	for _, l := range b.loads {
		p, err := b.phase(g, -1, l, min(b.dur, 500*time.Millisecond))
		if err != nil {
			return nil, err
		}
		b.warm = append(b.warm, p)
	}
	fmt.Fprintf(os.Stderr, "events: %d rounds of %d phases of %s\n", b.rounds, len(b.loads), b.dur)
	for r := range b.rounds {
		for k := range b.loads {
			l := b.loads[(r+k)%len(b.loads)]
			p, err := b.phase(g, r, l, b.dur)
			if err != nil {
				return nil, err
			}
			b.phases = append(b.phases, p)
			if l.sandbox {
				fmt.Fprintf(os.Stderr, "events: round %d/%d, %s: %.0f events/s delivered, %d lost; generator %.0f calls/s; agentd %.0f%% CPU\n",
					r+1, b.rounds, l, p.deliveredRate(), p.lost, p.callRate(), p.cpuPercent())
			} else {
				fmt.Fprintf(os.Stderr, "events: round %d/%d, %s: %.0f calls/s\n", r+1, b.rounds, l, p.callRate())
			}
		}
	}
	if err := g.quit(); err != nil {
		return nil, err
	}
	if err := b.settle(); err != nil {
		return nil, err
	}
	if err := b.finish(); err != nil {
		return nil, err
	}
	return b.render(), nil
}

// of returns the timed phases of a load, in round order.
func (b *bench) of(l load) []*phase {
	var out []*phase
	for _, p := range b.phases {
		if p.load == l {
			out = append(out, p)
		}
	}
	return out
}

// at returns round r's phase of load l.
func (b *bench) at(r int, l load) *phase {
	for _, p := range b.phases {
		if p.round == r && p.load == l {
			return p
		}
	}
	return nil
}

// compile builds csrc/gen.c.
func (b *bench) compile(tmp string) (err error) {
	b.gen, b.cc, err = rig.CompileC(tmp, "gen", genC)
	return err
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startAgentd runs agentd with state, socket, pins, unix directory and
// cgroup subtree of its own, and connects to it.
func (b *bench) startAgentd(tmp, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	b.metrics = fmt.Sprintf("127.0.0.1:%d", port)
	a, err := rig.StartAgentd(&b.cleanups, bin, tmp, "events", "--metrics", b.metrics)
	if a != nil {
		b.agentdLog = a.Log
	}
	if err != nil {
		return err
	}
	b.cg2, b.stateDir, b.agentd, b.conn = filepath.Dir(a.CgroupRoot), a.StateDir, a.Cmd, a.Conn
	return nil
}

// gen is the running generator.
type gen struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func (b *bench) startGen() (*gen, error) {
	cmd := exec.Command(b.gen, strconv.Itoa(dstPort))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gen{cmd: cmd, in: in, out: bufio.NewReader(out)}
	b.onCleanup(func() error {
		cmd.Process.Kill()
		cmd.Wait()
		return nil
	})
	if line, err := g.out.ReadString('\n'); err != nil || line != "ready\n" {
		return nil, fmt.Errorf("the generator did not start: %q %v", line, err)
	}
	return g, nil
}

func (g *gen) quit() error {
	if _, err := io.WriteString(g.in, "quit\n"); err != nil {
		return err
	}
	return g.cmd.Wait()
}

// phase moves the generator into the sandbox's cgroup or the baseline's
// and runs it for d. In the sandbox it waits until every one of its calls
// is accounted for at the subscriber: its event arrived, or a gap counted
// it.
func (b *bench) phase(g *gen, round int, l load, d time.Duration) (*phase, error) {
	dir, want := b.plain, 0
	if l.sandbox {
		dir, want = filepath.Join(b.cg2, b.sbx.GetCgroup()), int(unix.EPERM)
	}
	pid := strconv.Itoa(g.cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0); err != nil {
		return nil, fmt.Errorf("moving the generator to %s: %w", dir, err)
	}
	p := &phase{round: round, load: l}
	gen0, lost0 := b.sub.gen.Load(), b.sub.lost.Load()
	cpu0, err := cpuTime(b.agentd.Process.Pid)
	if err != nil {
		return nil, err
	}
	self0 := selfCPU()
	start := time.Now()
	if _, err := fmt.Fprintf(g.in, "go %g %d %d %d\n", d.Seconds(), int64(1)<<62, want, l.rate); err != nil {
		return nil, err
	}
	line, err := g.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("the generator: %w", err)
	}
	if _, err := fmt.Sscanf(line, "done %d %d", &p.calls, &p.genNS); err != nil || p.calls <= 0 {
		return nil, fmt.Errorf("the generator: %s", strings.TrimSpace(line))
	}
	p.behind = p.calls - (b.sub.gen.Load() - gen0) - (b.sub.lost.Load() - lost0)
	if !l.sandbox {
		return p, nil
	}
	// Every call is one event: wait until each has arrived or been counted
	// by a gap (agentd writes the ring buffer's losses once a second).
	// agentd's CPU time is read whenever more events have arrived, so it
	// covers the delivery and not the wait for a gap.
	cpu1, self1 := cpu0, self0
	seen := int64(-1)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := b.sub.failure(); err != nil {
			return nil, err
		}
		got, lost := b.sub.gen.Load()-gen0, b.sub.lost.Load()-lost0
		if got != seen {
			seen = got
			if cpu1, err = cpuTime(b.agentd.Process.Pid); err != nil {
				return nil, err
			}
			self1 = selfCPU()
		}
		if got+lost >= p.calls {
			p.delivered, p.lost = got, lost
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s, round %d: of the generator's %d calls, %d events reached the subscriber and gaps counted %d lost within 30s of its end: %d unaccounted for (gaps: %s)",
				l, round+1, p.calls, got, lost, p.calls-got-lost, b.sub.gapText())
		}
		time.Sleep(time.Millisecond)
	}
	if p.delivered+p.lost != p.calls {
		return nil, fmt.Errorf("%s, round %d: %d events and %d lost for %d calls", l, round+1, p.delivered, p.lost, p.calls)
	}
	if p.delivered == 0 {
		return nil, fmt.Errorf("%s, round %d: none of the generator's %d events reached the subscriber", l, round+1, p.calls)
	}
	p.deliver = time.Unix(0, b.sub.lastGen.Load()).Sub(start)
	p.cpu, p.subCPU = cpu1-cpu0, self1-self0
	return p, nil
}

// selfCPU is this process's user plus system time: the subscriber's, as
// nothing else here works while a phase runs.
func selfCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle waits for the writer's periodic look at the ring buffer's lost
// count (every second), so a loss at the very end would show as a gap.
func (b *bench) settle() error {
	gen, lost := b.sub.gen.Load(), b.sub.lost.Load()
	time.Sleep(1500 * time.Millisecond)
	if err := b.sub.failure(); err != nil {
		return err
	}
	if g, l := b.sub.gen.Load(), b.sub.lost.Load(); g != gen || l != lost {
		return fmt.Errorf("after the last phase was accounted for, %d more events and %d more lost arrived", g-gen, l-lost)
	}
	return nil
}

// finish reads what agentd used and kept.
func (b *bench) finish() error {
	var err error
	if b.hwmKiB, err = statusKiB(b.agentd.Process.Pid, "VmHWM:"); err != nil {
		return err
	}
	if b.lost, b.logged, err = scrape(b.metrics); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	info, err := apiv1.NewEventsClient(b.conn).Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		return err
	}
	b.lastSeq = info.GetLastSeq()
	// Segments are named after the seq of their first record.
	return filepath.WalkDir(filepath.Join(b.stateDir, "events"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return err
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(d.Name(), ".log"), 10, 64)
		if err != nil {
			return fmt.Errorf("a segment named %s", d.Name())
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return err
		}
		if b.logSegments == 0 || first < b.logFirst {
			b.logFirst = first
		}
		b.logSegments++
		b.logBytes += st.Size
		b.logDisk += st.Blocks * 512
		return nil
	})
}

// cpuTime is a process's user plus system time, from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: the fields
	// start after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clkTck, nil
}

// clkTck is USER_HZ, the unit of /proc's times: 100 on every Linux
// architecture Go supports.
const clkTck = 100

// statusKiB reads a "kB" line of /proc/PID/status.
func statusKiB(pid int, key string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, key)
}

// scrape reads agentd's loss counters and its count of logged events from
// its Prometheus endpoint.
func scrape(addr string) (lost map[string]float64, logged float64, err error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	lost = map[string]float64{}
	seen := false
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, `paddock_events_lost_total{where="`):
			w := strings.TrimSuffix(strings.TrimPrefix(name, `paddock_events_lost_total{where="`), `"}`)
			lost[w] = v
		case name == "paddock_events_logged_total":
			logged, seen = v, true
		}
	}
	if !seen {
		return nil, 0, errors.New("agentd's metrics have no paddock_events_logged_total")
	}
	return lost, logged, nil
}

// subscriber is one Events.Subscribe stream in block mode with follow,
// from the log's last seq at the start: it checks every seq and counts the
// generator's events.
type subscriber struct {
	cancel  context.CancelFunc
	done    chan struct{}
	sandbox atomic.Pointer[string]
	dst     string

	gen     atomic.Int64 // the sandbox's denials of the generator's calls
	lastGen atomic.Int64 // arrival of the latest one, Unix ns
	lost    atomic.Int64 // the sum of the gaps' counts

	mu     sync.Mutex
	next   uint64 // the seq expected next
	other  map[string]int64
	gaps   []*apiv1.Gap
	broken []string // out of order, repeated or unexpected
	err    error
}

func subscribe(ctx context.Context, conn *grpc.ClientConn, since uint64) (*subscriber, error) {
	ctx, cancel := context.WithCancel(ctx)
	st, err := apiv1.NewEventsClient(conn).Subscribe(ctx, &apiv1.SubscribeRequest{SinceSeq: since, Mode: apiv1.Mode_MODE_BLOCK, Follow: true})
	if err != nil {
		cancel()
		return nil, err
	}
	s := &subscriber{cancel: cancel, done: make(chan struct{}), next: since + 1, other: map[string]int64{},
		dst: net.JoinHostPort("127.0.0.1", strconv.Itoa(dstPort))}
	go s.loop(st)
	return s, nil
}

func (s *subscriber) loop(st grpc.ServerStreamingClient[apiv1.Event]) {
	defer close(s.done)
	for {
		ev, err := st.Recv()
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		now := time.Now().UnixNano()
		if id := s.sandbox.Load(); id != nil && s.isGen(ev, *id) {
			if ev.Seq == s.next { // the hot path: no lock
				s.next++
				s.gen.Add(1)
				s.lastGen.Store(now)
				continue
			}
		}
		s.slow(ev)
	}
}

// isGen tells the generator's events: the sandbox's cgroup hook denying
// a UDP connect to dstPort.
func (s *subscriber) isGen(ev *apiv1.Event, id string) bool {
	n := ev.GetNetwork()
	return ev.SandboxId == id && ev.Layer == apiv1.Layer_LAYER_CGROUP_BPF && ev.Action == apiv1.Action_ACTION_DENY &&
		n != nil && n.Op == "connect4" && n.Proto == "udp" && n.Orig == s.dst
}

// slow handles everything but the generator's events in order: the
// sandbox's lifecycle, gaps, and whatever breaks the sequence.
func (s *subscriber) slow(ev *apiv1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := ev.GetGap(); g != nil {
		s.gaps = append(s.gaps, g)
		if g.Count == 0 {
			s.broken = append(s.broken, fmt.Sprintf("a gap of an unknown number of events (%s)", g.Cause))
		}
		s.lost.Add(int64(g.Count))
		// A marker agentd wrote (events lost before they had seqs) has a
		// seq of its own and no range; a range is seqs this stream skips.
		to := ev.Seq
		if g.FromSeq != 0 || g.ToSeq != 0 {
			if g.FromSeq != s.next || g.ToSeq < g.FromSeq || ev.Seq != g.ToSeq {
				s.broken = append(s.broken, fmt.Sprintf("gap of seq %d-%d (seq %d) where %d was next", g.FromSeq, g.ToSeq, ev.Seq, s.next))
			}
			to = g.ToSeq
		} else if ev.Seq != s.next {
			s.broken = append(s.broken, fmt.Sprintf("gap marker seq %d where %d was next", ev.Seq, s.next))
		}
		s.next = max(s.next, to+1)
		return
	}
	if ev.Seq != s.next {
		s.broken = append(s.broken, fmt.Sprintf("seq %d where %d was next", ev.Seq, s.next))
	}
	s.next = max(s.next, ev.Seq+1)
	if id := s.sandbox.Load(); id != nil && s.isGen(ev, *id) {
		s.gen.Add(1)
		s.lastGen.Store(time.Now().UnixNano())
		return
	}
	what := ev.Layer.String() + " " + ev.Action.String()
	if lc := ev.GetLifecycle(); lc != nil {
		what += " " + lc.Phase
	} else if n := ev.GetNetwork(); n != nil {
		what += " " + n.Op + " " + n.Proto + " " + n.Orig
	} else if ev.GetExit() != nil {
		what += " exit"
	}
	s.other[what]++
}

// failure says what went wrong with the stream, if anything: disorder,
// a loss that cannot be counted, or its end. Counted losses are not
// failures: each phase accounts for them.
func (s *subscriber) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(s.broken) > 0:
		return fmt.Errorf("the stream broke its order: %s", strings.Join(s.broken, "; "))
	case s.err != nil:
		return fmt.Errorf("the subscription ended: %w", s.err)
	}
	return nil
}

func (s *subscriber) gapText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gapTextLocked()
}

func (s *subscriber) gapTextLocked() string {
	if len(s.gaps) == 0 {
		return "none"
	}
	var parts []string
	for _, g := range s.gaps {
		parts = append(parts, fmt.Sprintf("%d (%s, seq %d-%d)", g.Count, g.Cause, g.FromSeq, g.ToSeq))
	}
	return strings.Join(parts, ", ")
}

func (s *subscriber) stop() error {
	s.cancel()
	<-s.done
	return nil
}

// ---- the report ----

func values(ps []*phase, f func(*phase) float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}

// q formats the median and the p10–p90 range of xs.
func q(xs []float64, format string) (median, spread string) {
	return fmt.Sprintf(format, report.Quantile(xs, 0.5)),
		fmt.Sprintf(format+"–"+format, report.Quantile(xs, 0.1), report.Quantile(xs, 0.9))
}

// thousands writes n with thin separators: 100,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// lossless is the highest offered load none of whose rounds lost an
// event, and whether there is one; an unpaced load counts above all.
func (b *bench) lossless() (load, bool) {
	var best load
	found := false
	for _, l := range b.loads[1:] {
		lost := int64(0)
		for _, p := range b.of(l) {
			lost += p.lost
		}
		if lost != 0 {
			continue
		}
		if !found || l.rate == 0 || (best.rate != 0 && l.rate > best.rate) {
			best, found = l, true
		}
	}
	return best, found
}

func (b *bench) render() []byte {
	var buf bytes.Buffer
	w := io.Writer(&buf)
	var u unix.Utsname
	kernel := "unknown"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	var calls, warmCalls, delivered, lost int64
	for _, p := range b.phases {
		if p.load.sandbox {
			calls += p.calls
			delivered += p.delivered
			lost += p.lost
		}
	}
	for _, p := range b.warm {
		if p.load.sandbox {
			warmCalls += p.calls
			delivered += p.delivered
			lost += p.lost
		}
	}

	fmt.Fprintln(w, "# Event pipeline: agentd from the hooks to a subscriber")
	fmt.Fprintln(w)
	origin := "built from this checkout"
	if !b.built {
		origin = "the binary given with -agentd"
	}
	fmt.Fprintf(w, "Produced by %s on %s; kernel %s, %d CPUs, as root, %s/%s; agentd %s, %s; generator built with %s.\n\n",
		report.Command("events"), time.Now().UTC().Format("2006-01-02"), kernel, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, b.version, origin, b.cc)

	fmt.Fprintln(w, "## Method")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The benchmark builds agentd (`go build ./agentd/cmd/agentd`, unless -agentd names a binary) and runs it as a process of its own, with a state directory, socket, "+
		"bpffs pin directory, unix socket directory and cgroup2 subtree of its own and its Prometheus metrics on a loopback port. "+
		"Over the unix socket it creates one sandbox (Sandboxes.Create with a policy that allows no destination) and opens one "+
		"Events.Subscribe stream in MODE_BLOCK with follow, from the log's last sequence number. "+
		"A C program (bench/events/csrc/gen.c, compiled at run time) waits on its stdin; the benchmark writes its pid "+
		"to the sandbox cgroup's cgroup.procs and then tells it to go: it creates a UDP socket and calls `connect(127.0.0.1:%d)` on it "+
		"for %s, counting its calls, either as fast as it can or held to an offered rate (it sleeps whenever it is ahead). "+
		"The hooks deny every call (UDP other than DNS) with EPERM, which the program checks call by call, "+
		"and write one event to the ring buffer; agentd reads it, enriches it (sandbox, policy, host), appends it to its durable log, and "+
		"the log hands it to the stream. The subscriber, a goroutine of the benchmark, counts the sandbox's denials of that address as they arrive, "+
		"and the counts of the gaps the stream reports. A phase ends when every call is accounted for, as an event that arrived or in a gap's count; "+
		"its throughput is the events that arrived over the time from the go to the arrival of the last of them, so it includes the pipeline's tail.\n\n",
		dstPort, b.dur)
	fmt.Fprintf(w, "Each round runs the generator once per load, in an order that rotates from round to round, after one untimed round of all of them. "+
		"The baseline runs the same program, the same calls as fast as it can, in a cgroup outside agentd's subtree where no hook is attached: "+
		"there each connect succeeds (a UDP connect sends nothing) and nothing is recorded. "+
		"agentd's CPU is its user plus system time from /proc/PID/stat over the phase, as a percentage of one CPU, "+
		"and the subscriber's is the benchmark's own (getrusage); the generator, agentd and the subscriber share the machine's %d CPUs. "+
		"The host is shared and its load drifts (load average before the run: %s), so every figure is the median over the rounds with its p10–p90.\n\n",
		runtime.NumCPU(), b.load)

	fmt.Fprintln(w, "## Results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| load | events/s reaching the subscriber | p10–p90 | generator calls/s | events lost, all rounds | rounds with a loss | still to arrive when the generator stopped | agentd CPU % | agentd µs per event | subscriber CPU % |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, l := range b.loads {
		ps := b.of(l)
		cr, _ := q(values(ps, (*phase).callRate), "%.0f")
		if !l.sandbox {
			fmt.Fprintf(w, "| %s | – | – | %s | – | – | – | – | – | – |\n", l, cr)
			continue
		}
		var n, lossy int64
		var c int64
		for _, p := range ps {
			n += p.lost
			c += p.calls
			if p.lost > 0 {
				lossy++
			}
		}
		dm, dp := q(values(ps, (*phase).deliveredRate), "%.0f")
		cpu, _ := q(values(ps, (*phase).cpuPercent), "%.0f")
		per, _ := q(values(ps, (*phase).cpuPerEvent), "%.1f")
		sub, _ := q(values(ps, (*phase).subCPUPercent), "%.0f")
		behind, _ := q(values(ps, func(p *phase) float64 { return float64(p.behind) }), "%.0f")
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s of %s | %d of %d | %s | %s | %s | %s |\n", l, dm, dp, cr, thousands(n), thousands(c), lossy, len(ps), behind, cpu, per, sub)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Still to arrive: the generator's calls that had neither reached the subscriber nor been counted lost when it stopped, median over the rounds: "+
		"a backlog in agentd (its queue, its log) and in the stream. Nothing of it is lost in block mode while the log holds it, but a load the subscriber receives "+
		"slower than it is offered is not one it can keep up with for long.")
	fmt.Fprintln(w)
	if full := (load{sandbox: true}); slices.Contains(b.loads, full) {
		ratio := make([]float64, b.rounds)
		for r := range b.rounds {
			ratio[r] = b.at(r, full).callRate() / b.at(r, b.loads[0]).callRate()
		}
		m, sp := q(ratio, "%.2f×")
		fmt.Fprintf(w, "As fast as it can, the generator made %s the baseline's calls per second in the sandbox (median of the per-round ratios, p10–p90 %s). "+
			"The two do not make the same kernel work: in the sandbox the hook refuses the call before the route lookup a UDP connect does, "+
			"and writes an event; and agentd and the subscriber take CPU from the generator there while they deliver.\n\n", m, sp)
	}
	fmt.Fprintf(w, "- agentd's peak RSS (VmHWM at the end, after %s events): %.1f MiB.\n", thousands(delivered+lost), mib(b.hwmKiB))
	held := int64(b.lastSeq - b.logFirst + 1)
	rotated := ""
	if b.logFirst > 1 {
		rotated = fmt.Sprintf("; the log reached its bound (1 GiB by default) during the run and removed its oldest segments, seqs 1 to %s", thousands(int64(b.logFirst-1)))
	}
	fmt.Fprintf(w, "- The event log on disk at the end: %d segments, %.1f MiB (%.1f MiB allocated), holding seqs %s to %s: %.0f bytes per event, frame included%s.\n",
		b.logSegments, float64(b.logBytes)/(1<<20), float64(b.logDisk)/(1<<20), thousands(int64(b.logFirst)), thousands(int64(b.lastSeq)),
		float64(b.logBytes)/float64(held), rotated)
	fmt.Fprintln(w)
	best, ok := b.lossless()
	verdict := "not met: every load lost events in some round"
	if ok {
		m := report.Quantile(values(b.of(best), (*phase).deliveredRate), 0.5)
		verdict = fmt.Sprintf("%s (the highest load with no loss in any round: %s, median %s events/s reaching the subscriber)",
			report.Verdict(m >= targetRate), best, thousands(int64(m)))
	}
	fmt.Fprintf(w, "Target: at least %s events per second reaching a subscriber with none lost: %s.\n\n", thousands(targetRate), verdict)

	fmt.Fprintln(w, "## Per round")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| round | load | calls | calls/s | events/s reaching the subscriber | lost | still to arrive at the stop | agentd CPU % |")
	fmt.Fprintln(w, "|---:|:---|---:|---:|---:|---:|---:|---:|")
	for _, p := range b.phases {
		if !p.load.sandbox {
			fmt.Fprintf(w, "| %d | %s | %s | %.0f | – | – | – | – |\n", p.round+1, p.load, thousands(p.calls), p.callRate())
			continue
		}
		fmt.Fprintf(w, "| %d | %s | %s | %.0f | %.0f | %s | %s | %.0f |\n", p.round+1, p.load, thousands(p.calls), p.callRate(), p.deliveredRate(),
			thousands(p.lost), thousands(p.behind), p.cpuPercent())
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## What bounds agentd's memory")
	fmt.Fprintln(w)
	for _, line := range memoryBound {
		fmt.Fprintln(w, "- "+line)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	b.sub.mu.Lock()
	others := make([]string, 0, len(b.sub.other))
	for k, n := range b.sub.other {
		others = append(others, fmt.Sprintf("%d × %s", n, k))
	}
	slices.Sort(others)
	causes := map[string]int64{}
	for _, g := range b.sub.gaps {
		causes[g.Cause] += int64(g.Count)
	}
	last := b.sub.next - 1
	b.sub.mu.Unlock()
	fmt.Fprintf(w, "- The stream carried every sequence number from %d to %d once and in order, each as an event or as a gap marker with a known count: "+
		"a repeated or missing number, or a gap of unknown size, would have stopped the benchmark.\n", b.startSeq+1, last)
	fmt.Fprintf(w, "- The generator made %s calls in the sandbox (%s timed, %s in the untimed round) and saw each fail with EPERM. "+
		"The subscriber received %s of the sandbox's denials of `connect(127.0.0.1:%d)` on a UDP socket, and the gaps counted %s lost (%s): "+
		"in every phase the two added up to the phase's calls exactly, or the benchmark would have stopped; nothing arrived after the last phase was accounted for.\n",
		thousands(calls+warmCalls), thousands(calls), thousands(warmCalls), thousands(b.sub.gen.Load()), dstPort, thousands(b.sub.lost.Load()), causeText(causes))
	fmt.Fprintf(w, "- The stream's other events, none of them the generator's: %s.\n", strings.Join(others, ", "))
	fmt.Fprintf(w, "- agentd's own loss counters at the end (paddock_events_lost_total): %s; events it logged (paddock_events_logged_total): %s.\n",
		lostText(b.lost), thousands(int64(b.logged)))
	fmt.Fprintln(w, "- Outside the sandbox every call succeeded, which shows that the calls in the sandbox failed because of its hooks and nothing else.")
	fmt.Fprintln(w, "- At the end the benchmark destroyed the sandbox, stopped agentd, and removed its state, pins (which detaches the hooks) and cgroups.")
	return buf.Bytes()
}

func causeText(m map[string]int64) string {
	if len(m) == 0 {
		return "no gap"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", thousands(m[k]), k))
	}
	return strings.Join(parts, ", ")
}

func lostText(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// memoryBound says what bounds agentd's memory on the event path, read
// from the code (bpf/common.h, agentd/daemon/events.go, agentd/eventlog).
var memoryBound = []string{
	"The kernel's ring buffer is 1 MiB (`events`, BPF_MAP_TYPE_RINGBUF in bpf/common.h), memory-mapped into agentd: about 5,400 socket events of 192 bytes. When it is full the hooks count the event in a per-CPU `lost` map instead, and agentd records that count as a gap.",
	"Between the reader and the writer, agentd's queue holds at most 65,536 events (`queueLen` in agentd/daemon/events.go); what finds it full is counted and logged as a gap, and producers never wait. A queued event is a decoded apiv1.Event with its strings on the Go heap, under 1 KiB for a socket decision (BenchmarkPipelineWrite in agentd/daemon allocates 1,023 bytes per event through the queue, its encoding included), so a full queue is at most about 64 MiB, and the Go collector lets the heap grow to about twice what is live (GOGC 100). The writer takes at most 512 events at a time and keeps one encoding buffer of at most 1 MiB between batches.",
	"The log keeps at most 4 MiB of recent payloads in memory for subscribers, plus 40 bytes for each of at most 8,192 cached records (eventlog.Options.CacheBytes, ring.go).",
	"A subscriber in block mode holds a queue of at most 4,096 records (the Events service's Subscribe); one that falls behind the cache reads the segments with a 64 KiB buffer. A drop-mode subscriber's queue is bounded the same way and reports its losses as gaps.",
	"On disk the log is bounded by eventlog.Options.MaxBytes (1 GiB by default) in segments of 16 MiB: when a new segment starts, the oldest are removed.",
}

// result is the report in machine-readable form, for bench/report: the
// target as a claim, the events reaching the subscriber at each load as a
// plot.
func (b *bench) result() *report.Result {
	m := b.machine
	m.Load = b.load
	res := &report.Result{Bench: "events", Title: "Event pipeline: agentd from the hooks to a subscriber", Command: report.Command("events"),
		Date: time.Now().UTC(), Machine: m, Tools: map[string]string{"cc": b.cc}}
	plot := report.Plot{Name: "events-throughput", Title: "Events per second reaching a subscriber, by offered load", Kind: report.Bars,
		XLabel: "load offered by the generator in the sandbox", YLabel: "events/s (median over the rounds, p10–p90)",
		Refs: []report.Ref{{Y: targetRate, Label: fmt.Sprintf("target: %s events/s with none lost", thousands(targetRate))}}}
	delivered := report.Series{Name: "events/s reaching the subscriber"}
	offered := report.Series{Name: "calls/s the generator made"}
	table := report.Table{Caption: "Medians over the rounds", Header: []string{"load", "events/s reaching the subscriber", "× calls made", "events lost, all rounds", "agentd CPU %"}}
	for _, l := range b.loads[1:] {
		ps := b.of(l)
		name := "as fast as it can"
		if l.rate != 0 {
			name = thousands(int64(l.rate)) + "/s"
		}
		d := report.Summarize(values(ps, (*phase).deliveredRate))
		delivered.Points = append(delivered.Points, report.PointOf(name, d))
		offered.Points = append(offered.Points, report.PointOf(name, report.Summarize(values(ps, (*phase).callRate))))
		var lost, calls int64
		for _, p := range ps {
			lost += p.lost
			calls += p.calls
		}
		share := report.Quantile(values(ps, func(p *phase) float64 { return p.deliveredRate() / p.callRate() }), 0.5)
		table.Rows = append(table.Rows, []string{l.String(), thousands(int64(d.Median)), fmt.Sprintf("%.3f×", share),
			fmt.Sprintf("%s of %s", thousands(lost), thousands(calls)), fmt.Sprintf("%.0f", report.Quantile(values(ps, (*phase).cpuPercent), 0.5))})
	}
	plot.Series = []report.Series{offered, delivered}
	res.Plots = append(res.Plots, plot)
	res.Tables = append(res.Tables, table)
	best, ok := b.lossless()
	if !ok {
		res.Claims = append(res.Claims, report.Claim{Claim: fmt.Sprintf("Events reaching a subscriber with none lost: at least %s per second", thousands(targetRate)),
			Unit: "events/s", Op: ">=", Target: targetRate, Detail: "every load lost events in some round"})
		return res
	}
	s := report.Summarize(values(b.of(best), (*phase).deliveredRate))
	res.Claims = append(res.Claims, report.NewClaim(fmt.Sprintf("Events reaching a subscriber with none lost: at least %s per second", thousands(targetRate)),
		s, "events/s", "", ">=", targetRate, fmt.Sprintf("the highest load with no loss in any round: %s; agentd at %.0f%% of a CPU",
			best, report.Quantile(values(b.of(best), (*phase).cpuPercent), 0.5))))
	return res
}
