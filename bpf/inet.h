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

/* A loopback TCP destination: the proxy itself (explicit mode), a port the
 * policy names, or refused. Returns ALLOW or DENY and sets *redirect when
 * the destination is the proxy. */
static __always_inline int loopback_tcp(struct sandbox *sb, __u64 cg, __u16 port, __u32 *rule, __u8 *reason)
{
	struct port_key k = { .cgroup = cg, .port = port };
	struct port_rule *r = bpf_map_lookup_elem(&loopback_ports, &k);
	if (r) {
		*rule = r->rule;
		*reason = R_LOOPBACK_RULE;
		return r->allow ? ALLOW : DENY;
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

/* decide4 handles an IPv4 destination from connect4, sendmsg4 or (as a
 * v4-mapped address) connect6. It rewrites *ip4 and *port (network order)
 * on a redirect. */
static __always_inline int decide4(__u8 hook, __u64 cg, __u64 cookie, __u8 family, __u32 type, __u32 proto,
				   __u32 *ip4, __u32 *nport)
{
	struct settings *cfg = get_settings();
	struct sandbox *sb = get_sandbox(cg);
	__u16 port = bpf_ntohs((__u16)*nport);
	__u8 addr[16];
	__u32 rule = 0;
	__u8 reason;
	set_mapped4(addr, *ip4);

	if (!sb || !cfg) {
		emit(hook, ACT_DENY, R_NO_SANDBOX, 0, cg, cookie, family, type, proto, addr, port);
		return DENY;
	}
	if (is_udp(type, proto)) {
		if (port != 53) {
			emit(hook, ACT_DENY, R_UDP, 0, cg, cookie, family, type, proto, addr, port);
			return DENY;
		}
		remember(cookie, cg, addr, port, IPPROTO_UDP);
		*ip4 = cfg->proxy_ip4;
		*nport = sb->dns_port;
		emit(hook, ACT_REDIRECT, R_DNS, 0, cg, cookie, family, type, proto, addr, port);
		return ALLOW;
	}
	if (!is_tcp(type, proto)) {
		emit(hook, ACT_DENY, R_PROTO, 0, cg, cookie, family, type, proto, addr, port);
		return DENY;
	}
	if (is_loopback4(*ip4)) {
		if (*ip4 == cfg->proxy_ip4 && *nport == cfg->proxy_port) {
			remember(cookie, cg, addr, port, IPPROTO_TCP);
			emit(hook, ACT_ALLOW, R_PROXY, 0, cg, cookie, family, type, proto, addr, port);
			return ALLOW;
		}
		int v = loopback_tcp(sb, cg, port, &rule, &reason);
		emit(hook, v == ALLOW ? ACT_ALLOW : ACT_DENY, reason, rule, cg, cookie, family, type, proto, addr, port);
		return v;
	}
	if (is_guarded4(*ip4) && !(sb->flags & SB_GUARDED_OK)) {
		emit(hook, ACT_DENY, R_GUARDED, 0, cg, cookie, family, type, proto, addr, port);
		return DENY;
	}
	remember(cookie, cg, addr, port, IPPROTO_TCP);
	*ip4 = cfg->proxy_ip4;
	*nport = cfg->proxy_port;
	emit(hook, ACT_REDIRECT, R_EGRESS, 0, cg, cookie, family, type, proto, addr, port);
	return ALLOW;
}

static __always_inline int decide6(__u8 hook, __u64 cg, __u64 cookie, __u32 type, __u32 proto, __u32 *ip6,
				   __u32 *nport)
{
	struct settings *cfg = get_settings();
	struct sandbox *sb = get_sandbox(cg);
	__u16 port = bpf_ntohs((__u16)*nport);
	__u8 addr[16];
	__u32 rule = 0;
	__u8 reason;
	__builtin_memcpy(addr, ip6, 16);

	if (!sb || !cfg) {
		emit(hook, ACT_DENY, R_NO_SANDBOX, 0, cg, cookie, AF_INET6, type, proto, addr, port);
		return DENY;
	}
	if (is_udp(type, proto)) {
		if (port != 53) {
			emit(hook, ACT_DENY, R_UDP, 0, cg, cookie, AF_INET6, type, proto, addr, port);
			return DENY;
		}
		remember(cookie, cg, addr, port, IPPROTO_UDP);
		__builtin_memcpy(ip6, cfg->proxy_ip6, 16);
		*nport = sb->dns_port;
		emit(hook, ACT_REDIRECT, R_DNS, 0, cg, cookie, AF_INET6, type, proto, addr, port);
		return ALLOW;
	}
	if (!is_tcp(type, proto)) {
		emit(hook, ACT_DENY, R_PROTO, 0, cg, cookie, AF_INET6, type, proto, addr, port);
		return DENY;
	}
	if (is_loopback6(ip6)) {
		if (ip6[0] == cfg->proxy_ip6[0] && ip6[1] == cfg->proxy_ip6[1] && ip6[2] == cfg->proxy_ip6[2] &&
		    ip6[3] == cfg->proxy_ip6[3] && *nport == cfg->proxy_port) {
			remember(cookie, cg, addr, port, IPPROTO_TCP);
			emit(hook, ACT_ALLOW, R_PROXY, 0, cg, cookie, AF_INET6, type, proto, addr, port);
			return ALLOW;
		}
		int v = loopback_tcp(sb, cg, port, &rule, &reason);
		emit(hook, v == ALLOW ? ACT_ALLOW : ACT_DENY, reason, rule, cg, cookie, AF_INET6, type, proto, addr, port);
		return v;
	}
	if (is_guarded6(ip6) && !(sb->flags & SB_GUARDED_OK)) {
		emit(hook, ACT_DENY, R_GUARDED, 0, cg, cookie, AF_INET6, type, proto, addr, port);
		return DENY;
	}
	remember(cookie, cg, addr, port, IPPROTO_TCP);
	__builtin_memcpy(ip6, cfg->proxy_ip6, 16);
	*nport = cfg->proxy_port;
	emit(hook, ACT_REDIRECT, R_EGRESS, 0, cg, cookie, AF_INET6, type, proto, addr, port);
	return ALLOW;
}

/* The address fields of bpf_sock_addr must be read and written with 4-byte
 * accesses, one field at a time. */
static __always_inline int addr4(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u32 ip4 = ctx->user_ip4;
	__u32 port = ctx->user_port;
	__u32 type = ctx->type, proto = ctx->protocol;
	__u32 ip = ip4, p = port;
	int v = decide4(hook, bpf_get_current_cgroup_id(), bpf_get_socket_cookie(ctx), AF_INET, type, proto, &ip, &p);
	if (v == ALLOW && (ip != ip4 || p != port)) {
		ctx->user_ip4 = ip;
		ctx->user_port = p;
	}
	return v;
}

static __always_inline int addr6(struct bpf_sock_addr *ctx, __u8 hook)
{
	__u32 ip6[4], orig[4];
	__u32 port = ctx->user_port, p;
	__u32 type = ctx->type, proto = ctx->protocol;
	ip6[0] = ctx->user_ip6[0];
	barrier_var(ip6[0]);
	ip6[1] = ctx->user_ip6[1];
	barrier_var(ip6[1]);
	ip6[2] = ctx->user_ip6[2];
	barrier_var(ip6[2]);
	ip6[3] = ctx->user_ip6[3];
	barrier_var(ip6[3]);
	__builtin_memcpy(orig, ip6, 16);
	p = port;
	__u64 cg = bpf_get_current_cgroup_id();
	__u64 cookie = bpf_get_socket_cookie(ctx);
	int v;
	if (is_mapped6(ip6)) {
		/* An AF_INET6 socket reaching an IPv4 peer: only this hook runs. */
		__u32 ip4 = ip6[3];
		v = decide4(hook, cg, cookie, AF_INET6, type, proto, &ip4, &p);
		ip6[3] = ip4;
	} else {
		v = decide6(hook, cg, cookie, type, proto, ip6, &p);
	}
	if (v != ALLOW)
		return v;
	if (ip6[0] != orig[0] || ip6[1] != orig[1] || ip6[2] != orig[2] || ip6[3] != orig[3]) {
		ctx->user_ip6[0] = ip6[0];
		ctx->user_ip6[1] = ip6[1];
		ctx->user_ip6[2] = ip6[2];
		ctx->user_ip6[3] = ip6[3];
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

/* restore4 shows the workload the peer it asked for: the source of a DNS
 * reply, or the peer of a redirected socket, becomes the original
 * destination again. */
static __always_inline void restore4(struct bpf_sock_addr *ctx, int dns_only)
{
	struct settings *cfg = get_settings();
	struct sandbox *sb = get_sandbox(bpf_get_current_cgroup_id());
	if (!cfg || !sb)
		return;
	__u32 ip4 = ctx->user_ip4, port = ctx->user_port;
	if (ip4 != cfg->proxy_ip4 || (port != sb->dns_port && (dns_only || port != cfg->proxy_port)))
		return;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct orig *o = bpf_map_lookup_elem(&orig_by_cookie, &cookie);
	if (!o || o->addr[10] != 0xff || o->addr[11] != 0xff)
		return;
	__u32 orig4;
	__builtin_memcpy(&orig4, o->addr + 12, 4);
	ctx->user_ip4 = orig4;
	ctx->user_port = bpf_htons(o->port);
}

static __always_inline void restore6(struct bpf_sock_addr *ctx, int dns_only)
{
	struct settings *cfg = get_settings();
	struct sandbox *sb = get_sandbox(bpf_get_current_cgroup_id());
	if (!cfg || !sb)
		return;
	__u32 ip6[4];
	ip6[0] = ctx->user_ip6[0];
	barrier_var(ip6[0]);
	ip6[1] = ctx->user_ip6[1];
	barrier_var(ip6[1]);
	ip6[2] = ctx->user_ip6[2];
	barrier_var(ip6[2]);
	ip6[3] = ctx->user_ip6[3];
	barrier_var(ip6[3]);
	__u32 port = ctx->user_port;
	int mapped = is_mapped6(ip6) && ip6[3] == cfg->proxy_ip4;
	int proxy6 = ip6[0] == cfg->proxy_ip6[0] && ip6[1] == cfg->proxy_ip6[1] && ip6[2] == cfg->proxy_ip6[2] &&
		     ip6[3] == cfg->proxy_ip6[3];
	if (!mapped && !proxy6)
		return;
	if (port != sb->dns_port && (dns_only || port != cfg->proxy_port))
		return;
	__u64 cookie = bpf_get_socket_cookie(ctx);
	struct orig *o = bpf_map_lookup_elem(&orig_by_cookie, &cookie);
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
	ip6[0] = ctx->user_ip6[0];
	barrier_var(ip6[0]);
	ip6[1] = ctx->user_ip6[1];
	barrier_var(ip6[1]);
	ip6[2] = ctx->user_ip6[2];
	barrier_var(ip6[2]);
	ip6[3] = ctx->user_ip6[3];
	barrier_var(ip6[3]);
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
		w[0] = ctx->local_ip6[0];
		barrier_var(w[0]);
		w[1] = ctx->local_ip6[1];
		barrier_var(w[1]);
		w[2] = ctx->local_ip6[2];
		barrier_var(w[2]);
		w[3] = ctx->local_ip6[3];
		barrier_var(w[3]);
		__builtin_memcpy(k.addr, w, 16);
	}
	__u32 lport = ctx->local_port;
	barrier_var(lport);
	k.port = lport;
	struct orig v = *o;
	bpf_map_update_elem(&orig_by_peer, &k, &v, BPF_ANY);
	return 1;
}
