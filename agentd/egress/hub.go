//go:build linux

// Package egress runs the network layer of sandboxes that live in Paddock's
// cgroup subtree: the cgroup hooks (package bpf), the egress proxy and the
// DNS stub, tied together by the kernel's word on who is calling. A
// sandbox is a cgroup plus its network policy; Add and Remove are all it
// takes. The daemon owns a Hub; until it lands, tests and tools use one
// directly.
package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/credential"
	"github.com/paddock-sh/paddock/agentd/dns"
	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/agentd/proxy"
	"github.com/paddock-sh/paddock/agentd/redact"
	"github.com/paddock-sh/paddock/agentd/unixpin"
	"github.com/paddock-sh/paddock/bpf"
	"github.com/paddock-sh/paddock/compiler/bundle"
)

// Config configures a Hub.
type Config struct {
	// CgroupRoot is the cgroup2 directory the hooks attach to; every
	// sandbox is a cgroup below it.
	CgroupRoot string
	// PinDir, on a bpffs mount, keeps the hooks and their maps past the
	// process's life; "" keeps nothing (tests).
	PinDir string
	// Upstream are the recursive DNS servers the stub and the proxy ask;
	// nil means /etc/resolv.conf's.
	Upstream []netip.AddrPort
	// UnixDir is the root-owned directory where listed unix sockets are
	// pinned (package unixpin); "" makes a temporary one, removed by
	// Close (tests).
	UnixDir string
	// CA signs what the proxy shows sandboxes for their credentials'
	// hosts; nil terminates nothing. UpstreamRoots verify those hosts (nil:
	// the system's roots).
	CA            *credential.CA
	UpstreamRoots *x509.CertPool
	Events        events.Sink
	// Ask, when set, answers the connections that policies with
	// on_unknown = "ask" leave to a person (proxy.Config.Ask); without it
	// they are refused.
	Ask func(ctx context.Context, req proxy.AskRequest) (proxy.Answer, error)
}

// Creds are what the proxy needs to inject a sandbox's credentials.
type Creds struct {
	Set *credential.Set
	// Ports are the loopback ports of the reverse listeners by base URL
	// variable, kept across restarts so that a URL the workload holds
	// stays right; a missing one is chosen.
	Ports map[string]uint16
}

// Hub is the running network layer.
type Hub struct {
	cfg   Config
	hooks *bpf.Hooks
	proxy *proxy.Proxy
	stub  *dns.Stub
	port  uint16
	lns   []net.Listener
	rd    *bpf.Reader
	pins  *unixpin.Dir
	tmp   string // a temporary UnixDir's parent, removed by Close
	sink  events.Sink
	wg    sync.WaitGroup

	mu        sync.RWMutex
	sandboxes map[uint64]*sandbox
	nextID    uint32
}

type sandbox struct {
	id    string
	num   uint32
	cg    uint64
	net   *bundle.Network
	rules []string // rule number n is rules[n-1]
	// fileRules name the BPF-LSM deny rules the same way (PutFileRules).
	fileRules []string
	dns       []net.PacketConn
	px        *proxy.Sandbox
	// reserved hold the reverse listeners' ports.
	reserved []*os.File
}

