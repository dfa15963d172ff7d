//go:build linux

package daemon

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// sleeper starts `sleep` as the test's child, killed at cleanup.
func sleeper(t *testing.T, attr *syscall.SysProcAttr) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestEnter: a caller moves its own child into its own sandbox, and nothing
// else: not another uid's process, not a grandchild, not into a sandbox
// that already runs something. The child's cgroup is the judge.
func TestEnter(t *testing.T) {
	kerneltest.Privileged(t)
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	sbx := apiv1.NewSandboxesClient(client(t, td.socket))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}})
	if err != nil {
		t.Fatal(err)
	}
	in := func(pid int) bool {
		cg, err := peer.CgroupOf(pid)
		return err == nil && cg == created.Cgroup
	}

	other := sleeper(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}})
	_, err = sbx.Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: uint32(other.Process.Pid)})
	if status.Code(err) != codes.PermissionDenied || in(other.Process.Pid) {
		t.Errorf("a child of another uid: %v (moved: %v)", err, in(other.Process.Pid))
	}

	// A grandchild: sh's child, not ours.
	sh := exec.Command("sh", "-c", "sleep 60 & echo $!; wait")
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	var buf [32]byte
	n, _ := out.Read(buf[:])
	grand, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	t.Cleanup(func() { syscall.Kill(grand, syscall.SIGKILL); sh.Process.Kill(); sh.Wait() })
	_, err = sbx.Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: uint32(grand)})
	if grand == 0 || status.Code(err) != codes.PermissionDenied || in(grand) {
		t.Errorf("a grandchild (%d): %v", grand, err)
	}

	child := sleeper(t, nil)
	if _, err := sbx.Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: uint32(child.Process.Pid)}); err != nil {
		t.Fatalf("the caller's own child: %v", err)
	}
	if !in(child.Process.Pid) {
		t.Fatalf("Enter succeeded but process %d is not in %s", child.Process.Pid, created.Cgroup)
	}
	second := sleeper(t, nil)
	if _, err := sbx.Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: uint32(second.Process.Pid)}); status.Code(err) != codes.FailedPrecondition || in(second.Process.Pid) {
		t.Errorf("a second Enter into a running sandbox: %v", err)
	}
}

// TestCreateWithPid: Create with a pid is Create then Enter in one call.
// The caller's own child is in the sandbox when the call returns; a
// process Enter would refuse makes Create fail and leaves no sandbox, and
// the process where it was.
func TestCreateWithPid(t *testing.T) {
	kerneltest.Privileged(t)
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	sbx := apiv1.NewSandboxesClient(client(t, td.socket))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := func(pid int) *apiv1.CreateSandboxRequest {
		return &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}, Pid: uint32(pid)}
	}
	before, err := peer.CgroupOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}

	other := sleeper(t, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}})
	if _, err := sbx.Create(ctx, req(other.Process.Pid)); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a child of another uid: %v", err)
	}
	if cg, _ := peer.CgroupOf(other.Process.Pid); cg != before {
		t.Errorf("the refused process moved to %s", cg)
	}
	if list, err := sbx.List(ctx, &apiv1.ListSandboxesRequest{}); err != nil || len(list.Sandboxes) != 0 {
		t.Errorf("a refused Create left sandboxes: %v %v", list, err)
	}

	child := sleeper(t, nil)
	created, err := sbx.Create(ctx, req(child.Process.Pid))
	if err != nil {
		t.Fatalf("the caller's own child: %v", err)
	}
	if cg, err := peer.CgroupOf(child.Process.Pid); err != nil || cg != created.Cgroup {
		t.Fatalf("Create returned, but process %d is in %q, not %s (%v)", child.Process.Pid, cg, created.Cgroup, err)
	}
	if created.State != apiv1.State_STATE_RUNNING {
		t.Errorf("the sandbox says %v, not running", created.State)
	}
}

// TestEphemeral: an ephemeral sandbox goes, with what runs in it, when the
// process that created it exits without a word.
func TestEphemeral(t *testing.T) {
	kerneltest.Privileged(t)
	if os.Getenv("PADDOCK_EPHEMERAL_CREATOR") != "" {
		return // only the parent test runs
	}
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	// The creator is a child process of the test: it creates the sandbox,
	// enters a sleeping child, prints the sandbox's cgroup and the
	// sleeper's pid, and is then killed.
	cmd := exec.Command(os.Args[0], "-test.run=TestEphemeralCreator", "-test.v")
	cmd.Env = append(os.Environ(), "PADDOCK_EPHEMERAL_CREATOR="+td.socket)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var cgroup string
	var pid int
	var seen []string
	found := make(chan struct{})
	go func() {
		defer close(found)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ENTERED" {
				cgroup, pid = f[1], atoi(f[2])
				return
			}
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	select {
	case <-found:
	case <-time.After(20 * time.Second):
	}
	if cgroup == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the creator did not report: %q", seen)
	}
	dir := filepath.Join(td.d.cgroup2, cgroup)
	cmd.Process.Kill()
	cmd.Wait()
	for time.Now().Before(deadline) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the ephemeral sandbox's cgroup %s outlived its creator", dir)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		// A zombie is dead; its parent (the killed creator) is gone, so
		// init reaps it: give it a moment.
		time.Sleep(200 * time.Millisecond)
		if st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); len(st) > 0 && !strings.Contains(string(st), ") Z ") {
			t.Fatalf("process %d, in the ephemeral sandbox, outlived it", pid)
		}
	}
}

// TestEphemeralCreator is TestEphemeral's creator process.
func TestEphemeralCreator(t *testing.T) {
	socket := os.Getenv("PADDOCK_EPHEMERAL_CREATOR")
	if socket == "" {
		t.Skip("run by TestEphemeral")
	}
	sbx := apiv1.NewSandboxesClient(client(t, socket))
	ctx := context.Background()
	created, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := sbx.Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: uint32(child.Process.Pid)}); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ENTERED " + created.Cgroup + " " + strconv.Itoa(child.Process.Pid) + "\n")
	time.Sleep(time.Minute)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
