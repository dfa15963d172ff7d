//go:build linux

package bpf

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// The tests run probes as child processes inside a sandbox cgroup; the
// test binary re-executes itself with PADDOCK_BPF_PROBE set.
func TestMain(m *testing.M) {
	if args := os.Getenv("PADDOCK_BPF_PROBE"); args != "" {
		fmt.Println(probe(strings.Fields(args)))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// env is a loaded, attached set of hooks over a fresh cgroup subtree, a
// stand-in proxy on loopback and a stand-in DNS stub.
type env struct {
	t        *testing.T
	h        *Hooks
	root     string // the subtree the hooks are attached to
	sandbox  string // a sandbox cgroup below it
	sbID     uint64
	stranger string // a cgroup below root that is no sandbox
	proxy    uint16
	dns      uint16
	accepted atomic.Int32

	mu     sync.Mutex
	events []Event
}

func newEnv(t *testing.T, pol Policy) *env {
	kerneltest.Privileged(t)
	e := &env{t: t}
	e.root = kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-test"))
	e.sandbox = kerneltest.Child(t, e.root, "sbx")
	e.stranger = kerneltest.Child(t, e.root, "stranger")

	pins := kerneltest.PinDir(t)
	h, err := Load(pins)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	t.Cleanup(func() {
		h.Detach()
		h.Unpin()
		h.Close()
	})
	if err := h.Attach(e.root); err != nil {
		t.Fatal(err)
	}

	e.proxy = e.serveProxy()
	e.dns = e.serveDNS()
	if err := h.Configure(Settings{ProxyPort: e.proxy}); err != nil {
		t.Fatal(err)
	}
	pol.DNSPort = e.dns
	e.sbID, err = CgroupID(e.sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PutSandbox(e.sbID, 7, pol); err != nil {
		t.Fatal(err)
	}

	rd, err := h.Events()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	go func() {
		for {
			ev, err := rd.Read()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}
	}()
	return e
}

// serveProxy listens on 127.0.0.1 and ::1 on one port and answers each
// connection with what the hooks recorded for it: "orig <dst> <cgroup>".
func (e *env) serveProxy() uint16 {
	l4 := listenMarked(e.t, "tcp4", "127.0.0.1:0")
	port := uint16(l4.Addr().(*net.TCPAddr).Port)
	l6 := listenMarked(e.t, "tcp6", fmt.Sprintf("[::1]:%d", port))
	for _, l := range []net.Listener{l4, l6} {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				e.accepted.Add(1)
				remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
				o, ok := e.h.Lookup(remote)
				if ok {
					fmt.Fprintf(c, "orig %s %d\n", o.Dst, o.Cgroup)
				} else {
					fmt.Fprintf(c, "unknown %s\n", remote)
				}
				// Half-close and drain, so that data the client sent
				// (a Fast Open SYN's) does not turn the close into a reset.
				c.(*net.TCPConn).CloseWrite()
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				io.Copy(io.Discard, c)
				c.Close()
			}
		}()
	}
	return port
}

// serveDNS echoes each datagram back with "dns " in front.
func (e *env) serveDNS() uint16 {
	lc := ListenConfig()
	p4, err := lc.ListenPacket(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	port := p4.LocalAddr().(*net.UDPAddr).Port
	p6, err := lc.ListenPacket(context.Background(), "udp6", fmt.Sprintf("[::1]:%d", port))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, pc := range []net.PacketConn{p4, p6} {
		e.t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 512)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(append([]byte("dns "), buf[:n]...), from)
			}
		}()
	}
	return uint16(port)
}

// listenMarked listens as agentd's proxy does (Mark set).
func listenMarked(t *testing.T, network, addr string) net.Listener {
	lc := ListenConfig()
	l, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func listen(t *testing.T, network, addr string) net.Listener {
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// run runs one probe in cgroup dir and returns its one-line report.
func (e *env) run(dir string, args ...string) string {
	e.t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PADDOCK_BPF_PROBE="+strings.Join(args, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("probe %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// canary is a listener owned by the test: reached tells whether anything
// connected to it.
type canary struct {
	addr    string
	reached atomic.Int32
}

func tcpCanary(t *testing.T, network, addr string) *canary {
	l := listen(t, network, addr)
	c := &canary{addr: l.Addr().String()}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.reached.Add(1)
			fmt.Fprintf(conn, "canary\n")
			conn.Close()
		}
	}()
	return c
}

func udpCanary(t *testing.T, network, addr string) *canary {
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	c := &canary{addr: pc.LocalAddr().String()}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c.reached.Add(1)
			pc.WriteTo(buf[:n], from)
		}
	}()
	return c
}

