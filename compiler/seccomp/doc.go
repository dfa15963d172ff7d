// Package seccomp builds, checks and installs the classic-BPF programs that
// confine a sandbox's system calls.
//
// A Filter is the decision table for one architecture: an action for every
// syscall number, optionally guarded by argument checks. Decide states what a
// filter means; Assemble turns it into a program that must mean exactly the
// same thing, and the tests hold the two together with the interpreter in this
// package (Run) over every syscall number and every argument case a filter
// mentions.
//
// The emitted program is shaped for the hot path every syscall of every agent
// pays:
//
//   - the architecture is checked first, and any other architecture (an i386
//     int 0x80 from an x86_64 process, say) gets the filter's BadArch action,
//     never the default one;
//   - on x86_64 a number with the x32 bit set is answered before the search;
//   - the syscall number is found by a balanced binary search over ranges of
//     numbers that share an outcome, so the worst path grows with log2 of the
//     number of rules, not linearly;
//   - argument checks exist only on the paths of syscalls that have them, and
//     every other path uses only the instructions the kernel's seccomp action
//     cache can evaluate ahead of time, so an allowed syscall without argument
//     rules costs the fixed seccomp entry and never runs the program;
//   - int arguments are compared on their low 32 bits, as the kernel reads
//     them, so garbage in the high bits cannot slip past a deny.
package seccomp
