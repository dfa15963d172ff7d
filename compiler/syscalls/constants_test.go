package syscalls

import (
	"github.com/paddock-sh/paddock/compiler/suggest"

	"slices"
	"strings"
	"testing"
)

// The expected values are written from the kernel's uapi headers, not taken
// from x/sys, so the table is checked against an independent source.
func TestConstantValues(t *testing.T) {
	for _, c := range []struct {
		name string
		want uint64
	}{
		{"AF_UNSPEC", 0},
		{"AF_UNIX", 1},
		{"AF_LOCAL", 1},
		{"AF_INET", 2},
		{"AF_INET6", 10},
		{"AF_KEY", 15},
		{"AF_NETLINK", 16},
		{"AF_PACKET", 17},
		{"AF_RDS", 21},
		{"AF_CAN", 29},
		{"AF_TIPC", 30},
		{"AF_BLUETOOTH", 31},
		{"AF_ALG", 38},
		{"AF_VSOCK", 40},
		{"AF_QIPCRTR", 42},
		{"AF_SMC", 43},
		{"AF_XDP", 44},

		{"SOCK_STREAM", 1},
		{"SOCK_DGRAM", 2},
		{"SOCK_RAW", 3},
		{"SOCK_SEQPACKET", 5},
		{"SOCK_PACKET", 10},
		{"SOCK_NONBLOCK", 0o4000},
		{"SOCK_CLOEXEC", 0o2000000},
		{"SOCK_TYPE_MASK", 0xf},

		{"IPPROTO_IP", 0},
		{"IPPROTO_ICMP", 1},
		{"IPPROTO_TCP", 6},
		{"IPPROTO_UDP", 17},
		{"IPPROTO_IPV6", 41},
		{"IPPROTO_ICMPV6", 58},
		{"IPPROTO_SCTP", 132},
		{"IPPROTO_UDPLITE", 136},
		{"IPPROTO_RAW", 255},
		{"IPPROTO_MPTCP", 262},

		{"NETLINK_ROUTE", 0},
		{"NETLINK_SOCK_DIAG", 4},
		{"NETLINK_AUDIT", 9},
		{"NETLINK_KOBJECT_UEVENT", 15},
		{"NETLINK_GENERIC", 16},

		{"CSIGNAL", 0xff},
		{"CLONE_NEWTIME", 0x80},
		{"CLONE_VM", 0x100},
		{"CLONE_THREAD", 0x10000},
		{"CLONE_NEWNS", 0x20000},
		{"CLONE_NEWCGROUP", 0x02000000},
		{"CLONE_NEWUTS", 0x04000000},
		{"CLONE_NEWIPC", 0x08000000},
		{"CLONE_NEWUSER", 0x10000000},
		{"CLONE_NEWPID", 0x20000000},
		{"CLONE_NEWNET", 0x40000000},
		{"CLONE_IO", 0x80000000},
		{"CLONE_INTO_CGROUP", 0x200000000},

		{"TIOCSCTTY", 0x540e},
		{"TIOCSTI", 0x5412},
		{"FIONREAD", 0x541b},
		{"TIOCLINUX", 0x541c},
		{"TIOCSETD", 0x5423},
		{"FIOCLEX", 0x5451},

		{"PR_SET_DUMPABLE", 4},
		{"PR_SET_NAME", 15},
		{"PR_SET_SECCOMP", 22},
		{"PR_SET_MM", 35},
		{"PR_SET_NO_NEW_PRIVS", 38},
		{"PR_CAP_AMBIENT", 47},
		{"PR_SET_PTRACER", 0x59616d61},

		{"SECCOMP_SET_MODE_STRICT", 0},
		{"SECCOMP_SET_MODE_FILTER", 1},
		{"SECCOMP_GET_ACTION_AVAIL", 2},
		{"SECCOMP_FILTER_FLAG_TSYNC", 1},
		{"SECCOMP_FILTER_FLAG_LOG", 2},
		{"SECCOMP_FILTER_FLAG_NEW_LISTENER", 8},
		{"SECCOMP_MODE_FILTER", 2},

		{"PER_LINUX", 0},
		{"PER_LINUX32", 8},
		{"UNAME26", 0x20000},
		{"ADDR_NO_RANDOMIZE", 0x40000},
		{"READ_IMPLIES_EXEC", 0x400000},

		{"PROT_NONE", 0},
		{"PROT_READ", 1},
		{"PROT_WRITE", 2},
		{"PROT_EXEC", 4},
		{"PROT_SEM", 8},

		{"PRIO_PROCESS", 0},
		{"PRIO_PGRP", 1},
		{"PRIO_USER", 2},
		{"IOPRIO_WHO_PROCESS", 1},

		{"S_IFIFO", 0o010000},
		{"S_IFCHR", 0o020000},
		{"S_IFBLK", 0o060000},
		{"S_IFREG", 0o100000},
		{"S_IFSOCK", 0o140000},
		{"S_IFMT", 0o170000},

		{"O_WRONLY", 1},
		{"O_RDWR", 2},
		{"O_CREAT", 0o100},
		{"O_TRUNC", 0o1000},
		{"O_CLOEXEC", 0o2000000},
		{"O_PATH", 0o10000000},

		{"MAP_SHARED", 1},
		{"MAP_PRIVATE", 2},
		{"MAP_FIXED", 0x10},
		{"MAP_ANONYMOUS", 0x20},

		{"MADV_DONTNEED", 4},
		{"MADV_SOFT_OFFLINE", 101},
		{"MFD_NOEXEC_SEAL", 8},

		{"RLIMIT_CPU", 0},
		{"RLIMIT_NOFILE", 7},
		{"SIGKILL", 9},
		{"SIGSTOP", 19},

		{"PTRACE_TRACEME", 0},
		{"PTRACE_ATTACH", 16},
		{"PTRACE_SEIZE", 0x4206},
	} {
		got, ok := Constant(c.name)
		if !ok || got != c.want {
			t.Errorf("Constant(%s) = %#x, %v; want %#x", c.name, got, ok, c.want)
		}
	}
}

