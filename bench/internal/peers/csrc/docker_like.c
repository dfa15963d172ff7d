// docker_like.c: an approximation of Docker's default seccomp profile,
// built with libseccomp, for the benchmarks to measure next to Paddock's
// programs. Docker's profile is an allowlist: about 350 syscall names a
// container may call, errno EPERM for everything else, plus a few rules on
// arguments. The list below is this project's own reading of what that
// profile allows a container without extra capabilities on a 4.8+ kernel;
// it is not Docker's file and makes no claim to match it name for name.
// Names libseccomp does not know for the native architecture (32-bit-only
// calls, for instance) are skipped and counted.
//
// Built by bench/internal/peers for bench/syscall and bench/launch.
//
// usage: docker_like -o FILE         write the program (struct sock_filter[]) to FILE
//        docker_like -- CMD ARGS...  install it (with no_new_privs) and exec CMD
// Either way it prints on stderr how many rules it added and skipped.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const allowed[] = {
	// files and descriptors
	"access", "faccessat", "faccessat2", "open", "openat", "openat2", "creat", "close", "close_range",
	"read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev", "pwritev2",
	"lseek", "_llseek", "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock", "fsync", "fdatasync", "sync",
	"syncfs", "sync_file_range", "fallocate", "fadvise64", "fadvise64_64", "readahead", "truncate",
	"truncate64", "ftruncate", "ftruncate64", "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64",
	"fstatat64", "newfstatat", "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "getdents",
	"getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat", "renameat2", "mkdir", "mkdirat",
	"rmdir", "link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
	"mknod", "mknodat", "umask", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32",
	"fchown", "fchown32", "fchownat", "lchown", "lchown32", "utime", "utimes", "utimensat",
	"utimensat_time64", "futimesat", "copy_file_range", "sendfile", "sendfile64", "splice", "tee",
	"vmsplice", "name_to_handle_at", "ioctl", "getxattr", "lgetxattr", "fgetxattr", "setxattr",
	"lsetxattr", "fsetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
	"fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
	"fanotify_mark", "memfd_create", "memfd_secret", "pipe", "pipe2", "cachestat",
	// polling and events
	"select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old",
	"epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create",
	"timerfd_settime", "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64",
	// asynchronous I/O (io_uring is not in the list)
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64",
	// memory
	"brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
	"mlock2", "mlockall", "munlock", "munlockall", "remap_file_pages", "membarrier", "pkey_alloc",
	"pkey_free", "pkey_mprotect", "map_shadow_stack",
	// processes and threads
	"execve", "execveat", "fork", "vfork", "exit", "exit_group", "wait4", "waitid", "waitpid",
	"kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "process_mrelease",
	"getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid", "getpriority",
	"setpriority", "ioprio_get", "ioprio_set", "prctl", "arch_prctl", "set_tid_address",
	"set_robust_list", "get_robust_list", "rseq", "futex", "futex_time64", "futex_waitv", "futex_wake",
	"futex_wait", "futex_requeue", "get_thread_area", "set_thread_area", "capget", "capset",
	"getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname",
	"getcpu", "getrandom", "restart_syscall", "seccomp", "landlock_create_ruleset",
	"landlock_add_rule", "landlock_restrict_self", "ptrace", "process_vm_readv", "process_vm_writev",
	// scheduling
	"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
	"sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
	"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
	"sched_rr_get_interval_time64",
	// credentials
	"getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
	"getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32", "setuid",
	"setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32", "setresuid",
	"setresuid32", "setresgid", "setresgid32", "setgroups", "setgroups32", "setfsuid", "setfsuid32",
	"setfsgid", "setfsgid32",
	// signals
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
	"rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
	"sigaltstack", "sigreturn", "sigprocmask", "pause", "alarm",
	// time
	"time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
	"clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "getitimer", "setitimer", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "adjtimex", "clock_adjtime", "clock_adjtime64",
	// sockets (socket itself has a rule below)
	"socketpair", "socketcall", "bind", "listen", "accept", "accept4", "connect", "shutdown",
	"getsockname", "getpeername", "getsockopt", "setsockopt", "send", "sendto", "sendmsg", "sendmmsg",
	"recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
	// System V and POSIX IPC
	"ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop",
	"semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink",
	"mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify",
	"mq_getsetattr",
};

// Namespace flags Docker's profile refuses in clone's flags for a
// container without CAP_SYS_ADMIN.
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

static scmp_filter_ctx build(void) {
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx) {
		fprintf(stderr, "docker_like: seccomp_init failed\n");
		exit(2);
	}
	int added = 0, skipped = 0;
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr == __NR_SCMP_ERROR || nr < 0) {
			skipped++;
			continue;
		}
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc != 0) {
			fprintf(stderr, "docker_like: %s: %s\n", allowed[i], strerror(-rc));
			exit(2);
		}
		added++;
	}
	// socket: every family but AF_VSOCK.
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_NE, AF_VSOCK));
	// clone: no new namespaces (the flags are its first argument on x86_64).
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0));
	// clone3 passes its flags in memory no filter reads: ENOSYS sends libc
	// back to clone.
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	// personality: Linux, with or without the 32-bit address limit, and the
	// query.
	static const unsigned long personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
	for (size_t i = 0; i < sizeof personas / sizeof personas[0]; i++)
		rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(personality), 1, SCMP_A0(SCMP_CMP_EQ, personas[i]));
	if (rc != 0) {
		fprintf(stderr, "docker_like: adding the argument rules failed\n");
		exit(2);
	}
	fprintf(stderr, "docker_like: %d names allowed, %d skipped as unknown on this architecture, %zu argument rules\n",
		added, skipped, (size_t)(3 + sizeof personas / sizeof personas[0]));
	return ctx;
}

int main(int argc, char **argv) {
	if (argc == 3 && !strcmp(argv[1], "-o")) {
		scmp_filter_ctx ctx = build();
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror(argv[2]);
			return 2;
		}
		int rc = seccomp_export_bpf(ctx, fd);
		if (rc != 0 || close(fd) != 0) {
			fprintf(stderr, "docker_like: exporting: %s\n", strerror(rc ? -rc : errno));
			return 2;
		}
		seccomp_release(ctx);
		return 0;
	}
	if (argc >= 3 && !strcmp(argv[1], "--")) {
		scmp_filter_ctx ctx = build();
		int rc = seccomp_load(ctx); // sets no_new_privs first (libseccomp's default)
		if (rc != 0) {
			fprintf(stderr, "docker_like: loading: %s\n", strerror(-rc));
			return 2;
		}
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		return 127;
	}
	fprintf(stderr, "usage: docker_like -o FILE | docker_like -- CMD [ARGS...]\n");
	return 2;
}
