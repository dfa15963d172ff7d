/* Filesystem deny rules, enforced by BPF-LSM programs (DESIGN.md D5).
 *
 * The programs are global LSM programs (BPF_LSM_MAC: every task runs
 * them). lsm_cgroup programs would scope themselves, but the kernel has
 * ten lsm_cgroup hook slots for the whole system and these are twelve
 * hooks. So the first thing each program does is ask whether the task is
 * below the cgroup the hooks are attached to (fs_scope), one helper call
 * that lets every other task through. A task below it is in a sandbox when
 * its cgroup, or an ancestor of it, has an entry in fs_policies:
 * descendant cgroups of a sandbox get the sandbox's rules.
 *
 * Hooks. The path hooks (security_path_*), not the inode ones, because
 * they carry the vfsmount, without which a walk cannot cross a mount
 * point: file_open (read, write, exec, O_TRUNC; reopening through
 * /proc/self/fd lands here too), file_truncate (ftruncate, O_TRUNC),
 * path_truncate (truncate), path_mknod (O_CREAT of a new file goes through
 * may_o_create to it; mknod, mkfifo), path_mkdir, path_symlink (the new
 * name), path_link and path_rename (both names), path_unlink, path_rmdir,
 * path_chmod, path_chown.
 *
 * Matching never uses path strings. It walks the object's dentry chain
 * upwards, as d_path does (at a mount's root it goes on from the mount
 * point, whose name is the one the path shows), and at each dentry
 * compares:
 *
 *   - its identity (s_dev, i_ino) against fs_inodes: an existing object
 *     denied with everything below it (a literal rule such as ~/.ssh). An
 *     identity survives renames of the object and of its ancestors, and is
 *     the same under every name: a hard link, a bind mount, another mount
 *     namespace, /proc/self/fd, /proc/PID/root all reach the same inode.
 *     Above the root of a bind mount of a subdirectory, the walk also
 *     follows the bound directory's real ancestors for identities only,
 *     so a bind mount of something inside ~/.ssh is denied;
 *
 *   - its name against the rules' last components (the "tail"): literal
 *     names by a 64-bit hash in fs_names, glob components ('*', '?',
 *     classes) by a bounded matcher. A tail is anchored: anywhere
 *     (the pattern starts with a double star: any .env* file), directly
 *     under a directory identified by (dev, ino) (a literal rule whose
 *     target does not exist yet, or ssh_host_*_key in /etc/ssh), or
 *     anywhere below one (a double star after ${workspace}).
 *     Several-component tails (.git/hooks) are matched by a
 *     bit-parallel automaton over the walk: st[s] holds the rules whose
 *     last s+1 components matched, ending at the previous component.
 *
 * A denied directory denies everything below it: the walk visits every
 * ancestor, and a match at any of them denies. Denials return -EACCES, as
 * Landlock, SELinux and AppArmor do for file access refused by policy (the
 * socket hooks' EPERM is forced by the cgroup hook ABI), and emit an
 * fs_event to the ring buffer.
 *
 * The walk is bounded (FS_WALK_MAX dentries, mount crossings included);
 * a path deeper than that is refused, never let through unchecked. The walk
 * and the event path are global BPF functions, verified once whatever
 * calls them; the fs_check_file iterator runs the same operations, so the
 * matcher can be asked and tested where BPF-LSM cannot be loaded. */
#pragma once

#include "common.h"
#include <bpf/bpf_core_read.h>

#define EACCES 13

#define FS_MAX_TAIL 4       /* components in a tail */
#define FS_MAX_BITS 64      /* automaton rules per sandbox (one u64) */
#define FS_MAX_GLOBS 16     /* glob components per sandbox */
#define FS_GLOB_ELEMS 32    /* elements in one glob component */
#define FS_MAX_CLASSES 8    /* [...] classes per sandbox */
#define FS_FILTER_WORDS 16  /* 1024-bit filters */
#define FS_WALK_MAX 128     /* dentries one walk visits */
#define FS_MAX_LEVEL 32     /* cgroup levels searched for a sandbox */
#define FS_NAME_MAX 255
#define FS_PATH_MAX 512     /* bytes of path an event carries */

/* fs_name_val.flags and fs_inode_val.flags */
#define FS_DENY (1u << 0)       /* a match denies (the rest is anchors) */
#define FS_WRITE_ONLY (1u << 1) /* only changes are denied */
#define FS_PIN (1u << 2)        /* the parent of a literal rule: it does not move */

/* Glob element kinds. */
#define GE_LIT 1
#define GE_ANY 2
#define GE_STAR 3
#define GE_CLASS 4

/* S_IFMT bits; vmlinux.h has no macros. */
#define FS_S_IFMT 00170000
#define FS_S_IFDIR 0040000

/* f_mode and f_flags bits. */
#define FS_FMODE_WRITE 0x2
#define FS_O_TRUNC 01000
#define FS_RENAME_EXCHANGE (1u << 1)

struct fs_glob {
	__u8 stage;   /* tail component, 0 = the last */
	__u8 bit;     /* the automaton rule */
	__u8 n;       /* elements */
	__u8 minlen;  /* bytes a matching name has at least */
	__u8 first;   /* the byte a matching name starts with, when FS_GLOB_FIRST */
	__u8 last;    /* the byte a matching name ends with, when FS_GLOB_LAST */
	__u8 flags;
	__u8 pad;
	__u8 kind[FS_GLOB_ELEMS];
	__u8 val[FS_GLOB_ELEMS]; /* the byte (GE_LIT) or the class (GE_CLASS) */
};
#define FS_GLOB_FIRST (1u << 0)
#define FS_GLOB_LAST (1u << 1)

/* One sandbox's rules. Written last (fs_policies is the switch), and with
 * a generation that every fs_names and fs_inodes key carries, so a new
 * policy replaces the old one in one map update. */
