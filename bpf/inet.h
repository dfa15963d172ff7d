/* IPv4 and IPv6 hooks: every TCP connection leaves through the egress
 * proxy, every DNS datagram goes to the stub, nothing else leaves. */
#pragma once

#include "common.h"

static __always_inline int is_loopback4(__u32 ip4)
{
	return (bpf_ntohl(ip4) >> 24) == 127 || ip4 == 0;
}

/* 169.254.0.0/16 (link-local, where clouds serve metadata) and Alibaba's
 * 100.100.100.200. */
static __always_inline int is_guarded4(__u32 ip4)
{
	__u32 h = bpf_ntohl(ip4);
	return (h >> 16) == 0xa9fe || h == 0x646464c8;
}

static __always_inline int is_mapped6(const __u32 *ip6)
{
	return ip6[0] == 0 && ip6[1] == 0 && ip6[2] == bpf_htonl(0xffff);
}

static __always_inline int is_loopback6(const __u32 *ip6)
{
	return ip6[0] == 0 && ip6[1] == 0 && ip6[2] == 0 && (ip6[3] == bpf_htonl(1) || ip6[3] == 0);
}

/* fe80::/10, and fd00:ec2::254 (EC2's IPv6 metadata address). */
static __always_inline int is_guarded6(const __u32 *ip6)
{
	__u32 w0 = bpf_ntohl(ip6[0]);
	if ((w0 >> 22) == (0xfe80 >> 6))
		return 1;
	return w0 == 0xfd000ec2 && ip6[1] == 0 && ip6[2] == 0 && ip6[3] == bpf_htonl(0x254);
}

static __always_inline void remember(__u64 cookie, __u64 cg, const __u8 *addr, __u16 port, __u8 proto)
{
	struct orig o = {};
	o.cgroup = cg;
	__builtin_memcpy(o.addr, addr, 16);
	o.port = port;
	o.proto = proto;
	o.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_update_elem(&orig_by_cookie, &cookie, &o, BPF_ANY);
}

/* A loopback TCP destination other than the proxy itself: a port the
 * policy names, a port served by the proxy (PORT_PROXY), or refused.
 * Returns a PORT_ value. */
static __always_inline int loopback_tcp(struct sandbox *sb, __u64 cg, __u16 port, __u32 *rule, __u8 *reason)
{
	struct port_key k = { .cgroup = cg, .port = port };
	struct port_rule *r = bpf_map_lookup_elem(&loopback_ports, &k);
	if (r) {
		*rule = r->rule;
		*reason = R_LOOPBACK_RULE;
		if (r->allow == PORT_PROXY)
			return PORT_PROXY;
		return r->allow == PORT_ALLOW ? ALLOW : DENY;
	}
	if (sb->flags & SB_LOOPBACK_ANY) {
		*rule = sb->loopback_rule;
		*reason = R_LOOPBACK_RULE;
		return ALLOW;
	}
	*reason = R_LOOPBACK;
	return DENY;
}

static __always_inline int is_tcp(__u32 type, __u32 proto)
{
	return type == SOCK_STREAM && (proto == IPPROTO_TCP || proto == IPPROTO_MPTCP || proto == IPPROTO_IP);
}

static __always_inline int is_udp(__u32 type, __u32 proto)
{
	return type == SOCK_DGRAM && (proto == IPPROTO_UDP || proto == IPPROTO_IP);
}

/* An address as the hooks see it: four network-order words, IPv4 in the
 * v4-mapped form (::ffff:a.b.c.d), so one path decides both families. */
static __always_inline void load6(__u32 *ip, const __u32 *w0, const __u32 *w1, const __u32 *w2, const __u32 *w3)
{
	ip[0] = *w0;
	barrier_var(ip[0]);
	ip[1] = *w1;
	barrier_var(ip[1]);
	ip[2] = *w2;
	barrier_var(ip[2]);
	ip[3] = *w3;
	barrier_var(ip[3]);
}

