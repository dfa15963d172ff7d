package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/agentd/landlock"
	"github.com/paddock-sh/paddock/agentd/seccomp"
	compiled "github.com/paddock-sh/paddock/compiler/seccomp"
	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// childEnv makes the test binary act as one of the confined children.
const childEnv = "PADDOCK_AUDIT_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "seccomp":
		seccompChild()
	case "landlock":
		landlockChild(os.Getenv("PADDOCK_AUDIT_TEST_FILE"))
	}
	os.Exit(3)
}

func nativeArch() (uint32, bool) {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64, true
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64, true
	}
	return 0, false
}

// seccompChild loads a filter that fails personality(2) with EPERM, with
// SECCOMP_FILTER_FLAG_LOG as the shim loads its filters, and calls it.
func seccompChild() {
	runtime.LockOSThread()
	native, _ := nativeArch()
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: native, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.LoadAbsolute{Off: 0, Size: 4}, // seccomp_data.nr
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.SYS_PERSONALITY, SkipFalse: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
	})
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	if err := seccomp.Load(compiled.Marshal(prog), seccomp.LogActions); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	_, _, errno := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	fmt.Println("personality:", errno.Error())
	os.Exit(0)
}

// landlockChild confines itself to reading and running what is under the
// system directories, as the shim does (logging the denials of the
// programs it execs), and execs cat on path.
func landlockChild(path string) {
	runtime.LockOSThread()
	fail := func(err error) {
		fmt.Println(err)
		os.Exit(2)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail(err)
	}
	rs, err := landlock.New(landlock.SupportedBy(landlock.ABI()))
	if err != nil {
		fail(err)
	}
	for _, dir := range []string{"/usr", "/bin", "/lib", "/lib64", "/etc"} {
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if err := rs.AllowPath(fd, ll.AccessFSExecute|ll.AccessFSReadFile|ll.AccessFSReadDir, true); err != nil {
			fail(err)
		}
		unix.Close(fd)
	}
	if err := rs.Restrict(true); err != nil {
		fail(err)
	}
	fail(unix.Exec("/bin/cat", []string{"cat", path}, os.Environ()))
}

// TestReaderReportsDenials confines two children, one by seccomp and one
// by Landlock, and checks that the Reader delivers their denials within a
// second of their exit: the seccomp one with the child's pid and the
// syscall, the Landlock one with the blocker, the path of the test's canary
// (which the child must not have read) and the child's pid.
func TestReaderReportsDenials(t *testing.T) {
	kerneltest.Privileged(t)
	native, ok := nativeArch()
	if !ok {
		t.Skipf("no seccomp test filter for %s", runtime.GOARCH)
	}
	if abi := landlock.ABI(); abi < 7 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: Landlock ABI %d has no audit records (7 needed)", abi)
		}
		t.Skipf("Landlock ABI %d has no audit records (7 needed)", abi)
	}
	r, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if r.EnabledAudit() {
			if err := SetEnabled(false); err != nil {
				t.Error(err)
			}
		}
	})

	canary := filepath.Join(t.TempDir(), "canary file")
	secret := "paddock-canary-" + rand.Text()
	if err := os.WriteFile(canary, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	sc := exec.Command(os.Args[0], "-test.run=^$")
	sc.Env = append(os.Environ(), childEnv+"=seccomp")
	out, err := sc.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "personality: operation not permitted") {
		t.Fatalf("seccomp child: %v: %s", err, out)
	}
	seccompPID := uint32(sc.Process.Pid)

	lc := exec.Command(os.Args[0], "-test.run=^$")
	lc.Env = append(os.Environ(), childEnv+"=landlock", "PADDOCK_AUDIT_TEST_FILE="+canary)
	out, err = lc.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "Permission denied") {
		t.Fatalf("landlock child (cat of the canary): %v: %s", err, out)
	}
	if strings.Contains(string(out), secret) {
		t.Fatalf("the Landlock child read the canary: %s", out)
	}
	landlockPID := uint32(lc.Process.Pid)

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var (
		gotSeccomp *Seccomp
		domain     *LandlockDomain
		access     *LandlockAccess
	)
	for gotSeccomp == nil || access == nil {
		rec, err := r.Read(ctx)
		if err != nil {
			t.Fatalf("%v; seccomp record: %v, landlock domain: %v, access: %v; stats %+v", err, gotSeccomp != nil, domain != nil, access != nil, r.Stats())
		}
		switch rec := rec.(type) {
		case *Seccomp:
			if rec.PID == seccompPID {
				gotSeccomp = rec
			}
		case *LandlockDomain:
			if rec.Status == DomainAllocated && rec.Creator.PID == landlockPID {
				domain = rec
			}
		case *LandlockAccess:
			if rec.Path == canary {
				access = rec
			}
		case *Gap:
			t.Logf("gap: %+v", rec)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if gotSeccomp.Syscall.Name != "personality" || gotSeccomp.Syscall.Number != unix.SYS_PERSONALITY ||
		gotSeccomp.Action != ActionErrno || uint32(gotSeccomp.Arch) != native || gotSeccomp.Exe != exe {
		t.Errorf("seccomp record: %+v", gotSeccomp)
	}
	if !slices.Contains(access.Blockers, "fs.read_file") {
		t.Errorf("landlock record blockers %v, want fs.read_file", access.Blockers)
	}
	if domain == nil || access.Domain != domain.ID {
		t.Errorf("landlock record of domain %x, not of the child's domain %+v", access.Domain, domain)
	}
	// Exec keeps the pid: the child created the domain and cat, in the
	// same process, was denied.
	if access.Context {
		if access.PID != landlockPID || access.Comm != "cat" || access.Syscall.Name != "openat" || access.Exit != -int64(unix.EACCES) {
			t.Errorf("landlock record context: %+v", access)
		}
	} else {
		t.Logf("the child had no audit context (a task,never audit rule?): pid known only as the domain's creator")
	}
	st := r.Stats()
	if st.Received != st.Delivered+st.Skipped+st.Malformed || st.Foreign != 0 {
		t.Errorf("stats %+v", st)
	}
	t.Logf("stats %+v", st)
}

func TestStatus(t *testing.T) {
	kerneltest.Privileged(t)
	st, err := GetStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.BacklogLimit == 0 && st.Enabled == 0 && st.Failure == 0 {
		t.Errorf("implausible status %+v", st)
	}
	t.Logf("%+v", st)
}

func TestReadHonoursContextAndClose(t *testing.T) {
	kerneltest.Privileged(t)
	r, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	if r.EnabledAudit() {
		t.Cleanup(func() { SetEnabled(false) })
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := r.Read(ctx); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read did not return after its context was cancelled")
	}
	go func() {
		for {
			if _, err := r.Read(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	r.Close()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Read did not return after Close")
	}
}
