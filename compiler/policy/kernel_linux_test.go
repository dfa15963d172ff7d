package policy

import (
	"context"
	"encoding/json"
	"fmt"
	seccompload "github.com/paddock-sh/paddock/agentd/seccomp"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/paddock-sh/paddock/compiler/seccomp"
)

// The shipped default policy, compiled and loaded into the real kernel:
// a child process installs the bundle's program for this architecture and
// tries what the policy forbids. Each probe also runs without the program,
// to show the kernel alone would have let it through.

const childEnv = "PADDOCK_POLICY_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(kernelChild(mode, os.Getenv("PADDOCK_CANARY")))
	}
	os.Exit(m.Run())
}

func kernelChild(mode, canary string) int {
	if mode == "filtered" {
		if err := installDefault(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
	}
	path, _ := unix.BytePtrFromString(canary)
	sys := func(nr uintptr, a ...uintptr) int {
		var v [6]uintptr
		copy(v[:], a)
		r, _, e := unix.Syscall6(nr, v[0], v[1], v[2], v[3], v[4], v[5])
		if e == 0 && (nr == unix.SYS_SOCKET || nr == unix.SYS_OPENAT) {
			unix.Close(int(r))
		}
		return int(e)
	}
	out := map[string]int{
		"chmod-canary":   sys(unix.SYS_FCHMODAT, atFdcwd, uintptr(unsafe.Pointer(path)), 0o666),
		"packet-socket":  sys(unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_RAW, 0),
		"ping-socket":    sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP),
		"vsock":          sys(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM, 0),
		"unshare-userns": sys(unix.SYS_UNSHARE, unix.CLONE_NEWUSER),
		"tiocsti":        sys(unix.SYS_IOCTL, 0, unix.TIOCSTI, 0),
		"io_uring":       sys(unix.SYS_IO_URING_SETUP, 1, 0),
		"bpf":            sys(unix.SYS_BPF, ^uintptr(0), 0, 0),
		"tcp-socket":     sys(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0),
		"open-etc":       sys(unix.SYS_OPENAT, atFdcwd, uintptr(unsafe.Pointer(mustBytes("/etc/hostname"))), unix.O_RDONLY),
	}
	json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

// atFdcwd is AT_FDCWD (-100) as the kernel reads the int argument.
var atFdcwd = func() uintptr { fd := int32(unix.AT_FDCWD); return uintptr(uint32(fd)) }()

func mustBytes(s string) *byte {
	b, _ := unix.BytePtrFromString(s)
	return b
}

func installDefault() error {
	res := LoadBuiltin("default", nil)
	if res.Policy == nil {
		return fmt.Errorf("%s", res.Diags.Error())
	}
	b, err := Compile(res.Policy)
	if err != nil {
		return err
	}
	arch, err := seccomp.NativeArch()
	if err != nil {
		return err
	}
	prog, ok := b.Syscalls.ProgramFor(arch.Name)
	if !ok {
		return fmt.Errorf("no program for %s", arch.Name)
	}
	insns, err := prog.Instructions()
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := seccomp.Verify(insns); err != nil {
		return err
	}
	return seccompload.Load(seccomp.Marshal(insns), seccompload.TSync|seccompload.LogActions)
}

func TestDefaultBundleInKernel(t *testing.T) {
	dir := t.TempDir()
	results := map[string]map[string]int{}
	canaries := map[string]string{}
	for _, mode := range []string{"filtered", "bare"} {
		canary := filepath.Join(dir, mode+"-canary")
		if err := os.WriteFile(canary, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		canaries[mode] = canary
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+mode, "PADDOCK_CANARY="+canary)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		cancel()
		if err != nil {
			t.Fatalf("%s child: %v", mode, err)
		}
		m := map[string]int{}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s child said %q: %v", mode, out, err)
		}
		results[mode] = m
	}

	// The canary: its mode must be what the test set, not what the child asked.
	if fi, err := os.Stat(canaries["filtered"]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the filtered child changed the canary's mode to %v (%v)", fi.Mode().Perm(), err)
	}
	if fi, _ := os.Stat(canaries["bare"]); fi.Mode().Perm() != 0o666 {
		t.Errorf("without the filter the chmod probe did not work (mode %v); the probe proves nothing", fi.Mode().Perm())
	}

	want := map[string]unix.Errno{
		"chmod-canary":   unix.EPERM,
		"packet-socket":  unix.EAFNOSUPPORT,
		"ping-socket":    unix.EPROTONOSUPPORT,
		"vsock":          unix.EAFNOSUPPORT,
		"unshare-userns": unix.EPERM,
		"tiocsti":        unix.EPERM,
		"io_uring":       unix.EPERM,
		"bpf":            unix.EPERM,
		"tcp-socket":     0,
		"open-etc":       0,
	}
	for name, w := range want {
		got := unix.Errno(results["filtered"][name])
		bare := unix.Errno(results["bare"][name])
		if got != w {
			t.Errorf("%s: errno %v under the default policy, want %v (without it: %v)", name, got, w, bare)
		}
		if w != 0 && bare == w {
			t.Errorf("%s: the kernel alone answers %v; the probe does not show the filter's effect", name, bare)
		}
	}
}