struct fs_policy {
	__u32 gen;
	__u32 nglobs;
	__u64 root_mask;    /* automaton rules anchored anywhere */
	__u64 parent_mask;  /* ... whose top component is a child of an anchor */
	__u64 below_mask;   /* ... whose top component is anywhere below an anchor */
	__u64 write_mask;   /* ... that deny changes only */
	__u64 len_mask[FS_MAX_TAIL];            /* ... whose tail has s+1 components */
	__u64 name_filter[FS_FILTER_WORDS];     /* hashes with an fs_names entry */
	__u64 key_filter[FS_FILTER_WORDS];      /* identities with an fs_inodes entry */
	__u32 rule[FS_MAX_BITS];                /* the caller's rule of each automaton rule */
	__u8 classes[FS_MAX_CLASSES][32];
	/* The globs a name may match, by its first and by its last byte: a
	 * name is tried against glob_first[first] & glob_last[last] only. */
	__u16 glob_first[256];
	__u16 glob_last[256];
	struct fs_glob globs[FS_MAX_GLOBS];
};

/* A literal component: anywhere (parent 0) or as a child of the directory
 * (parent_dev, parent_ino). */
struct fs_name_key {
	__u64 cgroup;
	__u64 parent_ino;
	__u32 parent_dev;
	__u32 gen;
	__u64 hash;
};
struct fs_name_val {
	__u32 rule;              /* with FS_DENY: a one-component rule, matched here */
	__u32 flags;
	__u64 bits[FS_MAX_TAIL]; /* automaton rules whose component s this is */
};

/* An existing object: denied with its subtree (FS_DENY), and/or the anchor
 * of automaton rules. */
struct fs_inode_key {
	__u64 cgroup;
	__u64 ino;
	__u32 dev;               /* the kernel's dev_t: major << 20 | minor */
	__u32 gen;
};
struct fs_inode_val {
	__u32 rule;
	__u32 flags;
	__u32 pin_rule;          /* with FS_PIN: a literal rule names an entry of this */
	__u32 pad;
	__u64 parent_bits;       /* rules whose top component is a child of this */
	__u64 below_bits;        /* rules whose top component is below this */
};

/* A denial. The event's own path field is too short for file paths, so
 * the path follows it; the reader takes it from here. */
struct fs_event {
	struct event e;
	__u32 path_len;
	__u8 truncated;          /* the path lost components at its start */
	__u8 write;              /* the access was a change */
	__u8 pad[2];
	char path[FS_PATH_MAX];
};
const struct fs_event *unused_fs_event __attribute__((unused));

/* Per-task working memory: too big for the 512-byte stack, and per-CPU
 * memory is not safe on a preemptible kernel. */
struct fs_scratch {
	__u64 st[FS_MAX_TAIL];
	__u64 pend_parent;       /* completed tails whose anchor is the next dentry */
	__u64 pend_below;        /* completed tails whose anchor is any ancestor */
	__u64 anchors;           /* below-anchors on the path (rename checks) */
	__u64 upper0;            /* rules whose upper components the object's name matches */
	__u64 active;            /* in: automaton rules that apply to this access */
	__u32 write;             /* in: the access changes something */
	__u32 rule;              /* out: the rule that matched */
	__u32 matched;           /* out */
	__u32 reason;            /* out: R_FILE or R_FILE_LIMIT */
	__u64 adv[FS_MAX_TAIL];  /* glob matches of the current name, per stage */
	struct fs_result {       /* per object of an operation */
		__u64 upper0;
		__u64 anchors;
		__u32 matched;
		__u32 rule;
		__u32 reason;
		__u32 pad;
	} res[2];
	__u8 name[FS_NAME_MAX + 1 + 8];
	__u8 path[2 * FS_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fs_scope SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* a replaced policy is freed after RCU */
	__type(key, __u64);
	__type(value, struct fs_policy);
} fs_policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18); /* allocated as used */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_name_key);
	__type(value, struct fs_name_val);
} fs_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_inode_key);
	__type(value, struct fs_inode_val);
} fs_inodes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fs_scratch);
} fs_scratch SEC(".maps");

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

struct fs_lv {
	__u64 cg;
	__u64 owner;
};

/* One level of the search for the sandbox above the task's cgroup: the
 * outermost ancestor with rules wins. */
static long fs_level_step(__u32 i, void *ctx)
{
	struct fs_lv *c = ctx;
	__u64 id = bpf_get_current_ancestor_cgroup_id(i + 1);
	if (id == 0 || id == c->cg)
		return 1;
	if (bpf_map_lookup_elem(&fs_policies, &id)) {
		c->owner = id;
		return 1;
	}
	return 0;
}

/* The sandbox whose rules apply to the current task, or NULL. *owner is
 * its cgroup id. One lookup site for the policy, so what follows is
 * verified once, whichever level it was found at. */
static __always_inline struct fs_policy *fs_policy_of(__u64 *owner)
{
	/* Negative (the scope is not set): look, rather than let through. */
	if (bpf_current_task_under_cgroup(&fs_scope, 0) == 0)
		return NULL;
	struct fs_lv c = { .cg = bpf_get_current_cgroup_id() };
	if (bpf_map_lookup_elem(&fs_policies, &c.cg))
		c.owner = c.cg;
	else
		bpf_loop(FS_MAX_LEVEL, fs_level_step, &c, 0);
	if (!c.owner)
		return NULL;
	*owner = c.owner;
	return bpf_map_lookup_elem(&fs_policies, &c.owner);
}

/* The 64-bit hash of a name, over little-endian 8-byte words padded with
 * zeros; bpf.nameHash computes the same. A collision can only deny a name
 * no rule names, never let a named one through. */
#define FS_K1 0x9e3779b97f4a7c15ULL
#define FS_K2 0xff51afd7ed558ccdULL
#define FS_K3 0xc4ceb9fe1a85ec53ULL

static __always_inline __u64 fs_mix(__u64 h)
{
	h ^= h >> 33;
	h *= FS_K3;
	h ^= h >> 33;
	return h;
}