static __always_inline void mapped4(__u32 *ip, __u32 ip4)
{
	ip[0] = 0;
	ip[1] = 0;
	ip[2] = bpf_htonl(0xffff);
	ip[3] = ip4;
}

static __always_inline int is_proxy_addr(const struct settings *cfg, const __u32 *ip)
{
	if (is_mapped6(ip))
		return ip[3] == cfg->proxy_ip4;
	return ip[0] == cfg->proxy_ip6[0] && ip[1] == cfg->proxy_ip6[1] && ip[2] == cfg->proxy_ip6[2] &&
	       ip[3] == cfg->proxy_ip6[3];
}

/* to_proxy rewrites ip to the proxy's address of the same family. */
static __always_inline void to_proxy(const struct settings *cfg, __u32 *ip)
{
	if (is_mapped6(ip))
		ip[3] = cfg->proxy_ip4;
	else
		__builtin_memcpy(ip, cfg->proxy_ip6, 16);
}

/* ours reports whether the socket listening (TCP) or bound (UDP) at the
 * proxy's loopback address of the family v4 says, port nport (network
 * order), bears PADDOCK_MARK. While agentd is down its ports are free, and
 * another local user could bind one and receive what the hooks send
 * there; the hooks then refuse instead. */
static __always_inline int ours(void *ctx, const struct settings *cfg, int v4, __u32 nport, int udp)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	__u32 size;
	if (v4) {
		t.ipv4.saddr = cfg->proxy_ip4;
		t.ipv4.daddr = cfg->proxy_ip4;
		t.ipv4.dport = (__u16)nport;
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, cfg->proxy_ip6, 16);
		__builtin_memcpy(t.ipv6.daddr, cfg->proxy_ip6, 16);
		t.ipv6.dport = (__u16)nport;
		size = sizeof(t.ipv6);
	}
	if (udp)
		sk = bpf_sk_lookup_udp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_tcp(ctx, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	int ok = sk->mark == PADDOCK_MARK;
	bpf_sk_release(sk);
	return ok;
}

/* decide handles a destination from connect4/6 or sendmsg4/6. On a
 * redirect it rewrites ip and *nport (network order). family is the
 * socket's, for the event. Whatever goes to the proxy or the stub goes
 * only to agentd's own sockets (ours). */
