// Package syscalls is the policy compiler's knowledge of Linux system calls:
// the versioned catalogue of named groups a policy can allow or deny
// ("@system-service", "@mount", ...), the syscall numbers of each supported
// architecture, the argument signatures that argument rules refer to, and the
// symbolic constants and errno names that rule values may use.
//
// Syscall numbers come from the tables of github.com/elastic/go-seccomp-bpf
// (package arch). Group membership, signatures and constants are Paddock's own
// data, kept in plain tables: catalogue.go, signatures.go, constants.go.
//
// Names are the kernel's table names for each architecture, so a few differ
// between them: x86_64 has the legacy calls (open, stat, fork, dup2,
// arch_prctl, ...) that aarch64 never had, and the aarch64 table names
// syscall 79 "fstatat" where x86_64 has "newfstatat". Groups list both forms
// wherever both exist; a name that is absent from one architecture simply
// does not resolve there (Number reports false).
package syscalls
