package seccomp

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Arch is a target architecture of an emitted program.
type Arch struct {
	Name      string // the name the syscall tables use: "x86_64", "aarch64"
	AuditArch uint32 // AUDIT_ARCH_* that seccomp_data.arch carries for native calls
	// X32Bit is __X32_SYSCALL_BIT where the ABI exists (x86_64). Native and
	// x32 calls share AuditArch there, so the number itself must be checked.
	X32Bit uint32
	// Compat is the AUDIT_ARCH_* of the 32-bit ABI the kernel may also accept
	// from this architecture's processes (i386, arm). Filters kill it.
	Compat uint32
}

// The architectures Paddock emits programs for.
var (
	X86_64  = &Arch{Name: "x86_64", AuditArch: unix.AUDIT_ARCH_X86_64, X32Bit: 0x40000000, Compat: unix.AUDIT_ARCH_I386}
	AArch64 = &Arch{Name: "aarch64", AuditArch: unix.AUDIT_ARCH_AARCH64, Compat: unix.AUDIT_ARCH_ARM}
)

// Arches lists every supported architecture, sorted by name.
func Arches() []*Arch { return []*Arch{AArch64, X86_64} }

// ArchByName finds an architecture by its syscall-table name.
func ArchByName(name string) (*Arch, error) {
	for _, a := range Arches() {
		if a.Name == name {
			return a, nil
		}
	}
	return nil, fmt.Errorf("unsupported architecture %q (supported: aarch64, x86_64)", name)
}

// NativeArch is the architecture this binary runs on.
func NativeArch() (*Arch, error) {
	switch runtime.GOARCH {
	case "amd64":
		return X86_64, nil
	case "arm64":
		return AArch64, nil
	}
	return nil, fmt.Errorf("seccomp programs are not built for GOARCH %q", runtime.GOARCH)
}