static __always_inline int decide(void *ctx, __u8 hook, __u64 cg, __u64 cookie, __u8 family, __u32 type, __u32 proto, __u32 *ip,
				  __u32 *nport)
{
	struct settings *cfg = get_settings();
	struct sandbox *sb = get_sandbox(cg);
	__u16 port = bpf_ntohs((__u16)*nport);
	int v4 = is_mapped6(ip);
	__u8 addr[16];
	__u32 rule = 0;
	__u8 reason;
	__builtin_memcpy(addr, ip, 16);

	if (!sb || !cfg) {
		emit(hook, ACT_DENY, R_NO_SANDBOX, 0, cg, cookie, family, type, proto, addr, port);
		return DENY;
	}
	if (is_udp(type, proto)) {
		/* A socket connected to a DNS server was pointed at the stub by
		 * connect; an IPv4 peer given to an IPv6 socket then sends
		 * through sendmsg4, already addressed to the stub. */
		if (is_proxy_addr(cfg, ip) && *nport == sb->dns_port) {
			if (!ours(ctx, cfg, v4, sb->dns_port, 1))
				goto down;
			emit(hook, ACT_ALLOW, R_DNS, 0, cg, cookie, family, type, proto, addr, port);
			return ALLOW;
		}
		if (port != 53) {
			emit(hook, ACT_DENY, R_UDP, 0, cg, cookie, family, type, proto, addr, port);
			return DENY;
		}
		if (!ours(ctx, cfg, v4, sb->dns_port, 1))
			goto down;
		remember(cookie, cg, addr, port, IPPROTO_UDP);
		to_proxy(cfg, ip);
		*nport = sb->dns_port;
		emit(hook, ACT_REDIRECT, R_DNS, 0, cg, cookie, family, type, proto, addr, port);
		return ALLOW;
	}
	if (!is_tcp(type, proto)) {
		emit(hook, ACT_DENY, R_PROTO, 0, cg, cookie, family, type, proto, addr, port);
		return DENY;
	}
	/* DNS over TCP goes to the proxy, which hands it to the stub, whatever
	 * the address: a local resolver (127.0.0.53) is no way around it. */
	if (port == 53) {
		if (!ours(ctx, cfg, v4, cfg->proxy_port, 0))
			goto down;
		remember(cookie, cg, addr, port, IPPROTO_TCP);
		to_proxy(cfg, ip);
		*nport = cfg->proxy_port;
		emit(hook, ACT_REDIRECT, R_DNS, 0, cg, cookie, family, type, proto, addr, port);
		return ALLOW;
	}
	if (v4 ? is_loopback4(ip[3]) : is_loopback6(ip)) {
		if (is_proxy_addr(cfg, ip) && *nport == cfg->proxy_port) {
			if (!ours(ctx, cfg, v4, cfg->proxy_port, 0))
				goto down;
			remember(cookie, cg, addr, port, IPPROTO_TCP);
			emit(hook, ACT_ALLOW, R_PROXY, 0, cg, cookie, family, type, proto, addr, port);
			return ALLOW;
		}
		int v = loopback_tcp(sb, cg, port, &rule, &reason);
		if (v == PORT_PROXY) {
			if (!ours(ctx, cfg, v4, cfg->proxy_port, 0))
				goto down;
			remember(cookie, cg, addr, port, IPPROTO_TCP);
			to_proxy(cfg, ip);
			*nport = cfg->proxy_port;
			emit(hook, ACT_REDIRECT, reason, rule, cg, cookie, family, type, proto, addr, port);
			return ALLOW;
		}
		emit(hook, v == ALLOW ? ACT_ALLOW : ACT_DENY, reason, rule, cg, cookie, family, type, proto, addr, port);
		return v;
	}
	if ((v4 ? is_guarded4(ip[3]) : is_guarded6(ip)) && !(sb->flags & SB_GUARDED_OK)) {
		emit(hook, ACT_DENY, R_GUARDED, 0, cg, cookie, family, type, proto, addr, port);
		return DENY;
	}
	if (!ours(ctx, cfg, v4, cfg->proxy_port, 0))
		goto down;
	remember(cookie, cg, addr, port, IPPROTO_TCP);
	to_proxy(cfg, ip);
	*nport = cfg->proxy_port;
	emit(hook, ACT_REDIRECT, R_EGRESS, 0, cg, cookie, family, type, proto, addr, port);
	return ALLOW;
down:
	emit(hook, ACT_DENY, R_PROXY_DOWN, 0, cg, cookie, family, type, proto, addr, port);
	return DENY;
}

/* The address fields of bpf_sock_addr must be read and written with 4-byte
 * accesses, one field at a time. */
static __always_inline int addr4(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u32 ip[4];
	__u32 ip4 = ctx->user_ip4, port = ctx->user_port, p = port;
	__u32 type = ctx->type, proto = ctx->protocol;
	mapped4(ip, ip4);
	int v = decide(ctx, hook, bpf_get_current_cgroup_id(), bpf_get_socket_cookie(ctx), AF_INET, type, proto, ip, &p);
	if (v == ALLOW && (ip[3] != ip4 || p != port)) {
		ctx->user_ip4 = ip[3];
		ctx->user_port = p;
	}
	return v;
}

/* An AF_INET6 socket reaching an IPv4 peer (v4-mapped) runs only the
 * IPv6 hooks; decide treats the mapped address as IPv4. */