// Start loads and attaches the hooks and starts the proxy and the stub.
func Start(cfg Config) (_ *Hub, err error) {
	h := &Hub{cfg: cfg, sink: cfg.Events, sandboxes: map[uint64]*sandbox{}}
	defer func() {
		if err != nil && h.tmp != "" {
			os.RemoveAll(h.tmp)
		}
	}()
	if h.sink == nil {
		h.sink = events.Discard
	}
	unixDir := cfg.UnixDir
	if unixDir == "" {
		if h.tmp, err = os.MkdirTemp("", "paddock-"); err != nil {
			return nil, fmt.Errorf("egress: %w", err)
		}
		if err := os.Chmod(h.tmp, 0o755); err != nil {
			return nil, fmt.Errorf("egress: %w", err)
		}
		unixDir = filepath.Join(h.tmp, "unix")
	}
	if h.pins, err = unixpin.Open(unixDir); err != nil {
		return nil, err
	}
	if h.stub, err = dns.New(dns.Config{Upstream: cfg.Upstream, Events: h.sink}); err != nil {
		return nil, err
	}
	l4, l6, port, err := listenPair("tcp")
	if err != nil {
		return nil, fmt.Errorf("egress: proxy listener: %w", err)
	}
	h.lns, h.port = []net.Listener{l4, l6}, port
	resolver := h.resolver()
	h.proxy, err = proxy.New(proxy.Config{
		Identify:      h.identify,
		Resolver:      resolver,
		DNS:           h.serveDNSConn,
		Events:        h.sink,
		CA:            cfg.CA,
		UpstreamRoots: cfg.UpstreamRoots,
		Ask:           cfg.Ask,
	})
	if err != nil {
		h.closeListeners()
		return nil, err
	}
	if h.hooks, err = bpf.Load(cfg.PinDir); err != nil {
		h.closeListeners()
		return nil, err
	}
	if err := h.hooks.Configure(bpf.Settings{ProxyPort: port}); err != nil {
		h.hooks.Close()
		h.closeListeners()
		return nil, err
	}
	if err := h.hooks.Attach(cfg.CgroupRoot); err != nil {
		h.hooks.Close()
		h.closeListeners()
		return nil, err
	}
	if h.rd, err = h.hooks.Events(); err != nil {
		h.hooks.Detach()
		h.hooks.Close()
		h.closeListeners()
		return nil, err
	}
	h.wg.Add(3)
	go func() { defer h.wg.Done(); h.pump() }()
	for _, l := range h.lns {
		go func() { defer h.wg.Done(); _ = h.proxy.Serve(l) }()
	}
	return h, nil
}

// ProxyPort is the port the proxy listens on, on 127.0.0.1 and ::1: what
// HTTP(S)_PROXY should name inside sandboxes.
func (h *Hub) ProxyPort() uint16 { return h.port }

// resolver asks the configured upstream servers directly, never the
// host's stub resolver configuration beyond them.
func (h *Hub) resolver() *net.Resolver {
	if len(h.cfg.Upstream) == 0 {
		return net.DefaultResolver
	}
	up := h.cfg.Upstream[0].String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, up)
	}}
}

// listenPair listens on 127.0.0.1 and ::1 on one free port. Its sockets
// bear bpf.Mark: the hooks send nothing to a socket without it.
func listenPair(network string) (net.Listener, net.Listener, uint16, error) {
	lc, ctx := bpf.ListenConfig(), context.Background()
	for range 20 {
		l4, err := lc.Listen(ctx, network+"4", "127.0.0.1:0")
		if err != nil {
			return nil, nil, 0, err
		}
		port := uint16(l4.Addr().(*net.TCPAddr).Port)
		l6, err := lc.Listen(ctx, network+"6", "[::1]:"+strconv.Itoa(int(port)))
		if err == nil {
			return l4, l6, port, nil
		}
		l4.Close()
	}
	return nil, nil, 0, errors.New("no port free on both 127.0.0.1 and ::1")
}

func packetPair() ([]net.PacketConn, uint16, error) {
	lc, ctx := bpf.ListenConfig(), context.Background()
	for range 20 {
		p4, err := lc.ListenPacket(ctx, "udp4", "127.0.0.1:0")
		if err != nil {
			return nil, 0, err
		}
		port := uint16(p4.LocalAddr().(*net.UDPAddr).Port)
		p6, err := lc.ListenPacket(ctx, "udp6", "[::1]:"+strconv.Itoa(int(port)))
		if err == nil {
			return []net.PacketConn{p4, p6}, port, nil
		}
		p4.Close()
	}
	return nil, 0, errors.New("no UDP port free on both 127.0.0.1 and ::1")
}

