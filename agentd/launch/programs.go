package launch

import "golang.org/x/net/bpf"

// SocketAllowlist is the program every enforcing launch chains onto the
// policy's own (planNetwork; seccomp.Chain), for callers that reproduce a
// launch's stack of seccomp programs: bench/syscall measures that stack.
func SocketAllowlist() ([]bpf.RawInstruction, error) { return socketAllowlist() }
