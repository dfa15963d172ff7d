// Command proxy measures what Paddock's egress proxy costs an HTTP client:
// wrk's throughput and latency fetching a 1 KiB file from nginx on
// loopback directly, through Paddock's proxy (explicit mode, absolute-form
// requests) and through tinyproxy, the yardstick the peers' baseline used.
// Two more paths show the floor of a userspace proxy on the machine, with
// no policy: a Go relay that copies bytes without parsing them (see
// relay.go) and nginx as a reverse proxy. Paddock's ratio to direct is to
// be judged against theirs, since every proxy pays for the extra process
// and sockets on the same CPUs as wrk and the origin. One more, a relay
// whose bytes a BPF program moves from socket to socket inside the kernel
// (see splice.go), is the ceiling of any proxy that keeps a second TCP
// connection to the origin.
//
// nginx (twice), tinyproxy, wrk, the relays and the Paddock proxy are
// separate processes; the proxy and the relays are this binary
// re-executed (see child.go, relay.go and splice.go). The paths are
// interleaved over rounds, and each configuration is also reported as the
// median of its per-round ratio to the direct run of the same round and
// connection count, since the host's load drifts over the minutes a run
// takes and moves both sides of a pair alike.
//
// Before anything is timed, and again after, the benchmark checks that the
// proxy under test is not an open proxy: an allowed request gets the file,
// a request to another port on the same address gets 403 and never
// reaches the listener there.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
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

	"github.com/paddock-sh/paddock/bench/internal/report"
)

// The targets for the Paddock proxy.
const (
	targetRatio1    = 0.6 // req/s at 1 connection, at least this times direct
	targetRatio8    = 0.5 // req/s at 8 connections
	targetAddedP50  = 60  // added median latency, µs, at most
	fileSize        = 1024
	doneMarker      = "paddock-bench"
	checkMarker     = "paddock-bench-check"
	startTimeout    = 5 * time.Second
	maxReportedTail = 2048
	title           = "Egress proxy: Paddock against direct, the userspace floor, the kernel ceiling and tinyproxy"
)

func main() {
	if origin := os.Getenv(childEnv); origin != "" {
		os.Exit(serveChild(origin))
	}
	if origin := os.Getenv(relayEnv); origin != "" {
		os.Exit(serveRelay(os.Args[1:], origin))
	}
	if origin := os.Getenv(spliceEnv); origin != "" {
		os.Exit(serveSplice(os.Args[1:], origin))
	}
	dur := flag.Duration("d", 6*time.Second, "duration of each timed wrk run (whole seconds)")
	rounds := flag.Int("rounds", 5, "rounds; each runs every path at every connection count once")
	warmup := flag.Duration("warmup", 2*time.Second, "duration of the untimed warm-up and verification run of each path (whole seconds)")
	connsFlag := flag.String("c", "1,8", "wrk connection counts, comma-separated")
	out := flag.String("o", "bench/results/proxy.md", "write the markdown report to this file (\"\": stdout only)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file, for bench/report (default: -o's name with .json)")
	flag.Parse()
	conns, err := parseConns(*connsFlag)
	if err == nil && (*rounds < 1 || *dur < time.Second || *dur%time.Second != 0 || *warmup < time.Second || *warmup%time.Second != 0) {
		err = errors.New("-rounds must be at least 1, -d and -warmup whole seconds of at least 1s")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(2)
	}

	// An interrupt stops the wrk run under way; the servers are then
	// stopped by the cleanups like on any other return.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	b := &bench{ctx: ctx, dur: *dur, warmup: *warmup, rounds: *rounds, conns: conns, machine: report.ThisMachine()}
	rep, err := b.run()
	b.cleanup()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	if err := report.Publish(*out, *jsonOut, rep, b.result()); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func parseConns(s string) ([]int, error) {
	var cs []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-c: %q is not a positive connection count", f)
		}
		cs = append(cs, n)
	}
	return cs, nil
}

// bench is one run of the benchmark and everything it started.
type bench struct {
	ctx    context.Context
	dur    time.Duration
	warmup time.Duration
	rounds int
	conns  []int

	tmp      string
	tools    map[string]string // name -> path
	versions map[string]string
	cleanups []func()

	origin      string // nginx, 127.0.0.1:port
	paddock     *child
	relay       *exec.Cmd
	relayAddr   string
	splice      *exec.Cmd // nil when spliceSkip says why
	spliceAddr  string
	spliceSkip  string
	reverseAddr string // the second nginx, a reverse proxy to origin
	tiny        *exec.Cmd
	tinyAddr    string
	canary      *canary

	paths  []*path
	checks []string // what was checked, for the report
	events [2]int64 // the proxy's allow and deny events at the end
	rss    map[string]int64
	reqs   int64  // requests wrk completed through Paddock, all runs
	load   string // /proc/loadavg's first three fields before the runs

	machine report.Machine
}

// path is one way to reach the origin, and what was measured for it.
type path struct {
	name   string
	addr   string // what wrk connects to, host:port
	shown  string // addr as the report's Commands name it
	target string // the request target wrk sends: absolute-form to an explicit proxy
	script string // the timed run's Lua script
	check  string // the verification run's Lua script
	skip   string

	runs   [][]result // [connection index][round]
	ok, nb int64      // verification: 2xx and other responses
}

// result is what one wrk run printed through the script's done().
type result struct {
	requests, bytes, durationUS                        int64
	connectErr, readErr, writeErr, statusErr, timeouts int64
	p50, p99, mean                                     float64 // µs
}

// explicit reports whether wrk talks to p as to an explicit proxy.
func (p *path) explicit() bool { return strings.HasPrefix(p.target, "http://") }

func (r result) rps() float64 { return float64(r.requests) / (float64(r.durationUS) / 1e6) }

func (b *bench) cleanup() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
	b.cleanups = nil
}

