// Package seccomp loads classic-BPF seccomp programs into the kernel. It is
// the runtime half of compiler/seccomp, kept apart so the shim that loads a
// program carries none of the compiler.
package seccomp

import (
	"fmt"
	"runtime"
	"unsafe"

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

// Load installs filter, a program as the kernel's struct sock_filter
// array (what compiler/seccomp's Marshal returns), for the calling process.
// The caller must already have set no_new_privs (or hold CAP_SYS_ADMIN),
// and should have checked the program with compiler/seccomp's Verify. It
// locks the goroutine to its thread for the call so the filter and any
// thread-scoped state land on the same thread; with TSync every thread
// gets it anyway.
func Load(filter []byte, flags Flags) error {
	if n := len(filter); n%8 != 0 || n == 0 || n > 8*4096 {
		return fmt.Errorf("a seccomp program is 1 to 4096 instructions of 8 bytes, not %d bytes", n)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The kernel copies the array in; its layout is the bytes'.
	fprog := unix.SockFprog{Len: uint16(len(filter) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		if flags&TSync != 0 && r > 0 {
			return fmt.Errorf("seccomp: thread %d could not be synchronised", r)
		}
		return fmt.Errorf("seccomp(SET_MODE_FILTER): %w", errno)
	}
	return nil
}