static __always_inline __u64 fs_key_hash(__u32 dev, __u64 ino)
{
	return fs_mix((ino ^ ((__u64)dev << 32) ^ FS_K1) * FS_K2);
}

static __always_inline int fs_filter_has(const __u64 *f, __u64 h)
{
	return (f[(h >> 6) & (FS_FILTER_WORDS - 1)] >> (h & 63)) & 1;
}

static __always_inline __u32 fs_lowest_bit(__u64 x)
{
	__u32 n = 0;
	if (!(x & 0xffffffffULL)) { n += 32; x >>= 32; }
	if (!(x & 0xffffULL)) { n += 16; x >>= 16; }
	if (!(x & 0xffULL)) { n += 8; x >>= 8; }
	if (!(x & 0xfULL)) { n += 4; x >>= 4; }
	if (!(x & 0x3ULL)) { n += 2; x >>= 2; }
	if (!(x & 0x1ULL)) { n += 1; }
	return n & (FS_MAX_BITS - 1);
}

struct fs_walk {
	struct fs_scratch *s;
	struct fs_policy *p;
	struct dentry *d;
	struct mount *m;
	struct dentry *resume_d; /* where the visible walk goes on after a bind mount's root */
	struct mount *resume_m;
	__u64 owner;
	__u64 active;            /* automaton rules that apply to this access */
	__u32 write;
	__u32 phys;              /* walking above a bind mount's root: identity only */
	__u32 at_object;         /* the walk is at the object, not above it */
	__u32 done;              /* the walk reached the top, or matched */
	__u32 pad;
};

static __always_inline void fs_match(struct fs_walk *w, __u32 rule)
{
	w->s->rule = rule;
	w->s->matched = 1;
}

static __always_inline void fs_match_bits(struct fs_walk *w, __u64 bits)
{
	fs_match(w, w->p->rule[fs_lowest_bit(bits)]);
}

/* Kernel objects cross into the global functions below as plain numbers
 * (a global function is verified once, whatever its callers; its arguments
 * are numbers or memory), and are read back with bpf_rdonly_cast, whose
 * loads are checked at run time as every BTF pointer's are. */
static __always_inline __u64 fs_addr(const void *ptr)
{
	__u64 a = 0;
	bpf_probe_read_kernel(&a, sizeof(a), &ptr);
	return a;
}

static __always_inline struct dentry *fs_dentry(__u64 addr)
{
	return bpf_rdonly_cast((void *)addr, bpf_core_type_id_kernel(struct dentry));
}

/* container_of: struct mount embeds the vfsmount. */
static __always_inline struct mount *fs_mount(__u64 vfsmount)
{
	return bpf_rdonly_cast((void *)(vfsmount - bpf_core_field_offset(struct mount, mnt)),
			       bpf_core_type_id_kernel(struct mount));
}

/* fs_check_key compares one dentry's identity with the rules: a denied
 * object (or, with phys, only that), and the anchors of completed tails. */
static __always_inline void fs_check_key(struct fs_walk *w, struct dentry *d)
{
	struct inode *inode = d->d_inode;
	if (!inode)
		return;
	__u64 ino = inode->i_ino;
	__u32 dev = d->d_sb->s_dev;
	struct fs_policy *p = w->p;
	if (!fs_filter_has(p->key_filter, fs_key_hash(dev, ino)))
		return;
	struct fs_inode_key k = { .cgroup = w->owner, .ino = ino, .dev = dev, .gen = p->gen };
	struct fs_inode_val *v = bpf_map_lookup_elem(&fs_inodes, &k);
	if (!v)
		return;
	if ((v->flags & FS_DENY) && (w->write || !(v->flags & FS_WRITE_ONLY))) {
		fs_match(w, v->rule);
		return;
	}
	if (w->phys)
		return;
	struct fs_scratch *s = w->s;
	__u64 hit = ((s->pend_parent & v->parent_bits) | (s->pend_below & v->below_bits)) & w->active;
	if (hit) {
		fs_match_bits(w, hit);
		return;
	}
	s->anchors |= v->below_bits;
}

struct fs_gm {
	const struct fs_glob *g;
	const struct fs_policy *p;
	const __u8 *name;
	__u32 len, n, ei, ni, se, sn, ok, pad;
};

#define FS_NO_STAR 0xffffffffu

/* One step of matching a glob component against a name. Every element but
 * '*' has a fixed width, so on a mismatch only the last '*' needs to take
 * one more byte (pathglob's matchElems, which this mirrors). */
static long fs_glob_step(__u32 i, void *ctx)
{
	struct fs_gm *m = ctx;
	if (m->ei >= m->n && m->ni >= m->len) {
		m->ok = 1;
		return 1;
	}
	if (m->ei < m->n) {
		__u32 ei = m->ei & (FS_GLOB_ELEMS - 1);
		__u8 kind = m->g->kind[ei];
		if (kind == GE_STAR) {
			m->ei++;
			m->se = m->ei;
			m->sn = m->ni;
			return 0;
		}
		if (m->ni < m->len) {
			__u8 c = m->name[m->ni & FS_NAME_MAX];
			__u8 v = m->g->val[ei];
			int hit;
			if (kind == GE_LIT)
				hit = c == v;
			else if (kind == GE_ANY)
				hit = 1;
			else
				hit = (m->p->classes[v & (FS_MAX_CLASSES - 1)][(c >> 3) & 31] >> (c & 7)) & 1;
			if (hit) {
				m->ei++;
				m->ni++;
				return 0;
			}
		}
	}
	if (m->se == FS_NO_STAR || m->sn >= m->len) {
		m->ok = 0;
		return 1;
	}
	m->sn++;
	m->ei = m->se;
	m->ni = m->sn;
	return 0;
}

struct fs_gl {
	struct fs_walk *w;
	__u32 len;
	__u32 cand;              /* the globs to try */
};

