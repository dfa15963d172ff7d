package seccomp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	loader "github.com/paddock-sh/paddock/agentd/seccomp"
	"github.com/paddock-sh/paddock/compiler/syscalls"
	"github.com/paddock-sh/paddock/internal/int80"
)

// The kernel tests run probes in a child process (a re-executed test binary),
// once under the emitted program and once without it, so every expectation
// is also shown to be the filter's doing. Installing a filter with
// no_new_privs needs no privilege, so these tests run for every user.

const childEnv = "PADDOCK_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// probe is one syscall the child makes; the result is its errno (0: success).
type probe struct {
	name string
	call func() unix.Errno
}

func sys(nr uintptr, args ...uintptr) unix.Errno {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return e
}

func number(name string) uintptr {
	native, _ := NativeArch()
	n, ok := syscalls.Number(native.Name, name)
	if !ok {
		panic("no syscall " + name)
	}
	return uintptr(n)
}

func probes() []probe {
	var old unix.Rlimit
	return []probe{
		{"getpid", func() unix.Errno { return sys(unix.SYS_GETPID) }},
		// Not PTRACE_TRACEME: unfiltered, it would succeed and the runtime's
		// signals would stop the child waiting for a tracer that never comes.
		{"ptrace-getregs-parent", func() unix.Errno { return sys(unix.SYS_PTRACE, unix.PTRACE_GETREGS, uintptr(os.Getppid()), 0, 0) }},
		{"io_uring_setup", func() unix.Errno { return sys(number("io_uring_setup"), 1, 0) }},
		{"clone3", func() unix.Errno { return sys(number("clone3"), 0, 0) }},
		{"newer-than-catalogue", func() unix.Errno { return sys(newerNumber(), ^uintptr(0), 0, 0, 0) }},
		{"x32-getpid", func() unix.Errno { return sys(unix.SYS_GETPID | 0x40000000) }},
		{"seccomp-new-listener", func() unix.Errno {
			return sys(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, 0)
		}},
		{"socket-mptcp", func() unix.Errno {
			return closeFd(unix.Syscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP))
		}},
		{"socket-packet-high-bits", func() unix.Errno {
			return closeFd(unix.Syscall(unix.SYS_SOCKET, 0xdead_0000_0000_0000|unix.AF_PACKET, unix.SOCK_DGRAM, 0))
		}},
		{"socket-inet-high-bits", func() unix.Errno {
			return closeFd(unix.Syscall(unix.SYS_SOCKET, 0xdead_0000_0000_0000|unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0))
		}},
		{"prlimit-parent", func() unix.Errno {
			return sys(unix.SYS_PRLIMIT64, uintptr(os.Getppid()), unix.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&old)))
		}},
		{"prlimit-self", func() unix.Errno {
			return sys(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&old)))
		}},
	}
}

func newerNumber() uintptr {
	native, _ := NativeArch()
	return uintptr(syscalls.MaxNumber(native.Name) + 1)
}

func closeFd(fd, _ uintptr, e unix.Errno) unix.Errno {
	if e == 0 {
		unix.Close(int(fd))
	}
	return e
}

func installTestFilter() error {
	native, err := NativeArch()
	if err != nil {
		return err
	}
	f, err := Lower(testSpec(nil), native)
	if err != nil {
		return err
	}
	prog, err := f.Assemble()
	if err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return err
	}
	if err := Verify(prog); err != nil {
		return err
	}
	return loader.Load(Marshal(prog), loader.TSync|loader.LogActions)
}

// child runs in the re-executed binary. Modes: "probes" and "probes-bare"
// print a JSON object of errnos; "i386" and "i386-bare" try to create the
// canary file named by argv through int 0x80.
func child(mode string) int {
	filtered := mode == "probes" || mode == "i386"
	if filtered {
		if err := installTestFilter(); err != nil {
			fmt.Fprintln(os.Stderr, "install:", err)
			return 3
		}
	}
	switch mode {
	case "probes", "probes-bare":
		out := map[string]int{}
		for _, p := range probes() {
			out[p.name] = int(p.call())
		}
		json.NewEncoder(os.Stdout).Encode(out)
		return 0
	case "i386", "i386-bare":
		// The path must live below 4 GiB for the 32-bit ABI to see it.
		buf, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_32BIT)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mmap:", err)
			return 3
		}
		copy(buf, os.Getenv("PADDOCK_CANARY")+"\x00")
		const i386Creat = 8
		r := int80.Syscall3(i386Creat, uintptr(unsafe.Pointer(&buf[0])), 0o644, 0)
		fmt.Printf("creat returned %d\n", int32(r))
		return 0
	}
	return 2
}

func runChild(t *testing.T, mode string, env ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+mode)...)
	cmd.Stderr = os.Stderr
	return cmd.Output()
}

func TestKernelEnforcesEmittedProgram(t *testing.T) {
	results := map[string]map[string]int{}
	for _, mode := range []string{"probes", "probes-bare"} {
		out, err := runChild(t, mode)
		if err != nil {
			t.Fatalf("%s child: %v", mode, err)
		}
		m := map[string]int{}
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("%s child output %q: %v", mode, out, err)
		}
		results[mode] = m
	}
	want := map[string]unix.Errno{
		"getpid":                  0,
		"ptrace-getregs-parent":   unix.EPERM,
		"io_uring_setup":          unix.EPERM,
		"clone3":                  unix.ENOSYS,
		"newer-than-catalogue":    unix.ENOSYS,
		"x32-getpid":              unix.ENOSYS,
		"seccomp-new-listener":    unix.EPERM,
		"socket-mptcp":            unix.EPROTONOSUPPORT,
		"socket-packet-high-bits": unix.EAFNOSUPPORT,
		"socket-inet-high-bits":   0,
		"prlimit-parent":          unix.EPERM,
		"prlimit-self":            0,
	}
	for name, w := range want {
		got, ok := results["probes"][name]
		if !ok {
			t.Errorf("%s: no result", name)
			continue
		}
		bare := unix.Errno(results["probes-bare"][name])
		if unix.Errno(got) != w {
			t.Errorf("%s: filtered errno %v, want %v (unfiltered: %v)", name, unix.Errno(got), w, bare)
		}
		// A denial only counts if the kernel alone would have answered
		// differently; otherwise the probe proves nothing about the filter.
		if w != 0 && bare == w && name != "x32-getpid" {
			t.Errorf("%s: unfiltered run also gives %v; the probe does not exercise the filter", name, bare)
		}
	}
}

// An i386 int 0x80 call must kill the process before it does anything: the
// canary file it tries to create must not exist afterwards. The unfiltered
// run proves the probe would create it.
func TestKernelKillsCompatABI(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the i386 ABI exists only on x86_64")
	}
	dir := t.TempDir()
	bare := filepath.Join(dir, "bare-canary")
	if _, err := runChild(t, "i386-bare", "PADDOCK_CANARY="+bare); err != nil {
		t.Fatalf("unfiltered child: %v", err)
	}
	if _, err := os.Stat(bare); err != nil {
		t.Fatalf("without a filter the i386 creat did not create the canary (%v); the probe is broken", err)
	}
	canary := filepath.Join(dir, "filtered-canary")
	out, err := runChild(t, "i386", "PADDOCK_CANARY="+canary)
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("filtered child was not killed (err %v, output %q)", err, out)
	}
	ws := exit.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Errorf("filtered child ended with %v, want death by SIGSYS", ws)
	}
	if _, err := os.Stat(canary); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the canary exists (%v): the i386 call ran", err)
	}
}
