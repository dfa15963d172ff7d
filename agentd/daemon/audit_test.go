//go:build linux

package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	apiv1 "github.com/paddock-sh/paddock/agentd/api/v1"
	"github.com/paddock-sh/paddock/agentd/audit"
	"github.com/paddock-sh/paddock/agentd/launch"
	"github.com/paddock-sh/paddock/agentd/shim"
	"github.com/paddock-sh/paddock/compiler/bundle"
	"github.com/paddock-sh/paddock/compiler/policy"
	cseccomp "github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// The test binary doubles as paddock-shim (the launcher starts it so) and
// as the workload the shim execs.
const auditWorkloadArg = "paddock-audit-workload"

func init() {
	switch {
	case len(os.Args) > 0 && os.Args[0] == shim.Arg0:
		shim.Main()
	case len(os.Args) > 1 && os.Args[1] == auditWorkloadArg:
		os.Exit(auditWorkload(os.Args[2:]))
	}
}

// auditWorkload runs under the sandbox's Landlock and seccomp layers and
// says what it did, with the time just before each denied call:
// args are perl (or ""), then the files to open.
func auditWorkload(args []string) int {
	errnoOf := func(err error) int {
		var e syscall.Errno
		if errors.As(err, &e) {
			return int(e)
		}
		if err != nil {
			return -1
		}
		return 0
	}
	fmt.Printf("pid %d\n", os.Getpid())
	// clone3 straight, and through glibc's pthread_create, which falls
	// back to clone on ENOSYS.
	_, _, e := unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	fmt.Printf("clone3 %d\n", int(e))
	if perl := args[0]; perl != "" {
		out, err := exec.Command(perl, "-Mthreads", "-e", `threads->create(sub { 1 })->join; print "joined"`).CombinedOutput()
		fmt.Printf("perl %q %d\n", strings.TrimSpace(string(out)), errnoOf(err))
	}
	t := time.Now().UnixNano()
	_, _, e = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 1, 0, 0, 0, 0)
	fmt.Printf("ptrace %d %d\n", t, int(e))
	for _, p := range args[1:] {
		t := time.Now().UnixNano()
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		fmt.Printf("open %d %d %s\n", t, errnoOf(err), p)
	}
	return 0
}

// received is an event and when the subscriber had it.
type received struct {
	ev *apiv1.Event
	at time.Time
}

