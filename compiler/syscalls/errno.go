package syscalls

import (
	"maps"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxErrno is the largest value a seccomp filter may return as an errno
// (the kernel's MAX_ERRNO).
const maxErrno = 4095

// errnoIndex maps every errno name x/sys/unix knows to its number; x86_64 and
// aarch64 share the asm-generic numbering. x/sys names each number once, so
// the common aliases are added by hand.
var errnoIndex = sync.OnceValue(func() map[string]uint16 {
	idx := map[string]uint16{}
	for n := 1; n <= maxErrno; n++ {
		if name := unix.ErrnoName(syscall.Errno(n)); name != "" {
			idx[name] = uint16(n)
		}
	}
	idx["EDEADLOCK"] = uint16(unix.EDEADLK)
	idx["EOPNOTSUPP"] = uint16(unix.EOPNOTSUPP)
	idx["ENOTSUP"] = uint16(unix.ENOTSUP)
	idx["EWOULDBLOCK"] = uint16(unix.EAGAIN)
	return idx
})

// Errno is the number of an errno name ("EPERM" is 1), for the errno a
// denied syscall returns.
func Errno(name string) (uint16, bool) {
	n, ok := errnoIndex()[name]
	return n, ok
}

// ErrnoNames lists every errno name, sorted.
func ErrnoNames() []string {
	return slices.Sorted(maps.Keys(errnoIndex()))
}
