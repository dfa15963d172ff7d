//go:build linux

package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/compiler/policy"
	"github.com/paddock-sh/paddock/internal/kerneltest"
	"github.com/paddock-sh/paddock/internal/netlab"
)

// approvalRig is a daemon on the simulated internet that can be stopped
// and started again on the same state (re-adopting its sandboxes), with
// an origin that counts the requests for each host name.
type approvalRig struct {
	t   *testing.T
	cfg Config
	lab *netlab.Lab
	d   *Daemon
	cc  *grpc.ClientConn

	mu   sync.Mutex
	hits map[string]int // by Host
}

const originAddr = "203.0.113.20:80"

func newApprovalRig(t *testing.T) *approvalRig {
	kerneltest.Privileged(t)
	rig := &approvalRig{t: t, lab: netlab.New(t), hits: map[string]int{}}
	ln, err := rig.lab.Listen("tcp4", originAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.mu.Lock()
		rig.hits[r.Host]++
		rig.mu.Unlock()
		fmt.Fprintf(w, "origin host=%s", r.Host)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	for _, name := range []string{"once.test", "sandbox.test", "perm.test", "late.test", "auth.test"} {
		rig.lab.DNS().Add(name, "A 203.0.113.20")
	}
	state := t.TempDir()
	sockDir, err := os.MkdirTemp("", "paddock-approvals-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	os.Chmod(sockDir, 0o755)
	rig.cfg = Config{StateDir: state, Socket: filepath.Join(sockDir, "agentd.sock"), UnixDir: unixDir(t, state),
		CgroupRoot: kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-approvals-test")), PinDir: kerneltest.PinDir(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", Upstream: []netip.AddrPort{rig.lab.DNS().Addr()}}
	t.Cleanup(func() {
		// The last daemon takes its sandboxes with it; a real one would
		// leave them running.
		if rig.d == nil {
			return
		}
		d := rig.d
		rig.stop()
		for _, r := range d.sbx.m {
			d.sbx.destroy(r)
		}
	})
	rig.start()
	return rig
}

func (rig *approvalRig) start() {
	rig.t.Helper()
	d, err := Start(rig.cfg)
	if err != nil {
		rig.t.Fatal(err)
	}
	go d.Serve()
	rig.d = d
	cc, err := grpc.NewClient("unix://"+rig.cfg.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		rig.t.Fatal(err)
	}
	rig.cc = cc
}

// stop shuts the daemon down; its sandboxes stay, for the next to adopt.
func (rig *approvalRig) stop() {
	rig.cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rig.d.Shutdown(ctx)
	rig.d = nil
}

func (rig *approvalRig) hitsFor(host string) int {
	rig.mu.Lock()
	defer rig.mu.Unlock()
	return rig.hits[host]
}

// create makes a sandbox whose policy asks, with the given timeout.
func (rig *approvalRig) create(name, timeout string) *apiv1.Sandbox {
	rig.t.Helper()
	hcl := fmt.Sprintf("policy %q {}\n\nnetwork {\n  on_unknown  = \"ask\"\n  ask_timeout = %q\n}\n", name, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sb, err := apiv1.NewSandboxesClient(rig.cc).Create(ctx, &apiv1.CreateSandboxRequest{
		Policy: &apiv1.CreateSandboxRequest_Source{Source: &apiv1.PolicySource{Filename: name + ".hcl", Hcl: []byte(hcl)}}})
	if err != nil {
		rig.t.Fatal(err)
	}
	return sb
}

// watcher collects what a Watch stream sends.
type watcher struct {
	ch     chan *apiv1.Approval
	cancel context.CancelFunc
}

func (rig *approvalRig) watch() *watcher {
	rig.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := apiv1.NewApprovalsClient(rig.cc).Watch(ctx, &apiv1.WatchApprovalsRequest{Follow: true})
	if err != nil {
		rig.t.Fatal(err)
	}
	w := &watcher{ch: make(chan *apiv1.Approval, 256), cancel: cancel}
	rig.t.Cleanup(cancel)
	go func() {
		for {
			a, err := st.Recv()
			if err != nil {
				return
			}
			w.ch <- a
		}
	}()
	return w
}

// next waits for an update about host in state st.
func (w *watcher) next(t *testing.T, st apiv1.ApprovalState, host string) *apiv1.Approval {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case a := <-w.ch:
			if a.State == st && a.Host == host {
				return a
			}
		case <-timeout:
			t.Fatalf("no %v request for %s", st, host)
		}
	}
}

// none checks that no request for host was made (the queue is drained).
func (w *watcher) none(t *testing.T, host string) {
	t.Helper()
	for {
		select {
		case a := <-w.ch:
			if a.Host == host && a.State == apiv1.ApprovalState_APPROVAL_STATE_PENDING {
				t.Fatalf("unexpected request %v", a)
			}
		default:
			return
		}
	}
}

// fetch is a GET through the proxy by a process inside a sandbox.
type fetch struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (rig *approvalRig) get(sb *apiv1.Sandbox, target string) *fetch {
	rig.t.Helper()
	fd, err := unix.Open(filepath.Join(rig.d.cgroup2, sb.Cgroup), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		rig.t.Fatal(err)
	}
	defer unix.Close(fd)
	f := &fetch{cmd: exec.Command(os.Args[0])}
	f.cmd.Env = append(os.Environ(), "PADDOCK_APPROVAL_GET="+target, fmt.Sprintf("PADDOCK_APPROVAL_PROXY=http://127.0.0.1:%d", rig.d.ProxyPort()))
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.out
	f.cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := f.cmd.Start(); err != nil {
		rig.t.Fatal(err)
	}
	rig.t.Cleanup(func() { f.cmd.Process.Kill(); f.cmd.Wait() })
	return f
}

func (f *fetch) result(t *testing.T) string {
	t.Helper()
	done := make(chan struct{})
	go func() { f.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		f.cmd.Process.Kill()
		t.Fatal("the sandboxed fetch did not finish")
	}
	return f.out.String()
}

// approvalGet is the sandboxed side of fetch (TestMain runs it).
func approvalGet(target string) {
	pu, err := url.Parse(os.Getenv("PADDOCK_APPROVAL_PROXY"))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}, Timeout: 60 * time.Second}
	resp, err := c.Get(target)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("status=%d body=%s\n", resp.StatusCode, body)
}