/* One glob component against the name in s->name. */
static long fs_glob_one(__u32 i, void *ctx)
{
	struct fs_gl *c = ctx;
	struct fs_policy *p = c->w->p;
	if (!(c->cand >> i))
		return 1;
	if (!((c->cand >> i) & 1))
		return 0;
	const struct fs_glob *g = &p->globs[i & (FS_MAX_GLOBS - 1)];
	if (c->len < g->minlen)
		return 0;
	struct fs_gm m = { .g = g, .p = p, .name = c->w->s->name, .len = c->len, .n = g->n,
			   .se = FS_NO_STAR, .ok = 1 };
	bpf_loop((FS_GLOB_ELEMS + 1) * (FS_NAME_MAX + 2), fs_glob_step, &m, 0);
	if (m.ok)
		c->w->s->adv[g->stage & (FS_MAX_TAIL - 1)] |= 1ULL << (g->bit & (FS_MAX_BITS - 1));
	return 0;
}

/* fs_globs adds, per stage, the automaton rules whose glob component the
 * name in s->name (len bytes) matches. */
static __always_inline void fs_globs(struct fs_walk *w, __u32 len, __u64 *adv)
{
	struct fs_scratch *s = w->s;
	struct fs_policy *p = w->p;
	struct fs_gl c = { .w = w, .len = len };
	c.cand = p->glob_first[s->name[0]] & p->glob_last[s->name[(len - 1) & FS_NAME_MAX]];
	if (!c.cand)
		return;
	s->adv[0] = s->adv[1] = s->adv[2] = s->adv[3] = 0;
	bpf_loop(FS_MAX_GLOBS, fs_glob_one, &c, 0);
	adv[0] |= s->adv[0];
	adv[1] |= s->adv[1];
	adv[2] |= s->adv[2];
	adv[3] |= s->adv[3];
}

static __always_inline void fs_lookup_name(struct fs_walk *w, struct fs_name_key *k, __u64 *adv)
{
	struct fs_name_val *v = bpf_map_lookup_elem(&fs_names, k);
	if (!v)
		return;
	if ((v->flags & FS_DENY) && (w->write || !(v->flags & FS_WRITE_ONLY)))
		fs_match(w, v->rule);
	adv[0] |= v->bits[0];
	adv[1] |= v->bits[1];
	adv[2] |= v->bits[2];
	adv[3] |= v->bits[3];
}

/* fs_short_name copies a name kept inside its dentry (most are: up to 39
 * bytes) with five plain loads, instead of a helper call. */
static __always_inline int fs_short_name(struct dentry *d, const unsigned char *name, __u32 len, struct fs_scratch *s)
{
	if (!bpf_core_field_exists(d->d_shortname))
		return 0;
	if (len >= sizeof(d->d_shortname.string) || (const void *)name != (const void *)d->d_shortname.string)
		return 0;
	const __u64 *src = (const __u64 *)d->d_shortname.string;
	__u64 *dst = (__u64 *)s->name;
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
	dst[4] = src[4];
	return 1;
}

/* fs_check_name matches the name of component d, whose parent is parent,
 * against the tails, and advances the automaton. */
static __always_inline void fs_check_name(struct fs_walk *w, struct dentry *d, struct dentry *parent)
{
	struct fs_policy *p = w->p;
	struct fs_scratch *s = w->s;
	__u32 len = d->d_name.len;
	const unsigned char *name = d->d_name.name;
	__u64 h = FS_K1 ^ len;
	if (len > FS_NAME_MAX)
		len = FS_NAME_MAX;
	if (len == 0)
		return;
	if (!fs_short_name(d, name, len, s) && bpf_probe_read_kernel_str(s->name, FS_NAME_MAX + 1, name) < 0) {
		/* Unreadable: refuse rather than guess. */
		fs_match(w, 0);
		s->reason = R_FILE_LIMIT;
		return;
	}
	for (__u32 i = 0; i < (FS_NAME_MAX + 1) / 8; i++) {
		if (i * 8 >= len)
			break;
		__u64 word = *(__u64 *)&s->name[i * 8];
		__u32 rest = len - i * 8;
		if (rest < 8)
			word &= (1ULL << (rest * 8)) - 1;
		h = (h ^ word) * FS_K2;
		h ^= h >> 29;
	}
	h = fs_mix(h);

	__u64 adv[FS_MAX_TAIL] = {};
	if (fs_filter_has(p->name_filter, h)) {
		struct fs_name_key k = { .cgroup = w->owner, .gen = p->gen, .hash = h };
		fs_lookup_name(w, &k, adv);
		struct inode *pi = parent->d_inode;
		if (pi) {
			k.parent_ino = pi->i_ino;
			k.parent_dev = parent->d_sb->s_dev;
			fs_lookup_name(w, &k, adv);
		}
		if (s->matched)
			return;
	}
	fs_globs(w, len, adv);

	__u64 act = w->active;
	if (w->at_object)
		s->upper0 = (adv[1] | adv[2] | adv[3]) & act;
	__u64 n0 = adv[0] & act;
	__u64 n1 = s->st[0] & adv[1];
	__u64 n2 = s->st[1] & adv[2];
	__u64 n3 = s->st[2] & adv[3];
	__u64 done = (n0 & p->len_mask[0]) | (n1 & p->len_mask[1]) | (n2 & p->len_mask[2]) | (n3 & p->len_mask[3]);
	s->st[0] = n0;
	s->st[1] = n1;
	s->st[2] = n2;
	s->st[3] = n3;
	if (done & p->root_mask) {
		fs_match_bits(w, done & p->root_mask);
		return;
	}
	s->pend_parent = done & p->parent_mask;
	s->pend_below |= done & p->below_mask;
}

