//go:build linux

package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/peer"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/policies/compiled"
)

type testDaemon struct {
	d      *Daemon
	socket string
	cfg    Config
}

// unixDir is where a test daemon pins unix sockets: short enough for a
// socket address, and the same for every daemon of one state directory.
func unixDir(t testing.TB, state string) string {
	sum := sha256.Sum256([]byte(state))
	dir := filepath.Join(os.TempDir(), "pdk-"+hex.EncodeToString(sum[:4]))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startDaemon starts a daemon on test directories; opts adjust its Config.
func startDaemon(t testing.TB, state, pins string, opts ...func(*Config)) *testDaemon {
	t.Helper()
	root := kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-daemon-test"))
	// The socket's directory must be root's and not writable by others;
	// t.TempDir is, as root.
	sockDir, err := os.MkdirTemp("", "paddock-daemon-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	os.Chmod(sockDir, 0o755)
	cfg := Config{StateDir: state, Socket: filepath.Join(sockDir, "agentd.sock"), UnixDir: unixDir(t, state), CgroupRoot: root, PinDir: pins,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go d.Serve()
	td := &testDaemon{d: d, socket: cfg.Socket, cfg: cfg}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d.Shutdown(ctx)
		// The test's cgroups go with it; a real daemon leaves them running.
		for _, r := range d.sbx.m {
			d.sbx.destroy(r)
		}
	})
	return td
}

func client(t testing.TB, socket string) *grpc.ClientConn {
	cc, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func testBundle(t testing.TB) []byte {
	b, _ := compiled.Bundle("base")
	if b == nil {
		t.Fatal("no builtin base bundle")
	}
	data, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSandboxLifecycleAndEvents: create, list, inspect, destroy through the
// API; each step is in the event log, which a subscriber reads from the
// start and resumes from where it stopped without missing anything.
func TestSandboxLifecycleAndEvents(t *testing.T) {
	kerneltest.Privileged(t)
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	cc := client(t, td.socket)
	sbx := apiv1.NewSandboxesClient(cc)
	evc := apiv1.NewEventsClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	info, err := evc.Info(ctx, &apiv1.InfoRequest{})
	if err != nil || info.LandlockAbi == 0 || len(info.Enforced) == 0 {
		t.Fatalf("info: %v %v", info, err)
	}
	created, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}, Name: "t1", Limits: &apiv1.Limits{Pids: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(td.d.cgroup2, created.Cgroup)); err != nil || !st.IsDir() {
		t.Fatalf("the sandbox's cgroup %s does not exist: %v", created.Cgroup, err)
	}
	if created.Limits.GetPids() != 64 || created.PolicyName != "base" {
		t.Fatalf("created: %v", created)
	}
	// builtin:base has deny rules: the BPF-LSM layer holds them, or the
	// sandbox says why not (this kernel may refuse BPF trampolines).
	lsm := slices.Contains(created.Enforced, apiv1.Layer_LAYER_BPF_LSM)
	var why string
	for _, d := range created.Degraded {
		if d.Layer == apiv1.Layer_LAYER_BPF_LSM {
			why = d.Reason
		}
	}
	if lsm == (why != "") || (!lsm && !strings.Contains(why, "BPF-LSM")) {
		t.Fatalf("BPF-LSM layer: enforced %v, degraded %q", lsm, why)
	}
	if os.Getenv("PADDOCK_REQUIRE_BPF_LSM") == "1" && !lsm {
		t.Fatalf("PADDOCK_REQUIRE_BPF_LSM=1 and the deny rules are not enforced: %s", why)
	}
	list, err := sbx.List(ctx, &apiv1.ListSandboxesRequest{})
	if err != nil || len(list.Sandboxes) != 1 || list.Sandboxes[0].Id != created.Id {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Source{Source: &apiv1.PolicySource{Filename: "x.hcl", Hcl: []byte(`policy "x" { extends = ["../../etc/passwd"] }`)}}}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "builtin") {
		t.Fatalf("a policy extending a file the daemon would read: %v", err)
	}
	if _, err := sbx.Get(ctx, &apiv1.GetSandboxRequest{Id: "../etc"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a malformed id: %v", err)
	}

	// Read the history so far, then resume after the last event seen.
	seqs := readAll(t, evc, 0)
	if len(seqs) == 0 {
		t.Fatal("no events")
	}
	last := seqs[len(seqs)-1]
	if _, err := sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: created.Id}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(td.d.cgroup2, created.Cgroup)); !os.IsNotExist(err) {
		t.Fatalf("the cgroup outlived the sandbox: %v", err)
	}
	// The destroy's event is logged by the pipeline's writer, a moment
	// after the call returns.
	more := readAll(t, evc, last.GetSeq())
	for deadline := time.Now().Add(2 * time.Second); len(more) == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		more = readAll(t, evc, last.GetSeq())
	}
	if len(more) == 0 || more[0].Seq != last.Seq+1 {
		t.Fatalf("resuming after #%d gave %v", last.Seq, more)
	}
	var phases []string
	for _, ev := range append(seqs, more...) {
		if lc := ev.GetLifecycle(); lc != nil {
			phases = append(phases, lc.Phase)
		}
	}
	if strings.Join(phases, ",") != "daemon-started,created,destroyed" {
		t.Fatalf("lifecycle events: %v", phases)
	}
}

