package syscalls

// CatalogueVersion names this edition of the group catalogue. Bump it
// whenever the membership of any group changes: every bundle records the
// version it was compiled against, so a policy's meaning can be reproduced.
const CatalogueVersion = "2026.11"

// catalogue is the group table. Each list is sorted; membership is decided
// from what each call does, and a short comment explains every placement
// that could reasonably have gone elsewhere. Groups may overlap.
//
// Left out of every group except @known, on purpose:
//   - clone3: its flags live in memory a seccomp filter cannot read, so the
//     emitter answers it with ENOSYS and libc falls back to clone.
//   - the *_time64 calls (403-423) in go-seccomp-bpf's aarch64 table: they
//     exist only for 32-bit ABIs; a native aarch64 process cannot call them.
//   - arch_specific_syscall (aarch64 244): a placeholder base number, not a
//     call.
var catalogue = []Group{
	{
		Name:        "@aio",
		Description: "Linux native asynchronous I/O contexts (io_setup and friends, not io_uring)",
		Syscalls: []string{
			"io_cancel",
			"io_destroy",
			"io_getevents",
			"io_pgetevents",
			"io_setup",
			"io_submit",
		},
	},
	{
		Name:        "@basic-io",
		Description: "read, write, seek, duplicate and close file descriptors the process already holds",
		Syscalls: []string{
			"close",
			"close_range",
			// copy_file_range, sendfile, splice, tee and vmsplice move data
			// between descriptors already held: a faster read plus write.
			"copy_file_range",
			"dup",
			"dup2",
			"dup3",
			"lseek",
			"pread64",
			"preadv",
			"preadv2",
			"pwrite64",
			"pwritev",
			"pwritev2",
			"read",
			"readv",
			"sendfile",
			"splice",
			"tee",
			"vmsplice",
			"write",
			"writev",
		},
	},
	{
		Name:        "@bpf",
		Description: "load and manage eBPF programs and maps",
		Syscalls:    []string{"bpf"},
	},
	{
		Name:        "@clock",
		Description: "set or slew the system clocks (reading clocks is in @default)",
		Syscalls: []string{
			// adjtimex and clock_adjtime can also read NTP state (modes 0),
			// but their purpose is steering the clock; nothing in a
			// developer's toolbox needs them.
			"adjtimex",
			"clock_adjtime",
			"clock_settime",
			"settimeofday",
		},
	},
	{
		Name:        "@cpu-emulation",
		Description: "x86 segment descriptors for running 16- and 32-bit code (LDT and GDT TLS slots)",
		Syscalls: []string{
			// get/set_thread_area manage the i386 TLS descriptors; a 64-bit
			// program sets its TLS with arch_prctl instead.
			"get_thread_area",
			"modify_ldt",
			"set_thread_area",
		},
	},
	{
		Name:        "@debug",
		Description: "inspect or change another process: tracing, its memory, its descriptors, profiling",
		Syscalls: []string{
			// get_robust_list reads another thread's futex list head under
			// a ptrace access check; only checkpoint tools use it.
			"get_robust_list",
			// kcmp compares kernel objects of two processes; it needs only
			// ptrace access, not a capability, so it is not in @privileged.
			"kcmp",
			"perf_event_open",
			// pidfd_getfd copies a descriptor out of another process.
			"pidfd_getfd",
			"process_vm_readv",
			"process_vm_writev",
			"ptrace",
		},
	},
	{
		Name:        "@default",
		Description: "process runtime any program needs to start, run and exit (memory, threads, time, identity); add @basic-io and @file-system for dynamic loading",
		Syscalls: []string{
			"arch_prctl",
			"brk",
			"clock_getres",
			"clock_gettime",
			"clock_nanosleep",
			"execve",
			"exit",
			"exit_group",
			"futex",
			// The futex2 calls are the same primitive with a new interface.
			"futex_requeue",
			"futex_wait",
			"futex_waitv",
			"futex_wake",
			"getegid",
			"geteuid",
			"getgid",
			"getgroups",
			"getpid",
			"getppid",
			"getrandom",
			"getresgid",
			"getresuid",
			"gettid",
			"gettimeofday",
			"getuid",
			"madvise",
			// map_shadow_stack and mseal are issued by the C library's
			// startup and thread code where the features are enabled.
			"map_shadow_stack",
			"membarrier",
			"mmap",
			"mprotect",
			"mseal",
			"munmap",
			"nanosleep",
			"restart_syscall",
			"rseq",
			"rt_sigreturn",
			"sched_yield",
			"set_robust_list",
			"set_tid_address",
			"time",
			// uretprobe is called from the trampoline the kernel plants
			// when a return probe is attached; the program never asks.
			"uretprobe",
		},
	},
	{
		Name:        "@file-metadata",
		Description: "change permissions, ownership, extended attributes and times by path (invisible to Landlock)",
		Syscalls: []string{
			"chmod",
			"chown",
			"fchmodat",
			"fchmodat2",
			"fchownat",
			"futimesat",
			"lchown",
			"lremovexattr",
			"lsetxattr",
			"removexattr",
			"removexattrat",
			"setxattr",
			"setxattrat",
			"utime",
			// utimensat with a NULL path is futimens(3) on a descriptor;
			// it is one call, so it sits with the path forms.
			"utimensat",
			"utimes",
		},
	},
	{
		Name:        "@file-metadata-fd",
		Description: "change permissions, ownership and extended attributes of files already opened",
		Syscalls: []string{
			"fchmod",
			"fchown",
			"fremovexattr",
			"fsetxattr",
		},
	},
	{
		Name:        "@file-system",
		Description: "open, create, stat, list, rename, link and remove files and directories; read extended attributes; watch for changes",
		Syscalls: []string{
			"access",
			"chdir",
			"creat",
			"faccessat",
			"faccessat2",
			"fadvise64",
			"fallocate",
			"fchdir",
			"fcntl",
			"fgetxattr",
			"flistxattr",
			"flock",
			"fstat",
			// fstatat is the aarch64 table's name for newfstatat (nr 79).
			"fstatat",
			"fstatfs",
			"ftruncate",
			"getcwd",
			"getdents",
			"getdents64",
			"getxattr",
			"getxattrat",
			"inotify_add_watch",
			"inotify_init",
			"inotify_init1",
			"inotify_rm_watch",
			"lgetxattr",
			"link",
			"linkat",
			"listxattr",
			"listxattrat",
			"llistxattr",
			"lstat",
			// memfd_create makes an unnamed tmpfs file, like open with
			// O_TMPFILE; executing it gives nothing that writing and
			// executing a file in the sandbox's tmp does not.
			"memfd_create",
			"mkdir",
			"mkdirat",
			// mknod makes FIFOs and regular files for anyone; device nodes
			// need CAP_MKNOD, which the launcher drops.
			"mknod",
			"mknodat",
			"newfstatat",
			"open",
			"openat",
			"openat2",
			"readahead",
			"readlink",
			"readlinkat",
			"rename",
			"renameat",
			"renameat2",
			"rmdir",
			"stat",
			"statfs",
			"statx",
			"symlink",
			"symlinkat",
			"truncate",
			"umask",
			"unlink",
			"unlinkat",
		},
	},
	{
		Name:        "@io-event",
		Description: "wait for events on descriptors: epoll, poll, select, eventfd",
		Syscalls: []string{
			"epoll_create",
			"epoll_create1",
			"epoll_ctl",
			"epoll_pwait",
			"epoll_pwait2",
			"epoll_wait",
			"eventfd",
			"eventfd2",
			"poll",
			"ppoll",
			"pselect6",
			"select",
		},
	},
	{
		Name:        "@io-uring",
		Description: "io_uring rings, which run I/O outside the reach of seccomp argument checks",
		Syscalls: []string{
			"io_uring_enter",
			"io_uring_register",
			"io_uring_setup",
		},
	},
	{
		Name:        "@ipc",
		Description: "pipes, System V message queues, semaphores and shared memory, POSIX message queues",
		Syscalls: []string{
			"mq_getsetattr",
			"mq_notify",
			"mq_open",
			"mq_timedreceive",
			"mq_timedsend",
			"mq_unlink",
			"msgctl",
			"msgget",
			"msgrcv",
			"msgsnd",
			"pipe",
			"pipe2",
			"semctl",
			"semget",
			"semop",
			"semtimedop",
			"shmat",
			"shmctl",
			"shmdt",
			"shmget",
		},
	},
	{
		Name:        "@keyring",
		Description: "the kernel key retention service",
		Syscalls: []string{
			"add_key",
			"keyctl",
			"request_key",
		},
	},
	{
		Name:        "@known",
		Description: "every syscall in the x86_64 or aarch64 table",
		// Filled from the architecture tables when the package loads.
	},
	{
		Name:        "@lsm",
		Description: "read or change the calling process's Linux Security Module attributes",
		Syscalls: []string{
			"lsm_get_self_attr",
			"lsm_list_modules",
			// Changing one's own LSM context (an AppArmor profile, an
			// SELinux exec context) is a choice a policy makes explicitly,
			// so this group is not part of @system-service; the two
			// read-only calls are.
			"lsm_set_self_attr",
		},
	},
	{
		Name:        "@memlock",
		Description: "lock memory into RAM",
		Syscalls: []string{
			// memfd_secret memory is unswappable and charged to
			// RLIMIT_MEMLOCK, like mlock.
			"memfd_secret",
			"mlock",
			"mlock2",
			"mlockall",
			"munlock",
			"munlockall",
		},
	},
	{
		Name:        "@module",
		Description: "load and unload kernel modules",
		Syscalls: []string{
			"delete_module",
			"finit_module",
			"init_module",
		},
	},
	{
		Name:        "@mount",
		Description: "mount and unmount file systems, change the root, inspect the mount tree",
		Syscalls: []string{
			"chroot",
			"fsconfig",
			"fsmount",
			"fsopen",
			"fspick",
			"listmount",
			"mount",
			"mount_setattr",
			"move_mount",
			"open_tree",
			"open_tree_attr",
			"pivot_root",
			"statmount",
			"umount2",
		},
	},
	{
		Name:        "@namespaces",
		Description: "create or enter namespaces",
		Syscalls: []string{
			"setns",
			"unshare",
		},
	},
	{
		Name:        "@network-io",
		Description: "create, connect, accept and use sockets",
		Syscalls: []string{
			"accept",
			"accept4",
			"bind",
			"connect",
			"getpeername",
			"getsockname",
			"getsockopt",
			"listen",
			"recvfrom",
			"recvmmsg",
			"recvmsg",
			"sendmmsg",
			"sendmsg",
			"sendto",
			"setsockopt",
			"shutdown",
			"socket",
			"socketpair",
		},
	},
	{
		Name:        "@numa",
		Description: "NUMA memory placement policy and page migration",
		Syscalls: []string{
			"get_mempolicy",
			"mbind",
			// migrate_pages and move_pages can move another process's
			// pages; @system-service takes only the calls on its own memory.
			"migrate_pages",
			"move_pages",
			"set_mempolicy",
			"set_mempolicy_home_node",
		},
	},
	{
		Name:        "@obsolete",
		Description: "removed, never implemented or long-deprecated calls",
		Syscalls: []string{
			"_sysctl",
			"afs_syscall",
			"create_module",
			"epoll_ctl_old",
			"epoll_wait_old",
			"get_kernel_syms",
			"getpmsg",
			"lookup_dcookie",
			"nfsservctl",
			"putpmsg",
			"query_module",
			// remap_file_pages has been emulated with plain mappings since
			// Linux 3.16 and no current runtime calls it.
			"remap_file_pages",
			"security",
			"sysfs",
			"tuxcall",
			"uselib",
			"ustat",
			"vserver",
		},
	},
	{
		Name:        "@pkey",
		Description: "memory protection keys for the process's own mappings",
		Syscalls: []string{
			"pkey_alloc",
			"pkey_free",
			"pkey_mprotect",
		},
	},
	{
		Name:        "@privileged",
		Description: "calls that need a capability the sandbox never holds or that reach machine-wide state",
		Includes: []string{
			"@bpf",
			"@clock",
			"@module",
			"@mount",
			"@raw-io",
			"@reboot",
			"@swap",
		},
		Syscalls: []string{
			"acct",
			// Full fanotify (permission events, mount and filesystem marks)
			// needs CAP_SYS_ADMIN; the unprivileged subset duplicates
			// inotify, which @file-system has.
			"fanotify_init",
			"fanotify_mark",
			"lookup_dcookie",
			// name_to_handle_at is harmless alone but exists to feed
			// open_by_handle_at (CAP_DAC_READ_SEARCH, a known container
			// escape); no developer tool needs the pair.
			"name_to_handle_at",
			"nfsservctl",
			"open_by_handle_at",
			// perf is also in @debug; the threat model denies it outright.
			"perf_event_open",
			"quotactl",
			"quotactl_fd",
			"setdomainname",
			"sethostname",
			"syslog",
			// Full userfaultfd needs CAP_SYS_PTRACE under the default
			// vm.unprivileged_userfaultfd=0, and it is a favourite tool for
			// winning kernel races; the threat model denies it.
			"userfaultfd",
			"vhangup",
		},
	},
	{
		Name:        "@process",
		Description: "create, run, wait for and signal processes; sessions and process groups",
		Syscalls: []string{
			"capget",
			"clone",
			"execveat",
			"fork",
			"getpgid",
			"getpgrp",
			"getsid",
			"kill",
			"pidfd_open",
			"pidfd_send_signal",
			"prctl",
			// process_mrelease only reaps the memory of a process that is
			// already dying from SIGKILL.
			"process_mrelease",
			"rt_sigqueueinfo",
			"rt_tgsigqueueinfo",
			"setpgid",
			"setsid",
			"tgkill",
			"tkill",
			"vfork",
			"wait4",
			"waitid",
		},
	},
	{
		Name:        "@raw-io",
		Description: "direct access to I/O ports",
		Syscalls: []string{
			"ioperm",
			"iopl",
		},
	},
	{
		Name:        "@reboot",
		Description: "reboot the machine or load a new kernel",
		Syscalls: []string{
			"kexec_file_load",
			"kexec_load",
			"reboot",
		},
	},
	{
		Name:        "@resources",
		Description: "change resource limits, scheduling and I/O priority (of this or another process)",
		Syscalls: []string{
			"ioprio_set",
			// prlimit64 also reads limits (glibc's getrlimit), but it can
			// set another process's; rules should restrict its pid to 0.
			"prlimit64",
			"sched_setaffinity",
			"sched_setattr",
			"sched_setparam",
			"sched_setscheduler",
			"setpriority",
			"setrlimit",
		},
	},
	{
		Name:        "@sandbox",
		Description: "a program confining itself further: Landlock rulesets and seccomp filters",
		Syscalls: []string{
			"landlock_add_rule",
			"landlock_create_ruleset",
			"landlock_restrict_self",
			"seccomp",
		},
	},
	{
		Name:        "@setuid",
		Description: "change user and group IDs and capability sets",
		Syscalls: []string{
			// capset, like the set*id calls, can only move within what the
			// process already holds once capabilities are dropped.
			"capset",
			"setfsgid",
			"setfsuid",
			"setgid",
			"setgroups",
			"setregid",
			"setresgid",
			"setresuid",
			"setreuid",
			"setuid",
		},
	},
	{
		Name:        "@signal",
		Description: "handle, mask and wait for signals sent to this process",
		Syscalls: []string{
			"pause",
			"rt_sigaction",
			"rt_sigpending",
			"rt_sigprocmask",
			"rt_sigsuspend",
			"rt_sigtimedwait",
			"sigaltstack",
			"signalfd",
			"signalfd4",
		},
	},
	{
		Name:        "@swap",
		Description: "enable and disable swap areas",
		Syscalls: []string{
			"swapoff",
			"swapon",
		},
	},
	{
		Name:        "@sync",
		Description: "flush file data and metadata to storage",
		Syscalls: []string{
			"fdatasync",
			"fsync",
			"sync",
			"sync_file_range",
			"syncfs",
		},
	},
	{
		Name:        "@system-service",
		Description: "general-purpose allowlist for developer tools: compilers, git, shells, language runtimes, test runners",
		Includes: []string{
			"@aio",
			"@basic-io",
			"@default",
			"@file-metadata-fd",
			"@file-system",
			"@io-event",
			"@ipc",
			"@memlock",
			"@network-io",
			// Memory protection keys act on the process's own mappings;
			// JIT engines use them to guard code.
			"@pkey",
			"@process",
			"@resources",
			"@sandbox",
			// Without CAP_SETUID/CAP_SETGID (dropped by the launcher) and
			// with no_new_privs, the set*id calls can only move between IDs
			// the process already holds; programs that drop privileges
			// defensively fail if these are denied.
			"@setuid",
			"@signal",
			"@sync",
			"@timer",
		},
		Syscalls: []string{
			// cachestat reports page-cache residency of an open file, what
			// mincore reports for a mapping of it.
			"cachestat",
			"get_mempolicy",
			"getcpu",
			"getpriority",
			"getrlimit",
			"getrusage",
			// ioctl is a wide surface; policies restrict its cmd (TIOCSTI,
			// TIOCLINUX) with argument rules.
			"ioctl",
			"ioprio_get",
			"lsm_get_self_attr",
			"lsm_list_modules",
			"mbind",
			"mincore",
			"mremap",
			"msync",
			// personality: runtimes query it and tools run children with
			// ASLR off; rules can restrict the persona value.
			"personality",
			// process_madvise on another process needs CAP_SYS_NICE, which
			// is dropped; on itself it is madvise.
			"process_madvise",
			"sched_get_priority_max",
			"sched_get_priority_min",
			"sched_getaffinity",
			"sched_getattr",
			"sched_getparam",
			"sched_getscheduler",
			"sched_rr_get_interval",
			"set_mempolicy",
			"set_mempolicy_home_node",
			"sysinfo",
			"times",
			"uname",
		},
	},
	{
		Name:        "@timer",
		Description: "interval timers, POSIX timers, timerfd and alarms",
		Syscalls: []string{
			"alarm",
			"getitimer",
			"setitimer",
			"timer_create",
			"timer_delete",
			"timer_getoverrun",
			"timer_gettime",
			"timer_settime",
			"timerfd_create",
			"timerfd_gettime",
			"timerfd_settime",
		},
	},
}
