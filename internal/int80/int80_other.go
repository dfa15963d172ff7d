//go:build !amd64

package int80

// Syscall3 has no meaning off x86_64.
func Syscall3(nr, a1, a2, a3 uintptr) uintptr { panic("int 0x80 exists only on x86_64") }