// TestAuditDenials: a workload started by the real launcher in a sandbox
// made through the API, under the bundle's seccomp and Landlock layers,
// makes a syscall the policy denies and opens two files outside its
// grants. A subscriber has each denial within a second, attributed to the
// sandbox, its policy and bundle, with the process, the object and the
// rule. clone3, which every program answers with ENOSYS so that glibc
// falls back to clone, leaves no event.
func TestAuditDenials(t *testing.T) {
	kerneltest.Privileged(t)
	if st, err := audit.GetStatus(); err == nil && st.Enabled == 0 {
		// Registered before the daemon's cleanup, so it runs after it.
		t.Cleanup(func() { audit.SetEnabled(false) })
	}
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	if td.d.audit.r == nil {
		t.Fatalf("the audit reader did not open: %v", td.d.audit.degraded())
	}
	cc := client(t, td.socket)
	sbx := apiv1.NewSandboxesClient(cc)
	evc := apiv1.NewEventsClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The workspace holds the workload (a copy of this binary); the
	// files it opens lie outside every grant.
	ws, err := os.MkdirTemp("", "paddock-audit-ws-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ws) })
	outside, err := os.MkdirTemp("", "paddock-audit-out-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	for _, d := range []string{ws, outside} {
		os.Chmod(d, 0o755)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(ws, "auditwl")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	notes, key := filepath.Join(outside, "notes.txt"), filepath.Join(outside, "deploy.key")
	for _, p := range []string{notes, key} {
		if err := os.WriteFile(p, []byte("canary\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	perl := ""
	if p, err := exec.LookPath("perl"); err == nil && exec.Command(p, "-Mthreads", "-e", "1").Run() == nil {
		perl = p
	}

	src := []byte(`policy "audit-events" {
  description = "the base policy, and the workspace readable"
  extends     = ["builtin:base"]
}
filesystem {
  read = ["${workspace}"]
}
`)
	res := policy.LoadDetached("audit-events.hcl", src, nil)
	if res.Diags.HasErrors() {
		t.Fatal(res.Diags.Error())
	}
	b, err := policy.Compile(res.Policy)
	if err != nil {
		t.Fatal(err)
	}
	encoded, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	created, err := sbx.Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: encoded}, Name: "audit", Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	if created.BundleHash != b.Checksum || created.PolicyName != "audit-events" {
		t.Fatalf("created: %v", created)
	}

	info, err := evc.Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := evc.Subscribe(ctx, &apiv1.SubscribeRequest{SinceSeq: info.LastSeq, Follow: true,
		Filter: &apiv1.Filter{SandboxIds: []string{created.Id}}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []received
	go func() {
		for {
			ev, err := sub.Recv()
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, received{ev, time.Now()})
			mu.Unlock()
		}
	}()

	// Another test binary (agentd/audit's) may have switched audit off.
	if st, err := audit.GetStatus(); err == nil && st.Enabled == 0 {
		audit.SetEnabled(true)
	}
	stdout, err := os.CreateTemp("", "paddock-audit-out-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var entered int
	l, err := launch.Prepare(launch.Options{
		Bundle: b, Argv: []string{bin, auditWorkloadArg, perl, notes, key}, Workspace: ws, Shim: bin,
		Environ: os.Environ(), Stdin: null, Stdout: stdout, Stderr: stdout,
		// The sandbox exists already: the launch's shim enters it.
		Daemon: &launch.Daemon{Create: func(pid int) (*launch.Sandbox, error) {
			entered = pid
			if _, err := sbx.Enter(ctx, &apiv1.EnterRequest{Id: created.Id, Pid: uint32(pid)}); err != nil {
				return nil, err
			}
			return &launch.Sandbox{ID: created.Id, Cgroup: created.Cgroup, ProxyPort: uint16(created.ProxyPort)}, nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := l.Run()
	out, _ := os.ReadFile(stdout.Name())
	if err != nil || code != 0 {
		t.Fatalf("the workload: status %d, %v\n%s", code, err, out)
	}

	// What the workload did, by its own account, checked against what the
	// test knows.
	var pid int
	var ptraceAt int64
	opened := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		num := func(i int) int64 {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			return n
		}
		switch {
		case len(f) == 2 && f[0] == "pid":
			pid = int(num(1))
		case len(f) == 2 && f[0] == "clone3":
			if unix.Errno(num(1)) != unix.ENOSYS {
				t.Errorf("clone3 answered errno %d, want ENOSYS", num(1))
			}
		case f[0] == "perl":
			if !strings.Contains(sc.Text(), "joined") {
				t.Errorf("a glibc thread under the filters: %s", sc.Text())
			}
		case len(f) == 3 && f[0] == "ptrace":
			ptraceAt = num(1)
			if unix.Errno(num(2)) != unix.EPERM {
				t.Errorf("ptrace answered errno %d, want EPERM", num(2))
			}
		case len(f) == 4 && f[0] == "open":
			opened[f[3]] = num(1)
			if unix.Errno(num(2)) != unix.EACCES {
				t.Errorf("opening %s: errno %d, want EACCES", f[3], num(2))
			}
		}
	}
	if pid == 0 || pid != entered {
		t.Fatalf("the workload says it is pid %d; the launcher started pid %d\n%s", pid, entered, out)
	}
	if ptraceAt == 0 || len(opened) != 2 {
		t.Fatalf("the workload did not get through its steps:\n%s", out)
	}
	if perl == "" {
		t.Log("perl with threads is not installed: clone3 is checked by a direct call only")
	}

	// Each denial within a second of the call.
	find := func(match func(*apiv1.Event) bool, at int64) *apiv1.Event {
		t.Helper()
		deadline := time.Unix(0, at).Add(time.Second)
		for {
			mu.Lock()
			for _, r := range got {
				if match(r.ev) {
					mu.Unlock()
					if r.at.After(deadline) {
						t.Errorf("an event came %v after the call", r.at.Sub(time.Unix(0, at)))
					}
					return r.ev
				}
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	common := func(what string, ev *apiv1.Event, layer apiv1.Layer) {
		t.Helper()
		if ev.SandboxId != created.Id || ev.PolicyName != "audit-events" || ev.BundleHash != b.Checksum || !ev.Enforced ||
			ev.Layer != layer || ev.Action != apiv1.Action_ACTION_DENY {
			t.Errorf("%s: %v", what, ev)
		}
		if p := ev.GetProcess(); p.GetPid() != uint32(entered) || p.GetComm() != "auditwl" || p.GetCgroupId() != created.CgroupId {
			t.Errorf("%s: process %v, want pid %d, comm auditwl, cgroup %d", what, p, entered, created.CgroupId)
		}
	}

	ev := find(func(ev *apiv1.Event) bool { return ev.GetSyscall().GetName() == "ptrace" }, ptraceAt)
	if ev == nil {
		for _, e := range readAll(t, evc, info.LastSeq) {
			t.Logf("in the log: %v", e)
		}
		t.Fatalf("no ptrace event of the sandbox within a second")
	}
	common("ptrace", ev, apiv1.Layer_LAYER_SECCOMP)
	native, _ := cseccomp.NativeArch()
	nr, _ := syscalls.Number(native.Name, "ptrace")
	if s := ev.GetSyscall(); s.Nr != uint32(nr) || s.Arch != native.Name || s.Errno != int32(unix.EPERM) {
		t.Errorf("ptrace: syscall %v", s)
	}
	if !strings.Contains(ev.GetRule().GetField(), "syscalls.deny") {
		t.Errorf("ptrace: rule %v, want the deny rule that names it (%s)", ev.GetRule(), ev.Reason)
	}

	ev = find(func(ev *apiv1.Event) bool { return ev.GetFile().GetPath() == notes }, opened[notes])
	if ev == nil {
		t.Fatalf("no event for %s within a second; got %v", notes, snapshot(&mu, got))
	}
	common(notes, ev, apiv1.Layer_LAYER_LANDLOCK)
	if f := ev.GetFile(); f.Operation != "open" || !slices.Contains(f.Access, "fs.read_file") {
		t.Errorf("%s: %v", notes, f)
	}
	if ev.GetRule() != nil || !strings.Contains(ev.Reason, "default") {
		t.Errorf("%s: no rule grants it, so the default decided; got rule %v, %q", notes, ev.GetRule(), ev.Reason)
	}

	ev = find(func(ev *apiv1.Event) bool { return ev.GetFile().GetPath() == key }, opened[key])
	if ev == nil {
		t.Fatalf("no event for %s within a second; got %v", key, snapshot(&mu, got))
	}
	common(key, ev, apiv1.Layer_LAYER_LANDLOCK)
	if r := ev.GetRule().GetField(); !strings.Contains(r, "filesystem.deny") {
		t.Errorf("%s: rule %q, want the deny rule matching *.key (%s)", key, r, ev.Reason)
	}

	// Whatever else came, clone3 did not (the Landlock events, delivered
	// last, are past it; a little longer for stragglers).
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, r := range got {
		if s := r.ev.GetSyscall(); s != nil && (s.Name == "clone3" || r.ev.Action == apiv1.Action_ACTION_DENY && s.Name != "ptrace") {
			t.Errorf("a seccomp event besides ptrace's: %v", r.ev)
		}
	}
}

func snapshot(mu *sync.Mutex, got []received) []*apiv1.Event {
	mu.Lock()
	defer mu.Unlock()
	var out []*apiv1.Event
	for _, r := range got {
		out = append(out, r.ev)
	}
	return out
}

// TestAuditAttribution feeds records to a reader of its own: a process in
// the sandbox is found by its cgroup, and after it is gone by what was
// learnt while it lived; a process never seen is reported unattributed;
// one outside agentd's cgroups is not reported; gaps reach the log with
// their count and the metrics.
func TestAuditAttribution(t *testing.T) {
	kerneltest.Privileged(t)
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	cc := client(t, td.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created, err := apiv1.NewSandboxesClient(cc).Create(ctx, &apiv1.CreateSandboxRequest{Policy: &apiv1.CreateSandboxRequest_Bundle{Bundle: testBundle(t)}})
	if err != nil {
		t.Fatal(err)
	}
	evc := apiv1.NewEventsClient(cc)
	info, err := evc.Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(filepath.Join(td.d.cgroup2, created.Cgroup), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	inside := sleeper(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd})
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}

	native, _ := cseccomp.NativeArch()
	nr, _ := syscalls.Number(native.Name, "ptrace")
	rec := func(pid int, comm string) *audit.Seccomp {
		return &audit.Seccomp{Stamp: audit.Stamp{Time: time.Now()}, Task: audit.Task{PID: uint32(pid), Comm: comm},
			Arch: audit.Arch(native.AuditArch), Syscall: audit.Syscall{Number: nr, Name: "ptrace"}, Code: 0x50000, Action: audit.ActionErrno}
	}
	a := newAuditReader(td.d)
	handle := func(r audit.Record) {
		a.hmu.Lock()
		defer a.hmu.Unlock()
		a.handle(r)
	}
	handle(rec(inside.Process.Pid, "alive"))
	inside.Process.Kill()
	inside.Wait()
	handle(rec(inside.Process.Pid, "dead"))
	handle(rec(gone.Process.Pid, "never"))
	handle(rec(os.Getpid(), "outside"))
	handle(&audit.Gap{Stamp: audit.Stamp{Time: time.Now()}, Cause: audit.GapMissing, Count: 7, First: 100, Last: 106})
	a.wg.Wait() // the record of the process never seen waits for the hooks' word first

	var evs []*apiv1.Event
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if evs = readAll(t, evc, info.LastSeq); len(evs) >= 4 {
			break
		}
	}
	byComm := map[string]*apiv1.Event{}
	var gap *apiv1.Gap
	for _, ev := range evs {
		if g := ev.GetGap(); g != nil && strings.HasPrefix(g.Cause, "audit:") {
			gap = g
		}
		if ev.GetSyscall() != nil {
			byComm[ev.GetProcess().GetComm()] = ev
		}
	}
	for _, comm := range []string{"alive", "dead"} {
		ev := byComm[comm]
		if ev == nil || ev.SandboxId != created.Id || ev.BundleHash != created.BundleHash || ev.GetRule() == nil || ev.GetSyscall().Errno != int32(unix.EPERM) {
			t.Errorf("%s process: %v", comm, ev)
		}
	}
	if ev := byComm["never"]; ev == nil || ev.SandboxId != "" || !strings.Contains(ev.Reason, "attribution failed") || !ev.Enforced {
		t.Errorf("a process never seen: %v", ev)
	}
	if ev := byComm["outside"]; ev != nil {
		t.Errorf("a process outside agentd's cgroups: %v", ev)
	}
	if gap == nil || gap.Count != 7 {
		t.Errorf("the audit gap: %v (events %v)", gap, evs)
	}
	if n := lostMetric(t, td.d, "audit"); n != 7 {
		t.Errorf("lost audit records in the metrics: %v", n)
	}
}

func lostMetric(t *testing.T, d *Daemon, where string) float64 {
	mfs, err := d.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "paddock_events_lost_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "where" && l.GetValue() == where {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// TestAuditUnavailable: without the audit reader the daemon runs and Info
// says which denials go unreported, and why.
func TestAuditUnavailable(t *testing.T) {
	kerneltest.Privileged(t)
	openAudit = func() (*audit.Reader, error) { return nil, errors.New("no CAP_AUDIT_READ") }
	defer func() { openAudit = audit.Open }()
	td := startDaemon(t, t.TempDir(), kerneltest.PinDir(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := apiv1.NewEventsClient(client(t, td.socket)).Info(ctx, &apiv1.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var layers []apiv1.Layer
	for _, d := range info.Degraded {
		if strings.Contains(d.Reason, "not reported") && strings.Contains(d.Reason, "no CAP_AUDIT_READ") {
			layers = append(layers, d.Layer)
		}
	}
	if !slices.Contains(layers, apiv1.Layer_LAYER_SECCOMP) || !slices.Contains(layers, apiv1.Layer_LAYER_LANDLOCK) {
		t.Errorf("degraded: %v", info.Degraded)
	}
}
