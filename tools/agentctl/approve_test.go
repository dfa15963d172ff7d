package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
)

// fakeApprovals is an Approvals server with two pending requests, one
// resolved, and a record of the answers it got.
type fakeApprovals struct {
	apiv1.UnimplementedApprovalsServer
	mu      sync.Mutex
	pending []*apiv1.Approval
	answers []string
	updates chan *apiv1.Approval // resolutions, for a following watcher
}

func pendingApproval(id, host string, port uint32) *apiv1.Approval {
	now := time.Now()
	return &apiv1.Approval{Id: id, State: apiv1.ApprovalState_APPROVAL_STATE_PENDING, SandboxId: "sbx-1", SandboxName: "dev", PolicyName: "agent",
		SandboxOwnerUid: 1000, Host: host, Port: port, Op: "connect-tunnel",
		Process: &apiv1.Process{Pid: 42, Comm: "curl\x1b[2J", Exe: "/usr/bin/curl"},
		Created: timestamppb.New(now), Deadline: timestamppb.New(now.Add(30 * time.Second))}
}

func (f *fakeApprovals) Watch(req *apiv1.WatchApprovalsRequest, st grpc.ServerStreamingServer[apiv1.Approval]) error {
	f.mu.Lock()
	list := append([]*apiv1.Approval(nil), f.pending...)
	f.mu.Unlock()
	for _, a := range list {
		if len(req.SandboxIds) > 0 && a.SandboxId != req.SandboxIds[0] {
			continue
		}
		if err := st.Send(a); err != nil {
			return err
		}
	}
	if !req.Follow {
		return nil
	}
	for {
		select {
		case a := <-f.updates:
			if err := st.Send(a); err != nil {
				return err
			}
		case <-st.Context().Done():
			return nil
		}
	}
}