/* One dentry of the walk. */
static long fs_walk_step(__u32 i, void *ctx)
{
	struct fs_walk *w = ctx;
	struct dentry *d = w->d;
	struct mount *m = w->m;
	w->done = 1; /* unless it goes on */
	if (!d || !m)
		return 1;
	struct dentry *parent = d->d_parent;

	if (w->phys) {
		/* Above a bind mount's root, in its own filesystem: objects
		 * denied by identity still deny what was mounted from below
		 * them. */
		fs_check_key(w, d);
		if (w->s->matched)
			return 1;
		if (!parent || parent == d) {
			w->phys = 0;
			w->d = w->resume_d;
			w->m = w->resume_m;
		} else {
			w->d = parent;
		}
		w->done = 0;
		return 0;
	}
	if (d == m->mnt.mnt_root) {
		/* A mount's root: its name is the mount point's. */
		fs_check_key(w, d);
		if (w->s->matched)
			return 1;
		struct mount *up = m->mnt_parent;
		if (!up || up == m)
			return 1; /* the root of the mount tree */
		struct dentry *mp = m->mnt_mountpoint;
		if (parent && parent != d) {
			w->phys = 1;
			w->resume_d = mp;
			w->resume_m = up;
			w->d = parent;
		} else {
			w->d = mp;
			w->m = up;
		}
		w->done = 0;
		return 0;
	}
	if (!parent || parent == d) {
		/* A filesystem root that is not the mount's: a disconnected
		 * dentry (open_by_handle_at). Only its identity is known. */
		fs_check_key(w, d);
		return 1;
	}
	fs_check_key(w, d);
	if (w->s->matched)
		return 1;
	fs_check_name(w, d, parent);
	if (w->s->matched)
		return 1;
	w->at_object = 0;
	w->d = parent;
	w->done = 0;
	return 0;
}

/* fs_walk_obj decides one object: 1 when a rule denies it. The inputs
 * (s->write, s->active) and the results (s->matched, s->rule, s->reason,
 * s->upper0, s->anchors) are in s. */
__attribute__((noinline)) int fs_walk_obj(struct fs_scratch *s, struct fs_policy *p, __u64 owner, __u64 dentry,
					  __u64 vfsmount)
{
	if (!s || !p)
		return 0;
	s->st[0] = s->st[1] = s->st[2] = s->st[3] = 0;
	s->pend_parent = s->pend_below = s->anchors = s->upper0 = 0;
	s->matched = 0;
	s->rule = 0;
	s->reason = R_FILE;
	if (!dentry || !vfsmount)
		return 0;
	struct fs_walk w = { .s = s, .p = p, .owner = owner, .active = s->active, .write = s->write,
			     .d = fs_dentry(dentry), .m = fs_mount(vfsmount), .at_object = 1 };
	bpf_loop(FS_WALK_MAX, fs_walk_step, &w, 0);
	if (s->matched)
		return 1;
	if (!w.done) {
		/* Deeper than the walk goes: refuse rather than guess. */
		s->matched = 1;
		s->rule = 0;
		s->reason = R_FILE_LIMIT;
		return 1;
	}
	return 0;
}

struct fs_pb {
	struct fs_scratch *s;
	struct dentry *d;
	struct mount *m;
	__u32 pos;    /* the path is s->path[pos, FS_PATH_MAX) */
	__u32 truncated;
};

/* One component of the path of an event, written from the end. */
static long fs_path_step(__u32 i, void *ctx)
{
	struct fs_pb *b = ctx;
	struct dentry *d = b->d;
	struct mount *m = b->m;
	if (!d || !m)
		return 1;
	struct dentry *parent = d->d_parent;
	if (d == m->mnt.mnt_root) {
		struct mount *up = m->mnt_parent;
		if (!up || up == m)
			return 1;
		b->d = m->mnt_mountpoint;
		b->m = up;
		return 0;
	}
	if (!parent || parent == d)
		return 1;
	__u32 len = d->d_name.len;
	if (len > FS_NAME_MAX)
		len = FS_NAME_MAX;
	if (len + 1 > b->pos) {
		b->truncated = 1;
		return 1;
	}
	__u32 pos = (b->pos - len - 1) & (FS_PATH_MAX - 1);
	b->s->path[pos] = '/';
	bpf_probe_read_kernel(&b->s->path[pos + 1], len & FS_NAME_MAX, d->d_name.name);
	b->pos = pos;
	b->d = parent;
	return 0;
}

/* fs_path_obj writes the path of (dentry, vfsmount), as the walk sees it,
 * at the end of s->path[0, FS_PATH_MAX); it returns where it starts, with
 * FS_PATH_TRUNCATED when components at its start did not fit. */
#define FS_PATH_TRUNCATED (1 << 16)
__attribute__((noinline)) int fs_path_obj(struct fs_scratch *s, __u64 dentry, __u64 vfsmount)
{
	if (!s)
		return 0;
	struct fs_pb b = { .s = s, .d = fs_dentry(dentry), .m = fs_mount(vfsmount), .pos = FS_PATH_MAX - 1 };
	s->path[FS_PATH_MAX - 1] = 0;
	if (dentry && vfsmount)
		bpf_loop(FS_WALK_MAX, fs_path_step, &b, 0);
	if (b.pos == FS_PATH_MAX - 1) {
		b.pos = FS_PATH_MAX - 2;
		s->path[b.pos] = '/';
	}
	return (b.pos & (FS_PATH_MAX - 1)) | (b.truncated ? FS_PATH_TRUNCATED : 0);
}

/* The context of one operation's decision. */
struct fs_ctx {
	struct fs_scratch *s;
	struct fs_policy *p;
	__u64 owner;
	__u32 write;
	__u32 quiet;             /* no events (fs_check_file) */
};

