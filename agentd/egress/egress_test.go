//go:build linux

package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/events"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// origin serves HTTP inside the simulated internet and counts its hits.
type origin struct{ hits atomic.Int32 }

func serveOrigin(t *testing.T, lab *netlab.Lab, addr string) *origin {
	ln, err := lab.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		fmt.Fprintf(w, "origin %s host=%s\n", addr, r.Host)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

type world struct {
	hub      *Hub
	sandbox  string
	outsider string
	events   chan events.Event
}

func newWorld(t *testing.T, allow ...string) *world {
	return newWorldWith(t, worldConfig{Allow: allow})
}

// worldConfig is the sandbox's policy and the hub's settings for a world.
type worldConfig struct {
	Allow, Deny []string
	// Upstream is the DNS server the stub and the proxy resolve against;
	// nil means the host's.
	Upstream []netip.AddrPort
	// Unix lists the unix socket paths the sandbox may connect to.
	Unix []string
	// Listen is the policy's listen setting (default none).
	Listen string
}

func newWorldWith(t *testing.T, cfg worldConfig) *world {
	kerneltest.Privileged(t)
	root := kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-egress-test"))
	w := &world{sandbox: kerneltest.Child(t, root, "sbx"), outsider: kerneltest.Child(t, root, "other"), events: make(chan events.Event, 1024)}
	hub, err := Start(Config{CgroupRoot: root, Upstream: cfg.Upstream, Events: events.SinkFunc(func(e events.Event) {
		select {
		case w.events <- e:
		default:
		}
	})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	w.hub = hub
	listen := cfg.Listen
	if listen == "" {
		listen = bundle.ListenNone
	}
	n := &bundle.Network{Listen: listen, OnUnknown: bundle.VerdictDeny, AskTimeoutSeconds: 30}
	for i, a := range cfg.Allow {
		n.Allow = append(n.Allow, bundle.HostRule{Pattern: a, Rule: bundle.Rule{Field: fmt.Sprintf("network.allow[%d]", i), Text: a}})
	}
	for i, d := range cfg.Deny {
		n.Deny = append(n.Deny, bundle.HostRule{Pattern: d, Rule: bundle.Rule{Field: fmt.Sprintf("network.deny[%d]", i), Text: d}})
	}
	unixPaths := map[string]bundle.Rule{}
	for i, p := range cfg.Unix {
		r := bundle.Rule{Field: fmt.Sprintf("network.unix_sockets[%d]", i), Text: p}
		n.UnixSockets = append(n.UnixSockets, bundle.PathRule{Path: p, Rule: r})
		unixPaths[p] = r
	}
	if _, err := hub.Add("sbx-test", w.sandbox, n, unixPaths, Creds{}); err != nil {
		t.Fatal(err)
	}
	return w
}

// run runs argv inside cgroup dir, with no proxy variables.
func (w *world) run(t *testing.T, dir string, argv ...string) (string, int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestTransparent: a sandboxed program that knows nothing of proxies
// reaches an allowed origin through the proxy, and a denied origin not at
// all; with the proxy variables set, the same holds in explicit mode; the
// sandbox is known by the kernel's word, and nobody outside it can use the
// proxy.
func TestTransparent(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	lab := netlab.New(t)
	allowed := serveOrigin(t, lab, "203.0.113.10:80")
	denied := serveOrigin(t, lab, "203.0.113.11:80")
	allowed6 := serveOrigin(t, lab, "[2001:db8:203::10]:80")
	w := newWorld(t, "203.0.113.10:80", "[2001:db8:203::10]:80")

	out, code := w.run(t, w.sandbox, curl, "-sS", "-m", "10", "http://203.0.113.10/")
	if code != 0 || !strings.Contains(out, "origin 203.0.113.10:80") || allowed.hits.Load() != 1 {
		t.Fatalf("transparent HTTP to an allowed origin: %d %q (hits %d)", code, out, allowed.hits.Load())
	}
	out, code = w.run(t, w.sandbox, curl, "-sS", "-m", "10", "-g", "http://[2001:db8:203::10]/")
	if code != 0 || allowed6.hits.Load() != 1 {
		t.Fatalf("transparent HTTP over IPv6: %d %q", code, out)
	}
	out, _ = w.run(t, w.sandbox, curl, "-sS", "-m", "10", "-i", "http://203.0.113.11/")
	if !strings.Contains(out, "403") || denied.hits.Load() != 0 {
		t.Fatalf("transparent HTTP to a denied origin: %q (hits %d)", out, denied.hits.Load())
	}
	// A Host header naming an allowed origin on a connection to a denied
	// address: the proxy dials what it checked, never the address the
	// workload chose.
	out, _ = w.run(t, w.sandbox, curl, "-sS", "-m", "10", "-H", "Host: 203.0.113.10", "http://203.0.113.11/")
	if denied.hits.Load() != 0 {
		t.Fatalf("a forged Host reached the denied origin: %q", out)
	}
	// Explicit mode through the same port: the kernel still says who calls.
	port := fmt.Sprint(w.hub.ProxyPort())
	out, code = w.run(t, w.sandbox, curl, "-sS", "-m", "10", "-x", "http://127.0.0.1:"+port, "http://203.0.113.10/")
	if code != 0 || allowed.hits.Load() < 3 {
		t.Fatalf("explicit mode from the sandbox: %d %q", code, out)
	}
	// A process outside every sandbox (here, in the test's own cgroup) is
	// not proxied: the proxy is not an open proxy.
	before := allowed.hits.Load()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET http://203.0.113.10/ HTTP/1.1\r\nHost: 203.0.113.10\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, _ := c.Read(buf)
	c.Close()
	if allowed.hits.Load() != before || strings.Contains(string(buf[:n]), "origin") {
		t.Fatalf("the proxy served a client outside every sandbox: %q", buf[:n])
	}
	// A cgroup in Paddock's subtree that is no sandbox has no network.
	out, code = w.run(t, w.outsider, curl, "-sS", "-m", "5", "http://203.0.113.10/")
	if code == 0 || allowed.hits.Load() != before {
		t.Fatalf("a cgroup that is no sandbox reached an origin: %q", out)
	}
	if !sawEvent(w.events, func(e events.Event) bool {
		return e.Layer == events.LayerCgroupBPF && e.Action == events.ActionRedirect && e.Sandbox == "sbx-test" && e.Net.Orig.String() == "203.0.113.10:80" && e.Proc.PID != 0
	}) {
		t.Error("no cgroup-bpf redirect event for the allowed origin")
	}
}

// TestTransparentEscapes: datagrams, other protocols and addresses that
// would bypass the proxy.
func TestTransparentEscapes(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	lab := netlab.New(t)
	denied := serveOrigin(t, lab, "203.0.113.12:80")
	udp, err := lab.ListenPacket("udp", "203.0.113.12:443")
	if err != nil {
		t.Fatal(err)
	}
	var udpHits atomic.Int32
	go func() {
		b := make([]byte, 1500)
		for {
			if _, _, err := udp.ReadFrom(b); err != nil {
				return
			}
			udpHits.Add(1)
		}
	}()
	w := newWorld(t)
	script := `
import socket, sys
def tcp(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr); s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"); print("tcp", addr, s.recv(100))
    except Exception as e: print("tcp", addr, e)
def udp(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try: s.sendto(b"quic-initial", addr); print("udp sent", addr)
    except Exception as e: print("udp", addr, e)
tcp(socket.AF_INET, ("203.0.113.12", 80))
tcp(socket.AF_INET6, ("::ffff:203.0.113.12", 80))
udp(("203.0.113.12", 443))
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("raw socket opened")
except Exception as e: print("raw", e)
`
	out, _ := w.run(t, w.sandbox, python, "-c", script)
	if denied.hits.Load() != 0 || udpHits.Load() != 0 {
		t.Fatalf("an origin was reached (tcp %d, udp %d):\n%s", denied.hits.Load(), udpHits.Load(), out)
	}
	if strings.Contains(out, "raw socket opened") || strings.Contains(out, "udp sent") {
		t.Fatalf("a raw socket or a non-DNS datagram got through:\n%s", out)
	}
}

func sawEvent(ch chan events.Event, f func(events.Event) bool) bool {
	deadline := time.After(time.Second)
	for {
		select {
		case e := <-ch:
			if f(e) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}