func (rig *approvalRig) answer(id string, dec apiv1.Decision) (*apiv1.Approval, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := apiv1.NewApprovalsClient(rig.cc).Answer(ctx, &apiv1.AnswerApprovalRequest{Id: id, Decision: dec})
	return resp.GetApproval(), err
}

// approvalEvents reads the log's approval events.
func (rig *approvalRig) approvalEvents() []*apiv1.Event {
	rig.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := apiv1.NewEventsClient(rig.cc).Subscribe(ctx, &apiv1.SubscribeRequest{})
	if err != nil {
		rig.t.Fatal(err)
	}
	var out []*apiv1.Event
	for {
		ev, err := st.Recv()
		if err != nil {
			return out
		}
		if ev.GetApproval() != nil {
			out = append(out, ev)
		}
	}
}

// waitEvent waits for an event of the log that f accepts.
func (rig *approvalRig) waitEvent(what string, f func(*apiv1.Event) bool) *apiv1.Event {
	rig.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := apiv1.NewEventsClient(rig.cc).Subscribe(ctx, &apiv1.SubscribeRequest{})
		if err != nil {
			rig.t.Fatal(err)
		}
		for {
			ev, err := st.Recv()
			if err != nil {
				break
			}
			if f(ev) {
				cancel()
				return ev
			}
		}
		cancel()
		if time.Now().After(deadline) {
			rig.t.Fatalf("no event: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestApprovals: on_unknown = "ask" end to end, on the simulated
// internet. A sandboxed process fetches through the proxy; a test client
// of the API watches the requests and answers them; the origin says
// whether the fetch got through.
func TestApprovals(t *testing.T) {
	rig := newApprovalRig(t)
	a := rig.create("asker", "30s")
	w := rig.watch()

	t.Run("allow once", func(t *testing.T) {
		f := rig.get(a, "http://once.test/")
		p := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "once.test")
		if p.SandboxId != a.Id || p.Port != 80 || p.Op != "http" || p.PolicyName != "asker" || p.Process.GetPid() != uint32(f.cmd.Process.Pid) ||
			p.Deadline.AsTime().Sub(p.Created.AsTime()).Round(time.Second) != 30*time.Second {
			t.Errorf("request %v (fetch pid %d)", p, f.cmd.Process.Pid)
		}
		time.Sleep(100 * time.Millisecond)
		if rig.hitsFor("once.test") != 0 {
			t.Fatal("the origin was reached before the answer")
		}
		got, err := rig.answer(p.Id, apiv1.Decision_DECISION_ALLOW_ONCE)
		if err != nil || got.State != apiv1.ApprovalState_APPROVAL_STATE_ANSWERED || got.AnsweredBy != "uid 0" {
			t.Fatalf("answer: %v %v", got, err)
		}
		if out := f.result(t); !strings.Contains(out, "status=200 body=origin host=once.test") || rig.hitsFor("once.test") != 1 {
			t.Fatalf("allowed once: %q, %d hits", out, rig.hitsFor("once.test"))
		}
		if r := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_ANSWERED, "once.test"); r.Id != p.Id || r.Decision != apiv1.Decision_DECISION_ALLOW_ONCE {
			t.Errorf("resolution %v", r)
		}
		if _, err := rig.answer(p.Id, apiv1.Decision_DECISION_DENY); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("answering a resolved request: %v", err)
		}
		if _, err := rig.answer("apr-0000000000000000", apiv1.Decision_DECISION_DENY); status.Code(err) != codes.NotFound {
			t.Errorf("answering an unknown request: %v", err)
		}
		// Once means once: the next connection is held again.
		f = rig.get(a, "http://once.test/")
		p2 := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "once.test")
		if p2.Id == p.Id {
			t.Fatal("the second connection reused the answered request")
		}
		if _, err := rig.answer(p2.Id, apiv1.Decision_DECISION_DENY); err != nil {
			t.Fatal(err)
		}
		if out := f.result(t); !strings.Contains(out, "status=403") || !strings.Contains(out, "denied by uid 0") || rig.hitsFor("once.test") != 1 {
			t.Fatalf("denied: %q, %d hits", out, rig.hitsFor("once.test"))
		}
		evs := rig.approvalEvents()
		var steps []string
		for _, ev := range evs {
			if ap := ev.GetApproval(); ap.Id == p.Id {
				steps = append(steps, ev.Action.String()+" "+ap.State.String())
				if ev.SandboxId != a.Id || ev.Layer != apiv1.Layer_LAYER_PROXY || ev.PolicyName != "asker" {
					t.Errorf("event %v", ev)
				}
				if ap.State == apiv1.ApprovalState_APPROVAL_STATE_ANSWERED && (ap.AnsweredByUid != 0 || ap.AnsweredBy != "uid 0") {
					t.Errorf("who answered: %v", ap)
				}
			}
		}
		if strings.Join(steps, ",") != "ACTION_LOG APPROVAL_STATE_PENDING,ACTION_ALLOW APPROVAL_STATE_ANSWERED" {
			t.Errorf("events of %s: %v", p.Id, steps)
		}
	})

	t.Run("allow for the sandbox", func(t *testing.T) {
		f := rig.get(a, "http://sandbox.test/")
		p := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "sandbox.test")
		if _, err := rig.answer(p.Id, apiv1.Decision_DECISION_ALLOW_SANDBOX); err != nil {
			t.Fatal(err)
		}
		if out := f.result(t); !strings.Contains(out, "status=200") {
			t.Fatalf("%q", out)
		}
		w.next(t, apiv1.ApprovalState_APPROVAL_STATE_ANSWERED, "sandbox.test")
		// The next connection passes without asking.
		if out := rig.get(a, "http://sandbox.test/").result(t); !strings.Contains(out, "status=200") || rig.hitsFor("sandbox.test") != 2 {
			t.Fatalf("second fetch: %q, %d hits", out, rig.hitsFor("sandbox.test"))
		}
		w.none(t, "sandbox.test")
		rec, err := os.ReadFile(filepath.Join(rig.cfg.StateDir, "sandboxes", a.Id+".json"))
		if err != nil || !strings.Contains(string(rec), `"pattern":"sandbox.test:80"`) || !strings.Contains(string(rec), p.Id) {
			t.Fatalf("the sandbox's record does not keep the approval: %s %v", rec, err)
		}
		// Another sandbox of the same policy is not covered.
		other := rig.create("asker", "30s")
		f = rig.get(other, "http://sandbox.test/")
		p = w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "sandbox.test")
		if p.SandboxId != other.Id {
			t.Fatalf("request %v", p)
		}
		rig.answer(p.Id, apiv1.Decision_DECISION_DENY)
		if out := f.result(t); !strings.Contains(out, "status=403") {
			t.Fatalf("another sandbox: %q", out)
		}
	})

	t.Run("allow for the sandbox survives a restart", func(t *testing.T) {
		rig.stop()
		rig.start()
		w = rig.watch()
		if out := rig.get(a, "http://sandbox.test/").result(t); !strings.Contains(out, "status=200") {
			t.Fatalf("after the restart: %q", out)
		}
		w.none(t, "sandbox.test")
	})

	t.Run("allow permanently", func(t *testing.T) {
		f := rig.get(a, "http://perm.test/")
		p := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "perm.test")
		got, err := rig.answer(p.Id, apiv1.Decision_DECISION_ALLOW_PERMANENT)
		overlay := filepath.Join(rig.cfg.StateDir, "overlays", "0", "asker.hcl")
		if err != nil || got.Overlay != overlay {
			t.Fatalf("answer: %v %v", got, err)
		}
		if out := f.result(t); !strings.Contains(out, "status=200") {
			t.Fatalf("%q", out)
		}
		st, err := os.Lstat(overlay)
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 || fileUID(st) != 0 {
			t.Fatalf("overlay file: %v %v", st, err)
		}
		data, _ := os.ReadFile(overlay)
		res := policy.LoadOverlay(overlay, data)
		if res.Overlay == nil || res.Overlay.Policy != "asker" || !res.Overlay.Allows("perm.test:80") || !strings.Contains(string(data), p.Id+", uid 0") {
			t.Fatalf("overlay:\n%s\n%v", data, res.Diags)
		}
		// The running sandbox passes without asking...
		if out := rig.get(a, "http://perm.test/").result(t); !strings.Contains(out, "status=200") {
			t.Fatalf("same sandbox: %q", out)
		}
		// ...and so does a new sandbox of the policy, whose network policy
		// starts with the overlay's entry.
		b := rig.create("asker", "30s")
		if out := rig.get(b, "http://perm.test/").result(t); !strings.Contains(out, "status=200") {
			t.Fatalf("new sandbox: %q", out)
		}
		w.none(t, "perm.test")
		if n := rig.hitsFor("perm.test"); n != 3 {
			t.Fatalf("%d hits", n)
		}
		ev := rig.waitEvent("the new sandbox's allow by the overlay", func(ev *apiv1.Event) bool {
			return ev.SandboxId == b.Id && ev.Action == apiv1.Action_ACTION_ALLOW && ev.GetNetwork().GetHost() == "perm.test"
		})
		if ev.Rule.GetFile() != overlay || ev.Rule.GetLine() == 0 {
			t.Errorf("the allow names %v, not the overlay", ev.Rule)
		}
		ev = rig.waitEvent("the permanent answer", func(ev *apiv1.Event) bool {
			return ev.GetApproval().GetId() == p.Id && ev.Action == apiv1.Action_ACTION_ALLOW
		})
		if ev.Rule.GetFile() != overlay || ev.GetApproval().Overlay != overlay || ev.GetApproval().Decision != apiv1.Decision_DECISION_ALLOW_PERMANENT {
			t.Errorf("answer event %v", ev)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		c := rig.create("quick", "1s")
		start := time.Now()
		f := rig.get(c, "http://late.test/")
		p := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "late.test")
		r := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_TIMED_OUT, "late.test")
		if r.Id != p.Id || time.Since(start) > 5*time.Second {
			t.Errorf("timed out %v after %v", r, time.Since(start))
		}
		if out := f.result(t); !strings.Contains(out, "status=403") || !strings.Contains(out, "no answer within 1s; denied") {
			t.Fatalf("%q", out)
		}
		if n := rig.hitsFor("late.test"); n != 0 {
			t.Fatalf("the origin was reached %d times", n)
		}
		ev := rig.waitEvent("the timeout", func(ev *apiv1.Event) bool {
			return ev.GetApproval().GetId() == p.Id && ev.GetApproval().State == apiv1.ApprovalState_APPROVAL_STATE_TIMED_OUT
		})
		if ev.Action != apiv1.Action_ACTION_DENY || !strings.Contains(ev.Reason, "no answer within 1s") || ev.SandboxId != c.Id {
			t.Errorf("timeout event %v", ev)
		}
		if _, err := rig.answer(p.Id, apiv1.Decision_DECISION_ALLOW_ONCE); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "no answer") {
			t.Errorf("answering a timed-out request: %v", err)
		}
	})

	t.Run("another user", func(t *testing.T) {
		f := rig.get(a, "http://auth.test/")
		p := w.next(t, apiv1.ApprovalState_APPROVAL_STATE_PENDING, "auth.test")
		out := runAsNobody(t, "PADDOCK_APPROVAL_ANSWER="+p.Id, "PADDOCK_DAEMON_CHILD_SOCKET="+rig.cfg.Socket)
		if !strings.Contains(out, "answer=NotFound") || !strings.Contains(out, "watch=0") {
			t.Fatalf("uid 65534:\n%s", out)
		}
		if _, err := rig.answer(p.Id, apiv1.Decision_DECISION_DENY); err != nil {
			t.Fatalf("root, after: %v", err)
		}
		if out := f.result(t); !strings.Contains(out, "status=403") || rig.hitsFor("auth.test") != 0 {
			t.Fatalf("%q", out)
		}
	})

	if n := gauge(t, rig.d, "paddock_approvals_pending"); n != 0 {
		t.Errorf("%v requests still counted as pending", n)
	}
	// Counted since the restart.
	for outcome, min := range map[string]float64{"requested": 3, "deny": 1, "allow-permanent": 1, "timed-out": 1, "allowed-without-asking": 2} {
		if n := counter(t, rig.d, "paddock_approvals_total", map[string]string{"outcome": outcome}); n < min {
			t.Errorf("paddock_approvals_total{outcome=%q} = %v", outcome, n)
		}
	}
}