func (f *fakeApprovals) Answer(_ context.Context, req *apiv1.AnswerApprovalRequest) (*apiv1.AnswerApprovalResponse, error) {
	if err := req.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, req.Id+" "+req.Decision.String())
	if req.Id == "apr-done" {
		return nil, status.Error(codes.FailedPrecondition, "approval apr-done is already resolved: no answer within 30s; denied")
	}
	for i, a := range f.pending {
		if a.Id == req.Id {
			r := proto.Clone(a).(*apiv1.Approval)
			r.State, r.Decision, r.AnsweredBy = apiv1.ApprovalState_APPROVAL_STATE_ANSWERED, req.Decision, "uid 1000"
			if req.Decision == apiv1.Decision_DECISION_ALLOW_PERMANENT {
				r.Overlay = "/var/lib/paddock/overlays/1000/agent.hcl"
			}
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			select {
			case f.updates <- proto.Clone(r).(*apiv1.Approval):
			default:
			}
			return &apiv1.AnswerApprovalResponse{Approval: r}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no pending approval %q", req.Id)
}

func startFakeApprovals(t *testing.T) (*fakeApprovals, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agentd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeApprovals{updates: make(chan *apiv1.Approval, 16), pending: []*apiv1.Approval{pendingApproval("apr-1", "api.example.com", 443), pendingApproval("apr-2", "2001:db8::1", 8443)}}
	srv := grpc.NewServer()
	apiv1.RegisterApprovalsServer(srv, f)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return f, sock
}

func agentctl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestApproveList(t *testing.T) {
	_, sock := startFakeApprovals(t)
	code, out, errs := agentctl("approve", "--list", "--socket", sock)
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("%d %q %q", code, out, errs)
	}
	for _, want := range []string{"apr-1  pending  api.example.com:443  connect-tunnel  sandbox sbx-1 (dev)  policy agent  curl[2J[42] /usr/bin/curl  30s left",
		"[2001:db8::1]:8443"} {
		if !strings.Contains(out, want) {
			t.Errorf("the list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("a control character from agentd reached the terminal")
	}
	code, out, _ = agentctl("approve", "--list", "--json", "--sandbox-id", "sbx-1", "--socket", sock)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first struct{ Id, Host, State string }
	if code != 0 || len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Id != "apr-1" || first.State != "APPROVAL_STATE_PENDING" {
		t.Fatalf("%d %s", code, out)
	}
	if code, out, _ := agentctl("approve", "--list", "--sandbox-id", "sbx-other", "--socket", sock); code != 0 || out != "" {
		t.Fatalf("another sandbox: %d %q", code, out)
	}
}

func TestApproveAnswer(t *testing.T) {
	f, sock := startFakeApprovals(t)
	code, out, errs := agentctl("approve", "apr-1", "--once", "--socket", sock)
	if code != 0 || !strings.Contains(out, "apr-1  allow once  api.example.com:443  sandbox sbx-1 (dev)  by uid 1000") {
		t.Fatalf("%d %q %q", code, out, errs)
	}
	code, out, _ = agentctl("approve", "--socket", sock, "--permanent", "--json", "apr-2")
	if code != 0 || !strings.Contains(out, `"overlay":"/var/lib/paddock/overlays/1000/agent.hcl"`) {
		t.Fatalf("%d %q", code, out)
	}
	if code, _, errs := agentctl("approve", "apr-1", "--deny", "--socket", sock); code != exitNoRequest || !strings.Contains(errs, "no pending approval") {
		t.Fatalf("answered twice: %d %q", code, errs)
	}
	if code, _, errs := agentctl("approve", "apr-done", "--sandbox", "--socket", sock); code != exitResolved || !strings.Contains(errs, "already resolved") {
		t.Fatalf("resolved: %d %q", code, errs)
	}
	want := "apr-1 DECISION_ALLOW_ONCE,apr-2 DECISION_ALLOW_PERMANENT,apr-1 DECISION_DENY,apr-done DECISION_ALLOW_SANDBOX"
	if got := strings.Join(f.answers, ","); got != want {
		t.Fatalf("answers %s", got)
	}
}

func TestApproveUsage(t *testing.T) {
	_, sock := startFakeApprovals(t)
	for _, args := range [][]string{
		{"apr-1"},                     // no decision
		{"--once"},                    // no id
		{"apr-1", "--once", "--deny"}, // two decisions
		{"apr-1", "apr-2", "--once"},  // two ids
		{"--list", "--follow"},        // two modes
		{"--list", "apr-1"},           // a mode and an id
		{},                            // interactive, but not on a terminal
		{"--bogus"},
	} {
		if code, _, errs := agentctl(append([]string{"approve", "--socket", sock}, args...)...); code != exitUsage || errs == "" {
			t.Errorf("%q: exit %d, %q", args, code, errs)
		}
	}
	if code, out, _ := agentctl("help", "approve"); code != 0 || !strings.Contains(out, "--permanent") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, _, errs := agentctl("approve", "--list", "--socket", filepath.Join(t.TempDir(), "none.sock")); code != 1 || !strings.Contains(errs, "not running") {
		t.Fatalf("no agentd: %d %q", code, errs)
	}
}

// TestApproveUI: the interactive view keeps the pending requests in
// order, clears resolved ones, maps keys to answers, and prints nothing
// that could drive the terminal from agentd's text.
func TestApproveUI(t *testing.T) {
	u := &approveUI{}
	a1, a2 := pendingApproval("apr-1", "one.example", 443), pendingApproval("apr-2", "two.example", 80)
	a2.Created = timestamppb.New(a1.Created.AsTime().Add(time.Second))
	u.update(a2)
	u.update(a1)
	u.update(a1)
	if len(u.pending) != 2 || u.pending[0].Id != "apr-1" {
		t.Fatalf("%v", u.pending)
	}
	screen := u.render(a1.Created.AsTime().Add(25 * time.Second))
	for _, want := range []string{"2 requests waiting", "> one.example:443  connect-tunnel  5s left  apr-1", "sandbox sbx-1 (dev)  policy agent  uid 1000  curl[2J[42] /usr/bin/curl"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Count(screen, "\x1b") != 2 { // the clear-screen only, without colour
		t.Errorf("escapes on the screen:\n%q", screen)
	}
	u.sel = 1
	done := proto.Clone(a2).(*apiv1.Approval)
	done.State = apiv1.ApprovalState_APPROVAL_STATE_TIMED_OUT
	u.update(done)
	if len(u.pending) != 1 || u.sel != 0 || !strings.Contains(u.status, "apr-2  timed out  two.example:80") {
		t.Fatalf("after a timeout: %v sel %d status %q", u.pending, u.sel, u.status)
	}
	for key, want := range map[string]apiv1.Decision{"d": apiv1.Decision_DECISION_DENY, "o": apiv1.Decision_DECISION_ALLOW_ONCE,
		"s": apiv1.Decision_DECISION_ALLOW_SANDBOX, "p": apiv1.Decision_DECISION_ALLOW_PERMANENT} {
		if act, dec := parseKey([]byte(key)); act != keyAnswer || dec != want {
			t.Errorf("key %q: %v %v", key, act, dec)
		}
	}
	for key, want := range map[string]keyAction{"\x1b[A": keyUp, "j": keyDown, "q": keyQuit, "\x03": keyQuit, "y": keyYes, "n": keyNo, "x": keyNone} {
		if act, _ := parseKey([]byte(key)); act != want {
			t.Errorf("key %q: %v", key, act)
		}
	}
	u.confirm = u.selected()
	if screen := u.render(time.Now()); !strings.Contains(screen, "Allow one.example:443 permanently for policy agent") {
		t.Errorf("no confirmation asked:\n%s", screen)
	}
}

// TestApproveInteractive drives the interactive view through a
// pseudo-terminal: it shows the requests, answers the selected one with
// a key, asks before allowing permanently, and quits on q.
func TestApproveInteractive(t *testing.T) {
	f, sock := startFakeApprovals(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skip("no pseudo-terminal:", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	waitScreen := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			s := screen.String()
			mu.Unlock()
			// The last frame: what follows the last clear-screen.
			if i := strings.LastIndex(s, "\x1b[2J"); i >= 0 && strings.Contains(s[i:], want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %q:\n%q", want, s)
			}
		}
	}
	stdin := os.Stdin
	os.Stdin = tty
	defer func() { os.Stdin = stdin }()
	t.Setenv("NO_COLOR", "1")
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() { done <- run([]string{"approve", "--socket", sock}, tty, &errb) }()
	waitScreen("2 requests waiting")
	waitScreen("> api.example.com:443")
	ptmx.Write([]byte("o"))
	waitScreen("apr-1  allow once  api.example.com:443")
	waitScreen("1 request waiting")
	ptmx.Write([]byte("p"))
	waitScreen("Allow [2001:db8::1]:8443 permanently for policy agent")
	ptmx.Write([]byte("n"))
	waitScreen("not allowed permanently; still waiting")
	ptmx.Write([]byte("p"))
	waitScreen("permanently for policy agent")
	ptmx.Write([]byte("y"))
	waitScreen("written to /var/lib/paddock/overlays/1000/agent.hcl")
	waitScreen("no request waiting")
	ptmx.Write([]byte("q"))
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("q did not quit")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := strings.Join(f.answers, ","); got != "apr-1 DECISION_ALLOW_ONCE,apr-2 DECISION_ALLOW_PERMANENT" {
		t.Fatalf("answers %s", got)
	}
}

func TestApprovalEventLine(t *testing.T) {
	a := pendingApproval("apr-1", "api.example.com", 443)
	a.State, a.Decision, a.AnsweredBy = apiv1.ApprovalState_APPROVAL_STATE_ANSWERED, apiv1.Decision_DECISION_ALLOW_SANDBOX, "uid 1000"
	ev := &apiv1.Event{Seq: 7, Time: timestamppb.Now(), SandboxId: "sbx-1", Layer: apiv1.Layer_LAYER_PROXY, Action: apiv1.Action_ACTION_ALLOW,
		Object: &apiv1.Event_Approval{Approval: a}}
	if line := eventLine(ev, false); !strings.Contains(line, "proxy allow approval apr-1 allow sandbox api.example.com:443 by uid 1000") {
		t.Fatalf("%q", line)
	}
}