func unixCanary(t *testing.T, path string) *canary {
	l := listen(t, "unix", path)
	c := &canary{addr: path}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.reached.Add(1)
			fmt.Fprintf(conn, "canary\n")
			conn.Close()
		}
	}()
	return c
}

// event waits up to a second for an event matching f.
func (e *env) event(f func(Event) bool) (Event, bool) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		i := slices.IndexFunc(e.events, f)
		var ev Event
		if i >= 0 {
			ev = e.events[i]
		}
		e.mu.Unlock()
		if i >= 0 {
			return ev, true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return Event{}, false
}

func TestRedirectRecordsOriginalDestination(t *testing.T) {
	e := newEnv(t, Policy{})
	cg := strconv.FormatUint(e.sbID, 10)
	for _, tc := range []struct {
		name, family, addr, want string
	}{
		{"ipv4", "4", "198.51.100.7:80", "198.51.100.7:80"},
		{"ipv6", "6", "[2001:db8::7]:443", "[2001:db8::7]:443"},
		{"v4-mapped on an IPv6 socket", "6", "[::ffff:198.51.100.8]:8443", "198.51.100.8:8443"},
		{"DNS over TCP", "4", "203.0.113.5:53", "203.0.113.5:53"},
		{"MPTCP", "4mptcp", "198.51.100.10:443", "198.51.100.10:443"},
		{"MPTCP over IPv6", "6mptcp", "[2001:db8::10]:443", "[2001:db8::10]:443"},
		{"TCP Fast Open", "4tfo", "198.51.100.11:443", "198.51.100.11:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.run(e.sandbox, "tcp", tc.family, tc.addr)
			// The proxy saw the original destination and the sandbox's
			// cgroup; the workload sees its original peer.
			want := fmt.Sprintf("ok peer=%s read=orig %s %s", tc.addr, tc.want, cg)
			if strings.HasSuffix(tc.family, "mptcp") {
				// MPTCP's getpeername runs no cgroup hook: the workload
				// sees the proxy's address. The destination is still
				// recorded and decided by the proxy.
				_, rest, _ := strings.Cut(got, " read=")
				got = fmt.Sprintf("ok peer=%s read=%s", tc.addr, rest)
			}
			if got != want {
				t.Fatalf("probe: %s\nwant:  %s", got, want)
			}
			ev, ok := e.event(func(ev Event) bool { return ev.Action == Redirect && ev.Dst.String() == tc.want })
			if !ok {
				t.Fatalf("no redirect event for %s", tc.want)
			}
			reason := ReasonEgress
			if strings.HasSuffix(tc.want, ":53") {
				reason = ReasonDNS // TCP to port 53 is DNS, for the stub
			}
			if ev.Cgroup != e.sbID || ev.PID == 0 || ev.Comm == "" || ev.Reason != reason {
				t.Fatalf("event fields: %+v", ev)
			}
		})
	}
}

