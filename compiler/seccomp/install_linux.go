package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// InstallFlags are SECCOMP_FILTER_FLAG_* bits.
type InstallFlags uint

const (
	// TSync applies the filter to every thread of the process (and with it
	// no_new_privs), so a Go program cannot exec from an unfiltered thread.
	TSync InstallFlags = unix.SECCOMP_FILTER_FLAG_TSYNC
	// LogActions makes the kernel audit every action except allow.
	LogActions InstallFlags = unix.SECCOMP_FILTER_FLAG_LOG
)

// Install loads prog into the kernel for the calling process. The caller
// must already have set no_new_privs (or hold CAP_SYS_ADMIN). It locks the
// goroutine to its thread for the call so the filter and any thread-scoped
// state land on the same thread; with TSync every thread gets it anyway.
func Install(prog []bpf.RawInstruction, flags InstallFlags) error {
	if err := Verify(prog); err != nil {
		return fmt.Errorf("refusing to install a malformed program: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		if flags&TSync != 0 && r > 0 {
			return fmt.Errorf("seccomp: thread %d could not be synchronised", r)
		}
		return fmt.Errorf("seccomp(SET_MODE_FILTER): %w", errno)
	}
	return nil
}