static __always_inline void fs_emit(struct fs_ctx *w, __u8 hook, __u64 dentry, __u64 vfsmount)
{
	struct fs_scratch *s = w->s;
	if (w->quiet)
		return;
	int r = fs_path_obj(s, dentry, vfsmount);
	__u32 pos = r & (FS_PATH_MAX - 1);

	struct fs_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return;
	}
	e->e.time_ns = bpf_ktime_get_ns();
	e->e.cgroup = w->owner;
	e->e.cookie = 0;
	e->e.pid = bpf_get_current_pid_tgid() >> 32;
	e->e.rule = s->rule;
	e->e.hook = hook;
	e->e.action = ACT_DENY;
	e->e.reason = s->reason;
	e->e.family = 0;
	e->e.type = 0;
	e->e.proto = 0;
	e->e.port = 0;
	__builtin_memset(e->e.addr, 0, 16);
	bpf_get_current_comm(e->e.comm, sizeof(e->e.comm));
	e->e.path[0] = 0;
	e->path_len = FS_PATH_MAX - 1 - pos;
	e->truncated = (r & FS_PATH_TRUNCATED) != 0;
	e->write = w->write;
	bpf_probe_read_kernel(e->path, FS_PATH_MAX, &s->path[pos]);
	submit(e);
}

/* fs_setup readies a decision under policy p of sandbox owner. */
static __always_inline int fs_setup(struct fs_ctx *w, struct fs_policy *p, __u64 owner, int write)
{
	struct fs_scratch *s = bpf_task_storage_get(&fs_scratch, bpf_get_current_task_btf(), 0,
						    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s)
		return -1;
	w->s = s;
	w->p = p;
	w->owner = owner;
	w->write = write;
	s->write = write;
	s->active = write ? ~0ULL : ~p->write_mask;
	return 1;
}

/* fs_begin finds the task's sandbox and its working memory; 0 when no
 * rule applies, negative when there is no memory to decide with. */
static __always_inline int fs_begin(struct fs_ctx *w, int write)
{
	__u64 owner = 0;
	struct fs_policy *p = fs_policy_of(&owner);
	if (!p)
		return 0;
	return fs_setup(w, p, owner, write);
}

/* fs_pinned: removing or moving the directory an anchored rule hangs from
 * would let the sandbox recreate it, unanchored; refuse it. */
static __always_inline int fs_pinned(struct fs_ctx *w, __u8 hook, __u64 dentry, __u64 vfsmount)
{
	struct dentry *d = fs_dentry(dentry);
	if (!d)
		return 0;
	struct inode *inode = d->d_inode;
	if (!inode)
		return 0;
	struct fs_inode_key k = { .cgroup = w->owner, .ino = inode->i_ino, .dev = d->d_sb->s_dev, .gen = w->p->gen };
	struct fs_inode_val *v = bpf_map_lookup_elem(&fs_inodes, &k);
	if (!v)
		return 0;
	__u64 bits = (v->parent_bits | v->below_bits) & w->s->active;
	if (v->flags & FS_PIN)
		w->s->rule = v->pin_rule;
	else if (bits)
		w->s->rule = w->p->rule[fs_lowest_bit(bits)];
	else
		return 0;
	w->s->reason = R_FILE;
	fs_emit(w, hook, dentry, vfsmount);
	return -EACCES;
}

static __always_inline int fs_is_dir(__u64 dentry)
{
	struct dentry *d = fs_dentry(dentry);
	if (!d)
		return 0;
	struct inode *inode = d->d_inode;
	return inode && (inode->i_mode & FS_S_IFMT) == FS_S_IFDIR;
}

/* The objects of one operation (two for link and rename), walked by one
 * loop; the results are in s->res. */
struct fs_objs {
	struct fs_ctx *w;
	__u64 d[2], mnt[2];
	__u32 n;
	__u32 repeat;            /* walk each object this many extra times (benchmarks) */
};

static long fs_obj_step(__u32 i, void *ctx)
{
	struct fs_objs *c = ctx;
	struct fs_ctx *w = c->w;
	struct fs_scratch *s = w->s;
	int second = c->n == 2 && (i & 1);
	__u32 matched = fs_walk_obj(s, w->p, w->owner, second ? c->d[1] : c->d[0], second ? c->mnt[1] : c->mnt[0]);
	struct fs_result *o = second ? &s->res[1] : &s->res[0];
	o->matched = matched;
	o->rule = s->rule;
	o->reason = s->reason;
	o->upper0 = s->upper0;
	o->anchors = s->anchors;
	return matched && !c->repeat;
}

/* The operations: what a hook decides once the sandbox is known. The LSM
 * programs and the fs_check_file iterator share them. */
enum fs_op {
	FS_OP_ONE,    /* open, truncate, create: the object */
	FS_OP_REMOVE, /* unlink, rmdir: the object, which must not be an anchor */
	FS_OP_LINK,   /* the source (a hard link would give a denied inode an
		       * innocent name) and the new name */
	FS_OP_RENAME, /* see fs_op */
};

static __always_inline int fs_deny(struct fs_ctx *w, struct fs_result *o, __u8 hook, __u64 d, __u64 mnt)
{
	w->s->rule = o->rule;
	w->s->reason = o->reason;
	fs_emit(w, hook, d, mnt);
	return -EACCES;
}

/* fs_op decides an operation on d1 (and d2). A rename is refused when a
 * rule matches either side; beyond that, moving a directory is refused
 * when it would take objects out of a rule's reach while keeping them: a
 * directory named like an upper component of a tail (.git for .git/hooks),
 * to or from that name, and a directory leaving the subtree of a
 * below-anchored rule; and anchors do not move. RENAME_EXCHANGE moves both
 * sides. A link's two names are on one mount: linkat refuses to link across
 * mounts before asking the LSMs. */