func (b *bench) defer_(f func()) { b.cleanups = append(b.cleanups, f) }

func (b *bench) run() ([]byte, error) {
	if err := b.findTools(); err != nil {
		return nil, err
	}
	b.load = report.Loadavg()
	tmp, err := os.MkdirTemp("", "paddock-bench-proxy-")
	if err != nil {
		return nil, err
	}
	b.tmp = tmp
	b.defer_(func() { os.RemoveAll(tmp) })
	// nginx's worker runs as nobody when started by root.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}

	if err := b.startOrigin(); err != nil {
		return nil, err
	}
	if err := b.startPaddock(); err != nil {
		return nil, err
	}
	if err := b.startRelay(); err != nil {
		return nil, err
	}
	if err := b.startSplice(); err != nil {
		return nil, err
	}
	if err := b.startReverse(); err != nil {
		return nil, err
	}
	if err := b.startTinyproxy(); err != nil {
		return nil, err
	}
	if b.canary, err = startCanary(); err != nil {
		return nil, err
	}
	b.defer_(b.canary.close)
	if err := b.makePaths(); err != nil {
		return nil, err
	}
	if err := b.checkAccess("before the runs"); err != nil {
		return nil, err
	}
	if err := b.verify(); err != nil {
		return nil, err
	}
	if err := b.measure(); err != nil {
		return nil, err
	}
	if err := b.checkAccess("after the runs"); err != nil {
		return nil, err
	}
	if b.events, err = b.paddock.stats(); err != nil {
		return nil, err
	}
	b.rss = map[string]int64{"Paddock proxy": vmHWM(b.paddock.cmd.Process.Pid), "Go relay": vmHWM(b.relay.Process.Pid)}
	if b.splice != nil {
		b.rss["kernel splice relay"] = vmHWM(b.splice.Process.Pid)
	}
	if b.tiny != nil {
		b.rss["tinyproxy"] = vmHWM(b.tiny.Process.Pid)
	}
	return b.render(), nil
}

func (b *bench) findTools() error {
	b.tools = map[string]string{}
	b.versions = map[string]string{}
	for _, name := range []string{"wrk", "nginx", "tinyproxy"} {
		p, err := exec.LookPath(name)
		if err != nil {
			// nginx lives in sbin, which an unprivileged PATH may lack.
			if _, serr := os.Stat("/usr/sbin/" + name); serr == nil {
				p, err = "/usr/sbin/"+name, nil
			}
		}
		if err != nil {
			if name == "tinyproxy" {
				continue // the yardstick only: its rows say why they are missing
			}
			return fmt.Errorf("%s is not installed (make deps installs wrk, nginx-light and tinyproxy)", name)
		}
		b.tools[name] = p
	}
	// Each prints its version its own way, and wrk exits 1 doing it.
	ver := func(name string, arg string, re func(string) string) {
		if p, ok := b.tools[name]; ok {
			out, _ := exec.Command(p, arg).CombinedOutput()
			b.versions[name] = re(strings.TrimSpace(string(out)))
		}
	}
	ver("wrk", "-v", func(s string) string {
		s, _, _ = strings.Cut(s, "\n")
		if f := strings.Fields(s); len(f) > 1 {
			return "wrk " + f[1]
		}
		return "wrk"
	})
	ver("nginx", "-v", func(s string) string { return strings.TrimPrefix(s, "nginx version: ") })
	ver("tinyproxy", "-v", func(s string) string { s, _, _ = strings.Cut(s, "\n"); return s })
	return nil
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections, or cmd exits.
func waitListening(addr string, cmd *exec.Cmd, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening on %s", filepath.Base(cmd.Path), addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s does not listen on %s after %s", filepath.Base(cmd.Path), addr, startTimeout)
}

// tail keeps the last bytes written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > maxReportedTail {
		t.buf = t.buf[len(t.buf)-maxReportedTail:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

// startServer starts a server process in a process group of its own (so
// that a terminal's interrupt reaches only the benchmark, which stops it)
// and registers its stopping. env is its environment (nil: the
// benchmark's); deathSig is what the kernel sends it should the benchmark
// die without cleaning up.
func (b *bench) startServer(argv, env []string, deathSig syscall.Signal, stdout io.Writer) (*exec.Cmd, *tail, <-chan struct{}, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	errs := &tail{}
	cmd.Stderr = errs
	if stdout == nil {
		stdout = errs
	}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	pid := cmd.Process.Pid
	b.defer_(func() {
		// The whole group: nginx's worker goes with its master.
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
		}
	})
	return cmd, errs, exited, nil
}

// startOrigin starts the origin: nginx serving the file from TMP/www.
func (b *bench) startOrigin() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	b.origin = fmt.Sprintf("127.0.0.1:%d", port)
	www := filepath.Join(b.tmp, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	body := make([]byte, fileSize)
	rand.Read(body)
	if err := os.WriteFile(filepath.Join(www, "1k.bin"), body, 0o644); err != nil {
		return err
	}
	return b.startNginx(b.tmp, b.origin, originServer(b.tmp, b.origin))
}

// startReverse starts the second nginx, a reverse proxy to the origin,
// in a directory of its own so that its pid file and logs are its own.
func (b *bench) startReverse() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := filepath.Join(b.tmp, "reverse")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := b.startNginx(dir, addr, reverseServer(addr, b.origin)); err != nil {
		return fmt.Errorf("nginx reverse proxy: %w", err)
	}
	b.reverseAddr = addr
	return nil
}

// startNginx starts nginx with its configuration, pid file, logs and
// temporary files in dir, and waits until it listens on addr.
func (b *bench) startNginx(dir, addr, servers string) error {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, servers)), 0o644); err != nil {
		return err
	}
	cmd, errs, exited, err := b.startServer([]string{b.tools["nginx"], "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf}, nil, syscall.SIGTERM, nil)
	if err != nil {
		return fmt.Errorf("starting nginx: %w", err)
	}
	if err := waitListening(addr, cmd, exited); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return fmt.Errorf("%w\n%s%s", err, errs, log)
	}
	return nil
}

