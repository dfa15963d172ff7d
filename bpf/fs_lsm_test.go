//go:build linux

package bpf

import (
	"errors"
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

	"github.com/paddock-sh/paddock/internal/kerneltest"
)

// lsmEnv is the filesystem hooks attached for real: a cgroup subtree, a
// sandbox with file rules, a cgroup below the sandbox and a stranger
// beside it. Tests using it skip where the kernel will not load or attach
// BPF-LSM programs (FileEnforcement says why).
type lsmEnv struct {
	*fsEnv
	root, sbx, below, stranger string

	mu     sync.Mutex
	events []Event
}

const ruleRC = 20

func newLSMEnv(t testing.TB) *lsmEnv {
	e := &lsmEnv{fsEnv: newFSEnv(t)}
	e.root = kerneltest.Cgroup(t, kerneltest.UniqueName("paddock-lsm-test"))
	e.sbx = kerneltest.Child(t, e.root, "sbx")
	e.below = kerneltest.Child(t, e.sbx, "below")
	e.stranger = kerneltest.Child(t, e.root, "stranger")
	if err := e.h.Attach(e.root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.h.Detach() })
	if err := e.h.FileEnforcement(); err != nil {
		if os.Getenv("PADDOCK_REQUIRE_BPF_LSM") == "1" {
			t.Fatalf("PADDOCK_REQUIRE_BPF_LSM=1 and the filesystem hooks are not enforcing: %v", err)
		}
		t.Skipf("the filesystem hooks are not enforcing on this kernel (PADDOCK_REQUIRE_BPF_LSM=1 makes this fail): %v", err)
	}
	cg, err := CgroupID(e.sbx)
	if err != nil {
		t.Fatal(err)
	}
	e.cg = cg
	rd, err := e.h.Events()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	go func() {
		for {
			ev, err := rd.Read()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}
	}()
	return e
}