func gauge(t *testing.T, d *Daemon, name string) float64 {
	t.Helper()
	mfs, err := d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// runAsNobody runs a copy of the test binary as uid 65534 with env.
func runAsNobody(t *testing.T, env ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.MkdirTemp("", "paddock-daemon-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(bin)
	os.Chmod(bin, 0o755)
	self := filepath.Join(bin, "daemon.test")
	data, err := os.ReadFile(exe)
	if err != nil || os.WriteFile(self, data, 0o755) != nil {
		t.Fatal("copying the test binary:", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out)
}

// approvalAnswerChild tries to answer and watch as whoever runs it.
func approvalAnswerChild(socket, id string) {
	cc, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := apiv1.NewApprovalsClient(cc)
	_, err = c.Answer(ctx, &apiv1.AnswerApprovalRequest{Id: id, Decision: apiv1.Decision_DECISION_ALLOW_ONCE})
	fmt.Printf("answer=%s\n", status.Code(err))
	st, err := c.Watch(ctx, &apiv1.WatchApprovalsRequest{})
	if err != nil {
		fmt.Printf("watch=%s\n", status.Code(err))
		return
	}
	n := 0
	for {
		if _, err := st.Recv(); err != nil {
			break
		}
		n++
	}
	fmt.Printf("watch=%d\n", n)
}