static __always_inline int fs_op(struct fs_ctx *w, __u32 op, __u8 hook, __u64 d1, __u64 m1, __u64 d2, __u64 m2,
				 __u32 flags, __u32 repeat)
{
	struct fs_scratch *s = w->s;
	struct fs_objs c = { .w = w, .n = 1, .repeat = repeat, .d = { d1, d2 }, .mnt = { m1, m2 } };
	if (op == FS_OP_LINK || op == FS_OP_RENAME)
		c.n = 2;
	s->res[0].matched = s->res[1].matched = 0;
	s->res[0].upper0 = s->res[1].upper0 = 0;
	s->res[0].anchors = s->res[1].anchors = 0;
	bpf_loop(c.n * (repeat + 1), fs_obj_step, &c, 0);
	if (s->res[0].matched)
		return fs_deny(w, &s->res[0], hook, d1, m1);
	if (c.n == 2 && s->res[1].matched)
		return fs_deny(w, &s->res[1], hook, d2, m2);
	if (op == FS_OP_REMOVE)
		return fs_pinned(w, hook, d1, m1);
	if (op != FS_OP_RENAME)
		return 0;
	int r = fs_pinned(w, hook, d1, m1);
	if (r)
		return r;
	r = fs_pinned(w, hook, d2, m2);
	if (r)
		return r;
	__u64 upper = s->res[0].upper0 | s->res[1].upper0, bits = 0;
	if (fs_is_dir(d1))
		bits |= upper | (s->res[0].anchors & ~s->res[1].anchors);
	if ((flags & FS_RENAME_EXCHANGE) && fs_is_dir(d2))
		bits |= upper | (s->res[1].anchors & ~s->res[0].anchors);
	bits &= w->s->active;
	if (bits) {
		w->s->rule = w->p->rule[fs_lowest_bit(bits)];
		w->s->reason = R_FILE;
		fs_emit(w, hook, d1, m1);
		return -EACCES;
	}
	return 0;
}

#define fs_one(w, hook, d, mnt) fs_op((w), FS_OP_ONE, (hook), fs_addr(d), fs_addr(mnt), 0, 0, 0, 0)

/* fs_open_writes: whether an open changes the file. O_TRUNC truncates
 * even with O_RDONLY. */
static __always_inline int fs_open_writes(struct file *file)
{
	return (file->f_mode & FS_FMODE_WRITE) || (file->f_flags & FS_O_TRUNC);
}

/* fs_hook is the common start of the LSM programs: the task's sandbox, or
 * 0 to let the access through; negative (refuse) when there is no memory
 * to decide with. */
#define FS_HOOK_BEGIN(write)                                   \
	struct fs_ctx w = {};                                  \
	int begun = fs_begin(&w, (write));                     \
	if (begun <= 0)                                        \
		return begun < 0 ? -EACCES : 0;

SEC("lsm/file_open")
int fs_file_open(unsigned long long *ctx)
{
	struct file *file = (void *)ctx[0];
	int ret = ctx[1];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(fs_open_writes(file));
	return fs_one(&w, HOOK_FILE_OPEN, file->f_path.dentry, file->f_path.mnt);
}

/* ftruncate(2), and O_TRUNC (after file_open). */
SEC("lsm/file_truncate")
int fs_file_truncate(unsigned long long *ctx)
{
	struct file *file = (void *)ctx[0];
	int ret = ctx[1];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_FILE_TRUNCATE, file->f_path.dentry, file->f_path.mnt);
}

/* truncate(2). */
SEC("lsm/path_truncate")
int fs_path_truncate(unsigned long long *ctx)
{
	const struct path *path = (void *)ctx[0];
	int ret = ctx[1];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_PATH_TRUNCATE, path->dentry, path->mnt);
}

/* Creation: O_CREAT of a new file reaches path_mknod (may_o_create), as do
 * mknod(2) of fifos, sockets and devices. The dentry is negative; its name
 * and its parent's chain decide. */
SEC("lsm/path_mknod")
int fs_path_mknod(unsigned long long *ctx)
{
	const struct path *dir = (void *)ctx[0];
	struct dentry *dentry = (void *)ctx[1];
	int ret = ctx[4];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_MKNOD, dentry, dir->mnt);
}

SEC("lsm/path_mkdir")
int fs_path_mkdir(unsigned long long *ctx)
{
	const struct path *dir = (void *)ctx[0];
	struct dentry *dentry = (void *)ctx[1];
	int ret = ctx[3];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_MKDIR, dentry, dir->mnt);
}

/* A symlink named like a denied file is refused; a symlink to one is not,
 * since opening through it reaches the denied dentry, which file_open
 * refuses. */
SEC("lsm/path_symlink")
int fs_path_symlink(unsigned long long *ctx)
{
	const struct path *dir = (void *)ctx[0];
	struct dentry *dentry = (void *)ctx[1];
	int ret = ctx[3];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_SYMLINK, dentry, dir->mnt);
}

SEC("lsm/path_unlink")
int fs_path_unlink(unsigned long long *ctx)
{
	const struct path *dir = (void *)ctx[0];
	struct dentry *dentry = (void *)ctx[1];
	int ret = ctx[2];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_op(&w, FS_OP_REMOVE, HOOK_UNLINK, fs_addr(dentry), fs_addr(dir->mnt), 0, 0, 0, 0);
}

SEC("lsm/path_rmdir")
int fs_path_rmdir(unsigned long long *ctx)
{
	const struct path *dir = (void *)ctx[0];
	struct dentry *dentry = (void *)ctx[1];
	int ret = ctx[2];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_op(&w, FS_OP_REMOVE, HOOK_RMDIR, fs_addr(dentry), fs_addr(dir->mnt), 0, 0, 0, 0);
}

/* chmod(2), chown(2) and their relatives on a denied object are changes. */
SEC("lsm/path_chmod")
int fs_path_chmod(unsigned long long *ctx)
{
	const struct path *path = (void *)ctx[0];
	int ret = ctx[2];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_CHMOD, path->dentry, path->mnt);
}

SEC("lsm/path_chown")
int fs_path_chown(unsigned long long *ctx)
{
	const struct path *path = (void *)ctx[0];
	int ret = ctx[3];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_one(&w, HOOK_CHOWN, path->dentry, path->mnt);
}

SEC("lsm/path_link")
int fs_path_link(unsigned long long *ctx)
{
	struct dentry *old = (void *)ctx[0];
	const struct path *new_dir = (void *)ctx[1];
	struct dentry *new = (void *)ctx[2];
	int ret = ctx[3];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	__u64 mnt = fs_addr(new_dir->mnt);
	return fs_op(&w, FS_OP_LINK, HOOK_LINK, fs_addr(old), mnt, fs_addr(new), mnt, 0, 0);
}