// sh runs one fsProbe operation in cgroup dir ("": the test's own) and
// returns its report.
func (e *lsmEnv) sh(dir string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PADDOCK_BPF_PROBE=fs "+strings.Join(args, " "))
	cmd.Dir = e.dir
	if dir != "" {
		fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("probe %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (e *lsmEnv) event(f func(Event) bool) (Event, bool) {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		i := slices.IndexFunc(e.events, f)
		var ev Event
		if i >= 0 {
			ev = e.events[i]
		}
		e.mu.Unlock()
		if i >= 0 {
			return ev, true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Event{}, false
}

func TestFileEnforcement(t *testing.T) {
	e := newLSMEnv(t)
	e.baseTree()
	canaries := map[string]string{
		"home/.ssh/id_rsa":    "SSH-CANARY",
		"ws/.env":             "ENV-CANARY",
		"ws/certs/server.pem": "PEM-CANARY",
		"home/.bashrc":        "RC-CANARY",
	}
	for p, c := range canaries {
		e.path(p, c)
	}
	e.path("ws/innocent.txt", "plain")
	rules := append(e.baseRules(), FileRule{Rule: ruleRC, WriteOnly: true, Inodes: []Inode{e.ino("home/.bashrc")},
		Tail: []string{".bashrc"}, Anchor: AnchorParent, Dir: e.ino("home")})
	if err := e.h.PutFileRules(e.cg, rules); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		// Reading the canaries.
		{[]string{"read", "home/.ssh/id_rsa"}, "err EACCES"},
		{[]string{"read", "ws/.env"}, "err EACCES"},
		{[]string{"read", "ws/certs/server.pem"}, "err EACCES"},
		{[]string{"ls", "home/.ssh"}, "err EACCES"},
		// Changing them.
		{[]string{"write", "ws/.env"}, "err EACCES"},
		{[]string{"trunc", "ws/.env"}, "err EACCES"},
		{[]string{"otrunc", "ws/.env"}, "err EACCES"},
		{[]string{"rdtrunc", "ws/.env"}, "err EACCES"},
		{[]string{"unlink", "ws/.env"}, "err EACCES"},
		{[]string{"chmod", "ws/.env"}, "err EACCES"},
		{[]string{"chmod", "home/.ssh/id_rsa"}, "err EACCES"},
		// Names created after the rules.
		{[]string{"create", "ws/.env.local"}, "err EACCES"},
		{[]string{"mkfifo", "ws/.env.fifo"}, "err EACCES"},
		{[]string{"mkdir", "ws/.env.d"}, "err EACCES"},
		{[]string{"symlink", "innocent.txt", "ws/.env.link"}, "err EACCES"},
		{[]string{"create", "home/.ssh/new"}, "err EACCES"},
		// Other names for a denied file.
		{[]string{"rename", "ws/.env", "ws/innocent2.txt"}, "err EACCES"},
		{[]string{"read", "ws/innocent2.txt"}, "err ENOENT"},
		{[]string{"link", "ws/.env", "ws/hardlink"}, "err EACCES"},
		{[]string{"symlink", ".env", "ws/softlink"}, "ok"},
		{[]string{"read", "ws/softlink"}, "err EACCES"},
		{[]string{"procfd", "ws/.env"}, "err EACCES"},
		{[]string{"rename", "ws/innocent.txt", "ws/.env.x"}, "err EACCES"},
		{[]string{"exchange", "ws/innocent.txt", "ws/.env"}, "err EACCES"},
		// Write-only rules: reading is allowed.
		{[]string{"read", "home/.bashrc"}, "ok RC-CANARY"},
		{[]string{"write", "home/.bashrc"}, "err EACCES"},
		{[]string{"read", "ws/.git/hooks/pre-commit"}, "ok #!/bin/sh"},
		{[]string{"create", "ws/.git/hooks/post-checkout"}, "err EACCES"},
		{[]string{"rename", "ws/.git", "ws/git-moved"}, "err EACCES"},
		// Innocent files are untouched.
		{[]string{"read", "ws/innocent.txt"}, "ok plain"},
		{[]string{"write", "home/notes.txt"}, "ok"},
	} {
		got := e.sh(e.sbx, c.args...)
		if got != c.want {
			t.Errorf("in the sandbox, %v: %s, want %s", c.args, got, c.want)
		}
		for p, canary := range canaries {
			if p != "home/.bashrc" && strings.Contains(got, canary) {
				t.Errorf("%v printed the canary %s", c.args, canary)
			}
		}
	}
	for p, c := range canaries {
		if b, err := os.ReadFile(filepath.Join(e.dir, p)); err != nil || string(b) != c {
			t.Errorf("canary %s: %q %v", p, b, err)
		}
	}
	for _, p := range []string{"ws/.env.local", "ws/.env.fifo", "ws/.env.d", "ws/hardlink", "home/.ssh/new", "ws/.git/hooks/post-checkout"} {
		if _, err := os.Lstat(filepath.Join(e.dir, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists: %v", p, err)
		}
	}

	// Below the sandbox's cgroup the rules hold; beside it and outside the
	// subtree they do not.
	if got := e.sh(e.below, "read", "ws/.env"); got != "err EACCES" {
		t.Errorf("below the sandbox: %s", got)
	}
	for _, dir := range []string{e.stranger, ""} {
		if got := e.sh(dir, "read", "ws/.env"); got != "ok ENV-CANARY" {
			t.Errorf("in %q: %s", dir, got)
		}
		if got := e.sh(dir, "read", "home/.ssh/id_rsa"); got != "ok SSH-CANARY" {
			t.Errorf("in %q: %s", dir, got)
		}
	}

	// One event per denial, with the sandbox, the rule and the path.
	pid := func(ev Event) bool { return ev.PID != 0 && ev.Comm != "" && ev.Cgroup == e.cg && ev.Action == Deny }
	for _, want := range []struct {
		hook Hook
		rule uint32
		path string
	}{
		{HookFileOpen, ruleEnv, "ws/.env"},
		{HookFileOpen, ruleSSH, "home/.ssh/id_rsa"},
		{HookMknod, ruleEnv, "ws/.env.local"},
		{HookMkdir, ruleEnv, "ws/.env.d"},
		{HookSymlink, ruleEnv, "ws/.env.link"},
		{HookLink, ruleEnv, "ws/.env"},
		{HookRename, ruleEnv, "ws/.env"},
		{HookRename, ruleHooks, "ws/.git"},
		{HookPathTruncate, ruleEnv, "ws/.env"},
	} {
		path := filepath.Join(e.dir, want.path)
		if _, ok := e.event(func(ev Event) bool {
			return pid(ev) && ev.Hook == want.hook && ev.Rule == want.rule && ev.Path == path
		}); !ok {
			t.Errorf("no %s event for %s (rule %d)", want.hook, path, want.rule)
		}
	}
}

// fsProbe runs in the child, in a cgroup, with the test's directory as its
// working directory.
func fsProbe(args []string) string {
	errno := func(err error) string {
		var en syscall.Errno
		if errors.As(err, &en) {
			return "err " + unix.ErrnoName(en)
		}
		return "err " + err.Error()
	}
	ok := func(err error) string {
		if err != nil {
			return errno(err)
		}
		return "ok"
	}
	readFD := func(fd int) string {
		f := os.NewFile(uintptr(fd), "f")
		defer f.Close()
		b := make([]byte, 256)
		n, err := f.Read(b)
		if err != nil && n == 0 {
			return errno(err)
		}
		return "ok " + string(b[:n])
	}
	openRead := func(p string, flags int) string {
		fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		return readFD(fd)
	}
	switch args[0] {
	case "read":
		return openRead(args[1], unix.O_RDONLY)
	case "ls":
		_, err := os.ReadDir(args[1])
		return ok(err)
	case "write":
		fd, err := unix.Open(args[1], unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		defer unix.Close(fd)
		_, err = unix.Write(fd, []byte("\npwned"))
		return ok(err)
	case "trunc":
		return ok(unix.Truncate(args[1], 0))
	case "otrunc", "rdtrunc":
		mode := unix.O_WRONLY
		if args[0] == "rdtrunc" {
			mode = unix.O_RDONLY
		}
		fd, err := unix.Open(args[1], mode|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return ok(err)
	case "unlink":
		return ok(unix.Unlink(args[1]))
	case "chmod":
		return ok(unix.Chmod(args[1], 0o666))
	case "create":
		fd, err := unix.Open(args[1], unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return ok(err)
	case "mkfifo":
		return ok(unix.Mkfifo(args[1], 0o644))
	case "mkdir":
		return ok(unix.Mkdir(args[1], 0o755))
	case "symlink":
		return ok(unix.Symlink(args[1], args[2]))
	case "link":
		return ok(unix.Link(args[1], args[2]))
	case "rename":
		return ok(unix.Rename(args[1], args[2]))
	case "exchange":
		return ok(unix.Renameat2(unix.AT_FDCWD, args[1], unix.AT_FDCWD, args[2], unix.RENAME_EXCHANGE))
	case "openloop": // openloop N path: the mean time of open+close, in ns
		n, _ := strconv.Atoi(args[1])
		t0 := time.Now()
		for range n {
			fd, err := unix.Open(args[2], unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return errno(err)
			}
			unix.Close(fd)
		}
		return "ok " + strconv.FormatFloat(float64(time.Since(t0).Nanoseconds())/float64(n), 'f', 1, 64)
	case "procfd": // open with O_PATH (no LSM check), then reopen through /proc
		fd, err := unix.Open(args[1], unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		defer unix.Close(fd)
		return openRead("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY)
	}
	return "err unknown fs probe " + args[0]
}
