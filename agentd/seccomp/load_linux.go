// Package seccomp loads classic-BPF seccomp programs into the kernel. It is
// the runtime half of compiler/seccomp, kept apart so the shim that loads a
// program carries none of the compiler.
package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Flags are SECCOMP_FILTER_FLAG_* bits.
type Flags uint

const (
	// TSync applies the filter to every thread of the process (and with it
	// no_new_privs), so a Go program cannot exec from an unfiltered thread.
	TSync Flags = unix.SECCOMP_FILTER_FLAG_TSYNC
	// LogActions makes the kernel audit every action except allow.
	LogActions Flags = unix.SECCOMP_FILTER_FLAG_LOG
)

// Load installs prog for the calling process. The caller must already have
// set no_new_privs (or hold CAP_SYS_ADMIN), and should have checked prog
// with compiler/seccomp's Verify. It locks the goroutine to its thread for
// the call so the filter and any thread-scoped state land on the same
// thread; with TSync every thread gets it anyway.
func Load(prog []bpf.RawInstruction, flags Flags) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("a seccomp program has 1 to 4096 instructions, not %d", len(prog))
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
