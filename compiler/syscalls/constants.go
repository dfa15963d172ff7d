package syscalls

import (
	"github.com/paddock-sh/paddock/compiler/suggest"
	"sync"

	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// constant is a symbolic value an argument rule may use.
type constant struct {
	name  string
	value uint64
}

// constants are the names argument rules may use for values. Every value is
// the same on x86_64 and aarch64, so a bundle means the same on both whatever
// machine compiled it. Values come from golang.org/x/sys/unix where it has
// them and from the kernel's uapi headers otherwise; a test checks the table
// against x/sys for the compiling machine.
//
// Left out because the two architectures disagree: O_DIRECTORY, O_NOFOLLOW,
// O_DIRECT, O_LARGEFILE and O_TMPFILE (aarch64 uses the asm-generic values),
// arch-only prot and map bits (PROT_BTI, PROT_MTE, MAP_32BIT), and x86-only
// ptrace requests. AT_FDCWD is left out because it is negative.
var constants = []constant{
	// Address families: socket and socketpair "domain".
	{"AF_ALG", unix.AF_ALG},
	{"AF_APPLETALK", unix.AF_APPLETALK},
	{"AF_ATMPVC", unix.AF_ATMPVC},
	{"AF_ATMSVC", unix.AF_ATMSVC},
	{"AF_AX25", unix.AF_AX25},
	{"AF_BLUETOOTH", unix.AF_BLUETOOTH},
	{"AF_BRIDGE", unix.AF_BRIDGE},
	{"AF_CAIF", unix.AF_CAIF},
	{"AF_CAN", unix.AF_CAN},
	{"AF_IB", unix.AF_IB},
	{"AF_IEEE802154", unix.AF_IEEE802154},
	{"AF_INET", unix.AF_INET},
	{"AF_INET6", unix.AF_INET6},
	{"AF_IPX", unix.AF_IPX},
	{"AF_IRDA", unix.AF_IRDA},
	{"AF_ISDN", unix.AF_ISDN},
	{"AF_IUCV", unix.AF_IUCV},
	{"AF_KCM", unix.AF_KCM},
	{"AF_KEY", unix.AF_KEY},
	{"AF_LLC", unix.AF_LLC},
	{"AF_LOCAL", unix.AF_LOCAL},
	{"AF_MCTP", unix.AF_MCTP},
	{"AF_MPLS", unix.AF_MPLS},
	{"AF_NETLINK", unix.AF_NETLINK},
	{"AF_NETROM", unix.AF_NETROM},
	{"AF_NFC", unix.AF_NFC},
	{"AF_PACKET", unix.AF_PACKET},
	{"AF_PHONET", unix.AF_PHONET},
	{"AF_PPPOX", unix.AF_PPPOX},
	{"AF_QIPCRTR", unix.AF_QIPCRTR},
	{"AF_RDS", unix.AF_RDS},
	{"AF_ROSE", unix.AF_ROSE},
	{"AF_RXRPC", unix.AF_RXRPC},
	{"AF_SECURITY", unix.AF_SECURITY},
	{"AF_SMC", unix.AF_SMC},
	{"AF_SNA", unix.AF_SNA},
	{"AF_TIPC", unix.AF_TIPC},
	{"AF_UNIX", unix.AF_UNIX},
	{"AF_UNSPEC", unix.AF_UNSPEC},
	{"AF_VSOCK", unix.AF_VSOCK},
	{"AF_WANPIPE", unix.AF_WANPIPE},
	{"AF_X25", unix.AF_X25},
	{"AF_XDP", unix.AF_XDP},

	// Socket types and the flags or-ed into "type". SOCK_TYPE_MASK
	// separates the two (include/linux/net.h).
	{"SOCK_CLOEXEC", unix.SOCK_CLOEXEC},
	{"SOCK_DCCP", unix.SOCK_DCCP},
	{"SOCK_DGRAM", unix.SOCK_DGRAM},
	{"SOCK_NONBLOCK", unix.SOCK_NONBLOCK},
	{"SOCK_PACKET", unix.SOCK_PACKET},
	{"SOCK_RAW", unix.SOCK_RAW},
	{"SOCK_RDM", unix.SOCK_RDM},
	{"SOCK_SEQPACKET", unix.SOCK_SEQPACKET},
	{"SOCK_STREAM", unix.SOCK_STREAM},
	{"SOCK_TYPE_MASK", 0xf},

	// IP protocols: socket "protocol" for AF_INET and AF_INET6.
	{"IPPROTO_AH", unix.IPPROTO_AH},
	{"IPPROTO_DCCP", unix.IPPROTO_DCCP},
	{"IPPROTO_ESP", unix.IPPROTO_ESP},
	{"IPPROTO_GRE", unix.IPPROTO_GRE},
	{"IPPROTO_ICMP", unix.IPPROTO_ICMP},
	{"IPPROTO_ICMPV6", unix.IPPROTO_ICMPV6},
	{"IPPROTO_IGMP", unix.IPPROTO_IGMP},
	{"IPPROTO_IP", unix.IPPROTO_IP},
	{"IPPROTO_IPIP", unix.IPPROTO_IPIP},
	{"IPPROTO_IPV6", unix.IPPROTO_IPV6},
	{"IPPROTO_L2TP", unix.IPPROTO_L2TP},
	{"IPPROTO_MPTCP", unix.IPPROTO_MPTCP},
	{"IPPROTO_RAW", unix.IPPROTO_RAW},
	{"IPPROTO_SCTP", unix.IPPROTO_SCTP},
	{"IPPROTO_SMC", unix.IPPROTO_SMC},
	{"IPPROTO_TCP", unix.IPPROTO_TCP},
	{"IPPROTO_UDP", unix.IPPROTO_UDP},
	{"IPPROTO_UDPLITE", unix.IPPROTO_UDPLITE},

	// Netlink protocols: socket "protocol" for AF_NETLINK.
	{"NETLINK_AUDIT", unix.NETLINK_AUDIT},
	{"NETLINK_CONNECTOR", unix.NETLINK_CONNECTOR},
	{"NETLINK_CRYPTO", unix.NETLINK_CRYPTO},
	{"NETLINK_FIB_LOOKUP", unix.NETLINK_FIB_LOOKUP},
	{"NETLINK_GENERIC", unix.NETLINK_GENERIC},
	{"NETLINK_INET_DIAG", unix.NETLINK_INET_DIAG},
	{"NETLINK_ISCSI", unix.NETLINK_ISCSI},
	{"NETLINK_KOBJECT_UEVENT", unix.NETLINK_KOBJECT_UEVENT},
	{"NETLINK_NETFILTER", unix.NETLINK_NETFILTER},
	{"NETLINK_RDMA", unix.NETLINK_RDMA},
	{"NETLINK_ROUTE", unix.NETLINK_ROUTE},
	{"NETLINK_SCSITRANSPORT", unix.NETLINK_SCSITRANSPORT},
	{"NETLINK_SELINUX", unix.NETLINK_SELINUX},
	{"NETLINK_SMC", unix.NETLINK_SMC},
	{"NETLINK_SOCK_DIAG", unix.NETLINK_SOCK_DIAG},
	{"NETLINK_USERSOCK", unix.NETLINK_USERSOCK},
	{"NETLINK_XFRM", unix.NETLINK_XFRM},

	// clone and unshare flags. The ones above bit 31 exist only for
	// clone3, which the emitter answers with ENOSYS; CSIGNAL is the exit
	// signal in clone's low byte, where unshare and clone3 put CLONE_NEWTIME.
	{"CLONE_AUTOREAP", unix.CLONE_AUTOREAP},
	{"CLONE_CHILD_CLEARTID", unix.CLONE_CHILD_CLEARTID},
	{"CLONE_CHILD_SETTID", unix.CLONE_CHILD_SETTID},
	{"CLONE_CLEAR_SIGHAND", unix.CLONE_CLEAR_SIGHAND},
	{"CLONE_DETACHED", unix.CLONE_DETACHED},
	{"CLONE_EMPTY_MNTNS", unix.CLONE_EMPTY_MNTNS},
	{"CLONE_FILES", unix.CLONE_FILES},
	{"CLONE_FS", unix.CLONE_FS},
	{"CLONE_INTO_CGROUP", unix.CLONE_INTO_CGROUP},
	{"CLONE_IO", unix.CLONE_IO},
	{"CLONE_NEWCGROUP", unix.CLONE_NEWCGROUP},
	{"CLONE_NEWIPC", unix.CLONE_NEWIPC},
	{"CLONE_NEWNET", unix.CLONE_NEWNET},
	{"CLONE_NEWNS", unix.CLONE_NEWNS},
	{"CLONE_NEWPID", unix.CLONE_NEWPID},
	{"CLONE_NEWTIME", unix.CLONE_NEWTIME},
	{"CLONE_NEWUSER", unix.CLONE_NEWUSER},
	{"CLONE_NEWUTS", unix.CLONE_NEWUTS},
	{"CLONE_NNP", unix.CLONE_NNP},
	{"CLONE_PARENT", unix.CLONE_PARENT},
	{"CLONE_PARENT_SETTID", unix.CLONE_PARENT_SETTID},
	{"CLONE_PIDFD", unix.CLONE_PIDFD},
	{"CLONE_PIDFD_AUTOKILL", unix.CLONE_PIDFD_AUTOKILL},
	{"CLONE_PTRACE", unix.CLONE_PTRACE},
	{"CLONE_SETTLS", unix.CLONE_SETTLS},
	{"CLONE_SIGHAND", unix.CLONE_SIGHAND},
	{"CLONE_SYSVSEM", unix.CLONE_SYSVSEM},
	{"CLONE_THREAD", unix.CLONE_THREAD},
	{"CLONE_UNTRACED", unix.CLONE_UNTRACED},
	{"CLONE_VFORK", unix.CLONE_VFORK},
	{"CLONE_VM", unix.CLONE_VM},
	{"CSIGNAL", unix.CSIGNAL},

	// Terminal and generic ioctl commands: ioctl "cmd". x86_64 and aarch64
	// both use the asm-generic numbering.
	{"FIOCLEX", 0x5451},
	{"FIONBIO", 0x5421},
	{"FIONCLEX", 0x5450},
	{"FIONREAD", unix.TIOCINQ},
	{"TCGETS", unix.TCGETS},
	{"TCSETS", unix.TCSETS},
	{"TIOCCONS", unix.TIOCCONS},
	{"TIOCGPGRP", unix.TIOCGPGRP},
	{"TIOCGPTPEER", unix.TIOCGPTPEER},
	{"TIOCGSID", unix.TIOCGSID},
	{"TIOCGWINSZ", unix.TIOCGWINSZ},
	{"TIOCLINUX", unix.TIOCLINUX},
	{"TIOCNOTTY", unix.TIOCNOTTY},
	{"TIOCSCTTY", unix.TIOCSCTTY},
	{"TIOCSETD", unix.TIOCSETD},
	{"TIOCSPGRP", unix.TIOCSPGRP},
	{"TIOCSTI", unix.TIOCSTI},
	{"TIOCSWINSZ", unix.TIOCSWINSZ},
	{"TIOCVHANGUP", unix.TIOCVHANGUP},

	// prctl options, and the PR_CAP_AMBIENT sub-operations of its arg2.
	{"PR_CAPBSET_DROP", unix.PR_CAPBSET_DROP},
	{"PR_CAPBSET_READ", unix.PR_CAPBSET_READ},
	{"PR_CAP_AMBIENT", unix.PR_CAP_AMBIENT},
	{"PR_CAP_AMBIENT_CLEAR_ALL", unix.PR_CAP_AMBIENT_CLEAR_ALL},
	{"PR_CAP_AMBIENT_IS_SET", unix.PR_CAP_AMBIENT_IS_SET},
	{"PR_CAP_AMBIENT_LOWER", unix.PR_CAP_AMBIENT_LOWER},
	{"PR_CAP_AMBIENT_RAISE", unix.PR_CAP_AMBIENT_RAISE},
	{"PR_GET_AUXV", unix.PR_GET_AUXV},
	{"PR_GET_CHILD_SUBREAPER", unix.PR_GET_CHILD_SUBREAPER},
	{"PR_GET_DUMPABLE", unix.PR_GET_DUMPABLE},
	{"PR_GET_KEEPCAPS", unix.PR_GET_KEEPCAPS},
	{"PR_GET_MDWE", unix.PR_GET_MDWE},
	{"PR_GET_NAME", unix.PR_GET_NAME},
	{"PR_GET_NO_NEW_PRIVS", unix.PR_GET_NO_NEW_PRIVS},
	{"PR_GET_PDEATHSIG", unix.PR_GET_PDEATHSIG},
	{"PR_GET_SECCOMP", unix.PR_GET_SECCOMP},
	{"PR_GET_SECUREBITS", unix.PR_GET_SECUREBITS},
	{"PR_GET_SPECULATION_CTRL", unix.PR_GET_SPECULATION_CTRL},
	{"PR_GET_THP_DISABLE", unix.PR_GET_THP_DISABLE},
	{"PR_GET_TID_ADDRESS", unix.PR_GET_TID_ADDRESS},
	{"PR_GET_TIMERSLACK", unix.PR_GET_TIMERSLACK},
	{"PR_SCHED_CORE", unix.PR_SCHED_CORE},
	{"PR_SET_CHILD_SUBREAPER", unix.PR_SET_CHILD_SUBREAPER},
	{"PR_SET_DUMPABLE", unix.PR_SET_DUMPABLE},
	{"PR_SET_IO_FLUSHER", unix.PR_SET_IO_FLUSHER},
	{"PR_SET_KEEPCAPS", unix.PR_SET_KEEPCAPS},
	{"PR_SET_MDWE", unix.PR_SET_MDWE},
	{"PR_SET_MM", unix.PR_SET_MM},
	{"PR_SET_NAME", unix.PR_SET_NAME},
	{"PR_SET_NO_NEW_PRIVS", unix.PR_SET_NO_NEW_PRIVS},
	{"PR_SET_PDEATHSIG", unix.PR_SET_PDEATHSIG},
	{"PR_SET_PTRACER", unix.PR_SET_PTRACER},
	{"PR_SET_SECCOMP", unix.PR_SET_SECCOMP},
	{"PR_SET_SECUREBITS", unix.PR_SET_SECUREBITS},
	{"PR_SET_SPECULATION_CTRL", unix.PR_SET_SPECULATION_CTRL},
	{"PR_SET_SYSCALL_USER_DISPATCH", unix.PR_SET_SYSCALL_USER_DISPATCH},
	{"PR_SET_THP_DISABLE", unix.PR_SET_THP_DISABLE},
	{"PR_SET_TIMERSLACK", unix.PR_SET_TIMERSLACK},
	{"PR_SET_VMA", unix.PR_SET_VMA},
	{"PR_TASK_PERF_EVENTS_DISABLE", unix.PR_TASK_PERF_EVENTS_DISABLE},
	{"PR_TASK_PERF_EVENTS_ENABLE", unix.PR_TASK_PERF_EVENTS_ENABLE},

	// seccomp(2) operations and filter flags, and the prctl(PR_SET_SECCOMP)
	// modes (which number differently from the operations).
	{"SECCOMP_FILTER_FLAG_LOG", unix.SECCOMP_FILTER_FLAG_LOG},
	{"SECCOMP_FILTER_FLAG_NEW_LISTENER", unix.SECCOMP_FILTER_FLAG_NEW_LISTENER},
	{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
	{"SECCOMP_FILTER_FLAG_TSYNC", unix.SECCOMP_FILTER_FLAG_TSYNC},
	{"SECCOMP_FILTER_FLAG_TSYNC_ESRCH", unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH},
	{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
	{"SECCOMP_GET_ACTION_AVAIL", unix.SECCOMP_GET_ACTION_AVAIL},
	{"SECCOMP_GET_NOTIF_SIZES", unix.SECCOMP_GET_NOTIF_SIZES},
	{"SECCOMP_MODE_DISABLED", unix.SECCOMP_MODE_DISABLED},
	{"SECCOMP_MODE_FILTER", unix.SECCOMP_MODE_FILTER},
	{"SECCOMP_MODE_STRICT", unix.SECCOMP_MODE_STRICT},
	{"SECCOMP_SET_MODE_FILTER", unix.SECCOMP_SET_MODE_FILTER},
	{"SECCOMP_SET_MODE_STRICT", unix.SECCOMP_SET_MODE_STRICT},

	// personality(2) domains and flags (include/uapi/linux/personality.h;
	// x/sys does not carry them). personality(0xffffffff) only queries.
	{"ADDR_COMPAT_LAYOUT", 0x0200000},
	{"ADDR_LIMIT_32BIT", 0x0800000},
	{"ADDR_LIMIT_3GB", 0x8000000},
	{"ADDR_NO_RANDOMIZE", 0x0040000},
	{"FDPIC_FUNCPTRS", 0x0080000},
	{"MMAP_PAGE_ZERO", 0x0100000},
	{"PER_LINUX", 0x0000},
	{"PER_LINUX32", 0x0008},
	{"PER_LINUX32_3GB", 0x0008 | 0x8000000},
	{"PER_MASK", 0x00ff},
	{"READ_IMPLIES_EXEC", 0x0400000},
	{"SHORT_INODE", 0x1000000},
	{"STICKY_TIMEOUTS", 0x4000000},
	{"UNAME26", 0x0020000},
	{"WHOLE_SECONDS", 0x2000000},

	// Memory protection: mmap, mprotect and pkey_mprotect "prot".
	// PROT_SEM is 0x8 on both architectures (asm-generic and x86).
	{"PROT_EXEC", unix.PROT_EXEC},
	{"PROT_GROWSDOWN", unix.PROT_GROWSDOWN},
	{"PROT_GROWSUP", unix.PROT_GROWSUP},
	{"PROT_NONE", unix.PROT_NONE},
	{"PROT_READ", unix.PROT_READ},
	{"PROT_SEM", 0x8},
	{"PROT_WRITE", unix.PROT_WRITE},

	// mmap "flags".
	{"MAP_ANONYMOUS", unix.MAP_ANONYMOUS},
	{"MAP_DROPPABLE", unix.MAP_DROPPABLE},
	{"MAP_FIXED", unix.MAP_FIXED},
	{"MAP_FIXED_NOREPLACE", unix.MAP_FIXED_NOREPLACE},
	{"MAP_GROWSDOWN", unix.MAP_GROWSDOWN},
	{"MAP_HUGETLB", unix.MAP_HUGETLB},
	{"MAP_LOCKED", unix.MAP_LOCKED},
	{"MAP_NORESERVE", unix.MAP_NORESERVE},
	{"MAP_POPULATE", unix.MAP_POPULATE},
	{"MAP_PRIVATE", unix.MAP_PRIVATE},
	{"MAP_SHARED", unix.MAP_SHARED},
	{"MAP_SHARED_VALIDATE", unix.MAP_SHARED_VALIDATE},
	{"MAP_STACK", unix.MAP_STACK},
	{"MAP_SYNC", unix.MAP_SYNC},
	{"MAP_TYPE", unix.MAP_TYPE},

	// madvise and process_madvise "advice".
	{"MADV_COLD", unix.MADV_COLD},
	{"MADV_COLLAPSE", unix.MADV_COLLAPSE},
	{"MADV_DODUMP", unix.MADV_DODUMP},
	{"MADV_DOFORK", unix.MADV_DOFORK},
	{"MADV_DONTDUMP", unix.MADV_DONTDUMP},
	{"MADV_DONTFORK", unix.MADV_DONTFORK},
	{"MADV_DONTNEED", unix.MADV_DONTNEED},
	{"MADV_FREE", unix.MADV_FREE},
	{"MADV_HUGEPAGE", unix.MADV_HUGEPAGE},
	{"MADV_HWPOISON", unix.MADV_HWPOISON},
	{"MADV_KEEPONFORK", unix.MADV_KEEPONFORK},
	{"MADV_MERGEABLE", unix.MADV_MERGEABLE},
	{"MADV_NOHUGEPAGE", unix.MADV_NOHUGEPAGE},
	{"MADV_NORMAL", unix.MADV_NORMAL},
	{"MADV_PAGEOUT", unix.MADV_PAGEOUT},
	{"MADV_POPULATE_READ", unix.MADV_POPULATE_READ},
	{"MADV_POPULATE_WRITE", unix.MADV_POPULATE_WRITE},
	{"MADV_RANDOM", unix.MADV_RANDOM},
	{"MADV_REMOVE", unix.MADV_REMOVE},
	{"MADV_SEQUENTIAL", unix.MADV_SEQUENTIAL},
	{"MADV_SOFT_OFFLINE", 101}, // not in x/sys; include/uapi/asm-generic/mman-common.h
	{"MADV_UNMERGEABLE", unix.MADV_UNMERGEABLE},
	{"MADV_WILLNEED", unix.MADV_WILLNEED},
	{"MADV_WIPEONFORK", unix.MADV_WIPEONFORK},

	// memfd_create "flags".
	{"MFD_ALLOW_SEALING", unix.MFD_ALLOW_SEALING},
	{"MFD_CLOEXEC", unix.MFD_CLOEXEC},
	{"MFD_EXEC", unix.MFD_EXEC},
	{"MFD_HUGETLB", unix.MFD_HUGETLB},
	{"MFD_NOEXEC_SEAL", unix.MFD_NOEXEC_SEAL},

	// Scheduling and I/O priority targets: setpriority, getpriority
	// "which" (PRIO_*) and ioprio_set "which" (IOPRIO_WHO_*, from
	// include/uapi/linux/ioprio.h).
	{"IOPRIO_WHO_PGRP", 2},
	{"IOPRIO_WHO_PROCESS", 1},
	{"IOPRIO_WHO_USER", 3},
	{"PRIO_PGRP", unix.PRIO_PGRP},
	{"PRIO_PROCESS", unix.PRIO_PROCESS},
	{"PRIO_USER", unix.PRIO_USER},

	// Scheduling policies: sched_setscheduler "policy".
	{"SCHED_BATCH", unix.SCHED_BATCH},
	{"SCHED_DEADLINE", unix.SCHED_DEADLINE},
	{"SCHED_EXT", unix.SCHED_EXT},
	{"SCHED_FIFO", unix.SCHED_FIFO},
	{"SCHED_IDLE", unix.SCHED_IDLE},
	{"SCHED_NORMAL", unix.SCHED_NORMAL},
	{"SCHED_OTHER", unix.SCHED_NORMAL},
	{"SCHED_RESET_ON_FORK", unix.SCHED_RESET_ON_FORK},
	{"SCHED_RR", unix.SCHED_RR},

	// Resource limits: prlimit64 and setrlimit "resource".
	{"RLIMIT_AS", unix.RLIMIT_AS},
	{"RLIMIT_CORE", unix.RLIMIT_CORE},
	{"RLIMIT_CPU", unix.RLIMIT_CPU},
	{"RLIMIT_DATA", unix.RLIMIT_DATA},
	{"RLIMIT_FSIZE", unix.RLIMIT_FSIZE},
	{"RLIMIT_LOCKS", unix.RLIMIT_LOCKS},
	{"RLIMIT_MEMLOCK", unix.RLIMIT_MEMLOCK},
	{"RLIMIT_MSGQUEUE", unix.RLIMIT_MSGQUEUE},
	{"RLIMIT_NICE", unix.RLIMIT_NICE},
	{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE},
	{"RLIMIT_NPROC", unix.RLIMIT_NPROC},
	{"RLIMIT_RSS", unix.RLIMIT_RSS},
	{"RLIMIT_RTPRIO", unix.RLIMIT_RTPRIO},
	{"RLIMIT_RTTIME", unix.RLIMIT_RTTIME},
	{"RLIMIT_SIGPENDING", unix.RLIMIT_SIGPENDING},
	{"RLIMIT_STACK", unix.RLIMIT_STACK},

	// File types in a mode: mknod and mknodat "mode" (mask with S_IFMT).
	{"S_IFBLK", unix.S_IFBLK},
	{"S_IFCHR", unix.S_IFCHR},
	{"S_IFDIR", unix.S_IFDIR},
	{"S_IFIFO", unix.S_IFIFO},
	{"S_IFLNK", unix.S_IFLNK},
	{"S_IFMT", unix.S_IFMT},
	{"S_IFREG", unix.S_IFREG},
	{"S_IFSOCK", unix.S_IFSOCK},

	// open and openat "flags" that are the same on both architectures.
	{"O_ACCMODE", unix.O_ACCMODE},
	{"O_APPEND", unix.O_APPEND},
	{"O_ASYNC", unix.O_ASYNC},
	{"O_CLOEXEC", unix.O_CLOEXEC},
	{"O_CREAT", unix.O_CREAT},
	{"O_DSYNC", unix.O_DSYNC},
	{"O_EXCL", unix.O_EXCL},
	{"O_NOATIME", unix.O_NOATIME},
	{"O_NOCTTY", unix.O_NOCTTY},
	{"O_NONBLOCK", unix.O_NONBLOCK},
	{"O_PATH", unix.O_PATH},
	{"O_RDONLY", unix.O_RDONLY},
	{"O_RDWR", unix.O_RDWR},
	{"O_SYNC", unix.O_SYNC},
	{"O_TRUNC", unix.O_TRUNC},
	{"O_WRONLY", unix.O_WRONLY},

	// *at "flags".
	{"AT_EACCESS", unix.AT_EACCESS},
	{"AT_EMPTY_PATH", unix.AT_EMPTY_PATH},
	{"AT_NO_AUTOMOUNT", unix.AT_NO_AUTOMOUNT},
	{"AT_RECURSIVE", unix.AT_RECURSIVE},
	{"AT_REMOVEDIR", unix.AT_REMOVEDIR},
	{"AT_SYMLINK_FOLLOW", unix.AT_SYMLINK_FOLLOW},
	{"AT_SYMLINK_NOFOLLOW", unix.AT_SYMLINK_NOFOLLOW},

	// fcntl "cmd".
	{"F_ADD_SEALS", unix.F_ADD_SEALS},
	{"F_DUPFD", unix.F_DUPFD},
	{"F_DUPFD_CLOEXEC", unix.F_DUPFD_CLOEXEC},
	{"F_GETFD", unix.F_GETFD},
	{"F_GETFL", unix.F_GETFL},
	{"F_GETLK", unix.F_GETLK},
	{"F_GETOWN", unix.F_GETOWN},
	{"F_GETPIPE_SZ", unix.F_GETPIPE_SZ},
	{"F_GET_SEALS", unix.F_GET_SEALS},
	{"F_NOTIFY", unix.F_NOTIFY},
	{"F_OFD_GETLK", unix.F_OFD_GETLK},
	{"F_OFD_SETLK", unix.F_OFD_SETLK},
	{"F_OFD_SETLKW", unix.F_OFD_SETLKW},
	{"F_SETFD", unix.F_SETFD},
	{"F_SETFL", unix.F_SETFL},
	{"F_SETLEASE", unix.F_SETLEASE},
	{"F_SETLK", unix.F_SETLK},
	{"F_SETLKW", unix.F_SETLKW},
	{"F_SETOWN", unix.F_SETOWN},
	{"F_SETPIPE_SZ", unix.F_SETPIPE_SZ},
	{"F_SETSIG", unix.F_SETSIG},

	// ptrace "request" values numbered the same on both architectures.
	{"PTRACE_ATTACH", unix.PTRACE_ATTACH},
	{"PTRACE_CONT", unix.PTRACE_CONT},
	{"PTRACE_DETACH", unix.PTRACE_DETACH},
	{"PTRACE_GETEVENTMSG", unix.PTRACE_GETEVENTMSG},
	{"PTRACE_GETSIGINFO", unix.PTRACE_GETSIGINFO},
	{"PTRACE_GET_SYSCALL_INFO", unix.PTRACE_GET_SYSCALL_INFO},
	{"PTRACE_INTERRUPT", unix.PTRACE_INTERRUPT},
	{"PTRACE_KILL", unix.PTRACE_KILL},
	{"PTRACE_LISTEN", unix.PTRACE_LISTEN},
	{"PTRACE_PEEKDATA", unix.PTRACE_PEEKDATA},
	{"PTRACE_PEEKTEXT", unix.PTRACE_PEEKTEXT},
	{"PTRACE_POKEDATA", unix.PTRACE_POKEDATA},
	{"PTRACE_POKETEXT", unix.PTRACE_POKETEXT},
	{"PTRACE_SEIZE", unix.PTRACE_SEIZE},
	{"PTRACE_SETOPTIONS", unix.PTRACE_SETOPTIONS},
	{"PTRACE_SYSCALL", unix.PTRACE_SYSCALL},
	{"PTRACE_TRACEME", unix.PTRACE_TRACEME},

	// Signals: kill, tkill, tgkill and pidfd_send_signal "sig". Both
	// architectures use the asm-generic numbering.
	{"SIGABRT", uint64(unix.SIGABRT)},
	{"SIGALRM", uint64(unix.SIGALRM)},
	{"SIGBUS", uint64(unix.SIGBUS)},
	{"SIGCHLD", uint64(unix.SIGCHLD)},
	{"SIGCONT", uint64(unix.SIGCONT)},
	{"SIGFPE", uint64(unix.SIGFPE)},
	{"SIGHUP", uint64(unix.SIGHUP)},
	{"SIGILL", uint64(unix.SIGILL)},
	{"SIGINT", uint64(unix.SIGINT)},
	{"SIGIO", uint64(unix.SIGIO)},
	{"SIGKILL", uint64(unix.SIGKILL)},
	{"SIGPIPE", uint64(unix.SIGPIPE)},
	{"SIGPROF", uint64(unix.SIGPROF)},
	{"SIGPWR", uint64(unix.SIGPWR)},
	{"SIGQUIT", uint64(unix.SIGQUIT)},
	{"SIGSEGV", uint64(unix.SIGSEGV)},
	{"SIGSTKFLT", uint64(unix.SIGSTKFLT)},
	{"SIGSTOP", uint64(unix.SIGSTOP)},
	{"SIGSYS", uint64(unix.SIGSYS)},
	{"SIGTERM", uint64(unix.SIGTERM)},
	{"SIGTRAP", uint64(unix.SIGTRAP)},
	{"SIGTSTP", uint64(unix.SIGTSTP)},
	{"SIGTTIN", uint64(unix.SIGTTIN)},
	{"SIGTTOU", uint64(unix.SIGTTOU)},
	{"SIGURG", uint64(unix.SIGURG)},
	{"SIGUSR1", uint64(unix.SIGUSR1)},
	{"SIGUSR2", uint64(unix.SIGUSR2)},
	{"SIGVTALRM", uint64(unix.SIGVTALRM)},
	{"SIGWINCH", uint64(unix.SIGWINCH)},
	{"SIGXCPU", uint64(unix.SIGXCPU)},
	{"SIGXFSZ", uint64(unix.SIGXFSZ)},
}

var constantIndex = sync.OnceValue(func() map[string]uint64 {
	idx := make(map[string]uint64, len(constants))
	for _, c := range constants {
		idx[c.name] = c.value
	}
	return idx
})

// Constant is the value of a symbolic name an argument rule may use, such as
// "AF_INET" or "CLONE_NEWUSER". Names are case-sensitive.
func Constant(name string) (uint64, bool) {
	v, ok := constantIndex()[name]
	return v, ok
}

// ConstantNames lists every symbolic constant, sorted.
func ConstantNames() []string {
	return slices.Sorted(maps.Keys(constantIndex()))
}

// ParseValue reads an argument value: a constant name ("AF_INET"), a decimal
// number, a 0x hexadecimal, a 0o or leading-0 octal ("0o755", "0755"), a 0b
// binary, or several of those joined by '|' ("PROT_WRITE|PROT_EXEC").
// Negative numbers are refused: write the value the kernel sees (0xffffffff
// for -1 in a 32-bit argument).
func ParseValue(s string) (uint64, error) {
	var v uint64
	for part := range strings.SplitSeq(s, "|") {
		p, err := parseOne(strings.TrimSpace(part))
		if err != nil {
			return 0, err
		}
		v |= p
	}
	return v, nil
}

func parseOne(s string) (uint64, error) {
	switch {
	case s == "":
		return 0, fmt.Errorf("empty value")
	case s[0] == '-':
		return 0, fmt.Errorf("negative value %q: write the value the kernel sees, such as 0xffffffff for -1 in a 32-bit argument", s)
	case s[0] >= '0' && s[0] <= '9':
		v, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid number %q (use decimal, 0x hex, 0o or leading-0 octal, or 0b binary)", s)
		}
		return v, nil
	}
	if v, ok := constantIndex()[s]; ok {
		return v, nil
	}
	return 0, fmt.Errorf("unknown constant %q%s", s, suggest.DidYouMean(s, ConstantNames()))
}