// Flags whose value differs between x86_64 and aarch64 must stay out, or a
// bundle compiled on one machine would mean something else on the other.
func TestArchDependentConstantsAreLeftOut(t *testing.T) {
	for _, name := range []string{
		"O_DIRECTORY", "O_NOFOLLOW", "O_DIRECT", "O_LARGEFILE", "O_TMPFILE", "PROT_BTI",
		"PROT_MTE", "MAP_32BIT", "PTRACE_GETREGS", "AT_FDCWD",
	} {
		if _, ok := Constant(name); ok {
			t.Errorf("Constant(%s) exists, but its value is not the same on both architectures", name)
		}
	}
}

func TestConstantTableHasNoDuplicates(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range constants {
		if seen[c.name] {
			t.Errorf("constant %s listed twice", c.name)
		}
		seen[c.name] = true
	}
	names := ConstantNames()
	if !slices.IsSorted(names) || len(names) != len(constants) {
		t.Errorf("ConstantNames() is not the sorted list of all %d names", len(constants))
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]uint64{
		"AF_INET":              2,
		"0":                    0,
		"42":                   42,
		"0x5412":               0x5412,
		"0X10":                 16,
		"0o755":                0o755,
		"0755":                 0o755,
		"0b101":                5,
		"18446744073709551615": 1<<64 - 1,
		"PROT_WRITE|PROT_EXEC": 6,
		" S_IFCHR | 0644 ":     0o020644,
		"CLONE_NEWUSER|0x80":   0x10000080,
	} {
		got, err := ParseValue(in)
		if err != nil || got != want {
			t.Errorf("ParseValue(%q) = %#x, %v; want %#x", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"AF_INTE":             `unknown constant "AF_INTE" (did you mean "AF_INET"?)`,
		"af_inet":             `(did you mean "AF_INET"?)`,
		"CLONE_NEWUSR":        `(did you mean "CLONE_NEWUSER"?)`,
		"SECCOMP_FILTER_FLAG": `unknown constant "SECCOMP_FILTER_FLAG"`,
		"TOTALLY_UNKNOWN_XYZ": `unknown constant "TOTALLY_UNKNOWN_XYZ"`,
		"-1":                  "negative value",
		"0x":                  `invalid number "0x"`,
		"12abc":               `invalid number "12abc"`,
		"0x1ffffffffffffffff": "invalid number",
		"":                    "empty value",
		"AF_INET|":            "empty value",
		"O_DIRECTORY":         `unknown constant "O_DIRECTORY"`,
	} {
		_, err := ParseValue(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseValue(%q) error = %v, want it to contain %q", in, err, want)
		}
	}
	if _, err := ParseValue("TOTALLY_UNKNOWN_XYZ"); strings.Contains(err.Error(), "did you mean") {
		t.Errorf("far-off constant got a suggestion: %v", err)
	}
}

func TestErrno(t *testing.T) {
	for name, want := range map[string]uint16{
		"EPERM": 1, "ENOENT": 2, "EAGAIN": 11, "EWOULDBLOCK": 11, "EACCES": 13,
		"EINVAL": 22, "EDEADLK": 35, "EDEADLOCK": 35, "ENOSYS": 38, "EPROTONOSUPPORT": 93,
		"ENOTSUP": 95, "EOPNOTSUPP": 95, "EAFNOSUPPORT": 97, "ECONNREFUSED": 111,
		"EHWPOISON": 133,
	} {
		got, ok := Errno(name)
		if !ok || got != want {
			t.Errorf("Errno(%s) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := Errno("EFOO"); ok {
		t.Error("Errno(EFOO) exists")
	}
	names := ErrnoNames()
	if !slices.IsSorted(names) || len(names) < 130 {
		t.Errorf("ErrnoNames() has %d names or is unsorted", len(names))
	}
	for _, n := range names {
		if v, _ := Errno(n); v == 0 || v > maxErrno || !strings.HasPrefix(n, "E") {
			t.Errorf("errno %s = %d", n, v)
		}
	}
}

func TestSuggestions(t *testing.T) {
	for _, c := range []struct {
		in   string
		cand []string
		want string
	}{
		{"AF_INTE", ConstantNames(), "AF_INET"},
		{"ptace", knownNames(), "ptrace"},
		{"@sytem-service", allNames(), "@system-service"},
		{"xyzzy-plugh", allNames(), ""},
	} {
		if got := suggest.Nearest(c.in, c.cand); got != c.want {
			t.Errorf("Nearest(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
