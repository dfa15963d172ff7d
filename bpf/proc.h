/* Process exec and exit in sandboxes (DESIGN.md D7), from the
 * sched_process_exec and sched_process_exit tracepoints.
 *
 * These are tp_btf programs: raw tracepoints typed by the kernel's BTF.
 * Unlike fentry and LSM programs they need no BPF trampoline, so they load
 * where those are refused. They are global: every exec and every exit on
 * the host runs them. A task whose cgroup is no sandbox costs one helper
 * call and one hash lookup and emits nothing; exits of threads that leave
 * their process alive cost less (one context load). Only the exact
 * sandbox cgroup counts, as for the socket hooks.
 *
 * exec: the tracepoint fires after the new image is loaded and before it
 * runs a single instruction, so the arguments read from the new mm are
 * the ones execve was given, not something the program rewrote. The
 * filename is the one execve was given (bprm->filename): possibly relative,
 * or /dev/fd/N for execveat. The ancestors are the parent processes
 * (real_parent, one step per thread group), parent first.
 *
 * exit: the whole process, once: the tracepoint's group_dead is true only
 * for the last thread of the group to exit, whose exit_code is the status
 * a waiting parent sees. */
#pragma once

#include "common.h"
#include <bpf/bpf_core_read.h>

#define PROC_ANCESTORS 4
#define PROC_FILENAME_MAX 256
#define PROC_ARGV_MAX 512
#define PROC_COMM 16

struct proc_ancestor {
	__u32 pid;               /* thread group id */
	char comm[PROC_COMM];
};

/* struct event comes first, so the reader dispatches on e.hook as for
 * every other record. */
struct exec_event {
	struct event e;          /* hook HOOK_EXEC; time, cgroup, pid, comm */
	__u32 tid;
	__u32 uid;
	__u32 filename_len;      /* bytes, without the NUL */
	__u32 argv_len;          /* bytes of argv, NUL-separated */
	__u8 filename_truncated;
	__u8 argv_truncated;
	__u8 ancestors;          /* entries of anc in use */
	__u8 ancestors_truncated;
	__u32 pad;
	struct proc_ancestor anc[PROC_ANCESTORS];
	char filename[PROC_FILENAME_MAX];
	char argv[PROC_ARGV_MAX];
};
const struct exec_event *unused_exec_event __attribute__((unused));

struct exit_event {
	struct event e;          /* hook HOOK_EXIT; time, cgroup, pid, comm */
	__u32 tid;
	__u32 uid;
	__u32 exit_code;         /* task->exit_code: status << 8, or the signal (| 0x80 for a core) */
	__u32 pad;
};
const struct exit_event *unused_exit_event __attribute__((unused));

/* proc_header fills the common part; the address, path and decision
 * fields are zero (nothing was decided). comm is the caller's. */
static __always_inline void proc_header(struct event *e, __u8 hook, __u64 cg)
{
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup = cg;
	e->cookie = 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->rule = 0;
	e->hook = hook;
	e->action = 0;
	e->reason = 0;
	e->family = 0;
	e->proto = 0;
	e->type = 0;
	e->port = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	e->path[0] = 0;
}

SEC("tp_btf/sched_process_exec")
int proc_exec(unsigned long long *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	if (!get_sandbox(cg))
		return 0;

	struct task_struct *task = (void *)ctx[0];
	struct linux_binprm *bprm = (void *)ctx[2];
	struct exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	proc_header(&e->e, HOOK_EXEC, cg);
	bpf_get_current_comm(e->e.comm, sizeof(e->e.comm));
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->pad = 0;

	const char *fn = BPF_CORE_READ(bprm, filename);
	long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), fn);
	e->filename_len = n > 0 ? n - 1 : 0;
	e->filename_truncated = 0;
	if (n == PROC_FILENAME_MAX) {
		/* Full buffer: truncated unless the name ended exactly there. */
		char c = 0;
		bpf_probe_read_kernel(&c, 1, fn + PROC_FILENAME_MAX - 1);
		e->filename_truncated = c != 0;
	}

	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u64 len = end > start ? end - start : 0;
	e->argv_truncated = 0;
	if (len > PROC_ARGV_MAX) {
		len = PROC_ARGV_MAX;
		e->argv_truncated = 1;
	}
	e->argv_len = 0;
	/* The pages were written by execve moments ago and are present. */
	if (len > 0 && bpf_probe_read_user(e->argv, len, (const void *)start) == 0)
		e->argv_len = len;

	/* Parents, one process at a time: the group leader of each
	 * real_parent names the process (a thread's comm may differ). */
	struct task_struct *t = task;
	__u8 k = 0;
#pragma unroll
	for (int i = 0; i < PROC_ANCESTORS; i++) {
		t = BPF_CORE_READ(t, real_parent, group_leader);
		__u32 pid = t ? BPF_CORE_READ(t, tgid) : 0;
		if (pid == 0) /* above init: the idle task */
			break;
		e->anc[i].pid = pid;
		BPF_CORE_READ_INTO(&e->anc[i].comm, t, comm);
		k++;
	}
	e->ancestors = k;
	e->ancestors_truncated = 0;
	if (k == PROC_ANCESTORS) {
		t = BPF_CORE_READ(t, real_parent, group_leader);
		e->ancestors_truncated = t && BPF_CORE_READ(t, tgid) != 0;
	}
	submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int proc_exit(unsigned long long *ctx)
{
	/* Threads that leave their process running: nothing to say. */
	if (!(__u8)ctx[1])
		return 0;
	__u64 cg = bpf_get_current_cgroup_id();
	if (!get_sandbox(cg))
		return 0;

	struct task_struct *task = (void *)ctx[0];
	struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	proc_header(&e->e, HOOK_EXIT, cg);
	/* The process's name, even when its last thread is another one. */
	BPF_CORE_READ_INTO(&e->e.comm, task, group_leader, comm);
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->exit_code = BPF_CORE_READ(task, exit_code);
	e->pad = 0;
	submit(e);
	return 0;
}
