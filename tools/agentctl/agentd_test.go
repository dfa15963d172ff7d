package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/daemon"
	"github.com/paddock-sh/paddock/internal/kernfs"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// startAgentd runs an agentd for the suite, in this process, with state,
// cgroup subtree, pins and socket of its own, and sets testSocket.
func startAgentd(dir string) (stop func(), err error) {
	sock, stop, err := startAgentdWith(dir, "suite")
	testSocket = sock
	return stop, err
}

// startAgentdWith runs an agentd in this process, its cgroup subtree named
// for name, with opts applied to its configuration; it returns its socket.
func startAgentdWith(dir, name string, opts ...func(*daemon.Config)) (socket string, stop func(), err error) {
	cg2, err := kernfs.Cgroup2Root()
	if err != nil {
		return "", nil, err
	}
	if _, err := kernfs.MountBPF("/sys/fs/bpf"); err != nil {
		return "", nil, err
	}
	pins, err := os.MkdirTemp("/sys/fs/bpf", "paddock-agentctl-test-")
	if err != nil {
		return "", nil, err
	}
	// Short: pinned unix sockets' paths must fit a socket address.
	short, err := os.MkdirTemp("", "pdk")
	if err != nil {
		os.RemoveAll(pins)
		return "", nil, err
	}
	root := filepath.Join(cg2, fmt.Sprintf("paddock-agentctl-test-%s-%d", name, os.Getpid()))
	cfg := daemon.Config{
		StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "run", "agentd.sock"),
		CgroupRoot: root, PinDir: pins, UnixDir: filepath.Join(short, "u"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test",
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := daemon.Start(cfg)
	if err != nil {
		os.RemoveAll(pins)
		os.RemoveAll(short)
		return "", nil, err
	}
	go d.Serve()
	return cfg.Socket, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		kernfs.RemoveCgroup(root, 2*time.Second)
		kernfs.RemoveV1(filepath.Base(root), 2*time.Second)
		os.RemoveAll(pins)
		os.RemoveAll(short)
	}, nil
}

// TestAgentdRun: with agentd, `agentctl run` as an unprivileged user puts
// the workload in an agentd sandbox: its cgroup is one of agentd's, a
// program that ignores the proxy variables is sent to agentd's proxy and
// refused (the origin, a canary, is never reached), agentd's log holds the
// decision under the sandbox's id, and the sandbox is gone afterwards.
func TestAgentdRun(t *testing.T) {
	s := newSandbox(t, "agentd")
	denied := newOrigin(t)
	r := s.run("/bin/sh", "-c", "grep ^0:: /proc/self/cgroup; "+s.probe+" connect "+denied.addr)
	if !strings.Contains(r.out, "/paddock-agentctl-test-") || !strings.Contains(r.out, "/sbx-") {
		t.Fatalf("the workload is not in an agentd sandbox:\n%s", r.out)
	}
	if n := denied.hits.Load(); n != 0 {
		t.Fatalf("a loopback origin the policy does not name was reached %d times:\n%s", n, r.out)
	}
	var id string
	for _, line := range strings.Split(r.out, "\n") {
		if cg, ok := strings.CutPrefix(line, "0::"); ok {
			id = filepath.Base(cg)
		}
	}
	cc, err := dial(testSocket)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	// Decisions reach the log within milliseconds of being made, not
	// necessarily before agentctl exits: follow the log for a while.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := apiv1.NewEventsClient(cc).Subscribe(ctx, &apiv1.SubscribeRequest{Follow: true, Filter: &apiv1.Filter{SandboxIds: []string{id}}})
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	refused := false
	for !refused || len(phases) < 3 {
		ev, err := st.Recv()
		if err != nil {
			break
		}
		if lc := ev.GetLifecycle(); lc != nil {
			phases = append(phases, lc.Phase)
		}
		if n := ev.GetNetwork(); n != nil && ev.Action != apiv1.Action_ACTION_ALLOW && n.Orig == denied.addr {
			refused = true
		}
	}
	if !refused {
		t.Errorf("agentd's log has no decision on the connection to %s by sandbox %s", denied.addr, id)
	}
	if strings.Join(phases, ",") != "created,started,destroyed" {
		t.Errorf("sandbox %s lifecycle: %v, want created, started, destroyed", id, phases)
	}
	// agentctl returns once nothing of the sandbox runs; agentd removes
	// the sandbox as agentctl exits.
	var list *apiv1.ListSandboxesResponse
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		list, err = apiv1.NewSandboxesClient(cc).List(context.Background(), &apiv1.ListSandboxesRequest{})
		if err != nil || len(list.Sandboxes) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(list.Sandboxes) != 0 {
		t.Errorf("sandboxes left after the run: %v %v", list, err)
	}
}