func TestLoopback(t *testing.T) {
	allowed := tcpCanary(t, "tcp4", "127.0.0.1:0")
	_, aport, _ := net.SplitHostPort(allowed.addr)
	denied := tcpCanary(t, "tcp4", "127.0.0.1:0")
	denied6 := tcpCanary(t, "tcp6", "[::1]:0")
	p, _ := strconv.Atoi(aport)
	e := newEnv(t, Policy{Loopback: map[uint16]PortRule{uint16(p): {Rule: 3, Allow: true}}})

	if got := e.run(e.sandbox, "tcp", "4", allowed.addr); !strings.HasPrefix(got, "ok") || allowed.reached.Load() != 1 {
		t.Fatalf("an allowed loopback port: %s (canary reached %d times)", got, allowed.reached.Load())
	}
	if ev, ok := e.event(func(ev Event) bool { return ev.Action == Allow && ev.Dst.String() == allowed.addr }); !ok || ev.Rule != 3 {
		t.Fatalf("allow event: %+v %v", ev, ok)
	}
	for _, c := range []struct{ family, addr string }{
		{"4", denied.addr}, {"6", denied6.addr},
		{"6", "[::ffff:127.0.0.1]:" + portOf(denied.addr)},
		{"4", "0.0.0.0:" + portOf(denied.addr)},
		{"4", "127.0.0.2:" + portOf(denied.addr)},
	} {
		if got := e.run(e.sandbox, "tcp", c.family, c.addr); got != "err EPERM" {
			t.Errorf("loopback %s: %s, want err EPERM", c.addr, got)
		}
	}
	if denied.reached.Load() != 0 || denied6.reached.Load() != 0 {
		t.Fatalf("a loopback canary no rule names was reached")
	}
	if _, ok := e.event(func(ev Event) bool { return ev.Action == Deny && ev.Reason == ReasonLoopback }); !ok {
		t.Fatal("no deny event for loopback")
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestGuardedAddressesAreRefused(t *testing.T) {
	e := newEnv(t, Policy{})
	for _, c := range []struct{ family, addr string }{
		{"4", "169.254.169.254:80"}, {"4", "100.100.100.200:80"},
		{"6", "[fe80::1]:80"}, {"6", "[fd00:ec2::254]:80"}, {"6", "[::ffff:169.254.169.254]:80"},
	} {
		if got := e.run(e.sandbox, "tcp", c.family, c.addr); got != "err EPERM" {
			t.Errorf("%s: %s, want err EPERM", c.addr, got)
		}
	}
	if n := e.accepted.Load(); n != 0 {
		t.Fatalf("the proxy accepted %d connections to guarded addresses", n)
	}
}

func TestUDP(t *testing.T) {
	canary := udpCanary(t, "udp4", "127.0.0.1:0")
	e := newEnv(t, Policy{})
	for _, c := range []struct{ mode, family, addr, want string }{
		// DNS to any server reaches the stub, and the reply seems to come
		// from the server asked.
		{"sendto", "4", "192.0.2.1:53", "ok from=192.0.2.1:53 read=dns ping"},
		{"sendto", "6", "[2001:db8::53]:53", "ok from=[2001:db8::53]:53 read=dns ping"},
		{"sendto", "6", "[::ffff:192.0.2.2]:53", "ok from=[::ffff:192.0.2.2]:53 read=dns ping"},
		{"sendto", "4", "127.0.0.53:53", "ok from=127.0.0.53:53 read=dns ping"},
		{"connect", "4", "192.0.2.1:53", "ok peer=192.0.2.1:53 read=dns ping"},
		// Everything else is refused: QUIC, a loopback canary.
		{"sendto", "4", "198.51.100.7:443", "err EPERM"},
		{"sendto", "6", "[2001:db8::7]:443", "err EPERM"},
		{"connect", "4", "198.51.100.7:443", "err EPERM"},
		{"sendto", "4", canary.addr, "err EPERM"},
		{"connect", "4", canary.addr, "err EPERM"},
	} {
		if got := e.run(e.sandbox, "udp", c.mode, c.family, c.addr); got != c.want {
			t.Errorf("udp %s %s: %s, want %s", c.mode, c.addr, got, c.want)
		}
	}
	if canary.reached.Load() != 0 {
		t.Fatal("the UDP canary was reached")
	}
	if _, ok := e.event(func(ev Event) bool { return ev.Reason == ReasonUDP && ev.Dst.Port() == 443 }); !ok {
		t.Fatal("no event for the refused QUIC datagram")
	}
}

func TestSocketKinds(t *testing.T) {
	e := newEnv(t, Policy{})
	// Let the test's group open ping sockets, so that the hook, not the
	// sysctl, is what refuses them.
	const ping = "/proc/sys/net/ipv4/ping_group_range"
	old, err := os.ReadFile(ping)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ping, []byte("0 2147483647"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(ping, old, 0) })
	for _, kind := range []string{"raw4", "raw6", "ping4", "ping6", "udplite"} {
		if got := e.run(e.sandbox, "socket", kind); got != "err EPERM" {
			t.Errorf("socket %s: %s, want err EPERM", kind, got)
		}
	}
	if _, ok := e.event(func(ev Event) bool { return ev.Hook == HookSockCreate && ev.Reason == ReasonSocket }); !ok {
		t.Fatal("no sock_create event")
	}
}

func TestBind(t *testing.T) {
	e := newEnv(t, Policy{})
	lan := lanAddr(t)
	for _, c := range []struct{ family, addr, want string }{
		{"4", "127.0.0.1:0", "ok 127.0.0.1:"},
		{"4", "0.0.0.0:0", "ok 127.0.0.1:"},
		{"6", "[::]:0", "ok [::1]:"},
		{"6", "[::1]:0", "ok [::1]:"},
		{"4", lan + ":0", "err EPERM"},
	} {
		got := e.run(e.sandbox, "bind", c.family, c.addr)
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("bind %s: %s, want %s", c.addr, got, c.want)
		}
	}
	open := newEnvSibling(t, e, Policy{ListenAny: true})
	if got := e.run(open, "bind", "4", "0.0.0.0:0"); !strings.HasPrefix(got, "ok 0.0.0.0:") {
		t.Errorf("listen any: %s", got)
	}
}