// Add makes the cgroup cgroupDir a sandbox with policy n. unixPaths are
// the sandbox's resolved unix socket allowlist (absolute paths) with their
// rules. It returns the ports of the credentials' reverse listeners.
func (h *Hub) Add(id, cgroupDir string, n *bundle.Network, unixPaths map[string]bundle.Rule, creds Creds) (map[string]uint16, error) {
	cg, err := bpf.CgroupID(cgroupDir)
	if err != nil {
		return nil, err
	}
	pcs, port, err := packetPair()
	if err != nil {
		return nil, fmt.Errorf("egress: DNS stub socket: %w", err)
	}
	h.mu.Lock()
	h.nextID++
	sb := &sandbox{id: id, num: h.nextID, cg: cg, net: n, dns: pcs, px: &proxy.Sandbox{ID: id, Network: n, Credentials: creds.Set}}
	h.mu.Unlock()
	closeAll := func() {
		for _, pc := range pcs {
			pc.Close()
		}
		for _, l := range sb.reserved {
			l.Close()
		}
	}
	ports, err := sb.reverse(creds)
	if err != nil {
		closeAll()
		return nil, err
	}
	pinned, err := h.pin(id, cg, unixPaths)
	if err != nil {
		closeAll()
		return nil, err
	}
	pol := sb.policy(unixPaths, pinned)
	pol.DNSPort = port
	if err := h.hooks.PutSandbox(cg, sb.num, pol); err != nil {
		closeAll()
		h.pins.Unpin(cg)
		return nil, err
	}
	h.mu.Lock()
	h.sandboxes[cg] = sb
	h.mu.Unlock()
	ds := &dns.Sandbox{ID: id, Network: n}
	for _, pc := range pcs {
		h.wg.Add(1)
		go func() { defer h.wg.Done(); _ = h.stub.ServePacket(pc, ds) }()
	}
	return ports, nil
}

// reverse gives each reverse listener of creds a loopback port, keeping
// the ones given. The port is reserved by a bound socket that never
// listens: the hooks send the sandbox's connections to the proxy, and
// anyone else who tries the port is refused.
func (sb *sandbox) reverse(creds Creds) (map[string]uint16, error) {
	rev := creds.Set.Reverse()
	if len(rev) == 0 {
		return nil, nil
	}
	ports := map[string]uint16{}
	sb.px.Reverse = map[uint16]*credential.Binding{}
	for env, b := range rev {
		want := creds.Ports[env]
		f, got, err := reservePort(want)
		switch {
		case err != nil && want == 0:
			return nil, fmt.Errorf("egress: reverse listener for %s: %w", env, err)
		case err != nil:
			// Someone took the port while agentd was down: the hooks
			// still send the sandbox's connections to the proxy.
			got = want
		default:
			sb.reserved = append(sb.reserved, f)
		}
		ports[env] = got
		sb.px.Reverse[got] = b
	}
	return ports, nil
}

// reservePort binds 127.0.0.1:port (0: any free port) and never listens,
// so a connection from outside the sandbox is refused.
func reservePort(port uint16) (*os.File, uint16, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, 0, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return nil, 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, 0, err
	}
	return os.NewFile(uintptr(fd), "reserved-port"), uint16(sa.(*unix.SockaddrInet4).Port), nil
}

// Remove takes the sandbox's network away.
func (h *Hub) Remove(cgroupDir string) error {
	cg, err := bpf.CgroupID(cgroupDir)
	if err != nil {
		return err
	}
	err = h.hooks.DeleteSandbox(cg)
	if err == nil {
		// Only once the hooks no longer send anything to the mounts.
		err = h.pins.Unpin(cg)
	}
	h.mu.Lock()
	sb := h.sandboxes[cg]
	delete(h.sandboxes, cg)
	h.mu.Unlock()
	if sb != nil {
		for _, pc := range sb.dns {
			pc.Close()
		}
		for _, l := range sb.reserved {
			l.Close()
		}
	}
	return err
}

// PutFileRules gives the sandbox of cgroupDir the deny rules of its
// policy, lowered (agentd/fsdeny), each named for its events by names[i]
// (rule number i+1). It returns bpf.ErrNotEnforced, wrapped, when the
// kernel could not load the filesystem hooks: the rules are in the maps
// but nothing applies them.
func (h *Hub) PutFileRules(cgroupDir string, rules []bpf.FileRule, names []string) error {
	cg, err := bpf.CgroupID(cgroupDir)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if sb := h.sandboxes[cg]; sb != nil {
		sb.fileRules = names
	}
	h.mu.Unlock()
	return h.hooks.PutFileRules(cg, rules)
}

// FileEnforcement says whether the BPF-LSM filesystem hooks are attached
// (nil), and otherwise why not.
func (h *Hub) FileEnforcement() error { return h.hooks.FileEnforcement() }