// TestAgentdRunLeavesNothing: a process the workload leaves behind in the
// background (the canary) is gone by the time `agentctl run` returns,
// through agentd as without it: agentctl destroys a sandbox that still
// holds a process before it exits.
func TestAgentdRunLeavesNothing(t *testing.T) {
	s := newSandbox(t, "agentd")
	r := s.run("/bin/sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo bg=$!")
	var pid int
	for _, line := range strings.Split(r.out, "\n") {
		if v, ok := strings.CutPrefix(line, "bg="); ok {
			fmt.Sscan(v, &pid)
		}
	}
	if r.code != 0 || pid <= 0 {
		t.Fatalf("the workload did not start its background process (status %d):\n%s", r.code, r.out)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(st), ") Z ") && strings.Contains(string(st), "(sleep)") {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("the background process %d still runs after agentctl returned: %s", pid, st)
	}
}

// TestAgentdCredential: `agentctl run` through an agentd, as an
// unprivileged user, with a credential bound to api.cred.test on the
// simulated internet. curl in the sandbox sends the placeholder it holds;
// the origin (the canary) gets the real secret on the bound path over TLS
// and through the reverse listener, the placeholder elsewhere; the
// sandbox never reads the secret: not in its environment, not in an
// echoed response, not in its secret file, which the policy denies.
func TestAgentdCredential(t *testing.T) {
	privileged(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	lab := netlab.New(t)
	api := lab.TLSOrigin("203.0.113.30", "api.cred.test")
	lab.DNS().Add("api.cred.test", "A 203.0.113.30")
	_, labCA := lab.CA()

	s := newSandbox(t, "agentd")
	const secret = "sk-agentctl-5e4d3c2b1a09"
	secretFile := filepath.Join(s.base, "secrets", "api")
	s.writeMode(secretFile, secret+"\n", 0o600)
	s.chownAll(s.base)
	// The workload's user must reach the socket: a directory it may enter.
	dir, err := os.MkdirTemp("", "paddock-cred-agentd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock, stop, err := startAgentdWith(dir, "cred", func(c *daemon.Config) {
		c.UpstreamCA = labCA
		c.Upstream = []netip.AddrPort{lab.DNS().Addr()}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	s.sock = sock
	s.policy = filepath.Join(s.base, "cred.hcl")
	s.write(s.policy, `policy "cred" {
  extends = ["builtin:default"]
}

filesystem {
  deny = ["`+secretFile+`"]
}

network {
  allow = ["api.cred.test", "203.0.113.30"]
}

credential "api" {
  hosts        = ["api.cred.test"]
  env          = "API_TOKEN"
  source       = "file:`+secretFile+`"
  paths        = ["/v1/"]
  base_url_env = "API_BASE_URL"
}
`)
	s.chownAll(s.base)
	r := s.run("/bin/sh", "-c", `echo "token=$API_TOKEN"
curl -sS --max-time 10 -H "Authorization: Bearer $API_TOKEN" https://api.cred.test/v1/echo
curl -sS --max-time 10 -H "Authorization: Bearer $API_TOKEN" https://api.cred.test/v2/echo
curl -sS --max-time 10 "$API_BASE_URL/v1/echo"
cat `+secretFile+` 2>&1 | head -c 200; tr '\0' '\n' </proc/self/environ | grep -c paddock:cred:api`)
	if strings.Contains(r.out, secret) {
		t.Fatalf("the secret reached the sandbox:\n%s", r.out)
	}
	if !strings.Contains(r.out, "token=paddock:cred:api") || !strings.Contains(r.out, "Authorization: Bearer paddock:cred:api") {
		t.Errorf("the sandbox should hold and read back the placeholder:\n%s", r.out)
	}
	var with, without []string
	for _, h := range api.Hits() {
		if strings.Contains(h.Header.Get("Authorization"), secret) {
			with = append(with, h.Path)
		} else {
			without = append(without, h.Path)
		}
	}
	if fmt.Sprint(with) != "[/v1/echo /v1/echo]" || fmt.Sprint(without) != "[/v2/echo]" {
		t.Errorf("the origin got the secret on %v, not on %v; want both /v1/echo (TLS, reverse listener) with it and /v2/echo without:\n%s", with, without, r.out)
	}
}
