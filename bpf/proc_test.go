//go:build linux

package bpf

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// startIn starts argv in cgroup dir (placed there by clone3, before the
// child runs anything) and returns it running.
func startIn(t *testing.T, dir string, argv ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// runIn runs argv in cgroup dir and returns its pid.
func runIn(t *testing.T, dir string, argv ...string) int {
	t.Helper()
	cmd := startIn(t, dir, argv...)
	cmd.Wait()
	return cmd.Process.Pid
}

func (e *env) procEvent(hook Hook, pid int) (Event, bool) {
	return e.event(func(ev Event) bool { return ev.Hook == hook && ev.PID == uint32(pid) })
}

func (e *env) procEvents(pid int) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.events {
		if ev.PID == uint32(pid) && (ev.Hook == HookExec || ev.Hook == HookExit) {
			out = append(out, ev)
		}
	}
	return out
}

func TestProcExecExit(t *testing.T) {
	e := newEnv(t, Policy{})
	argv := []string{"/bin/sh", "-c", "exit 7", "paddock-exec-marker", "two words", ""}
	pid := runIn(t, e.sandbox, argv...)

	ev, ok := e.procEvent(HookExec, pid)
	if !ok {
		t.Fatalf("no exec event for pid %d; events: %v", pid, e.procEvents(pid))
	}
	x := ev.Exec
	if x == nil || x.Filename != "/bin/sh" || !slices.Equal(x.Argv, argv) || x.ArgvTruncated || x.FilenameTruncated {
		t.Fatalf("exec event: %+v %+v", ev, x)
	}
	if ev.Cgroup != e.sbID || ev.Comm != "sh" || x.TID != uint32(pid) || x.UID != uint32(os.Getuid()) {
		t.Errorf("exec event's process: cgroup %d (want %d), comm %q, tid %d, uid %d", ev.Cgroup, e.sbID, ev.Comm, x.TID, x.UID)
	}
	comm, _ := os.ReadFile("/proc/self/comm")
	if len(x.Ancestors) == 0 || x.Ancestors[0].PID != uint32(os.Getpid()) || x.Ancestors[0].Comm != strings.TrimSpace(string(comm)) {
		t.Errorf("ancestors %+v do not start at the test (pid %d, %q)", x.Ancestors, os.Getpid(), strings.TrimSpace(string(comm)))
	}
	if len(x.Ancestors) > 4 || (len(x.Ancestors) < 4 && x.AncestorsTruncated) {
		t.Errorf("ancestors %+v, truncated %v", x.Ancestors, x.AncestorsTruncated)
	}

	ev, ok = e.procEvent(HookExit, pid)
	if !ok {
		t.Fatalf("no exit event for pid %d", pid)
	}
	if ev.Exit == nil || ev.Exit.Code != 7 || ev.Exit.Signal != 0 || ev.Cgroup != e.sbID || ev.Comm != "sh" {
		t.Fatalf("exit event: %+v %+v", ev, ev.Exit)
	}
	if n := len(e.procEvents(pid)); n != 2 {
		t.Errorf("%d exec and exit events for pid %d, want 2: %v", n, pid, e.procEvents(pid))
	}
}