// pin pins the listed unix sockets. A path that cannot be pinned stays
// unreachable, and says so in an event: the policy named it, and the
// workload will be refused.
func (h *Hub) pin(id string, cg uint64, unixPaths map[string]bundle.Rule) (map[string]string, error) {
	paths := make([]string, 0, len(unixPaths))
	for p := range unixPaths {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	pinned, refused, err := h.pins.Pin(cg, paths)
	if err != nil {
		return nil, fmt.Errorf("egress: %w", err)
	}
	for _, p := range paths {
		if err, ok := refused[p]; ok {
			h.sink.Emit(events.Event{
				Time: time.Now(), Sandbox: id, Layer: events.LayerCgroupBPF, Action: events.ActionDeny,
				Rule:   unixPaths[p].String(),
				Reason: "listed unix socket not pinned, so unreachable for this sandbox's life: " + err.Error(),
				Net:    &events.Net{Op: "pin", Proto: "unix", Path: p},
			})
		}
	}
	return pinned, nil
}

// identify asks the kernel who is on the other end: the hooks filed the
// connection's original destination and cgroup under its client address.
func (h *Hub) identify(c net.Conn) (proxy.Client, error) {
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	o, ok := h.hooks.Lookup(remote)
	if !ok {
		return proxy.Client{}, fmt.Errorf("no sandbox made the connection from %s", remote)
	}
	h.mu.RLock()
	sb := h.sandboxes[o.Cgroup]
	h.mu.RUnlock()
	if sb == nil {
		return proxy.Client{}, fmt.Errorf("the connection from %s comes from cgroup %d, which is no sandbox", remote, o.Cgroup)
	}
	cl := proxy.Client{Sandbox: sb.px, Orig: o.Dst, PID: o.PID}
	if o.Dst.Addr().IsLoopback() && o.Dst.Port() == h.port {
		cl.Orig = netip.AddrPort{} // the workload dialled the proxy: explicit mode
	}
	return cl, nil
}

func (h *Hub) serveDNSConn(c net.Conn, cl proxy.Client) {
	h.stub.ServeConn(c, &dns.Sandbox{ID: cl.Sandbox.ID, Network: cl.Sandbox.Network})
}

// pump turns the hooks' records into events: socket decisions
// (cgroup-bpf), file denials (bpf-lsm), and the exec and exit of
// sandboxed processes (daemon, logged). Command lines are redacted here,
// before they leave.
func (h *Hub) pump() {
	for {
		e, err := h.rd.Read()
		if err != nil {
			if errors.Is(err, bpf.ErrClosed) {
				return
			}
			continue
		}
		h.mu.RLock()
		sb := h.sandboxes[e.Cgroup]
		h.mu.RUnlock()
		h.sink.Emit(toEvent(e, sb))
	}
}

// toEvent converts one record of the hooks; sb is the sandbox of its
// cgroup, nil when the hub knows none (the daemon then looks the cgroup
// up). Names and paths from the kernel are bytes, not always UTF-8, and
// the workload chooses them: they are made valid UTF-8, which the API's
// strings must be.
func toEvent(e bpf.Event, sb *sandbox) events.Event {
	ev := events.Event{Time: wallTime(e.Time), Action: e.Action.String(), Reason: e.Reason.String(),
		Proc: &events.Process{PID: e.PID, Comm: utf8(e.Comm), CgroupID: e.Cgroup}}
	if sb != nil {
		ev.Sandbox = sb.id
	}
	switch {
	case e.Exec != nil:
		x := e.Exec
		exe := redact.String(truncated(utf8(x.Filename), x.FilenameTruncated))
		argv := make([]string, len(x.Argv))
		for i, a := range x.Argv {
			argv[i] = utf8(a)
		}
		argv = redact.Argv(argv)
		if x.ArgvTruncated && len(argv) > 0 {
			argv[len(argv)-1] = truncated(argv[len(argv)-1], true)
		}
		ev.Layer, ev.Action, ev.Reason = events.LayerDaemon, events.ActionLog, "a sandboxed process started a program"
		ev.Proc.TID, ev.Proc.UID, ev.Proc.Exe = x.TID, x.UID, exe
		for _, a := range x.Ancestors {
			ev.Proc.Ancestors = append(ev.Proc.Ancestors, events.Ancestor{PID: a.PID, Comm: utf8(a.Comm)})
		}
		ev.Proc.Truncated = x.AncestorsTruncated
		ev.Exec = &events.Exec{Exe: exe, Argv: argv}
	case e.Exit != nil:
		ev.Layer, ev.Action, ev.Reason = events.LayerDaemon, events.ActionLog, "a sandboxed process ended"
		ev.Proc.TID, ev.Proc.UID = e.Exit.TID, e.Exit.UID
		ev.Exit = &events.Exit{Code: e.Exit.Code, Signal: e.Exit.Signal}
	case e.Hook.File():
		// The file rules' numbers are the daemon's (bpf.PutFileRules),
		// not this hub's network rules.
		ev.Layer = events.LayerBPFLSM
		access := "read"
		if e.Write {
			access = "write"
		}
		ev.File = &events.File{Path: utf8(e.Path), Operation: fileOps[e.Hook], Access: []string{access}}
		if sb != nil && e.Rule > 0 && int(e.Rule) <= len(sb.fileRules) {
			ev.Rule = sb.fileRules[e.Rule-1]
		}
	default:
		ev.Layer = events.LayerCgroupBPF
		ev.Net = &events.Net{Op: e.Hook.String(), Proto: protoName(e.Proto, e.Type, e.Family), Orig: e.Dst, Path: utf8(e.Path)}
		if sb != nil && e.Rule > 0 && int(e.Rule) <= len(sb.rules) {
			ev.Rule = sb.rules[e.Rule-1]
		}
	}
	return ev
}

// fileOps names the operation each filesystem hook refused.
var fileOps = map[bpf.Hook]string{
	bpf.HookFileOpen: "open", bpf.HookFileTruncate: "truncate", bpf.HookPathTruncate: "truncate",
	bpf.HookMknod: "create", bpf.HookMkdir: "mkdir", bpf.HookSymlink: "symlink", bpf.HookLink: "link",
	bpf.HookRename: "rename", bpf.HookUnlink: "unlink", bpf.HookRmdir: "rmdir", bpf.HookChmod: "chmod",
	bpf.HookChown: "chown",
}

func utf8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// truncated marks a value the kernel cut short.
func truncated(s string, cut bool) string {
	if cut {
		return s + "\u2026"
	}
	return s
}

// wallTime converts the hooks' CLOCK_MONOTONIC time to wall time: the
// reader may see a record some milliseconds after it was made.
func wallTime(mono time.Duration) time.Time {
	now := time.Now()
	var ts unix.Timespec
	if mono <= 0 || unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return now
	}
	if d := time.Duration(ts.Nano()) - mono; d > 0 {
		return now.Add(-d)
	}
	return now
}