// newEnvSibling adds a second sandbox with another policy to e.
func newEnvSibling(t *testing.T, e *env, pol Policy) string {
	dir := kerneltest.Child(t, e.root, "sbx2")
	id, err := CgroupID(dir)
	if err != nil {
		t.Fatal(err)
	}
	pol.DNSPort = e.dns
	if err := e.h.PutSandbox(id, 8, pol); err != nil {
		t.Fatal(err)
	}
	return dir
}

func lanAddr(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			return p.Addr().String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this host")
	return ""
}

func TestUnixSockets(t *testing.T) {
	dir := t.TempDir()
	allowed := unixCanary(t, filepath.Join(dir, "allowed.sock"))
	docker := unixCanary(t, filepath.Join(dir, "docker.sock"))
	// alias.sock does not exist: the hook sends it to its target, which
	// is how a listed path reaches its pinned socket whatever the path
	// has become.
	alias := filepath.Join(dir, "alias.sock")
	e := newEnv(t, Policy{Unix: map[string]UnixRule{allowed.addr: {Rule: 5, Target: allowed.addr}, alias: {Rule: 6, Target: allowed.addr}}})
	if got := e.run(e.sandbox, "unix", allowed.addr); got != "ok read=canary" {
		t.Fatalf("allowed socket: %s", got)
	}
	before := allowed.reached.Load()
	if got := e.run(e.sandbox, "unix", alias); got != "ok read=canary" || allowed.reached.Load() != before+1 {
		t.Fatalf("listed path rewritten to its target: %s (canary reached %d times, was %d)", got, allowed.reached.Load(), before)
	}
	if err := e.h.PutSandbox(e.sbID, 9, Policy{DNSPort: 53, Unix: map[string]UnixRule{alias: {Rule: 6}}}); err == nil {
		t.Fatal("a unix rule without a pinned target was accepted")
	}
	for _, p := range []string{docker.addr, dir + "/./docker.sock", dir + "//allowed.sock"} {
		if got := e.run(e.sandbox, "unix", p); got != "err EPERM" {
			t.Errorf("unix %s: %s, want err EPERM", p, got)
		}
	}
	if got := e.run(e.sandbox, "unixrel", dir, "docker.sock"); got != "err EPERM" {
		t.Errorf("relative path: %s, want err EPERM", got)
	}
	if docker.reached.Load() != 0 {
		t.Fatal("the docker.sock canary was reached")
	}
	if ev, ok := e.event(func(ev Event) bool { return ev.Reason == ReasonUnix && ev.Path == docker.addr }); !ok || ev.PID == 0 {
		t.Fatalf("unix deny event: %+v %v", ev, ok)
	}
}

func TestNoSandboxNoNetwork(t *testing.T) {
	c := tcpCanary(t, "tcp4", "127.0.0.1:0")
	e := newEnv(t, Policy{})
	for _, args := range [][]string{
		{"tcp", "4", "198.51.100.7:80"}, {"tcp", "4", c.addr}, {"udp", "sendto", "4", "192.0.2.1:53"},
	} {
		if got := e.run(e.stranger, args...); got != "err EPERM" {
			t.Errorf("%v outside any sandbox: %s, want err EPERM", args, got)
		}
	}
	if got := e.run(e.stranger, "socket", "tcp4"); got != "err EPERM" {
		t.Errorf("socket outside any sandbox: %s", got)
	}
	if c.reached.Load() != 0 || e.accepted.Load() != 0 {
		t.Fatal("a process in no sandbox reached a canary or the proxy")
	}
	// Removing a sandbox takes its network away at once.
	if err := e.h.DeleteSandbox(e.sbID); err != nil {
		t.Fatal(err)
	}
	if got := e.run(e.sandbox, "tcp", "4", "198.51.100.7:80"); got != "err EPERM" {
		t.Errorf("after DeleteSandbox: %s", got)
	}
}