func TestProcKilled(t *testing.T) {
	e := newEnv(t, Policy{})
	cmd := startIn(t, e.sandbox, "/bin/sleep", "30")
	pid := cmd.Process.Pid
	if _, ok := e.procEvent(HookExec, pid); !ok {
		t.Fatal("no exec event for sleep")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	ev, ok := e.procEvent(HookExit, pid)
	if !ok {
		t.Fatal("no exit event for the killed sleep")
	}
	if ev.Exit.Signal != int32(syscall.SIGTERM) || ev.Exit.Code != -1 || ev.Exit.CoreDumped {
		t.Fatalf("exit of a process killed by SIGTERM: %+v", ev.Exit)
	}
}

// A Go program has several threads; its exit is one event, with the
// status of the process.
func TestProcExitOncePerProcess(t *testing.T) {
	e := newEnv(t, Policy{})
	pid := runIn(t, e.sandbox, os.Args[0], "-test.run=^$", "-test.count=1", "-test.no-such-flag")
	ev, ok := e.procEvent(HookExit, pid)
	if !ok {
		t.Fatal("no exit event")
	}
	if ev.Exit.Code != 2 {
		t.Errorf("exit status %+v, want 2 (a bad flag)", ev.Exit)
	}
	time.Sleep(2 * PollInterval)
	var exits int
	for _, ev := range e.procEvents(pid) {
		if ev.Hook == HookExit {
			exits++
		}
	}
	if exits != 1 {
		t.Fatalf("%d exit events for one process", exits)
	}
}

func TestProcArgvBounded(t *testing.T) {
	e := newEnv(t, Policy{})
	long := strings.Repeat("a", 1000)
	pid := runIn(t, e.sandbox, "/bin/true", "first", long)
	ev, ok := e.procEvent(HookExec, pid)
	if !ok {
		t.Fatal("no exec event")
	}
	x := ev.Exec
	if !x.ArgvTruncated || len(x.Argv) != 3 || x.Argv[1] != "first" || !strings.HasPrefix(long, x.Argv[2]) ||
		len(strings.Join(x.Argv, "\x00")) != 512 {
		t.Fatalf("argv of a long command line: truncated %v, %d elements, %q", x.ArgvTruncated, len(x.Argv), x.Argv[:min(2, len(x.Argv))])
	}
}

// Processes in no sandbox cgroup, in Paddock's subtree or outside it,
// produce nothing.
func TestProcOutsideSandboxes(t *testing.T) {
	e := newEnv(t, Policy{})
	stranger := runIn(t, e.stranger, "/bin/sh", "-c", "exit 3")
	// The test's own cgroup: a plain exec.Command.
	cmd := exec.Command("/bin/sh", "-c", "exit 4")
	cmd.Run()
	host := cmd.Process.Pid
	// Records are read in the order they were reserved: once a later
	// sandboxed process's exit is read, anything the others emitted
	// would have been read too.
	marker := runIn(t, e.sandbox, "/bin/true")
	if _, ok := e.procEvent(HookExit, marker); !ok {
		t.Fatal("no exit event for the sandboxed marker")
	}
	for _, pid := range []int{stranger, host} {
		if evs := e.procEvents(pid); len(evs) != 0 {
			t.Errorf("pid %d, in no sandbox, produced %v", pid, evs)
		}
	}
}

// The tracepoints are pinned with the other links: with the loader gone
// (Close without Detach, as after kill -9) they keep recording, and a
// restarted loader reads what they recorded meanwhile.
func TestProcPinnedOutlivesTheLoader(t *testing.T) {
	kerneltest.Privileged(t)
	root := kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-proc-test"))
	sandbox := kerneltest.Child(t, root, "sbx")
	pins := kerneltest.PinDir(t)
	h, err := Load(pins)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Attach(root); err != nil {
		h.Close()
		t.Fatal(err)
	}
	cg, err := CgroupID(sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PutSandbox(cg, 1, Policy{DNSPort: 53}); err != nil {
		t.Fatal(err)
	}
	h.Close()

	pid := runIn(t, sandbox, "/bin/sh", "-c", "exit 5")

	h, err = Load(pins)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	rd, err := h.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	rd.SetDeadline(time.Now().Add(2 * time.Second))
	var exec, exit bool
	for !exec || !exit {
		ev, err := rd.Read()
		if err != nil {
			t.Fatalf("exec seen %v, exit seen %v: %v", exec, exit, err)
		}
		if ev.PID != uint32(pid) {
			continue
		}
		exec = exec || ev.Hook == HookExec && ev.Exec.Filename == "/bin/sh"
		exit = exit || ev.Hook == HookExit && ev.Exit.Code == 5
	}
}

// record returns the bytes of a raw record, as the ring buffer holds it.
func record[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

func TestDecodeExit(t *testing.T) {
	for _, tc := range []struct {
		status uint32
		want   Exit
	}{
		{7 << 8, Exit{Code: 7}},
		{0, Exit{Code: 0}},
		{255 << 8, Exit{Code: 255}},
		{uint32(syscall.SIGTERM), Exit{Code: -1, Signal: 15}},
		{uint32(syscall.SIGSEGV) | 0x80, Exit{Code: -1, Signal: 11, CoreDumped: true}},
	} {
		raw := hooksExitEvent{ExitCode: tc.status}
		raw.E.Hook = uint8(HookExit)
		raw.E.Pid = 42
		ev, err := decode(record(&raw))
		if err != nil || ev.Exit == nil || *ev.Exit != tc.want || ev.PID != 42 || ev.Exec != nil {
			t.Errorf("status %#x: %+v %+v %v, want %+v", tc.status, ev, ev.Exit, err, tc.want)
		}
	}
	raw := hooksExitEvent{}
	raw.E.Hook = uint8(HookExit)
	if _, err := decode(record(&raw)[:unsafe.Sizeof(raw.E)]); err == nil {
		t.Error("a short exit record decoded")
	}
}

func TestDecodeExec(t *testing.T) {
	for _, tc := range []struct {
		argv      string
		truncated bool
		want      []string
	}{
		{"sh\x00-c\x00exit 7\x00", false, []string{"sh", "-c", "exit 7"}},
		{"a\x00\x00b\x00", false, []string{"a", "", "b"}},
		{"a\x00\x00", false, []string{"a", ""}},
		{"a\x00bc", true, []string{"a", "bc"}},
		{"a\x00", true, []string{"a", ""}},
		{"", false, nil},
	} {
		var raw hooksExecEvent
		raw.E.Hook = uint8(HookExec)
		for i := range len(tc.argv) {
			raw.Argv[i] = int8(tc.argv[i])
		}
		raw.ArgvLen = uint32(len(tc.argv))
		if tc.truncated {
			raw.ArgvTruncated = 1
		}
		copy(raw.Filename[:], []int8{'/', 'x', 0, 'y'})
		raw.FilenameLen = 2
		raw.Ancestors = 9 // more than the record holds: bounded
		raw.Anc[0].Pid = 1
		ev, err := decode(record(&raw))
		if err != nil || ev.Exec == nil {
			t.Fatalf("%q: %v", tc.argv, err)
		}
		if !slices.Equal(ev.Exec.Argv, tc.want) || ev.Exec.ArgvTruncated != tc.truncated || ev.Exec.Filename != "/x" || len(ev.Exec.Ancestors) != 4 {
			t.Errorf("%q: %+v, want argv %q", tc.argv, ev.Exec, tc.want)
		}
	}
}
