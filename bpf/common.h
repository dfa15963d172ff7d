/* Shared definitions of Paddock's hooks (the cgroup socket hooks, the
 * BPF-LSM filesystem hooks of fs.h, the process tracepoints of proc.h):
 * maps, the event record, and the small helpers every hook family uses.
 *
 * Policy lives in maps keyed by the cgroup id of the calling task. The
 * programs are attached once to the root of Paddock's cgroup subtree, so a
 * task in that subtree whose cgroup is not a known sandbox matches nothing:
 * a lookup miss denies. Nothing fails open. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* vmlinux.h carries types, not macros. */
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_IP 0
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_MPTCP 262

#define ALLOW 1
#define DENY 0

/* Sandbox flags. */
#define SB_LISTEN_ANY (1u << 0)     /* binds to any address */
#define SB_GUARDED_OK (1u << 1)     /* link-local and metadata go to the proxy, which decides */
#define SB_LOOPBACK_ANY (1u << 2)   /* every loopback TCP port is reachable directly */

struct settings {
	__u32 proxy_ip4;     /* network order */
	__u32 proxy_ip6[4];  /* network order */
	__u32 proxy_port;    /* network order, low 16 bits, as ctx->user_port */
};

struct sandbox {
	__u32 id;
	__u32 flags;
	__u32 dns_port;      /* network order, low 16 bits */
	__u32 loopback_rule; /* rule of SB_LOOPBACK_ANY */
};

/* A loopback TCP port the policy names: reached directly, or denied. */
struct port_key {
	__u64 cgroup;
	__u32 port;          /* host order */
	__u32 pad;
};
struct port_rule {
	__u32 rule;
	__u32 allow; /* PORT_DENY, PORT_ALLOW or PORT_PROXY */
};

/* What a loopback port rule does. PORT_PROXY sends the connection to the
 * proxy as if it went elsewhere: a credential's reverse listener, which
 * lives in the proxy and answers only its own sandbox. */
#define PORT_DENY 0
#define PORT_ALLOW 1
#define PORT_PROXY 2

#define UNIX_PATH_MAX 108
struct unix_key {
	__u64 cgroup;
	char path[UNIX_PATH_MAX];
	__u32 pad;
};

/* Where a redirected socket was going. Addresses are 16 bytes; IPv4 in
 * the v4-mapped form. */
struct orig {
	__u64 cgroup;
	__u8 addr[16];
	__u16 port;          /* host order */
	__u8 proto;          /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 pad;
	__u32 pid;
};

/* The client end of a proxied TCP connection, as the proxy's accept sees
 * it. */
struct peer {
	__u8 addr[16];
	__u32 port;          /* host order */
};

enum hook {
	HOOK_CONNECT4 = 1, HOOK_CONNECT6, HOOK_SENDMSG4, HOOK_SENDMSG6,
	HOOK_SOCK_CREATE, HOOK_BIND4, HOOK_BIND6, HOOK_CONNECT_UNIX, HOOK_SENDMSG_UNIX,
	/* BPF-LSM filesystem hooks (fs.h) */
	HOOK_FILE_OPEN, HOOK_FILE_TRUNCATE, HOOK_PATH_TRUNCATE, HOOK_MKNOD, HOOK_MKDIR,
	HOOK_SYMLINK, HOOK_LINK, HOOK_RENAME, HOOK_UNLINK, HOOK_RMDIR, HOOK_CHMOD, HOOK_CHOWN,
	/* process tracepoints (proc.h): records, not decisions */
	HOOK_EXEC, HOOK_EXIT,
};

enum action { ACT_ALLOW = 1, ACT_REDIRECT, ACT_DENY };