static __always_inline int addr6(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u32 ip[4], orig[4];
	__u32 port = ctx->user_port, p = port;
	__u32 type = ctx->type, proto = ctx->protocol;
	load6(ip, &ctx->user_ip6[0], &ctx->user_ip6[1], &ctx->user_ip6[2], &ctx->user_ip6[3]);
	__builtin_memcpy(orig, ip, 16);
	int v = decide(ctx, hook, bpf_get_current_cgroup_id(), bpf_get_socket_cookie(ctx), AF_INET6, type, proto, ip, &p);
	if (v != ALLOW)
		return v;
	if (ip[0] != orig[0] || ip[1] != orig[1] || ip[2] != orig[2] || ip[3] != orig[3]) {
		ctx->user_ip6[0] = ip[0];
		ctx->user_ip6[1] = ip[1];
		ctx->user_ip6[2] = ip[2];
		ctx->user_ip6[3] = ip[3];
	}
	if (p != port)
		ctx->user_port = p;
	return v;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx) { return addr4(ctx, HOOK_CONNECT4); }

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx) { return addr6(ctx, HOOK_CONNECT6); }

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx) { return addr4(ctx, HOOK_SENDMSG4); }

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx) { return addr6(ctx, HOOK_SENDMSG6); }

/* restored returns the original destination to show the workload instead
 * of peer ip:port (the source of a DNS reply, or the peer of a redirected
 * socket), or NULL when the peer is not the stub or the proxy. */
static __always_inline struct orig *restored(struct bpf_sock_addr *ctx, const __u32 *ip, __u32 port, int dns_only)
{
	struct settings *cfg = get_settings();
	struct sandbox *sb = get_sandbox(bpf_get_current_cgroup_id());
	if (!cfg || !sb || !is_proxy_addr(cfg, ip))
		return 0;
	if (port != sb->dns_port && (dns_only || port != cfg->proxy_port))
		return 0;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct orig *o = bpf_map_lookup_elem(&orig_by_cookie, &cookie);
	/* An IPv4 peer can only be shown an IPv4 origin, and the reverse. */
	if (!o || is_mapped6((const __u32 *)o->addr) != is_mapped6(ip))
		return 0;
	return o;
}

static __always_inline void restore4(struct bpf_sock_addr *ctx, int dns_only)
{
	__u32 ip[4];
	mapped4(ip, ctx->user_ip4);
	struct orig *o = restored(ctx, ip, ctx->user_port, dns_only);
	if (!o)
		return;
	__u32 w[4];
	__builtin_memcpy(w, o->addr, 16);
	ctx->user_ip4 = w[3];
	ctx->user_port = bpf_htons(o->port);
}

static __always_inline void restore6(struct bpf_sock_addr *ctx, int dns_only)
{
	__u32 ip[4];
	load6(ip, &ctx->user_ip6[0], &ctx->user_ip6[1], &ctx->user_ip6[2], &ctx->user_ip6[3]);
	struct orig *o = restored(ctx, ip, ctx->user_port, dns_only);
	if (!o)
		return;
	__u32 w[4];
	__builtin_memcpy(w, o->addr, 16);
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = bpf_htons(o->port);
}

SEC("cgroup/recvmsg4")
int recvmsg4(struct bpf_sock_addr *ctx) { restore4(ctx, 1); return 1; }

SEC("cgroup/recvmsg6")
int recvmsg6(struct bpf_sock_addr *ctx) { restore6(ctx, 1); return 1; }

SEC("cgroup/getpeername4")
int getpeername4(struct bpf_sock_addr *ctx) { restore4(ctx, 0); return 1; }

SEC("cgroup/getpeername6")
int getpeername6(struct bpf_sock_addr *ctx) { restore6(ctx, 0); return 1; }

/* sock_create: only TCP (MPTCP included, which the connect hooks see) and
 * UDP sockets. Raw and ICMP sockets send without any address hook. */
SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	__u32 family = ctx->family, type = ctx->type, proto = ctx->protocol;
	if (!get_sandbox(cg)) {
		emit(HOOK_SOCK_CREATE, ACT_DENY, R_NO_SANDBOX, 0, cg, 0, family, type, proto, 0, 0);
		return DENY;
	}
	if (is_tcp(type, proto) || is_udp(type, proto))
		return ALLOW;
	emit(HOOK_SOCK_CREATE, ACT_DENY, R_SOCKET, 0, cg, 0, family, type, proto, 0, 0);
	return DENY;
}

