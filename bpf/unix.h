/* Unix socket hooks: a pathname socket is reachable only when the policy
 * names its absolute path exactly, and the address is then rewritten to
 * the socket's pinned bind mount (struct unix_rule): the path string is
 * what is matched, the pinned inode is what is reached. Relative paths
 * are refused: the hook cannot resolve them. Abstract and unnamed
 * addresses are left to Landlock's abstract-socket scope. */
#pragma once

#include "common.h"

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern int bpf_sock_addr_set_sun_path(struct bpf_sock_addr_kern *sa_kern, const __u8 *sun_path, __u32 sun_path__sz) __ksym;

static __always_inline int decide_unix(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct sandbox *sb = get_sandbox(cg);
	struct bpf_sock_addr_kern *kctx = bpf_cast_to_kern_ctx(ctx);
	struct unix_key k = {};
	__u32 type = ctx->type;
	__u8 reason;
	__u32 rule = 0;
	int v = DENY;

	k.cgroup = cg;
	/* The kernel has not terminated sun_path yet when the hook runs: read
	 * at most the length the caller gave, never the stack bytes after it.
	 * A 108-byte name (no room for a NUL in the key) is refused, as is an
	 * address that cannot be read: neither may pass as abstract. */
	int bad = 0;
	__u32 len = kctx->uaddrlen;
	if (len > 2 && len <= sizeof(struct sockaddr_un)) {
		char *path = (char *)kctx->uaddr + 2;
		len -= 2;
		if (len > sizeof(k.path) - 1) {
			char last = 0;
			if (bpf_probe_read_kernel(&last, 1, path + sizeof(k.path) - 1) < 0 || last != 0)
				bad = 1;
			len = sizeof(k.path) - 1;
		}
		/* Keep the bound where the verifier sees it. */
		__u64 size = len + 1;
		asm volatile("" : "+r"(size));
		if (size > sizeof(k.path))
			size = sizeof(k.path);
		if (bpf_probe_read_kernel_str(k.path, size, path) < 0)
			bad = 1;
	} else if (len > sizeof(struct sockaddr_un)) {
		bad = 1;
	}
	if (!sb) {
		reason = R_NO_SANDBOX;
	} else if (bad) {
		reason = R_UNIX;
	} else if (k.path[0] == 0) {
		/* Abstract ("\0name") or unnamed: not a filesystem object. */
		return ALLOW;
	} else if (k.path[0] != '/') {
		reason = R_UNIX;
	} else {
		struct unix_rule *r = bpf_map_lookup_elem(&unix_paths, &k);
		if (!r) {
			reason = R_UNIX;
		} else if (r->target[0] != '/' ||
			   bpf_sock_addr_set_sun_path(kctx, (const __u8 *)r->target, sizeof(r->target))) {
			/* No pinned socket to send it to: refused. */
			rule = r->rule;
			reason = R_UNIX;
		} else {
			rule = r->rule;
			reason = R_UNIX_RULE;
			v = ALLOW;
		}
	}
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return v;
	}
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup = cg;
	e->cookie = bpf_get_socket_cookie(ctx);
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->rule = rule;
	e->hook = hook;
	e->action = v == ALLOW ? ACT_ALLOW : ACT_DENY;
	e->reason = reason;
	e->family = AF_UNIX;
	e->type = type;
	e->proto = 0;
	e->port = 0;
	__builtin_memset(e->addr, 0, 16);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->path, k.path, sizeof(e->path));
	submit(e);
	return v;
}

SEC("cgroup/connect_unix")
int connect_unix(struct bpf_sock_addr *ctx) { return decide_unix(ctx, HOOK_CONNECT_UNIX); }

SEC("cgroup/sendmsg_unix")
int sendmsg_unix(struct bpf_sock_addr *ctx) { return decide_unix(ctx, HOOK_SENDMSG_UNIX); }