enum reason {
	R_NO_SANDBOX = 1, /* the cgroup is in Paddock's subtree but is no sandbox */
	R_PROXY,          /* the workload dialled the proxy itself (explicit mode) */
	R_EGRESS,         /* TCP to elsewhere: the proxy decides */
	R_DNS,            /* UDP to port 53: the stub answers */
	R_LOOPBACK_RULE,  /* a loopback port the policy names */
	R_LOOPBACK,       /* a loopback port the policy does not name */
	R_GUARDED,        /* link-local or cloud metadata */
	R_UDP,            /* UDP other than DNS (QUIC included) */
	R_SOCKET,         /* raw, ICMP, SCTP and other socket kinds */
	R_BIND,           /* bind to a non-loopback address */
	R_UNIX_RULE,      /* a unix socket path the policy names */
	R_UNIX,           /* a unix socket path the policy does not name */
	R_PROTO,          /* a protocol the hooks do not proxy */
	R_FILE,           /* a filesystem deny rule */
	R_FILE_LIMIT,     /* a path deeper than the filesystem hooks walk, or no memory to walk it */
	R_PROXY_DOWN,     /* nothing of agentd's listens where the proxy or stub should */
};

/* The SO_MARK of agentd's proxy and stub sockets. Setting a mark needs
 * CAP_NET_ADMIN, so a socket bearing it is root's doing (bpf.Mark). */
#define PADDOCK_MARK 0x70646b31

struct event {
	__u64 time_ns;   /* CLOCK_MONOTONIC */
	__u64 cgroup;
	__u64 cookie;
	__u32 pid;
	__u32 rule;      /* 0: no rule */
	__u8 hook;
	__u8 action;
	__u8 reason;
	__u8 family;
	__u8 proto;
	__u8 type;
	__u16 port;      /* host order */
	__u8 addr[16];
	char comm[16];
	char path[UNIX_PATH_MAX];
};

/* Makes struct event part of the object's BTF, for the Go bindings. */
const struct event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} settings_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sandbox);
} sandboxes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct port_key);
	__type(value, struct port_rule);
} loopback_ports SEC(".maps");

/* A listed unix socket: its rule, and the root-owned bind mount of the
 * socket the path named when the sandbox was created. Connections go to
 * the mount, so whatever the workload later puts at the listed path (a
 * symlink, a renamed directory) is never what it reaches. */
#define UNIX_TARGET_MAX 64
struct unix_rule {
	__u32 rule;
	char target[UNIX_TARGET_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct unix_key);
	__type(value, struct unix_rule);
} unix_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct orig);
} orig_by_cookie SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct peer);
	__type(value, struct orig);
} orig_by_peer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Events that did not fit in the ring buffer, per CPU: the reader reports
 * them as a gap. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");


static __always_inline struct settings *get_settings(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&settings_map, &zero);
}

static __always_inline struct sandbox *get_sandbox(__u64 cg)
{
	return bpf_map_lookup_elem(&sandboxes, &cg);
}

static __always_inline void set_mapped4(__u8 *addr, __u32 ip4)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &ip4, 4);
}

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/*
 * Waking the reader for every event costs more than the decision itself (a
 * context switch per connect on a 2-CPU host), so events are submitted
 * without a wake-up until WAKEUP_BYTES are pending; the reader also polls on
 * a short timer (bpf.Reader), which bounds the delay of a lone event.
 */
#define WAKEUP_BYTES (64 << 10)

static __always_inline void submit(void *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/* emit writes one decision to the ring buffer. addr is 16 bytes or NULL. */
static __always_inline void emit(__u8 hook, __u8 action, __u8 reason, __u32 rule, __u64 cg, __u64 cookie,
				 __u8 family, __u8 type, __u8 proto, const __u8 *addr, __u16 port)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	e->time_ns = bpf_ktime_get_ns();
	e->cgroup = cg;
	e->cookie = cookie;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->rule = rule;
	e->hook = hook;
	e->action = action;
	e->reason = reason;
	e->family = family;
	e->type = type;
	e->proto = proto;
	e->port = port;
	if (addr)
		__builtin_memcpy(e->addr, addr, 16);
	else
		__builtin_memset(e->addr, 0, 16);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->path[0] = 0;
	submit(e);
}
