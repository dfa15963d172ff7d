/* The kernel splice relay's verdict program (see ../splice.go): every skb
 * that arrives on a relayed socket is redirected to the egress of its
 * peer, so that no byte of a relayed connection reaches userspace.
 * bench/proxy compiles this file with clang -target bpf at run time.
 */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// The relayed sockets, keyed by socket cookie: a cookie is what the
// verdict program can learn of the socket an skb arrived on.
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} socks SEC(".maps");

// What userspace needs to end a relayed stream: the peer's cookie, and
// how many bytes were redirected to it (see flushed in ../splice.go).
struct peer {
	__u64 cookie;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct peer);
} peers SEC(".maps");

SEC("sk_skb/verdict")
int splice(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct peer *p = bpf_map_lookup_elem(&peers, &cookie);
	__u32 len = skb->len;

	// A redirect to a socket that is not (or no longer) in the map would
	// drop bytes TCP has already acknowledged. Passing them instead queues
	// them on this socket, where userspace reads and forwards them.
	if (!p || bpf_sk_redirect_hash(skb, &socks, &p->cookie, 0) != SK_PASS)
		return SK_PASS;
	__sync_fetch_and_add(&p->bytes, len);
	return SK_PASS; // with the redirect set: the kernel sends it on
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