func readAll(t *testing.T, evc apiv1.EventsClient, since uint64) []*apiv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := evc.Subscribe(ctx, &apiv1.SubscribeRequest{SinceSeq: since})
	if err != nil {
		t.Fatal(err)
	}
	var out []*apiv1.Event
	for {
		ev, err := st.Recv()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
}

// TestAuthorisation: a process inside a sandbox is refused everything;
// another user sees none of root's sandboxes and cannot destroy them.
func TestAuthorisation(t *testing.T) {
	kerneltest.Privileged(t)
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	cc := client(t, td.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created, err := apiv1.NewSandboxesClient(cc).Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}})
	if err != nil {
		t.Fatal(err)
	}
	// A copy of the test binary that every user can run.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.MkdirTemp("", "paddock-daemon-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	os.Chmod(bin, 0o755)
	self := filepath.Join(bin, "daemon.test")
	data, err := os.ReadFile(exe)
	if err != nil || os.WriteFile(self, data, 0o755) != nil {
		t.Fatal("copying the test binary:", err)
	}
	run := func(uid uint32, cgroupDir string) string {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), "PADDOCK_DAEMON_CHILD="+td.socket, "PADDOCK_DAEMON_SANDBOX="+created.Id)
		cmd.SysProcAttr = &syscall.SysProcAttr{}
		if uid != 0 {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: uid}
		}
		if cgroupDir != "" {
			fd, err := unix.Open(cgroupDir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
		}
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return string(out)
	}
	// The test binary must be reachable by uid 65534.
	if out := run(65534, ""); !strings.Contains(out, "list=0") || !strings.Contains(out, "get=NotFound") || !strings.Contains(out, "destroy=NotFound") {
		t.Fatalf("another user:\n%s", out)
	}
	sbDir := filepath.Join(td.d.cgroup2, created.Cgroup)
	// Root inside a sandbox: the hooks refuse the connection to the
	// daemon's socket (it is never on a sandbox's list), so every call
	// fails before the API sees it.
	if out := run(0, sbDir); !strings.Contains(out, "list=Unavailable") || !strings.Contains(out, "info=Unavailable") || !strings.Contains(out, "destroy=Unavailable") {
		t.Fatalf("root inside a sandbox:\n%s", out)
	}
	// Behind that, the API refuses a caller whose cgroup is below the
	// daemon's, whatever its uid.
	rel, _ := filepath.Rel(td.d.cgroup2, sbDir)
	ctxIn := grpcpeer.NewContext(ctx, &grpcpeer.Peer{AuthInfo: peer.AuthInfo{Cred: peer.Cred{UID: 0, PID: 1, Cgroup: "/" + rel}}})
	if err := td.d.authorise(ctxIn); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a caller in a sandbox cgroup: %v", err)
	}
	ctxOut := grpcpeer.NewContext(ctx, &grpcpeer.Peer{AuthInfo: peer.AuthInfo{Cred: peer.Cred{UID: 1000, PID: 1, Cgroup: "/user.slice"}}})
	if err := td.d.authorise(ctxOut); err != nil {
		t.Fatalf("a caller outside: %v", err)
	}
	if r := td.d.sbx.get(created.Id); r == nil {
		t.Fatal("the sandbox is gone")
	}
}

// TestMain runs the API client of the authorisation test when the test
// binary is started as one (as other users and in other cgroups).
func TestMain(m *testing.M) {
	if target := os.Getenv("PADDOCK_APPROVAL_GET"); target != "" {
		approvalGet(target)
		os.Exit(0)
	}
	if id := os.Getenv("PADDOCK_APPROVAL_ANSWER"); id != "" {
		approvalAnswerChild(os.Getenv("PADDOCK_DAEMON_CHILD_SOCKET"), id)
		os.Exit(0)
	}
	if socket := os.Getenv("PADDOCK_DAEMON_CHILD"); socket != "" {
		clientChild(socket)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func clientChild(socket string) {
	cc, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id := os.Getenv("PADDOCK_DAEMON_SANDBOX")
	sbx := apiv1.NewSandboxesClient(cc)
	if l, err := sbx.List(ctx, &apiv1.ListSandboxesRequest{}); err != nil {
		fmt.Printf("list=%s\n", status.Code(err))
	} else {
		fmt.Printf("list=%d\n", len(l.Sandboxes))
	}
	_, err = sbx.Get(ctx, &apiv1.GetSandboxRequest{Id: id})
	fmt.Printf("get=%s\n", status.Code(err))
	_, err = sbx.Destroy(ctx, &apiv1.DestroySandboxRequest{Id: id})
	fmt.Printf("destroy=%s\n", status.Code(err))
	_, err = apiv1.NewEventsClient(cc).Info(ctx, &apiv1.InfoRequest{})
	fmt.Printf("info=%s\n", status.Code(err))
}
