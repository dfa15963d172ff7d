//go:build linux

package daemon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// agentdProc is a real agentd process, for what an in-process daemon
// cannot show: being killed.
type agentdProc struct {
	cmd    *exec.Cmd
	socket string
}

func buildAgentd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "agentd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/agentd").CombinedOutput(); err != nil {
		t.Fatalf("building agentd: %v\n%s", err, out)
	}
	return bin
}

func startAgentd(t *testing.T, bin string, args []string, socket string) *agentdProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	logf, err := os.CreateTemp(t.TempDir(), "agentd-log-")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("agentd's log:\n%s", b)
		}
	})
	p := &agentdProc{cmd: cmd, socket: socket}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(socket); err == nil {
			cc := client(t, socket)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := apiv1.NewEventsClient(cc).Info(ctx, &apiv1.InfoRequest{})
			cancel()
			if err == nil {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("agentd did not come up")
	return nil
}

// TestKillAndReadopt: agentd is killed with SIGKILL while a sandboxed loop
// connects, through the transparent proxy, to an origin on a simulated
// internet. While it is down not one connection reaches the origin (the
// canary); once restarted it re-adopts the sandbox, the loop's connections
// get through again, and the log says the old daemon was killed, with a
// gap for what it held in memory.
func TestKillAndReadopt(t *testing.T) {
	kerneltest.Privileged(t)
	lab := netlab.New(t)
	origin := "203.0.113.10:80"
	ln, err := lab.Listen("tcp4", origin)
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintln(w, "origin")
	}))

	bin := buildAgentd(t)
	state, pins := t.TempDir(), kerneltest.PinDir(t)
	root := kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-crash-test"))
	sockDir, err := os.MkdirTemp("", "pdk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	os.Chmod(sockDir, 0o755)
	socket := filepath.Join(sockDir, "run", "agentd.sock")
	args := []string{"--state-dir", state, "--socket", socket, "--pin-dir", pins, "--cgroup-root", root, "--unix-dir", filepath.Join(sockDir, "u")}
	first := startAgentd(t, bin, args, socket)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sbx, err := apiv1.NewSandboxesClient(client(t, socket)).Create(ctx, &apiv1.CreateSandboxRequest{
		Policy: &apiv1.CreateSandboxRequest_Source{Source: &apiv1.PolicySource{Filename: "crash.hcl", Hcl: []byte(`policy "crash" {}

network {
  allow = ["` + origin + `"]
}
`)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cgdir := filepath.Join(root, filepath.Base(sbx.Cgroup))
	t.Cleanup(func() {
		// The sandbox's processes and cgroup go before the test's root.
		os.WriteFile(filepath.Join(cgdir, "cgroup.kill"), []byte("1"), 0)
		time.Sleep(100 * time.Millisecond)
		os.Remove(cgdir)
	})

	// The loop: a program that ignores every proxy setting and connects
	// straight to the origin, every 20 ms, reporting each outcome.
	cg, err := unix.Open(cgdir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	loop := exec.Command("python3", "-u", "-c", `
import socket, sys, time
while True:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("203.0.113.10", 80))
        s.sendall(b"GET / HTTP/1.0\r\nHost: 203.0.113.10\r\n\r\n")
        print("ok" if b"origin" in s.recv(4096) else "bad")
    except Exception as e:
        print("fail", e)
    finally:
        s.close()
    time.sleep(0.02)
`)
	loop.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}
	out, err := loop.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := loop.Start(); err != nil {
		t.Fatal(err)
	}
	unix.Close(cg)
	t.Cleanup(func() { loop.Process.Kill(); loop.Wait() })
	var fails atomic.Int64
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "fail") {
				fails.Add(1)
			}
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the loop to reach the origin through agentd", func() bool { return hits.Load() >= 3 })

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.cmd.Wait()
	time.Sleep(200 * time.Millisecond) // a request in flight at the kill may still land
	base, failsBase := hits.Load(), fails.Load()
	time.Sleep(1500 * time.Millisecond)
	if n := hits.Load() - base; n != 0 {
		t.Fatalf("%d connections reached the origin while agentd was down", n)
	}
	if fails.Load()-failsBase < 5 {
		t.Fatalf("the loop did not keep trying while agentd was down (%d failures)", fails.Load()-failsBase)
	}

	startAgentd(t, bin, args, socket)
	cc := client(t, socket)
	list, err := apiv1.NewSandboxesClient(cc).List(ctx, &apiv1.ListSandboxesRequest{})
	if err != nil || len(list.Sandboxes) != 1 || list.Sandboxes[0].Id != sbx.Id {
		t.Fatalf("after the restart: %v %v, want sandbox %s re-adopted", list, err, sbx.Id)
	}
	waitFor("the loop to reach the origin again", func() bool { return hits.Load() > base+2 })

	st, err := apiv1.NewEventsClient(cc).Subscribe(ctx, &apiv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var starts []string
	gap := false
	for {
		ev, err := st.Recv()
		if err != nil {
			break
		}
		if lc := ev.GetLifecycle(); lc != nil && lc.Phase == "daemon-started" {
			starts = append(starts, lc.Detail)
		}
		if g := ev.GetGap(); g != nil && strings.Contains(g.Cause, "without a clean shutdown") {
			gap = true
		}
	}
	if len(starts) != 2 || !strings.Contains(starts[1], sbx.Id) || !strings.Contains(starts[1], "killed or crashed") {
		t.Errorf("daemon-started events: %q; want a second one naming %s as re-adopted and the first agentd as killed", starts, sbx.Id)
	}
	if !gap {
		t.Error("no gap event for what the killed agentd held in memory")
	}
	if _, err := net.Dial("unix", socket); err != nil {
		t.Errorf("the restarted agentd's socket: %v", err)
	}
}