// TestLookupOnce: an origin entry answers one accept. A later connection
// from outside any sandbox that reuses the client port is not taken for
// the sandbox's.
func TestLookupOnce(t *testing.T) {
	e := newEnv(t, Policy{})
	if got := e.run(e.sandbox, "tcp", "4", "198.51.100.9:80"); !strings.HasPrefix(got, "ok") {
		t.Fatal(got)
	}
	n := 0
	it := e.h.objs.OrigByPeer.Iterate()
	var k hooksPeer
	var v hooksOrig
	for it.Next(&k, &v) {
		n++
	}
	if n != 0 {
		t.Fatalf("%d origin entries left after the proxy's lookup", n)
	}
}

// probe runs in the child, inside a cgroup.
func probe(args []string) string {
	errno := func(err error) string {
		var en syscall.Errno
		if errors.As(err, &en) {
			return "err " + unix.ErrnoName(en)
		}
		return "err " + err.Error()
	}
	switch args[0] {
	case "tcp": // tcp 4|6|4mptcp|6mptcp|4tfo addr
		sa, fam, err := sockaddr(args[2])
		if err != nil {
			return errno(err)
		}
		if strings.HasPrefix(args[1], "6") {
			fam = unix.AF_INET6
			sa = toSA6(args[2])
		}
		proto := 0
		if strings.HasSuffix(args[1], "mptcp") {
			proto = unix.IPPROTO_MPTCP
		}
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return errno(err)
		}
		defer unix.Close(fd)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
		if strings.HasSuffix(args[1], "tfo") {
			// Data in the SYN: connect happens inside sendto.
			if err := unix.Sendto(fd, []byte("x"), unix.MSG_FASTOPEN, sa); err != nil {
				return errno(err)
			}
		} else if err := unix.Connect(fd, sa); err != nil {
			return errno(err)
		}
		line := readLine(fd) // after a Fast Open sendto, the handshake may still be under way
		peer, err := unix.Getpeername(fd)
		if err != nil {
			return fmt.Sprintf("ok peer=%s read=%s", errno(err), line)
		}
		return fmt.Sprintf("ok peer=%s read=%s", saString(peer), line)
	case "udp": // udp sendto|connect 4|6 addr
		sa, fam, err := sockaddr(args[3])
		if err != nil {
			return errno(err)
		}
		if args[2] == "6" {
			fam = unix.AF_INET6
			sa = toSA6(args[3])
		}
		fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		defer unix.Close(fd)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
		buf := make([]byte, 64)
		if args[1] == "connect" {
			if err := unix.Connect(fd, sa); err != nil {
				return errno(err)
			}
			if _, err := unix.Write(fd, []byte("ping")); err != nil {
				return errno(err)
			}
			n, err := unix.Read(fd, buf)
			if err != nil {
				return errno(err)
			}
			peer, _ := unix.Getpeername(fd)
			return fmt.Sprintf("ok peer=%s read=%s", saString(peer), buf[:n])
		}
		if err := unix.Sendto(fd, []byte("ping"), 0, sa); err != nil {
			return errno(err)
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return errno(err)
		}
		return fmt.Sprintf("ok from=%s read=%s", saString(from), buf[:n])
	case "socket":
		kinds := map[string][3]int{
			"raw4": {unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP}, "raw6": {unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6},
			"ping4": {unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP}, "ping6": {unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMPV6},
			"udplite": {unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_UDPLITE}, "tcp4": {unix.AF_INET, unix.SOCK_STREAM, 0},
		}
		k := kinds[args[1]]
		fd, err := unix.Socket(k[0], k[1], k[2])
		if err != nil {
			return errno(err)
		}
		unix.Close(fd)
		return "ok"
	case "bind": // bind 4|6 addr
		sa, fam, err := sockaddr(args[2])
		if err != nil {
			return errno(err)
		}
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, sa); err != nil {
			return errno(err)
		}
		name, _ := unix.Getsockname(fd)
		return "ok " + saString(name)
	case "fs": // the filesystem tests' child (fs_lsm_test.go)
		return fsProbe(args[1:])
	case "fsread": // the filesystem tests' child: read descriptor 3 (fs_test.go)
		b, err := io.ReadAll(os.NewFile(3, "iter"))
		if err != nil {
			return errno(err)
		}
		return hex.EncodeToString(b)
	case "unix", "unixrel": // unix path | unixrel dir name
		path := args[1]
		if args[0] == "unixrel" {
			if err := os.Chdir(args[1]); err != nil {
				return errno(err)
			}
			path = args[2]
		}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		defer unix.Close(fd)
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			return errno(err)
		}
		return "ok read=" + readLine(fd)
	}
	return "err unknown probe " + args[0]
}