/* bind: loopback only, unless the policy allows listening anywhere. The
 * wildcard address becomes loopback, so servers that bind 0.0.0.0 keep
 * working, reachable from this host only. */
SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct sandbox *sb = get_sandbox(cg);
	__u32 ip4 = ctx->user_ip4, type = ctx->type, proto = ctx->protocol;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	__u8 addr[16];
	set_mapped4(addr, ip4);
	if (!sb) {
		emit(HOOK_BIND4, ACT_DENY, R_NO_SANDBOX, 0, cg, 0, AF_INET, type, proto, addr, port);
		return DENY;
	}
	if (sb->flags & SB_LISTEN_ANY)
		return ALLOW;
	if (ip4 == 0) {
		ctx->user_ip4 = bpf_htonl(0x7f000001);
		return ALLOW;
	}
	if ((bpf_ntohl(ip4) >> 24) == 127)
		return ALLOW;
	emit(HOOK_BIND4, ACT_DENY, R_BIND, 0, cg, bpf_get_socket_cookie(ctx), AF_INET, type, proto, addr, port);
	return DENY;
}

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct sandbox *sb = get_sandbox(cg);
	__u32 ip6[4];
	__u32 type = ctx->type, proto = ctx->protocol;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	load6(ip6, &ctx->user_ip6[0], &ctx->user_ip6[1], &ctx->user_ip6[2], &ctx->user_ip6[3]);
	if (!sb) {
		emit(HOOK_BIND6, ACT_DENY, R_NO_SANDBOX, 0, cg, 0, AF_INET6, type, proto, (__u8 *)ip6, port);
		return DENY;
	}
	if (sb->flags & SB_LISTEN_ANY)
		return ALLOW;
	if (ip6[0] == 0 && ip6[1] == 0 && ip6[2] == 0 && ip6[3] == 0) {
		/* A dual-stack wildcard becomes ::1 and so loses IPv4: a
		 * loopback-only listener either way. */
		ctx->user_ip6[3] = bpf_htonl(1);
		return ALLOW;
	}
	if (ip6[0] == 0 && ip6[1] == 0 && ip6[2] == 0 && ip6[3] == bpf_htonl(1))
		return ALLOW;
	if (is_mapped6(ip6) && (bpf_ntohl(ip6[3]) >> 24) == 127)
		return ALLOW;
	if (is_mapped6(ip6) && ip6[3] == 0) {
		ctx->user_ip6[3] = bpf_htonl(0x7f000001);
		return ALLOW;
	}
	emit(HOOK_BIND6, ACT_DENY, R_BIND, 0, cg, bpf_get_socket_cookie(ctx), AF_INET6, type, proto, (__u8 *)ip6, port);
	return DENY;
}

/* sockops: once a redirected connection is established, file its original
 * destination under the client's local address and port, which is what
 * the proxy's accept returns as the remote address. This callback runs
 * before the client's final ACK, so the entry exists before accept
 * returns. */
SEC("sockops")
int sockops_established(struct bpf_sock_ops *ctx)
{
	if (ctx->op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB)
		return 1;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct orig *o = bpf_map_lookup_elem(&orig_by_cookie, &cookie);
	if (!o)
		return 1;
	struct peer k = {};
	__u32 family = ctx->family;
	barrier_var(family);
	if (family == AF_INET) {
		__u32 ip4 = ctx->local_ip4;
		barrier_var(ip4);
		set_mapped4(k.addr, ip4);
	} else {
		__u32 w[4];
		load6(w, &ctx->local_ip6[0], &ctx->local_ip6[1], &ctx->local_ip6[2], &ctx->local_ip6[3]);
		__builtin_memcpy(k.addr, w, 16);
	}
	__u32 lport = ctx->local_port;
	barrier_var(lport);
	k.port = lport;
	struct orig v = *o;
	bpf_map_update_elem(&orig_by_peer, &k, &v, BPF_ANY);
	return 1;
}