// Lost is how many decisions the hooks could not put in the ring buffer
// because it was full, since the pinned maps were created (so it counts
// across daemon restarts).
func (h *Hub) Lost() (uint64, error) { return h.rd.Lost() }

func protoName(proto, typ, family uint8) string {
	switch {
	case family == 1:
		return "unix"
	case proto == 6 || (proto == 0 && typ == 1):
		return "tcp"
	case proto == 17 || (proto == 0 && typ == 2):
		return "udp"
	}
	return "proto-" + strconv.Itoa(int(proto))
}

func (h *Hub) closeListeners() {
	for _, l := range h.lns {
		l.Close()
	}
}

// Close stops serving and detaches the hooks. With a pin directory, use
// Release instead to leave enforcement in place.
func (h *Hub) Close() error {
	err := h.hooks.Detach()
	h.mu.Lock()
	for cg := range h.sandboxes {
		err = errors.Join(err, h.pins.Unpin(cg))
	}
	h.mu.Unlock()
	h.release()
	if h.tmp != "" {
		err = errors.Join(err, os.RemoveAll(h.tmp))
	}
	return errors.Join(err, h.hooks.Unpin())
}

// Release stops serving but leaves the pinned hooks enforcing: sandboxes
// stay confined, and their redirected connections are refused until a new
// Hub adopts them.
func (h *Hub) Release() { h.release() }

func (h *Hub) release() {
	h.closeListeners()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = h.proxy.Shutdown(ctx)
	cancel()
	h.mu.Lock()
	for _, sb := range h.sandboxes {
		for _, pc := range sb.dns {
			pc.Close()
		}
	}
	h.mu.Unlock()
	h.rd.Close()
	h.hooks.Close()
	h.wg.Wait()
}