func readLine(fd int) string {
	dup, err := unix.Dup(fd)
	if err != nil {
		return err.Error()
	}
	f := os.NewFile(uintptr(dup), "sock")
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	return strings.TrimSpace(line)
}

func sockaddr(s string) (unix.Sockaddr, int, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, 0, err
	}
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Addr: ap.Addr().As4(), Port: int(ap.Port())}, unix.AF_INET, nil
	}
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}, unix.AF_INET6, nil
}

func toSA6(s string) unix.Sockaddr {
	ap := netip.MustParseAddrPort(s)
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}
}

func saString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return fmt.Sprint(sa)
}

// TestPinnedStateOutlivesTheLoader: a loader that dies (Close without
// Detach, as after kill -9) leaves the hooks enforcing; with the proxy gone
// a redirected connection is refused, never sent out; a new loader adopts
// the pinned maps and links.
func TestPinnedStateOutlivesTheLoader(t *testing.T) {
	e := newEnv(t, Policy{})
	pins := e.h.dir
	if err := e.h.Close(); err != nil {
		t.Fatal(err)
	}
	// The stand-in proxy is still listening: enforcement continues.
	if got := e.run(e.sandbox, "tcp", "4", "198.51.100.7:80"); !strings.HasPrefix(got, "ok") {
		t.Fatalf("after the loader closed: %s", got)
	}
	// A loader with nothing listening on the proxy port: refused.
	dead := e.proxy
	free := freePort(t)
	e.h2(t, pins, func(h *Hooks) {
		if err := h.Configure(Settings{ProxyPort: free}); err != nil {
			t.Fatal(err)
		}
	})
	if got := e.run(e.sandbox, "tcp", "4", "198.51.100.7:80"); got != "err EPERM" {
		t.Fatalf("with no proxy listening: %s, want err EPERM", got)
	}
	// Someone else (no mark) listening on the proxy's port, as another
	// local user could while agentd is down: refused, and the impostor,
	// a canary, gets nothing.
	impostor := tcpCanary(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", free))
	if got := e.run(e.sandbox, "tcp", "4", "198.51.100.7:80"); got != "err EPERM" || impostor.reached.Load() != 0 {
		t.Fatalf("with an unmarked listener on the proxy port: %s, reached %d times", got, impostor.reached.Load())
	}
	if ev, ok := e.event(func(ev Event) bool { return ev.Reason == ReasonProxyDown }); !ok || ev.Action != Deny {
		t.Fatalf("no proxy-down deny event: %+v", ev)
	}
	// A restarted loader adopts the sandbox's policy and points the hooks
	// back at the live proxy.
	e.h2(t, pins, func(h *Hooks) {
		if err := h.Configure(Settings{ProxyPort: dead}); err != nil {
			t.Fatal(err)
		}
		var sb hooksSandbox
		if err := h.objs.Sandboxes.Lookup(e.sbID, &sb); err != nil || sb.Id != 7 {
			t.Fatalf("the sandbox entry was not adopted: %v %+v", err, sb)
		}
	})
	if got := e.run(e.sandbox, "tcp", "4", "198.51.100.7:80"); !strings.HasPrefix(got, "ok") {
		t.Fatalf("after re-adoption: %s", got)
	}
}

// h2 loads the hooks from pins as a restarted daemon would, runs f, and
// closes its handles again (leaving the pins).
func (e *env) h2(t *testing.T, pins string, f func(*Hooks)) {
	h, err := Load(pins)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Attach(e.root); err != nil {
		t.Fatal(err)
	}
	f(h)
	e.h = h // for Lookup by the stand-in proxy
	// Cleanup detaches through e.h; keep the pins' links reachable.
}

func freePort(t *testing.T) uint16 {
	l := listen(t, "tcp4", "127.0.0.1:0")
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return uint16(p)
}