SEC("lsm/path_rename")
int fs_path_rename(unsigned long long *ctx)
{
	const struct path *old_dir = (void *)ctx[0];
	struct dentry *old = (void *)ctx[1];
	const struct path *new_dir = (void *)ctx[2];
	struct dentry *new = (void *)ctx[3];
	__u32 flags = ctx[4];
	int ret = ctx[5];
	if (ret)
		return ret;
	FS_HOOK_BEGIN(1);
	return fs_op(&w, FS_OP_RENAME, HOOK_RENAME, fs_addr(old), fs_addr(old_dir->mnt), fs_addr(new),
		     fs_addr(new_dir->mnt), flags, 0);
}

/* A question from user space (bpf.Hooks.CheckFile and the tests): would
 * the rules of sandbox owner refuse an operation on the files open as
 * descriptors fd (and fd2) of process tgid? The fs_check_file iterator
 * answers with the operations the LSM programs run, so the matcher can be
 * asked, and tested, on kernels without BPF-LSM. With FS_Q_SCOPE, the
 * sandbox is the reading task's own, found as the hooks find it, and the
 * descriptor is the reader's. */
enum fs_q_op { FS_Q_OPEN, FS_Q_RENAME, FS_Q_LINK, FS_Q_UNLINK, FS_Q_RMDIR };

struct fs_query {
	__u64 owner;
	__u32 tgid;
	__u32 fd;
	__u32 fd2;               /* the new name of FS_Q_RENAME and FS_Q_LINK */
	__u32 op;
	__u32 write;             /* FS_Q_OPEN */
	__u32 flags;             /* FS_Q_RENAME */
	__u32 repeat;            /* walks to time, for benchmarks (0: none) */
	__u32 scope;             /* the reader's sandbox, not owner */
	__u32 emit;              /* report a denial to the ring buffer */
	__u32 pad;
};

struct fs_answer {
	__u64 owner;             /* the sandbox whose rules applied */
	__u64 ns;                /* time of the repeated walks */
	__s32 ret;               /* 0 or -EACCES */
	__u32 found;             /* a sandbox with rules applied */
	__u32 rule;
	__u32 reason;
	__u32 path_len;
	__u32 truncated;
};
const struct fs_answer *unused_fs_answer __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_query);
} fs_queries SEC(".maps");

/* fs_fd_file returns task's file at descriptor fd, or NULL. */
static __always_inline struct file *fs_fd_file(struct task_struct *task, __u32 fd)
{
	struct files_struct *files = task->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	__u64 addr = 0;
	bpf_probe_read_kernel(&addr, sizeof(addr), (void *)fdt->fd + (__u64)fd * sizeof(void *));
	if (!addr)
		return NULL;
	return bpf_rdonly_cast((void *)addr, bpf_core_type_id_kernel(struct file));
}

SEC("iter/task_file")
int fs_check_file(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	__u32 zero = 0;
	if (!task || !file)
		return 0;
	struct fs_query *q = bpf_map_lookup_elem(&fs_queries, &zero);
	if (!q)
		return 0;
	__u32 tgid = q->scope ? bpf_get_current_pid_tgid() >> 32 : q->tgid;
	if (task->tgid != tgid || ctx->fd != q->fd)
		return 0;
	struct fs_answer a = {};
	struct fs_ctx w = {};
	__u32 op = q->op;
	__u32 write = op != FS_Q_OPEN || q->write;
	int r;
	if (q->scope) {
		r = fs_begin(&w, write);
	} else {
		__u64 owner = q->owner;
		struct fs_policy *p = bpf_map_lookup_elem(&fs_policies, &owner);
		r = p ? fs_setup(&w, p, owner, write) : 0;
	}
	if (r == 0) {
		bpf_seq_write(seq, &a, sizeof(a));
		return 0;
	}
	a.found = 1;
	if (r < 0) {
		a.ret = -EACCES;
		a.reason = R_FILE_LIMIT;
		bpf_seq_write(seq, &a, sizeof(a));
		return 0;
	}
	a.owner = w.owner;
	w.quiet = !q->emit;
	__u64 d = fs_addr(file->f_path.dentry), mnt = fs_addr(file->f_path.mnt), d2 = 0, m2 = 0;
	if (op == FS_Q_RENAME || op == FS_Q_LINK) {
		struct file *file2 = fs_fd_file(task, q->fd2);
		if (!file2) {
			a.found = 0;
			bpf_seq_write(seq, &a, sizeof(a));
			return 0;
		}
		d2 = fs_addr(file2->f_path.dentry);
		m2 = fs_addr(file2->f_path.mnt);
	}
	__u32 fop = FS_OP_ONE;
	__u8 hook = HOOK_FILE_OPEN;
	if (op == FS_Q_RENAME) {
		fop = FS_OP_RENAME;
		hook = HOOK_RENAME;
	} else if (op == FS_Q_LINK) {
		fop = FS_OP_LINK;
		hook = HOOK_LINK;
		mnt = m2;
	} else if (op == FS_Q_UNLINK || op == FS_Q_RMDIR) {
		fop = FS_OP_REMOVE;
		hook = op == FS_Q_UNLINK ? HOOK_UNLINK : HOOK_RMDIR;
	}
	__u64 t0 = bpf_ktime_get_ns();
	a.ret = fs_op(&w, fop, hook, d, mnt, d2, m2, q->flags, q->repeat);
	a.ns = bpf_ktime_get_ns() - t0;
	a.rule = w.s->rule;
	a.reason = w.s->reason;
	r = fs_path_obj(w.s, d, mnt);
	__u32 pos = r & (FS_PATH_MAX - 1);
	a.path_len = FS_PATH_MAX - 1 - pos;
	a.truncated = (r & FS_PATH_TRUNCATED) != 0;
	bpf_seq_write(seq, &a, sizeof(a));
	bpf_seq_write(seq, &w.s->path[pos], a.path_len & (FS_PATH_MAX - 1));
	return 0;
}
