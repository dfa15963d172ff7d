//go:build amd64

// Package int80 makes i386 system calls from an x86_64 process with the
// int 0x80 instruction. It exists so tests can prove a seccomp program kills
// the compat ABI instead of letting it reach the default action.
package int80

// Syscall3 runs i386 syscall nr with three arguments through int 0x80 and
// returns the raw result. Pointers must lie below 4 GiB: the compat ABI only
// sees 32-bit registers.
func Syscall3(nr, a1, a2, a3 uintptr) uintptr