// nginxConf is one nginx: one worker, no access log, its files in dir,
// servers the rest of its http block.
func nginxConf(dir, servers string) string {
	return fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s}
`, dir, servers)
}

// originServer serves static files from dir/www on addr.
func originServer(dir, addr string) string {
	return fmt.Sprintf("    server { listen %s; root %s/www; }\n", addr, dir)
}

// reverseServer proxies every request on addr to origin over kept-alive
// connections (HTTP/1.1 and no Connection header upstream, which nginx
// needs to reuse them), the usual reverse-proxy setup.
func reverseServer(addr, origin string) string {
	return fmt.Sprintf(`    upstream o { server %s; keepalive 16; }
    server { listen %s; location / { proxy_pass http://o; proxy_http_version 1.1; proxy_set_header Connection ""; } }
`, origin, addr)
}

// startRelay starts the Go relay (this binary re-executed, see relay.go)
// on a free loopback port.
func (b *bench) startRelay() error {
	cmd, addr, errs, err := b.startSelf(relayEnv)
	if err != nil {
		return fmt.Errorf("starting the Go relay: %w\n%s", err, errs)
	}
	b.relay, b.relayAddr = cmd, addr
	return nil
}

// startSplice compiles the kernel splice relay's verdict program into TMP
// and starts the relay (this binary re-executed, see splice.go) on a free
// loopback port. Without root, clang and libbpf's headers, or where the
// kernel will not load the program, it is a yardstick the less: its rows
// say why they are missing.
func (b *bench) startSplice() error {
	if _, err := exec.LookPath("clang"); err != nil {
		b.spliceSkip = "clang not installed (make deps installs it)"
		return nil
	}
	if os.Geteuid() != 0 {
		b.spliceSkip = "needs root (BPF)"
		return nil
	}
	obj, version, err := compileSplice(b.tmp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proxy: the kernel splice relay is skipped: %v\n", err)
		b.spliceSkip = "did not compile (make deps installs clang and libbpf-dev)"
		return nil
	}
	b.versions["clang"] = version
	cmd, addr, errs, err := b.startSelf(spliceEnv, obj)
	if err != nil {
		fmt.Fprintf(os.Stderr, "proxy: the kernel splice relay is skipped: %v\n%s\n", err, errs)
		first, _, _ := strings.Cut(errs, "\n")
		b.spliceSkip = "did not start: " + strings.TrimPrefix(first, "splice relay: ")
		return nil
	}
	b.splice, b.spliceAddr = cmd, addr
	return nil
}

// startSelf re-executes this binary as the child envVar selects, with the
// origin as its value and a free loopback address and args as its
// arguments, and waits until it listens there. errs is what the child
// wrote on stderr.
func (b *bench) startSelf(envVar string, args ...string) (cmd *exec.Cmd, addr, errs string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", "", err
	}
	port, err := freePort()
	if err != nil {
		return nil, "", "", err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	env := append(os.Environ(), envVar+"="+b.origin)
	cmd, stderr, exited, err := b.startServer(append([]string{exe, addr}, args...), env, syscall.SIGKILL, nil)
	if err != nil {
		return nil, "", "", err
	}
	if err := waitListening(addr, cmd, exited); err != nil {
		return nil, "", stderr.String(), err
	}
	return cmd, addr, "", nil
}

// tinyproxyConf listens on loopback and serves 127.0.0.1 only. Root must
// name a user to drop to.
func tinyproxyConf(port string) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "User nobody\nGroup nogroup\n"
	}
	return fmt.Sprintf("Port %s\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 600\nMaxClients 100\nLogLevel Error\n%s", port, user)
}

func (b *bench) startTinyproxy() error {
	if b.tools["tinyproxy"] == "" {
		return nil
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	conf := filepath.Join(b.tmp, "tinyproxy.conf")
	if err := os.WriteFile(conf, []byte(tinyproxyConf(strconv.Itoa(port))), 0o644); err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd, errs, exited, err := b.startServer([]string{b.tools["tinyproxy"], "-d", "-c", conf}, nil, syscall.SIGKILL, nil)
	if err != nil {
		return fmt.Errorf("starting tinyproxy: %w", err)
	}
	if err := waitListening(addr, cmd, exited); err != nil {
		return fmt.Errorf("%w\n%s", err, errs)
	}
	b.tiny, b.tinyAddr = cmd, addr
	return nil
}

// child is the Paddock proxy process.
type child struct {
	cmd  *exec.Cmd
	addr string
	in   io.WriteCloser
	out  *bufio.Reader
	errs *tail
}

func (b *bench) startPaddock() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	ir, iw, err := os.Pipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return err
	}
	b.defer_(func() { pr.Close(); iw.Close() })
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+b.origin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdin, cmd.Stdout = ir, pw
	errs := &tail{}
	cmd.Stderr = errs
	err = cmd.Start()
	ir.Close()
	pw.Close()
	if err != nil {
		iw.Close()
		return fmt.Errorf("starting the Paddock proxy: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	c := &child{cmd: cmd, in: iw, out: bufio.NewReader(pr), errs: errs}
	b.paddock = c
	b.defer_(func() {
		// Closing stdin shuts it down; a signal if it does not.
		iw.Close()
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	line, err := c.readLine()
	if err != nil || !strings.HasPrefix(line, "ready ") {
		return fmt.Errorf("the Paddock proxy did not start (%q, %v)\n%s", line, err, errs)
	}
	c.addr = strings.TrimPrefix(line, "ready ")
	return nil
}

func (c *child) readLine() (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(startTimeout):
		return "", errors.New("no answer")
	}
}

// stats asks the proxy how many allow and deny events it emitted.
func (c *child) stats() ([2]int64, error) {
	var n [2]int64
	if _, err := io.WriteString(c.in, "stats\n"); err != nil {
		return n, err
	}
	line, err := c.readLine()
	if err != nil {
		return n, err
	}
	if _, err := fmt.Sscanf(line, "stats %d %d", &n[0], &n[1]); err != nil {
		return n, fmt.Errorf("the proxy's stats %q: %w", line, err)
	}
	return n, nil
}

// vmHWM is the peak resident set of a live process, KiB (0 if unknown).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// canary is a listener on another loopback port, which the policy does not
// allow: reached counts connections that got to it anyway.
type canary struct {
	l       net.Listener
	reached atomic.Int64
}

func startCanary() (*canary, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &canary{l: l}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.reached.Add(1)
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncanary")
			conn.Close()
		}
	}()
	return c, nil
}

func (c *canary) addr() string { return c.l.Addr().String() }
func (c *canary) close()       { c.l.Close() }

// makePaths writes the wrk scripts of each path. The first is direct and
// the second Paddock's; the yardsticks follow, the floor and the ceiling
// first.
func (b *bench) makePaths() error {
	direct := "/1k.bin"
	absolute := "http://" + b.origin + "/1k.bin"
	tiny := &path{name: "tinyproxy " + strings.TrimPrefix(b.versions["tinyproxy"], "tinyproxy "), addr: b.tinyAddr, shown: "127.0.0.1:TINYPROXY", target: absolute}
	if b.tiny == nil {
		tiny.name = "tinyproxy"
		tiny.skip = "not installed (make deps installs it)"
	}
	b.paths = []*path{
		{name: "direct (wrk → nginx)", addr: b.origin, shown: "ORIGIN", target: direct},
		{name: "Paddock proxy", addr: b.paddock.addr, shown: "127.0.0.1:PROXY", target: absolute},
		{name: "Go relay (io.Copy, no policy)", addr: b.relayAddr, shown: "127.0.0.1:RELAY", target: direct},
		{name: "kernel splice relay (sockmap, no policy)", addr: b.spliceAddr, shown: "127.0.0.1:SPLICE", target: direct, skip: b.spliceSkip},
		{name: "nginx reverse proxy (proxy_pass, keepalive upstream)", addr: b.reverseAddr, shown: "127.0.0.1:REVERSE", target: direct},
		tiny,
	}
	for i, p := range b.paths {
		p.script = filepath.Join(b.tmp, fmt.Sprintf("path%d.lua", i))
		p.check = filepath.Join(b.tmp, fmt.Sprintf("path%d-check.lua", i))
		if err := os.WriteFile(p.script, []byte(timedScript(p.target, b.origin)), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(p.check, []byte(checkScript(p.target, b.origin)), 0o644); err != nil {
			return err
		}
		p.runs = make([][]result, len(b.conns))
	}
	return nil
}

// timedScript sets a static request (wrk builds it once, so the script
// costs nothing per request) and prints wrk's summary in full precision
// at the end.
func timedScript(target, host string) string {
	return fmt.Sprintf(`wrk.path = %q
wrk.headers["Host"] = %q
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format("%s %%d %%d %%d %%d %%d %%d %%d %%d %%.3f %%.3f %%.3f\n",
    s.requests, s.bytes, s.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
`, target, host, doneMarker)
}

// checkScript is timedScript plus a response hook that counts 2xx
// statuses exactly. The hook makes wrk parse every response for Lua, so
// it is used only in the untimed verification runs.
func checkScript(target, host string) string {
	return timedScript(target, host) + fmt.Sprintf(`local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) ok2xx = 0; other = 0 end
response = function(status, headers, body)
  if status >= 200 and status < 300 then ok2xx = ok2xx + 1 else other = other + 1 end
end
local timed_done = done
done = function(s, latency, requests)
  timed_done(s, latency, requests)
  local ok, bad = 0, 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok2xx"); bad = bad + t:get("other") end
  io.write(string.format("%s %%d %%d\n", ok, bad))
end
`, checkMarker)
}

// wrk runs wrk once and returns its summary, and the verification counts
// when the script has them.
func (b *bench) wrk(p *path, conns int, d time.Duration, script string) (result, [2]int64, error) {
	var r result
	var chk [2]int64
	args := []string{"-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d/time.Second)), "--latency", "-s", script, "http://" + p.addr + "/"}
	cmd := exec.CommandContext(b.ctx, b.tools["wrk"], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if b.ctx.Err() != nil {
		return r, chk, errors.New("interrupted")
	}
	if err != nil {
		return r, chk, fmt.Errorf("wrk %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	found := false
	for line := range strings.SplitSeq(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, checkMarker+" "); ok {
			if _, err := fmt.Sscanf(rest, "%d %d", &chk[0], &chk[1]); err != nil {
				return r, chk, fmt.Errorf("wrk's check line %q: %w", line, err)
			}
		} else if rest, ok := strings.CutPrefix(line, doneMarker+" "); ok {
			if r, err = parseDone(rest); err != nil {
				return r, chk, fmt.Errorf("wrk's summary line %q: %w", line, err)
			}
			found = true
		}
	}
	if !found {
		return r, chk, fmt.Errorf("wrk %s printed no summary:\n%s", strings.Join(args, " "), out)
	}
	if r.requests == 0 || r.durationUS <= 0 {
		return r, chk, fmt.Errorf("wrk %s completed no request:\n%s", strings.Join(args, " "), out)
	}
	return r, chk, nil
}

func parseDone(s string) (result, error) {
	var r result
	_, err := fmt.Sscanf(s, "%d %d %d %d %d %d %d %d %g %g %g", &r.requests, &r.bytes, &r.durationUS,
		&r.connectErr, &r.readErr, &r.writeErr, &r.statusErr, &r.timeouts, &r.p50, &r.p99, &r.mean)
	return r, err
}

// fetch GETs target, through the HTTP proxy at via unless via is "", on a
// fresh connection.
func fetch(target, via string) (int, []byte, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if via != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: via})
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get(target)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// checkAccess checks that every path fetches the file, and that the
// Paddock proxy refuses what its policy does not allow.
func (b *bench) checkAccess(when string) error {
	want, err := os.ReadFile(filepath.Join(b.tmp, "www", "1k.bin"))
	if err != nil {
		return err
	}
	for _, p := range b.paths {
		if p.skip != "" {
			continue
		}
		// As wrk asks: through an explicit proxy, or straight from the
		// address wrk connects to (the origin, a reverse proxy).
		file, via := "http://"+p.addr+p.target, ""
		if p.explicit() {
			file, via = p.target, p.addr
		}
		status, body, err := fetch(file, via)
		if err != nil || status != 200 || !bytes.Equal(body, want) {
			return fmt.Errorf("%s: GET %s: status %d, %d bytes, %v; want 200 and the file", p.name, file, status, len(body), err)
		}
	}
	// A port of the same address that the policy does not name, with a
	// listener that would answer 200; and the origin by a name that
	// resolves to it, which no rule allows either.
	before := b.canary.reached.Load()
	denied := []string{"http://" + b.canary.addr() + "/1k.bin", "http://localhost:" + portOf(b.origin) + "/1k.bin"}
	for _, u := range denied {
		status, _, err := fetch(u, b.paddock.addr)
		if err != nil || status != 403 {
			return fmt.Errorf("Paddock proxy: GET %s: status %d (%v); want 403: the proxy is not enforcing its policy, nothing is timed", u, status, err)
		}
	}
	if n := b.canary.reached.Load() - before; n != 0 {
		return fmt.Errorf("the Paddock proxy connected to the denied listener %s (%d connections)", b.canary.addr(), n)
	}
	b.checks = append(b.checks, when)
	return nil
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// verify runs each path once, untimed, with a script that counts 2xx
// responses exactly; it warms the caches and connection pools too.
func (b *bench) verify() error {
	c := slices.Max(b.conns)
	for _, p := range b.paths {
		if p.skip != "" {
			continue
		}
		fmt.Fprintf(os.Stderr, "proxy: warm-up and verification, %s, %d connections, %s\n", p.name, c, b.warmup)
		r, chk, err := b.wrk(p, c, b.warmup, p.check)
		if err != nil {
			return err
		}
		p.ok, p.nb = chk[0], chk[1]
		if p == b.paths[1] {
			b.reqs += r.requests
		}
		if chk[0] == 0 || chk[1] != 0 {
			return fmt.Errorf("%s: the verification run got %d 2xx and %d other responses", p.name, chk[0], chk[1])
		}
	}
	return nil
}

// measure runs the rounds. In each round, every connection count runs
// every path once, in an order that rotates from round to round.
func (b *bench) measure() error {
	var live []*path
	for _, p := range b.paths {
		if p.skip == "" {
			live = append(live, p)
		}
	}
	total := time.Duration(b.rounds*len(b.conns)*len(live)) * b.dur
	fmt.Fprintf(os.Stderr, "proxy: %d rounds of %d runs of %s (about %s)\n", b.rounds, len(b.conns)*len(live), b.dur, total.Round(time.Second))
	for r := range b.rounds {
		for ci, c := range b.conns {
			for k := range live {
				p := live[(r+ci+k)%len(live)]
				fmt.Fprintf(os.Stderr, "proxy: round %d/%d, %s, %d connections\n", r+1, b.rounds, p.name, c)
				res, _, err := b.wrk(p, c, b.dur, p.script)
				if err != nil {
					return err
				}
				p.runs[ci] = append(p.runs[ci], res)
				if p == b.paths[1] {
					b.reqs += res.requests
				}
			}
		}
	}
	return nil
}

// cell is the summary of one path at one connection count.
type cell struct {
	rps, ratio, p50, p99, added   []float64 // one per round
	status, conn, read, write, to int64
	short                         int // runs whose bytes per response are below the file's size
}

func (b *bench) cell(p *path, ci int) cell {
	var c cell
	direct := b.paths[0].runs[ci]
	for i, r := range p.runs[ci] {
		c.rps = append(c.rps, r.rps())
		c.ratio = append(c.ratio, r.rps()/direct[i].rps())
		c.p50 = append(c.p50, r.p50)
		c.p99 = append(c.p99, r.p99)
		c.added = append(c.added, r.p50-direct[i].p50)
		c.status += r.statusErr
		c.conn += r.connectErr
		c.read += r.readErr
		c.write += r.writeErr
		c.to += r.timeouts
		if r.bytes < r.requests*fileSize {
			c.short++
		}
	}
	return c
}

// yardsticks lists every proxy but Paddock's that ran, each with its
// cell at connection index ci as f formats it, for reading Paddock's
// figures beside theirs.
func (b *bench) yardsticks(ci int, f func(cell) string) string {
	var parts []string
	for _, p := range b.paths[2:] {
		if p.skip == "" {
			parts = append(parts, p.name+" "+f(b.cell(p, ci)))
		}
	}
	return strings.Join(parts, ", ")
}

// spread formats the median of xs with its range.
func spread(xs []float64, format string) string {
	m := fmt.Sprintf(format, report.Quantile(xs, 0.5))
	if len(xs) < 2 {
		return m
	}
	return fmt.Sprintf("%s ("+format+"–"+format+")", m, slices.Min(xs), slices.Max(xs))
}

func thousands(n float64) string {
	s := strconv.FormatInt(int64(math.Round(n)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (c cell) socketErrors() string {
	var parts []string
	for _, e := range []struct {
		name string
		n    int64
	}{{"connect", c.conn}, {"read", c.read}, {"write", c.write}, {"timeout", c.to}} {
		if e.n != 0 {
			parts = append(parts, fmt.Sprintf("%s %s", e.name, thousands(float64(e.n))))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}

func plural(conns int) string {
	if conns == 1 {
		return "1 connection"
	}
	return fmt.Sprintf("%d connections", conns)
}

func (b *bench) render() []byte {
	var buf bytes.Buffer
	w := io.Writer(&buf)
	var u unix.Utsname
	kernel := "unknown"
	if unix.Uname(&u) == nil {
		kernel = unix.ByteSliceToString(u.Release[:])
	}
	who := "unprivileged"
	if os.Geteuid() == 0 {
		who = "as root"
	}
	tools := []string{runtime.Version()} // built the Paddock proxy and the relays
	for _, n := range []string{"nginx", "wrk", "tinyproxy", "clang"} {
		if v := b.versions[n]; v != "" {
			tools = append(tools, v)
		}
	}
	fmt.Fprintln(w, "# "+title)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Produced by %s on %s; kernel %s, %d CPUs, %s, %s/%s; %s.\n\n",
		report.Command("proxy"), time.Now().UTC().Format("2006-01-02"), kernel, runtime.NumCPU(), who, runtime.GOOS, runtime.GOARCH, strings.Join(tools, ", "))

	fmt.Fprintln(w, "## Method")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "The origin is nginx with one worker and no access log, serving a %d-byte file on 127.0.0.1. "+
		"wrk (`-t1 -cC -d%ds --latency`) fetches it directly, through Paddock's egress proxy and through tinyproxy, "+
		"the two proxies in explicit mode: a wrk Lua script sends absolute-URI requests (`GET http://ORIGIN/1k.bin`) "+
		"with a `Host` header naming the same origin. Paddock's proxy runs as a process of its own "+
		"(this benchmark re-executed), with the default configuration of package agentd/proxy and a sandbox whose network "+
		"policy allows exactly `ORIGIN` (an IP rule; `on_unknown = \"deny\"`); its events go to a counter. "+
		"wrk, nginx and the proxies share the machine's %d CPUs.\n\n", fileSize, int(b.dur/time.Second), runtime.NumCPU())
	fmt.Fprintln(w, "Two more paths are yardsticks for the floor of a userspace proxy on this machine: whatever a proxy does, "+
		"each request also crosses a second pair of sockets and wakes a process of its own, on the same CPUs as wrk and the origin. "+
		"The Go relay (this benchmark re-executed once more) accepts a connection, dials the origin and copies bytes both ways with `io.Copy`: "+
		"no policy, no parsing, no event. The nginx reverse proxy is a second nginx, one worker, passing requests to the origin "+
		"over kept-alive connections: it parses HTTP, as Paddock's proxy must, but decides nothing.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A third yardstick, the kernel splice relay, is the ceiling of any proxy that keeps a second TCP connection to the origin on this machine. "+
		"It accepts and dials as the Go relay does (this benchmark re-executed once more, on blocking sockets outside Go's poller), then puts both sockets "+
		"in a BPF sockhash whose `sk_skb` verdict program (bench/proxy/csrc/splice.bpf.c, compiled at run time) redirects every skb arriving on one socket "+
		"to the egress of the other (`bpf_sk_redirect_hash`): no byte reaches userspace, and the process does not wake while bytes flow. "+
		"The kernel does not redirect a FIN, so the process sleeps in `poll` for each socket's end of stream (`POLLRDHUP` alone, which the redirected skbs do not wake) "+
		"and passes it on as a half close once the kernel has sent every byte redirected before it; it forwards in userspace whatever the verdict could not redirect "+
		"(normally nothing). The kernel transmits redirected skbs from a workqueue, so every transfer still wakes a kernel worker on the same CPUs.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "wrk sends the three yardsticks origin-form requests (`GET /1k.bin`), as it does directly. They have no targets; "+
		"Paddock's ratio to direct is to be judged against theirs, not against 1.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Each of %d rounds runs every path at every connection count once for %s, in an order that rotates from round to round, "+
		"after one untimed %s run per path. Each row gives medians over the rounds with the min–max range in brackets. "+
		"The ratio to direct is the median of per-round ratios, each taken against the direct run of the same round and connection count; "+
		"the added latency is likewise the per-round difference of wrk's median latency from direct's. "+
		"The host is shared and its load drifts over minutes; it moves both runs of a pair alike, "+
		"so the paired ratios are what to compare across runs (load average before the runs: %s). Latencies are wrk's, from its --latency histogram "+
		"(read in full precision through the script's `done` hook).\n\n", b.rounds, b.dur, b.warmup, b.load)

	fmt.Fprintln(w, "| path | connections | req/s | ratio to direct | p50 µs | p99 µs | added p50 µs vs direct | non-2xx | socket errors |")
	fmt.Fprintln(w, "|:---|---:|---:|---:|---:|---:|---:|---:|---:|")
	cells := map[*path][]cell{}
	for ci, conns := range b.conns {
		for _, p := range b.paths {
			if p.skip != "" {
				fmt.Fprintf(w, "| %s | %d | %s | – | – | – | – | – | – |\n", p.name, conns, p.skip)
				continue
			}
			c := b.cell(p, ci)
			cells[p] = append(cells[p], c)
			ratio, added := "1", "0"
			if p != b.paths[0] {
				ratio = spread(c.ratio, "%.2f×")
				added = spread(c.added, "%.0f")
			}
			rps := thousands(report.Quantile(c.rps, 0.5))
			if len(c.rps) > 1 {
				rps += fmt.Sprintf(" (%s–%s)", thousands(slices.Min(c.rps)), thousands(slices.Max(c.rps)))
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %d | %s |\n", p.name, conns, rps, ratio,
				spread(c.p50, "%.0f"), spread(c.p99, "%.0f"), added, c.status, c.socketErrors())
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	pad := cells[b.paths[1]]
	valid := true
	for _, c := range pad {
		if c.status != 0 || c.short != 0 {
			valid = false
		}
	}
	for ci, conns := range b.conns {
		c := pad[ci]
		if !valid {
			fmt.Fprintf(w, "- %s: void, the Paddock runs had non-2xx or short responses.\n", plural(conns))
			continue
		}
		ratio := report.Quantile(c.ratio, 0.5)
		switch conns {
		case 1:
			fmt.Fprintf(w, "- Paddock at least %.1f× direct req/s at 1 connection: %s (%.2f×).\n", targetRatio1, report.Verdict(ratio >= targetRatio1), ratio)
		case 8:
			fmt.Fprintf(w, "- Paddock at least %.1f× direct req/s at 8 connections: %s (%.2f×).\n", targetRatio8, report.Verdict(ratio >= targetRatio8), ratio)
		}
		added := report.Quantile(c.added, 0.5)
		fmt.Fprintf(w, "- Added median latency at most %d µs at %s: %s (%.0f µs).\n", targetAddedP50, plural(conns), report.Verdict(added <= targetAddedP50), added)
	}
	for ci, conns := range b.conns {
		fmt.Fprintf(w, "- For scale, without a target, the other proxies at %s: %s.\n", plural(conns), b.yardsticks(ci, func(c cell) string {
			return fmt.Sprintf("%.2f× and %+.0f µs", report.Quantile(c.ratio, 0.5), report.Quantile(c.added, 0.5))
		}))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Checks")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Access, %s: a Go client fetched the file directly, through each explicit proxy and from each reverse proxy (200 and the exact %d bytes); "+
		"through Paddock, `GET http://127.0.0.1:OTHER/1k.bin` (another port, where a listener answering 200 waited) and "+
		"`GET http://localhost:ORIGIN_PORT/1k.bin` (a name for the origin no rule allows) both got 403, and the other listener was never reached.\n",
		strings.Join(b.checks, " and "), fileSize)
	var ver []string
	for _, p := range b.paths {
		if p.skip == "" {
			ver = append(ver, fmt.Sprintf("%s %s of %s", p.name, thousands(float64(p.ok)), thousands(float64(p.ok+p.nb))))
		}
	}
	fmt.Fprintf(w, "- Statuses: the untimed run of each path counted every response's status in a Lua `response` hook: 2xx were %s. "+
		"In the timed runs (which have no such hook, as it slows wrk) the non-2xx column is wrk's count of statuses of 400 and above, "+
		"and every run read at least %d bytes per response.\n", strings.Join(ver, "; "), fileSize)
	for _, p := range b.paths {
		for _, c := range cells[p] {
			if c.short != 0 {
				fmt.Fprintf(w, "  **%s had %d run(s) reading fewer bytes than that: responses other than the file.**\n", p.name, c.short)
			}
		}
	}
	checked := int64(len(b.checks)) // one allowed GET through Paddock per access check
	fmt.Fprintf(w, "- Paddock's decisions: %s allow events for the %s requests wrk completed through it and the %d allowed requests of the access checks "+
		"(%+d: a request in flight when a run ends is decided but not counted), and %s deny events, the access checks' %d: "+
		"each request on a kept-alive connection was decided on its own.\n",
		thousands(float64(b.events[0])), thousands(float64(b.reqs)), checked, b.events[0]-b.reqs-checked,
		thousands(float64(b.events[1])), 2*checked)
	fmt.Fprintf(w, "- Peak RSS (VmHWM at the end): Paddock proxy %.1f MiB, Go relay %.1f MiB", float64(b.rss["Paddock proxy"])/1024, float64(b.rss["Go relay"])/1024)
	if n, ok := b.rss["kernel splice relay"]; ok {
		fmt.Fprintf(w, ", kernel splice relay %.1f MiB", float64(n)/1024)
	}
	if n, ok := b.rss["tinyproxy"]; ok {
		fmt.Fprintf(w, ", tinyproxy %.1f MiB", float64(n)/1024)
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintln(w, "- Socket errors: tinyproxy closes the client connection after every response, and wrk counts each such close as a read error and reconnects; "+
		"its rows therefore include a new connection per request. The other paths keep their connections alive "+
		"(nginx closes one after 1,000 requests, its default, which the Go relay and the kernel splice relay pass on).")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Per round")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "req/s and wrk's median latency (µs) of every timed run, and each proxy's ratio to the direct run of its round.")
	fmt.Fprintln(w)
	head := "| connections | round |"
	rule := "|---:|---:|"
	for _, p := range b.paths {
		if p.skip == "" {
			head += " " + p.name + " |"
			rule += "---:|"
		}
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, rule)
	for ci, conns := range b.conns {
		for r := range b.rounds {
			line := fmt.Sprintf("| %d | %d |", conns, r+1)
			for _, p := range b.paths {
				if p.skip != "" {
					continue
				}
				res := p.runs[ci][r]
				line += fmt.Sprintf(" %s, %.0f µs", thousands(res.rps()), res.p50)
				if p != b.paths[0] {
					line += fmt.Sprintf(" (%.2f×)", res.rps()/b.paths[0].runs[ci][r].rps())
				}
				line += " |"
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Commands")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "TMP is a fresh directory the benchmark creates and removes; ORIGIN (127.0.0.1:port) and the ports PROXY, RELAY, SPLICE, REVERSE and TINYPROXY are free loopback ports picked per run.")
	fmt.Fprintln(w)
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	fmt.Fprintf(w, "- nginx: `nginx -p TMP -e TMP/error.log -c TMP/nginx.conf` with `worker_processes 1; daemon off;` and `access_log off;`, `%s`\n",
		oneLine(originServer("TMP", "ORIGIN")))
	fmt.Fprintf(w, "- nginx reverse proxy: `nginx -p TMP/reverse -e TMP/reverse/error.log -c TMP/reverse/nginx.conf`, the same settings with `%s`\n",
		oneLine(reverseServer("127.0.0.1:REVERSE", "ORIGIN")))
	if b.tiny != nil {
		fmt.Fprintf(w, "- tinyproxy: `tinyproxy -d -c TMP/tinyproxy.conf` with `%s`\n", strings.ReplaceAll(strings.TrimSpace(tinyproxyConf("TINYPROXY")), "\n", "; "))
	}
	fmt.Fprintln(w, "- Paddock proxy: this benchmark's binary with "+childEnv+"=ORIGIN, listening on 127.0.0.1:PROXY")
	fmt.Fprintln(w, "- Go relay: this benchmark's binary with "+relayEnv+"=ORIGIN and the argument 127.0.0.1:RELAY, where it listens; "+
		"for each connection it accepts it dials ORIGIN and runs `io.Copy` both ways, passing each direction's end on as a half close")
	if b.splice != nil {
		fmt.Fprintln(w, "- kernel splice relay: `"+strings.Join(spliceCompileArgs("clang", "TMP/splice.bpf.c", "TMP/splice.bpf.o", "MULTIARCH"), " ")+"` (the include directory only where `clang -print-multiarch` names one), "+
			"then this benchmark's binary with "+spliceEnv+"=ORIGIN and the arguments 127.0.0.1:SPLICE and TMP/splice.bpf.o; it attaches the program to a sockhash "+
			"as `BPF_SK_SKB_VERDICT`, and for each connection it accepts it dials ORIGIN and puts both sockets in the sockhash, keyed by socket cookie, and each cookie's peer in a hash map")
	}
	for _, p := range b.paths {
		if p.skip != "" {
			continue
		}
		fmt.Fprintf(w, "- %s: `wrk -t1 -cC -d%ds --latency -s TMP/path.lua http://%s/`, the script setting `wrk.path = %q` and `Host: ORIGIN`\n",
			p.name, int(b.dur/time.Second), p.shown, strings.ReplaceAll(p.target, b.origin, "ORIGIN"))
	}
	return buf.Bytes()
}

// result is the report in machine-readable form, for bench/report: the
// targets as claims, throughput by path and connection count as a plot.
func (b *bench) result() *report.Result {
	m := b.machine
	m.Load = b.load
	res := &report.Result{Bench: "proxy", Title: title, Command: report.Command("proxy"),
		Date: time.Now().UTC(), Machine: m, Tools: map[string]string{}}
	for _, n := range []string{"nginx", "wrk", "tinyproxy", "clang"} {
		if v := b.versions[n]; v != "" {
			res.Tools[n] = v
		}
	}
	plot := report.Plot{Name: "proxy-throughput", Title: "Requests per second through each path, ratio to direct", Kind: report.Bars,
		XLabel: "wrk connections", YLabel: "× direct req/s (median of per-round ratios, p10–p90)", Refs: []report.Ref{{Y: 1, Label: "direct"}}}
	table := report.Table{Caption: "Medians over the rounds; ratios and added latency paired with the direct run of the same round",
		Header: []string{"path", "connections", "req/s", "× direct", "p50 µs", "added p50 µs"}}
	direct := b.paths[0]
	for _, p := range b.paths {
		if p.skip != "" {
			continue
		}
		s := report.Series{Name: p.name}
		for ci, conns := range b.conns {
			c := b.cell(p, ci)
			s.Points = append(s.Points, report.PointOf(plural(conns), report.Summarize(c.ratio)))
			ratio, added := "1", "0"
			if p != direct {
				ratio = fmt.Sprintf("%.2f×", report.Quantile(c.ratio, 0.5))
				added = fmt.Sprintf("%.0f", report.Quantile(c.added, 0.5))
			}
			table.Rows = append(table.Rows, []string{p.name, strconv.Itoa(conns), thousands(report.Quantile(c.rps, 0.5)), ratio,
				fmt.Sprintf("%.0f", report.Quantile(c.p50, 0.5)), added})
		}
		plot.Series = append(plot.Series, s)
	}
	res.Plots = append(res.Plots, plot)
	res.Tables = append(res.Tables, table)

	pad := b.paths[1]
	valid := true
	for ci := range b.conns {
		if c := b.cell(pad, ci); c.status != 0 || c.short != 0 {
			valid = false
		}
	}
	for ci, conns := range b.conns {
		c := b.cell(pad, ci)
		var target float64
		switch conns {
		case 1:
			target = targetRatio1
		case 8:
			target = targetRatio8
		default:
			continue
		}
		detail := fmt.Sprintf("%s req/s against direct's %s", thousands(report.Quantile(c.rps, 0.5)), thousands(report.Quantile(b.cell(direct, ci).rps, 0.5)))
		detail += "; " + b.yardsticks(ci, func(c cell) string { return fmt.Sprintf("%.2f×", report.Quantile(c.ratio, 0.5)) })
		if !valid {
			detail = "void: the Paddock runs had non-2xx or short responses"
		}
		cl := report.NewClaim(fmt.Sprintf("Paddock's proxy, req/s at %s: at least %.1f× direct", plural(conns), target),
			report.Summarize(c.ratio), "×", "direct", ">=", target, detail)
		cl.Met = cl.Met && valid
		res.Claims = append(res.Claims, cl)
		detail = fmt.Sprintf("p50 %.0f µs against direct's %.0f µs", report.Quantile(c.p50, 0.5), report.Quantile(b.cell(direct, ci).p50, 0.5))
		detail += "; " + b.yardsticks(ci, func(c cell) string { return fmt.Sprintf("adds %.0f µs", report.Quantile(c.added, 0.5)) })
		cl = report.NewClaim(fmt.Sprintf("Paddock's proxy, added median latency at %s: at most %d µs", plural(conns), targetAddedP50),
			report.Summarize(c.added), "µs", "", "<=", targetAddedP50, detail)
		cl.Met = cl.Met && valid
		res.Claims = append(res.Claims, cl)
	}
	return res
}
