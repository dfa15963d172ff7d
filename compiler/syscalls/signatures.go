package syscalls

import (
	"github.com/paddock-sh/paddock/compiler/suggest"

	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Arg is one argument of a syscall, as an argument rule names it.
//
// Bits is the width the kernel acts on. It is 32 for arguments the kernel
// reads as int, unsigned int, pid_t, uid_t and narrower types (umode_t is 16
// bits: rules on a mode should use a mask such as S_IFMT), and for the few
// unsigned long arguments whose high word the kernel cuts off or never acts
// on (clone's flags; mmap's fd, prot and flags; mprotect's prot). A 32-bit
// argument must be compared on its low word only: the kernel ignores the high
// word, so garbage there must not dodge a rule. Bits is 64 for longs,
// pointers and sizes that the kernel uses whole.
type Arg struct {
	Name string
	Bits int
}

// signatures follow the kernel's SYSCALL_DEFINE declarations, with the
// argument names of the man pages where those are clearer.
var signatures = map[string][]Arg{
	"accept4": {{"sockfd", 32}, {"addr", 64}, {"addrlen", 64}, {"flags", 32}},
	"bind":    {{"sockfd", 32}, {"addr", 64}, {"addrlen", 32}},
	"bpf":     {{"cmd", 32}, {"attr", 64}, {"size", 32}},
	"capset":  {{"hdrp", 64}, {"datap", 64}},
	"chmod":   {{"pathname", 64}, {"mode", 32}},
	"chown":   {{"pathname", 64}, {"owner", 32}, {"group", 32}},
	// clone's flags are unsigned long, but the kernel keeps only their low
	// word. Its arguments after parent_tid differ by architecture: x86_64
	// passes child_tid then tls, aarch64 (CLONE_BACKWARDS) tls then
	// child_tid, so only the first three are named and flags is the one
	// worth a rule; arg3 and arg4 still reach the others, per architecture.
	"clone":       {{"flags", 32}, {"stack", 64}, {"parent_tid", 64}},
	"connect":     {{"sockfd", 32}, {"addr", 64}, {"addrlen", 32}},
	"execveat":    {{"dirfd", 32}, {"pathname", 64}, {"argv", 64}, {"envp", 64}, {"flags", 32}},
	"fchmodat":    {{"dirfd", 32}, {"pathname", 64}, {"mode", 32}},
	"fchmodat2":   {{"dirfd", 32}, {"pathname", 64}, {"mode", 32}, {"flags", 32}},
	"fchownat":    {{"dirfd", 32}, {"pathname", 64}, {"owner", 32}, {"group", 32}, {"flags", 32}},
	"fcntl":       {{"fd", 32}, {"cmd", 32}, {"arg", 64}},
	"getpriority": {{"which", 32}, {"who", 32}},
	"getsockopt":  {{"sockfd", 32}, {"level", 32}, {"optname", 32}, {"optval", 64}, {"optlen", 64}},
	"ioctl":       {{"fd", 32}, {"cmd", 32}, {"arg", 64}},
	"ioprio_set":  {{"which", 32}, {"who", 32}, {"ioprio", 32}},
	// keyctl and prctl take an int operation and then four unsigned longs
	// that the man pages call arg2..arg5. Those are not named here, because
	// "argN" is the zero-based position (the man page's arg2 is arg1); they
	// are 64 bits wide, which positional arguments are by default.
	"keyctl":       {{"operation", 32}},
	"kill":         {{"pid", 32}, {"sig", 32}},
	"madvise":      {{"addr", 64}, {"length", 64}, {"advice", 32}},
	"memfd_create": {{"name", 64}, {"flags", 32}},
	"mknod":        {{"pathname", 64}, {"mode", 32}, {"dev", 32}},
	"mknodat":      {{"dirfd", 32}, {"pathname", 64}, {"mode", 32}, {"dev", 32}},
	// mmap's prot and flags are unsigned long, but no PROT_ or MAP_ bit lives
	// above bit 31 and the kernel ignores the high word, so they are compared
	// on the low word like an int; fd is cut to unsigned int by fget.
	"mmap": {{"addr", 64}, {"length", 64}, {"prot", 32}, {"flags", 32}, {"fd", 32}, {"offset", 64}},
	// mprotect (and pkey_mprotect) answer unknown prot bits with EINVAL, so
	// comparing the low word cannot be dodged either.
	"mprotect":          {{"addr", 64}, {"length", 64}, {"prot", 32}},
	"open":              {{"pathname", 64}, {"flags", 32}, {"mode", 32}},
	"openat":            {{"dirfd", 32}, {"pathname", 64}, {"flags", 32}, {"mode", 32}},
	"perf_event_open":   {{"attr", 64}, {"pid", 32}, {"cpu", 32}, {"group_fd", 32}, {"flags", 64}},
	"personality":       {{"persona", 32}},
	"pidfd_getfd":       {{"pidfd", 32}, {"targetfd", 32}, {"flags", 32}},
	"pidfd_open":        {{"pid", 32}, {"flags", 32}},
	"pidfd_send_signal": {{"pidfd", 32}, {"sig", 32}, {"info", 64}, {"flags", 32}},
	"pkey_mprotect":     {{"addr", 64}, {"length", 64}, {"prot", 32}, {"pkey", 32}},
	"prctl":             {{"option", 32}},
	"prlimit64":         {{"pid", 32}, {"resource", 32}, {"new_limit", 64}, {"old_limit", 64}},
	"process_madvise":   {{"pidfd", 32}, {"iovec", 64}, {"vlen", 64}, {"advice", 32}, {"flags", 32}},
	"process_vm_readv":  {{"pid", 32}, {"local_iov", 64}, {"liovcnt", 64}, {"remote_iov", 64}, {"riovcnt", 64}, {"flags", 64}},
	"process_vm_writev": {{"pid", 32}, {"local_iov", 64}, {"liovcnt", 64}, {"remote_iov", 64}, {"riovcnt", 64}, {"flags", 64}},
	// ptrace's request and pid are long; the kernel compares request as a
	// long and cuts pid to pid_t.
	"ptrace":             {{"request", 64}, {"pid", 32}, {"addr", 64}, {"data", 64}},
	"recvfrom":           {{"sockfd", 32}, {"buf", 64}, {"len", 64}, {"flags", 32}, {"src_addr", 64}, {"addrlen", 64}},
	"recvmsg":            {{"sockfd", 32}, {"msg", 64}, {"flags", 32}},
	"rt_sigqueueinfo":    {{"tgid", 32}, {"sig", 32}, {"info", 64}},
	"rt_tgsigqueueinfo":  {{"tgid", 32}, {"tid", 32}, {"sig", 32}, {"info", 64}},
	"sched_getaffinity":  {{"pid", 32}, {"cpusetsize", 32}, {"mask", 64}},
	"sched_setaffinity":  {{"pid", 32}, {"cpusetsize", 32}, {"mask", 64}},
	"sched_setattr":      {{"pid", 32}, {"attr", 64}, {"flags", 32}},
	"sched_setparam":     {{"pid", 32}, {"param", 64}},
	"sched_setscheduler": {{"pid", 32}, {"policy", 32}, {"param", 64}},
	"seccomp":            {{"operation", 32}, {"flags", 32}, {"args", 64}},
	"sendmsg":            {{"sockfd", 32}, {"msg", 64}, {"flags", 32}},
	"sendto":             {{"sockfd", 32}, {"buf", 64}, {"len", 64}, {"flags", 32}, {"dest_addr", 64}, {"addrlen", 32}},
	"setns":              {{"fd", 32}, {"nstype", 32}},
	"setpriority":        {{"which", 32}, {"who", 32}, {"prio", 32}},
	"setrlimit":          {{"resource", 32}, {"rlim", 64}},
	"setsockopt":         {{"sockfd", 32}, {"level", 32}, {"optname", 32}, {"optval", 64}, {"optlen", 32}},
	"socket":             {{"domain", 32}, {"type", 32}, {"protocol", 32}},
	"socketpair":         {{"domain", 32}, {"type", 32}, {"protocol", 32}, {"sv", 64}},
	"tgkill":             {{"tgid", 32}, {"tid", 32}, {"sig", 32}},
	"tkill":              {{"tid", 32}, {"sig", 32}},
	"unshare":            {{"flags", 64}},
	"userfaultfd":        {{"flags", 32}},
	"utimensat":          {{"dirfd", 32}, {"pathname", 64}, {"times", 64}, {"flags", 32}},
}

// Signature returns the named arguments of a syscall whose signature is
// known. The slice may be shorter than the syscall's argument count when the
// trailing arguments are not worth naming (clone).
func Signature(name string) ([]Arg, bool) {
	sig, ok := signatures[name]
	return slices.Clone(sig), ok
}

// ArgIndex resolves an argument of a syscall to its index (0..5) and width
// (32 or 64). arg is a name from the syscall's signature ("domain"), or a
// zero-based position, "arg0".."arg5" or "0".."5", as in seccomp_data.args; a
// positional argument takes its width from the signature when one names that
// position and is 64 bits otherwise.
func ArgIndex(syscall, arg string) (index int, bits int, err error) {
	if !Known(syscall) {
		return 0, 0, fmt.Errorf("unknown syscall %q%s", syscall, suggest.DidYouMean(syscall, knownNames()))
	}
	sig := signatures[syscall]
	if i, ok := positional(arg); ok {
		if i < len(sig) {
			return i, sig[i].Bits, nil
		}
		return i, 64, nil
	}
	for i, a := range sig {
		if a.Name == arg {
			return i, a.Bits, nil
		}
	}
	if len(sig) == 0 {
		return 0, 0, fmt.Errorf("syscall %q has no named arguments; use arg0..arg5, not %q", syscall, arg)
	}
	names := make([]string, len(sig))
	for i, a := range sig {
		names[i] = a.Name
	}
	return 0, 0, fmt.Errorf("syscall %q has no argument %q%s; its arguments are %s, or arg0..arg5",
		syscall, arg, suggest.DidYouMean(arg, names), strings.Join(names, ", "))
}

// positional parses "arg0".."arg5" and "0".."5".
func positional(arg string) (int, bool) {
	s := strings.TrimPrefix(arg, "arg")
	if len(s) != 1 {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i > 5 {
		return 0, false
	}
	return i, true
}
